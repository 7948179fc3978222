"""The callback an HTTP system answers its task through: signed, fresh, once, valid, for an open
task of that system; anything else is refused and changes nothing (a signed but malformed answer
fails the task, with the reason)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from policies.models import Organization, PolicyVersion, RequestType
from systems import webhooks
from systems.models import System, SystemKind, SystemTask, TaskAction, TaskStatus
from tests.conftest import TEST_WEBHOOK_SECRET, TEST_WEBHOOK_SECRET_ENV
from tests.systems.peers import loopback_systems
from tests.tracker import file_request, organization, version

__all__ = ["loopback_systems", "organization", "version"]

pytestmark = pytest.mark.django_db

SECRET = TEST_WEBHOOK_SECRET.encode()


def http_system(organization: Organization, slug: str, secret_env: str) -> System:
    found: System = System.objects.create(
        organization=organization,
        name=slug.title(),
        slug=slug,
        kind=SystemKind.HTTP,
        endpoint_url="https://crm.example/hook",
        connection_env=secret_env,
        actions=[TaskAction.ERASE],
        owner_email="it@beshqozon.example",
    )
    return found


@pytest.fixture
def task(loopback_systems: None, organization: Organization, version: PolicyVersion) -> SystemTask:
    request = file_request(version, RequestType.DELETION)
    found: SystemTask = SystemTask.objects.create(
        request=request,
        system=http_system(organization, "crm", TEST_WEBHOOK_SECRET_ENV),
        action=TaskAction.ERASE,
        status=TaskStatus.IN_PROGRESS,
        attempts=1,
        due_at=timezone.now() + timedelta(days=10),
    )
    return found


def answer(task: SystemTask, **changes: Any) -> bytes:
    body = {
        "task_id": str(task.pk),
        "status": "done",
        "counts": {"contacts": 1, "deals": 4},
        "kept": [{"what": "Signed contracts", "basis": "Civil Code art. 1: 5 years"}],
        **changes,
    }
    return json.dumps(body).encode()


def post(task: SystemTask, body: bytes, *, secret: bytes = SECRET, at: float | None = None) -> Any:
    headers = webhooks.signed_headers(secret, body, at=at)
    return Client().post(
        reverse("systems_callbacks:webhook", args=[task.pk]),
        data=body,
        content_type="application/json",
        headers=headers,
    )


def test_a_signed_answer_settles_the_task(task: SystemTask) -> None:
    response = post(task, answer(task))

    assert response.status_code == 200
    assert response.json() == {"task_id": str(task.pk), "status": "done"}
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert task.counts == {"contacts": 1, "deals": 4}
    assert task.kept == [{"what": "Signed contracts", "basis": "Civil Code art. 1: 5 years"}]
    assert task.answered_by == "Crm"


def test_a_replayed_callback_is_refused(task: SystemTask) -> None:
    body = answer(task, status="accepted")
    headers = webhooks.signed_headers(SECRET, body)
    url = reverse("systems_callbacks:webhook", args=[task.pk])
    first = Client().post(url, data=body, content_type="application/json", headers=headers)

    again = Client().post(url, data=body, content_type="application/json", headers=headers)

    assert first.status_code == 200
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "replayed"


def test_a_callback_signed_with_the_wrong_secret_changes_nothing(task: SystemTask) -> None:
    response = post(task, answer(task), secret=b"x" * 40)

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "bad_signature",
        "message": "the signature does not match the body and the shared secret",
    }
    task.refresh_from_db()
    assert (task.status, task.counts, task.last_error) == (TaskStatus.IN_PROGRESS, {}, "")


def test_a_callback_signed_by_another_system_is_refused(
    task: SystemTask, organization: Organization, monkeypatch: Any
) -> None:
    monkeypatch.setenv("OTHER_SYSTEM_SECRET", "another-secret-" + "9" * 30)
    http_system(organization, "helpdesk", "OTHER_SYSTEM_SECRET")

    response = post(task, answer(task), secret=("another-secret-" + "9" * 30).encode())

    assert response.status_code == 401
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS


def test_a_stale_callback_is_refused_as_a_replay(task: SystemTask) -> None:
    response = post(task, answer(task), at=time.time() - 3600)

    assert response.status_code == 401
    assert "replay" in response.json()["error"]["message"]
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS


def test_an_oversized_callback_is_refused_before_it_is_read(
    task: SystemTask, settings: Any
) -> None:
    settings.SYSTEM_ANSWER_MAX_BYTES = 2048
    response = post(task, answer(task, note="x" * 1990))

    assert response.status_code == 413
    task.refresh_from_db()
    assert (task.status, task.counts) == (TaskStatus.IN_PROGRESS, {})


def test_a_signed_malformed_callback_fails_the_task_with_the_reason(task: SystemTask) -> None:
    response = post(task, b'{"task_id": "1", "status": ')

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "the answer is not valid JSON (UTF-8)"
    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED
    assert task.last_error == (
        "the system's callback was refused: the answer is not valid JSON (UTF-8)"
    )


def test_a_callback_breaking_the_schema_fails_the_task_and_keeps_nothing(
    task: SystemTask,
) -> None:
    response = post(task, answer(task, kept=[{"what": "Contracts"}]))

    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "the answer does not match the documented format: kept.0: basis is missing"
    )
    task.refresh_from_db()
    assert (task.status, task.kept, task.counts) == (TaskStatus.FAILED, [], {})


def test_a_later_valid_callback_settles_a_task_failed_by_a_malformed_one(
    task: SystemTask,
) -> None:
    post(task, b"not json")

    response = post(task, answer(task))

    assert response.status_code == 200
    task.refresh_from_db()
    assert (task.status, task.last_error) == (TaskStatus.DONE, "")


def test_a_callback_for_a_settled_task_is_refused(task: SystemTask) -> None:
    post(task, answer(task))

    response = post(task, answer(task, status="nothing_found", counts={}, kept=[]))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "task_settled"
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE


def test_a_callback_for_another_task_id_in_the_body_is_refused(task: SystemTask) -> None:
    response = post(task, answer(task, task_id=str(task.pk + 1000)))

    assert response.status_code == 400
    assert "another task" in response.json()["error"]["message"]


def test_a_callback_for_an_unknown_task_is_not_found(task: SystemTask) -> None:
    body = b"{}"
    response = Client().post(
        reverse("systems_callbacks:webhook", args=[task.pk + 1000]),
        data=body,
        content_type="application/json",
        headers=webhooks.signed_headers(SECRET, body),
    )

    assert response.status_code == 404


def test_a_callback_that_is_not_json_content_is_refused(task: SystemTask) -> None:
    response = Client().post(
        reverse("systems_callbacks:webhook", args=[task.pk]),
        data="status=done",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 415


def test_an_address_whose_callbacks_keep_being_refused_is_told_to_wait(task: SystemTask) -> None:
    from systems.callback_views import REFUSALS_RATE

    allowance = int(REFUSALS_RATE.split("/")[0])
    for _ in range(allowance):
        assert post(task, answer(task), secret=b"x" * 40).status_code == 401

    response = post(task, answer(task))  # even a good one, until the window ends

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS
