from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_answers_200_when_the_database_and_broker_answer(client):
    response = client.get("/healthz", secure=True)

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok"},
        "outbox": {"pending": 0, "oldest_seconds": 0},
    }


def test_healthz_answers_503_when_the_broker_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.HEALTHZ_TIMEOUT_SECONDS = 1

    response = client.get("/healthz", secure=True)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("down")


def test_healthz_is_reachable_over_plain_http_for_load_balancers(client):
    assert client.get("/healthz").status_code == 200


def test_healthz_refuses_writes(client):
    assert client.post("/healthz", secure=True).status_code == 405


def test_healthz_says_how_much_work_waits_for_the_broker_and_how_old_the_oldest_is(client):
    from datetime import timedelta

    from django.utils import timezone

    from outbox.models import OutboxMessage

    OutboxMessage.objects.create(
        task_name="config.ping", created_at=timezone.now() - timedelta(minutes=5)
    )
    OutboxMessage.objects.create(task_name="config.ping")
    OutboxMessage.objects.create(task_name="config.ping", sent_at=timezone.now())

    outbox = client.get("/healthz", secure=True).json()["outbox"]

    assert outbox["pending"] == 2
    assert 300 <= outbox["oldest_seconds"] < 360
