from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from policies.models import PolicyVersion
from requests_app.models import RequestStatus, RequestToken, SubjectRequest, TokenPurpose
from requests_app.verification import (
    InvalidLink,
    request_verify,
    requests_expire_unverified,
    status_request,
    token_hash,
    token_issue,
)
from tests.requests_app.conftest import file_request

pytestmark = pytest.mark.django_db


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
