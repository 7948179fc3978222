"""Celery tasks of the effects of rights: thin wrappers that take ids, safe to run again."""

from __future__ import annotations

from celery import shared_task

from effects import emails, services
from requests_app.jobs import EMAIL_RETRY


@shared_task(name="effects.apply_on_confirmation")
def apply_on_confirmation(request_id: int) -> bool:
    """Apply a confirmed unsubscribe at once (no staff step)."""
    return services.apply_on_confirmation(request_id=request_id)


@shared_task(name="effects.send_unsubscribe_confirmation", **EMAIL_RETRY)
def send_unsubscribe_confirmation(change_id: int) -> bool:
    """Email the address what the one-click unsubscribe changed."""
    return emails.unsubscribe_confirmation_send(change_id=change_id)
