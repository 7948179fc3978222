"""Celery tasks of erasures and retention: thin wrappers that take ids and call a service.

Imported by ``requests_app.tasks`` so every worker registers them. Each is safe to run again:
purge steps resume from their cursor, runs advance under a lock, notices and emails are claimed
before they go.
"""

from __future__ import annotations

import logging
from smtplib import SMTPException

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from requests_app.erasure import closed_requests, emails, erasure, purge, retention

logger = logging.getLogger(__name__)


@shared_task(
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
        execute_purge_step.delay(step_id)
        return False
    run_id = purge.PurgeStep.objects.values_list("run_id", flat=True).get(pk=step_id)
    for next_id in purge.run_advance(run_id):
        execute_purge_step.delay(next_id)
    return True


@shared_task
def apply_retention_rules() -> int:
    """Send due advance notices and start today's purge run of every retention rule in force;
    start the deletion of rows whose legal hold after an erasure ended."""
    runs = retention.retention_apply()
    releases = erasure.holds_release_start(as_of=timezone.localdate())
    for run in releases:
        purge.run_dispatch(run)
    logger.info("retention: %d rule runs, %d legal hold releases", len(runs), len(releases))
    return len(runs) + len(releases)


@shared_task
def execute_due_erasures() -> int:
    """Start the erasures whose grace period is over; take over purge steps that stalled."""
    runs = erasure.erasures_start_due()
    resumed = purge.runs_resume_stalled()
    logger.info("erasures: %d started, %d stalled purge steps queued again", len(runs), resumed)
    return len(runs)


@shared_task
def anonymise_closed_requests() -> int:
    """Anonymise closed requests whose evidence period is over."""
    return closed_requests.closed_requests_anonymise()


@shared_task(
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=60 * 60,
    retry_jitter=True,
    max_retries=8,
)
def send_erasure_email(schedule_id: int, kind: str) -> bool:
    """Tell the subject when their erasure runs, or send its certificate; mail failures retry."""
    return emails.erasure_email_send(schedule_id=schedule_id, kind=kind)


@shared_task(
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=60 * 60,
    retry_jitter=True,
    max_retries=8,
)
def send_retention_notice(notice_id: int) -> bool:
    """Send one advance notice of a retention purge; mail failures retry."""
    return retention.retention_notice_send(notice_id=notice_id)
