"""Celery tasks of retention and the purge engine: thin wrappers that take ids and call a service.

Each is safe to run again: purge steps resume from their cursor, runs advance under a lock,
notices are claimed before they go.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from outbox.api import enqueue
from requests_app.jobs import EMAIL_RETRY
from retention import closed_requests, daily, notices, purge

logger = logging.getLogger(__name__)


@shared_task(
    name="retention.execute_purge_step",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    retry_jitter=True,
    max_retries=5,
)
def execute_purge_step(step_id: int) -> bool:
    """Work on one purge step for a while; queue its rest, or the run's next phase when done."""
    done = purge.step_work(step_id, budget_seconds=purge.task_budget_seconds())
    if not done:
        # Hand the rest to a fresh task, so no task outlives its time limit.
        enqueue(purge.PURGE_STEP_TASK, step_id)
        return False
    run_id = purge.PurgeStep.objects.values_list("run_id", flat=True).get(pk=step_id)
    for next_id in purge.run_advance(run_id):
        enqueue(purge.PURGE_STEP_TASK, next_id)
    return True


@shared_task(name="retention.apply_retention_rules")
def apply_retention_rules() -> int:
    """Send due advance notices and start today's purge run of every retention rule in force;
    start the purges other apps register (the end of legal holds after an erasure)."""
    runs = daily.retention_apply()
    others = daily.purges_start_due(as_of=timezone.localdate())
    for run in others:
        purge.run_dispatch(run)
    logger.info("retention: %d rule runs, %d other purges", len(runs), len(others))
    return len(runs) + len(others)


@shared_task(name="retention.resume_stalled_purges")
def resume_stalled_purges() -> int:
    """Take over purge steps whose worker died or whose task was lost."""
    resumed = purge.runs_resume_stalled()
    if resumed:
        logger.info("%d stalled purge steps queued again", resumed)
    return resumed


@shared_task(name="retention.anonymise_closed_requests")
def anonymise_closed_requests() -> int:
    """Anonymise closed requests whose evidence period is over."""
    return closed_requests.closed_requests_anonymise()


@shared_task(name="retention.send_retention_notice", **EMAIL_RETRY)
def send_retention_notice(notice_id: int) -> bool:
    """Send one advance notice of a retention purge; mail failures retry."""
    return notices.retention_notice_send(notice_id=notice_id)
