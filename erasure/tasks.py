"""Celery tasks of erasures: thin wrappers that take ids and call a service, safe to run again."""

from __future__ import annotations

import logging

from celery import shared_task

from erasure import emails, services
from outbox.api import once
from requests_app.jobs import EMAIL_RETRY

logger = logging.getLogger(__name__)


@shared_task(name="erasure.execute_due_erasures")
def execute_due_erasures() -> int:
    """Start the erasures whose grace period is over."""
    runs = services.erasures_start_due()
    logger.info("erasures: %d started", len(runs))
    return len(runs)


@shared_task(name="erasure.send_erasure_email", **EMAIL_RETRY)
def send_erasure_email(schedule_id: int, kind: str) -> bool:
    """Tell the subject when their erasure runs, or send its certificate; mail failures retry."""
    with once() as first:
        return first and emails.erasure_email_send(schedule_id=schedule_id, kind=kind)
