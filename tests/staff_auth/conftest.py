"""Fixtures of the staff sign-in tests: plain HTTP, and staff in each role."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from requests_app.roles import AUDITORS, OFFICERS
from tests.factories import StaffUserFactory
from tests.tracker import _fresh_rate_limits, _plain_http

__all__ = ["_fresh_rate_limits", "_plain_http", "auditor", "officer"]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def officer(db: None) -> User:
    user: User = StaffUserFactory.create(username="officer", roles=[OFFICERS], password=None)
    return user


@pytest.fixture
def auditor(db: None) -> User:
    user: User = StaffUserFactory.create(username="auditor", roles=[AUDITORS], password=None)
    return user
