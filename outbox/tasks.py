"""The relay's Celery side: the beat jobs, and a worker's start sending what is pending."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task, signals

from outbox import relay

logger = logging.getLogger(__name__)


@shared_task(name="outbox.send_pending")
def send_pending() -> int:
    """Send every outbox message still pending (the broker was down, or a relay died)."""
    sent = relay.pending_send()
    if sent:
        logger.info("outbox: %d pending messages sent", sent)
    return sent


@shared_task(name="outbox.purge_sent")
def purge_sent() -> int:
    """Delete outbox messages sent long enough ago."""
    deleted = relay.sent_purge()
    logger.info("outbox: %d sent messages deleted", deleted)
    return deleted


@signals.worker_ready.connect
def _send_pending_at_worker_start(**kwargs: Any) -> None:
    # Through the broker, not here: the worker starts taking tasks at once, and the relay runs
    # as an ordinary task under its time limit.
    send_pending.apply_async(ignore_result=True)
