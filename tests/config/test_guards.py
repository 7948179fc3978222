"""Input no page can use is refused at the edge: a 400 for a NUL, a 413 page for a huge body."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from policies.models import Organization, RequestType
from requests_app.models import SubjectRequest
from tests.factories import OrganizationFactory
from tests.tracker import publish_version

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_http(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture
def organization() -> Organization:
    created: Organization = OrganizationFactory.create(slug="beshqozon")
    publish_version(created, {RequestType.ACCESS: {}})
    return created


@pytest.mark.parametrize(
    "path",
    [
        "/admin/requests_app/subjectrequest/?status__exact=%00",
        "/admin/requests_app/subjectrequest/?q=a%00b",
        "/admin/requests_app/subjectrequest/?%00=1",
        "/admin/exports/exportpackage/?status__exact=%00",
        "/admin/requests_app/subjectrequest/%00/change/",
    ],
)
def test_a_nul_in_an_admin_address_or_filter_is_400_not_a_database_error(
    admin_client: Client, path: str
) -> None:
    response = admin_client.get(path)

    assert response.status_code == 400


def test_a_nul_in_a_public_pages_query_string_is_400(
    client: Client, organization: Organization
) -> None:
    response = client.get("/privacy/beshqozon/request/?type=access%00")

    assert response.status_code == 400


def test_the_admin_filters_still_work_without_a_nul(admin_client: Client) -> None:
    response = admin_client.get("/admin/requests_app/subjectrequest/?status__exact=verified")

    assert response.status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "created_at__year=999999999999999999999999999999",
        "created_at__year=9999",
        "created_at__year=9998&created_at__month=12&created_at__day=99999999999",
    ],
)
def test_an_impossible_date_in_an_admin_date_hierarchy_is_400_not_an_overflow(
    admin_client: Client, query: str
) -> None:
    response = admin_client.get(f"/admin/pos/account/?{query}")

    assert response.status_code == 400


def test_a_possible_date_in_an_admin_date_hierarchy_still_filters(admin_client: Client) -> None:
    year = admin_client.get("/admin/pos/account/?created_at__year=9998")
    day = admin_client.get(
        "/admin/pos/account/?created_at__year=2026&created_at__month=2&created_at__day=28"
    )

    assert (year.status_code, day.status_code) == (200, 200)


def test_a_form_too_large_to_read_is_answered_413_with_a_page_saying_so(
    client: Client, organization: Organization, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = client.post(
        "/privacy/beshqozon/request/",
        {"request_type": "access", "email": "s@example.com", "name": "x" * 2000},
    )

    assert response.status_code == 413
    assert "What you sent is too large" in response.content.decode()
    assert not SubjectRequest.objects.exists()


def test_other_bad_requests_keep_djangos_400(
    client: Client, organization: Organization, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 2

    response = client.post("/privacy/beshqozon/request/", {"a": "1", "b": "2", "c": "3"})

    assert response.status_code == 400
