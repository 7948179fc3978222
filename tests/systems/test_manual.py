"""Manual systems: the owner's email and secret link, the answer page, and what each answer does."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from exports.build import export_storage
from exports.delivery import ExportRefused, export_create
from exports.models import ExportPackage, ExportStatus
from policies.models import Organization
from requests_app.audit import Actor
from requests_app.models import EventKind, RequestEvent, SubjectRequest
from requests_app.workflow import CompletionBlocked, request_complete, request_start
from systems.models import OwnerLink, SystemTask, TaskStatus
from tests.factories import (
    ConfirmedRequestFactory,
    OrganizationFactory,
    StaffUserFactory,
    SystemFactory,
)

OnCommit = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]
OWNER_LINK = re.compile(r"https?://[^\s]+/systems/tasks/(\d+)/([A-Za-z0-9_-]+)/")


@pytest.fixture
def org(db: None) -> Organization:
    found: Organization = OrganizationFactory.create(slug="zpos", name="ZPos")
    return found


@pytest.fixture
def mailbox(org: Organization) -> Any:
    return SystemFactory.create(
        organization=org, name="Support mailbox", slug="zpos-support", owner_email="it@zpos.example"
    )


def _request(
    org: Organization, on_commit: OnCommit, request_type: str = "access"
) -> SubjectRequest:
    with on_commit(execute=True):
        request: SubjectRequest = ConfirmedRequestFactory.create(
            organization=org, request_type=request_type
        )
    return request


def _owner_links() -> list[tuple[int, str]]:
    return [
        (int(task), token)
        for message in mail.outbox
        for task, token in OWNER_LINK.findall(str(message.body))
    ]


@pytest.fixture
def asked(
    org: Organization, mailbox: Any, django_capture_on_commit_callbacks: OnCommit
) -> tuple[SystemTask, str]:
    """An access request whose mailbox task was sent: the task and the owner's link token."""
    request = _request(org, django_capture_on_commit_callbacks)
    task = SystemTask.objects.get(request=request)
    ((task_id, token),) = _owner_links()
    assert task_id == task.pk
    return task, token


def _url(task_id: int, token: str) -> str:
    return f"/systems/tasks/{task_id}/{token}/"


def test_verifying_a_request_creates_a_task_per_concerned_system_and_emails_the_owner(
    asked: tuple[SystemTask, str],
) -> None:
    task, _token = asked
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS
    assert task.action == "export"
    assert task.attempts == 1
    deadline = task.request.effective_due_at
    assert task.due_at is not None
    assert deadline is not None
    assert task.due_at <= deadline
    (message,) = mail.outbox[-1:]
    assert message.to == ["it@zpos.example"]
    assert task.request.reference in message.subject
    # Only the link's hash is kept.
    (link,) = OwnerLink.objects.filter(task=task)
    assert _token not in link.token_hash
    assert len(link.token_hash) == 64


def test_a_complaint_creates_no_task_and_an_inactive_system_gets_none(
    org: Organization, django_capture_on_commit_callbacks: OnCommit
) -> None:
    SystemFactory.create(organization=org, active=False)
    request = _request(org, django_capture_on_commit_callbacks)
    assert not SystemTask.objects.filter(request=request).exists()


def test_the_owner_page_shows_what_is_asked_without_an_account(
    client: Client, asked: tuple[SystemTask, str]
) -> None:
    task, token = asked
    page = client.get(_url(task.pk, token))
    assert page.status_code == 200
    text = page.content.decode()
    assert task.request.reference in text
    assert task.request.email in text
    assert 'enctype="multipart/form-data"' in text
    assert "<script" not in text


def test_a_json_upload_settles_the_task_spends_the_link_and_is_recorded(
    client: Client, asked: tuple[SystemTask, str], django_capture_on_commit_callbacks: OnCommit
) -> None:
    task, token = asked
    body = json.dumps({"tickets": [{"id": 1, "subject": "<b>Refund</b>"}, {"id": 2}]}).encode()
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            _url(task.pk, token),
            {"answer": "upload", "file": SimpleUploadedFile("t.json", body), "note": "inbox"},
        )
    assert answer.status_code == 302
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert task.data_rows == 2
    assert task.answered_by == "it@zpos.example"
    with export_storage().open(task.data_name, "rb") as stored:
        assert json.load(stored)["tickets"][0]["subject"] == "<b>Refund</b>"
    note = RequestEvent.objects.filter(request=task.request, kind=EventKind.NOTE).last()
    assert note is not None
    assert note.data["system_task"] == "answered"
    # The same link again: used.
    assert client.get(_url(task.pk, token)).status_code == 404


def test_a_csv_upload_becomes_the_system_s_records(
    client: Client, asked: tuple[SystemTask, str]
) -> None:
    task, token = asked
    csv_file = SimpleUploadedFile("export.csv", b"id,subject\n1,Refund\n2,=SUM(A1)\n")
    assert (
        client.post(_url(task.pk, token), {"answer": "upload", "file": csv_file}).status_code == 302
    )
    task.refresh_from_db()
    assert task.data_rows == 2
    with export_storage().open(task.data_name, "rb") as stored:
        assert json.load(stored) == {
            "Support mailbox": [
                {"id": "1", "subject": "Refund"},
                {"id": "2", "subject": "=SUM(A1)"},
            ]
        }


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.json", b"{not json", "not valid JSON"),
        ("a.json", b'{"tickets": [{"nested": {"a": 1}}]}', "must be an object of fields"),
        ("a.json", b'{"tickets": 3}', "must be an array"),
        ("a.csv", b"id,subject\n1\n", "has 1 values for 2 columns"),
        ("a.csv", b"\xff\xfe\x00", "not UTF-8"),
        ("a.exe", b"MZ", "Send a .csv or .json file"),
    ],
)
def test_a_malformed_upload_is_refused_with_a_clear_error_and_nothing_is_settled_or_stored(
    client: Client, asked: tuple[SystemTask, str], name: str, content: bytes, message: str
) -> None:
    task, token = asked
    before = _stored_answers()
    page = client.post(
        _url(task.pk, token), {"answer": "upload", "file": SimpleUploadedFile(name, content)}
    )
    assert page.status_code == 400
    assert message in page.content.decode()
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS
    assert not task.data_name
    assert _stored_answers() == before
    # The link still works for a correct answer.
    assert client.get(_url(task.pk, token)).status_code == 200


def test_an_oversized_upload_is_refused_and_nothing_is_published(
    client: Client, asked: tuple[SystemTask, str], settings: Any
) -> None:
    settings.SYSTEM_ANSWER_MAX_BYTES = 2048
    task, token = asked
    before = _stored_answers()
    big = json.dumps({"t": [{"x": "a" * 3000}]}).encode()
    page = client.post(
        _url(task.pk, token), {"answer": "upload", "file": SimpleUploadedFile("b.json", big)}
    )
    assert page.status_code == 400
    assert "larger than the 2048 bytes" in page.content.decode()
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS
    assert task.data_sha256 == ""
    assert _stored_answers() == before


def _stored_answers() -> set[str]:
    storage = export_storage()
    try:
        dirs, _files = storage.listdir("systems")
    except FileNotFoundError:
        return set()
    return {f"{d}/{f}" for d in dirs for f in storage.listdir(f"systems/{d}")[1]}


def test_an_expired_link_a_wrong_token_and_another_task_s_link_all_get_the_same_page(
    client: Client,
    org: Organization,
    mailbox: Any,
    asked: tuple[SystemTask, str],
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    task, token = asked
    other_request = _request(org, django_capture_on_commit_callbacks)
    other = SystemTask.objects.get(request=other_request)
    for url in (_url(other.pk, token), _url(task.pk, "x" * 43), _url(task.pk, "y" * 300)):
        page = client.get(url)
        assert page.status_code == 404
        assert "This link does not work" in page.content.decode()
    OwnerLink.objects.filter(task=task).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(_url(task.pk, token)).status_code == 404
    assert client.post(_url(task.pk, token), {"answer": "nothing"}).status_code == 404
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS


def test_a_question_reaches_the_officers_and_does_not_spend_the_link(
    client: Client, asked: tuple[SystemTask, str], django_capture_on_commit_callbacks: OnCommit
) -> None:
    task, token = asked
    StaffUserFactory.create(
        username="officer", email="officer@zpos.example", roles=["Privacy officers"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(_url(task.pk, token), {"answer": "question", "question": "Which inbox?"})
    assert sent.status_code == 302
    (to_officers,) = [m for m in mail.outbox if "officer@zpos.example" in m.to]
    assert "Which inbox?" in to_officers.body
    assert client.get(_url(task.pk, token)).status_code == 200


def test_nothing_found_settles_the_task_and_the_package_says_so(
    client: Client, asked: tuple[SystemTask, str], django_capture_on_commit_callbacks: OnCommit
) -> None:
    task, token = asked
    request = task.request
    assert (
        client.post(
            _url(task.pk, token), {"answer": "nothing", "note": "searched 2025-26"}
        ).status_code
        == 302
    )
    with django_capture_on_commit_callbacks(execute=True):
        package = export_create(request=request, actor=Actor.system("test"))
    package.refresh_from_db()
    assert package.status == ExportStatus.READY
    manifest = _manifest(package)
    (entry,) = manifest["outside_systems"]
    assert entry["status"] == "nothing_found"
    assert entry["file"] == ""


def _manifest(package: ExportPackage) -> dict[str, Any]:
    with export_storage().open(package.file_path, "rb") as raw:
        archive = zipfile.ZipFile(io.BytesIO(raw.read()))
    return json.loads(archive.read("manifest.json"))


def test_the_export_waits_for_the_owner_then_merges_the_answer_under_the_system_s_name(
    client: Client, asked: tuple[SystemTask, str], django_capture_on_commit_callbacks: OnCommit
) -> None:
    task, token = asked
    request = task.request
    with pytest.raises(ExportRefused, match="waiting for systems: Support mailbox"):
        export_create(request=request, actor=Actor.system("test"))
    body = json.dumps([{"ticket": 7, "text": "hello"}]).encode()
    client.post(
        _url(task.pk, token), {"answer": "upload", "file": SimpleUploadedFile("a.json", body)}
    )
    with django_capture_on_commit_callbacks(execute=True):
        package = export_create(request=request, actor=Actor.system("test"))
    package.refresh_from_db()
    with export_storage().open(package.file_path, "rb") as raw:
        archive = zipfile.ZipFile(io.BytesIO(raw.read()))
    # The answer as the owner sent it (its SHA-256 in the manifest proves it).
    assert archive.read("systems/zpos-support.json") == body
    manifest = json.loads(archive.read("manifest.json"))
    (entry,) = manifest["outside_systems"]
    assert entry["name"] == "Support mailbox"
    assert entry["rows"] == 1
    assert "systems/zpos-support.json" in {f["name"] for f in manifest["files"]}
    summary = archive.read("summary.html").decode()
    assert "Support mailbox" in summary


def test_completing_with_a_task_open_is_refused_until_an_officer_closes_it_with_a_reason(
    client: Client, asked: tuple[SystemTask, str], django_capture_on_commit_callbacks: OnCommit
) -> None:
    from systems.work import TaskRefused, task_close

    task, _token = asked
    officer = StaffUserFactory.create(username="closer", roles=["Privacy officers"])
    request = request_start(request=task.request, actor=Actor.staff(officer))
    with pytest.raises(CompletionBlocked, match="Support mailbox"):
        request_complete(request=request, actor=Actor.staff(officer), outcome="Done.")
    assert SubjectRequest.objects.get(pk=request.pk).status == "in_progress"
    with pytest.raises(TaskRefused):
        task_close(task=task, user=officer, reason="  ")
    task_close(task=task, user=officer, reason="The mailbox was deleted in 2024.")
    closed = RequestEvent.objects.filter(request=request, kind=EventKind.NOTE).last()
    assert closed is not None
    assert closed.actor_user == officer
    assert closed.note == "The mailbox was deleted in 2024."
    assert (
        request_complete(request=request, actor=Actor.staff(officer), outcome="Done.").status
        == "completed"
    )


def test_the_admin_queue_shows_waiting_for_systems_and_filters_on_it(
    client: Client, asked: tuple[SystemTask, str]
) -> None:
    officer = StaffUserFactory.create(username="queue-officer", roles=["Privacy officers"])
    client.force_login(officer)
    page = client.get("/admin/requests_app/subjectrequest/?systems=waiting")
    assert page.status_code == 200
    assert asked[0].request.reference in page.content.decode()
    assert "waiting for systems" in page.content.decode()
    assert (
        asked[0].request.reference
        not in client.get("/admin/requests_app/subjectrequest/?systems=answered").content.decode()
    )
    record = client.get(f"/admin/requests_app/subjectrequest/{asked[0].request_id}/change/")
    assert "Support mailbox" in record.content.decode()


def test_a_withdrawn_request_s_tasks_become_not_applicable_and_their_links_stop(
    client: Client, asked: tuple[SystemTask, str]
) -> None:
    from requests_app.workflow import request_withdraw

    task, token = asked
    request_withdraw(request=task.request, actor=Actor.subject())
    assert client.get(_url(task.pk, token)).status_code == 404
    assert client.post(_url(task.pk, token), {"answer": "nothing"}).status_code == 404
    task.refresh_from_db()
    assert task.status == TaskStatus.NOT_APPLICABLE
    assert task.reason == "The request was closed as “Withdrawn”."


def test_the_owner_page_still_refuses_a_post_without_its_csrf_token(
    asked: tuple[SystemTask, str],
) -> None:
    task, token = asked
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(_url(task.pk, token), {"answer": "nothing"}).status_code == 403
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS
