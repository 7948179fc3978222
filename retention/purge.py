"""The purge engine: delete or anonymise rows in bounded, resumable batches.

A ``PurgeRun`` is planned in one transaction as ``PurgeStep`` rows: per model, per action, per
primary-key range. Steps run phase by phase (``position``): every model that refers to another
is emptied before the model it refers to, because the database refuses to delete a row that is
still referenced (Django's ``on_delete`` is applied in Python, by the collector these deletes
bypass). The steps of one phase are independent, so several workers share a large job.

Each batch is its own short transaction: it locks its step, takes at most ``batch_size`` rows
after the step's cursor (the next ``batch_size`` keys where due rows are dense, as a raw ``DELETE
... WHERE id BETWEEN`` would; the next ``batch_size`` due rows where they are sparse), deletes
(or anonymises) them, and moves the cursor and the counts in the same transaction. A worker
killed at any point therefore loses at most an uncommitted batch, and whoever runs the step next
starts after the last committed one: the final state and the counts are those of an
uninterrupted run. Running a finished step again does nothing.

What a batch may touch is decided afresh in every batch (the "scope", ``scopes.step_rows``): for a
retention rule, the rows of the run's organisation whose anchor's trigger started on or before the
step's cutoff and still holds; for an erasure, the rows it found when it started. The querysets a
batch runs are built once per step and narrowed to each batch's key range. A row is only
deleted when nothing refers to it any more (``SET_NULL`` references are cleared first), so a row
still needed by a record that stays (an account its retained invoices refer to) is kept, counted
as kept, never deleted from under that record.

A batch is Django querysets throughout: ``update()`` anonymises and clears ``SET_NULL``
references, a ``select_for_update()`` read locks the step and a conditional ``update()`` moves it
on. The exception is the delete: ``QuerySet.delete()`` reached 0.17 of raw batched ``DELETE`` in
``bench/purge.py`` (its collector loads every row to find references there cannot be), so a
batch deletes through ``QuerySet._raw_delete()``, the single statement Django's own fast path
issues (see ``_delete``). Nothing is prepared on the server: compiled by the ORM in every batch,
the statements ran as fast in ``bench/purge.py`` as the same ones prepared once (README,
"Benchmarks").
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, models, transaction
from django.db.models import F, Min, Q, QuerySet, Value
from django.db.models.functions import Greatest, Now
from django.utils import timezone

from outbox import heartbeat
from outbox.api import enqueue
from retention.models import PurgeAction, PurgeKind, PurgeRun, PurgeStep, PurgeTarget
from retention.scopes import (
    PurgeError,
    StepScope,
    anonymise_fields,
    anonymous_update,
    deletable,
    registration_for,
)

logger = logging.getLogger(__name__)

PURGE_STEP_TASK = "retention.execute_purge_step"

# --- Planning -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepSpec:
    """One model and action of a plan, before it is split into key ranges."""

    position: int
    model_label: str
    action: str
    cutoff: date | None = None
    legal_basis: str = ""


def slice_rows() -> int:
    return int(settings.PURGE_SLICE_ROWS)


def steps_create(run: PurgeRun, specs: Iterable[StepSpec]) -> int:
    """Create the steps of ``run``: each spec split into key ranges of about ``PURGE_SLICE_ROWS``
    rows; specs with no rows in scope get no step. Return how many steps were created."""
    created = 0
    for spec in specs:
        step = PurgeStep(
            run=run,
            position=spec.position,
            model_label=spec.model_label,
            action=spec.action,
            cutoff=spec.cutoff,
            legal_basis=spec.legal_basis,
            pk_from=0,
            pk_to=0,
        )
        low, high, count = StepScope(step).bounds()
        if low is None or high is None:
            continue
        slices = max(1, math.ceil(count / slice_rows()))
        width = math.ceil((high - low + 1) / slices)
        steps = []
        for index in range(slices):
            start = low + index * width
            if start > high:
                break
            steps.append(
                PurgeStep(
                    run=run,
                    position=spec.position,
                    model_label=spec.model_label,
                    action=spec.action,
                    cutoff=spec.cutoff,
                    legal_basis=spec.legal_basis,
                    pk_from=start,
                    pk_to=min(high, start + width - 1),
                    # An estimate per range (the rows are not counted range by range).
                    planned=count // slices + (1 if index < count % slices else 0),
                )
            )
        PurgeStep.objects.bulk_create(steps)
        created += len(steps)
    first = PurgeStep.objects.filter(run=run).aggregate(first=Min("position"))["first"]
    PurgeRun.objects.filter(pk=run.pk).update(position=first or 0)
    run.position = first or 0
    return created


# --- Executing ----------------------------------------------------------------------------------


def _held_models(run: PurgeRun) -> set[type[models.Model]]:
    """Models with rows this run keeps under a legal basis: their references always block."""
    labels: set[str] = set()
    if run.kind == PurgeKind.ERASURE:
        labels = set(
            PurgeTarget.objects.filter(run=run, action=PurgeAction.RETAIN)
            .values_list("model_label", flat=True)
            .distinct()
        )
    else:
        labels = {entry["model"] for entry in run.retained if entry.get("rows")}
    return {registration_for(label).model for label in labels}


def _delete(rows: QuerySet[Any]) -> int:
    """Delete ``rows`` in one ``DELETE ... WHERE`` statement; return how many were deleted.

    Every reference to them has been removed, cleared or excluded (``scopes.deletable``), so
    Django's collector would find nothing to cascade, yet ``QuerySet.delete()`` cannot know it
    without loading each batch's rows, querying every reverse relation and deleting by lists of
    100 keys: 0.17 of raw batched ``DELETE`` in ``bench/purge.py``. This is the statement its
    fast path issues when the collector finds nothing to do.
    """
    return rows._raw_delete(rows.db)


@dataclass(frozen=True)
class StepStatements:
    """What one batch of a step runs, as querysets built once per step and narrowed to each
    batch's key range; the database evaluates the scope afresh in every batch.

    A delete first clears the ``SET_NULL`` references to the rows it deletes, then deletes the
    rows nothing refers to any more; an anonymisation updates the rows not anonymous yet. The
    last statement's row count is the batch's.
    """

    action: str
    # The rows the step may change: for a delete, only those nothing that stays refers to.
    scope: StepScope
    # The rows in scope, to find where a sparse batch ends.
    window: StepScope
    anonymous: dict[str, Any]
    to_clear: tuple[tuple[type[models.Model], str], ...]

    @classmethod
    def for_step(cls, step: PurgeStep) -> StepStatements:
        registration = registration_for(step.model_label)
        if registration.read_only:
            raise PurgeError(
                f"{step.model_label}: the system {registration.system} is read-only; nothing is "
                "changed there"
            )
        window = StepScope(step)
        if step.action == PurgeAction.ANONYMISE:
            values, already = anonymous_update(
                registration.model,
                anonymise_fields(registration, legal_basis=step.legal_basis),
                strategies={
                    name: strategy
                    for name, strategy in registration.erasure.strategies
                    if name not in registration.erasure.kept_fields or not step.legal_basis
                },
                organization_id=step.run.organization_id,
            )
            return cls(
                step.action, StepScope(step, window.rows.exclude(already)), window, values, ()
            )
        unreferenced, to_clear = deletable(window.rows, keep_referrers=_held_models(step.run))
        return cls(step.action, StepScope(step, unreferenced), window, {}, tuple(to_clear))

    @property
    def database(self) -> str:
        """The alias of the database the rows live in."""
        return self.scope.rows.db

    def run(self, lower: int, upper: int) -> int:
        batch = self.scope.within(lower, upper)
        # In the tracker's own database this is part of the batch's transaction; in a system's
        # database, its own transaction, committed just before the batch's.
        with transaction.atomic(using=batch.db, savepoint=False):
            if self.action == PurgeAction.ANONYMISE:
                return batch.update(**self.anonymous)
            for child, field_name in self.to_clear:
                child._base_manager.filter(**{f"{field_name}__in": batch.values("pk")}).update(
                    **{field_name: None}
                )
            return _delete(batch)


def _finish_step(step_id: int, now: datetime) -> None:
    PurgeStep.objects.filter(pk=step_id, finished_at__isnull=True).update(
        finished_at=now, heartbeat_at=now, last_error=""
    )


def _dense(step: PurgeStep, lower: int) -> bool:
    """Whether at least half the keys the step went through so far were rows it changed (the
    first batch assumes so); then the next batch is a plain key range."""
    passed = lower - step.pk_from + 1
    return passed <= 0 or step.rows * 2 >= passed


def _step_advance(step: PurgeStep, *, last: int, changed: int, elapsed_ms: int) -> None:
    """Move the step's cursor to ``last`` and add the batch to its counts, on the condition that
    it still stands where this batch read it (under the batch's lock, it always does)."""
    moved = PurgeStep.objects.filter(
        pk=step.pk, cursor=step.cursor, finished_at__isnull=True
    ).update(
        cursor=last,
        rows=F("rows") + changed,
        batches=F("batches") + 1,
        longest_batch_ms=Greatest(F("longest_batch_ms"), Value(elapsed_ms)),
        heartbeat_at=Now(),
    )
    if moved != 1:
        raise PurgeError(f"purge step {step.pk} moved under a batch holding its lock")


def batch_run(
    step_id: int,
    *,
    batch_size: int | None = None,
    statements: StepStatements | None = None,
    step: PurgeStep | None = None,
) -> tuple[int, bool]:
    """Run the next batch of a step in its own transaction; return (rows changed, step done).

    A caller that runs many batches of one step passes the step as it read it (for its fixed
    fields: range, model, run) and its ``statements``. Rows in a system's own database are
    changed in a transaction there (``_batch_run_in_system``).
    """
    if step is None:
        step = PurgeStep.objects.select_related("run__organization", "run__rule").get(pk=step_id)
    statements = statements or StepStatements.for_step(step)
    size = batch_size or step.run.batch_size
    if statements.database != DEFAULT_DB_ALIAS:
        return _batch_run_in_system(step, statements, size)
    started = time.monotonic()
    with transaction.atomic():
        if not _lock(step):
            return 0, True
        now = timezone.now()
        planned = _next_batch(step, statements, size, now)
        if planned is None:
            return 0, True
        lower, last, found = planned
        changed = statements.run(lower, last)
        elapsed_ms = int((time.monotonic() - started) * 1000)
        _step_advance(step, last=last, changed=changed, elapsed_ms=elapsed_ms)
        done = not found or last >= step.pk_to
        if done:
            _finish_step(step.pk, now)
    return changed, done


def _lock(step: PurgeStep) -> bool:
    """Lock the step's row and read its progress afresh (another worker may have moved it);
    return whether it is still unfinished."""
    progress = (
        PurgeStep.objects.select_for_update()
        .filter(pk=step.pk)
        .values_list("cursor", "rows", "finished_at", "pending_last", "pending_rows")
        .first()
    )
    if progress is None:
        raise PurgeStep.DoesNotExist(f"purge step {step.pk} does not exist")
    step.cursor, step.rows, step.finished_at, step.pending_last, step.pending_rows = progress
    return step.finished_at is None


def _next_batch(
    step: PurgeStep, statements: StepStatements, size: int, now: datetime
) -> tuple[int, int, bool] | None:
    """The next batch's key range (after ``lower``, up to ``last``) and whether rows were found
    to fill it; ``None`` (the step finished) when no row is left."""
    lower = step.cursor if step.cursor is not None else step.pk_from - 1
    if _dense(step, lower):
        # Keys ``size`` apart hold at most ``size`` rows: where most keys are due, the batch
        # is the next key range, as a raw ``DELETE ... WHERE id BETWEEN`` would take it.
        return lower, min(lower + size, step.pk_to), True
    # Sparse: the batch ends at the size-th due row after the cursor (or the last one).
    last, found = statements.window.key_at(lower, step.pk_to, size)
    if last is None:
        _finish_step(step.pk, now)
        return None
    return lower, last, found


def _batch_run_in_system(
    step: PurgeStep, statements: StepStatements, size: int
) -> tuple[int, bool]:
    """A batch whose rows live in a system's own database: two databases, no shared commit.

    The batch changes the rows in a transaction on the system's database; before that commits,
    the batch's end and row count are recorded on the step (``pending_last``, ``pending_rows``)
    and committed in the tracker's; then the system's commits; then the cursor moves. A worker
    killed anywhere leaves either nothing done, or a pending batch whose rows are gone (it
    committed: the next worker counts it) or still there (it did not: the next worker discards
    it and runs the batch again). The data and the counts end as in an uninterrupted run.
    """
    started = time.monotonic()
    now = timezone.now()
    with transaction.atomic(using=statements.database), transaction.atomic():
        if not _lock(step):
            return 0, True
        if step.pending_last is not None:
            _settle_pending(step, statements, now)
            if step.finished_at is not None:
                return 0, True
        planned = _next_batch(step, statements, size, now)
        if planned is None:
            return 0, True
        lower, last, found = planned
        changed = statements.run(lower, last)
        PurgeStep.objects.filter(pk=step.pk).update(
            pending_last=last, pending_rows=changed, heartbeat_at=Now()
        )
    # The system's transaction has committed; the tracker's record of it follows.
    elapsed_ms = int((time.monotonic() - started) * 1000)
    done = not found or last >= step.pk_to
    with transaction.atomic():
        moved = PurgeStep.objects.filter(
            pk=step.pk, cursor=step.cursor, pending_last=last, finished_at__isnull=True
        ).update(
            cursor=last,
            rows=F("rows") + changed,
            batches=F("batches") + 1,
            longest_batch_ms=Greatest(F("longest_batch_ms"), Value(elapsed_ms)),
            heartbeat_at=Now(),
            pending_last=None,
            pending_rows=0,
        )
        if moved and done:
            _finish_step(step.pk, now)
    if moved:
        step.cursor, step.rows = last, step.rows + changed
    return changed, done


def _settle_pending(step: PurgeStep, statements: StepStatements, now: datetime) -> None:
    """Finish the record of a batch whose worker died between the two commits (step locked).

    Its rows are read with a lock, so a batch still committing is waited for: none left means it
    committed (count it and move on), any left means it did not (run it again).
    """
    lower = step.cursor if step.cursor is not None else step.pk_from - 1
    last = int(step.pending_last or 0)
    left = list(
        statements.scope.within(lower, last).select_for_update().values_list("pk", flat=True)[:1]
    )
    update: dict[str, Any] = {"pending_last": None, "pending_rows": 0}
    if not left:
        update |= {
            "cursor": last,
            "rows": F("rows") + step.pending_rows,
            "batches": F("batches") + 1,
        }
        step.cursor, step.rows = last, step.rows + step.pending_rows
    PurgeStep.objects.filter(pk=step.pk).update(**update)
    step.pending_last, step.pending_rows = None, 0
    if not left and last >= step.pk_to:
        _finish_step(step.pk, now)
        step.finished_at = now


def step_work(
    step_id: int,
    *,
    batch_size: int | None = None,
    budget_seconds: float | None = None,
    progress: Callable[[int], object] | None = None,
) -> bool:
    """Run batches of a step until it is done or ``budget_seconds`` ran out; return whether done.

    A batch that fails records its error on the step and raises; nothing of that batch stays.
    """
    deadline = time.monotonic() + budget_seconds if budget_seconds is not None else None
    step = PurgeStep.objects.select_related("run__organization", "run__rule").get(pk=step_id)
    statements = StepStatements.for_step(step)
    size = batch_size or step.run.batch_size
    while True:
        try:
            changed, done = batch_run(step_id, batch_size=size, statements=statements, step=step)
        except Exception as error:
            PurgeStep.objects.filter(pk=step_id).update(
                last_error=f"{type(error).__name__}: {error}"[:2000], heartbeat_at=timezone.now()
            )
            raise
        if progress is not None:
            progress(changed)
        if done:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


def pending_steps(run: PurgeRun) -> list[int]:
    """The unfinished steps of the run's current phase."""
    return list(
        PurgeStep.objects.filter(run=run, position=run.position, finished_at__isnull=True)
        .order_by("pk_from", "pk")
        .values_list("pk", flat=True)
    )


# What each kind of run does once its last step is done (the erasure issues its certificate);
# registered by the app that starts such runs, in its ready().
_FINISHERS: dict[str, Callable[[PurgeRun], None]] = {}


def finisher_register(kind: str, finisher: Callable[[PurgeRun], None]) -> None:
    """Call ``finisher(run)`` when a run of ``kind`` finishes, under the run's lock."""
    _FINISHERS[kind] = finisher


def run_advance(run_id: int) -> list[int]:
    """Move a run to its next phase once the current one is done, or finish it.

    Return the steps that are now due (none while the current phase still has work, and none
    once the run is finished). The run row is locked, so of many workers finishing the last
    steps of a phase at once, one moves it on.
    """
    with transaction.atomic():
        run = PurgeRun.objects.select_for_update(of=("self",)).get(pk=run_id)
        if run.finished_at is not None:
            return []
        if PurgeStep.objects.filter(
            run=run, position=run.position, finished_at__isnull=True
        ).exists():
            return []
        following = PurgeStep.objects.filter(run=run, position__gt=run.position).aggregate(
            next=Min("position")
        )["next"]
        if following is None:
            _finish_run(run)
            return []
        PurgeRun.objects.filter(pk=run.pk).update(position=following)
        run.position = following
        return pending_steps(run)


def _finish_run(run: PurgeRun) -> None:
    """Total the steps into the run's evidence and call the kind's finisher (locked run)."""
    totals: dict[str, dict[str, int]] = {
        label: dict(counts) for label, counts in (run.totals or {}).items()
    }
    column: dict[str, str] = {PurgeAction.DELETE: "deleted", PurgeAction.ANONYMISE: "anonymised"}
    for label, action, rows in PurgeStep.objects.filter(run=run).values_list(
        "model_label", "action", "rows"
    ):
        counts = totals.setdefault(label, {"deleted": 0, "anonymised": 0, "kept": 0})
        counts[column[action]] = counts.get(column[action], 0) + int(rows)
    for label, kept in _kept_after(run).items():
        totals.setdefault(label, {"deleted": 0, "anonymised": 0, "kept": 0})["kept"] = kept
    run.totals = totals
    run.finished_at = timezone.now()
    PurgeRun.objects.filter(pk=run.pk).update(totals=totals, finished_at=run.finished_at)
    finisher = _FINISHERS.get(run.kind)
    if finisher is not None:
        finisher(run)
    logger.info(
        "purge run %s finished: %d deleted, %d anonymised, %d kept",
        run.pk,
        run.total("deleted"),
        run.total("anonymised"),
        run.total("kept"),
    )


def _kept_after(run: PurgeRun) -> dict[str, int]:
    """Rows a delete step left because something that stays still refers to them."""
    kept: dict[str, int] = {}
    for step in PurgeStep.objects.filter(run=run, action=PurgeAction.DELETE).select_related(
        "run__organization", "run__rule"
    ):
        left = StepScope(step).within(step.pk_from - 1, step.pk_to).count()
        if left:
            kept[step.model_label] = kept.get(step.model_label, 0) + left
    return kept


def run_execute(
    run: PurgeRun,
    *,
    batch_size: int | None = None,
    progress: Callable[[PurgeStep, int], object] | None = None,
) -> PurgeRun:
    """Run every remaining step of ``run`` in this process, phase by phase, and finish it."""
    while True:
        run.refresh_from_db()
        if run.finished_at is not None:
            return run
        for step_id in pending_steps(run):
            report = (
                partial(progress, PurgeStep.objects.get(pk=step_id))
                if progress is not None
                else None
            )
            step_work(step_id, batch_size=batch_size, progress=report)
        run_advance(run.pk)


def run_dispatch(run: PurgeRun) -> list[int]:
    """Queue the pending steps of the run's current phase, once the transaction commits.

    A run with nothing to do in its phase (a rule no row is due under, a subject with no data)
    is moved on, or finished, here: no worker task would ever do it.
    """
    step_ids = pending_steps(run) if run.finished_at is None else []
    if not step_ids and run.finished_at is None:
        step_ids = run_advance(run.pk)
        run.refresh_from_db()
    for step_id in step_ids:
        enqueue(PURGE_STEP_TASK, step_id)
    return step_ids


def stall_after() -> timedelta:
    """How long a step may go without a batch (its heartbeat) before another worker takes it
    over: ``WORK_STALL_MINUTES``. A batch slower than that is queued again harmlessly: the two
    tasks take turns on the step's lock."""
    return heartbeat.stall_after()


def runs_resume_stalled(*, at: datetime | None = None) -> int:
    """Queue again the steps of unfinished runs that no worker has moved for a while.

    A worker that died mid-step leaves the step unfinished and quiet; one that died between
    finishing a phase and starting the next leaves a run with no pending step. Both are picked
    up here; queueing a step twice is harmless (its batches take turns on the step's lock).
    Return how many steps were queued.
    """
    now = at or timezone.now()
    quiet_since = now - stall_after()
    queued = 0
    for run in PurgeRun.objects.filter(finished_at__isnull=True, started_at__lte=quiet_since):
        for step_id in run_advance(run.pk):
            enqueue(PURGE_STEP_TASK, step_id)
            queued += 1
        run.refresh_from_db()
        if run.finished_at is not None:
            continue
        stale = PurgeStep.objects.filter(
            run=run, position=run.position, finished_at__isnull=True
        ).filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lte=quiet_since))
        for step_id in stale.values_list("pk", flat=True):
            enqueue(PURGE_STEP_TASK, step_id)
            queued += 1
    return queued


def task_budget_seconds() -> float:
    """How long one task works on a step before handing the rest to a fresh task."""
    return max(10.0, int(settings.CELERY_TASK_SOFT_TIME_LIMIT) / 2)
