"""Shared set-up of the tracker's tests: an organisation whose policy offers rights; tasks eager.

Each tracker test package's conftest imports the fixtures it needs from here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache
from django.utils import timezone

from config.celery import app as celery_app
from policies.models import ClockStart, Organization, PolicyVersion, RequestType
from policies.services import policy_version_publish
from requests_app.intake import SubjectDetails, request_submit
from requests_app.models import SubjectRequest
from tests.factories import OrganizationFactory, PolicyVersionFactory, RequestTypeRuleFactory

LINK = re.compile(r"https?://[^\s\"<>]+/privacy/requests/(confirm|status)/([A-Za-z0-9_-]+)/")


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    # Rate-limit counters live in Redis and would otherwise carry over from one test to the next.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _plain_http(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture(autouse=True)
def _tasks_run_in_process() -> Iterator[None]:
    # These tests call the tasks in the test process; the real worker has its own test.
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_eager_propagates = False


def publish_version(
    organization: Organization, rules: dict[str, dict[str, Any]], *, label: str = "v1"
) -> PolicyVersion:
    """Publish a version (in force since a year ago) offering ``rules`` by request type."""
    version: PolicyVersion = PolicyVersionFactory.create(
        policy__organization=organization, version_label=label
    )
    for request_type, options in rules.items():
        RequestTypeRuleFactory(version=version, request_type=request_type, **options)
    # A test version offers its own rights: whatever an earlier one offered is dropped on purpose.
    return policy_version_publish(
        version=version, at=timezone.now() - timedelta(days=365), reason="A test version."
    )


@pytest.fixture
def organization(db: None) -> Organization:
    created: Organization = OrganizationFactory.create(
        slug="beshqozon", name="BESHQOZON", time_zone="Asia/Tashkent"
    )
    return created


@pytest.fixture
def version(organization: Organization) -> PolicyVersion:
    """Access, correction, deletion and complaint offered; objection listed but not offered."""
    return publish_version(
        organization,
        {
            RequestType.ACCESS: {"response_period": 30},
            RequestType.CORRECTION: {
                "response_period": 30,
                "clock_starts": ClockStart.VERIFICATION,
                "pauses_while_on_hold": True,
            },
            RequestType.DELETION: {"response_period": 1, "response_unit": "months"},
            RequestType.COMPLAINT: {"response_period": 30, "clock_starts": ClockStart.RECEIPT},
            RequestType.OBJECTION: {"offered": False},
        },
    )


def file_request(
    version: PolicyVersion,
    request_type: str = RequestType.ACCESS,
    *,
    email: str = "subject@example.com",
    language: str = "en",
) -> SubjectRequest:
    """File a request through the intake service, as the form does."""
    rule = version.request_type_rules.get(request_type=request_type)
    result = request_submit(
        organization=version.policy.organization,
        version=version,
        rule=rule,
        subject=SubjectDetails(email=email, name="Dilnoza Karimova"),
        language=language,
    )
    return result.request


def links_in_outbox(kind: str) -> list[str]:
    """Return the tokens of every ``kind`` ("confirm" or "status") link mailed so far."""
    return [
        token
        for message in mail.outbox
        for found, token in LINK.findall(str(message.body))
        if found == kind
    ]
