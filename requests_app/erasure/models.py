"""Erasures, retention purges and the evidence they leave.

Imported at the end of ``requests_app/models.py``, so these are ``requests_app`` models.

- ``ErasureSchedule``: an approved erasure request waiting out its grace period (the subject may
  cancel), then executed by the purge engine.
- ``PurgeRun``: one execution of a retention rule, of an erasure, or of the release of rows an
  erasure kept under a legal hold; ``PurgeStep`` is one model's key range within it (the unit a
  worker claims) and ``PurgeTarget`` the rows an erasure found when it started.
- ``ErasureCertificate``: what an erasure did, stored, added to the evidence and sent.
- ``RetentionNotice``: an advance notice sent once per rule, subject row, purge date and threshold.
- ``ClosedRequestAnonymisation``: marks a request anonymised after its evidence period.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from policies.models import Organization, RetentionRule
from requests_app.models import SubjectRequest


class ErasureStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled (the subject can still cancel)")
    CANCELLED = "cancelled", _("Cancelled")
    RUNNING = "running", _("Being erased")
    DONE = "done", _("Erased")


class PurgeKind(models.TextChoices):
    RETENTION = "retention", _("Retention rule")
    ERASURE = "erasure", _("Erasure request")
    HOLD_RELEASE = "hold_release", _("End of a legal hold after an erasure")


class PurgeAction(models.TextChoices):
    DELETE = "delete", _("delete")
    ANONYMISE = "anonymise", _("anonymise")
    RETAIN = "retain", _("retain under a legal basis")


class ErasureSchedule(models.Model):
    """An approved erasure: when it runs, and whether the subject cancelled it first."""

    request = models.OneToOneField(
        SubjectRequest,
        on_delete=models.PROTECT,
        related_name="erasure",
        verbose_name=_("subject request"),
    )
    status = models.CharField(
        _("status"), max_length=15, choices=ErasureStatus.choices, default=ErasureStatus.SCHEDULED
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"))
    execute_after = models.DateTimeField(
        _("runs after"), help_text=_("The end of the grace period in which the subject can cancel.")
    )
    deadline = models.DateTimeField(_("request deadline"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    run = models.OneToOneField(
        "PurgeRun",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="erasure_schedule",
        verbose_name=_("purge run"),
    )

    class Meta:
        ordering = ["execute_after", "pk"]
        verbose_name = _("erasure")
        verbose_name_plural = _("erasures")
        indexes = [models.Index(fields=["status", "execute_after"], name="erasure_status_due")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ErasureStatus.values), name="erasure_known_status"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_id}: {self.status}"

    def can_be_cancelled(self, at: datetime | None = None) -> bool:
        """Whether the subject may still cancel: scheduled and the grace period not over."""
        return self.status == ErasureStatus.SCHEDULED and (at or timezone.now()) < (
            self.execute_after
        )


class PurgeRun(models.Model):
    """One execution of the purge engine, and the evidence of what it did.

    ``totals`` holds rows per model (``{"pos.sale": {"deleted": 10, "anonymised": 0, "kept":
    0}}``, *kept* being rows due but still referenced by records that stay) and ``retained`` the
    rows kept under a legal basis, per model, with the basis and until when.
    """

    kind = models.CharField(_("kind"), max_length=15, choices=PurgeKind.choices)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="purge_runs",
        verbose_name=_("organisation"),
    )
    rule = models.ForeignKey(
        RetentionRule,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="purge_runs",
        verbose_name=_("retention rule"),
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="releases",
        verbose_name=_("erasure run whose legal hold ended"),
    )
    as_of = models.DateField(
        _("as of"), help_text=_("The day, on the organisation's calendar, the run counts from.")
    )
    triggered_by = models.CharField(_("started by"), max_length=150)
    batch_size = models.PositiveIntegerField(_("batch size"))
    position = models.PositiveSmallIntegerField(_("current phase"), default=0)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    totals = models.JSONField(_("rows per model"), default=dict, blank=True)
    retained = models.JSONField(_("retained per model"), default=list, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("purge run")
        verbose_name_plural = _("purge runs")
        indexes = [models.Index(fields=["finished_at"], name="purge_run_finished")]
        constraints = [
            # One unfinished run per rule and day: a second start resumes the first.
            models.UniqueConstraint(
                fields=["kind", "rule", "as_of"],
                condition=Q(finished_at__isnull=True, rule__isnull=False),
                name="purge_run_one_open_per_rule_and_day",
            ),
        ]

    def __str__(self) -> str:
        what = self.rule.slug if self.rule_id and self.rule else self.get_kind_display()
        return f"#{self.pk} {what} ({self.as_of})"

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None

    def total(self, column: str) -> int:
        return sum(int(counts.get(column, 0)) for counts in self.totals.values())


class PurgeStep(models.Model):
    """One model's rows in one key range of a run: what a single worker task works through.

    Steps of a lower ``position`` finish before the next position starts (children before
    parents); steps of one position are independent. ``cursor`` is the last primary key done:
    each batch moves it in the same transaction as its delete or update, so a killed worker's
    successor starts exactly where the last committed batch ended.
    """

    run = models.ForeignKey(
        PurgeRun, on_delete=models.CASCADE, related_name="steps", verbose_name=_("purge run")
    )
    position = models.PositiveSmallIntegerField(_("phase"))
    model_label = models.CharField(_("model"), max_length=100)
    action = models.CharField(_("action"), max_length=10, choices=PurgeAction.choices)
    cutoff = models.DateField(
        _("cutoff"),
        null=True,
        blank=True,
        help_text=_("Rows whose retention clock started on or before this day are due."),
    )
    legal_basis = models.CharField(
        _("exempt until its own period under"), max_length=300, blank=True
    )
    pk_from = models.BigIntegerField(_("from primary key"))
    pk_to = models.BigIntegerField(_("to primary key"))
    cursor = models.BigIntegerField(_("done up to"), null=True, blank=True)
    planned = models.PositiveBigIntegerField(
        _("rows planned"), default=0, help_text=_("Rows due in the range when the run was planned.")
    )
    rows = models.PositiveBigIntegerField(_("rows"), default=0)
    batches = models.PositiveIntegerField(_("batches"), default=0)
    longest_batch_ms = models.PositiveIntegerField(_("longest batch (ms)"), default=0)
    heartbeat_at = models.DateTimeField(_("last batch at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["run", "position", "pk_from"]
        verbose_name = _("purge step")
        verbose_name_plural = _("purge steps")
        indexes = [
            models.Index(fields=["run", "position", "finished_at"], name="purge_step_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.model_label} {self.action} [{self.pk_from}, {self.pk_to}]"


class PurgeTarget(models.Model):
    """A row an erasure found when it started, and what it does to it.

    Found once, in the transaction that starts the erasure, so the rows that lead to others (the
    subject's user row leads to their accounts) can be removed in any order afterwards.
    """

    run = models.ForeignKey(
        PurgeRun, on_delete=models.CASCADE, related_name="targets", verbose_name=_("purge run")
    )
    model_label = models.CharField(_("model"), max_length=100)
    object_pk = models.BigIntegerField(_("primary key"))
    action = models.CharField(_("action"), max_length=10, choices=PurgeAction.choices)
    legal_basis = models.CharField(_("legal basis"), max_length=300, blank=True)
    retained_until = models.DateField(_("retained until"), null=True, blank=True)
    released_at = models.DateTimeField(_("hold ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("purge target")
        verbose_name_plural = _("purge targets")
        indexes = [
            models.Index(fields=["run", "model_label", "action", "object_pk"], name="purge_target"),
            models.Index(
                fields=["retained_until"],
                name="purge_target_held",
                condition=Q(action="retain", released_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_label} #{self.object_pk}: {self.action}"


class ErasureCertificate(models.Model):
    """The record of one erasure: rows per model, what was kept and why, and when.

    ``content`` is the certificate itself and ``sha256`` the digest of its canonical JSON, so a
    copy the subject was sent can be compared with the stored one.
    """

    schedule = models.OneToOneField(
        ErasureSchedule,
        on_delete=models.PROTECT,
        related_name="certificate",
        verbose_name=_("erasure"),
    )
    request = models.ForeignKey(
        SubjectRequest,
        on_delete=models.PROTECT,
        related_name="erasure_certificates",
        verbose_name=_("subject request"),
    )
    issued_at = models.DateTimeField(_("issued at"))
    content = models.JSONField(_("certificate"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    sent_at = models.DateTimeField(_("sent to the subject at"), null=True, blank=True)

    class Meta:
        ordering = ["-issued_at", "-pk"]
        verbose_name = _("erasure certificate")
        verbose_name_plural = _("erasure certificates")

    def __str__(self) -> str:
        return str(self.content.get("request", self.pk))

    @staticmethod
    def canonical(content: dict[str, Any]) -> str:
        return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def digest(cls, content: dict[str, Any]) -> str:
        return hashlib.sha256(cls.canonical(content).encode("utf-8")).hexdigest()

    def is_intact(self) -> bool:
        return self.digest(self.content) == self.sha256


class RetentionNotice(models.Model):
    """An advance notice that a subject row's data will be purged on ``purge_on``.

    Unique per rule, row, purge date and threshold: claimed by inserting it, so each is sent once
    however often (or however concurrently) the daily job runs; a new purge date (the licence was
    paid, then fell overdue again) gets notices of its own.
    """

    rule = models.ForeignKey(
        RetentionRule,
        on_delete=models.PROTECT,
        related_name="notices",
        verbose_name=_("retention rule"),
    )
    anchor_label = models.CharField(_("model"), max_length=100)
    anchor_pk = models.BigIntegerField(_("primary key"))
    purge_on = models.DateField(_("purge date"))
    days_before = models.PositiveSmallIntegerField(_("days before"))
    created_at = models.DateTimeField(_("created at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    recipients = models.PositiveSmallIntegerField(_("recipients"), default=0)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("retention notice")
        verbose_name_plural = _("retention notices")
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "anchor_label", "anchor_pk", "purge_on", "days_before"],
                name="retention_notice_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.anchor_label} #{self.anchor_pk}: {self.purge_on} (-{self.days_before})"


class ClosedRequestAnonymisation(models.Model):
    """A closed request whose subject details were removed after the evidence period."""

    request = models.OneToOneField(
        SubjectRequest,
        on_delete=models.PROTECT,
        related_name="anonymisation",
        verbose_name=_("subject request"),
    )
    anonymised_at = models.DateTimeField(_("anonymised at"))

    class Meta:
        verbose_name = _("closed request anonymisation")
        verbose_name_plural = _("closed request anonymisations")

    def __str__(self) -> str:
        return f"{self.request_id} ({self.anonymised_at:%Y-%m-%d})"


# The admin site, the evidence record and the purge engine find this package's modules through
# these imports: requests_app's own admin.py belongs to another part of the app.
from requests_app.erasure import admin, correction, erasure  # noqa: E402,F401
