from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from outbox.heartbeat import Heartbeat, WorkTakenOver, stall_after
from outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for(condition: Callable[[], object], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _claimed_until(pk: int) -> datetime:
    moved = OutboxMessage.objects.get(pk=pk).claimed_until
    assert moved is not None
    return moved


def test_the_heartbeat_moves_the_claimed_row_forward_while_the_work_runs() -> None:
    # Any model with a date column serves; the outbox's own is at hand.
    long_ago = timezone.now() - timedelta(hours=1)
    row = OutboxMessage.objects.create(task_name="config.ping", claimed_until=long_ago)
    claimed = OutboxMessage.objects.filter(pk=row.pk, attempts=0)

    with Heartbeat(claimed, field="claimed_until", every=0.05) as alive:
        _wait_for(lambda: _claimed_until(row.pk) > long_ago)
        alive.check()

    assert _claimed_until(row.pk) > long_ago


def test_work_taken_over_by_another_attempt_is_told_to_stop() -> None:
    row = OutboxMessage.objects.create(task_name="config.ping")
    claimed = OutboxMessage.objects.filter(pk=row.pk, attempts=0)

    with Heartbeat(claimed, field="claimed_until", every=0.05) as alive:
        # Another worker takes the work over: the attempt this one claimed is gone.
        OutboxMessage.objects.filter(pk=row.pk).update(attempts=1)
        _wait_for(lambda: alive.lost)
        with pytest.raises(WorkTakenOver):
            alive.check()


def test_work_is_thought_stalled_after_the_configured_minutes(settings: Any) -> None:
    settings.WORK_STALL_MINUTES = 4

    assert stall_after() == timedelta(minutes=4)
