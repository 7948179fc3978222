"""The status page's erasure block: the date, the cancel button, and what follows a click."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from erasure.models import ErasureSchedule, ErasureStatus
from erasure.services import erasure_approve, erasures_start_due
from policies.models import Organization
from requests_app.audit import Actor
from requests_app.models import RequestStatus, SubjectRequest, TokenPurpose
from requests_app.verification import token_issue
from tests.factories import ConfirmedRequestFactory, StaffUserFactory, account_with_every_record

pytestmark = pytest.mark.django_db
APPROVED = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def scheduled(
    zpos: Organization, django_capture_on_commit_callbacks: Callable[..., Any]
) -> tuple[SubjectRequest, str]:
    """A deletion request whose erasure was approved at APPROVED, and a status link to it."""
    account_with_every_record(organization=zpos, owner_email="owner@shop.example")
    with time_machine.travel(APPROVED - timedelta(days=1), tick=False):
        request: SubjectRequest = ConfirmedRequestFactory.create(
            organization=zpos, request_type="deletion", email="owner@shop.example"
        )
    officer: User = StaffUserFactory.create(is_superuser=True)
    with (
        time_machine.travel(APPROVED, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        erasure_approve(request=request, actor=Actor.staff(officer))
    return request, token_issue(request=request, purpose=TokenPurpose.STATUS, at=APPROVED)


def _status(client: Client, token: str) -> str:
    response = client.get(reverse("requests_app:request_status", args=[token]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_status_page_offers_to_cancel_during_the_grace_period(
    client: Client, scheduled: tuple[SubjectRequest, str]
) -> None:
    _request, token = scheduled
    with time_machine.travel(APPROVED + timedelta(days=1), tick=False):
        page = _status(client, token)

    assert 'id="erasure-cancel"' in page
    assert reverse("erasure:erasure_cancel", args=[token]) in page
    assert "Your data will be erased after" in page


def test_cancelling_withdraws_the_request_and_says_nothing_was_erased(
    client: Client, scheduled: tuple[SubjectRequest, str]
) -> None:
    request, token = scheduled
    with time_machine.travel(APPROVED + timedelta(days=1), tick=False):
        response = client.post(reverse("erasure:erasure_cancel", args=[token]), follow=True)

    page = response.content.decode()
    request.refresh_from_db()
    assert response.redirect_chain[-1][0] == reverse("requests_app:request_status", args=[token])
    assert request.status == RequestStatus.WITHDRAWN
    assert ErasureSchedule.objects.get().status == ErasureStatus.CANCELLED
    assert "The erasure is cancelled and your request withdrawn" in page
    assert 'id="erasure-cancel"' not in page
    with time_machine.travel(APPROVED + timedelta(days=8), tick=False):
        assert erasures_start_due(dispatch=False) == []


def test_after_the_grace_period_the_page_no_longer_offers_it_and_a_forced_post_is_refused(
    client: Client, scheduled: tuple[SubjectRequest, str]
) -> None:
    request, token = scheduled
    with time_machine.travel(APPROVED + timedelta(days=7, minutes=1), tick=False):
        page = _status(client, token)
        response = client.post(reverse("erasure:erasure_cancel", args=[token]), follow=True)

    assert 'id="erasure-cancel"' not in page
    assert "This erasure can no longer be cancelled." in response.content.decode()
    request.refresh_from_db()
    assert request.status == RequestStatus.IN_PROGRESS


def test_a_wrong_link_gets_the_link_not_valid_page_and_a_get_is_not_allowed(
    client: Client, scheduled: tuple[SubjectRequest, str]
) -> None:
    _request, token = scheduled

    wrong = client.post(reverse("erasure:erasure_cancel", args=["x" * 43]))
    get = client.get(reverse("erasure:erasure_cancel", args=[token]))

    assert wrong.status_code == 404
    assert "This link does not work" in wrong.content.decode()
    assert get.status_code == 405
    assert ErasureSchedule.objects.get().status == ErasureStatus.SCHEDULED


def test_a_request_without_an_erasure_shows_no_erasure_block(
    client: Client, zpos: Organization
) -> None:
    request: SubjectRequest = ConfirmedRequestFactory.create(organization=zpos)
    token = token_issue(request=request, purpose=TokenPurpose.STATUS)

    assert 'id="erasure"' not in _status(client, token)
