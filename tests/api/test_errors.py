"""Errors: one shape, the right status, and never a stack trace."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from rest_framework.test import APIClient

from api.errors import exception_handler, field_errors
from api.parsers import MAX_DEPTH
from policies.models import PolicyVersion, RequestType
from requests_app.workflow import request_mark_verified
from tests.api.conftest import CommittingClient, as_user
from tests.tracker import file_request


def test_an_unexpected_error_is_a_500_that_tells_nothing_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        response = exception_handler(RuntimeError("password=hunter2"), {"view": None})

    assert response.status_code == 500
    assert response.data == {
        "code": "server_error",
        "detail": "Something went wrong on our side.",
    }
    assert "hunter2" in caplog.text


def test_nested_field_errors_become_dotted_paths() -> None:
    detail = {
        "subject_identities": [{}, {"identity_type": ["Not supported."]}],
        "non_field_errors": ["Bad."],
        "email": ["Enter a valid email address."],
    }

    assert field_errors(detail) == {
        "subject_identities.1.identity_type": ["Not supported."],
        "non_field_errors": ["Bad."],
        "email": ["Enter a valid email address."],
    }


@pytest.mark.django_db
def test_an_unknown_path_under_the_api_is_a_json_404(api: CommittingClient) -> None:
    response = api.post("/api/v1/nothing/here/", {})

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


@pytest.mark.django_db
def test_an_unknown_path_under_v1_is_a_signed_opendsr_404(api: CommittingClient) -> None:
    response = api.get("/v1/status")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404
    assert response["X-OpenDSR-Signature"]


# --- Hostile input: a 4xx in the error shape, never a 500 -------------------------------------


@pytest.fixture
def small_uploads(settings: Any) -> int:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    return 1000


def _oversized(client: APIClient, path: str) -> Any:
    return client.post(path, json.dumps({"name": "x" * 2000}), content_type="application/json")


@pytest.mark.django_db
def test_a_body_over_the_upload_limit_is_413_on_the_public_and_staff_endpoints(
    api: CommittingClient, version: PolicyVersion, officer: User, small_uploads: int
) -> None:
    request = request_mark_verified(request=file_request(version, RequestType.ACCESS))
    staff = as_user(officer)

    public = _oversized(api, reverse("api:request_file", args=["beshqozon"]))
    hold = _oversized(staff, reverse("api:staff_hold", args=[request.reference]))

    for response in (public, hold):
        assert response.status_code == 413
        assert response.json() == {
            "code": "payload_too_large",
            "detail": "The request body is too large.",
        }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/staff/requests/%00/",
        "/api/v1/staff/requests/%00/start/",
        "/api/v1/staff/requests/%00/hold/",
        "/api/v1/staff/requests/DSR%01/",
        "/api/v1/staff/requests/DSR-2026-000001-and-far-too-long/",
    ],
)
def test_a_reference_that_cannot_be_one_is_404_before_any_query(
    officer: User, path: str, django_assert_num_queries: Any
) -> None:
    staff = as_user(officer)

    with django_assert_num_queries(0):
        response = (
            staff.post(path, {"question": "?"}) if path.endswith("hold/") else staff.get(path)
        )

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nested too deeply"),
        (b'{"name": "\\ud800"}', "unpaired surrogate"),
        (b'{"\\udfff": 1}', "unpaired surrogate"),
        (b'{"name": "\xff\xfe"}', "JSON parse error"),
    ],
)
def test_json_the_api_cannot_use_is_400(
    api: CommittingClient, version: PolicyVersion, body: bytes, detail: str
) -> None:
    response = api.post(
        reverse("api:request_file", args=["beshqozon"]), body, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert detail in response.json()["detail"]


@pytest.mark.django_db
def test_json_nested_up_to_the_limit_is_parsed(
    api: CommittingClient, version: PolicyVersion
) -> None:
    nested: Any = "x"
    for _level in range(MAX_DEPTH - 1):
        nested = [nested]

    response = api.post(
        reverse("api:request_file", args=["beshqozon"]),
        {"request_type": "access", "name": nested},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
