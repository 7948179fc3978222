"""A task per system on every request: creating them, what they hold up, what officers do with them.

When a request is verified (a listener registered with ``requests_app.workflow``), each active
system of its organisation that the request's type concerns gets a ``SystemTask``, due
``SYSTEM_TASK_LEAD_DAYS`` before the request's deadline. Systems reached through a handler
(``systems.handlers``: manual, http, opendsr) are woken through the outbox; the engine's own
kinds (django, sql) are settled by the engine's results:

- an export task by the export package becoming ready (its rows per table of that system);
- an erasure task by the erasure's purge run finishing (its counts per table of that system);
- a correction, opt-out or restriction task by staff completing the request (the engine writes
  corrections through the registry; opt-outs and restrictions are the staff's own steps).

What the tasks hold up:

- completing the request (a completion guard): while any task is open, ``request_complete``
  refuses, naming the systems; an officer may close a task with a reason;
- building the export package (an export blocker): while an outside system's export task is open,
  ``export_create`` refuses, so a package never lacks an answer still coming. Build it once every
  export task is settled (answered, nothing found, or closed by an officer);
- issuing the erasure certificate: when the erasure's run finishes while an outside system's
  erasure task is open, the certificate waits; the last answer issues it and completes the
  request, so the certificate covers every system.

``tasks_check`` (beat, every five minutes) wakes due retries and lost wake-ups, reminds owners
before the due date, and flags overdue or exhausted tasks for the officers ("Waiting on systems").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from outbox.api import enqueue
from policies.models import RequestType
from requests_app.audit import Actor
from requests_app.models import OPEN_STATUSES, SubjectRequest
from systems.handlers import (
    handler_for,
    settled_notify,
    task_event,
    task_wake,
)
from systems.models import (
    ENGINE_KINDS,
    OPEN_TASK_STATUSES,
    System,
    SystemKind,
    SystemTask,
    TaskAction,
    TaskStatus,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from exports.models import ExportPackage
    from exports.sources import OutsideSystem
    from retention.models import PurgeRun

CHECK_JOB = "systems.check_tasks"
# A pending task never attempted this long after it was created lost its wake-up.
LOST_WAKE_UP = timedelta(minutes=2)

TYPE_ACTIONS: dict[str, str] = {
    RequestType.ACCESS: TaskAction.EXPORT,
    RequestType.PORTABILITY: TaskAction.EXPORT,
    RequestType.DELETION: TaskAction.ERASE,
    RequestType.CORRECTION: TaskAction.CORRECT,
    RequestType.MARKETING_OPT_OUT: TaskAction.OPT_OUT,
    RequestType.RESTRICTION: TaskAction.RESTRICT,
    RequestType.OBJECTION: TaskAction.RESTRICT,
}
# The engine's own steps that staff complete with the request.
STAFF_SETTLED_ACTIONS = frozenset({TaskAction.CORRECT, TaskAction.OPT_OUT, TaskAction.RESTRICT})


class TaskRefused(ValueError):
    """An officer's step does not apply to the task as it is now; nothing changed."""


def _open(tasks: Any) -> Any:
    return tasks.filter(status__in=list(OPEN_TASK_STATUSES))


def system_concerns(system: System, action: str) -> bool:
    """Whether ``system`` has a part in ``action`` (a request type's action)."""
    if not system.active:
        return False
    if system.kind in ENGINE_KINDS:
        if action != TaskAction.EXPORT and system.read_only:
            return False
        # An external database acts through a checked map; without one it holds nothing yet.
        return system.kind != SystemKind.SQL or system.current_map() is not None
    return not system.actions or action in system.actions


def task_due(request: SubjectRequest, now: datetime) -> datetime | None:
    """The lead time before the request's deadline, never before now nor after the deadline."""
    deadline = request.effective_due_at
    if deadline is None:
        return None
    lead = deadline - timedelta(days=settings.SYSTEM_TASK_LEAD_DAYS)
    return min(max(lead, now), deadline)


def tasks_create(request: SubjectRequest, *, at: datetime | None = None) -> list[SystemTask]:
    """Create the tasks of ``request`` (once: a second call finds them); wake the outside ones.

    Called in the transaction that verifies the request, so the tasks exist exactly when it is
    verified; each wake-up is written to the outbox in it.
    """
    now = at or timezone.now()
    action = TYPE_ACTIONS.get(request.request_type)
    if action is None:
        return []
    created = []
    systems = System.objects.filter(organization_id=request.organization_id, active=True)
    for system in systems.select_related("owner_user").order_by("name"):
        if not system_concerns(system, action):
            continue
        task, new = SystemTask.objects.get_or_create(
            request=request,
            system=system,
            action=action,
            defaults={
                "owner_user": system.owner_user,
                "owner_email": system.owner_email,
                "due_at": task_due(request, now),
            },
        )
        if not new:
            continue
        created.append(task)
        task_event(task, what="created", actor=Actor.system(CHECK_JOB), at=now)
        if handler_for(system.kind) is not None:
            task_wake(task)
    return created


def request_verified(request: SubjectRequest) -> None:
    """The verification listener (``requests_app.workflow.verified_listener_register``)."""
    tasks_create(request)


def request_closed(request: SubjectRequest) -> None:
    """The closing listener: a request rejected, withdrawn or expired asks nothing more of its
    systems; each open task becomes "not applicable" with the reason (its owner's link stops)."""
    now = timezone.now()
    reason = _("The request was closed as “%(status)s”.") % {"status": request.get_status_display()}
    for task in _open(SystemTask.objects.filter(request=request)).select_related(
        "system", "request"
    ):
        updated = SystemTask.objects.filter(pk=task.pk, status__in=list(OPEN_TASK_STATUSES)).update(
            status=TaskStatus.NOT_APPLICABLE,
            reason=reason,
            finished_at=now,
            next_attempt_at=None,
            stuck_since=None,
            updated_at=now,
        )
        if updated:
            task.refresh_from_db()
            task_event(
                task, what="not applicable", actor=Actor.system(CHECK_JOB), at=now, note=reason
            )


# --- What the tasks hold up -----------------------------------------------------------------------


def _names(tasks: list[SystemTask]) -> str:
    return ", ".join(f"{task.system.name} ({task.get_status_display().lower()})" for task in tasks)


def completion_blockers(request: SubjectRequest) -> list[str]:
    """The completion guard: settle the engine's staff steps, then name the open tasks."""
    now = timezone.now()
    tasks = SystemTask.objects.filter(request=request).select_related("system", "request")
    for task in _open(tasks).filter(
        system__kind__in=list(ENGINE_KINDS), action__in=list(STAFF_SETTLED_ACTIONS)
    ):
        _engine_settle(task, counts={}, note=_("Done in the tracker with the request."), at=now)
    still_open = list(_open(tasks))
    if not still_open:
        return []
    return [
        _(
            "waiting for systems: %(systems)s. Wait for their answers, or close each open task "
            "with a reason (Waiting on systems)."
        )
        % {"systems": _names(still_open)}
    ]


def export_blockers(request: SubjectRequest) -> list[str]:
    """The export blocker: outside systems still searching for the subject's data."""
    waiting = list(
        _open(SystemTask.objects.filter(request=request, action=TaskAction.EXPORT))
        .exclude(system__kind__in=list(ENGINE_KINDS))
        .select_related("system")
    )
    if not waiting:
        return []
    return [
        _("%(systems)s. Build the package once each has answered or an officer closed it.")
        % {"systems": _names(waiting)}
    ]


def _status_label(task: SystemTask) -> str:
    return str(TaskStatus(task.status).label)


def outside_exports(request: SubjectRequest) -> list[OutsideSystem]:
    """The export's outside source: every outside system asked, with its answer file."""
    from exports.sources import OutsideSystem
    from systems.handlers import answer_open

    found = []
    tasks = SystemTask.objects.filter(request=request, action=TaskAction.EXPORT).exclude(
        system__kind__in=list(ENGINE_KINDS)
    )
    for task in tasks.select_related("system").order_by("system__name"):
        found.append(
            OutsideSystem(
                name=task.system.name,
                slug=task.system.slug,
                kind=task.system.kind,
                status=task.status,
                status_label=_status_label(task),
                reason=task.reason,
                rows=task.data_rows,
                answered_by=task.answered_by,
                answered_at=task.finished_at.isoformat() if task.finished_at else None,
                answer_sha256=task.data_sha256,
                open_answer=(
                    partial(answer_open, task)
                    if task.data_name and task.status == TaskStatus.DONE
                    else None
                ),
            )
        )
    return found


def outside_erasures(request: SubjectRequest) -> list[dict[str, Any]]:
    """The certificate's outside systems: what each said it erased and kept, or why not."""
    tasks = SystemTask.objects.filter(request=request, action=TaskAction.ERASE).exclude(
        system__kind__in=list(ENGINE_KINDS)
    )
    return [
        {
            "system": task.system.name,
            "slug": task.system.slug,
            "kind": task.system.kind,
            "status": task.status,
            "status_name": _status_label(task),
            "counts": task.counts,
            "kept": task.kept,
            "note": task.note,
            "reason": task.reason,
            "answered_by": task.answered_by,
            "answered_at": task.finished_at.isoformat() if task.finished_at else None,
        }
        for task in tasks.select_related("system").order_by("system__name")
    ]


def erasure_waiting(request: SubjectRequest) -> list[str]:
    """What the erasure certificate waits for: outside systems still erasing."""
    waiting = list(
        _open(SystemTask.objects.filter(request=request, action=TaskAction.ERASE))
        .exclude(system__kind__in=list(ENGINE_KINDS))
        .select_related("system")
    )
    return [task.system.name for task in waiting]


# --- The engine's results -------------------------------------------------------------------------


def _engine_settle(task: SystemTask, *, counts: dict[str, int], note: str, at: datetime) -> None:
    status = TaskStatus.DONE if any(counts.values()) or not counts else TaskStatus.NOTHING_FOUND
    if task.action in STAFF_SETTLED_ACTIONS:
        status = TaskStatus.DONE
    updated = SystemTask.objects.filter(pk=task.pk, status__in=list(OPEN_TASK_STATUSES)).update(
        status=status,
        counts=counts,
        note=note,
        answered_by=_("the tracker"),
        finished_at=at,
        next_attempt_at=None,
        stuck_since=None,
        updated_at=at,
    )
    if updated:
        task.refresh_from_db()
        task_event(
            task, what="settled by the engine", actor=Actor.system(CHECK_JOB), at=at, counts=counts
        )


def _system_counts(system: System, models: dict[str, int]) -> dict[str, int]:
    from subject_data.registry import registry

    counts = {}
    for label, rows in models.items():
        try:
            registration = registry.for_label(label)
        except LookupError:
            continue
        if (system.kind == SystemKind.SQL and registration.system == system.name) or (
            system.kind == SystemKind.DJANGO and not registration.system
        ):
            counts[label] = rows
    return counts


def package_ready(package: ExportPackage, models: dict[str, int]) -> None:
    """Settle the engine's export tasks of the package's request from its rows per table."""
    now = timezone.now()
    with transaction.atomic():
        tasks = _open(
            SystemTask.objects.filter(request_id=package.request_id, action=TaskAction.EXPORT)
        ).filter(system__kind__in=list(ENGINE_KINDS))
        settled = False
        for task in tasks.select_related("system", "request"):
            _engine_settle(
                task,
                counts=_system_counts(task.system, models),
                note=_("Exported in package %(id)s.") % {"id": package.pk},
                at=now,
            )
            settled = True
        if settled:
            settled_notify(package.request_id)


def erasure_finished(request: SubjectRequest, run: PurgeRun) -> None:
    """Settle the engine's erasure tasks of ``request`` from the run's counts per table
    (called by ``erasure_finish`` in the run's final transaction)."""
    now = run.finished_at or timezone.now()
    totals = {label: sum(counts.values()) for label, counts in run.totals.items()}
    tasks = _open(SystemTask.objects.filter(request=request, action=TaskAction.ERASE)).filter(
        system__kind__in=list(ENGINE_KINDS)
    )
    for task in tasks.select_related("system", "request"):
        _engine_settle(
            task,
            counts=_system_counts(task.system, totals),
            note=_("Erased by purge run %(id)s.") % {"id": run.pk},
            at=now,
        )


def request_settled(request_id: int) -> None:
    """The settled listener: once every task of the request is settled, say so, and issue an
    erasure certificate that waited for the systems."""
    from erasure.certificates import certificate_issue_waiting

    request = SubjectRequest.objects.filter(pk=request_id).first()
    if request is None or _open(SystemTask.objects.filter(request=request)).exists():
        return
    if request.request_type == RequestType.DELETION:
        certificate_issue_waiting(request)


# --- Officers -------------------------------------------------------------------------------------


def _locked(task: SystemTask) -> SystemTask:
    return (
        SystemTask.objects.select_for_update(of=("self",))
        .select_related("system", "request")
        .get(pk=task.pk)
    )


@transaction.atomic
def task_close(
    *, task: SystemTask, user: User, reason: str, at: datetime | None = None
) -> SystemTask:
    """Close an open task with the officer's reason (the request may then be completed)."""
    now = at or timezone.now()
    if not reason.strip():
        raise TaskRefused(_("Closing a task needs the reason."))
    locked = _locked(task)
    if not locked.is_open:
        raise TaskRefused(
            _("This task is settled already: “%(status)s”.")
            % {"status": locked.get_status_display()}
        )
    locked.status = TaskStatus.CLOSED
    locked.reason = reason.strip()
    locked.answered_by = user.get_username()
    locked.finished_at = now
    locked.next_attempt_at = None
    locked.stuck_since = None
    locked.save()
    task_event(
        locked, what="closed by an officer", actor=Actor.staff(user), at=now, note=locked.reason
    )
    settled_notify(locked.request_id)
    return locked


@transaction.atomic
def task_retry(*, task: SystemTask, user: User, at: datetime | None = None) -> SystemTask:
    """Send an open task of an outside system again, with a fresh budget of attempts."""
    now = at or timezone.now()
    locked = _locked(task)
    if not locked.is_open:
        raise TaskRefused(
            _("This task is settled already: “%(status)s”.")
            % {"status": locked.get_status_display()}
        )
    if handler_for(locked.system.kind) is None:
        raise TaskRefused(
            _("The tracker does this system's work itself: build the export or run the erasure.")
        )
    locked.status = TaskStatus.PENDING
    locked.attempts = 0
    locked.next_attempt_at = None
    locked.stuck_since = None
    locked.escalated_at = None
    locked.save()
    task_event(
        locked,
        what="retried by an officer",
        actor=Actor.staff(user),
        at=now,
        last_error=locked.last_error,
    )
    task_wake(locked)
    return locked


@transaction.atomic
def task_reassign(
    *,
    task: SystemTask,
    user: User,
    owner_user: User | None = None,
    owner_email: str = "",
    at: datetime | None = None,
) -> SystemTask:
    """Give an open task another owner; a manual task's new owner is sent a link."""
    now = at or timezone.now()
    if owner_user is None and not owner_email.strip():
        raise TaskRefused(_("Name the new owner: a staff user or an email address."))
    locked = _locked(task)
    if not locked.is_open:
        raise TaskRefused(
            _("This task is settled already: “%(status)s”.")
            % {"status": locked.get_status_display()}
        )
    before = locked.owner
    locked.owner_user = owner_user
    locked.owner_email = "" if owner_user is not None else owner_email.strip()
    locked.reminded_at = None
    locked.escalated_at = None
    locked.stuck_since = None
    locked.save()
    task_event(
        locked,
        what="reassigned",
        actor=Actor.staff(user),
        at=now,
        owner_before=before,
        owner=locked.owner,
    )
    if locked.system.kind == SystemKind.MANUAL:
        enqueue("systems.send_owner_email", locked.pk, "request")
    return locked


# --- The beat job ---------------------------------------------------------------------------------


@dataclass
class CheckReport:
    woken: int = 0
    reminded: int = 0
    escalated: int = 0


def tasks_check(*, at: datetime | None = None) -> CheckReport:
    """Wake due retries and lost wake-ups, remind owners, flag and escalate stuck tasks.

    Every step claims its tasks with a conditional update, so concurrent or repeated runs send
    each reminder and escalation once.
    """
    now = at or timezone.now()
    report = CheckReport()
    open_tasks = _open(SystemTask.objects.filter(request__status__in=list(OPEN_STATUSES)))
    outside = open_tasks.exclude(system__kind__in=list(ENGINE_KINDS))
    due_retry = Q(status=TaskStatus.FAILED, next_attempt_at__lte=now)
    lost = Q(status=TaskStatus.PENDING, attempts=0, created_at__lte=now - LOST_WAKE_UP)
    for task_id in outside.filter(due_retry | lost).values_list("pk", flat=True).iterator():
        with transaction.atomic():
            enqueue("systems.send_task", task_id)
        report.woken += 1
    remind_from = now + timedelta(days=settings.SYSTEM_TASK_REMINDER_DAYS)
    reminders = outside.filter(
        system__kind=SystemKind.MANUAL,
        reminded_at__isnull=True,
        due_at__lte=remind_from,
        due_at__gt=now,
    )
    for task_id in reminders.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            if SystemTask.objects.filter(pk=task_id, reminded_at__isnull=True).update(
                reminded_at=now
            ):
                enqueue("systems.send_owner_email", task_id, "reminder")
                report.reminded += 1
    stuck = open_tasks.filter(escalated_at__isnull=True).filter(
        Q(due_at__lt=now) | Q(status=TaskStatus.FAILED, next_attempt_at__isnull=True)
    )
    for task_id in stuck.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            claimed = SystemTask.objects.filter(pk=task_id, escalated_at__isnull=True).update(
                escalated_at=now
            )
            if claimed:
                SystemTask.objects.filter(pk=task_id, stuck_since__isnull=True).update(
                    stuck_since=now
                )
                task = SystemTask.objects.select_related("system", "request").get(pk=task_id)
                task_event(
                    task,
                    what="escalated to the officers",
                    actor=Actor.system(CHECK_JOB),
                    at=now,
                    last_error=task.last_error,
                )
                enqueue("systems.send_officer_email", task_id, "escalation")
                report.escalated += 1
    return report


def tasks_evidence(request: SubjectRequest) -> list[dict[str, Any]]:
    """The evidence record's ``system_tasks`` section: each system's task and its answer."""

    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment is not None else None

    return [
        {
            "system": task.system.name,
            "slug": task.system.slug,
            "kind": task.system.kind,
            "action": task.action,
            "status": task.status,
            "owner": task.owner,
            "due_at": iso(task.due_at),
            "attempts": task.attempts,
            "last_error": task.last_error,
            "counts": task.counts,
            "kept": task.kept,
            "note": task.note,
            "reason": task.reason,
            "answer_sha256": task.data_sha256,
            "answer_rows": task.data_rows,
            "answered_by": task.answered_by,
            "finished_at": iso(task.finished_at),
        }
        for task in SystemTask.objects.filter(request=request)
        .select_related("system", "owner_user")
        .order_by("system__name", "action")
    ]
