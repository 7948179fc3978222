"""The staff log-in lockout: per username at an address, per address, lifted by officers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from staff_auth.models import FailedLogin
from staff_auth.tokens import api_token_issue
from tests.factories import StaffUserFactory
from tests.staff_auth.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
HOME = "203.0.113.10"
ELSEWHERE = "198.51.100.20"


@pytest.fixture
def alice(db: None) -> User:
    user: User = StaffUserFactory.create(username="alice")  # password: PASSWORD
    return user


def _log_in(username: str, password: str, *, address: str = HOME) -> Any:
    return Client(REMOTE_ADDR=address).post(LOGIN, {"username": username, "password": password})


def _logged_in(response: Any) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


def _fail(username: str, times: int, *, address: str = HOME) -> list[int]:
    return [_log_in(username, "wrong", address=address).status_code for _ in range(times)]


def test_five_wrong_passwords_lock_the_admin_log_in_and_then_the_right_one_fails(
    alice: User, settings: Any
) -> None:
    assert settings.AXES_FAILURE_LIMIT == 5

    assert _fail("alice", 5) == [200, 200, 200, 200, 429]
    response = _log_in("alice", PASSWORD)

    assert response.status_code == 429
    assert not _logged_in(response)
    assert int(response["Retry-After"]) == 30 * 60
    assert "Logging in from here is paused for 30 minutes" in response.content.decode()


def test_the_lockout_ends_when_the_cool_off_is_over(alice: User) -> None:
    _fail("alice", 5)

    with time_machine.travel(timezone.now() + timedelta(minutes=29), tick=False):
        assert _log_in("alice", PASSWORD).status_code == 429
    # Each attempt in the lockout starts the cool-off again.
    with time_machine.travel(timezone.now() + timedelta(minutes=29 + 31), tick=False):
        assert _logged_in(_log_in("alice", PASSWORD))


def test_the_lockout_page_does_not_tell_whether_the_account_exists(alice: User) -> None:
    _fail("alice", 5)
    _fail("nobody", 5)

    known = _log_in("alice", "wrong")
    unknown = _log_in("nobody", "wrong")

    assert known.status_code == unknown.status_code == 429
    assert known.content == unknown.content
    assert b"alice" not in known.content


def test_the_lock_holds_the_username_at_its_address_only(alice: User) -> None:
    _fail("alice", 5)

    assert _logged_in(_log_in("alice", PASSWORD, address=ELSEWHERE))
    bob = StaffUserFactory.create(username="bob")
    assert _logged_in(_log_in(bob.username, PASSWORD))


def test_an_address_with_too_many_failures_is_locked_for_every_username(
    alice: User, settings: Any
) -> None:
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 8
    _fail("carol", 4)
    _fail("dave", 4)

    assert _log_in("alice", PASSWORD).status_code == 429
    assert _logged_in(_log_in("alice", PASSWORD, address=ELSEWHERE))


def test_a_successful_log_in_forgets_its_own_failures_only(alice: User) -> None:
    _fail("alice", 4)
    _fail("mallory", 4)

    assert _logged_in(_log_in("alice", PASSWORD))

    assert not FailedLogin.objects.filter(username="alice").exists()
    assert FailedLogin.objects.get(username="mallory").failures_since_start == 4
    assert _fail("alice", 4) == [200, 200, 200, 200]


def test_an_officer_sees_the_lockout_and_lifts_it(alice: User, officer: User) -> None:
    _fail("alice", 5)
    staff = Client()
    staff.force_login(officer)
    changelist = reverse("admin:staff_auth_failedlogin_changelist")

    page = staff.get(changelist)
    assert page.status_code == 200
    assert "this username at this address" in page.content.decode()

    attempt = FailedLogin.objects.get(username="alice")
    response = staff.post(
        changelist, {"action": "unlock", "_selected_action": [attempt.pk]}, follow=True
    )

    assert "Forgot 1 failed log-in." in response.content.decode()
    assert not FailedLogin.objects.exists()
    assert _logged_in(_log_in("alice", PASSWORD))


def test_an_auditor_sees_failed_log_ins_but_cannot_unlock(alice: User, auditor: User) -> None:
    _fail("alice", 5)
    staff = Client()
    staff.force_login(auditor)
    changelist = reverse("admin:staff_auth_failedlogin_changelist")
    attempt = FailedLogin.objects.get(username="alice")

    assert staff.get(changelist).status_code == 200
    staff.post(changelist, {"action": "unlock", "_selected_action": [attempt.pk]})

    assert FailedLogin.objects.filter(pk=attempt.pk).exists()
    assert _log_in("alice", PASSWORD).status_code == 429


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", '{"assignee": null}'),  # no boundary: unparsable
        ("multipart/form-data; boundary=x", "--x\r\nbroken"),
        ("application/x-www-form-urlencoded", "a=" + "b" * 3_000_000),  # over the limit
    ],
)
def test_a_wrong_token_counts_whatever_body_it_comes_with(
    officer: User, content_type: str, body: str
) -> None:
    api = APIClient(REMOTE_ADDR=HOME)
    api.credentials(HTTP_AUTHORIZATION="Token dsr_guessed")
    url = "/api/v1/staff/requests/DSR-2026-000123/assign/"

    statuses = [
        api.generic("POST", url, body, content_type=content_type).status_code for _ in range(5)
    ]

    assert statuses == [401, 401, 401, 401, 429]
    kept = FailedLogin.objects.get(ip_address=HOME).post_data
    assert not kept.replace("-", "").strip()  # axes' separators only: nothing of the body


def test_wrong_api_tokens_lock_the_address_out_of_the_api(officer: User) -> None:
    _token, key = api_token_issue(user=officer, name="ticketing", days=30)
    api = APIClient(REMOTE_ADDR=HOME)
    api.credentials(HTTP_AUTHORIZATION="Token dsr_guessed")

    statuses = [api.get("/api/v1/staff/requests/").status_code for _ in range(5)]
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    locked = api.get("/api/v1/staff/requests/")

    assert statuses == [401, 401, 401, 401, 429]
    assert locked.status_code == 429
    assert locked.json()["code"] == "throttled"
    assert 0 < int(locked["Retry-After"]) <= 30 * 60
    other = APIClient(REMOTE_ADDR=ELSEWHERE)
    other.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert other.get("/api/v1/staff/requests/").status_code == 200
