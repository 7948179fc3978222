"""OpenDSR's Celery tasks: thin, safe to run again, and retried with backoff where they fail."""

from __future__ import annotations

import logging

from celery import shared_task

from opendsr import callbacks

logger = logging.getLogger(__name__)


@shared_task(name="opendsr.dispatch_status_callbacks")
def dispatch_status_callbacks(request_id: int | None = None) -> int:
    """Queue the callbacks of status changes not yet reported (of one request, or all)."""
    queued = callbacks.callbacks_dispatch(request_id=request_id)
    if queued:
        logger.info("queued %d OpenDSR status callbacks", queued)
    return queued


# Retries after about 5 s, 10 s, 20 s... (with jitter) up to an hour apart, about 4 hours in all;
# every attempt is recorded on the callback, where staff see the ones that never got through.
@shared_task(
    name="opendsr.deliver_status_callback",
    autoretry_for=(callbacks.CallbackFailed,),
    retry_backoff=5,
    retry_backoff_max=60 * 60,
    retry_jitter=True,
    max_retries=12,
)
def deliver_status_callback(callback_id: int) -> bool:
    """POST one signed status callback to its controller."""
    return callbacks.callback_deliver(callback_id=callback_id)
