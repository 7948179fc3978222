from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from policies.models import PolicyVersion, RequestType
from requests_app.audit import Actor
from requests_app.models import RequestStatus, RequestToken, SubjectRequest, TokenPurpose
from requests_app.verification import (
    InvalidLink,
    links_resend,
    request_verify,
    requests_expire_unverified,
    status_request,
    token_hash,
    token_issue,
    verification_token_check,
)
from requests_app.workflow import (
    request_complete,
    request_mark_verified,
    request_start,
    request_withdraw,
)
from tests.tracker import file_request, links_in_outbox

pytestmark = pytest.mark.django_db
STAFF = Actor.system("test")


def test_only_the_hash_of_a_token_is_stored(version: PolicyVersion) -> None:
    token = token_issue(request=file_request(version), purpose=TokenPurpose.VERIFICATION)

    stored = RequestToken.objects.get()
    assert stored.token_hash == token_hash(token)
    assert token not in stored.token_hash


def test_a_confirmation_link_works_once(version: PolicyVersion) -> None:
    request = file_request(version)
    token = token_issue(request=request, purpose=TokenPurpose.VERIFICATION)

    verified, status_token = request_verify(token=token)

    assert verified.status == RequestStatus.VERIFIED
    assert status_request(token=status_token) == request
    with pytest.raises(InvalidLink):
        request_verify(token=token)


def test_a_confirmation_link_expires_after_72_hours(version: PolicyVersion) -> None:
    request = file_request(version)
    token = token_issue(request=request, purpose=TokenPurpose.VERIFICATION)

    with (
        time_machine.travel(timezone.now() + timedelta(hours=72, seconds=1)),
        pytest.raises(InvalidLink),
    ):
        request_verify(token=token)

    assert SubjectRequest.objects.get().status == RequestStatus.AWAITING_VERIFICATION


def test_a_second_link_for_a_confirmed_request_does_not_verify_again(
    version: PolicyVersion,
) -> None:
    request = file_request(version)
    first = token_issue(request=request, purpose=TokenPurpose.VERIFICATION)
    second = token_issue(request=request, purpose=TokenPurpose.VERIFICATION)
    request_verify(token=first)

    with pytest.raises(InvalidLink):
        request_verify(token=second)

    assert request.events.filter(kind="verified").count() == 1


def test_unconfirmed_requests_expire_after_seven_days_and_the_job_can_run_again(
    version: PolicyVersion,
) -> None:
    stale = file_request(version, email="stale@example.com")
    confirmed = file_request(version, email="confirmed@example.com")
    request_verify(token=token_issue(request=confirmed, purpose=TokenPurpose.VERIFICATION))
    with time_machine.travel(timezone.now() + timedelta(days=6)):
        fresh = file_request(version, email="fresh@example.com")

    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        assert requests_expire_unverified() == 1
        assert requests_expire_unverified() == 0

    statuses = dict(SubjectRequest.objects.values_list("pk", "status"))
    assert statuses == {
        stale.pk: RequestStatus.EXPIRED,
        confirmed.pk: RequestStatus.VERIFIED,
        fresh.pk: RequestStatus.AWAITING_VERIFICATION,
    }
    event = stale.events.order_by("-sequence").first()
    assert event is not None
    assert event.actor_label == "expire-unverified-requests"


def test_an_expired_request_frees_the_way_for_a_new_one(version: PolicyVersion) -> None:
    first = file_request(version)
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        requests_expire_unverified()
        second = file_request(version)

    assert second.pk != first.pk
    assert second.status == RequestStatus.AWAITING_VERIFICATION


def test_a_status_link_works_for_status_link_days_from_when_it_was_issued(
    version: PolicyVersion, settings: Any
) -> None:
    settings.STATUS_LINK_DAYS = 30
    request = file_request(version)
    issued = timezone.now()
    first = token_issue(request=request, purpose=TokenPurpose.STATUS, at=issued)
    later = token_issue(
        request=request, purpose=TokenPurpose.STATUS, at=issued + timedelta(days=20)
    )

    assert status_request(token=first, at=issued + timedelta(days=30, seconds=-1)) == request
    with pytest.raises(InvalidLink):
        status_request(token=first, at=issued + timedelta(days=30))
    assert status_request(token=later, at=issued + timedelta(days=30)) == request


def test_a_link_stored_without_an_expiry_opens_nothing(version: PolicyVersion) -> None:
    token = token_issue(request=file_request(version), purpose=TokenPurpose.STATUS)
    RequestToken.objects.update(expires_at=None)

    with pytest.raises(InvalidLink):
        status_request(token=token)


def test_new_links_go_to_open_requests_and_to_those_closed_within_status_link_days(
    version: PolicyVersion, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.STATUS_LINK_DAYS = 30
    email = "subject@example.com"
    now = timezone.now()
    unconfirmed = file_request(version, RequestType.ACCESS, email=email)
    with time_machine.travel(now - timedelta(days=31)):
        _completed(file_request(version, RequestType.DELETION, email=email))
    with time_machine.travel(now - timedelta(days=29)):
        recently_closed = _completed(file_request(version, RequestType.CORRECTION, email=email))
        # Never confirmed: nobody proved the address, so there is nothing to follow.
        request_withdraw(
            request=file_request(version, RequestType.COMPLAINT, email=email),
            actor=Actor.subject(),
        )

    with django_capture_on_commit_callbacks(execute=True):
        queued = links_resend(organization=version.policy.organization, email="Subject@Example.com")

    (confirm,), (status,) = links_in_outbox("confirm"), links_in_outbox("status")
    assert queued == 2
    assert verification_token_check(token=confirm) == unconfirmed
    assert status_request(token=status) == recently_closed


def _completed(request: SubjectRequest) -> SubjectRequest:
    request = request_mark_verified(request=request)
    request = request_start(request=request, actor=STAFF)
    return request_complete(request=request, actor=STAFF, outcome="Done.")
