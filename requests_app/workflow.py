"""The request lifecycle: which status may follow which, and the services that move a request.

``awaiting_verification -> verified -> in_progress -> completed | rejected``, plus ``on_hold``
(waiting for the subject), ``withdrawn`` (by the subject) and ``expired`` (never verified).
``TRANSITIONS`` is the only place that says so. Every service here checks the transition, applies
it as an update conditional on the status it started from (so a double click or a retried task
cannot apply it twice), recomputes the deadline and appends the audit event in one transaction,
and tells the subject by email once that transaction has committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from policies.deadlines import Period, paused_days_between, rule_deadline
from policies.models import ClockStart
from requests_app.audit import Actor, event_append
from requests_app.models import EventKind, ReasonCode, RequestStatus, SubjectRequest

S = RequestStatus

TRANSITIONS: dict[str, frozenset[str]] = {
    S.AWAITING_VERIFICATION: frozenset({S.VERIFIED, S.WITHDRAWN, S.EXPIRED}),
    S.VERIFIED: frozenset({S.IN_PROGRESS, S.ON_HOLD, S.REJECTED, S.WITHDRAWN}),
    S.IN_PROGRESS: frozenset({S.ON_HOLD, S.COMPLETED, S.REJECTED, S.WITHDRAWN}),
    S.ON_HOLD: frozenset({S.IN_PROGRESS, S.REJECTED, S.WITHDRAWN}),
    S.COMPLETED: frozenset(),
    S.REJECTED: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.EXPIRED: frozenset(),
}

# The statuses a subject is told about by email (the status page shows every subject event).
NOTIFY_SUBJECT = frozenset({S.VERIFIED, S.ON_HOLD, S.COMPLETED, S.REJECTED, S.WITHDRAWN})


class IllegalTransition(Exception):
    """Raised when a request cannot move from its current status to the one asked for."""

    def __init__(self, *, reference: str, from_status: str, to_status: str) -> None:
        self.reference = reference
        self.from_status = from_status
        self.to_status = to_status
        super().__init__(
            _("Request %(reference)s is “%(current)s” and cannot become “%(target)s”.")
            % {
                "reference": reference,
                "current": S(from_status).label,
                "target": S(to_status).label,
            }
        )


class MissingReason(ValueError):
    """Raised when a decision that must be explained comes without its explanation."""


def allowed_transitions(status: str) -> frozenset[str]:
    return TRANSITIONS[status]


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def clock_start(request: SubjectRequest) -> datetime | None:
    """When the response clock started: at receipt or at verification, as the rule says."""
    if request.rule.clock_starts == ClockStart.RECEIPT:
        return request.received_at
    return request.verified_at


def compute_due_at(request: SubjectRequest) -> tuple[datetime | None, datetime | None]:
    """Return the due date and the extended due date from the request's clock and pauses."""
    start = clock_start(request)
    if start is None:
        return None, None
    due = rule_deadline(
        request.rule, start, organization=request.organization, paused_days=request.paused_days
    )
    extended = None
    if request.extension_amount is not None and request.extension_unit:
        extended = rule_deadline(
            request.rule,
            start,
            organization=request.organization,
            paused_days=request.paused_days,
            extension=Period(request.extension_amount, request.extension_unit),  # type: ignore[arg-type]
        )
    return due, extended


def _notify_subject(request: SubjectRequest, event_id: int) -> None:
    from requests_app.tasks import send_request_email

    if request.status == S.VERIFIED:
        kind, args = "verified", {}
    else:
        kind, args = "status_update", {"event_id": event_id}
    transaction.on_commit(lambda: send_request_email.delay(request.pk, kind, **args))


@transaction.atomic
def _transition(
    *,
    request: SubjectRequest,
    to_status: str,
    kind: str,
    actor: Actor,
    at: datetime,
    changes: dict[str, Any] | None = None,
    note: str = "",
    public_note: str = "",
) -> SubjectRequest:
    """Move ``request`` from the status it has in memory to ``to_status``, or raise.

    The update only applies while the row still has that status; if it changed meanwhile (a
    second click, another agent, a retried task), nothing is written and ``IllegalTransition``
    names the status it has now.
    """
    from_status = request.status
    if not can_transition(from_status, to_status):
        raise IllegalTransition(
            reference=request.reference, from_status=from_status, to_status=to_status
        )
    values = {"status": to_status, **(changes or {})}
    for name, value in values.items():
        setattr(request, name, value)
    if to_status in (S.VERIFIED, S.IN_PROGRESS) or "paused_days" in values:
        values["due_at"], values["extended_due_at"] = compute_due_at(request)
    updated = SubjectRequest.objects.filter(pk=request.pk, status=from_status).update(**values)
    if updated != 1:
        current = SubjectRequest.objects.values_list("status", flat=True).get(pk=request.pk)
        request.refresh_from_db()
        raise IllegalTransition(
            reference=request.reference, from_status=current, to_status=to_status
        )
    request.refresh_from_db()
    due = request.effective_due_at
    event = event_append(
        request=request,
        kind=kind,
        actor=actor,
        at=at,
        from_status=from_status,
        to_status=to_status,
        note=note,
        public_note=public_note,
        subject_visible=True,
        data={"due_at": due.isoformat() if due else None},
    )
    if to_status in NOTIFY_SUBJECT:
        _notify_subject(request, event.pk)
    return request


def request_mark_verified(*, request: SubjectRequest, at: datetime | None = None) -> SubjectRequest:
    """Record that the subject confirmed their email; start the clock if the rule says so."""
    now = at or timezone.now()
    return _transition(
        request=request,
        to_status=S.VERIFIED,
        kind=EventKind.VERIFIED,
        actor=Actor.subject(),
        at=now,
        changes={
            "verified_at": now,
            "clock_started_at": (
                request.received_at if request.rule.clock_starts == ClockStart.RECEIPT else now
            ),
        },
    )


def request_start(
    *, request: SubjectRequest, actor: Actor, at: datetime | None = None
) -> SubjectRequest:
    """Start work on a verified request."""
    return _transition(
        request=request,
        to_status=S.IN_PROGRESS,
        kind=EventKind.STARTED,
        actor=actor,
        at=at or timezone.now(),
    )


def request_hold(
    *, request: SubjectRequest, actor: Actor, question: str, at: datetime | None = None
) -> SubjectRequest:
    """Put a request on hold with the question the subject must answer; the clock may pause."""
    if not question.strip():
        raise MissingReason(_("Putting a request on hold needs the question for the subject."))
    now = at or timezone.now()
    return _transition(
        request=request,
        to_status=S.ON_HOLD,
        kind=EventKind.PUT_ON_HOLD,
        actor=actor,
        at=now,
        changes={"on_hold_since": now},
        public_note=question,
    )


def request_resume(
    *, request: SubjectRequest, actor: Actor, at: datetime | None = None
) -> SubjectRequest:
    """Resume work; when the rule pauses the clock on hold, the days on hold move the deadline."""
    now = at or timezone.now()
    paused = request.paused_days
    if request.rule.pauses_while_on_hold and request.on_hold_since is not None:
        paused += paused_days_between(request.on_hold_since, now, tz=request.organization.tz)
    return _transition(
        request=request,
        to_status=S.IN_PROGRESS,
        kind=EventKind.RESUMED,
        actor=actor,
        at=now,
        changes={"on_hold_since": None, "paused_days": paused},
    )


def request_complete(
    *, request: SubjectRequest, actor: Actor, outcome: str, at: datetime | None = None
) -> SubjectRequest:
    """Complete a request with the outcome the subject is told."""
    if not outcome.strip():
        raise MissingReason(_("Completing a request needs the outcome for the subject."))
    now = at or timezone.now()
    return _transition(
        request=request,
        to_status=S.COMPLETED,
        kind=EventKind.COMPLETED,
        actor=actor,
        at=now,
        changes={"closed_at": now, "outcome": outcome, "on_hold_since": None},
        public_note=outcome,
    )


def request_reject(
    *,
    request: SubjectRequest,
    actor: Actor,
    reason_code: str,
    reason: str,
    at: datetime | None = None,
) -> SubjectRequest:
    """Reject a request; both a reason code and an explanation for the subject are required."""
    if reason_code not in ReasonCode.values or not reason.strip():
        raise MissingReason(_("A rejection needs a reason code and an explanation."))
    now = at or timezone.now()
    return _transition(
        request=request,
        to_status=S.REJECTED,
        kind=EventKind.REJECTED,
        actor=actor,
        at=now,
        changes={
            "closed_at": now,
            "outcome": reason,
            "reason_code": reason_code,
            "on_hold_since": None,
        },
        public_note=reason,
    )


def request_withdraw(
    *, request: SubjectRequest, actor: Actor, at: datetime | None = None
) -> SubjectRequest:
    """Close a request the subject no longer wants answered."""
    now = at or timezone.now()
    return _transition(
        request=request,
        to_status=S.WITHDRAWN,
        kind=EventKind.WITHDRAWN,
        actor=actor,
        at=now,
        changes={"closed_at": now, "on_hold_since": None},
    )


def request_expire(
    *, request: SubjectRequest, job: str, at: datetime | None = None
) -> SubjectRequest:
    """Close a request whose email address was never confirmed."""
    now = at or timezone.now()
    return _transition(
        request=request,
        to_status=S.EXPIRED,
        kind=EventKind.EXPIRED,
        actor=Actor.system(job),
        at=now,
        changes={"closed_at": now},
    )
