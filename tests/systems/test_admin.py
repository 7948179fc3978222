"""Systems in the admin: a map refused inline with one line per problem and nothing stored, a
good map stored and checked, the preview, and the connection URL never shown."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from policies.models import Organization
from requests_app import roles
from systems.models import DataMapVersion, System, SystemKind
from tests.factories import StaffUserFactory
from tests.systems.test_external_sql import MAP, ROWS, SCHEMA

pytestmark = pytest.mark.django_db
SECRET_URL_PART = "venues.sqlite3"  # the URL's path: shown nowhere


@pytest.fixture
def officer(db: None) -> User:
    roles.roles_sync()
    user: User = StaffUserFactory.create()
    user.groups.add(Group.objects.get(name=roles.OFFICERS))
    return user


@pytest.fixture
def system(
    clopos: Organization, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, system_connections: None
) -> System:
    path = tmp_path / "venues.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA["sqlite"])
        for statement in ROWS:
            db.execute(statement)
    monkeypatch.setenv("VENUES_URL", f"sqlite:///{path}")
    created: System = System.objects.create(
        organization=clopos,
        name="Venues POS",
        slug="venues",
        kind=SystemKind.SQL,
        owner_email="it@venue.example",
        connection_env="VENUES_URL",
    )
    return created


def _form(system: System, data_map: bytes) -> dict[str, object]:
    return {
        "organization": system.organization_id,
        "name": system.name,
        "slug": system.slug,
        "kind": system.kind,
        "owner_email": system.owner_email,
        "connection_env": system.connection_env,
        "active": "on",
        "data_map": SimpleUploadedFile("map.toml", data_map),
        "maps-TOTAL_FORMS": "0",
        "maps-INITIAL_FORMS": "0",
    }


def test_a_broken_map_is_refused_inline_one_line_per_problem_and_nothing_is_stored(
    client: Client, officer: User, system: System
) -> None:
    client.force_login(officer)
    broken = MAP.replace('find = { via = ["order_id"] }', 'find = { via = ["product_name"] }')
    broken = broken.replace('references = "orders.order_id"', 'references = "orders.nowhere"')

    response = client.post(
        reverse("admin:systems_system_change", args=[system.pk]), _form(system, broken.encode())
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["data_map"]
    assert "tables.order_items.find.via[0]: 'product_name' is not a reference column" in errors
    assert (
        "tables.order_items.columns.order_id.references: orders.nowhere is not the primary key "
        "of orders" in errors
    )
    assert not DataMapVersion.objects.exists()


def test_a_good_map_is_stored_checked_and_the_preview_counts_the_subjects_rows(
    client: Client, officer: User, system: System
) -> None:
    client.force_login(officer)

    response = client.post(
        reverse("admin:systems_system_change", args=[system.pk]),
        _form(system, MAP.encode()),
        follow=True,
    )

    assert response.status_code == 200
    version = DataMapVersion.objects.get(system=system)
    assert version.checked_at is not None
    assert "matches the database" in response.content.decode()
    page = client.get(reverse("admin:systems_system_change", args=[system.pk])).content.decode()
    assert "VENUES_URL is set in this process" in page
    assert SECRET_URL_PART not in page
    preview = client.get(
        reverse("admin:systems_system_preview", args=[system.pk]),
        {"email": "owner@venue.example"},
    )
    assert preview.status_code == 200
    lines = {line.table: line.rows for line in preview.context["lines"]}
    assert lines == {"staff": 1, "venues": 1, "orders": 2, "order_items": 2, "bills": 1}
    assert SECRET_URL_PART not in preview.content.decode()


def test_an_agent_cannot_see_systems(client: Client, system: System) -> None:
    roles.roles_sync()
    agent: User = StaffUserFactory.create()
    agent.groups.add(Group.objects.get(name=roles.AGENTS))
    client.force_login(agent)

    assert client.get(reverse("admin:systems_system_changelist")).status_code == 403
    assert client.get(reverse("admin:systems_system_preview", args=[system.pk])).status_code == 403
