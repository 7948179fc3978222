"""Export packages, the secret links that reach them, and the record of every download.

App label ``exports``; the tables keep the names they had under ``requests_app`` (``db_table``).

A package's life: ``queued -> building -> ready`` (staff review the counts) ``-> delivered``
(the subject has a link) ``-> expired`` (the file is deleted). A build that fails is ``failed``
with the reason, and is retried or re-run; staff may ``discard`` a package they do not want to
deliver. The file exists on the ``exports`` storage only from ``ready`` until ``expired`` or
``discarded``.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from requests_app.models import SubjectRequest


class ExportKind(models.TextChoices):
    ACCESS = "access", _("Copy of the data (access)")
    PORTABILITY = "portability", _("Machine-readable copy (portability)")


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    BUILDING = "building", _("Building")
    READY = "ready", _("Ready for review")
    FAILED = "failed", _("Failed")
    DELIVERED = "delivered", _("Delivered to the subject")
    EXPIRED = "expired", _("Expired, file deleted")
    DISCARDED = "discarded", _("Discarded, file deleted")


# A package still being worked on; a request has at most one of each kind.
IN_THE_WORKS = (ExportStatus.QUEUED, ExportStatus.BUILDING, ExportStatus.READY, ExportStatus.FAILED)
WITH_FILE = (ExportStatus.READY, ExportStatus.DELIVERED)


class ExportPackage(models.Model):
    """One ZIP of a subject's data for an access or portability request."""

    request = models.ForeignKey(
        SubjectRequest,
        on_delete=models.PROTECT,
        related_name="export_packages",
        verbose_name=_("subject request"),
    )
    kind = models.CharField(_("kind"), max_length=15, choices=ExportKind.choices)
    status = models.CharField(
        _("status"), max_length=15, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    attempts = models.PositiveSmallIntegerField(_("build attempts"), default=0)
    started_at = models.DateTimeField(_("last attempt started at"), null=True, blank=True)
    # Moved every 30 s while an attempt builds; quiet for WORK_STALL_MINUTES, the worker is gone.
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)
    built_at = models.DateTimeField(_("built at"), null=True, blank=True)
    failure = models.TextField(
        _("why the last attempt failed"), blank=True, help_text=_("Shown to staff only.")
    )
    # Where the attempt in progress writes; nothing links to it and housekeeping deletes it.
    partial_path = models.CharField(_("file being written"), max_length=300, blank=True)
    file_path = models.CharField(_("file"), max_length=300, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    sha256 = models.CharField(_("SHA-256 of the file"), max_length=64, blank=True)
    row_counts = models.JSONField(
        _("rows per category and model"), default=dict, blank=True, editable=False
    )
    total_rows = models.PositiveBigIntegerField(_("rows"), default=0)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    delivered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("delivered by"),
    )
    link_expires_at = models.DateTimeField(_("link valid until"), null=True, blank=True)
    file_deleted_at = models.DateTimeField(_("file deleted at"), null=True, blank=True)

    class Meta:
        db_table = "requests_app_exportpackage"
        ordering = ["-created_at", "-pk"]
        verbose_name = _("export package")
        verbose_name_plural = _("export packages")
        permissions = [("deliver_exportpackage", _("Can deliver an export package to the subject"))]
        indexes = [
            models.Index(fields=["status", "link_expires_at"], name="export_package_status_expiry"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "kind"],
                condition=Q(status__in=IN_THE_WORKS),
                name="export_package_one_in_the_works",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ExportStatus.values), name="export_package_known_status"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=WITH_FILE)
                | (~Q(file_path="") & Q(size__isnull=False) & Q(built_at__isnull=False)),
                name="export_package_ready_has_file",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=(ExportStatus.DELIVERED, ExportStatus.EXPIRED))
                | (Q(delivered_at__isnull=False) & Q(link_expires_at__isnull=False)),
                name="export_package_delivered_has_link",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request.reference} {self.get_kind_display()} #{self.pk}"

    @property
    def is_portability(self) -> bool:
        return self.kind == ExportKind.PORTABILITY

    @property
    def is_shown_to_subject(self) -> bool:
        """Delivered and expired packages appear on the subject's status page."""
        return self.status in (ExportStatus.DELIVERED, ExportStatus.EXPIRED)

    def is_downloadable(self, at: datetime | None = None) -> bool:
        """Delivered, with the link still valid (the file may outlive it until the next sweep)."""
        return (
            self.status == ExportStatus.DELIVERED
            and self.link_expires_at is not None
            and (at or timezone.now()) < self.link_expires_at
        )

    def download_filename(self) -> str:
        return f"{self.request.reference}-{self.kind}.zip"


class ExportLink(models.Model):
    """A secret link to a delivered package, one per email sent. Only the SHA-256 is stored.

    Every link of a package stops working when the package's link expires.
    """

    package = models.ForeignKey(
        ExportPackage,
        on_delete=models.CASCADE,
        related_name="links",
        verbose_name=_("export package"),
    )
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        db_table = "requests_app_exportlink"
        ordering = ["-created_at", "-pk"]
        verbose_name = _("export link")
        verbose_name_plural = _("export links")

    def __str__(self) -> str:
        return f"{self.package} link #{self.pk}"


class DownloadRoute(models.TextChoices):
    EMAIL_LINK = "email_link", _("the link in the email")
    STATUS_PAGE = "status_page", _("the request's status page")


class ExportDownload(models.Model):
    """One download of a package: when it started and ended and how many bytes were sent."""

    package = models.ForeignKey(
        ExportPackage,
        on_delete=models.PROTECT,
        related_name="downloads",
        verbose_name=_("export package"),
    )
    route = models.CharField(_("opened from"), max_length=15, choices=DownloadRoute.choices)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    bytes_sent = models.PositiveBigIntegerField(_("bytes sent"), default=0)
    completed = models.BooleanField(_("complete"), default=False)

    class Meta:
        db_table = "requests_app_exportdownload"
        ordering = ["-started_at", "-pk"]
        verbose_name = _("export download")
        verbose_name_plural = _("export downloads")

    def __str__(self) -> str:
        return f"{self.package} {self.started_at:%Y-%m-%d %H:%M} ({self.bytes_sent} bytes)"
