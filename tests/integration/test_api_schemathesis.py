"""Schemathesis against the OpenAPI schema: every operation, in-process through the WSGI app.

For each operation in ``/api/schema/`` (the REST API and the OpenDSR endpoints) Hypothesis
generates requests from the schema, and every answer must be no server error, with a status
code, content type, headers and body the schema documents. Staff operations run as a privacy
officer (token), OpenDSR ones as a registered controller (API key); a request whose reference is
the schema's example exists, so the actions meet a real record as well as unknown ones. The
staff and OpenDSR operations run again as an agent, an auditor, with a wrong, an expired and no
credential.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.staff import REFERENCE_EXAMPLE
from policies.models import RequestType
from requests_app.roles import AGENTS, AUDITORS, OFFICERS
from staff_auth.tokens import api_token_issue
from tests.factories import (
    ControllerFactory,
    OrganizationFactory,
    StaffUserFactory,
    SubjectRequestFactory,
)
from tests.tracker import publish_version

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
UNLIMITED = "100000/min"


@pytest.fixture
def credentials(settings: Any) -> Iterator[dict[str, str]]:
    settings.SECURE_SSL_REDIRECT = False
    settings.OPENDSR_CALLBACK_ALLOW_HTTP = True
    # The limits are tested on their own; here they would only end each run early.
    settings.RATELIMIT_REQUEST_PER_IP = settings.RATELIMIT_REQUEST_PER_EMAIL = UNLIMITED
    settings.RATELIMIT_LINK_OPEN_PER_IP = UNLIMITED
    # Nor may cases with wrong credentials lock the officer's token out (staff_auth.lockout).
    settings.AXES_FAILURE_LIMIT = settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 100_000
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"public": UNLIMITED, "user": UNLIMITED, "opendsr": UNLIMITED},
    }
    cache.clear()
    # The WSGI app runs inside the test's transaction; Django's own test client stops it from
    # closing the connection at the end of each request in the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    organization = OrganizationFactory.create(slug="zpos", name="ZPos System")
    version = publish_version(
        organization,
        {
            RequestType.ACCESS: {"max_extension": 30},
            RequestType.PORTABILITY: {},
            RequestType.DELETION: {},
        },
    )
    SubjectRequestFactory.create(
        reference=REFERENCE_EXAMPLE,
        rule=version.request_type_rules.get(request_type=RequestType.ACCESS),
        status="verified",
    )
    for extra in range(3):
        SubjectRequestFactory.create(
            reference=f"DSR-2099-90000{extra}",
            rule=version.request_type_rules.get(request_type=RequestType.DELETION),
            status="verified",
        )
    staff = {
        role: StaffUserFactory.create(username=role, roles=[group], password=None)
        for role, group in (("officer", OFFICERS), ("agent", AGENTS), ("auditor", AUDITORS))
    }
    expired = api_token_issue(user=staff["officer"], name="expired", days=1)
    expired[0].expires_at = expired[0].created_at
    expired[0].save(update_fields=["expires_at"])
    controller = ControllerFactory.create(organization=organization, callback_hosts="127.0.0.1")
    try:
        yield {
            **{
                role: api_token_issue(user=user, name=f"schemathesis {role}", days=1)[1]
                for role, user in staff.items()
            },
            "expired": expired[1],
            "wrong": "dsr_" + "A" * 43,
            "controller_key": controller.api_key,
        }
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        cache.clear()


@pytest.fixture
def app(credentials: dict[str, str]) -> WSGIHandler:
    # A handler of its own: middleware reads the settings (the HTTPS redirect) when it is built.
    return WSGIHandler()


def _served_schema() -> dict[str, Any]:
    """The schema /api/schema/ serves (same generator and renderer), built at collection time.

    Collection happens outside any test, where the database may not be touched; building the
    schema needs none. test_schema.py checks that the endpoint serves this very document.
    """
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded: dict[str, Any] = json.loads(OpenApiJsonRenderer().render(document))
    return loaded


schema = schemathesis.openapi.from_dict(_served_schema())


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_answers_as_its_schema_says_and_never_fails(
    case: schemathesis.Case, app: WSGIHandler, credentials: dict[str, str]
) -> None:
    case.call_and_validate(app=app, checks=CHECKS, **_call(case, credentials, "officer"))


def _call(case: schemathesis.Case, credentials: dict[str, str], who: str) -> dict[str, Any]:
    """The headers of ``who`` (a role's token, or a wrong, expired or missing one) for the call."""
    headers = {}
    if case.path.startswith("/api/v1/staff/") and who != "none":
        headers["Authorization"] = f"Token {credentials[who]}"
    elif case.path.startswith("/v1/requests"):
        key = credentials["controller_key"] if who in ("officer", "agent", "auditor") else "x" * 40
        if who != "none":
            headers["Authorization"] = f"Bearer {key}"
    # A WSGI server always names the client's address; the in-process client does not.
    return {"headers": headers, "environ_base": {"REMOTE_ADDR": "203.0.113.7"}}


@schema.include(path_regex=r"^/api/v1/staff/|^/v1/requests").parametrize()
@pytest.mark.parametrize("who", ["agent", "auditor", "wrong", "expired", "none"])
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_protected_operation_answers_each_role_and_bad_credential_as_documented(
    case: schemathesis.Case, who: str, app: WSGIHandler, credentials: dict[str, str]
) -> None:
    response = case.call_and_validate(app=app, checks=CHECKS, **_call(case, credentials, who))

    if who in ("wrong", "expired", "none"):
        # Without a valid credential nothing is answered but "who are you?", except for an
        # address that does not exist (a generated reference the URLs refuse): the API's 404.
        match = resolve(unquote(urlsplit(response.request.url).path))
        expected = 404 if match.url_name == "not_found" else 401
        assert response.status_code == expected, (response.request.url, response.text)
