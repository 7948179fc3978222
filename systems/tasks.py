"""Celery tasks of systems' tasks: thin wrappers that take ids and call a service.

Imported by the app's ``ready()``, so every process registers them. Each is safe to run again: the
database is the record, a message only wakes a task up.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import shared_task
from django.db import InterfaceError, OperationalError

from requests_app.jobs import EMAIL_RETRY
from systems import handlers, manual, work

logger = logging.getLogger(__name__)


@shared_task(
    name="systems.send_task",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    retry_jitter=True,
    max_retries=5,
)
def send_task(task_id: int) -> str | None:
    """Send one system task through its kind's handler (an attempt, counted)."""
    task = handlers.task_send(task_id=task_id)
    return task.status if task is not None else None


@shared_task(name="systems.check_tasks")
def check_tasks() -> dict[str, int]:
    """Wake due retries, remind owners, flag and escalate overdue or exhausted tasks."""
    report = work.tasks_check()
    logger.info("system tasks: %s", report)
    return asdict(report)


@shared_task(name="systems.send_owner_email", **EMAIL_RETRY)
def send_owner_email(task_id: int, kind: str) -> bool:
    """Email a manual task's owner: the request (with a fresh link) or a reminder."""
    return manual.owner_email_send(task_id=task_id, kind=kind)


@shared_task(name="systems.send_officer_email", **EMAIL_RETRY)
def send_officer_email(task_id: int, kind: str, text: str = "") -> bool:
    """Email the privacy officers about a task: escalation or an owner's question."""
    return manual.officer_email_send(task_id=task_id, kind=kind, text=text)
