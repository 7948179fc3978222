"""A worker that starts sends what the outbox holds, with no beat running."""

from __future__ import annotations

import time

import pytest

from outbox.models import OutboxMessage
from tests.integration.test_resume_after_kill import Processes, processes

__all__ = ["processes"]

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_starting_worker_sends_the_messages_left_pending(processes: Processes) -> None:
    # Left pending as when the broker was down at commit.
    OutboxMessage.objects.bulk_create(OutboxMessage(task_name="config.ping") for _ in range(3))

    processes.worker("start")

    deadline = time.monotonic() + 60
    while OutboxMessage.objects.filter(sent_at__isnull=True).exists():
        assert time.monotonic() < deadline, "the worker did not send the pending messages"
        time.sleep(0.2)
    assert OutboxMessage.objects.filter(attempts=1).count() == 3
