from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from policies.models import PolicyVersion, RequestType
from requests_app import workflow
from requests_app.audit import Actor
from requests_app.models import (
    ActorKind,
    EventKind,
    ReasonCode,
    RequestEvent,
    RequestStatus,
    SubjectRequest,
)
from requests_app.workflow import (
    TRANSITIONS,
    IllegalAction,
    IllegalTransition,
    MissingReason,
    request_complete,
    request_expire,
    request_hold,
    request_mark_verified,
    request_reject,
    request_resume,
    request_start,
    request_withdraw,
)
from tests.tracker import file_request

pytestmark = pytest.mark.django_db
S = RequestStatus


@pytest.fixture
def staff() -> Actor:
    user = get_user_model().objects.create_user("agent", "agent@example.com", "x", is_staff=True)
    return Actor.staff(user)


def _move(request: SubjectRequest, to: str, actor: Actor) -> SubjectRequest:
    """Take one legal step to ``to``."""
    if to == S.VERIFIED:
        return request_mark_verified(request=request)
    if to == S.IN_PROGRESS and request.status == S.ON_HOLD:
        return request_resume(request=request, actor=actor)
    if to == S.IN_PROGRESS:
        return request_start(request=request, actor=actor)
    if to == S.ON_HOLD:
        return request_hold(request=request, actor=actor, question="Which shop account?")
    if to == S.COMPLETED:
        return request_complete(request=request, actor=actor, outcome="Your data was sent.")
    if to == S.REJECTED:
        return request_reject(
            request=request, actor=actor, reason_code=ReasonCode.OTHER, reason="Not ours."
        )
    if to == S.WITHDRAWN:
        return request_withdraw(request=request, actor=Actor.subject())
    if to == S.EXPIRED:
        return request_expire(request=request, job="test")
    # No service leads back to the start; the core every service goes through must refuse it.
    return workflow._transition(
        request=request, to_status=to, kind=EventKind.NOTE, actor=actor, at=timezone.now()
    )


PATHS: dict[str, list[str]] = {
    S.AWAITING_VERIFICATION: [],
    S.VERIFIED: [S.VERIFIED],
    S.IN_PROGRESS: [S.VERIFIED, S.IN_PROGRESS],
    S.ON_HOLD: [S.VERIFIED, S.IN_PROGRESS, S.ON_HOLD],
    S.COMPLETED: [S.VERIFIED, S.IN_PROGRESS, S.COMPLETED],
    S.REJECTED: [S.VERIFIED, S.REJECTED],
    S.WITHDRAWN: [S.WITHDRAWN],
    S.EXPIRED: [S.EXPIRED],
}


def request_in(version: PolicyVersion, status: str, actor: Actor) -> SubjectRequest:
    request = file_request(version)
    for step in PATHS[status]:
        request = _move(request, step, actor)
    assert request.status == status
    return request


ILLEGAL = [(a, b) for a in S.values for b in S.values if b not in TRANSITIONS[a]]
LEGAL = [(a, b) for a in S.values for b in TRANSITIONS[a]]


@pytest.mark.parametrize(("from_status", "to_status"), ILLEGAL)
def test_every_illegal_transition_is_refused_and_changes_nothing(
    version: PolicyVersion, staff: Actor, from_status: str, to_status: str
) -> None:
    request = request_in(version, from_status, staff)
    before = SubjectRequest.objects.values().get(pk=request.pk)
    events_before = RequestEvent.objects.filter(request=request).count()

    with pytest.raises(IllegalTransition) as refused:
        _move(request, to_status, staff)

    assert request.reference in str(refused.value)
    assert SubjectRequest.objects.values().get(pk=request.pk) == before
    assert RequestEvent.objects.filter(request=request).count() == events_before


@pytest.mark.parametrize(("from_status", "to_status"), LEGAL)
def test_every_legal_transition_applies_and_is_recorded(
    version: PolicyVersion, staff: Actor, from_status: str, to_status: str
) -> None:
    request = request_in(version, from_status, staff)

    moved = _move(request, to_status, staff)

    assert SubjectRequest.objects.get(pk=request.pk).status == to_status == moved.status
    last = RequestEvent.objects.filter(request=request).order_by("-sequence").first()
    assert last is not None
    assert (last.from_status, last.to_status) == (from_status, to_status)


def test_a_stale_copy_cannot_apply_a_transition_twice(version: PolicyVersion, staff: Actor) -> None:
    request = request_in(version, S.VERIFIED, staff)
    second_click = SubjectRequest.objects.get(pk=request.pk)
    request_start(request=request, actor=staff)

    # The second copy still believes the request is verified; the conditional update refuses.
    with pytest.raises(IllegalTransition, match="In progress"):
        request_start(request=second_click, actor=staff)

    assert RequestEvent.objects.filter(request=request, to_status=S.IN_PROGRESS).count() == 1


def test_verification_starts_the_clock_when_the_rule_says_so(version: PolicyVersion) -> None:
    with time_machine.travel(datetime(2026, 3, 1, 9, 0, tzinfo=UTC), tick=False):
        request = file_request(version, RequestType.CORRECTION)
    assert request.due_at is None

    with time_machine.travel(datetime(2026, 3, 5, 9, 0, tzinfo=UTC), tick=False):
        request = request_mark_verified(request=request)

    # 5 March + 30 calendar days = 4 April, end of the day in Tashkent (UTC+5).
    assert request.clock_started_at == datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    assert request.due_at == datetime(2026, 4, 4, 18, 59, 59, 999999, tzinfo=UTC)


def test_the_clock_runs_from_receipt_when_the_rule_says_so(version: PolicyVersion) -> None:
    with time_machine.travel(datetime(2026, 1, 31, 9, 0, tzinfo=UTC), tick=False):
        request = file_request(version, RequestType.DELETION)
    # One month after 31 January is the last day of February.
    assert request.due_at == datetime(2026, 2, 28, 18, 59, 59, 999999, tzinfo=UTC)

    with time_machine.travel(datetime(2026, 2, 3, 9, 0, tzinfo=UTC), tick=False):
        request = request_mark_verified(request=request)
    assert request.due_at == datetime(2026, 2, 28, 18, 59, 59, 999999, tzinfo=UTC)


def test_days_on_hold_push_the_deadline_when_the_rule_pauses(
    version: PolicyVersion, staff: Actor
) -> None:
    start = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        request = file_request(version, RequestType.CORRECTION)
        request = request_mark_verified(request=request)
        request = request_start(request=request, actor=staff)
        request = request_hold(request=request, actor=staff, question="Which account?")
    due_before = request.due_at
    assert due_before is not None

    with time_machine.travel(start + timedelta(days=4), tick=False):
        request = request_resume(request=request, actor=staff)

    assert request.paused_days == 4
    assert request.on_hold_since is None
    assert request.due_at == due_before + timedelta(days=4)


@pytest.mark.parametrize("status", [S.VERIFIED, S.IN_PROGRESS, S.COMPLETED])
def test_only_a_request_on_hold_can_be_resumed(
    version: PolicyVersion, staff: Actor, status: str
) -> None:
    request = request_in(version, status, staff)
    before = SubjectRequest.objects.values().get(pk=request.pk)

    with pytest.raises(IllegalAction, match="only a request on hold can be resumed"):
        request_resume(request=request, actor=staff)

    assert SubjectRequest.objects.values().get(pk=request.pk) == before
    assert not RequestEvent.objects.filter(request=request, kind=EventKind.RESUMED).exists()


def test_a_request_on_hold_is_resumed_not_started(version: PolicyVersion, staff: Actor) -> None:
    request = request_in(version, S.ON_HOLD, staff)
    before = SubjectRequest.objects.values().get(pk=request.pk)

    with pytest.raises(IllegalAction, match="resume it instead of starting it"):
        request_start(request=request, actor=staff)

    assert SubjectRequest.objects.values().get(pk=request.pk) == before


def test_the_subject_verifies_unless_someone_else_is_named(version: PolicyVersion) -> None:
    by_subject = request_mark_verified(request=file_request(version, email="a@example.com"))
    by_controller = request_mark_verified(
        request=file_request(version, email="b@example.com"), actor=Actor.system("opendsr:shop")
    )

    verified = [
        request.events.get(kind=EventKind.VERIFIED) for request in (by_subject, by_controller)
    ]
    assert [(event.actor_kind, event.actor_label) for event in verified] == [
        (ActorKind.SUBJECT, ""),
        (ActorKind.SYSTEM, "opendsr:shop"),
    ]


def test_rejection_without_a_reason_is_refused(version: PolicyVersion, staff: Actor) -> None:
    request = request_in(version, S.VERIFIED, staff)

    with pytest.raises(MissingReason):
        request_reject(request=request, actor=staff, reason_code=ReasonCode.OTHER, reason="  ")
    with pytest.raises(MissingReason):
        request_reject(request=request, actor=staff, reason_code="made-up", reason="Because.")

    assert SubjectRequest.objects.get(pk=request.pk).status == S.VERIFIED


def test_closing_stamps_closed_at_and_the_outcome(version: PolicyVersion, staff: Actor) -> None:
    request = request_in(version, S.IN_PROGRESS, staff)

    request = request_complete(request=request, actor=staff, outcome="Sent by email.")

    assert request.closed_at is not None
    assert request.outcome == "Sent by email."
    assert not request.is_open
