"""Erasure requests: approval, the subject's grace period, execution and the certificate.

1. A privacy officer approves a verified deletion request (``erasure_approve``). The erasure is
   scheduled ``ERASURE_GRACE_DAYS`` later, but never later than an hour before the request's
   deadline; the subject is told, and can cancel from the status page until then
   (``erasure_cancel``, which withdraws the request).
2. A beat job starts the erasures whose grace period is over (``erasures_start_due``): in one
   transaction it claims the schedule, finds the subject's rows through the registry and records
   each with what erasure does to it (delete, anonymise, or retain under a legal basis until a
   date), and plans the purge run. The purge engine then works through it in batches.
3. When the run finishes, ``certificates.erasure_finish`` stores the certificate and completes
   the request.
4. When a legal hold ends, the daily job deletes the rows it kept (``holds.holds_release_start``).

Categories the request's policy version exempts from its retention rules (accounting records)
are retained for the exemption's period under its basis; otherwise the registry decides.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from erasure.models import ErasureSchedule, ErasureStatus
from outbox.api import enqueue
from policies.deadlines import Period, add_period
from policies.models import DataCategory, PeriodUnit, RequestType, RetentionExemption
from requests_app.audit import Actor, event_append
from requests_app.models import (
    CLOSED_STATUSES,
    EventKind,
    RequestStatus,
    SubjectRequest,
)
from requests_app.representation import relationship_blocker
from requests_app.workflow import IllegalAction, request_start, request_withdraw
from retention.minors import minor_blocker
from retention.models import PurgeAction, PurgeKind, PurgeRun, PurgeTarget
from retention.purge import (
    StepSpec,
    run_dispatch,
    steps_create,
)
from retention.scopes import (
    deletion_order,
    references_to,
)
from subject_data.holds import held_rows
from subject_data.registry import (
    ErasureAction,
    Registration,
    SubjectIdentity,
    registry,
)

logger = logging.getLogger(__name__)

ERASURE_JOB = "execute-erasures"
RELEASE_JOB = "release-legal-holds"
# The erasure runs at least this long before the request's deadline: the beat job's interval
# and the run itself fit in it.
DEADLINE_MARGIN = timedelta(hours=1)
APPROVABLE = (RequestStatus.VERIFIED, RequestStatus.IN_PROGRESS)


class ErasureRefused(IllegalAction):
    """The erasure step cannot be taken now; the message says why."""


def _event(
    request: SubjectRequest,
    event: str,
    *,
    actor: Actor,
    at: datetime,
    public_note: str = "",
    note: str = "",
    **data: Any,
) -> None:
    event_append(
        request=request,
        kind=EventKind.NOTE,
        actor=actor,
        at=at,
        note=note,
        public_note=public_note,
        subject_visible=bool(public_note),
        data={"erasure": {"event": event, **data}},
    )


def _local(moment: datetime, request: SubjectRequest) -> str:
    return timezone.localtime(moment, request.organization.tz).strftime("%Y-%m-%d %H:%M")


# --- What erasing a subject does ---------------------------------------------------------------


# The plan's word for rows other active people share: left alone, never recorded as targets.
SHARED = "shared"
SHARED_REASON = (
    "Shared with other active users of the account: the business's data stays with them; only "
    "the person's own rows are erased."
)


@dataclass(frozen=True)
class ErasurePlanLine:
    """What erasure does to one part of one model's rows of the subject."""

    registration: Registration
    rows: int
    action: str
    legal_basis: str = ""
    retained_until: date | None = None
    # The rows themselves (``None``: all of the subject's rows of the model).
    queryset: Any = field(default=None, compare=False, repr=False)
    # Kept under a legal hold on the subject or account: until the hold is released.
    held: bool = False

    @property
    def label(self) -> str:
        return self.registration.label

    @property
    def name(self) -> str:
        return str(self.registration.model._meta.verbose_name_plural)

    @property
    def category_name(self) -> str:
        return str(DataCategory(self.registration.category).label)

    @property
    def action_name(self) -> str:
        if self.action == SHARED:
            return _("keep (shared with other users)")
        if self.held:
            return _("keep under a legal hold")
        if self.action == PurgeAction.ANONYMISE and self.legal_basis:
            return _("anonymise, keeping what the legal basis requires")
        return str(PurgeAction(self.action).label)

    @property
    def snapshot(self) -> bool:
        """Whether the rows are recorded as the run's targets (shared rows are not touched)."""
        return self.action != SHARED and self.rows > 0


def policy_exemptions(request: SubjectRequest) -> dict[str, RetentionExemption]:
    """The categories the request's policy version keeps under a legal basis, with the longest
    period when several rules exempt the same category."""
    found: dict[str, RetentionExemption] = {}
    exemptions = RetentionExemption.objects.filter(rule__version=request.policy_version)
    for exemption in exemptions.order_by("pk"):
        current = found.get(exemption.category)
        if current is None or _longer(exemption, current):
            found[exemption.category] = exemption
    return found


def _longer(left: RetentionExemption, right: RetentionExemption) -> bool:
    day = date(2000, 1, 31)
    return add_period(day, Period(left.period, PeriodUnit(left.period_unit))) > add_period(
        day, Period(right.period, PeriodUnit(right.period_unit))
    )


def erasure_plan(request: SubjectRequest, *, on: date) -> list[ErasurePlanLine]:
    """Return, per registered model, the subject's rows and what erasing them on ``on`` does.

    A model's rows may fall in several lines: rows a legal hold on the subject or an account
    keeps (until released); rows other active users share (left alone); rows an anonymisation
    changes only in part because records retained under a legal basis refer to them; the rest,
    as the policy's exemptions or the registry say.
    """
    exemptions = policy_exemptions(request)
    country = request.organization.country
    identity = SubjectIdentity.of_request(request)
    lines: list[ErasurePlanLine] = []
    keeping: list[tuple[Registration, Any]] = []
    for registration, rows in registry.for_subject(identity):
        remaining = rows
        for hold, held in held_rows(registration, request.organization_id):
            part = remaining.filter(pk__in=held.values("pk"))
            count = part.count()
            if count:
                lines.append(
                    ErasurePlanLine(
                        registration, count, PurgeAction.RETAIN, hold.basis, None, part, held=True
                    )
                )
                remaining = remaining.exclude(pk__in=held.values("pk"))
        shared = registration.shared_rows(identity)
        if shared is not None:
            part = remaining.filter(pk__in=shared.values("pk"))
            count = part.count()
            if count:
                lines.append(
                    ErasurePlanLine(registration, count, SHARED, SHARED_REASON, None, part)
                )
            remaining = remaining.exclude(pk__in=shared.values("pk"))
        exemption = exemptions.get(registration.category)
        erasure = registration.erasure
        count = remaining.count()
        if exemption is not None:
            period = Period(exemption.period, PeriodUnit(exemption.period_unit))
            line = ErasurePlanLine(
                registration,
                count,
                PurgeAction.RETAIN,
                exemption.legal_basis,
                add_period(on, period, country=country),
                remaining,
            )
        elif erasure.action == ErasureAction.RETAIN and erasure.period is not None:
            line = ErasurePlanLine(
                registration,
                count,
                PurgeAction.RETAIN,
                erasure.legal_basis,
                add_period(on, erasure.period, country=country),
                remaining,
            )
        elif erasure.kept_fields:
            keeping.append((registration, remaining))
            continue
        else:
            line = ErasurePlanLine(registration, count, erasure.action, "", None, remaining)
        lines.append(line)
    for registration, remaining in keeping:
        lines.extend(_lines_keeping_fields(registration, remaining, lines))
    return lines


def _lines_keeping_fields(
    registration: Registration, rows: Any, lines: list[ErasurePlanLine]
) -> list[ErasurePlanLine]:
    """Split an anonymisation that keeps fields under a legal basis: the rows that records
    retained under a basis refer to keep those fields; the others are anonymised in full."""
    referenced = Q(pk__in=[])
    for line in lines:
        if line.action != PurgeAction.RETAIN or line.held or not line.rows:
            continue
        for child, field_name, _rule in references_to(registration.model):
            if child is line.registration.model:
                referenced |= Q(pk__in=line.queryset.values(field_name))
    kept = rows.filter(referenced)
    rest = rows.exclude(referenced)
    basis = registration.erasure.kept_basis
    return [
        ErasurePlanLine(registration, kept.count(), PurgeAction.ANONYMISE, basis, None, kept),
        ErasurePlanLine(registration, rest.count(), PurgeAction.ANONYMISE, "", None, rest),
    ]


def erasure_runs_at(request: SubjectRequest, *, at: datetime) -> datetime:
    """When an erasure approved at ``at`` runs: after the grace period, before the deadline."""
    planned = at + timedelta(days=int(settings.ERASURE_GRACE_DAYS))
    due = request.effective_due_at
    if due is not None:
        planned = min(planned, due - DEADLINE_MARGIN)
    return max(planned, at)


# --- Approval and cancellation -------------------------------------------------------------------


def erasure_approvable(request: SubjectRequest) -> bool:
    """Whether an erasure may be approved for ``request`` now (the request as it is in memory)."""
    return (
        request.request_type == RequestType.DELETION
        and request.status in APPROVABLE
        and not ErasureSchedule.objects.filter(request=request).exists()
    )


@transaction.atomic
def erasure_approve(
    *, request: SubjectRequest, actor: Actor, at: datetime | None = None
) -> ErasureSchedule:
    """Approve the erasure a deletion request asks for and schedule it.

    A verified request is started first. The subject is told when it runs and that they can
    cancel until then. Raise ``ErasureRefused`` (nothing changes) for another request type, a
    request not verified or already closed, or one whose erasure was approved already.
    """
    now = at or timezone.now()
    locked = (
        SubjectRequest.objects.select_for_update(of=("self",))
        .select_related("organization", "rule")
        .get(pk=request.pk)
    )
    if locked.request_type != RequestType.DELETION:
        raise ErasureRefused(
            _("Request %(reference)s does not ask for deletion.") % {"reference": locked.reference}
        )
    if ErasureSchedule.objects.filter(request=locked).exists():
        raise ErasureRefused(
            _("The erasure of request %(reference)s was approved already.")
            % {"reference": locked.reference}
        )
    blocker = relationship_blocker(locked) or minor_blocker(locked)
    if blocker:
        raise ErasureRefused(blocker)
    if locked.status not in APPROVABLE:
        raise ErasureRefused(
            _("An erasure cannot be approved while request %(reference)s is “%(status)s”.")
            % {"reference": locked.reference, "status": locked.get_status_display()}
        )
    try:
        _refuse_read_only(erasure_plan(locked, on=timezone.localdate(now, locked.organization.tz)))
    except DatabaseError as error:
        raise ErasureRefused(
            _("The subject's data cannot be counted now: %(reason)s")
            % {"reason": (str(error).splitlines() or [""])[0][:300]}
        ) from None
    if locked.status == RequestStatus.VERIFIED:
        locked = request_start(request=locked, actor=actor, at=now)
    runs_at = erasure_runs_at(locked, at=now)
    schedule = ErasureSchedule.objects.create(
        request=locked,
        approved_by=actor.user,
        approved_at=now,
        execute_after=runs_at,
        deadline=locked.effective_due_at,
    )
    with translation.override(locked.language):
        public_note = _(
            "Your request was approved: your data will be erased after %(date)s "
            "(%(tz)s time). Until then you can cancel the erasure on this page."
        ) % {"date": _local(runs_at, locked), "tz": locked.organization.time_zone}
    _event(
        locked,
        "scheduled",
        actor=actor,
        at=now,
        public_note=public_note,
        execute_after=runs_at.isoformat(),
        grace_days=int(settings.ERASURE_GRACE_DAYS),
        deadline=locked.effective_due_at.isoformat() if locked.effective_due_at else None,
    )
    enqueue("erasure.send_erasure_email", schedule.pk, "scheduled")
    request.refresh_from_db()
    return schedule


@transaction.atomic
def erasure_cancel(*, request: SubjectRequest, at: datetime | None = None) -> ErasureSchedule:
    """Cancel a scheduled erasure at the subject's wish, during its grace period.

    The request is withdrawn: the subject no longer wants it answered. Raise ``ErasureRefused``
    when there is no erasure to cancel or it has started (the update only applies while the
    schedule is still waiting, so a cancellation racing the job cannot half-apply).
    """

    now = at or timezone.now()
    cancelled = ErasureSchedule.objects.filter(
        request=request, status=ErasureStatus.SCHEDULED, execute_after__gt=now
    ).update(status=ErasureStatus.CANCELLED, cancelled_at=now)
    if cancelled != 1:
        raise ErasureRefused(_("This erasure can no longer be cancelled."))
    locked = SubjectRequest.objects.select_related("organization", "rule").get(pk=request.pk)
    with translation.override(locked.language):
        public_note = _("You cancelled the erasure; none of your data was erased.")
    _event(locked, "cancelled", actor=Actor.subject(), at=now, public_note=public_note)
    request_withdraw(request=locked, actor=Actor.subject(), at=now)
    request.refresh_from_db()
    return ErasureSchedule.objects.get(request=request)


# --- Execution ----------------------------------------------------------------------------------


def _snapshot(run: PurgeRun, line: ErasurePlanLine, rows: Any) -> None:
    """Record the subject's rows of one model as the run's targets, in one INSERT ... SELECT."""
    found = (
        rows.order_by().annotate(target_pk=F("pk")).values_list("target_pk", flat=True).distinct()
    )
    if found.db != PurgeTarget.objects.db:
        _snapshot_across(run, line, found)
        return
    sql, params = found.query.sql_with_params()
    table = connection.ops.quote_name(PurgeTarget._meta.db_table)
    # Only the table name is interpolated, from the model's metadata; every value is a parameter.
    statement = (
        f"INSERT INTO {table} (run_id, model_label, object_pk, action, legal_basis, "  # noqa: S608 - table from model metadata, values are parameters  # nosec B608
        f"retained_until, released_at) SELECT %s, %s, found.target_pk, %s, %s, %s, NULL "
        f"FROM ({sql}) found"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            statement,
            [run.pk, line.label, line.action, line.legal_basis, line.retained_until, *params],
        )


def _snapshot_across(run: PurgeRun, line: ErasurePlanLine, keys: Any) -> None:
    """Record the keys of rows in a system's own database, streamed in chunks."""
    chunk = int(settings.PURGE_BATCH_SIZE)
    targets: list[PurgeTarget] = []
    for key in keys.order_by().iterator(chunk_size=chunk):
        targets.append(
            PurgeTarget(
                run=run,
                model_label=line.label,
                object_pk=key,
                action=line.action,
                legal_basis=line.legal_basis,
                retained_until=line.retained_until,
            )
        )
        if len(targets) >= chunk:
            PurgeTarget.objects.bulk_create(targets)
            targets = []
    PurgeTarget.objects.bulk_create(targets)


def _refuse_read_only(plan: list[ErasurePlanLine]) -> None:
    for line in plan:
        if (
            line.rows
            and line.action not in (PurgeAction.RETAIN, SHARED)
            and line.registration.read_only
        ):
            raise ErasureRefused(
                _(
                    "The system “%(system)s” is read-only (export only): the tracker may not "
                    "erase its rows. Erase them there, or give the tracker write access."
                )
                % {"system": line.registration.system}
            )


def erasure_start(*, schedule_id: int, at: datetime | None = None) -> PurgeRun | None:
    """Claim a due erasure and plan its run; return the run, or None when it is not due.

    A request closed meanwhile (rejected, withdrawn) cancels the erasure; one on hold waits.
    """
    now = at or timezone.now()
    with transaction.atomic():
        schedule = (
            ErasureSchedule.objects.select_for_update(of=("self",))
            .select_related("request__organization", "request__rule")
            .get(pk=schedule_id)
        )
        request = schedule.request
        if schedule.status != ErasureStatus.SCHEDULED or schedule.execute_after > now:
            return None
        if request.status in CLOSED_STATUSES:
            ErasureSchedule.objects.filter(pk=schedule.pk).update(
                status=ErasureStatus.CANCELLED, cancelled_at=now
            )
            _event(
                request,
                "cancelled",
                actor=Actor.system(ERASURE_JOB),
                at=now,
                note=f"request is {request.status}",
            )
            return None
        if request.status != RequestStatus.IN_PROGRESS:
            return None
        blocker = relationship_blocker(request)
        if blocker:
            raise ErasureRefused(blocker)
        day = timezone.localdate(now, timezone=request.organization.tz)
        plan = erasure_plan(request, on=day)
        _refuse_read_only(plan)
        order = {model: i for i, model in enumerate(deletion_order(r.model for r in registry))}
        run = PurgeRun.objects.create(
            kind=PurgeKind.ERASURE,
            organization=request.organization,
            as_of=day,
            started_at=now,
            triggered_by=ERASURE_JOB,
            batch_size=int(settings.PURGE_BATCH_SIZE),
            totals={line.label: {"deleted": 0, "anonymised": 0, "kept": 0} for line in plan},
            retained=[
                {
                    "model": line.label,
                    "category": line.registration.category,
                    "rows": line.rows,
                    "legal_basis": line.legal_basis,
                    "until": line.retained_until.isoformat() if line.retained_until else None,
                }
                for line in plan
                if line.action in (PurgeAction.RETAIN, SHARED) and line.rows
            ],
        )
        specs = []
        for line in plan:
            if not line.snapshot:
                continue
            _snapshot(run, line, line.queryset)
            if line.action != PurgeAction.RETAIN:
                position = 2 * order[line.registration.model]
                if line.action == PurgeAction.ANONYMISE:
                    position += 1
                specs.append(
                    StepSpec(position, line.label, line.action, legal_basis=line.legal_basis)
                )
        steps_create(run, specs)
        ErasureSchedule.objects.filter(pk=schedule.pk).update(
            status=ErasureStatus.RUNNING, started_at=now, run=run, waiting_reason=""
        )
        _event(request, "started", actor=Actor.system(ERASURE_JOB), at=now, run=run.pk)
    return run


def erasures_start_due(*, at: datetime | None = None, dispatch: bool = True) -> list[PurgeRun]:
    """Start every erasure whose grace period is over; queue the runs' first steps."""
    now = at or timezone.now()
    runs = []
    due = ErasureSchedule.objects.filter(status=ErasureStatus.SCHEDULED, execute_after__lte=now)
    for schedule_id in due.order_by("execute_after").values_list("pk", flat=True):
        try:
            run = erasure_start(schedule_id=schedule_id, at=now)
        except (ErasureRefused, DatabaseError) as error:
            # A system that is down (or refuses) leaves this erasure scheduled, untouched, to be
            # tried again at the next run, with the reason shown to staff; the others go on.
            reason = (str(error).splitlines() or [type(error).__name__])[0][:500]
            logger.warning("erasure %s waits: %s", schedule_id, reason)
            ErasureSchedule.objects.filter(pk=schedule_id).update(waiting_reason=reason)
            continue
        if run is None:
            continue
        if dispatch:
            run_dispatch(run)
        runs.append(run)
    return runs
