"""Tasks are queued by their stable names; a name from before the apps were split still runs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from config.celery import app as celery_app
from requests_app.jobs import EMAIL_RETRY, LEGACY_NAMES, UnknownJob, job

ROOT = Path(__file__).resolve().parents[2]
# Looked up by name (``job("x.y")``) or queued through the outbox (``enqueue("x.y", ...)``).
QUEUED = re.compile(r"""\b(?:job\(\s*["']([\w.]+)["']\s*\)|enqueue\(\s*["']([\w.]+)["'])""")


def _names_queued_in_code() -> set[str]:
    found: set[str] = set()
    for path in ROOT.glob("*/**/*.py"):
        if path.parts[len(ROOT.parts)] in {".venv", "tests", "var"}:
            continue
        found.update(name for names in QUEUED.findall(path.read_text("utf-8")) for name in names)
    found.discard("")
    return found


def test_every_task_the_code_queues_by_name_is_registered() -> None:
    names = _names_queued_in_code()

    assert "exports.build_export" in names  # the scan finds the services' calls
    assert {name for name in names if name not in celery_app.tasks} == set()


def test_an_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(UnknownJob, match=re.escape("'exports.no_such_task'")):
        job("exports.no_such_task")


def test_every_legacy_name_leads_to_a_registered_task() -> None:
    assert {new for new in LEGACY_NAMES.values() if new not in celery_app.tasks} == set()


EMAIL_TASKS = (
    "requests_app.send_request_email",
    "requests_app.send_staff_reminder",
    "requests_app.send_extension_notice",
    "exports.send_export_email",
    "erasure.send_erasure_email",
    "retention.send_retention_notice",
)


def test_every_email_task_shares_the_one_retry_policy() -> None:
    for name in EMAIL_TASKS:
        task = celery_app.tasks[name]
        assert getattr(task, "autoretry_for", None) == EMAIL_RETRY["autoretry_for"], name
        assert task.max_retries == EMAIL_RETRY["max_retries"], name


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_real_worker_runs_a_message_queued_under_a_name_from_before_the_split(
    celery_worker: subprocess.Popen[bytes],
) -> None:
    # A message an older release left in the broker: the worker still knows its task.
    celery_app.conf.task_always_eager = False  # this package's tests otherwise run tasks here
    result = celery_app.send_task("requests_app.tasks.send_deadline_reminders")

    assert result.get(timeout=60) == 0
