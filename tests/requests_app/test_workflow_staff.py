"""The staff services the admin calls: assigning and extending, and which actions are legal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core import mail

from policies.models import PeriodUnit, PolicyVersion, RequestType
from requests_app.audit import Actor
from requests_app.models import EventKind, RequestEvent, RequestStatus, SubjectRequest
from requests_app.roles import AGENTS, AUDITORS, OFFICERS
from requests_app.workflow import (
    STAFF_ACTIONS,
    TRANSITIONS,
    ExtensionRefused,
    IllegalAction,
    MissingReason,
    action_is_legal,
    request_assign,
    request_complete,
    request_extend,
    request_mark_verified,
    request_start,
)
from tests.factories import StaffUserFactory
from tests.tracker import file_request, publish_version

pytestmark = pytest.mark.django_db
S = RequestStatus
MARCH_1 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def officer() -> User:
    user: User = StaffUserFactory.create(username="officer", roles=[OFFICERS])
    return user


@pytest.fixture
def extendable(organization: Any) -> PolicyVersion:
    """Access: 30 calendar days, extendable once by up to 2 months, the subject told."""
    return publish_version(
        organization,
        {
            RequestType.ACCESS: {
                "response_period": 30,
                "max_extension": 2,
                "extension_unit": PeriodUnit.MONTHS,
                "extension_notice_required": True,
            },
            RequestType.CORRECTION: {"response_period": 30, "max_extension": 0},
            RequestType.DELETION: {
                "response_period": 30,
                "max_extension": 14,
                "extension_notice_required": False,
            },
        },
        label="extendable",
    )


def _verified(version: PolicyVersion, request_type: str = RequestType.ACCESS) -> SubjectRequest:
    with time_machine.travel(MARCH_1, tick=False):
        return request_mark_verified(request=file_request(version, request_type))


def test_staff_actions_agree_with_the_transition_table() -> None:
    assert STAFF_ACTIONS["start"] == {S.VERIFIED}
    assert STAFF_ACTIONS["resume"] == {S.ON_HOLD}
    for action, target in [("hold", S.ON_HOLD), ("reject", S.REJECTED), ("complete", S.COMPLETED)]:
        assert STAFF_ACTIONS[action] == {s for s in S if target in TRANSITIONS[s]}


def test_assigning_records_who_assigned_whom(version: PolicyVersion, officer: User) -> None:
    agent = StaffUserFactory.create(username="agent", roles=[AGENTS])
    request = _verified(version)

    request = request_assign(request=request, actor=Actor.staff(officer), assignee=agent)

    assert SubjectRequest.objects.get(pk=request.pk).assignee == agent == request.assignee
    event = RequestEvent.objects.get(request=request, kind=EventKind.ASSIGNED)
    assert event.actor_user == officer
    assert event.data == {"from": "", "to": "agent"}


def test_assigning_to_the_current_assignee_records_nothing(
    version: PolicyVersion, officer: User
) -> None:
    request = _verified(version)
    request_assign(request=request, actor=Actor.staff(officer), assignee=officer)

    request_assign(request=request, actor=Actor.staff(officer), assignee=officer)

    assert RequestEvent.objects.filter(request=request, kind=EventKind.ASSIGNED).count() == 1


def test_a_request_cannot_be_assigned_to_someone_who_cannot_work_on_it(
    version: PolicyVersion, officer: User
) -> None:
    auditor = StaffUserFactory.create(username="auditor", roles=[AUDITORS])
    request = _verified(version)

    with pytest.raises(IllegalAction, match="auditor cannot work on subject requests"):
        request_assign(request=request, actor=Actor.staff(officer), assignee=auditor)

    assert SubjectRequest.objects.get(pk=request.pk).assignee is None


def test_a_closed_request_cannot_be_assigned(version: PolicyVersion, officer: User) -> None:
    request = _verified(version)
    request = request_start(request=request, actor=Actor.staff(officer))
    request = request_complete(request=request, actor=Actor.staff(officer), outcome="Sent.")

    with pytest.raises(IllegalAction, match="closed"):
        request_assign(request=request, actor=Actor.staff(officer), assignee=officer)


def test_an_extension_moves_the_deadline_by_the_amount_asked(
    extendable: PolicyVersion, officer: User
) -> None:
    request = _verified(extendable)
    # 1 March + 30 days = 31 March; + 1 month = 30 April (Tashkent, UTC+5).
    assert request.due_at == datetime(2026, 3, 31, 18, 59, 59, 999999, tzinfo=UTC)

    request = request_extend(
        request=request, actor=Actor.staff(officer), amount=1, reason="Large data set."
    )

    assert request.extended_due_at == datetime(2026, 4, 30, 18, 59, 59, 999999, tzinfo=UTC)
    assert request.effective_due_at == request.extended_due_at
    stored = SubjectRequest.objects.get(pk=request.pk)
    assert (stored.extension_amount, stored.extension_unit) == (1, "months")
    event = RequestEvent.objects.get(request=request, kind=EventKind.EXTENDED)
    assert event.public_note == "Large data set."
    assert event.subject_visible


def test_a_deadline_is_extended_only_once(extendable: PolicyVersion, officer: User) -> None:
    request = _verified(extendable)
    request_extend(request=request, actor=Actor.staff(officer), amount=1, reason="Large.")
    stale = SubjectRequest.objects.get(pk=request.pk)

    with pytest.raises(IllegalAction, match="extended only once"):
        request_extend(request=stale, actor=Actor.staff(officer), amount=1, reason="More.")

    assert RequestEvent.objects.filter(request=request, kind=EventKind.EXTENDED).count() == 1
    assert not action_is_legal("extend", stale)


def test_an_extension_past_the_rules_maximum_is_refused(
    extendable: PolicyVersion, officer: User
) -> None:
    request = _verified(extendable)
    before = SubjectRequest.objects.values().get(pk=request.pk)

    with pytest.raises(ExtensionRefused, match="maximum of 2 months"):
        request_extend(request=request, actor=Actor.staff(officer), amount=3, reason="Big.")

    assert SubjectRequest.objects.values().get(pk=request.pk) == before


def test_an_extension_the_rule_does_not_allow_is_refused(
    extendable: PolicyVersion, officer: User
) -> None:
    request = _verified(extendable, RequestType.CORRECTION)
    assert not action_is_legal("extend", request)

    with pytest.raises(ExtensionRefused, match="does not allow"):
        request_extend(request=request, actor=Actor.staff(officer), amount=1, reason="Big.")

    assert SubjectRequest.objects.get(pk=request.pk).extended_due_at is None


def test_an_extension_needs_a_reason(extendable: PolicyVersion, officer: User) -> None:
    request = _verified(extendable)

    with pytest.raises(MissingReason):
        request_extend(request=request, actor=Actor.staff(officer), amount=1, reason="  ")

    assert SubjectRequest.objects.get(pk=request.pk).extension_amount is None


@pytest.mark.parametrize("amount", [0, -1])
def test_an_extension_of_nothing_is_refused(
    extendable: PolicyVersion, officer: User, amount: int
) -> None:
    request = _verified(extendable)

    with pytest.raises(ExtensionRefused):
        request_extend(request=request, actor=Actor.staff(officer), amount=amount, reason="Hm.")


def test_an_unverified_request_cannot_be_extended(extendable: PolicyVersion, officer: User) -> None:
    request = file_request(extendable)

    with pytest.raises(IllegalAction, match="cannot be extended"):
        request_extend(request=request, actor=Actor.staff(officer), amount=1, reason="Hm.")


def test_the_subject_is_told_of_an_extension_with_the_reason_and_new_date(
    extendable: PolicyVersion, officer: User, django_capture_on_commit_callbacks: Any
) -> None:
    request = _verified(extendable)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        request_extend(
            request=request, actor=Actor.staff(officer), amount=1, reason="Archive restore."
        )

    (message,) = mail.outbox
    assert message.to == [request.email]
    assert request.reference in message.subject
    assert "Archive restore." in str(message.body)
    assert "April 30, 2026" in str(message.body)
    assert "right to complain" in str(message.body)
    extended = RequestEvent.objects.get(request=request, kind=EventKind.EXTENDED)
    sent = RequestEvent.objects.get(request=request, kind=EventKind.EMAIL_SENT)
    assert sent.data == {"email": "extended", "event": extended.sequence}


def test_the_subject_is_not_emailed_when_the_rule_does_not_require_it(
    extendable: PolicyVersion, officer: User, django_capture_on_commit_callbacks: Any
) -> None:
    request = _verified(extendable, RequestType.DELETION)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        request_extend(request=request, actor=Actor.staff(officer), amount=14, reason="Backups.")

    assert mail.outbox == []
    event = RequestEvent.objects.get(request=request, kind=EventKind.EXTENDED)
    assert event.data["subject_told"] is False
