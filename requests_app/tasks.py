"""Celery tasks: thin wrappers that take ids and call a service; each is safe to run again."""

from __future__ import annotations

import logging
from smtplib import SMTPException

from celery import shared_task

from requests_app import emails, verification

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=60 * 60,
    retry_jitter=True,
    max_retries=8,
)
def send_request_email(request_id: int, kind: str, event_id: int | None = None) -> bool:
    """Send one email about a request; mail server failures are retried with backoff."""
    return emails.request_email_send(request_id=request_id, kind=kind, event_id=event_id)


@shared_task
def expire_unverified_requests() -> int:
    """Close requests whose email address was never confirmed in time."""
    count = verification.requests_expire_unverified()
    logger.info("expired %d unverified requests", count)
    return count
