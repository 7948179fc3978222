"""HTTP systems and OpenDSR processors end to end: the real worker, the reference receiver in a
process of its own, and a second tracker process serving the callbacks and the OpenDSR
processor endpoints, all on the test database (so these tests commit)."""

from __future__ import annotations

import io
import json
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from redis.exceptions import RedisError

from config.celery import app as celery_app
from exports.build import export_storage
from exports.delivery import export_create
from exports.models import ExportPackage, ExportStatus
from opendsr.models import Controller, OpenDSRRequest, api_key_hash
from policies.models import Organization, PolicyVersion, RequestType
from requests_app.audit import Actor
from requests_app.models import SubjectRequest
from requests_app.workflow import request_complete, request_mark_verified, request_start
from systems.handlers import task_send
from systems.models import System, SystemKind, SystemTask, TaskAction, TaskStatus
from systems.work import completion_blockers, tasks_check
from tests.conftest import TEST_WEBHOOK_SECRET_ENV
from tests.factories import OrganizationFactory
from tests.systems.peers import (
    ReceiverProcess,
    TrackerServer,
    loopback_systems,
    receiver,
    tracker_server,
)
from tests.tracker import file_request, publish_version

__all__ = ["loopback_systems", "receiver", "tracker_server"]

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

OPENDSR_KEY_ENV = "DSR_TEST_OPENDSR_KEY"
OPENDSR_KEY = "odsr_test-key-of-the-controller-beshqozon-0123456789"


@pytest.fixture(autouse=True)
def _tasks_run_in_process() -> None:
    """Here the worker runs them (the package's conftest makes them run in the test process)."""


@pytest.fixture(autouse=True)
def _plain_http(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = False


def _worker_idle() -> bool:
    inspect = celery_app.control.inspect(timeout=1)
    try:
        busy = [*(inspect.active() or {}).values(), *(inspect.reserved() or {}).values()]
    except (OSError, RedisError):  # a busy worker or broker answers late: ask again
        return False
    return not any(busy)


@pytest.fixture(autouse=True)
def _worker_idle_at_the_end() -> Iterator[None]:
    """The database is flushed after each test: not while the worker still writes to it."""
    yield
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _worker_idle():
        time.sleep(0.2)


def wait_for(condition: Callable[[], Any], *, what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"gave up after {seconds}s waiting for {what}")


def settled(task: SystemTask, *statuses: str) -> Callable[[], SystemTask | None]:
    def check() -> SystemTask | None:
        task.refresh_from_db()
        return task if task.status in statuses else None

    return check


@pytest.fixture
def controller_version(db: None) -> PolicyVersion:
    organization: Organization = OrganizationFactory.create(slug="beshqozon", name="BESHQOZON")
    return publish_version(
        organization,
        {
            RequestType.ACCESS: {"response_period": 30},
            RequestType.DELETION: {"response_period": 30},
        },
    )


@pytest.fixture
def officer(db: None) -> User:
    user: User = User.objects.create_superuser("officer", "officer@example.com", "x" * 20)
    return user


@pytest.fixture
def packages() -> Iterator[list[ExportPackage]]:
    found: list[ExportPackage] = []
    yield found
    for package in found:
        package.refresh_from_db()
        if package.file_path:
            export_storage().delete(package.file_path)


def http_system(version: PolicyVersion, receiver: ReceiverProcess) -> System:
    found: System = System.objects.create(
        organization=version.policy.organization,
        name="Newsletter",
        slug="newsletter",
        kind=SystemKind.HTTP,
        endpoint_url=receiver.hook_url,
        connection_env=TEST_WEBHOOK_SECRET_ENV,
        actions=[TaskAction.EXPORT, TaskAction.ERASE],
        owner_email="marketing@beshqozon.example",
    )
    return found


def verified(version: PolicyVersion, request_type: str) -> SubjectRequest:
    """A request verified by its subject: its tasks are created and woken, through the outbox."""
    request = file_request(version, request_type, email="dilnoza@example.com")
    return request_mark_verified(request=request)


def the_task(request: SubjectRequest) -> SystemTask:
    found: SystemTask = wait_for(
        lambda: SystemTask.objects.filter(request=request).first(), what="the task"
    )
    return found


def test_an_http_system_answers_an_access_request_and_the_export_merges_it(
    celery_worker: subprocess.Popen[bytes],
    controller_version: PolicyVersion,
    receiver: ReceiverProcess,
    officer: User,
    packages: list[ExportPackage],
) -> None:
    http_system(controller_version, receiver)
    request = verified(controller_version, RequestType.ACCESS)
    task = wait_for(
        settled(the_task(request), TaskStatus.DONE, TaskStatus.FAILED), what="the answer"
    )
    assert task.status == TaskStatus.DONE, task.last_error
    assert task.data_rows == 3

    package = export_create(request=request, actor=Actor.staff(officer))
    packages.append(package)

    def ready() -> bool:
        package.refresh_from_db()
        return package.status == ExportStatus.READY

    wait_for(ready, what="the worker to build the package")
    with export_storage().open(package.file_path, "rb") as stored:
        archive = zipfile.ZipFile(io.BytesIO(stored.read()))
    merged = json.loads(archive.read("systems/newsletter.json"))
    assert merged["subscribers"][0]["email"] == "dilnoza@example.com"
    assert "Newsletter" in archive.read("manifest.json").decode()


def test_an_http_system_answers_an_erasure_by_signed_callback(
    celery_worker: subprocess.Popen[bytes],
    controller_version: PolicyVersion,
    receiver: ReceiverProcess,
    tracker_server: TrackerServer,
) -> None:
    receiver.control(answer="callback", delay=0.3, callback_base=tracker_server.url, replay=True)
    http_system(controller_version, receiver)
    request = verified(controller_version, RequestType.DELETION)

    task = wait_for(settled(the_task(request), TaskStatus.DONE), what="the callback")

    assert task.counts == {"subscribers": 1, "campaign_clicks": 2}
    assert task.kept[0]["basis"].startswith("GDPR art. 7(1)")
    callbacks = wait_for(lambda: len(receiver.callbacks()) == 2 and receiver.callbacks(), what="2")
    assert [callback["status"] for callback in callbacks] == [200, 409]  # the replay refused


def test_a_request_with_a_system_down_stays_open_with_the_error_and_completes_once_it_is_back(
    celery_worker: subprocess.Popen[bytes],
    controller_version: PolicyVersion,
    receiver: ReceiverProcess,
    officer: User,
) -> None:
    receiver.stop()
    http_system(controller_version, receiver)
    request = verified(controller_version, RequestType.DELETION)
    task = wait_for(settled(the_task(request), TaskStatus.FAILED), what="the failed attempt")

    assert task.last_error == "the system cannot be reached (connection refused)"
    assert task.next_attempt_at is not None
    request.refresh_from_db()
    [blocker] = completion_blockers(request)
    assert "Newsletter" in blocker

    receiver.start()
    # The backoff has passed: the beat job wakes the retry, the worker sends it.
    SystemTask.objects.filter(pk=task.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert tasks_check().woken == 1
    task = wait_for(settled(task, TaskStatus.DONE), what="the retry")

    assert task.attempts == 2
    request.refresh_from_db()
    assert completion_blockers(request) == []
    request_start(request=request, actor=Actor.staff(officer))
    request_complete(request=request, actor=Actor.staff(officer), outcome="Erased everywhere.")


# --- OpenDSR -------------------------------------------------------------------------------------


def test_an_opendsr_processor_receives_the_erasure_and_its_signed_callbacks_settle_the_task(
    celery_worker: subprocess.Popen[bytes],
    controller_version: PolicyVersion,
    tracker_server: TrackerServer,
    loopback_systems: None,
    officer: User,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The processor: another organisation, whose policy offers erasure, and our controller key.
    processor: Organization = OrganizationFactory.create(slug="zpos", name="ZPos System")
    publish_version(processor, {RequestType.DELETION: {"response_period": 30}}, label="pos")
    controller = Controller.objects.create(
        organization=processor,
        name="BESHQOZON",
        identifier="beshqozon",
        callback_hosts="127.0.0.1\nlocalhost",
        api_key_hash=api_key_hash(OPENDSR_KEY),
    )
    monkeypatch.setenv(OPENDSR_KEY_ENV, OPENDSR_KEY)
    # Our side: the processor as a system; this process sends, the second tracker calls back.
    settings.SITE_URL = tracker_server.url
    system = System.objects.create(
        organization=controller_version.policy.organization,
        name="ZPos",
        slug="zpos",
        kind=SystemKind.OPENDSR,
        endpoint_url=f"{tracker_server.url}/",
        connection_env=OPENDSR_KEY_ENV,
        actions=[TaskAction.EXPORT, TaskAction.ERASE],
        owner_email="vendor-manager@beshqozon.example",
    )
    request = file_request(controller_version, RequestType.DELETION, email="dilnoza@example.com")
    task = SystemTask.objects.create(request=request, system=system, action=TaskAction.ERASE)

    task = task_send(task_id=task.pk)  # type: ignore[assignment]
    task.refresh_from_db()

    assert task.status == TaskStatus.IN_PROGRESS, task.last_error
    forwarded = OpenDSRRequest.objects.select_related("request").get(controller=controller)
    assert str(forwarded.subject_request_id) == task.external_ref
    assert forwarded.request.email == "dilnoza@example.com"
    assert forwarded.status_callback_urls == [
        f"{tracker_server.url}/privacy/systems/tasks/{task.pk}/opendsr-status"
    ]

    # The processor's staff finish the work; the worker delivers its signed status callbacks.
    request_start(request=forwarded.request, actor=Actor.staff(officer))
    request_complete(request=forwarded.request, actor=Actor.staff(officer), outcome="Erased.")

    task = wait_for(settled(task, TaskStatus.DONE), what="the completed callback")
    assert task.evidence["opendsr"]["request_status"] == "completed"
    assert task.note == "The processor completed the request."
