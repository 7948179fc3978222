"""A hostile corpus replayed against every URL the project serves: nothing answers 500.

Every route of the URL configuration is enumerated (the public pages, the REST API, the OpenDSR
endpoints, the admin), its parameters filled with a valid value and with hostile ones (NUL,
control characters, invalid UTF-8, a direction override, a very long value), and called with
every method; the ones that take a body also get the body corpus: over the upload limit, nested
too deeply, NUL, control characters, unpaired surrogates, invalid UTF-8, the wrong content type.
Every admin change list is also asked for each of its filters with hostile values. Staff
endpoints are called with a token, OpenDSR ones with a controller's key, admin pages logged in
as a superuser; bad credentials get their own round.

All failures are collected and reported together, so one run shows every 500 at once.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from api.staff import REFERENCE_EXAMPLE
from policies.models import RequestType
from requests_app.roles import OFFICERS
from staff_auth.tokens import api_token_issue
from tests.factories import (
    ControllerFactory,
    OrganizationFactory,
    StaffUserFactory,
    SubjectRequestFactory,
)
from tests.tracker import publish_version

pytestmark = pytest.mark.django_db

UNLIMITED = "1000000/min"
UPLOAD_LIMIT = 20_000  # DATA_UPLOAD_MAX_MEMORY_SIZE for the run: "too large" without 2.5 MB each

# Path parameter values, already percent-encoded as they travel in an address.
HOSTILE_PATH_VALUES = (
    "%00",
    "a%01b%7f",
    "%ff%fe%c0%80",  # invalid UTF-8
    "%E2%80%AEtxt",  # a right-to-left override
    "%ED%A0%80",  # a surrogate, encoded as UTF-8 (invalid)
    "x" * 3000,
)
HOSTILE_QUERY = (
    "?%00=%00&q=%00&o=%00&p=%00&status=%00&type=%00&lang=%00&cursor=%00&organization=%00"
    "&assignee=%ff&due_before=%01&overdue=%00&request_type=%E2%80%AE"
)
# Names the views read from a body; every value of a hostile body is set under each.
FIELDS = (
    "request_type",
    "email",
    "name",
    "account_identifier",
    "phone",
    "description",
    "about",
    "on_behalf_subject_name",
    "subject_email",
    "subject_phone",
    "subject_account_identifier",
    "subject_date_of_birth",
    "authorisation_base64",
    "authorisation_filename",
    "correction_field",
    "correction_value",
    "complaint_text",
    "confirm_deletion",
    "language",
    "question",
    "reason",
    "reason_code",
    "outcome",
    "amount",
    "assignee",
    "regulation",
    "subject_request_id",
    "subject_request_type",
    "subject_identities",
    "submitted_time",
    "api_version",
    "status_callback_urls",
    "extensions",
    "website",
    "csrfmiddlewaretoken",
)


def _json_with(value: str) -> bytes:
    body: dict[str, Any] = dict.fromkeys(FIELDS, value)
    body["subject_identities"] = [
        {"identity_type": t, "identity_value": value, "identity_format": "raw"}
        for t in ("email", "controller_customer_id")
    ]
    return json.dumps(body).encode()


def _form_with(value: str) -> bytes:
    return "&".join(f"{name}={value}" for name in FIELDS).encode()


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
# (what, content type, body)
BODIES: tuple[tuple[str, str, bytes], ...] = (
    ("over the upload limit, JSON", JSON, json.dumps({"name": "x" * UPLOAD_LIMIT}).encode()),
    ("over the upload limit, form", FORM, b"name=" + b"x" * UPLOAD_LIMIT),
    ("nested a million deep", JSON, b"[" * 1_000_000 + b"]" * 1_000_000),
    ("nested 100 deep", JSON, b'{"a":' * 100 + b"1" + b"}" * 100),
    ("NUL", JSON, _json_with("\x00")),
    ("control characters", JSON, _json_with("\x01\x1b[31m\x7f\r\n")),
    ("direction override and zero-width", JSON, _json_with("abc\u202edef\u200b")),
    ("unpaired surrogate", JSON, b'{"name": "\\ud800", "\\udfff": "\\udc00x"}'),
    ("invalid UTF-8", JSON, b'{"name": "\xff\xfe\xc0\x80"}'),
    ("not an object", JSON, b'["x", null, 1e999]'),
    ("not JSON", JSON, b"{'name': nope"),
    ("NaN", JSON, b'{"amount": NaN}'),
    ("form with NUL", FORM, _form_with("%00")),
    ("form with invalid UTF-8", FORM, _form_with("%ff%fe")),
    ("form with too many fields", FORM, b"&".join(b"f%d=1" % n for n in range(2000))),
    ("text", "text/plain", b"hello\x00"),
    ("XML", "application/xml", b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>"),
    ("multipart without a boundary", "multipart/form-data", b"--x\r\n\r\n"),
    (
        "multipart with a broken part",
        "multipart/form-data; boundary=B",
        b'--B\r\nContent-Disposition: form-data; name="name"\r\n\r\n\x00\r\n--B',
    ),
    ("charset the server does not know", "application/json; charset=x-nope", b"{}"),
)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def _routes(resolver: URLResolver, prefix: str = "") -> Iterator[str]:
    """Every route of ``resolver`` as a ``path()`` string; a regex route by a path it serves."""
    for entry in resolver.url_patterns:
        pattern = entry.pattern
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + str(pattern))
        elif isinstance(entry, URLPattern):
            if isinstance(pattern, RoutePattern):
                yield prefix + str(pattern)
            elif str(pattern) in ("", "^"):  # a catch-all answering every other path
                yield prefix + "no/such/path/"
            # The admin's own regex routes (app index, the moved-model redirects) take only
            # names from a fixed list: the catch-all routes above see everything else.


@pytest.fixture
def world(settings: Any) -> dict[str, Any]:
    settings.SECURE_SSL_REDIRECT = False
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_LIMIT
    settings.OPENDSR_CALLBACK_ALLOW_HTTP = True
    settings.RATELIMIT_REQUEST_PER_IP = settings.RATELIMIT_REQUEST_PER_EMAIL = UNLIMITED
    settings.RATELIMIT_LINK_OPEN_PER_IP = UNLIMITED
    # Nor may the round of bad credentials lock anyone out (staff_auth.lockout).
    settings.AXES_FAILURE_LIMIT = settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 1_000_000
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"public": UNLIMITED, "user": UNLIMITED, "opendsr": UNLIMITED},
    }
    cache.clear()
    organization = OrganizationFactory.create(slug="zpos")
    version = publish_version(
        organization,
        {RequestType.ACCESS: {"max_extension": 30}, RequestType.DELETION: {}},
    )
    request = SubjectRequestFactory.create(
        reference=REFERENCE_EXAMPLE,
        rule=version.request_type_rules.get(request_type=RequestType.ACCESS),
        status="verified",
    )
    officer = StaffUserFactory.create(username="officer", roles=[OFFICERS], password=None)
    superuser = User.objects.create_superuser("root", "root@example.com", password=None)
    controller = ControllerFactory.create(organization=organization, callback_hosts="127.0.0.1")
    return {
        "valid": {
            "org_slug": "zpos",
            "reference": REFERENCE_EXAMPLE,
            "pk": str(version.pk),
            "object_id": str(request.pk),
            "subject_request_id": str(uuid.uuid4()),
        },
        "token": api_token_issue(user=officer, name="hostile corpus", days=1)[1],
        "controller_key": controller.api_key,
        "superuser": superuser,
    }


class Caller:
    """Calls paths with the credentials each area needs and collects every 500."""

    def __init__(self, world: dict[str, Any], credentials: str = "good") -> None:
        self.world = world
        self.credentials = credentials
        self.client = Client(raise_request_exception=False)
        if credentials == "good":
            self.client.force_login(world["superuser"])
        self.failures: list[str] = []
        self.calls = 0
        self.signed_in: set[str] = set()  # paths answered past authentication

    def headers(self, path: str) -> dict[str, Any]:
        if self.credentials == "bad":
            kind = "Bearer" if path.startswith("/v1/") else "Token"
            return {"HTTP_AUTHORIZATION": f"{kind} \x00\x01bad-{'x' * 300}"}
        if path.startswith("/api/v1/staff/"):
            return {"HTTP_AUTHORIZATION": f"Token {self.world['token']}"}
        if path.startswith("/v1/"):
            return {"HTTP_AUTHORIZATION": f"Bearer {self.world['controller_key']}"}
        return {}

    def call(self, method: str, path: str, content_type: str = JSON, body: bytes = b"") -> None:
        self.calls += 1
        extra: dict[str, Any] = {"REMOTE_ADDR": "203.0.113.7", **self.headers(path)}
        response = self.client.generic(method, path, data=body, content_type=content_type, **extra)
        if response.status_code not in (401, 403, 429):
            self.signed_in.add(path)
        if response.status_code >= 500:
            exc_info = getattr(response, "exc_info", None)
            error = exc_info[1] if exc_info else None
            self.failures.append(
                f"{method} {path[:120]} [{content_type}] -> {response.status_code} {error!r:.200}"
            )


def _fill(route: str, values: dict[str, str], hostile: str | None = None) -> str:
    def value(match: re.Match[str]) -> str:
        if hostile is not None:
            return hostile
        name, converter = match["name"], match["converter"]
        if name in values:
            return values[name]
        return {"int": "1", "slug": "start", "path": "1"}.get(converter or "str", "no-such-token")

    return "/" + _PARAMETER.sub(value, route)


def test_no_route_answers_500_to_hostile_paths_queries_and_bodies(world: dict[str, Any]) -> None:
    caller = Caller(world)
    # The admin's last: its POSTs may revoke the officer's API token, and the staff endpoints
    # are to be reached signed in.
    routes = sorted(set(_routes(get_resolver())), key=lambda r: (r.startswith("admin/"), r))
    assert len(routes) > 100, "the admin's routes are missing"

    for route in routes:
        valid = _fill(route, world["valid"])
        caller.call("GET", valid + HOSTILE_QUERY)
        if _PARAMETER.search(route):
            for hostile in HOSTILE_PATH_VALUES:
                path = _fill(route, world["valid"], hostile)
                caller.call("GET", path)
                caller.call("POST", path, body=b"{}")
        for method in METHODS[1:]:
            for _what, content_type, body in BODIES:
                # The admin's pages answer every body alike: one method is enough there.
                if method == "POST" or not route.startswith("admin/"):
                    caller.call(method, valid, content_type, body)

    assert not caller.failures, "\n".join(caller.failures)
    # The credentials worked: the corpus reached the views, not only the authentication.
    for area in ("/api/v1/staff/requests/DSR-", "/v1/requests/", "/admin/requests_app/"):
        assert any(path.startswith(area) for path in caller.signed_in), area


def test_bad_credentials_never_answer_500(world: dict[str, Any]) -> None:
    caller = Caller(world, credentials="bad")
    routes = [r for r in sorted(set(_routes(get_resolver()))) if not r.startswith("admin/")]

    for route in routes:
        for method in METHODS:
            caller.call(method, _fill(route, world["valid"]), JSON, b"{}")

    assert not caller.failures, "\n".join(caller.failures)


def _filter_parameters(model_admin: admin.ModelAdmin[Any], user: User) -> set[str]:
    request = RequestFactory().get("/")
    request.user = user
    changelist = model_admin.get_changelist_instance(request)
    names = {"q", "o", "p", "all", "e", "_facets", "_to_field", "_popup"}
    for spec in changelist.filter_specs:
        names.update(name for name in spec.expected_parameters() or [] if name)
    if model_admin.date_hierarchy:
        names.update(f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day"))
    return names


def test_no_admin_change_list_answers_500_to_hostile_filter_values(world: dict[str, Any]) -> None:
    caller = Caller(world)
    values = ("%00", "%01", "%ff%fe", "%E2%80%AE", "%C2%B2", "9" * 30, "9" * 5000, "-1", "x" * 500)
    checked = 0

    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        changelist = f"/admin/{meta.app_label}/{meta.model_name}/"
        for name in sorted(_filter_parameters(model_admin, world["superuser"])):
            for value in values:
                caller.call("GET", f"{changelist}?{name}={value}")
            checked += 1

    assert checked > 50
    assert not caller.failures, "\n".join(caller.failures)
