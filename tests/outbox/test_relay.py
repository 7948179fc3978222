from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from outbox import relay
from outbox.api import enqueue
from outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db(transaction=True)

# Nothing listens on port 1: connections are refused at once, as with Redis stopped.
DOWN = "redis://127.0.0.1:1/0"
# Queued here rather than on the default queue, so a test worker running beside never takes them.
QUEUE = "outbox-tests"


@pytest.fixture(autouse=True)
def _relay_not_paused() -> Iterator[None]:
    relay._paused_until = 0.0
    yield
    relay._paused_until = 0.0


@pytest.fixture
def broker_queue() -> Iterator[redis.Redis]:
    """The real test Redis, with the tests' queue emptied before and after."""
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    client.delete(QUEUE)
    yield client
    client.delete(QUEUE)


@pytest.fixture
def routed_to_test_queue(settings: Any) -> Iterator[None]:
    from config.celery import app

    def route(routes: Any) -> None:
        app.conf.task_routes = routes
        app.amqp.flush_routes()
        app.amqp.__dict__.pop("router", None)  # a cached property built from the routes

    routes = app.conf.task_routes
    route({"config.ping": {"queue": QUEUE}})
    yield
    route(routes)


def queued_task_names(client: redis.Redis) -> list[str]:
    import json

    return [json.loads(raw)["headers"]["task"] for raw in client.lrange(QUEUE, 0, -1)]


def test_a_task_enqueued_in_a_committed_transaction_reaches_the_broker_and_is_marked_sent(
    broker_queue: redis.Redis, routed_to_test_queue: None
) -> None:
    with transaction.atomic():
        enqueue("config.ping")

    message = OutboxMessage.objects.get()
    assert message.sent_at is not None
    assert message.attempts == 1
    assert queued_task_names(broker_queue) == ["config.ping"]


def test_a_task_enqueued_in_a_rolled_back_transaction_is_neither_kept_nor_sent(
    broker_queue: redis.Redis, routed_to_test_queue: None
) -> None:
    def change_that_fails() -> None:
        with transaction.atomic():
            enqueue("config.ping")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()

    assert not OutboxMessage.objects.exists()
    assert queued_task_names(broker_queue) == []


def test_with_the_broker_down_enqueue_returns_at_once_and_the_task_stays_pending(
    settings: Any,
) -> None:
    settings.CELERY_BROKER_URL = DOWN

    started = time.monotonic()
    with transaction.atomic():
        enqueue("config.ping")
    with transaction.atomic():
        enqueue("config.ping")
    elapsed = time.monotonic() - started

    assert elapsed < settings.OUTBOX_BROKER_TIMEOUT_SECONDS + 1
    first, second = OutboxMessage.objects.order_by("pk")
    assert first.sent_at is None
    assert first.attempts == 1
    assert first.last_error.startswith("OperationalError")
    # The failure pauses on-commit sends in this process: the second one was not even tried.
    assert second.sent_at is None
    assert second.attempts == 0


def test_pending_tasks_are_sent_once_the_broker_is_back_and_never_twice(
    settings: Any, broker_queue: redis.Redis, routed_to_test_queue: None
) -> None:
    up = settings.CELERY_BROKER_URL
    settings.CELERY_BROKER_URL = DOWN
    for _ in range(3):
        with transaction.atomic():
            enqueue("config.ping")
    settings.CELERY_BROKER_URL = up

    assert relay.pending_send() == 3
    assert relay.pending_send() == 0

    assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == 0
    assert queued_task_names(broker_queue) == ["config.ping"] * 3


def test_a_message_another_relay_holds_is_not_sent_until_its_claim_expires(
    broker_queue: redis.Redis, routed_to_test_queue: None
) -> None:
    held = OutboxMessage.objects.create(
        task_name="config.ping", claimed_until=timezone.now() + timedelta(minutes=1)
    )
    expired = OutboxMessage.objects.create(
        task_name="config.ping", claimed_until=timezone.now() - timedelta(seconds=1)
    )

    assert relay.message_send(held.pk) is False
    assert relay.pending_send() == 1

    held.refresh_from_db()
    expired.refresh_from_db()
    assert held.sent_at is None
    assert expired.sent_at is not None


def test_two_relays_claiming_at_once_take_different_messages() -> None:
    OutboxMessage.objects.bulk_create(OutboxMessage(task_name="config.ping") for _ in range(3))

    with transaction.atomic():
        # The first relay's batch is locked (its transaction still open) ...
        first = list(relay.pending().select_for_update(skip_locked=True).order_by("pk")[:2])
        # ... the second, in another connection, skips it.
        second = _claim_in_another_connection()

    assert [message.pk for message in first] != second
    assert set(second).isdisjoint(message.pk for message in first)
    assert len(second) == 1


def _claim_in_another_connection() -> list[int]:
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def claim() -> list[int]:
        try:
            return [message.pk for message in relay._claim_batch()]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(claim).result()


def test_sent_messages_are_deleted_after_the_keeping_period_and_pending_ones_never(
    settings: Any,
) -> None:
    settings.OUTBOX_KEEP_SENT_DAYS = 7
    now = timezone.now()
    old_sent = OutboxMessage.objects.create(
        task_name="config.ping", sent_at=now - timedelta(days=8)
    )
    recent = OutboxMessage.objects.create(task_name="config.ping", sent_at=now - timedelta(days=6))
    old_pending = OutboxMessage.objects.create(
        task_name="config.ping", created_at=now - timedelta(days=30)
    )

    assert relay.sent_purge(at=now) == 1

    remaining = set(OutboxMessage.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, old_pending.pk}
    assert old_sent.pk not in remaining
