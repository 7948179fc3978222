"""Staff API tokens: hashed, named, expiring, revocable, their last use noted."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from importlib import import_module
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from staff_auth.models import ApiToken
from staff_auth.tokens import api_token_issue
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

QUEUE = "/api/v1/staff/requests/"


def _call(key: str) -> Any:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api.get(QUEUE)


def test_a_new_token_works_and_the_table_holds_no_usable_key(officer: User) -> None:
    token, key = api_token_issue(user=officer, name="ticketing system", days=30)

    assert _call(key).status_code == 200
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert key not in {str(value) for value in stored.values()}
    assert stored["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert key.startswith(stored["key_hint"])
    # What the table holds does not sign in.
    assert _call(stored["key_hash"]).status_code == 401
    assert _call(stored["key_hint"]).status_code == 401


def test_an_expired_token_is_refused(officer: User) -> None:
    _token, key = api_token_issue(user=officer, name="ticketing", days=1)

    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=-1), tick=False):
        assert _call(key).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=1), tick=False):
        response = _call(key)

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_token_revoked_in_the_admin_is_refused(officer: User) -> None:
    token, key = api_token_issue(user=officer, name="ticketing", days=30)
    _kept, kept_key = api_token_issue(user=officer, name="reporting", days=30)
    staff = Client()
    staff.force_login(officer)

    response = staff.post(
        reverse("admin:staff_auth_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
        follow=True,
    )

    assert "Revoked 1 API token" in response.content.decode()
    assert _call(key).status_code == 401
    assert _call(kept_key).status_code == 200


def test_the_token_of_a_deactivated_user_is_refused(officer: User) -> None:
    _token, key = api_token_issue(user=officer, name="ticketing", days=30)
    officer.is_active = False
    officer.save()

    assert _call(key).status_code == 401


def test_each_use_notes_the_time_to_the_minute(officer: User) -> None:
    token, key = api_token_issue(user=officer, name="ticketing", days=30)
    start = timezone.now()
    assert token.last_used_at is None

    with time_machine.travel(start, tick=False):
        _call(key)
    token.refresh_from_db()
    assert token.last_used_at == start

    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        _call(key)
    token.refresh_from_db()
    assert token.last_used_at == start  # not a write per call

    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        _call(key)
    token.refresh_from_db()
    assert token.last_used_at == start + timedelta(minutes=2)


def test_a_token_is_valid_for_one_day_to_the_maximum(officer: User, settings: Any) -> None:
    settings.API_TOKEN_MAX_DAYS = 365
    with pytest.raises(ValueError, match="1 to 365 days"):
        api_token_issue(user=officer, name="forever", days=366)
    with pytest.raises(ValueError, match="1 to 365 days"):
        api_token_issue(user=officer, name="never", days=0)


def test_a_superuser_adds_a_token_in_the_admin_and_sees_its_key_once(officer: User) -> None:
    root = StaffUserFactory.create(username="root", is_superuser=True, password=None)
    staff = Client()
    staff.force_login(root)

    response = staff.post(
        reverse("admin:staff_auth_apitoken_add"),
        {"user": officer.pk, "name": "ticketing system", "days": 10},
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    key = response.context["key"]
    assert key in response.content.decode()
    assert (token.user, token.name) == (officer, "ticketing system")
    assert token.expires_at == token.created_at + timedelta(days=10)
    assert _call(key).status_code == 200
    change = staff.get(reverse("admin:staff_auth_apitoken_change", args=[token.pk]))
    assert key not in change.content.decode()


def test_an_officer_cannot_issue_tokens(officer: User) -> None:
    staff = Client()
    staff.force_login(officer)

    assert staff.get(reverse("admin:staff_auth_apitoken_add")).status_code == 403


def test_the_command_prints_a_key_that_works(officer: User) -> None:
    out = StringIO()

    call_command("create_api_token", "officer", "--name", "walkthrough", "--days", "7", stdout=out)

    key = out.getvalue().strip()
    assert _call(key).status_code == 200
    assert ApiToken.objects.get().name == "walkthrough"
    with pytest.raises(CommandError, match="no user named"):
        call_command("create_api_token", "nobody", "--name", "x")


def test_plaintext_drf_tokens_are_hashed_keep_working_and_are_deleted(
    officer: User, settings: Any
) -> None:
    settings.API_TOKEN_DAYS = 90
    old_key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        # The table DRF's authtoken app made, as an install from before staff_auth has it.
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "created timestamp with time zone NOT NULL, user_id integer NOT NULL UNIQUE)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)",
            [old_key, timezone.now() - timedelta(days=400), officer.pk],
        )

    migration = import_module("staff_auth.migrations.0002_drf_tokens_hashed")
    migration.hash_drf_tokens(apps, SimpleNamespace(connection=connection))

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)
    token = ApiToken.objects.get()
    assert token.name == "API token (before hashing)"
    assert token.key_hash == hashlib.sha256(old_key.encode()).hexdigest()
    assert token.expires_at - timezone.now() > timedelta(days=89)
    assert _call(old_key).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=90), tick=False):
        assert _call(old_key).status_code == 401
