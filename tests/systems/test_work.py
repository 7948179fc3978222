"""A task per system on every request: the engine's settlements, the erasure certificate, a
system that is down, the beat job, the officers' steps and the staff API."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.utils import timezone

from config.celery import app as celery_app
from erasure.models import ErasureCertificate
from erasure.services import erasure_approve, erasures_start_due
from policies.models import Organization
from requests_app import roles
from requests_app.audit import Actor
from requests_app.models import EventKind, RequestEvent, RequestStatus, SubjectRequest
from requests_app.workflow import CompletionBlocked, request_complete, request_start
from staff_auth.tokens import api_token_issue
from systems import handlers, manual, work
from systems.models import SystemTask, TaskStatus
from tests.factories import (
    ConfirmedRequestFactory,
    StaffUserFactory,
    SystemFactory,
    account_with_every_record,
)

pytestmark = pytest.mark.django_db
OnCommit = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]
OWNER_LINK = re.compile(r"https?://[^\s]+/systems/tasks/(\d+)/([A-Za-z0-9_-]+)/")
APPROVED = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def officer(db: None) -> User:
    roles.roles_sync()
    user: User = StaffUserFactory.create(
        username="officer", email="officer@zpos.example", roles=["Privacy officers"]
    )
    return user


def _link_for(task: SystemTask) -> str:
    found = [
        token
        for message in mail.outbox
        for task_id, token in OWNER_LINK.findall(str(message.body))
        if int(task_id) == task.pk
    ]
    return found[-1]


# --- The engine's own systems ------------------------------------------------------------------


def test_the_projects_own_pos_is_settled_by_the_export_package_with_its_row_counts(
    zpos: Organization, officer: User, django_capture_on_commit_callbacks: OnCommit
) -> None:
    from exports.delivery import export_create

    SystemFactory.create(organization=zpos, name="POS", slug="zpos-pos", kind="django")
    account_with_every_record(organization=zpos, owner_email="owner@shop.example")
    with django_capture_on_commit_callbacks(execute=True):
        request = ConfirmedRequestFactory.create(organization=zpos, email="owner@shop.example")
    (task,) = SystemTask.objects.filter(request=request)
    assert task.status == TaskStatus.PENDING
    with pytest.raises(CompletionBlocked):
        request_complete(
            request=request_start(request=request, actor=Actor.staff(officer)),
            actor=Actor.staff(officer),
            outcome="Sent.",
        )
    with django_capture_on_commit_callbacks(execute=True):
        export_create(request=request, actor=Actor.staff(officer))
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert task.counts["pos.account"] == 1
    assert sum(task.counts.values()) > 5


def test_an_erasure_certificate_waits_for_the_mailbox_and_then_covers_it(
    zpos: Organization, officer: User, django_capture_on_commit_callbacks: OnCommit
) -> None:
    SystemFactory.create(
        organization=zpos,
        name="Support mailbox",
        slug="zpos-support",
        owner_email="it@zpos.example",
    )
    account_with_every_record(organization=zpos, owner_email="owner@shop.example")
    with (
        time_machine.travel(APPROVED - timedelta(days=2), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        request = ConfirmedRequestFactory.create(
            organization=zpos, request_type="deletion", email="owner@shop.example"
        )
    task = SystemTask.objects.get(request=request)
    token = _link_for(task)
    with (
        time_machine.travel(APPROVED, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        erasure_approve(request=request, actor=Actor.staff(officer))
    with (
        time_machine.travel(APPROVED + timedelta(days=8), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        erasures_start_due()
    request.refresh_from_db()
    assert request.status == RequestStatus.IN_PROGRESS
    assert not ErasureCertificate.objects.filter(request=request).exists()

    with (
        time_machine.travel(APPROVED + timedelta(days=9), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        manual.owner_done(
            task_id=task.pk,
            token=token,
            count=4,
            kept=1,
            kept_basis="tax law, 5 years",
            note="Deleted the threads.",
        )
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    certificate = ErasureCertificate.objects.get(request=request)
    (outside,) = certificate.content["outside_systems"]
    assert outside["system"] == "Support mailbox"
    assert outside["counts"] == {"erased": 4}
    assert outside["kept"] == [{"rows": 1, "legal_basis": "tax law, 5 years"}]
    assert outside["answered_by"] == "it@zpos.example"
    assert "Support mailbox" in certificate.content["systems"]
    assert "Support mailbox: 4 records were erased." in request.outcome


# --- A system that is down ---------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_mailbox_whose_mail_server_is_down_keeps_the_request_open_with_the_error_then_completes(
    zpos: Organization,
    officer: User,
    client: Client,
    settings: Any,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    SystemFactory.create(
        organization=zpos,
        name="Support mailbox",
        slug="zpos-support",
        owner_email="it@zpos.example",
    )
    # A real SMTP peer that is down: nothing listens on the port.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", _closed_port()
    settings.EMAIL_TIMEOUT = 2
    # The subject's own email fails too and is left to its retries.
    celery_app.conf.task_eager_propagates = False
    with django_capture_on_commit_callbacks(execute=True):
        request = ConfirmedRequestFactory.create(organization=zpos)
    celery_app.conf.task_eager_propagates = True
    task = SystemTask.objects.get(request=request)
    assert task.status == TaskStatus.FAILED
    assert "Connection refused" in task.last_error or "ConnectionRefused" in task.last_error
    assert task.next_attempt_at is not None
    request = request_start(request=request, actor=Actor.staff(officer))
    with pytest.raises(CompletionBlocked, match="Support mailbox"):
        request_complete(request=request, actor=Actor.staff(officer), outcome="Done.")
    client.force_login(officer)
    waiting = client.get("/admin/systems/systemtask/?waiting=open")
    assert task.last_error[:30] in waiting.content.decode()

    # The mail server is back; the beat job wakes the retry once it is due.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with (
        time_machine.travel(task.next_attempt_at + timedelta(seconds=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert work.tasks_check().woken == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS
    assert task.attempts == 2
    manual.owner_nothing_found(task_id=task.pk, token=_link_for(task))
    completed = request_complete(request=request, actor=Actor.staff(officer), outcome="Done.")
    assert completed.status == RequestStatus.COMPLETED


def test_attempts_exhausted_leave_the_task_failed_for_an_officer(
    zpos: Organization, settings: Any, django_capture_on_commit_callbacks: OnCommit
) -> None:
    system = SystemFactory.create(organization=zpos, owner_email="")
    settings.SYSTEM_TASK_MAX_ATTEMPTS = 1
    with django_capture_on_commit_callbacks(execute=True):
        request = ConfirmedRequestFactory.create(organization=zpos)
    task = SystemTask.objects.get(request=request, system=system)
    assert task.status == TaskStatus.FAILED
    assert "no owner with an email address" in task.last_error
    assert task.next_attempt_at is None
    assert task.stuck_since is not None


# --- The beat job ------------------------------------------------------------------------------


def test_the_beat_job_reminds_the_owner_once_and_escalates_an_overdue_task_once(
    zpos: Organization, officer: User, django_capture_on_commit_callbacks: OnCommit
) -> None:
    SystemFactory.create(organization=zpos, name="Support mailbox", owner_email="it@zpos.example")
    with django_capture_on_commit_callbacks(execute=True):
        request = ConfirmedRequestFactory.create(organization=zpos)
    task = SystemTask.objects.get(request=request)
    assert task.due_at is not None
    mail.outbox.clear()
    with (
        time_machine.travel(task.due_at - timedelta(days=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert work.tasks_check().reminded == 1
        assert work.tasks_check().reminded == 0
    (reminder,) = mail.outbox
    assert reminder.to == ["it@zpos.example"]
    assert reminder.subject.startswith("Reminder")
    assert OWNER_LINK.search(str(reminder.body))
    with (
        time_machine.travel(task.due_at + timedelta(hours=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert work.tasks_check().escalated == 1
        assert work.tasks_check().escalated == 0
    (escalation,) = [m for m in mail.outbox if "officer@zpos.example" in m.to]
    assert "stuck" in escalation.body
    task.refresh_from_db()
    assert task.stuck_since is not None


# --- Officers ----------------------------------------------------------------------------------


def test_an_officer_reassigns_retries_and_closes_a_task_from_its_page_and_each_step_is_audited(
    zpos: Organization, officer: User, client: Client, django_capture_on_commit_callbacks: OnCommit
) -> None:
    SystemFactory.create(organization=zpos, name="Support mailbox", owner_email="it@zpos.example")
    with django_capture_on_commit_callbacks(execute=True):
        request = ConfirmedRequestFactory.create(organization=zpos)
    task = SystemTask.objects.get(request=request)
    client.force_login(officer)
    page = client.get(f"/admin/systems/systemtask/{task.pk}/change/")
    assert page.status_code == 200
    assert 'id="task-close"' in page.content.decode()
    act = f"/admin/systems/systemtask/{task.pk}/act/"

    with django_capture_on_commit_callbacks(execute=True):
        client.post(act + "reassign/", {"owner_email": "archive@zpos.example"})
    task.refresh_from_db()
    assert task.owner_email == "archive@zpos.example"
    assert any("archive@zpos.example" in m.to for m in mail.outbox)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(act + "retry/")
    task.refresh_from_db()
    assert task.attempts == 1
    assert task.status == TaskStatus.IN_PROGRESS

    refused = client.post(act + "close/", {"reason": ""}, follow=True)
    assert "needs the reason" in refused.content.decode()
    assert SystemTask.objects.get(pk=task.pk).is_open
    client.post(act + "close/", {"reason": "Archive destroyed in 2023."})
    task.refresh_from_db()
    assert task.status == TaskStatus.CLOSED
    assert task.reason == "Archive destroyed in 2023."
    steps = [
        e.data["system_task"]
        for e in RequestEvent.objects.filter(
            request=request, kind=EventKind.NOTE, actor_user=officer
        )
    ]
    assert steps == ["reassigned", "retried by an officer", "closed by an officer"]


def test_an_agent_sees_the_tasks_but_cannot_act_on_them(
    zpos: Organization, client: Client, django_capture_on_commit_callbacks: OnCommit
) -> None:
    roles.roles_sync()
    agent = StaffUserFactory.create(username="agent", roles=["Support agents"])
    SystemFactory.create(organization=zpos, owner_email="it@zpos.example")
    with django_capture_on_commit_callbacks(execute=True):
        request = ConfirmedRequestFactory.create(organization=zpos)
    task = SystemTask.objects.get(request=request)
    client.force_login(agent)
    page = client.get(f"/admin/systems/systemtask/{task.pk}/change/")
    assert page.status_code == 200
    assert 'id="task-close"' not in page.content.decode()
    assert (
        client.post(f"/admin/systems/systemtask/{task.pk}/act/close/", {"reason": "x"}).status_code
        == 403
    )
    assert SystemTask.objects.get(pk=task.pk).is_open


def test_the_staff_api_lists_the_request_s_tasks(
    zpos: Organization, officer: User, client: Client, django_capture_on_commit_callbacks: OnCommit
) -> None:
    SystemFactory.create(organization=zpos, name="Support mailbox", owner_email="it@zpos.example")
    with django_capture_on_commit_callbacks(execute=True):
        request = ConfirmedRequestFactory.create(organization=zpos)
    _token, key = api_token_issue(user=officer, name="test", days=1)
    answer = client.get(
        f"/api/v1/staff/requests/{request.reference}/", HTTP_AUTHORIZATION=f"Token {key}"
    )
    assert answer.status_code == 200, answer.content
    (task,) = answer.json()["system_tasks"]
    assert task["system"] == "Support mailbox"
    assert task["status"] == "in_progress"
    assert task["action"] == "export"


def test_an_answer_to_a_settled_task_is_refused_and_changes_nothing(
    zpos: Organization, officer: User, django_capture_on_commit_callbacks: OnCommit
) -> None:
    SystemFactory.create(organization=zpos, owner_email="it@zpos.example")
    with django_capture_on_commit_callbacks(execute=True):
        request = ConfirmedRequestFactory.create(organization=zpos)
    task = SystemTask.objects.get(request=request)
    work.task_close(task=task, user=officer, reason="Gone.")
    with pytest.raises(handlers.AnswerRefused):
        handlers.task_answer(task, status=TaskStatus.NOTHING_FOUND, by="late@example.com")
    task.refresh_from_db()
    assert task.status == TaskStatus.CLOSED
    assert task.answered_by == "officer"
    assert timezone.now() >= task.finished_at  # type: ignore[operator]
    assert SubjectRequest.objects.get(pk=request.pk).status == RequestStatus.VERIFIED


def test_a_wake_up_the_broker_lost_is_given_again_by_the_beat_job(
    zpos: Organization, django_capture_on_commit_callbacks: OnCommit
) -> None:
    SystemFactory.create(organization=zpos, name="Support mailbox", owner_email="it@zpos.example")
    # Verified, but the wake-up never reached a worker (the commit's callbacks are dropped).
    request = ConfirmedRequestFactory.create(organization=zpos)
    task = SystemTask.objects.get(request=request)
    assert task.status == TaskStatus.PENDING
    assert not mail.outbox
    with django_capture_on_commit_callbacks(execute=True):
        assert work.tasks_check().woken == 0
    with (
        time_machine.travel(timezone.now() + timedelta(minutes=3), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert work.tasks_check().woken == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS
    assert task.attempts == 1
    assert [m.to for m in mail.outbox] == [["it@zpos.example"]]
