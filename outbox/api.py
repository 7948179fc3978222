"""Queue a Celery task by name, as part of the current transaction.

    from outbox.api import enqueue

    with transaction.atomic():
        ...change rows...
        enqueue("requests_app.send_request_email", request.pk, "verification")

The row is written in the caller's transaction: rolled back with it, kept with it. Once the
transaction commits, the relay hands the task to the broker and marks the row sent. A broker that
cannot be reached never raises here nor holds the page up for long: the row stays pending and the
relay's beat job (every 30 s) or a worker's start sends it (``outbox.relay``).

A relay may send a message twice (it died between sending and marking), so every task must be
safe to run twice. Tasks whose effect cannot be checked in the database afterwards (an email)
run it inside ``once()``, which records it against the outbox message:

    @shared_task(name="requests_app.send_request_email")
    def send_request_email(request_id: int, kind: str) -> bool:
        with once() as first:
            return first and emails.request_email_send(request_id=request_id, kind=kind)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from functools import partial
from typing import Any

from celery import current_task
from django.db import transaction
from django.utils import timezone

from outbox import relay
from outbox.models import OutboxMessage

# The Celery task id the relay gives each message (``relay.task_id``).
_TASK_ID = re.compile(r"outbox-(\d+)")


def enqueue(task_name: str, *args: Any, **kwargs: Any) -> None:
    """Write ``task_name(*args, **kwargs)`` to the outbox; it is sent to Celery on commit.

    Arguments must be JSON values (ids, short strings), as Celery's JSON serializer wants them.
    """
    message = OutboxMessage.objects.create(task_name=task_name, args=list(args), kwargs=kwargs)
    transaction.on_commit(partial(relay.message_send, message.pk))


@contextlib.contextmanager
def once() -> Iterator[bool]:
    """Let the running task do its effect once per outbox message, however often it is delivered.

    Yield False when a delivery of the same message already completed (do nothing), True
    otherwise; the message is marked done when the block ends without an exception, in one
    transaction with what the block wrote. The message's row stays locked meanwhile, so two
    deliveries running at once take turns. A task not queued through the outbox always runs.
    """
    request = getattr(current_task, "request", None)
    match = _TASK_ID.fullmatch(getattr(request, "id", None) or "")
    if match is None:
        yield True
        return
    message_id = int(match[1])
    with transaction.atomic():
        done = (
            OutboxMessage.objects.select_for_update()
            .filter(pk=message_id)
            .values_list("done_at", flat=True)
            .first()
        )
        if done is not None:
            yield False
            return
        yield True
        OutboxMessage.objects.filter(pk=message_id).update(done_at=timezone.now())
