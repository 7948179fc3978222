"""Subject requests, the secret links that reach them, and their append-only audit trail.

The lifecycle of a request (which status may follow which) lives in ``requests_app.workflow``;
the models hold what must be true of any one row, and the database checks the same.

One cohesive thing, and so one module: the request, its tokens and its audit events.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual, IsNull, LessThan, LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from policies.models import Organization, PolicyVersion, RequestType, RequestTypeRule


class RequestStatus(models.TextChoices):
    AWAITING_VERIFICATION = "awaiting_verification", _("Waiting for email confirmation")
    VERIFIED = "verified", _("Confirmed")
    IN_PROGRESS = "in_progress", _("In progress")
    ON_HOLD = "on_hold", _("On hold, waiting for the subject")
    COMPLETED = "completed", _("Completed")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    EXPIRED = "expired", _("Expired, never confirmed")


OPEN_STATUSES = frozenset(
    {
        RequestStatus.AWAITING_VERIFICATION,
        RequestStatus.VERIFIED,
        RequestStatus.IN_PROGRESS,
        RequestStatus.ON_HOLD,
    }
)
CLOSED_STATUSES = frozenset(set(RequestStatus) - OPEN_STATUSES)
# Every status reached through a confirmed email address.
VERIFIED_STATUSES = frozenset(
    {
        RequestStatus.VERIFIED,
        RequestStatus.IN_PROGRESS,
        RequestStatus.ON_HOLD,
        RequestStatus.COMPLETED,
        RequestStatus.REJECTED,
    }
)


class Relationship(models.TextChoices):
    """Who files a request on behalf of the data subject."""

    PARENT = "parent", _("Parent or guardian of a child")
    AGENT = "agent", _("Authorised agent")
    REPRESENTATIVE = "representative", _("Other legal representative")


class ReasonCode(models.TextChoices):
    IDENTITY_NOT_CONFIRMED = "identity_not_confirmed", _("Identity could not be confirmed")
    NO_DATA_HELD = "no_data_held", _("No data about the subject is held")
    MANIFESTLY_UNFOUNDED = "manifestly_unfounded", _("Manifestly unfounded")
    EXCESSIVE = "excessive", _("Excessive or repetitive")
    LEGAL_OBLIGATION = "legal_obligation", _("A legal obligation requires keeping the data")
    OTHER = "other", _("Other reason (explained in the outcome)")


class ReferenceCounter(models.Model):
    """The last reference number handed out in a year; references restart at 1 each year."""

    year = models.PositiveSmallIntegerField(_("year"), unique=True)
    last_number = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("reference counter")
        verbose_name_plural = _("reference counters")

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


def effective_due() -> Coalesce:
    """The deadline that applies, as an expression: the extended one when there is one.

    It is the expression the ``subject_request_open_deadline`` index is built on, so filters
    and orderings that use it on open requests are served by that index.
    """
    return Coalesce("extended_due_at", "due_at")


class SubjectRequestQuerySet(models.QuerySet["SubjectRequest"]):
    def with_deadline(self) -> SubjectRequestQuerySet:
        """Annotate ``deadline``: the due date that applies now."""
        return self.annotate(deadline=effective_due())

    def clock_running(self) -> SubjectRequestQuerySet:
        """Open requests with a deadline whose clock is not paused.

        A request on hold under a rule that pauses the clock is left out: its deadline moves when
        work resumes, so it is neither overdue nor due while it waits for the subject.
        """
        return self.filter(
            IsNull(effective_due(), False), status__in=sorted(OPEN_STATUSES)
        ).exclude(status=RequestStatus.ON_HOLD, rule__pauses_while_on_hold=True)

    def overdue(self, at: datetime) -> SubjectRequestQuerySet:
        """Running requests whose deadline passed before ``at``."""
        return self.clock_running().filter(LessThan(effective_due(), at))

    def due_within(self, at: datetime, days: int) -> SubjectRequestQuerySet:
        """Running requests not yet overdue at ``at`` and due within ``days`` days of it."""
        return self.clock_running().filter(
            GreaterThanOrEqual(effective_due(), at),
            LessThanOrEqual(effective_due(), at + timedelta(days=days)),
        )


class SubjectRequest(models.Model):
    """A data subject's request, pinned to the policy version in force when it was received."""

    reference = models.CharField(_("reference"), max_length=20, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="subject_requests",
        verbose_name=_("organisation"),
    )
    policy_version = models.ForeignKey(
        PolicyVersion,
        on_delete=models.PROTECT,
        related_name="subject_requests",
        verbose_name=_("policy version"),
    )
    rule = models.ForeignKey(
        RequestTypeRule,
        on_delete=models.PROTECT,
        related_name="subject_requests",
        verbose_name=_("request type rule"),
    )
    request_type = models.CharField(_("request type"), max_length=20, choices=RequestType.choices)
    status = models.CharField(
        _("status"),
        max_length=25,
        choices=RequestStatus.choices,
        default=RequestStatus.AWAITING_VERIFICATION,
    )
    language = models.CharField(_("language"), max_length=10)

    # The subject's identity, as given on the form. The email is stored lower-cased so one
    # address is one subject for duplicate detection and rate limits.
    email = models.EmailField(_("email"), max_length=254)
    name = models.CharField(_("name"), max_length=200)
    account_identifier = models.CharField(_("account identifier"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    on_behalf_relationship = models.CharField(
        _("filed on behalf of the subject by"),
        max_length=20,
        choices=Relationship.choices,
        blank=True,
    )
    on_behalf_subject_name = models.CharField(
        _("name of the person the request is for"), max_length=200, blank=True
    )
    description = models.TextField(_("description"), max_length=2000, blank=True)
    details = models.JSONField(
        _("type-specific details"),
        default=dict,
        blank=True,
        help_text=_(
            "Correction: the data and its correct value; deletion: the confirmation; "
            "complaint: its text."
        ),
    )

    received_at = models.DateTimeField(_("received at"))
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    clock_started_at = models.DateTimeField(_("clock started at"), null=True, blank=True)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    extension_amount = models.PositiveSmallIntegerField(_("extension"), null=True, blank=True)
    extension_unit = models.CharField(_("extension unit"), max_length=15, blank=True)
    extended_due_at = models.DateTimeField(_("extended due at"), null=True, blank=True)
    on_hold_since = models.DateTimeField(_("on hold since"), null=True, blank=True)
    paused_days = models.PositiveIntegerField(_("days the clock was paused"), default=0)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_subject_requests",
        verbose_name=_("assignee"),
    )
    outcome = models.TextField(_("outcome"), max_length=5000, blank=True)
    reason_code = models.CharField(
        _("reason code"), max_length=30, choices=ReasonCode.choices, blank=True
    )
    # The end of the audit chain, so removing the last events is caught as well as editing one.
    audit_length = models.PositiveIntegerField(_("audit events"), default=0, editable=False)
    audit_head = models.CharField(_("last audit hash"), max_length=64, blank=True, editable=False)
    # The deadline each staff reminder was last sent for: the reminder job claims a threshold by
    # setting it conditionally, so one deadline gets one email per threshold however often (and
    # however concurrently) the job runs, and a new deadline (an extension) gets its own.
    due_soon_reminder_for = models.DateTimeField(
        _("due-soon reminder sent for deadline"), null=True, blank=True, editable=False
    )
    overdue_reminder_for = models.DateTimeField(
        _("overdue reminder sent for deadline"), null=True, blank=True, editable=False
    )

    objects = SubjectRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = _("subject request")
        verbose_name_plural = _("subject requests")
        indexes = [
            models.Index(fields=["status", "due_at"], name="subject_request_status_due"),
            models.Index(fields=["status", "received_at"], name="subject_request_status_recv"),
            # The deadline that applies (extended or not) of open requests: what the queue sorts
            # by, what its overdue and due-this-week filters and the reminder job look up.
            models.Index(
                effective_due(),
                name="subject_request_open_deadline",
                condition=models.Q(status__in=sorted(OPEN_STATUSES)),
            ),
        ]
        permissions = [
            ("process_request", _("Can work on the subject requests assigned to them")),
            ("view_all_requests", _("Can see every subject request, whoever is assigned")),
            ("assign_request", _("Can assign subject requests to any staff member")),
            ("extend_request", _("Can extend the deadline of a subject request")),
            ("reject_request", _("Can reject a subject request")),
            ("approve_erasure", _("Can approve the erasure of a subject's data")),
            ("view_evidence", _("Can view the evidence record of a subject request")),
            ("export_evidence", _("Can download the evidence record of a subject request")),
            ("manage_retention", _("Can manage retention settings and purges")),
            ("view_metrics", _("Can view the request metrics")),
        ]
        constraints = [
            # The database closes the race two simultaneous submissions would otherwise win.
            models.UniqueConstraint(
                fields=["organization", "request_type", "email"],
                condition=models.Q(status__in=sorted(OPEN_STATUSES)),
                name="subject_request_one_open_per_email_and_type",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=RequestStatus.values),
                name="subject_request_known_status",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=sorted(VERIFIED_STATUSES))
                | models.Q(verified_at__isnull=False),
                name="subject_request_verified_has_time",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=sorted(CLOSED_STATUSES), closed_at__isnull=False)
                | models.Q(status__in=sorted(OPEN_STATUSES), closed_at__isnull=True),
                name="subject_request_closed_iff_closed_at",
            ),
            models.CheckConstraint(
                condition=models.Q(status=RequestStatus.ON_HOLD, on_hold_since__isnull=False)
                | (~models.Q(status=RequestStatus.ON_HOLD) & models.Q(on_hold_since__isnull=True)),
                name="subject_request_on_hold_has_since",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def effective_due_at(self) -> datetime | None:
        """The deadline that applies now: the extended one when the request was extended."""
        return self.extended_due_at or self.due_at

    @property
    def is_on_behalf(self) -> bool:
        return bool(self.on_behalf_relationship)

    @property
    def emails_subject(self) -> bool:
        """Whether we email the subject about this request (one query, then cached).

        Not when a controller forwarded it through OpenDSR: the controller speaks to its own
        customer, and hears of every change from the status callbacks.
        """
        return not hasattr(self, "opendsr")

    def is_overdue(self, at: datetime | None = None) -> bool:
        due = self.effective_due_at
        return self.is_open and due is not None and due < (at or timezone.now())

    @property
    def clock_paused(self) -> bool:
        """Whether the deadline stands still: on hold under a rule that pauses the clock."""
        return self.status == RequestStatus.ON_HOLD and self.rule.pauses_while_on_hold

    def days_to_deadline(self, at: datetime | None = None) -> int | None:
        """Whole days from today to the due day on the organisation's calendar.

        Positive: due in that many days; 0: due today; negative: overdue by that many days.
        ``None`` when the request has no deadline yet.
        """
        due = self.effective_due_at
        if due is None:
            return None
        tz = self.organization.tz
        return (due.astimezone(tz).date() - (at or timezone.now()).astimezone(tz).date()).days


class TokenPurpose(models.TextChoices):
    VERIFICATION = "verification", _("email confirmation")
    STATUS = "status", _("status page")


class RequestToken(models.Model):
    """A secret link to a request. Only the SHA-256 of the token is stored.

    A verification token is single use and expires within hours; a status token opens the status
    page for ``STATUS_LINK_DAYS`` days. Each email carries its own token, so re-sending a link never
    breaks the one a subject already has.
    """

    request = models.ForeignKey(
        SubjectRequest,
        on_delete=models.CASCADE,
        related_name="tokens",
        verbose_name=_("subject request"),
    )
    purpose = models.CharField(_("purpose"), max_length=15, choices=TokenPurpose.choices)
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("request link")
        verbose_name_plural = _("request links")

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} #{self.pk}"


class ActorKind(models.TextChoices):
    SUBJECT = "subject", _("the subject")
    STAFF = "staff", _("staff")
    SYSTEM = "system", _("system job")


class EventKind(models.TextChoices):
    SUBMITTED = "submitted", _("Request received")
    VERIFIED = "verified", _("Email address confirmed")
    STARTED = "started", _("Work started")
    PUT_ON_HOLD = "put_on_hold", _("Put on hold, waiting for the subject")
    RESUMED = "resumed", _("Work resumed")
    EXTENDED = "extended", _("Deadline extended")
    COMPLETED = "completed", _("Completed")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn by the subject")
    EXPIRED = "expired", _("Expired: the email address was never confirmed")
    DUPLICATE_SUBMITTED = "duplicate_submitted", _("Submitted again while open")
    EMAIL_SENT = "email_sent", _("Email sent to the subject")
    NOTE = "note", _("Note")
    ASSIGNED = "assigned", _("Assigned")
    REMINDER_SENT = "reminder_sent", _("Deadline reminder to staff")
    EVIDENCE_EXPORTED = "evidence_exported", _("Evidence record downloaded")


class RequestEvent(models.Model):
    """One entry of a request's audit trail: append-only, hash-chained and sealed per request.

    ``hash`` is the SHA-256 of the previous event's hash and the canonical JSON of this event's
    fields (see ``requests_app.audit``), so changing or removing any event breaks every hash
    after it. ``seal`` is the HMAC of ``hash`` under the audit key ``key_id``, which the database
    does not hold, so whoever rewrites events cannot seal the hashes they recompute. On
    PostgreSQL a trigger refuses UPDATE and DELETE (migration 0002).
    """

    request = models.ForeignKey(
        SubjectRequest,
        on_delete=models.PROTECT,
        related_name="events",
        verbose_name=_("subject request"),
    )
    sequence = models.PositiveIntegerField(_("sequence"))
    kind = models.CharField(_("what"), max_length=25, choices=EventKind.choices)
    actor_kind = models.CharField(_("who"), max_length=10, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("staff user"),
    )
    actor_label = models.CharField(
        _("actor"), max_length=150, blank=True, help_text=_("The system job's name.")
    )
    from_status = models.CharField(
        _("from status"), max_length=25, choices=RequestStatus.choices, blank=True
    )
    to_status = models.CharField(
        _("to status"), max_length=25, choices=RequestStatus.choices, blank=True
    )
    note = models.TextField(_("internal note"), blank=True)
    public_note = models.TextField(_("message to the subject"), blank=True)
    subject_visible = models.BooleanField(_("shown to the subject"), default=False)
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("when"))
    previous_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64, unique=True)
    key_id = models.CharField(_("audit key"), max_length=16)
    seal = models.CharField(_("seal"), max_length=64)

    class Meta:
        ordering = ["request", "sequence"]
        verbose_name = _("request event")
        verbose_name_plural = _("request events")
        constraints = [
            models.UniqueConstraint(
                fields=["request", "sequence"], name="request_event_unique_sequence"
            ),
            models.CheckConstraint(
                condition=models.Q(sequence__gte=1), name="request_event_sequence_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} #{self.sequence} {self.kind}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Appending is the only write; the trigger says the same to every other path.
        if self.pk is not None or not self._state.adding:
            raise RequestEventImmutable()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise RequestEventImmutable()


class RequestEventImmutable(Exception):
    """Raised when code tries to change or delete an audit event."""

    def __init__(self) -> None:
        super().__init__(_("Audit events are append-only: they cannot be changed or deleted."))


def _private_storage() -> Any:
    # The storage the export packages use: never served by URL, only streamed by a view that
    # checks who asks.
    from django.core.files.storage import storages

    return storages["exports"]


class RelationshipStatus(models.TextChoices):
    PENDING = "pending", _("Not yet verified")
    VERIFIED = "verified", _("Verified by an officer")
    REJECTED = "rejected", _("Rejected by an officer")


class Representation(models.Model):
    """Who a request filed for someone else is about, and the filer's proof of their authority.

    The request's own ``email``, ``name`` and ``phone`` are the filer's: the filer controls that
    address, confirms it and gets every email. The data the request acts on is found through the
    subject's identifiers here, and only once an officer has verified the relationship.
    """

    request = models.OneToOneField(
        SubjectRequest,
        on_delete=models.CASCADE,
        related_name="representation",
        verbose_name=_("subject request"),
    )
    subject_email = models.EmailField(
        _("email of the person the request is about"), max_length=254, blank=True
    )
    subject_phone = models.CharField(_("their phone"), max_length=32, blank=True)
    subject_account_identifier = models.CharField(
        _("their account identifier"), max_length=100, blank=True
    )
    subject_date_of_birth = models.DateField(_("their date of birth"), null=True, blank=True)
    authorisation = models.FileField(
        _("authorisation"),
        storage=_private_storage,
        upload_to="authorisations/%Y/%m/",
        max_length=300,
        blank=True,
    )
    authorisation_name = models.CharField(_("file name given"), max_length=200, blank=True)
    authorisation_type = models.CharField(_("file type"), max_length=100, blank=True)
    authorisation_size = models.PositiveIntegerField(_("file size (bytes)"), default=0)
    status = models.CharField(
        _("relationship"),
        max_length=10,
        choices=RelationshipStatus.choices,
        default=RelationshipStatus.PENDING,
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.TextField(_("reason"), max_length=2000, blank=True)

    class Meta:
        verbose_name = _("request for someone else")
        verbose_name_plural = _("requests for someone else")
        permissions = [
            (
                "verify_relationship",
                _("Can verify the relationship of someone who files for another person"),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=RelationshipStatus.values),
                name="representation_known_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_id}: {self.get_status_display()}"

    @property
    def is_verified(self) -> bool:
        return self.status == RelationshipStatus.VERIFIED


class LegalHold(models.Model):
    """A legal hold on one subject (their email) or one account: nothing of theirs is erased or
    purged until an officer releases it, with a reason (litigation, a regulator's inquiry)."""

    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="legal_holds",
        verbose_name=_("organisation"),
    )
    subject_email = models.EmailField(_("subject's email"), max_length=254, blank=True)
    account_identifier = models.CharField(_("account"), max_length=100, blank=True)
    request = models.ForeignKey(
        SubjectRequest,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="legal_holds",
        verbose_name=_("placed from request"),
    )
    reason = models.TextField(_("reason"), max_length=2000)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("placed by"),
    )
    placed_at = models.DateTimeField(_("placed at"))
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("released by"),
    )
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    release_reason = models.TextField(_("reason for release"), max_length=2000, blank=True)

    class Meta:
        ordering = ["-placed_at", "-pk"]
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")
        permissions = [
            ("place_legal_hold", _("Can place and release a legal hold on a subject or account")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(subject_email="", account_identifier=""),
                name="legal_hold_names_subject_or_account",
            ),
            models.CheckConstraint(
                condition=models.Q(released_at__isnull=True) | ~models.Q(release_reason=""),
                name="legal_hold_release_has_reason",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "subject_email"],
                name="legal_hold_active_subject",
                condition=models.Q(released_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.subject_email or self.account_identifier

    @property
    def is_active(self) -> bool:
        return self.released_at is None

    @property
    def basis(self) -> str:
        """How erasure and purge evidence name the rows this hold keeps (and find them again
        when it is released)."""
        return f"{LEGAL_HOLD_BASIS_PREFIX}{self.pk}: {self.reason}"[:300]


LEGAL_HOLD_BASIS_PREFIX = "Legal hold #"
