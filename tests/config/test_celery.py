from __future__ import annotations

import pytest

from config.celery import ping


@pytest.mark.django_db(transaction=True)
def test_a_task_sent_with_delay_is_executed_by_the_real_worker(celery_worker):
    result = ping.delay()

    assert result.get(timeout=30, disable_sync_subtasks=False) == {
        "pong": "ok",
        "database": "postgresql",
    }


def test_celery_options_come_from_settings():
    from config.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.accept_content == ["json"]
    assert app.conf.broker_transport_options["visibility_timeout"] > app.conf.task_time_limit
    assert app.conf.task_soft_time_limit < app.conf.task_time_limit
