"""The OpenAPI schema and its docs UIs: the whole API, documented, served without a CDN."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.api.conftest import CommittingClient

pytestmark = pytest.mark.django_db


def _schema(api: CommittingClient) -> dict[str, Any]:
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    loaded: dict[str, Any] = json.loads(response.content)
    return loaded


def _routes(resolver: URLResolver, prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found.extend(_routes(entry, pattern))
        elif isinstance(entry, URLPattern):
            found.append((pattern, entry.callback))
    return found


def test_the_schema_generates_without_a_warning(tmp_path: Any) -> None:
    # --fail-on-warn turns every drf-spectacular warning (an unnamed component, a field it
    # cannot type, a clash of names) into a failure; --validate checks it against OpenAPI 3.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )


def test_every_api_and_opendsr_endpoint_is_in_the_schema(api: CommittingClient) -> None:
    documented = {re.sub(r"\{[^}]+\}", "{}", path) for path in _schema(api)["paths"]}
    served = {
        "/" + re.sub(r"<[^>]+>", "{}", pattern)
        for pattern, view in _routes(get_resolver())
        if pattern.startswith(("api/v1/", "v1/"))
        and "opengdpr" not in pattern  # the old names of documented endpoints
        and getattr(getattr(view, "view_class", None), "__name__", "") != "NotFoundView"
    }

    assert served
    assert served == documented


def test_every_operation_documents_its_errors_and_has_a_summary(api: CommittingClient) -> None:
    for path, operations in _schema(api)["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method} {path}"
            if path != "/v1/certificate.pem":
                assert "429" in operation["responses"], f"{method} {path}"


def test_the_docs_ui_loads_only_our_own_static_files(client: Client) -> None:
    for url in ("/api/docs/", "/api/redoc/"):
        page = client.get(url, secure=True).content.decode()
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)

        assert assets, url
        for asset in assets:
            assert asset.startswith("/static/drf_spectacular_sidecar/"), asset
            assert finders.find(asset.removeprefix("/static/")), asset
        assert "cdn" not in page.lower()
