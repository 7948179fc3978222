"""Deadline reminders: one email per threshold and deadline, whatever how often the job runs."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core import mail
from django.db import connection
from django.utils import timezone

from config.celery import app as celery_app
from policies.models import PeriodUnit, PolicyVersion, RequestType
from requests_app import reminders, roles
from requests_app.audit import Actor
from requests_app.models import EventKind, RequestEvent, RequestStatus, SubjectRequest
from requests_app.tasks import send_deadline_reminders
from requests_app.workflow import (
    request_assign,
    request_complete,
    request_extend,
    request_hold,
    request_mark_verified,
    request_start,
)
from tests.factories import StaffUserFactory, SubjectRequestFactory
from tests.tracker import file_request, publish_version

MARCH_1 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
# 1 March + 30 calendar days: due at the end of 31 March in Tashkent, 18:59:59 UTC.
DUE = datetime(2026, 3, 31, 18, 59, 59, 999999, tzinfo=UTC)


@pytest.fixture
def officer(db: None) -> User:
    user: User = StaffUserFactory.create(
        username="officer", email="officer@example.com", roles=[roles.OFFICERS]
    )
    return user


@pytest.fixture
def agent(db: None) -> User:
    user: User = StaffUserFactory.create(
        username="agent", email="agent@example.com", roles=[roles.AGENTS]
    )
    return user


@pytest.fixture
def rules(organization: Any) -> PolicyVersion:
    return publish_version(
        organization,
        {
            RequestType.ACCESS: {
                "response_period": 30,
                "max_extension": 1,
                "extension_unit": PeriodUnit.MONTHS,
                "extension_notice_required": False,
            },
            RequestType.CORRECTION: {"response_period": 30, "pauses_while_on_hold": True},
        },
        label="reminders",
    )


def _working(rules: PolicyVersion, officer: User, *, assignee: User | None = None, **kw: Any):
    with time_machine.travel(MARCH_1, tick=False):
        request = request_mark_verified(request=file_request(rules, **kw))
        request = request_start(request=request, actor=Actor.staff(officer))
        if assignee is not None:
            request = request_assign(request=request, actor=Actor.staff(officer), assignee=assignee)
    return request


@pytest.fixture
def run_at(django_capture_on_commit_callbacks: Any) -> Callable[[datetime], int]:
    """Run the beat task at ``moment`` and let the emails it queues go out."""

    def run(moment: datetime) -> int:
        with (
            time_machine.travel(moment, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return send_deadline_reminders()

    return run


def _reminders(request: SubjectRequest) -> list[dict[str, Any]]:
    events = RequestEvent.objects.filter(request=request, kind=EventKind.REMINDER_SENT)
    return [event.data for event in events.order_by("sequence")]


@pytest.mark.django_db
def test_the_assignee_is_reminded_once_before_and_once_after_the_deadline(
    rules: PolicyVersion, officer: User, agent: User, run_at: Callable[[datetime], int]
) -> None:
    request = _working(rules, officer, assignee=agent)
    mail.outbox.clear()

    sent = [
        run_at(datetime(2026, 3, 20, tzinfo=UTC)),  # 11 days left: nothing
        run_at(datetime(2026, 3, 29, tzinfo=UTC)),  # within 3 days: due soon
        run_at(datetime(2026, 3, 29, 0, 15, tzinfo=UTC)),
        run_at(datetime(2026, 3, 31, 18, 0, tzinfo=UTC)),
        run_at(datetime(2026, 4, 1, tzinfo=UTC)),  # overdue: escalated
        run_at(datetime(2026, 4, 1, 0, 15, tzinfo=UTC)),
        run_at(datetime(2026, 4, 20, tzinfo=UTC)),
    ]

    assert sent == [0, 1, 0, 0, 1, 0, 0]
    soon, overdue = mail.outbox
    assert (soon.to, soon.cc) == (["agent@example.com"], [])
    assert soon.subject == f"Due soon: privacy request {request.reference} (BESHQOZON)"
    assert "is due in 2 days" in str(soon.body)
    assert (overdue.to, overdue.cc) == (["agent@example.com"], ["officer@example.com"])
    assert overdue.subject == f"Overdue: privacy request {request.reference} (BESHQOZON)"
    assert "overdue by 1 day" in str(overdue.body)
    assert f"/admin/requests_app/subjectrequest/{request.pk}/change/" in str(overdue.body)
    assert [data["threshold"] for data in _reminders(request)] == ["due_soon", "overdue"]


@pytest.mark.django_db
def test_an_unassigned_request_reminds_the_officers(
    rules: PolicyVersion, officer: User, run_at: Callable[[datetime], int]
) -> None:
    StaffUserFactory.create(username="o2", email="o2@example.com", roles=[roles.OFFICERS])
    _working(rules, officer)
    mail.outbox.clear()

    run_at(datetime(2026, 3, 30, tzinfo=UTC))

    (message,) = mail.outbox
    assert sorted(message.to) == ["o2@example.com", "officer@example.com"]


@pytest.mark.django_db
def test_a_reminder_that_first_sees_the_request_overdue_sends_only_the_overdue_one(
    rules: PolicyVersion, officer: User, agent: User, run_at: Callable[[datetime], int]
) -> None:
    request = _working(rules, officer, assignee=agent)

    run_at(datetime(2026, 4, 3, tzinfo=UTC))
    run_at(datetime(2026, 4, 4, tzinfo=UTC))

    assert [data["threshold"] for data in _reminders(request)] == ["overdue"]


@pytest.mark.django_db
def test_an_extended_deadline_earns_its_own_reminders(
    rules: PolicyVersion, officer: User, agent: User, run_at: Callable[[datetime], int]
) -> None:
    request = _working(rules, officer, assignee=agent)
    run_at(datetime(2026, 3, 30, tzinfo=UTC))
    with time_machine.travel(datetime(2026, 3, 30, 1, tzinfo=UTC), tick=False):
        request_extend(request=request, actor=Actor.staff(officer), amount=1, reason="Backups.")

    runs = [
        run_at(datetime(2026, 3, 30, 2, tzinfo=UTC)),  # new deadline 30 April: far away
        run_at(datetime(2026, 4, 28, tzinfo=UTC)),
        run_at(datetime(2026, 4, 28, 1, tzinfo=UTC)),
    ]

    assert runs == [0, 1, 0]
    assert [data["deadline"] for data in _reminders(request)] == [
        DUE.isoformat(),
        datetime(2026, 4, 30, 18, 59, 59, 999999, tzinfo=UTC).isoformat(),
    ]


@pytest.mark.django_db
def test_closed_requests_and_paused_clocks_are_not_reminded(
    rules: PolicyVersion, officer: User, agent: User, run_at: Callable[[datetime], int]
) -> None:
    closed = _working(rules, officer, assignee=agent)
    paused = _working(rules, officer, assignee=agent, request_type=RequestType.CORRECTION)
    with time_machine.travel(datetime(2026, 3, 10, tzinfo=UTC), tick=False):
        request_complete(request=closed, actor=Actor.staff(agent), outcome="Sent.")
        request_hold(request=paused, actor=Actor.staff(agent), question="Which account?")

    assert run_at(datetime(2026, 4, 5, tzinfo=UTC)) == 0
    assert _reminders(closed) == _reminders(paused) == []


@pytest.mark.django_db
def test_a_reminder_for_a_request_closed_before_it_was_sent_is_dropped(
    rules: PolicyVersion, officer: User, agent: User
) -> None:
    request = _working(rules, officer, assignee=agent)
    with time_machine.travel(datetime(2026, 3, 30, tzinfo=UTC), tick=False):
        event = reminders.reminder_claim(
            request=request, threshold=reminders.DUE_SOON, deadline=DUE, at=timezone.now()
        )
        request_complete(request=request, actor=Actor.staff(agent), outcome="Sent.")
    assert event is not None
    mail.outbox.clear()

    assert reminders.reminder_email_send(event_id=event.pk) is False
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_claim_for_a_deadline_that_moved_meanwhile_is_refused(
    rules: PolicyVersion, officer: User, agent: User
) -> None:
    request = _working(rules, officer, assignee=agent)

    stale = reminders.reminder_claim(
        request=request,
        threshold=reminders.DUE_SOON,
        deadline=DUE - timedelta(days=1),
        at=timezone.now(),
    )

    assert stale is None
    assert SubjectRequest.objects.get(pk=request.pk).due_soon_reminder_for is None


@pytest.mark.django_db
def test_with_nobody_to_tell_nothing_is_claimed(
    rules: PolicyVersion, officer: User, run_at: Callable[[datetime], int], caplog: Any
) -> None:
    request = _working(rules, officer)
    User.objects.filter(pk=officer.pk).update(email="")

    assert run_at(datetime(2026, 3, 30, tzinfo=UTC)) == 0
    assert "found nobody to tell" in caplog.text
    assert SubjectRequest.objects.get(pk=request.pk).due_soon_reminder_for is None


def test_the_reminder_job_is_scheduled_every_fifteen_minutes(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["every-15-minutes-send-deadline-reminders"]

    assert entry["task"] == send_deadline_reminders.name
    assert entry["task"] in celery_app.tasks
    assert entry["schedule"].minute == {0, 15, 30, 45}


# --- Concurrency and the real worker ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_send_each_reminder_once(rules: PolicyVersion) -> None:
    roles.roles_sync()  # a transactional test starts from a flushed database
    officer = StaffUserFactory.create(
        username="officer", email="officer@example.com", roles=[roles.OFFICERS]
    )
    now = timezone.now()
    rule = rules.request_type_rules.get(request_type=RequestType.ACCESS)
    requests = [
        SubjectRequestFactory.create(rule=rule, assignee=officer, due_at=now + timedelta(hours=h))
        for h in range(-30, 60, 3)
    ]
    mail.outbox.clear()
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(reminders.reminders_send_due(at=now).sent)
        except BaseException as error:  # report it in the main thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(results) == len(requests)
    claimed = RequestEvent.objects.filter(kind=EventKind.REMINDER_SENT)
    assert claimed.count() == len(requests)
    assert len(mail.outbox) == len(requests)
    assert sorted(claimed.values_list("request_id", flat=True)) == sorted(r.pk for r in requests)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_real_worker_sends_an_overdue_reminder_once(
    celery_worker: subprocess.Popen, celery_worker_mail_dir: Path, rules: PolicyVersion
) -> None:
    roles.roles_sync()
    agent = StaffUserFactory.create(username="w-agent", email="w-agent@example.com")
    rule = rules.request_type_rules.get(request_type=RequestType.ACCESS)
    request = SubjectRequestFactory.create(
        rule=rule, assignee=agent, due_at=timezone.now() - timedelta(days=2)
    )
    # This module's conftest runs tasks in-process; this test is about the worker process.
    celery_app.conf.task_always_eager = False

    # Earlier tests run tasks in-process, which leaves Celery believing this thread is a worker;
    # waiting on a result here is the test process, not a task, so the guard does not apply.
    assert send_deadline_reminders.delay().get(timeout=60, disable_sync_subtasks=False) == 1
    assert send_deadline_reminders.delay().get(timeout=60, disable_sync_subtasks=False) == 0

    deadline = time.monotonic() + 60
    found: list[str] = []
    while time.monotonic() < deadline and not found:
        found = [
            text
            for text in (p.read_text(encoding="utf-8") for p in celery_worker_mail_dir.glob("*"))
            if f"Overdue: privacy request {request.reference}" in text
        ]
        time.sleep(0.2)
    assert len(found) == 1
    assert "To: w-agent@example.com" in found[0]
    assert SubjectRequest.objects.get(pk=request.pk).status == RequestStatus.IN_PROGRESS
