"""Erasure requests: approval, the subject's grace period, execution and the certificate.

1. A privacy officer approves a verified deletion request (``erasure_approve``). The erasure is
   scheduled ``ERASURE_GRACE_DAYS`` later, but never later than an hour before the request's
   deadline; the subject is told, and can cancel from the status page until then
   (``erasure_cancel``, which withdraws the request).
2. A beat job starts the erasures whose grace period is over (``erasures_start_due``): in one
   transaction it claims the schedule, finds the subject's rows through the registry and records
   each with what erasure does to it (delete, anonymise, or retain under a legal basis until a
   date), and plans the purge run. The purge engine then works through it in batches.
3. When the run finishes, ``erasure_finish`` stores the certificate (rows per model, what was
   retained under which basis and until when, the timestamps), adds it to the audit trail, emails
   it to the subject and completes the request, all in the transaction that finishes the run.
4. When a legal hold ends, the daily job deletes the rows it kept (``holds_release_start``).

Categories the request's policy version exempts from its retention rules (accounting records)
are retained for the exemption's period under its basis; otherwise the registry decides.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from policies.deadlines import Period, add_period
from policies.models import DataCategory, PeriodUnit, RequestType, RetentionExemption
from requests_app.audit import Actor, event_append
from requests_app.erasure.models import (
    ErasureCertificate,
    ErasureSchedule,
    ErasureStatus,
    PurgeAction,
    PurgeKind,
    PurgeRun,
    PurgeTarget,
)
from requests_app.erasure.purge import (
    FINISHERS,
    StepSpec,
    run_dispatch,
    steps_create,
)
from requests_app.erasure.scopes import (
    deletion_order,
    registration_for,
)
from requests_app.evidence import evidence_section_register
from requests_app.models import (
    CLOSED_STATUSES,
    EventKind,
    RequestStatus,
    SubjectRequest,
)
from requests_app.subject_data.registry import (
    ErasureAction,
    Registration,
    SubjectIdentity,
    registry,
)
from requests_app.workflow import IllegalAction, request_complete, request_start

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


@dataclass(frozen=True)
class ErasurePlanLine:
    """What erasure does to one model's rows of the subject."""

    registration: Registration
    rows: int
    action: str
    legal_basis: str = ""
    retained_until: date | None = None

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
        return str(PurgeAction(self.action).label)


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
    """Return, per registered model, the subject's rows and what erasing them on ``on`` does."""
    exemptions = policy_exemptions(request)
    country = request.organization.country
    lines = []
    for registration, rows in registry.for_subject(SubjectIdentity.of_request(request)):
        exemption = exemptions.get(registration.category)
        erasure = registration.erasure
        count = rows.count()
        if exemption is not None:
            period = Period(exemption.period, PeriodUnit(exemption.period_unit))
            line = ErasurePlanLine(
                registration,
                count,
                PurgeAction.RETAIN,
                exemption.legal_basis,
                add_period(on, period, country=country),
            )
        elif erasure.action == ErasureAction.RETAIN and erasure.period is not None:
            line = ErasurePlanLine(
                registration,
                count,
                PurgeAction.RETAIN,
                erasure.legal_basis,
                add_period(on, erasure.period, country=country),
            )
        else:
            line = ErasurePlanLine(registration, count, erasure.action)
        lines.append(line)
    return lines


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
    if locked.status not in APPROVABLE:
        raise ErasureRefused(
            _("An erasure cannot be approved while request %(reference)s is “%(status)s”.")
            % {"reference": locked.reference, "status": locked.get_status_display()}
        )
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
    from requests_app.erasure.tasks import send_erasure_email

    transaction.on_commit(partial(send_erasure_email.delay, schedule.pk, "scheduled"))
    request.refresh_from_db()
    return schedule


@transaction.atomic
def erasure_cancel(*, request: SubjectRequest, at: datetime | None = None) -> ErasureSchedule:
    """Cancel a scheduled erasure at the subject's wish, during its grace period.

    The request is withdrawn: the subject no longer wants it answered. Raise ``ErasureRefused``
    when there is no erasure to cancel or it has started (the update only applies while the
    schedule is still waiting, so a cancellation racing the job cannot half-apply).
    """
    from requests_app.workflow import request_withdraw

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
    sql, params = found.query.sql_with_params()
    table = connection.ops.quote_name(PurgeTarget._meta.db_table)
    # Only the table name is interpolated, from the model's metadata; every value is a parameter.
    statement = (
        f"INSERT INTO {table} (run_id, model_label, object_pk, action, legal_basis, "  # noqa: S608
        f"retained_until, released_at) SELECT %s, %s, found.target_pk, %s, %s, %s, NULL "
        f"FROM ({sql}) found"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            statement,
            [run.pk, line.label, line.action, line.legal_basis, line.retained_until, *params],
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
        day = timezone.localdate(now, timezone=request.organization.tz)
        plan = erasure_plan(request, on=day)
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
                if line.action == PurgeAction.RETAIN and line.rows
            ],
        )
        identity = SubjectIdentity.of_request(request)
        specs = []
        for line in plan:
            if not line.rows:
                continue
            _snapshot(run, line, line.registration.rows(identity))
            if line.action != PurgeAction.RETAIN:
                position = 2 * order[line.registration.model]
                if line.action == PurgeAction.ANONYMISE:
                    position += 1
                specs.append(StepSpec(position, line.label, line.action))
        steps_create(run, specs)
        ErasureSchedule.objects.filter(pk=schedule.pk).update(
            status=ErasureStatus.RUNNING, started_at=now, run=run
        )
        _event(request, "started", actor=Actor.system(ERASURE_JOB), at=now, run=run.pk)
    return run


def erasures_start_due(*, at: datetime | None = None, dispatch: bool = True) -> list[PurgeRun]:
    """Start every erasure whose grace period is over; queue the runs' first steps."""
    now = at or timezone.now()
    runs = []
    due = ErasureSchedule.objects.filter(status=ErasureStatus.SCHEDULED, execute_after__lte=now)
    for schedule_id in due.order_by("execute_after").values_list("pk", flat=True):
        run = erasure_start(schedule_id=schedule_id, at=now)
        if run is None:
            continue
        if dispatch:
            run_dispatch(run)
        runs.append(run)
    return runs


# --- The certificate ------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def certificate_content(
    schedule: ErasureSchedule, run: PurgeRun, *, at: datetime
) -> dict[str, Any]:
    """Return the certificate of an erasure whose run has just finished."""
    request = schedule.request
    models = []
    for label, counts in sorted(run.totals.items()):
        registration = registration_for(label)
        retained = sum(e["rows"] for e in run.retained if e["model"] == label)
        models.append(
            {
                "model": label,
                "name": str(registration.model._meta.verbose_name_plural),
                "category": registration.category,
                "deleted": counts.get("deleted", 0),
                "anonymised": counts.get("anonymised", 0),
                "kept_referenced": counts.get("kept", 0),
                "retained": retained,
            }
        )
    by_category: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for entry in run.retained:
        key = (entry["category"], entry["legal_basis"], entry["until"])
        found = by_category.setdefault(
            key,
            {
                "category": entry["category"],
                "category_name": str(DataCategory(entry["category"]).label),
                "legal_basis": entry["legal_basis"],
                "until": entry["until"],
                "models": [],
                "rows": 0,
            },
        )
        found["models"].append(entry["model"])
        found["rows"] += entry["rows"]
    due = schedule.deadline
    return {
        "format": "dsr-tracker/erasure-certificate",
        "format_version": 1,
        "request": request.reference,
        "organization": {
            "name": request.organization.name,
            "legal_name": request.organization.legal_name,
        },
        "policy_version": request.policy_version.version_label,
        "approved_at": _iso(schedule.approved_at),
        "approved_by": schedule.approved_by.get_username() if schedule.approved_by else "",
        "grace_period_ended_at": _iso(schedule.execute_after),
        "deadline": _iso(due),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "issued_at": _iso(at),
        "on_time": due is None or at <= due,
        "purge_run": run.pk,
        "models": models,
        "retained": sorted(by_category.values(), key=lambda e: (e["category"], e["until"] or "")),
    }


def certificate_summary(content: dict[str, Any]) -> str:
    """A few sentences for the subject (in the active language): what was done and kept."""
    deleted = sum(m["deleted"] for m in content["models"])
    anonymised = sum(m["anonymised"] for m in content["models"])
    parts = [
        _("Your data was erased."),
        ngettext("%(count)d record was deleted.", "%(count)d records were deleted.", deleted)
        % {"count": deleted},
        ngettext(
            "%(count)d record was anonymised.", "%(count)d records were anonymised.", anonymised
        )
        % {"count": anonymised},
    ]
    for entry in content["retained"]:
        parts.append(
            ngettext(
                "%(count)d record of %(category)s is kept under %(basis)s until %(until)s, "
                "then deleted.",
                "%(count)d records of %(category)s are kept under %(basis)s until %(until)s, "
                "then deleted.",
                entry["rows"],
            )
            % {
                "count": entry["rows"],
                "category": str(DataCategory(entry["category"]).label).lower(),
                "basis": entry["legal_basis"],
                "until": entry["until"],
            }
        )
    parts.append(_("The erasure certificate was emailed to you."))
    return " ".join(parts)


def erasure_finish(run: PurgeRun) -> None:
    """Issue the certificate of a finished erasure run and complete its request.

    Called by the purge engine inside the transaction that finishes the run, so the certificate,
    the audit event and the completion commit together, or not at all and the run is finished
    again by whoever resumes it.
    """
    now = run.finished_at or timezone.now()
    schedule = ErasureSchedule.objects.select_related(
        "request__organization", "request__rule", "request__policy_version", "approved_by"
    ).get(run=run)
    request = schedule.request
    ErasureSchedule.objects.filter(pk=schedule.pk).update(
        status=ErasureStatus.DONE, finished_at=now
    )
    # The stored certificate is evidence: always in English, whoever's language is active.
    with translation.override("en"):
        content = certificate_content(schedule, run, at=now)
    certificate = ErasureCertificate.objects.create(
        schedule=schedule,
        request=request,
        issued_at=now,
        content=content,
        sha256=ErasureCertificate.digest(content),
    )
    actor = Actor.system(ERASURE_JOB)
    with translation.override(request.language):
        summary = certificate_summary(content)
    _event(
        request,
        "certificate",
        actor=actor,
        at=now,
        certificate=certificate.pk,
        sha256=certificate.sha256,
        run=run.pk,
    )
    if request.status == RequestStatus.IN_PROGRESS:
        request_complete(request=request, actor=actor, outcome=summary, at=now)
    else:
        # Staff moved the request while it ran: the data is erased, they close it.
        logger.warning("erasure of %s finished while it is %s", request.reference, request.status)
    from requests_app.erasure.tasks import send_erasure_email

    transaction.on_commit(partial(send_erasure_email.delay, schedule.pk, "certificate"))


FINISHERS[PurgeKind.ERASURE] = erasure_finish


# --- The end of a legal hold ---------------------------------------------------------------------


def holds_release_start(*, as_of: date, triggered_by: str = RELEASE_JOB) -> list[PurgeRun]:
    """Start a run deleting the rows erasures kept under a legal hold that ended by ``as_of``."""
    runs: list[PurgeRun] = []
    due = PurgeTarget.objects.filter(
        action=PurgeAction.RETAIN, released_at__isnull=True, retained_until__lte=as_of
    )
    for parent_id in due.order_by("run_id").values_list("run_id", flat=True).distinct():
        with transaction.atomic():
            parent = PurgeRun.objects.select_for_update(of=("self",)).get(pk=parent_id)
            existing = PurgeRun.objects.filter(
                kind=PurgeKind.HOLD_RELEASE, parent=parent, finished_at__isnull=True
            ).first()
            if existing is not None:
                runs.append(existing)
                continue
            labels = set(due.filter(run=parent).values_list("model_label", flat=True))
            ordered = deletion_order(registration_for(label).model for label in sorted(labels))
            run = PurgeRun.objects.create(
                kind=PurgeKind.HOLD_RELEASE,
                organization_id=parent.organization_id,
                parent=parent,
                as_of=as_of,
                triggered_by=triggered_by[:150],
                batch_size=int(settings.PURGE_BATCH_SIZE),
                totals={
                    m._meta.label_lower: {"deleted": 0, "anonymised": 0, "kept": 0} for m in ordered
                },
            )
            steps_create(
                run,
                [
                    StepSpec(index, model._meta.label_lower, PurgeAction.DELETE)
                    for index, model in enumerate(ordered)
                ],
            )
            runs.append(run)
    return runs


def hold_release_finish(run: PurgeRun) -> None:
    """Mark the held rows released and say so in the erasure's audit trail."""
    now = run.finished_at or timezone.now()
    if run.parent_id is None:
        raise ValueError(f"legal hold release {run.pk} names no erasure run")
    PurgeTarget.objects.filter(
        run_id=run.parent_id,
        action=PurgeAction.RETAIN,
        retained_until__lte=run.as_of,
        released_at__isnull=True,
    ).update(released_at=now)
    schedule = (
        ErasureSchedule.objects.select_related("request").filter(run_id=run.parent_id).first()
    )
    if schedule is not None:
        _event(
            schedule.request,
            "hold_ended",
            actor=Actor.system(RELEASE_JOB),
            at=now,
            run=run.pk,
            deleted=run.total("deleted"),
            kept=run.total("kept"),
        )


FINISHERS[PurgeKind.HOLD_RELEASE] = hold_release_finish


# --- Evidence ------------------------------------------------------------------------------------


def erasure_evidence(request: SubjectRequest) -> dict[str, Any]:
    """The erasure's part of the evidence record: schedule, certificate and legal holds."""
    schedule = (
        ErasureSchedule.objects.select_related("approved_by", "run").filter(request=request).first()
    )
    if schedule is None:
        return {}
    section: dict[str, Any] = {
        "status": schedule.status,
        "approved_at": _iso(schedule.approved_at),
        "approved_by": schedule.approved_by.get_username() if schedule.approved_by else "",
        "grace_period_ends_at": _iso(schedule.execute_after),
        "deadline": _iso(schedule.deadline),
        "cancelled_at": _iso(schedule.cancelled_at),
        "started_at": _iso(schedule.started_at),
        "finished_at": _iso(schedule.finished_at),
    }
    certificate = ErasureCertificate.objects.filter(schedule=schedule).first()
    if certificate is not None:
        section["certificate"] = {
            "content": certificate.content,
            "sha256": certificate.sha256,
            "sha256_matches_content": certificate.is_intact(),
            "sent_at": _iso(certificate.sent_at),
        }
    if schedule.run_id is not None:
        section["legal_hold_releases"] = [
            {"run": release.pk, "as_of": release.as_of.isoformat(), "totals": release.totals}
            for release in PurgeRun.objects.filter(
                parent_id=schedule.run_id, finished_at__isnull=False
            )
        ]
    return section


evidence_section_register("erasure", erasure_evidence)
