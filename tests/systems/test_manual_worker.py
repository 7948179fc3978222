"""The manual kind end to end with the real worker: verification queues the task through the
outbox and the broker, the worker emails the owner, the owner answers through the link, the worker
builds the package that merges the answer."""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client
from redis.exceptions import RedisError

from config.celery import app as celery_app
from exports.build import export_storage
from exports.delivery import export_create
from exports.models import ExportPackage, ExportStatus
from policies.models import Organization
from requests_app import roles
from requests_app.audit import Actor
from systems.models import SystemTask, TaskStatus
from tests.factories import ConfirmedRequestFactory, OrganizationFactory, SystemFactory

OWNER_LINK = re.compile(r"https?://[^\s]+(/systems/tasks/(\d+)/[A-Za-z0-9_-]+/)")


def _wait_for(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the worker")


def _worker_idle() -> bool:
    inspect = celery_app.control.inspect(timeout=1)
    try:
        busy = [*(inspect.active() or {}).values(), *(inspect.reserved() or {}).values()]
    except (OSError, RedisError):  # a busy worker or broker answers late: ask again
        return False
    return not any(busy)


def _owner_link(mail_dir: Path, task_id: int) -> str | None:
    for message in mail_dir.glob("*"):
        for path, found in OWNER_LINK.findall(message.read_text(encoding="utf-8")):
            if int(found) == task_id:
                return str(path)
    return None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_real_worker_sends_a_manual_task_and_builds_the_package_with_the_owner_s_answer(
    celery_worker: subprocess.Popen[bytes], celery_worker_mail_dir: Path, client: Client
) -> None:
    roles.roles_sync()
    celery_app.conf.task_always_eager = False
    organization: Organization = OrganizationFactory.create(slug="worker-org")
    SystemFactory.create(
        organization=organization,
        name="Support mailbox",
        slug="worker-support",
        owner_email="it@worker.example",
    )
    request = ConfirmedRequestFactory.create(organization=organization)
    task = SystemTask.objects.get(request=request)

    _wait_for(lambda: _owner_link(celery_worker_mail_dir, task.pk) is not None)
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS
    assert task.attempts == 1

    link = _owner_link(celery_worker_mail_dir, task.pk)
    assert link is not None
    body = json.dumps({"tickets": [{"id": 1, "subject": "Refund"}]}).encode()
    upload = io.BytesIO(body)
    upload.name = "tickets.json"
    assert client.post(link, {"answer": "upload", "file": upload}).status_code == 302

    package = export_create(request=request, actor=Actor.system("test"))
    _wait_for(
        lambda: (
            ExportPackage.objects.get(pk=package.pk).status
            in (ExportStatus.READY, ExportStatus.FAILED)
        )
    )
    package.refresh_from_db()
    assert package.status == ExportStatus.READY, package.failure
    with export_storage().open(package.file_path, "rb") as raw:
        archive = zipfile.ZipFile(io.BytesIO(raw.read()))
    assert archive.read("systems/worker-support.json") == body
    manifest = json.loads(archive.read("manifest.json"))
    assert [s["name"] for s in manifest["outside_systems"]] == ["Support mailbox"]
    # Let the worker finish what this test queued before the database is flushed for the next.
    _wait_for(_worker_idle)
