"""Consent and restriction columns of a system's data map: an opt-out withdraws the consent, and
a restriction sets the marker, in the system's own database and the host's at once, on the
subject's rows only."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.contrib.auth.models import User

from effects.services import request_effect_apply
from policies.models import Organization, RequestType
from pos.models import Account
from requests_app.audit import Actor
from requests_app.workflow import request_mark_verified
from systems import loading
from systems.datamap import DataMapError, parse
from systems.models import System, SystemKind
from systems.services import map_add, map_check
from tests.factories import AccountFactory, AccountUserFactory, StaffUserFactory
from tests.tracker import file_request, publish_version

pytestmark = pytest.mark.django_db
OWNER = "owner@venue.example"

SCHEMA = {
    "sqlite": """
CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, email VARCHAR(120) NOT NULL,
  full_name VARCHAR(80) NOT NULL, newsletter BOOLEAN NOT NULL, restricted BOOLEAN NOT NULL);
""",
    "postgresql": """
CREATE TABLE customers (customer_id BIGSERIAL PRIMARY KEY, email VARCHAR(120) NOT NULL,
  full_name VARCHAR(80) NOT NULL, newsletter BOOLEAN NOT NULL, restricted BOOLEAN NOT NULL);
""",
}
ROWS = [
    "INSERT INTO customers VALUES (1, 'Owner@Venue.example', 'Aysel', TRUE, FALSE)",
    "INSERT INTO customers VALUES (2, 'else@venue.example', 'Else', TRUE, FALSE)",
]
MAP = """
format = 1

[tables.customers]
primary_key = "customer_id"
category = "contact"
find = { email = "email" }
erasure = { action = "delete" }
consent = { marketing = "newsletter" }
restriction = "restricted"

[tables.customers.columns]
email = {}
full_name = {}
newsletter = {}
restricted = { export = false }
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def external_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "customers.sqlite3"
        with sqlite3.connect(path) as db:
            db.executescript(SCHEMA["sqlite"])
            for statement in ROWS:
                db.execute(statement)
        yield f"sqlite:///{path}"
        return
    server = urlsplit(os.environ["DATABASE_URL"])
    name = f"external_{uuid.uuid4().hex[:10]}"
    admin = urlunsplit(server._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    url = urlunsplit(server._replace(path=f"/{name}"))
    try:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(SCHEMA["postgresql"])
            for statement in ROWS:
                db.execute(statement)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _rows(url: str) -> list[tuple[Any, ...]]:
    sql = "SELECT customer_id, newsletter, restricted FROM customers ORDER BY customer_id"
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            return [(i, bool(n), bool(r)) for i, n, r in db.execute(sql).fetchall()]
    with psycopg.connect(url) as db:
        return list(db.execute(sql).fetchall())


@pytest.fixture
def customers(
    clopos: Organization,
    external_url: str,
    monkeypatch: pytest.MonkeyPatch,
    system_connections: None,
) -> Iterator[System]:
    monkeypatch.setenv("CUSTOMERS_DATABASE_URL", external_url)
    system = System.objects.create(
        organization=clopos,
        name="Loyalty club",
        slug="loyalty",
        kind=SystemKind.SQL,
        owner_email="it@venue.example",
        connection_env="CUSTOMERS_DATABASE_URL",
    )
    map_add(system, MAP)
    result = map_check(system)
    assert result.ok, result.problems
    loading.refresh(force=True)
    yield system
    # Verified requests gave the system tasks, which keep it; switched off, it leaves the registry.
    System.objects.filter(pk=system.pk).update(active=False)
    loading.refresh(force=True)


def test_an_opt_out_withdraws_the_consent_in_the_system_and_the_host_at_once(
    clopos: Organization, customers: System, external_url: str
) -> None:
    officer: User = StaffUserFactory.create(is_superuser=True)
    account = AccountFactory.create(organization=clopos, marketing_opt_in=True)
    AccountUserFactory.create(account=account, email=OWNER, role="owner")
    version = publish_version(
        clopos, {RequestType.MARKETING_OPT_OUT: {}, RequestType.RESTRICTION: {}}
    )
    opt_out = request_mark_verified(
        request=file_request(version, RequestType.MARKETING_OPT_OUT, email=OWNER)
    )
    changes = request_effect_apply(request=opt_out, actor=Actor.staff(officer))
    assert _rows(external_url) == [(1, False, False), (2, True, False)]
    assert Account.objects.get(pk=account.pk).marketing_opt_in is False
    assert {(c.system, c.rows) for c in changes} == {
        ("Loyalty club", 1),
        ("the host's models in this project", 1),
    }

    restriction = request_mark_verified(
        request=file_request(version, RequestType.RESTRICTION, email=OWNER)
    )
    request_effect_apply(request=restriction, actor=Actor.staff(officer))
    assert _rows(external_url) == [(1, False, True), (2, True, False)]


def test_the_map_refuses_a_purpose_that_is_not_a_plain_name() -> None:
    broken = MAP.replace(
        'consent = { marketing = "newsletter" }', 'consent = { Marketing = "newsletter" }'
    )
    with pytest.raises(DataMapError) as error:
        parse(broken)
    assert error.value.problems == [
        "tables.customers.consent.Marketing: a purpose is lower-case letters, digits and _"
    ]


def test_the_map_refuses_a_consent_or_restriction_column_it_does_not_map() -> None:
    broken = MAP.replace('restriction = "restricted"', 'restriction = "flag"').replace(
        'consent = { marketing = "newsletter" }', 'consent = { marketing = "opt_in" }'
    )
    with pytest.raises(DataMapError) as error:
        parse(broken)
    assert error.value.problems == [
        "tables.customers.consent.marketing: 'opt_in' must be a mapped column, not a reference",
        "tables.customers.restriction: 'flag' must be a mapped column, not a reference",
    ]


def test_the_map_reads_consent_per_purpose_and_the_restriction_column() -> None:
    table = parse(MAP).table("customers")
    assert (table.consent, table.restriction) == ((("marketing", "newsletter"),), "restricted")
