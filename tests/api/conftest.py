"""Shared set-up for the API tests: a client, and staff in each role with an API token."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from requests_app.roles import AGENTS, AUDITORS, OFFICERS
from staff_auth.tokens import api_token_issue
from tests.factories import StaffUserFactory
from tests.tracker import (
    _fresh_rate_limits,
    _plain_http,
    _tasks_run_in_process,
    organization,
    version,
)


class CommittingClient(APIClient):
    """A client whose every call ends like a real request's transaction: with a commit.

    The tests run inside a transaction that is rolled back, so what the code queues for after
    the commit (emails, callbacks) would otherwise never run.
    """

    capture: Callable[..., AbstractContextManager[Any]]

    def request(self, *args: Any, **kwargs: Any) -> Any:
        with type(self).capture(execute=True):
            return super().request(*args, **kwargs)


@pytest.fixture(autouse=True)
def _commit_after_each_call(django_capture_on_commit_callbacks: Any) -> None:
    CommittingClient.capture = staticmethod(django_capture_on_commit_callbacks)


@pytest.fixture
def api() -> APIClient:
    return CommittingClient()


def _staff(username: str, role: str) -> User:
    # They sign in with tokens: an unusable password spares the deliberately slow hashing.
    user: User = StaffUserFactory.create(username=username, roles=[role], password=None)
    return user


@pytest.fixture
def officer(db: None) -> User:
    return _staff("officer", OFFICERS)


@pytest.fixture
def agent(db: None) -> User:
    return _staff("agent", AGENTS)


@pytest.fixture
def auditor(db: None) -> User:
    return _staff("auditor", AUDITORS)


def as_user(user: User) -> APIClient:
    """A client that signs in as ``user`` with an API token, as a system would."""
    client = CommittingClient()
    _token, key = api_token_issue(user=user, name="tests", days=1)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def errors_of(response: Any) -> dict[str, list[str]]:
    body: dict[str, Any] = response.json()
    assert set(body) <= {"code", "detail", "errors"}, body
    errors: dict[str, list[str]] = body.get("errors", {})
    return errors
