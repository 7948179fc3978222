"""The relay: hands pending outbox messages to the broker and marks them sent.

Three callers: each message's own on-commit hook (``message_send``), the beat job every 30 s and a
worker's start (``pending_send``). A message is claimed with a conditional update (one) or under
``select_for_update(skip_locked=True)`` (a batch) before it goes, so two relays never send it at
the same time; a relay that dies between sending and marking leaves the claim to expire and the
message is sent again, which every task tolerates (they are idempotent).

Reaching the broker is bounded: one connection attempt, ``OUTBOX_BROKER_TIMEOUT_SECONDS`` to
connect and to answer. After a failure this process leaves on-commit sends to the beat job for
``OUTBOX_BROKER_PAUSE_SECONDS``, so with the broker down a page pays the timeout at most once per
pause, and nothing is ever raised to the code that enqueued.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from kombu import Connection

from outbox.models import OutboxMessage

logger = logging.getLogger(__name__)

# How long a relay holds a claimed message; past it another relay may send the message again.
CLAIM = timedelta(minutes=2)
BATCH_SIZE = 100

# Until when (time.monotonic()) this process leaves on-commit sends to the beat job.
_paused_until = 0.0


def _now() -> datetime:
    return timezone.now()


class BrokerUnavailable(Exception):
    """The broker could not be reached or did not take a message; the message stays pending."""


def pending(*, at: datetime | None = None) -> QuerySet[OutboxMessage]:
    """Return the messages not yet sent that no relay holds."""
    now = at or _now()
    return OutboxMessage.objects.filter(sent_at__isnull=True).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def message_send(message_id: int) -> bool:
    """Send one message now unless another relay holds it or the broker was just found down.

    Return whether it was sent. Called on commit of the transaction that wrote it.
    """
    if time.monotonic() < _paused_until:
        return False
    now = _now()
    claimed = (
        pending(at=now)
        .filter(pk=message_id)
        .update(claimed_until=now + CLAIM, attempts=F("attempts") + 1)
    )
    if not claimed:
        return False
    message = OutboxMessage.objects.get(pk=message_id)
    try:
        with _connection() as connection:
            _publish(message, connection)
    except BrokerUnavailable:
        return False
    return True


def pending_send() -> int:
    """Send every pending message, oldest first, in claimed batches; return how many went.

    Stops at the first message the broker does not take (the rest stay pending).
    """
    sent = 0
    with _connection() as connection:
        while batch := _claim_batch():
            for position, message in enumerate(batch):
                try:
                    _publish(message, connection)
                except BrokerUnavailable:
                    _release(message.pk for message in batch[position + 1 :])
                    return sent
                sent += 1
    return sent


def sent_purge(*, at: datetime | None = None) -> int:
    """Delete messages sent more than ``OUTBOX_KEEP_SENT_DAYS`` ago, in chunks; return how many."""
    cutoff = (at or _now()) - timedelta(days=int(settings.OUTBOX_KEEP_SENT_DAYS))
    deleted = 0
    while ids := list(
        OutboxMessage.objects.filter(sent_at__lt=cutoff).values_list("pk", flat=True)[:1000]
    ):
        deleted += OutboxMessage.objects.filter(pk__in=ids).delete()[0]
    return deleted


def backlog(*, at: datetime | None = None) -> dict[str, int]:
    """Return how many messages wait to be sent and the age in seconds of the oldest (0: none)."""
    now = at or _now()
    waiting = OutboxMessage.objects.filter(sent_at__isnull=True)
    oldest = waiting.order_by("created_at").values_list("created_at", flat=True).first()
    return {
        "pending": waiting.count(),
        "oldest_seconds": int((now - oldest).total_seconds()) if oldest else 0,
    }


def task_id(message_id: int) -> str:
    """The Celery task id of an outbox message: every delivery of it carries the same one."""
    return f"outbox-{message_id}"


def _claim_batch() -> list[OutboxMessage]:
    now = _now()
    with transaction.atomic():
        batch = list(
            pending(at=now).select_for_update(skip_locked=True).order_by("pk")[:BATCH_SIZE]
        )
        OutboxMessage.objects.filter(pk__in=[message.pk for message in batch]).update(
            claimed_until=now + CLAIM, attempts=F("attempts") + 1
        )
    return batch


def _release(ids: Iterable[int]) -> None:
    OutboxMessage.objects.filter(pk__in=list(ids), sent_at__isnull=True).update(claimed_until=None)


def _connection() -> Connection:
    """Return a connection to the broker that tries once, within the outbox's timeout."""
    timeout = float(settings.OUTBOX_BROKER_TIMEOUT_SECONDS)
    connection: Connection = current_app.connection_for_write(
        settings.CELERY_BROKER_URL, connect_timeout=timeout
    )
    # One attempt (kombu would otherwise retry, redis-py back off): the beat job tries again.
    options: dict[str, Any] = {**(connection.transport_options or {}), "max_retries": 0}
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        # Only Redis takes socket options; the embedded SQLAlchemy broker hands the rest of its
        # options to create_engine, which would refuse them.
        options.update(socket_connect_timeout=timeout, socket_timeout=timeout)
    connection.transport_options = options
    return connection


def _publish(message: OutboxMessage, connection: Connection) -> None:
    """Hand one claimed message to the broker and mark it sent; on failure release it."""
    global _paused_until
    app = current_app
    task = app.tasks.get(message.task_name)
    # No result is kept: nothing reads the result of queued work, and waiting on the result
    # backend (Redis too) is one more way a page could hang with the broker down.
    options: dict[str, Any] = {
        "ignore_result": True,
        "retry": False,
        "connection": connection,
        "task_id": task_id(message.pk),
    }
    try:
        if task is not None:
            task.apply_async(message.args, message.kwargs, **options)
        else:  # a task only workers know (another app's deployment): queued by name
            app.send_task(message.task_name, message.args, message.kwargs, **options)
    except Exception as exc:
        if app.conf.task_always_eager:
            raise  # eager (tests): the task ran here and the error is the task's own
        OutboxMessage.objects.filter(pk=message.pk).update(
            claimed_until=None, last_error=f"{type(exc).__name__}: {exc}"[:200]
        )
        _paused_until = time.monotonic() + float(settings.OUTBOX_BROKER_PAUSE_SECONDS)
        logger.warning(
            "outbox: %s #%d left pending, the broker is unavailable (%s)",
            message.task_name,
            message.pk,
            type(exc).__name__,
        )
        raise BrokerUnavailable(str(exc)) from exc
    OutboxMessage.objects.filter(pk=message.pk).update(
        sent_at=_now(), claimed_until=None, last_error=""
    )
