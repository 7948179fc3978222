"""Celery tasks: thin wrappers that take ids and call a service; each is safe to run again."""

from __future__ import annotations

import logging

from celery import shared_task

from outbox.api import once
from requests_app import checkpoints, emails, reminders, verification
from requests_app.jobs import EMAIL_RETRY

logger = logging.getLogger(__name__)


@shared_task(name="requests_app.send_request_email", **EMAIL_RETRY)
def send_request_email(request_id: int, kind: str, event_id: int | None = None) -> bool:
    """Send one email about a request; mail server failures are retried with backoff."""
    with once() as first:
        return first and emails.request_email_send(
            request_id=request_id, kind=kind, event_id=event_id
        )


@shared_task(name="requests_app.send_new_links")
def send_new_links(organization_id: int, email: str) -> int:
    """Email fresh links to the address's requests with the organisation, within its limit."""
    with once() as first:
        if not first:
            return 0
        return verification.links_resend_limited(organization_id=organization_id, email=email)


@shared_task(name="requests_app.expire_unverified_requests")
def expire_unverified_requests() -> int:
    """Close requests whose email address was never confirmed in time."""
    count = verification.requests_expire_unverified()
    logger.info("expired %d unverified requests", count)
    return count


# --- Staff processing: deadline reminders and extension notices ---------------------------------


@shared_task(name="requests_app.send_deadline_reminders")
def send_deadline_reminders() -> int:
    """Claim and queue the deadline reminders due now; each threshold is sent once."""
    run = reminders.reminders_send_due()
    logger.info(
        "deadline reminders: %d due soon, %d overdue, %d with nobody to tell",
        run.due_soon,
        run.overdue,
        run.nobody_to_tell,
    )
    return run.sent


@shared_task(name="requests_app.send_staff_reminder", **EMAIL_RETRY)
def send_staff_reminder(event_id: int) -> bool:
    """Send the staff reminder recorded as ``event_id``; mail server failures are retried."""
    with once() as first:
        return first and reminders.reminder_email_send(event_id=event_id)


@shared_task(name="requests_app.send_extension_notice", **EMAIL_RETRY)
def send_extension_notice(request_id: int, event_id: int) -> bool:
    """Tell the subject their deadline was extended; mail server failures are retried."""
    with once() as first:
        return first and reminders.extension_notice_send(request_id=request_id, event_id=event_id)


# --- Audit checkpoints --------------------------------------------------------------------------


@shared_task(name="requests_app.take_audit_checkpoint")
def take_audit_checkpoint() -> str:
    """Verify the audit trail and sign every chain's head into a checkpoint; return its name."""
    checkpoint, report = checkpoints.checkpoint_take()
    for problem in report.problems:
        logger.error("audit trail: %s", problem)
    logger.info("audit checkpoint %s: %d requests", checkpoint.name, checkpoint.requests)
    return checkpoint.name


@shared_task(name="requests_app.send_audit_checkpoint", **EMAIL_RETRY)
def send_audit_checkpoint(name: str) -> bool:
    """Mail the checkpoint file ``name`` to the auditors; mail server failures are retried."""
    with once() as first:
        return first and checkpoints.checkpoint_email_send(name=name)
