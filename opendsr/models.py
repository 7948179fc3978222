"""Controllers that forward requests through OpenDSR, their requests, and the status callbacks.

App label ``opendsr``; the tables keep the names they had under ``requests_app`` (``db_table``).

How an OpenDSR request maps onto our own lifecycle (``STATUS_OF``):

================================  ===============
``SubjectRequest.status``          OpenDSR status
================================  ===============
awaiting_verification, verified    pending
in_progress, on_hold               in_progress
completed                          completed
rejected, withdrawn, expired       cancelled
================================  ===============

and onto our request types (``REQUEST_TYPE_OF``): access -> access, portability -> portability,
erasure -> deletion.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from urllib.parse import urlsplit

from django.db import models
from django.db.models import Case, Value, When
from django.utils.translation import gettext_lazy as _

from policies.models import Organization, RequestType
from requests_app.models import RequestStatus, SubjectRequest


class Regulation(models.TextChoices):
    GDPR = "gdpr", "GDPR"
    CCPA = "ccpa", "CCPA"


class OpenDSRType(models.TextChoices):
    ACCESS = "access", _("access")
    PORTABILITY = "portability", _("portability")
    ERASURE = "erasure", _("erasure")


class OpenDSRStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    IN_PROGRESS = "in_progress", _("in progress")
    COMPLETED = "completed", _("completed")
    CANCELLED = "cancelled", _("cancelled")


REQUEST_TYPE_OF: dict[str, str] = {
    OpenDSRType.ACCESS: RequestType.ACCESS,
    OpenDSRType.PORTABILITY: RequestType.PORTABILITY,
    OpenDSRType.ERASURE: RequestType.DELETION,
}

STATUS_OF: dict[str, str] = {
    RequestStatus.AWAITING_VERIFICATION: OpenDSRStatus.PENDING,
    RequestStatus.VERIFIED: OpenDSRStatus.PENDING,
    RequestStatus.IN_PROGRESS: OpenDSRStatus.IN_PROGRESS,
    RequestStatus.ON_HOLD: OpenDSRStatus.IN_PROGRESS,
    RequestStatus.COMPLETED: OpenDSRStatus.COMPLETED,
    RequestStatus.REJECTED: OpenDSRStatus.CANCELLED,
    RequestStatus.WITHDRAWN: OpenDSRStatus.CANCELLED,
    RequestStatus.EXPIRED: OpenDSRStatus.CANCELLED,
}


def opendsr_status_expression(status_field: str = "request__status") -> Case:
    """``STATUS_OF`` as an SQL expression over ``status_field``, for filtering in the database."""
    return Case(
        *(When(**{status_field: ours}, then=Value(theirs)) for ours, theirs in STATUS_OF.items()),
        output_field=models.CharField(),
    )


def api_key_hash(key: str) -> str:
    """Return the SHA-256 of an API key: keys are 256 random bits, so no salt is needed."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _unusable_key_hash() -> str:
    # Until a key is issued the stored hash is of a secret nobody knows, so it matches nothing.
    return api_key_hash(secrets.token_urlsafe(32))


class Controller(models.Model):
    """A business (a merchant) that forwards its customers' requests to us through OpenDSR.

    It authenticates with an API key (``Authorization: Bearer <key>``) of which only the SHA-256
    is stored; callbacks go only to the hosts listed here.
    """

    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="opendsr_controllers",
        verbose_name=_("organisation"),
        help_text=_("Whose policy the requests are handled under: ours, as the processor."),
    )
    name = models.CharField(_("name"), max_length=200)
    identifier = models.SlugField(
        _("controller ID"),
        max_length=60,
        unique=True,
        help_text=_("Returned to the controller as controller_id in every OpenDSR response."),
    )
    callback_hosts = models.TextField(
        _("allowed callback hosts"),
        blank=True,
        help_text=_(
            "One host name per line (e.g. dsr.merchant.example). Status callbacks go only to URLs "
            "on these hosts; a request naming another host is refused."
        ),
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("An inactive controller's key is refused.")
    )
    api_key_hash = models.CharField(
        _("API key hash"), max_length=64, unique=True, editable=False, default=_unusable_key_hash
    )
    api_key_hint = models.CharField(
        _("API key starts with"), max_length=12, blank=True, editable=False
    )
    key_issued_at = models.DateTimeField(_("API key issued at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        db_table = "requests_app_controller"
        ordering = ["name"]
        verbose_name = _("OpenDSR controller")
        verbose_name_plural = _("OpenDSR controllers")

    def __str__(self) -> str:
        return self.name

    def allowed_hosts(self) -> frozenset[str]:
        return frozenset(
            line.strip().lower().rstrip(".") for line in self.callback_hosts.splitlines() if line
        ) - {""}

    def allows_callback_url(self, url: str) -> bool:
        """Whether ``url`` is on one of this controller's allowed callback hosts."""
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return False
        return host is not None and host.rstrip(".") in self.allowed_hosts()


class OpenDSRRequest(models.Model):
    """An OpenDSR request as the controller sent it, linked to the subject request it became."""

    controller = models.ForeignKey(
        Controller,
        on_delete=models.PROTECT,
        related_name="requests",
        verbose_name=_("controller"),
    )
    request = models.OneToOneField(
        SubjectRequest,
        on_delete=models.PROTECT,
        related_name="opendsr",
        verbose_name=_("subject request"),
    )
    subject_request_id = models.UUIDField(
        _("subject_request_id"), help_text=_("The controller's id for the request (UUID v4).")
    )
    regulation = models.CharField(_("regulation"), max_length=10, choices=Regulation.choices)
    request_type = models.CharField(
        _("OpenDSR request type"), max_length=15, choices=OpenDSRType.choices
    )
    identities = models.JSONField(_("subject identities"), default=list)
    status_callback_urls = models.JSONField(_("status callback URLs"), default=list, blank=True)
    api_version = models.CharField(_("API version asked for"), max_length=10, blank=True)
    submitted_time = models.DateTimeField(_("submitted to the controller at"))
    received_time = models.DateTimeField(_("received at"))
    # The request body as received, base64: the spec returns it in the receipt, and it is the
    # evidence of exactly what the controller asked.
    encoded_request = models.TextField(_("request as received (base64)"))
    reported_status = models.CharField(
        _("status last reported to the controller"),
        max_length=15,
        choices=OpenDSRStatus.choices,
        default=OpenDSRStatus.PENDING,
    )
    cancelled_at = models.DateTimeField(_("cancelled by the controller at"), null=True, blank=True)

    class Meta:
        db_table = "requests_app_opendsrrequest"
        ordering = ["-received_time", "-pk"]
        verbose_name = _("OpenDSR request")
        verbose_name_plural = _("OpenDSR requests")
        constraints = [
            models.UniqueConstraint(
                fields=["controller", "subject_request_id"],
                name="opendsr_request_unique_id_per_controller",
            ),
        ]

    def __str__(self) -> str:
        return str(self.subject_request_id)

    @property
    def request_status(self) -> str:
        return STATUS_OF[self.request.status]

    @property
    def expected_completion_time(self) -> datetime:
        return self.request.effective_due_at or self.received_time


class OpenDSRCallback(models.Model):
    """One status callback to one URL, and how its delivery went."""

    opendsr_request = models.ForeignKey(
        OpenDSRRequest,
        on_delete=models.CASCADE,
        related_name="callbacks",
        verbose_name=_("OpenDSR request"),
    )
    url = models.URLField(_("callback URL"), max_length=2000)
    request_status = models.CharField(
        _("status reported"), max_length=15, choices=OpenDSRStatus.choices
    )
    created_at = models.DateTimeField(_("created at"))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        db_table = "requests_app_opendsrcallback"
        ordering = ["-created_at", "-pk"]
        verbose_name = _("OpenDSR status callback")
        verbose_name_plural = _("OpenDSR status callbacks")

    def __str__(self) -> str:
        return f"{self.opendsr_request} {self.request_status} -> {self.url}"
