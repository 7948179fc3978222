"""Errors: one shape, the right status, and never a stack trace."""

from __future__ import annotations

import logging

import pytest

from api.errors import exception_handler, field_errors
from tests.api.conftest import CommittingClient


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
