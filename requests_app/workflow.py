"""The request lifecycle: which status may follow which, and the services that move a request.

``awaiting_verification -> verified -> in_progress -> completed | rejected``, plus ``on_hold``
(waiting for the subject), ``withdrawn`` (by the subject) and ``expired`` (never verified).
``TRANSITIONS`` is the only place that says so. Every service here checks the transition, applies
it as an update conditional on the status it started from (so a double click or a retried task
cannot apply it twice), recomputes the deadline and appends the audit event in one transaction,
and tells the subject by email once that transaction has committed.

Two staff actions change a request without changing its status: assigning it and extending its
deadline (once, up to the rule's maximum). They lock the row, check, update and record in one
transaction. ``STAFF_ACTIONS`` lists every staff action and ``action_is_legal`` says whether one
applies to a request now, derived from ``TRANSITIONS`` for the ones that move the status; who may
take which action is ``requests_app.roles``' business.

One cohesive thing, and so one module: the state machine, each transition beside its rule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from outbox.api import enqueue
from policies.deadlines import Period, max_extension, paused_days_between, rule_deadline
from policies.models import ClockStart, PeriodUnit
from requests_app.audit import Actor, event_append
from requests_app.models import (
    OPEN_STATUSES,
    EventKind,
    ReasonCode,
    RequestStatus,
    SubjectRequest,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

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


class IllegalAction(Exception):
    """Raised when a staff action does not apply to a request as it is now; nothing changed."""


class CompletionBlocked(IllegalAction):
    """Raised when something a higher app registered still holds the request open."""


# Registered by higher apps (``systems``) in ``ready()``, so this module imports none of them:
# listeners called in the transaction that verifies a request, and guards that each return why a
# request cannot be completed yet (nothing: it can). A guard receives the locked request.
_VERIFIED_LISTENERS: list[Callable[[SubjectRequest], None]] = []
_COMPLETION_GUARDS: list[Callable[[SubjectRequest], list[str]]] = []


def verified_listener_register(listener: Callable[[SubjectRequest], None]) -> None:
    if listener not in _VERIFIED_LISTENERS:
        _VERIFIED_LISTENERS.append(listener)


# Listeners called in the transaction that closes a request otherwise than by completing it
# (rejected, withdrawn, expired), with the request as it is now.
_CLOSED_LISTENERS: list[Callable[[SubjectRequest], None]] = []
CLOSED_UNANSWERED = frozenset({S.REJECTED, S.WITHDRAWN, S.EXPIRED})


def closed_listener_register(listener: Callable[[SubjectRequest], None]) -> None:
    if listener not in _CLOSED_LISTENERS:
        _CLOSED_LISTENERS.append(listener)


def completion_guard_register(guard: Callable[[SubjectRequest], list[str]]) -> None:
    if guard not in _COMPLETION_GUARDS:
        _COMPLETION_GUARDS.append(guard)


def completion_blockers(request: SubjectRequest) -> list[str]:
    """Why ``request`` cannot be completed now, in words for staff (empty: it can)."""
    return [reason for guard in _COMPLETION_GUARDS for reason in guard(request)]


def allowed_transitions(status: str) -> frozenset[str]:
    return TRANSITIONS[status]


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def _leading_to(to_status: str) -> frozenset[str]:
    return frozenset(status for status in S if can_transition(status, to_status))


# Statuses in which the deadline may be extended: verified and not yet closed.
EXTENDABLE = frozenset({S.VERIFIED, S.IN_PROGRESS, S.ON_HOLD})

# Every staff action and the statuses in which it applies. Those that move the status follow from
# TRANSITIONS; "start" and "resume" both lead to in progress and differ in where they start from.
STAFF_ACTIONS: dict[str, frozenset[str]] = {
    "assign": frozenset(OPEN_STATUSES),
    "start": _leading_to(S.IN_PROGRESS) - {S.ON_HOLD},
    "hold": _leading_to(S.ON_HOLD),
    "resume": _leading_to(S.IN_PROGRESS) & {S.ON_HOLD},
    "extend": EXTENDABLE,
    "reject": _leading_to(S.REJECTED),
    "complete": _leading_to(S.COMPLETED),
}


def action_is_legal(action: str, request: SubjectRequest) -> bool:
    """Whether ``action`` applies to ``request`` in its current state (whoever asks)."""
    if request.status not in STAFF_ACTIONS[action]:
        return False
    if action == "extend":
        return (
            request.extension_amount is None
            and request.due_at is not None
            and max_extension(request.rule) is not None
        )
    return True


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
    if request.status == S.VERIFIED:
        kind, args = "verified", {}
    else:
        kind, args = "status_update", {"event_id": event_id}
    enqueue("requests_app.send_request_email", request.pk, kind, **args)


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
    if to_status in CLOSED_UNANSWERED:
        for listener in _CLOSED_LISTENERS:
            listener(request)
    if to_status in NOTIFY_SUBJECT:
        _notify_subject(request, event.pk)
    return request


def request_mark_verified(
    *, request: SubjectRequest, actor: Actor | None = None, at: datetime | None = None
) -> SubjectRequest:
    """Record that the request is verified; start the clock if the rule says so.

    The subject verifies it by confirming their email, the default ``actor``; a request that
    arrives verified already names who verified it (an OpenDSR controller, say).
    """
    now = at or timezone.now()
    with transaction.atomic():
        verified = _transition(
            request=request,
            to_status=S.VERIFIED,
            kind=EventKind.VERIFIED,
            actor=actor or Actor.subject(),
            at=now,
            changes={
                "verified_at": now,
                "clock_started_at": (
                    request.received_at if request.rule.clock_starts == ClockStart.RECEIPT else now
                ),
            },
        )
        for listener in _VERIFIED_LISTENERS:
            listener(verified)
    return verified


def request_start(
    *, request: SubjectRequest, actor: Actor, at: datetime | None = None
) -> SubjectRequest:
    """Start work on a verified request.

    Raise ``IllegalAction`` for a request on hold: it is resumed, which counts the days on hold.
    """
    if request.status == S.ON_HOLD:
        raise IllegalAction(
            _("Request %(reference)s is on hold: resume it instead of starting it.")
            % {"reference": request.reference}
        )
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
    """Resume work on a request on hold; the days on hold move the deadline if the rule pauses.

    Raise ``IllegalAction`` for a request that is not on hold: "in progress" may follow other
    statuses, but only one on hold is resumed (the others are started).
    """
    if request.status != S.ON_HOLD:
        raise IllegalAction(
            _("Request %(reference)s is “%(status)s”: only a request on hold can be resumed.")
            % {"reference": request.reference, "status": request.get_status_display()}
        )
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
    with transaction.atomic():
        blockers = completion_blockers(_locked(request))
        if blockers:
            raise CompletionBlocked(
                _("Request %(reference)s cannot be completed yet: %(reasons)s")
                % {"reference": request.reference, "reasons": " ".join(blockers)}
            )
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


def _locked(request: SubjectRequest) -> SubjectRequest:
    """Return a fresh copy of ``request`` with its row locked until the transaction ends."""
    return (
        SubjectRequest.objects.select_for_update(of=("self",))
        .select_related("rule", "organization", "assignee")
        .get(pk=request.pk)
    )


def _refresh(request: SubjectRequest, fresh: SubjectRequest) -> SubjectRequest:
    """Copy ``fresh``'s state onto the caller's object, so both say the same after a service."""
    for field in SubjectRequest._meta.concrete_fields:
        setattr(request, field.attname, getattr(fresh, field.attname))
    return request


@transaction.atomic
def request_assign(
    *,
    request: SubjectRequest,
    actor: Actor,
    assignee: User | None,
    at: datetime | None = None,
) -> SubjectRequest:
    """Assign an open request to ``assignee`` (or to nobody) and record who did it.

    Assigning a request to the person it is already assigned to changes and records nothing.
    Raise ``IllegalAction`` when the request is closed or the assignee is not an active staff
    member who can work on requests.
    """
    locked = _locked(request)
    if not action_is_legal("assign", locked):
        raise IllegalAction(
            _("Request %(reference)s is closed and can no longer be assigned.")
            % {"reference": locked.reference}
        )
    if assignee is not None and not (
        assignee.is_active
        and assignee.is_staff
        and assignee.has_perm("requests_app.process_request")
    ):
        raise IllegalAction(
            _("%(user)s cannot work on subject requests.") % {"user": assignee.get_username()}
        )
    new_id = assignee.pk if assignee is not None else None
    if locked.assignee_id == new_id:
        return _refresh(request, locked)
    previous = locked.assignee.get_username() if locked.assignee is not None else ""
    SubjectRequest.objects.filter(pk=locked.pk).update(assignee=assignee)
    locked.assignee = assignee
    event_append(
        request=locked,
        kind=EventKind.ASSIGNED,
        actor=actor,
        at=at or timezone.now(),
        data={"from": previous, "to": assignee.get_username() if assignee is not None else ""},
    )
    return _refresh(request, locked)


class ExtensionRefused(IllegalAction):
    """Raised when an extension is longer than the rule allows, or not allowed at all."""


@transaction.atomic
def request_extend(
    *,
    request: SubjectRequest,
    actor: Actor,
    amount: int,
    reason: str,
    at: datetime | None = None,
) -> SubjectRequest:
    """Extend a request's deadline once by ``amount`` of the rule's extension unit.

    The reason is mandatory and is what the subject is told; they are emailed when the rule says
    they must be told and we email them at all (not an OpenDSR controller's customer). Raise
    ``MissingReason`` without a reason, ``ExtensionRefused`` beyond the rule's maximum (or when it
    allows none) and ``IllegalAction`` when the request is not open and verified or was extended
    already. Nothing changes when any of them is raised.
    """
    if not reason.strip():
        raise MissingReason(_("An extension needs the reason the subject is told."))
    locked = _locked(request)
    if locked.status not in EXTENDABLE or locked.due_at is None:
        raise IllegalAction(
            _("The deadline of request %(reference)s cannot be extended while it is “%(status)s”.")
            % {"reference": locked.reference, "status": locked.get_status_display()}
        )
    if locked.extension_amount is not None:
        raise IllegalAction(
            _("Request %(reference)s was extended already; a deadline is extended only once.")
            % {"reference": locked.reference}
        )
    allowed = max_extension(locked.rule)
    if allowed is None:
        raise ExtensionRefused(_("The policy does not allow extending this request's deadline."))
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise ExtensionRefused(_("An extension must be at least one day or month."))
    extension = Period(amount, PeriodUnit(locked.rule.extension_unit))
    start = clock_start(locked)
    if start is None:  # a verified request with a deadline has a running clock; be explicit
        raise IllegalAction(_("This request's clock has not started; there is nothing to extend."))
    try:
        extended_due = rule_deadline(
            locked.rule,
            start,
            organization=locked.organization,
            paused_days=locked.paused_days,
            extension=extension,
        )
    except ValueError as error:
        raise ExtensionRefused(
            _("An extension of %(asked)s is longer than the policy's maximum of %(allowed)s.")
            % {"asked": extension, "allowed": allowed}
        ) from error
    # The row is locked and was checked above, so this update is the only one that can apply.
    SubjectRequest.objects.filter(pk=locked.pk, extension_amount__isnull=True).update(
        extension_amount=extension.amount,
        extension_unit=extension.unit.value,
        extended_due_at=extended_due,
    )
    previous_due = locked.due_at
    tell_subject = locked.rule.extension_notice_required and locked.emails_subject
    locked.extension_amount = extension.amount
    locked.extension_unit = extension.unit.value
    locked.extended_due_at = extended_due
    event = event_append(
        request=locked,
        kind=EventKind.EXTENDED,
        actor=actor,
        at=at or timezone.now(),
        public_note=reason,
        subject_visible=True,
        data={
            "due_at": previous_due.isoformat(),
            "extended_due_at": extended_due.isoformat(),
            "extension": {"amount": extension.amount, "unit": extension.unit.value},
            "subject_told": tell_subject,
        },
    )
    if tell_subject:
        enqueue("requests_app.send_extension_notice", locked.pk, event.pk)
    return _refresh(request, locked)
