"""The beat jobs and tasks of erasure and retention, called directly and through the real worker."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery.schedules import crontab
from django.conf import settings

from config.celery import app as celery_app
from erasure import tasks as erasure_tasks
from policies.models import Organization
from retention import tasks
from retention.models import PurgeRun, PurgeStep
from retention.purge import run_dispatch
from retention.rules import retention_run_start
from tests.factories import OrganizationFactory
from tests.pos_data import (
    CLOPOS_RULE,
    ZPOS_RULE,
    merchant,
    retention_version,
    rule_of,
    surviving,
)

TASHKENT = ZoneInfo("Asia/Tashkent")


def test_the_beat_schedule_runs_the_erasure_and_retention_jobs() -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE
    jobs = {
        "every-day-at-0300-apply-retention-rules": "retention.apply_retention_rules",
        "every-10-minutes-execute-due-erasures": "erasure.execute_due_erasures",
        "every-minute-resume-stalled-purges": "retention.resume_stalled_purges",
        "every-day-at-0330-anonymise-closed-requests": "retention.anonymise_closed_requests",
    }
    for key, task in jobs.items():
        assert schedule[key]["task"] == task
        assert task in celery_app.tasks
        assert isinstance(schedule[key]["schedule"], crontab)
    assert schedule["every-10-minutes-execute-due-erasures"]["schedule"] == crontab(minute="*/10")


@pytest.mark.django_db
def test_the_daily_task_purges_by_every_rule_in_force(
    zpos: Organization,
    clopos: Organization,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    retention_version(zpos, rules=[ZPOS_RULE])
    retention_version(clopos, rules=[CLOPOS_RULE])
    deleted = merchant(zpos, deleted_at=datetime(2027, 1, 10, tzinfo=TASHKENT))
    overdue = merchant(clopos, paid_until=date(2026, 8, 1))

    with (
        time_machine.travel(datetime(2027, 3, 1, 3, tzinfo=UTC), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.apply_retention_rules.delay().get() == 2

    after = surviving()
    assert not deleted["pos.sale"] & after["pos.sale"]
    assert not overdue["pos.sale"] & after["pos.sale"]
    assert PurgeRun.objects.filter(finished_at__isnull=False).count() == 2
    assert erasure_tasks.execute_due_erasures.delay().get() == 0
    assert tasks.resume_stalled_purges.delay().get() == 0
    assert tasks.anonymise_closed_requests.delay().get() == 0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_real_worker_shares_one_purge_split_into_key_ranges(
    celery_worker: subprocess.Popen[bytes], settings: Any
) -> None:
    organization = OrganizationFactory.create(slug="w-zpos", time_zone="Asia/Tashkent")
    rule = rule_of(retention_version(organization, rules=[ZPOS_RULE]), "account-deleted")
    due = [
        merchant(organization, deleted_at=datetime(2027, 1, 1, tzinfo=TASHKENT), sales=4)
        for _ in range(3)
    ]
    kept = merchant(organization, sales=2)
    settings.PURGE_SLICE_ROWS = 3
    run = retention_run_start(rule=rule, as_of=date(2027, 3, 1), batch_size=2)
    assert PurgeStep.objects.filter(run=run, model_label="pos.sale").count() >= 4
    # This package's conftest runs tasks in-process; this test is about the worker process.
    celery_app.conf.task_always_eager = False

    assert run_dispatch(run)  # queued at once: no transaction is open here

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not PurgeRun.objects.get(pk=run.pk).is_finished:
        time.sleep(0.3)
    run.refresh_from_db()
    assert run.is_finished, "the worker did not finish the run: see var/test-worker.log"
    after = surviving()
    for rows in due:
        assert not rows["pos.sale"] & after["pos.sale"]
        assert rows["pos.invoice"] <= after["pos.invoice"]
    for label, ids in kept.items():
        assert ids <= after[label]
    assert run.totals["pos.sale"]["deleted"] == 12
    assert all(step.finished_at for step in PurgeStep.objects.filter(run=run))
