"""HTTP systems: the signed message, and each kind of answer from the reference receiver process.

The tracker's side runs in the test process (``handlers.task_send``, as the job calls it); the
system is the receiver in a process of its own on loopback. The callback path and the real
worker are in ``test_webhook_callbacks.py`` and ``test_outside_systems_worker.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from exports.build import export_storage
from exports.delivery import ExportRefused, export_create
from policies.models import Organization, PolicyVersion, RequestType
from requests_app.audit import Actor
from requests_app.workflow import request_mark_verified
from systems import webhooks
from systems.handlers import answer_open, task_send
from systems.models import System, SystemKind, SystemTask, TaskAction, TaskStatus
from tests.conftest import TEST_WEBHOOK_SECRET, TEST_WEBHOOK_SECRET_ENV
from tests.systems.peers import ReceiverProcess, loopback_systems, receiver, tls_files_write
from tests.tracker import file_request, organization, version

__all__ = ["loopback_systems", "organization", "receiver", "version"]

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter(organization: Organization, receiver: ReceiverProcess) -> System:
    found: System = System.objects.create(
        organization=organization,
        name="Newsletter",
        slug="newsletter",
        kind=SystemKind.HTTP,
        endpoint_url=receiver.hook_url,
        connection_env=TEST_WEBHOOK_SECRET_ENV,
        actions=[TaskAction.EXPORT, TaskAction.ERASE],
        owner_email="marketing@beshqozon.example",
    )
    return found


@pytest.fixture
def stored_answers() -> Iterator[list[SystemTask]]:
    """Tasks whose answer files the test leaves in the export storage, deleted afterwards."""
    tasks: list[SystemTask] = []
    yield tasks
    for task in tasks:
        task.refresh_from_db()
        if task.data_name:
            export_storage().delete(task.data_name)


def task_for(system: System, version: PolicyVersion, action: str) -> SystemTask:
    request_type = RequestType.ACCESS if action == TaskAction.EXPORT else RequestType.DELETION
    request = file_request(version, request_type, email="dilnoza@example.com")
    task: SystemTask = SystemTask.objects.create(
        request=request,
        system=system,
        action=action,
        due_at=timezone.now() + timedelta(days=10),
    )
    return task


def sent(task: SystemTask) -> SystemTask:
    task_send(task_id=task.pk)
    task.refresh_from_db()
    return task


# --- Signatures ----------------------------------------------------------------------------------


def test_the_signature_is_the_documented_hmac_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    secret, body = b"s" * 32, b'{"task_id":"1"}'
    expected = hmac.new(secret, b"1733400000." + body, hashlib.sha256).hexdigest()

    assert webhooks.signature(secret, "1733400000", body) == f"sha256={expected}"


def test_a_signature_over_another_body_is_refused(settings: Any) -> None:
    secret = b"s" * 32
    headers = webhooks.signed_headers(secret, b'{"status":"done"}')

    with pytest.raises(webhooks.SignatureRefused, match="does not match"):
        webhooks.signature_check(secret, headers, b'{"status":"nothing_found"}')


def test_a_signature_outside_the_replay_window_is_refused(settings: Any) -> None:
    settings.SYSTEM_HTTP_REPLAY_SECONDS = 300
    secret, body = b"s" * 32, b"{}"
    headers = webhooks.signed_headers(secret, body, at=time.time() - 301)

    with pytest.raises(webhooks.SignatureRefused, match="replay"):
        webhooks.signature_check(secret, headers, body)


def test_an_unsigned_answer_is_refused() -> None:
    with pytest.raises(webhooks.SignatureRefused, match="not signed"):
        webhooks.signature_check(b"s" * 32, {}, b"{}")


# --- Endpoints and secrets -----------------------------------------------------------------------


def test_an_endpoint_must_use_https_unless_plain_http_is_allowed(settings: Any) -> None:
    settings.SYSTEM_HTTP_ALLOWED_HOSTS = ["crm.example"]
    settings.SYSTEM_HTTP_ALLOW_HTTP = False

    assert webhooks.endpoint_problem("http://crm.example/hook") == (
        "the endpoint URL must use https"
    )
    assert webhooks.endpoint_problem("https://crm.example/hook") is None


def test_an_endpoint_on_a_host_not_allowed_is_refused(settings: Any) -> None:
    settings.SYSTEM_HTTP_ALLOWED_HOSTS = ["crm.example"]

    assert webhooks.endpoint_problem("https://169.254.169.254/latest") == (
        "the host 169.254.169.254 is not in SYSTEM_HTTP_ALLOWED_HOSTS"
    )


def test_a_missing_secret_fails_the_task_naming_the_variable(
    loopback_systems: None, newsletter: System, version: PolicyVersion, monkeypatch: Any
) -> None:
    monkeypatch.delenv(TEST_WEBHOOK_SECRET_ENV)
    task = sent(task_for(newsletter, version, TaskAction.EXPORT))

    assert task.status == TaskStatus.FAILED
    assert TEST_WEBHOOK_SECRET_ENV in task.last_error
    assert task.next_attempt_at is None  # waits for an officer: trying again cannot help


def test_a_secret_read_from_a_file_signs_the_message(
    loopback_systems: None,
    newsletter: System,
    version: PolicyVersion,
    receiver: ReceiverProcess,
    stored_answers: list[SystemTask],
    tmp_path: Any,
    monkeypatch: Any,
) -> None:
    secret_file = tmp_path / "newsletter-secret"
    secret_file.write_text(TEST_WEBHOOK_SECRET + "\n")
    monkeypatch.setenv("NEWSLETTER_SECRET_FILE", str(secret_file))
    newsletter.connection_env = "NEWSLETTER_SECRET_FILE"
    newsletter.save()

    task = sent(task_for(newsletter, version, TaskAction.EXPORT))
    stored_answers.append(task)

    assert task.status == TaskStatus.DONE


# --- Synchronous answers -------------------------------------------------------------------------


def test_an_access_answer_is_stored_as_the_systems_data(
    loopback_systems: None,
    newsletter: System,
    version: PolicyVersion,
    receiver: ReceiverProcess,
    stored_answers: list[SystemTask],
) -> None:
    task = sent(task_for(newsletter, version, TaskAction.EXPORT))
    stored_answers.append(task)

    assert task.status == TaskStatus.DONE
    assert task.external_ref == f"nl-{task.pk}"
    assert task.data_rows == 3
    assert task.counts == {"subscribers": 1, "campaign_clicks": 2}
    with answer_open(task) as stored:
        data = json.load(stored)
    assert data["subscribers"] == [
        {"email": "dilnoza@example.com", "list": "Weekly offers", "subscribed_on": "2026-03-01"}
    ]
    [exchange] = task.evidence["http_exchanges"]
    assert exchange["http_status"] == 200
    assert exchange["outcome"] == "done"


def test_the_message_names_the_request_the_subject_the_action_and_where_to_answer(
    loopback_systems: None,
    newsletter: System,
    version: PolicyVersion,
    receiver: ReceiverProcess,
    stored_answers: list[SystemTask],
    settings: Any,
) -> None:
    settings.SITE_URL = "https://dsr.beshqozon.example"
    task = task_for(newsletter, version, TaskAction.EXPORT)
    stored_answers.append(sent(task))

    [received] = receiver.received()
    message, headers = received["body"], received["headers"]
    assert message["protocol"] == "dsr-tracker-webhook/1"
    assert message["task_id"] == str(task.pk)
    assert message["request_reference"] == task.request.reference
    assert message["action"] == "export"
    assert message["subject"] == {
        "email": "dilnoza@example.com",
        "name": "Dilnoza Karimova",
        "account_identifier": "",
    }
    assert message["deadline"] == task.due_at.isoformat()  # type: ignore[union-attr]
    assert message["callback_url"] == (
        f"https://dsr.beshqozon.example/privacy/systems/tasks/{task.pk}/callback"
    )
    assert "contact" in message["categories"]
    assert headers["X-DSR-Task"] == str(task.pk)
    assert headers["X-DSR-Delivery"] == message["delivery"]


def test_an_erasure_answer_records_counts_and_what_was_kept_under_which_basis(
    loopback_systems: None, newsletter: System, version: PolicyVersion, receiver: ReceiverProcess
) -> None:
    task = sent(task_for(newsletter, version, TaskAction.ERASE))

    assert task.status == TaskStatus.DONE
    assert task.counts == {"subscribers": 1, "campaign_clicks": 2}
    assert task.kept == [
        {
            "what": "Proof of the subscriber's consent",
            "basis": "GDPR art. 7(1): the controller must be able to show consent",
            "until": "2029-12-31",
        }
    ]
    assert task.data_name == ""


def test_nothing_found_settles_the_task_with_the_systems_note(
    loopback_systems: None, newsletter: System, version: PolicyVersion, receiver: ReceiverProcess
) -> None:
    receiver.control(fault="nothing_found")
    task = sent(task_for(newsletter, version, TaskAction.EXPORT))

    assert task.status == TaskStatus.NOTHING_FOUND
    assert task.note == "No subscriber."


def test_a_system_reporting_a_failure_fails_the_task_with_its_words(
    loopback_systems: None, newsletter: System, version: PolicyVersion, receiver: ReceiverProcess
) -> None:
    receiver.control(fault="failed", retryable=True)
    task = sent(task_for(newsletter, version, TaskAction.ERASE))

    assert task.status == TaskStatus.FAILED
    assert "The mailing list store is being migrated." in task.last_error
    assert task.next_attempt_at is not None


def test_an_accepted_answer_leaves_the_task_in_progress_for_the_callback(
    loopback_systems: None, newsletter: System, version: PolicyVersion, receiver: ReceiverProcess
) -> None:
    receiver.control(answer="callback", delay=60)
    task = sent(task_for(newsletter, version, TaskAction.ERASE))

    assert task.status == TaskStatus.IN_PROGRESS
    assert task.finished_at is None


# --- Answers refused: the task fails, nothing is kept --------------------------------------------


def test_an_answer_with_a_bad_signature_fails_the_task_and_keeps_nothing(
    loopback_systems: None, newsletter: System, version: PolicyVersion, receiver: ReceiverProcess
) -> None:
    receiver.control(fault="bad_signature")
    task = sent(task_for(newsletter, version, TaskAction.EXPORT))

    assert task.status == TaskStatus.FAILED
    assert task.last_error == "the signature does not match the body and the shared secret"
    assert (task.data_name, task.data_rows, task.counts) == ("", None, {})


def test_an_oversized_answer_fails_the_task_and_keeps_nothing(
    loopback_systems: None,
    newsletter: System,
    version: PolicyVersion,
    receiver: ReceiverProcess,
    settings: Any,
) -> None:
    settings.SYSTEM_ANSWER_MAX_BYTES = 64 * 1024
    receiver.control(fault="oversized", size=2 * 1024 * 1024)
    task = sent(task_for(newsletter, version, TaskAction.EXPORT))

    assert task.status == TaskStatus.FAILED
    assert task.last_error == "the answer is larger than 65536 bytes: nothing was kept"
    assert task.data_name == ""
    assert task.next_attempt_at is None
    [exchange] = task.evidence["http_exchanges"]
    assert exchange["bytes"] == 0


def test_an_answer_that_is_not_json_fails_the_task(
    loopback_systems: None, newsletter: System, version: PolicyVersion, receiver: ReceiverProcess
) -> None:
    receiver.control(fault="malformed")
    task = sent(task_for(newsletter, version, TaskAction.EXPORT))

    assert task.status == TaskStatus.FAILED
    assert task.last_error == "the answer is not valid JSON (UTF-8)"
    assert task.data_name == ""
    # Nothing is published: the subject's package cannot be built while the task is open.
    verified = request_mark_verified(request=task.request)
    with pytest.raises(ExportRefused, match="waiting for systems: Newsletter"):
        export_create(request=verified, actor=Actor.system("test"))


def test_an_answer_breaking_the_schema_fails_the_task_naming_the_place(
    loopback_systems: None, newsletter: System, version: PolicyVersion, receiver: ReceiverProcess
) -> None:
    receiver.control(fault="schema")
    task = sent(task_for(newsletter, version, TaskAction.ERASE))

    assert task.status == TaskStatus.FAILED
    assert task.last_error == (
        "the answer does not match the documented format: counts.subscribers must be at least 0"
    )
    assert task.counts == {}


def test_a_redirect_is_not_followed(
    loopback_systems: None, newsletter: System, version: PolicyVersion, receiver: ReceiverProcess
) -> None:
    receiver.control(fault="redirect")
    task = sent(task_for(newsletter, version, TaskAction.EXPORT))

    assert task.status == TaskStatus.FAILED
    assert "redirect (HTTP 302)" in task.last_error
    assert len(receiver.received()) == 1  # the Location was never asked for


# --- A system slow, busy or down: retried with backoff -------------------------------------------


def test_a_system_too_slow_to_answer_fails_the_task_for_a_retry(
    loopback_systems: None,
    newsletter: System,
    version: PolicyVersion,
    receiver: ReceiverProcess,
    settings: Any,
) -> None:
    settings.SYSTEM_HTTP_READ_TIMEOUT_SECONDS = 1
    receiver.control(fault="slow", delay=3)
    task = sent(task_for(newsletter, version, TaskAction.ERASE))

    assert task.status == TaskStatus.FAILED
    assert task.last_error == "the system did not answer in time (connect or read timeout)"
    assert task.next_attempt_at is not None


def test_a_busy_system_is_retried_later(
    loopback_systems: None, newsletter: System, version: PolicyVersion, receiver: ReceiverProcess
) -> None:
    receiver.control(fault="unavailable")
    task = sent(task_for(newsletter, version, TaskAction.ERASE))

    assert task.status == TaskStatus.FAILED
    assert task.last_error == "the system answered HTTP 503: Down for maintenance. Back soon."
    assert task.next_attempt_at is not None


def test_a_system_down_fails_with_the_error_then_completes_once_it_is_back(
    loopback_systems: None,
    newsletter: System,
    version: PolicyVersion,
    receiver: ReceiverProcess,
    stored_answers: list[SystemTask],
) -> None:
    receiver.stop()
    task = sent(task_for(newsletter, version, TaskAction.EXPORT))
    stored_answers.append(task)

    assert task.status == TaskStatus.FAILED
    assert task.last_error == "the system cannot be reached (connection refused)"
    first_retry = task.next_attempt_at
    assert first_retry is not None

    task_send(task_id=task.pk, at=first_retry - timedelta(seconds=1))
    task.refresh_from_db()
    assert task.attempts == 1  # not before its time

    receiver.start()
    task_send(task_id=task.pk, at=first_retry + timedelta(seconds=1))
    task.refresh_from_db()

    assert task.status == TaskStatus.DONE
    assert task.attempts == 2
    assert task.last_error == ""
    assert [e["outcome"] for e in task.evidence["http_exchanges"]] == [
        "the system cannot be reached (connection refused)",
        "done",
    ]


# --- https ----------------------------------------------------------------------------------------


def test_an_https_system_is_trusted_only_through_the_configured_authority(
    loopback_systems: None,
    organization: Organization,
    version: PolicyVersion,
    stored_answers: list[SystemTask],
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.SYSTEM_HTTP_ALLOW_HTTP = False  # as in production
    secure = ReceiverProcess(tls=tls_files_write(tmp_path))
    secure.start()
    try:
        system = System.objects.create(
            organization=organization,
            name="CRM",
            slug="crm",
            kind=SystemKind.HTTP,
            endpoint_url=secure.hook_url,
            connection_env=TEST_WEBHOOK_SECRET_ENV,
            actions=[TaskAction.EXPORT],
            owner_email="it@beshqozon.example",
        )
        task = sent(task_for(system, version, TaskAction.EXPORT))
        stored_answers.append(task)
        assert task.status == TaskStatus.FAILED
        assert task.last_error == "the system's TLS certificate cannot be verified"
        assert secure.received() == []

        settings.SYSTEM_HTTP_CA_BUNDLE = str(secure.tls.certificate)  # type: ignore[union-attr]
        task_send(task_id=task.pk, at=task.next_attempt_at)
        task.refresh_from_db()
    finally:
        secure.stop()

    assert task.status == TaskStatus.DONE
    assert task.data_rows == 3
