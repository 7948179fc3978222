"""A system kept in its own SQL database: the map checked against the live schema, then export,
erasure, correction refusal for read-only systems, and the organisation scope, through the
same registry and engine as the tracker's own models."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import OperationalError, transaction

from corrections.services import (
    CorrectionDecision,
    CorrectionRefused,
    correctable_values,
    correction_apply,
)
from erasure.models import ErasureCertificate
from erasure.services import ErasureRefused, erasure_approve, erasures_start_due
from exports.build import export_build, export_storage
from exports.models import ExportPackage, ExportStatus
from policies.models import Organization
from requests_app.audit import Actor
from requests_app.evidence import evidence_record
from requests_app.intake import SubjectDetails, request_submit
from requests_app.models import RequestStatus, SubjectRequest
from requests_app.workflow import request_mark_verified
from retention.models import PurgeStep
from retention.purge import StepStatements, run_execute
from retention.rules import retention_run_start
from subject_data.registry import SubjectIdentity, registry
from systems import loading
from systems.connections import connect
from systems.datamap import DataMapError, parse
from systems.models import System, SystemKind, SystemTask
from systems.services import map_add, map_check, preview
from tests.factories import ConfirmedRequestFactory, StaffUserFactory
from tests.pos_data import ZPOS_RULE, retention_version, rule_of

pytestmark = pytest.mark.django_db
OWNER = "owner@venue.example"
APPROVED = datetime(2027, 3, 1, 9, tzinfo=UTC)

SCHEMA = {
    "sqlite": """
CREATE TABLE venues (venue_id INTEGER PRIMARY KEY, tenant_code VARCHAR(20) NOT NULL,
  venue_name VARCHAR(80) NOT NULL, tax_number VARCHAR(20) NULL, closed_at DATETIME NULL);
CREATE TABLE staff (staff_id INTEGER PRIMARY KEY,
  venue_id INTEGER NOT NULL REFERENCES venues(venue_id), email_address VARCHAR(120) NOT NULL,
  full_name VARCHAR(80) NOT NULL, role VARCHAR(10) NOT NULL);
CREATE TABLE orders (order_id INTEGER PRIMARY KEY,
  venue_id INTEGER NOT NULL REFERENCES venues(venue_id),
  cashier_id INTEGER NULL REFERENCES staff(staff_id), total DECIMAL(10,2) NOT NULL);
CREATE TABLE order_items (item_id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders(order_id), product_name VARCHAR(80) NOT NULL);
CREATE TABLE bills (bill_id INTEGER PRIMARY KEY,
  venue_id INTEGER NOT NULL REFERENCES venues(venue_id), amount DECIMAL(10,2) NOT NULL);
CREATE TABLE audit_log (log_id INTEGER PRIMARY KEY, happened VARCHAR(40));
""",
    "postgresql": """
CREATE TABLE venues (venue_id BIGSERIAL PRIMARY KEY, tenant_code VARCHAR(20) NOT NULL,
  venue_name VARCHAR(80) NOT NULL, tax_number VARCHAR(20) NULL, closed_at TIMESTAMPTZ NULL);
CREATE TABLE staff (staff_id BIGSERIAL PRIMARY KEY,
  venue_id BIGINT NOT NULL REFERENCES venues(venue_id), email_address VARCHAR(120) NOT NULL,
  full_name VARCHAR(80) NOT NULL, role VARCHAR(10) NOT NULL);
CREATE TABLE orders (order_id BIGSERIAL PRIMARY KEY,
  venue_id BIGINT NOT NULL REFERENCES venues(venue_id),
  cashier_id BIGINT NULL REFERENCES staff(staff_id), total NUMERIC(10,2) NOT NULL);
CREATE TABLE order_items (item_id BIGSERIAL PRIMARY KEY,
  order_id BIGINT NOT NULL REFERENCES orders(order_id), product_name VARCHAR(80) NOT NULL);
CREATE TABLE bills (bill_id BIGSERIAL PRIMARY KEY,
  venue_id BIGINT NOT NULL REFERENCES venues(venue_id), amount NUMERIC(10,2) NOT NULL);
CREATE TABLE audit_log (log_id BIGSERIAL PRIMARY KEY, happened VARCHAR(40));
""",
    "mysql": """
CREATE TABLE venues (venue_id BIGINT AUTO_INCREMENT PRIMARY KEY, tenant_code VARCHAR(20) NOT NULL,
  venue_name VARCHAR(80) NOT NULL, tax_number VARCHAR(20) NULL, closed_at DATETIME(6) NULL)
  ENGINE=InnoDB;
CREATE TABLE staff (staff_id BIGINT AUTO_INCREMENT PRIMARY KEY, venue_id BIGINT NOT NULL,
  email_address VARCHAR(120) NOT NULL, full_name VARCHAR(80) NOT NULL, role VARCHAR(10) NOT NULL,
  FOREIGN KEY (venue_id) REFERENCES venues(venue_id)) ENGINE=InnoDB;
CREATE TABLE orders (order_id BIGINT AUTO_INCREMENT PRIMARY KEY, venue_id BIGINT NOT NULL,
  cashier_id BIGINT NULL, total DECIMAL(10,2) NOT NULL,
  FOREIGN KEY (venue_id) REFERENCES venues(venue_id),
  FOREIGN KEY (cashier_id) REFERENCES staff(staff_id)) ENGINE=InnoDB;
CREATE TABLE order_items (item_id BIGINT AUTO_INCREMENT PRIMARY KEY, order_id BIGINT NOT NULL,
  product_name VARCHAR(80) NOT NULL, FOREIGN KEY (order_id) REFERENCES orders(order_id))
  ENGINE=InnoDB;
CREATE TABLE bills (bill_id BIGINT AUTO_INCREMENT PRIMARY KEY, venue_id BIGINT NOT NULL,
  amount DECIMAL(10,2) NOT NULL, FOREIGN KEY (venue_id) REFERENCES venues(venue_id))
  ENGINE=InnoDB;
CREATE TABLE audit_log (log_id BIGINT AUTO_INCREMENT PRIMARY KEY, happened VARCHAR(40))
  ENGINE=InnoDB;
""",
}

ROWS = [
    "INSERT INTO venues VALUES (1, 'ours', 'Chaykhana One', 'AZ-1', NULL)",
    "INSERT INTO venues VALUES (2, 'theirs', 'Other Tenant Cafe', 'AZ-2', NULL)",
    "INSERT INTO venues VALUES (3, 'ours', 'Someone Else', 'AZ-3', NULL)",
    "INSERT INTO staff VALUES (10, 1, 'OWNER@VENUE.EXAMPLE', 'Aysel Owner', 'owner')",
    "INSERT INTO staff VALUES (11, 1, 'cashier@venue.example', 'Cashier', 'cashier')",
    # The other tenant's owner has the same address: never reached from our organisation.
    "INSERT INTO staff VALUES (12, 2, 'owner@venue.example', 'Same Email Elsewhere', 'owner')",
    "INSERT INTO staff VALUES (13, 3, 'else@venue.example', 'Else', 'owner')",
    "INSERT INTO orders VALUES (100, 1, 11, 10.50)",
    "INSERT INTO orders VALUES (101, 1, 10, 20.00)",
    "INSERT INTO orders VALUES (102, 2, 12, 5.00)",
    "INSERT INTO orders VALUES (103, 3, 13, 7.00)",
    "INSERT INTO order_items VALUES (1000, 100, 'Tea')",
    "INSERT INTO order_items VALUES (1001, 101, 'Plov')",
    "INSERT INTO order_items VALUES (1002, 102, 'Tea')",
    "INSERT INTO order_items VALUES (1003, 103, 'Tea')",
    "INSERT INTO bills VALUES (500, 1, 30.50)",
    "INSERT INTO bills VALUES (501, 2, 5.00)",
    "INSERT INTO audit_log VALUES (1, 'login')",
]

MAP = """
format = 1

[scope]
table = "venues"
column = "tenant_code"
value = "ours"

[tables.venues]
primary_key = "venue_id"
category = "business"
find = { referenced_by = "staff.venue_id", where = { role = ["owner"] } }
erasure = { action = "anonymise", columns = { venue_name = "hash", tax_number = "null" } }

[tables.venues.columns]
tenant_code = { export = false }
venue_name = { correct = true }
tax_number = { correct = true }
closed_at = {}

[tables.staff]
primary_key = "staff_id"
category = "contact"
find = { email = "email_address" }
erasure = { action = "delete" }

[tables.staff.columns]
venue_id = { references = "venues.venue_id" }
email_address = { correct = true }
full_name = { correct = true }
role = {}

[tables.orders]
primary_key = "order_id"
category = "transaction"
find = { via = ["venue_id"] }
erasure = { action = "delete" }

[tables.orders.columns]
venue_id = { references = "venues.venue_id" }
cashier_id = { references = "staff.staff_id", on_delete = "set_null" }
total = {}

[tables.order_items]
primary_key = "item_id"
category = "transaction"
find = { via = ["order_id"] }
erasure = { action = "delete" }

[tables.order_items.columns]
order_id = { references = "orders.order_id" }
product_name = {}

[tables.bills]
primary_key = "bill_id"
category = "payment"
find = { via = ["venue_id"] }
erasure = { action = "retain", legal_basis = "Tax Code, art. 77", period = "60 months" }
portable = false

[tables.bills.columns]
venue_id = { references = "venues.venue_id" }
amount = {}

[[triggers]]
trigger = "account_deleted"
table = "venues"
column = "closed_at"
starts = "on"
exempt = ["payment"]
notify = { table = "staff", email = "email_address", via = "venue_id", where = { role = ["owner"] }}

[excluded]
audit_log = "the POS's own log of sign-ins to its back office; no customer fields"
"""


def _mariadb_database() -> Iterator[str]:
    server = os.environ.get("MARIADB_URL")
    if not server:
        pytest.skip("MARIADB_URL is not set: the test harness starts MariaDB when installed")
    import pymysql

    parts = urlsplit(server)
    name = f"external_{uuid.uuid4().hex[:10]}"
    options = {
        "host": parts.hostname,
        "port": parts.port,
        "user": parts.username,
        "password": parts.password,
        "autocommit": True,
    }
    with pymysql.connect(**options) as db, db.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        with pymysql.connect(**options, database=name) as db, db.cursor() as cursor:
            for statement in SCHEMA["mysql"].split(";"):
                if statement.strip():
                    cursor.execute(statement)
            for statement in ROWS:
                cursor.execute(statement)
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with pymysql.connect(**options) as db, db.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def external_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh external database holding the venues schema and rows."""
    if request.param == "sqlite":
        path = tmp_path / "venues.sqlite3"
        with sqlite3.connect(path) as db:
            db.executescript(SCHEMA["sqlite"])
            for statement in ROWS:
                db.execute(statement)
        yield f"sqlite:///{path}"
        return
    if request.param == "mysql":
        yield from _mariadb_database()
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


@pytest.fixture
def venues(
    clopos: Organization,
    external_url: str,
    monkeypatch: pytest.MonkeyPatch,
    system_connections: None,
) -> Iterator[System]:
    monkeypatch.setenv("VENUES_DATABASE_URL", external_url)
    system = System.objects.create(
        organization=clopos,
        name="Venues POS",
        slug="venues",
        kind=SystemKind.SQL,
        owner_email="it@venue.example",
        connection_env="VENUES_DATABASE_URL",
    )
    map_add(system, MAP)
    result = map_check(system)
    assert result.ok, result.problems
    loading.refresh(force=True)
    yield system
    # A system named on tasks is never deleted in use (PROTECT); the test's own tasks go first.
    SystemTask.objects.filter(system=system).delete()
    System.objects.filter(pk=system.pk).delete()
    loading.refresh(force=True)


def _external_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("mysql"):
        import pymysql

        parts = urlsplit(url)
        with (
            pymysql.connect(
                host=parts.hostname,
                port=parts.port,
                user=parts.username,
                password=parts.password,
                database=parts.path.lstrip("/"),
            ) as db,
            db.cursor() as cursor,
        ):
            cursor.execute(sql)
            return list(cursor.fetchall())
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            return list(db.execute(sql).fetchall())
    with psycopg.connect(url) as db:
        return list(db.execute(sql).fetchall())


def _execute(url: str, sql: str) -> None:
    if url.startswith("mysql"):
        import pymysql

        parts = urlsplit(url)
        with (
            pymysql.connect(
                host=parts.hostname,
                port=parts.port,
                user=parts.username,
                password=parts.password,
                database=parts.path.lstrip("/"),
                autocommit=True,
            ) as db,
            db.cursor() as cursor,
        ):
            cursor.execute(sql)
        return
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(sql)


def test_the_map_refuses_unknown_references_and_missing_finders_one_line_each() -> None:
    broken = MAP.replace(
        'references = "venues.venue_id" }\nemail', 'references = "nowhere.id" }\nemail'
    )
    broken = broken.replace('find = { via = ["order_id"] }', 'find = { via = ["product_name"] }')
    with pytest.raises(DataMapError) as error:
        parse(broken)
    assert "tables.staff.columns.venue_id.references: nowhere is not mapped" in error.value.problems
    assert (
        "tables.order_items.find.via[0]: 'product_name' is not a reference column"
        in error.value.problems
    )


def test_the_check_names_each_table_or_column_the_database_lacks(
    venues: System, external_url: str
) -> None:
    wrong = MAP.replace("product_name = {}", "product_name = {}\nflavour = {}").replace(
        'audit_log = "', 'ghosts = "gone"\naudit_log = "'
    )
    map_add(venues, wrong)

    result = map_check(venues)

    assert not result.ok
    assert "tables.order_items.columns.flavour: no such column" in result.problems
    assert "excluded.ghosts: no such table in the database" in result.problems
    # The tracker still acts through the version that passed.
    assert venues.current_map().number == 1  # type: ignore[union-attr]


def test_the_check_refuses_an_unmapped_table_that_looks_personal(
    venues: System, external_url: str
) -> None:
    map_add(venues, MAP.replace('audit_log = "the POS', 'other_log = "the POS'))
    if external_url.startswith("sqlite"):
        with sqlite3.connect(external_url.removeprefix("sqlite:///")) as db:
            db.execute("CREATE TABLE other_log (id INTEGER PRIMARY KEY)")
            db.execute("CREATE TABLE guests (id INTEGER PRIMARY KEY, phone VARCHAR(20))")
    else:
        _execute(external_url, "CREATE TABLE other_log (id BIGINT PRIMARY KEY)")
        _execute(external_url, "CREATE TABLE guests (id BIGINT PRIMARY KEY, phone VARCHAR(20))")

    problems = map_check(venues).problems

    assert "guests: looks personal (phone); map it or exclude it with a reason" in problems
    assert not any(p.startswith("audit_log") for p in problems)  # no personal-looking column


def test_the_subjects_rows_are_found_through_references_within_the_organisations_tenant(
    venues: System,
) -> None:
    identity = SubjectIdentity(organization_id=venues.organization_id, email=OWNER)
    found = {
        registration.label: sorted(rows.values_list("pk", flat=True))
        for registration, rows in registry.for_subject(identity)
        if registration.system == "Venues POS"
    }

    assert found == {
        "venues.staff": [10],
        "venues.venues": [1],
        "venues.orders": [100, 101],
        "venues.order_items": [1000, 1001],
        "venues.bills": [500],
    }
    # Another organisation never sees the system's tables at all.
    other = SubjectIdentity(organization_id=venues.organization_id + 999, email=OWNER)
    assert not any(r.system for r, _rows in registry.for_subject(other))


def test_preview_counts_the_rows_and_says_what_erasure_does(venues: System) -> None:
    lines = {line.table: line for line in preview(venues, OWNER)}

    assert lines["orders"].rows == 2
    assert lines["venues"].action == "anonymise"
    assert "venue_name: hash" in lines["venues"].detail
    assert lines["bills"].action == "retain"
    assert "Tax Code, art. 77" in lines["bills"].detail


def test_an_erasure_deletes_and_anonymises_in_the_systems_database_and_certifies_it(
    venues: System,
    external_url: str,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    officer: User = StaffUserFactory.create(is_superuser=True)
    with time_machine.travel(APPROVED - timedelta(days=2), tick=False):
        request: SubjectRequest = ConfirmedRequestFactory.create(
            organization=venues.organization, request_type="deletion", email=OWNER
        )
    with (
        time_machine.travel(APPROVED, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        erasure_approve(request=request, actor=Actor.staff(officer))
    with (
        time_machine.travel(APPROVED + timedelta(days=8), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        erasures_start_due()

    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    assert _external_rows(external_url, "SELECT staff_id FROM staff ORDER BY 1") == [
        (11,),
        (12,),
        (13,),
    ]
    assert _external_rows(external_url, "SELECT order_id FROM orders ORDER BY 1") == [
        (102,),
        (103,),
    ]
    assert _external_rows(external_url, "SELECT item_id FROM order_items ORDER BY 1") == [
        (1002,),
        (1003,),
    ]
    ((name, tax),) = _external_rows(
        external_url, "SELECT venue_name, tax_number FROM venues WHERE venue_id = 1"
    )
    assert name.startswith("erased:")
    assert tax is None
    # The other tenant's venue and the unrelated one are untouched; the bill is kept.
    assert _external_rows(
        external_url, "SELECT venue_name FROM venues WHERE venue_id IN (2, 3) ORDER BY 1"
    ) == [("Other Tenant Cafe",), ("Someone Else",)]
    assert _external_rows(external_url, "SELECT bill_id FROM bills ORDER BY 1") == [
        (500,),
        (501,),
    ]
    certificate = ErasureCertificate.objects.get(request=request)
    models = {m["model"]: m for m in certificate.content["models"]}
    assert models["venues.orders"]["deleted"] == 2
    assert models["venues.staff"]["deleted"] == 1
    assert models["venues.venues"]["anonymised"] == 1
    assert models["venues.bills"]["retained"] == 1


def test_an_access_export_holds_the_systems_rows_and_names_the_system(
    venues: System, settings: Any, tmp_path: Path
) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "exports"},
        },
    }
    request: SubjectRequest = ConfirmedRequestFactory.create(
        organization=venues.organization, email=OWNER
    )
    package = ExportPackage.objects.create(request=request, kind=request.request_type)

    built = export_build(package_id=package.pk)

    assert built is not None
    with export_storage().open(built.file_path, "rb") as stored:
        archive = zipfile.ZipFile(io.BytesIO(stored.read()))
    data = json.loads(archive.read("data.json"))
    found: dict[str, set[int]] = {}
    for records in data["categories"].values():
        for record in records:
            found.setdefault(record["model"], set()).add(record["id"])
    assert found == {
        "venues.staff": {10},
        "venues.venues": {1},
        "venues.orders": {100, 101},
        "venues.order_items": {1000, 1001},
        "venues.bills": {500},
    }
    (venue,) = [r for r in data["categories"]["business"] if r["model"] == "venues.venues"]
    assert venue["fields"]["venue_name"] == "Chaykhana One"
    assert "tenant_code" not in venue["fields"]  # not exported
    manifest = json.loads(archive.read("manifest.json"))
    systems = {s["name"]: s["models"] for s in manifest["systems"]}
    assert set(systems["Venues POS"]) == set(found)


def test_a_retention_rule_purges_a_closed_venue_in_the_systems_database_in_batches(
    venues: System, external_url: str
) -> None:
    _execute_any(
        external_url, "UPDATE venues SET closed_at = '2027-01-01 08:00:00' WHERE venue_id IN (1, 2)"
    )
    rule = rule_of(retention_version(venues.organization, rules=[ZPOS_RULE]), "account-deleted")

    run = run_execute(retention_run_start(rule=rule, as_of=date(2027, 3, 1), batch_size=1))

    # Venue 1 (ours, closed 59 days before) is purged; venue 2 belongs to another tenant and
    # venue 3 is open: untouched. Bills are payment records, exempt from the rule.
    assert _external_rows(external_url, "SELECT staff_id FROM staff ORDER BY 1") == [(12,), (13,)]
    assert _external_rows(external_url, "SELECT order_id FROM orders ORDER BY 1") == [
        (102,),
        (103,),
    ]
    assert _external_rows(external_url, "SELECT item_id FROM order_items ORDER BY 1") == [
        (1002,),
        (1003,),
    ]
    assert _external_rows(external_url, "SELECT bill_id FROM bills ORDER BY 1") == [
        (500,),
        (501,),
    ]
    names = dict(_external_rows(external_url, "SELECT venue_id, venue_name FROM venues"))
    assert names[1].startswith("erased:")
    assert names[2] == "Other Tenant Cafe"
    assert run.totals["venues.orders"]["deleted"] == 2
    assert run.totals["venues.staff"]["deleted"] == 2
    assert run.totals["venues.order_items"]["deleted"] == 2
    assert run.totals["venues.venues"]["anonymised"] == 1


def _execute_any(url: str, sql: str) -> None:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.execute(sql)
        return
    _execute(url, sql)


@pytest.mark.parametrize("committed", [True, False])
def test_a_batch_between_its_two_commits_is_counted_once_by_the_next_worker(
    venues: System, external_url: str, committed: bool
) -> None:
    _execute_any(external_url, "UPDATE venues SET closed_at = '2027-01-01 08:00:00'")
    rule = rule_of(retention_version(venues.organization, rules=[ZPOS_RULE]), "account-deleted")
    run = retention_run_start(rule=rule, as_of=date(2027, 3, 1), batch_size=1)
    step = PurgeStep.objects.filter(run=run).order_by("position", "pk_from").first()
    assert step is not None
    statements = StepStatements.for_step(step)
    first = step.pk_from
    # A worker changed the first row in the system and recorded the batch as pending, then died
    # before (committed=False: with) its commit there, or after it but before moving the cursor.
    if committed:
        with transaction.atomic(using=statements.database):
            assert statements.run(first - 1, first) == 1
    PurgeStep.objects.filter(pk=step.pk).update(pending_last=first, pending_rows=1)

    run = run_execute(run)

    # Venues 1 and 3 are ours (venue 2 is another tenant's): three of each.
    uninterrupted = {"venues.orders": 3, "venues.order_items": 3, "venues.staff": 3}
    for label, deleted in uninterrupted.items():
        assert run.totals[label]["deleted"] == deleted, label
    assert not PurgeStep.objects.filter(run=run, pending_last__isnull=False).exists()


def _correction_request(organization: Organization) -> SubjectRequest:
    version = retention_version(organization)
    result = request_submit(
        organization=organization,
        version=version,
        rule=version.request_type_rules.get(request_type="correction"),
        subject=SubjectDetails(
            email=OWNER,
            name="Aysel Owner",
            details={"corrections": [{"field": "my name", "value": "Aysel Guliyeva"}]},
        ),
        language="en",
    )
    verified: SubjectRequest = request_mark_verified(request=result.request)
    return verified


def test_an_approved_correction_is_written_in_the_systems_database(
    venues: System, external_url: str
) -> None:
    officer: User = StaffUserFactory.create(is_superuser=True)
    request = _correction_request(venues.organization)
    keys = {value.key for value in correctable_values(request)}
    assert "venues.staff:10:full_name" in keys
    assert "venues.staff:12:full_name" not in keys  # the other tenant's person

    correction_apply(
        request=request,
        actor=Actor.staff(officer),
        decisions=[CorrectionDecision(0, ("venues.staff:10:full_name",), "Aysel Guliyeva")],
    )

    assert _external_rows(external_url, "SELECT full_name FROM staff WHERE staff_id = 10") == [
        ("Aysel Guliyeva",)
    ]
    assert _external_rows(external_url, "SELECT full_name FROM staff WHERE staff_id = 12") == [
        ("Same Email Elsewhere",)
    ]


def test_a_read_only_system_refuses_erasure_and_correction_and_changes_nothing(
    venues: System, external_url: str
) -> None:
    System.objects.filter(pk=venues.pk).update(read_only=True)
    loading.refresh(force=True)
    officer: User = StaffUserFactory.create(is_superuser=True)
    deletion: SubjectRequest = ConfirmedRequestFactory.create(
        organization=venues.organization, request_type="deletion", email=OWNER
    )

    with pytest.raises(ErasureRefused, match="“Venues POS” is read-only"):
        erasure_approve(request=deletion, actor=Actor.staff(officer))
    request = _correction_request(venues.organization)
    with pytest.raises(CorrectionRefused, match="read-only"):
        correction_apply(
            request=request,
            actor=Actor.staff(officer),
            decisions=[CorrectionDecision(0, ("venues.staff:10:full_name",), "X")],
        )

    assert _external_rows(external_url, "SELECT COUNT(*) FROM staff") == [(4,)]
    assert _external_rows(external_url, "SELECT full_name FROM staff WHERE staff_id = 10") == [
        ("Aysel Owner",)
    ]
    # Export still works: read-only means export only.
    identity = SubjectIdentity(organization_id=venues.organization_id, email=OWNER)
    assert any(
        r.system == "Venues POS" and rows.exists() for r, rows in registry.for_subject(identity)
    )


def test_the_check_refuses_an_account_that_may_not_write_unless_the_system_is_read_only(
    venues: System, external_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not external_url.startswith("postgres"):
        pytest.skip("grants: PostgreSQL here (SQLite has none)")
    role = f"reader_{uuid.uuid4().hex[:8]}"
    _execute(external_url, f"CREATE ROLE {role} LOGIN PASSWORD 'reader'")
    try:
        _execute(external_url, f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        parts = urlsplit(external_url)
        reader = urlunsplit(parts._replace(netloc=f"{role}:reader@{parts.hostname}:{parts.port}"))
        monkeypatch.setenv("VENUES_DATABASE_URL", reader)

        problems = map_check(venues).problems
        assert (
            "tables.orders: the tracker's account may not update and delete there; grant it, "
            "or mark the system read-only"
        ) in problems

        venues.read_only = True
        venues.save()
        assert map_check(venues).ok
    finally:
        from django.db import connections

        for alias in [a for a in connections.settings if a.startswith(("system_", "check_"))]:
            connections[alias].close()
        _execute(external_url, f"DROP OWNED BY {role}")
        _execute(external_url, f"DROP ROLE {role}")


def test_the_evidence_record_names_the_organisations_systems_and_their_map(
    venues: System,
) -> None:
    request: SubjectRequest = ConfirmedRequestFactory.create(
        organization=venues.organization, email=OWNER
    )

    record = evidence_record(request=request)

    (system,) = record["systems"]
    assert system["slug"] == "venues"
    assert system["data_map"]["version"] == 1
    assert system["data_map"]["sha256"] == venues.current_map().sha256  # type: ignore[union-attr]


def test_an_export_whose_system_is_down_fails_with_the_reason_and_is_retried_later(
    venues: System, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "exports"},
        },
    }
    request: SubjectRequest = ConfirmedRequestFactory.create(
        organization=venues.organization, email=OWNER
    )
    package = ExportPackage.objects.create(request=request, kind=request.request_type)
    # The system's server goes away (a closed port; a file in a missing directory).
    down = (
        f"sqlite:////{tmp_path}/missing/venues.sqlite3"
        if "sqlite" in os.environ["VENUES_DATABASE_URL"]
        else "postgres://nobody:x@127.0.0.1:1/none"
    )
    monkeypatch.setenv("VENUES_DATABASE_URL", down)
    connect(venues.alias, "VENUES_DATABASE_URL")

    with pytest.raises(OperationalError):
        export_build(package_id=package.pk)

    package.refresh_from_db()
    assert package.status == ExportStatus.FAILED
    assert "OperationalError" in package.failure
    assert package.attempts == 1  # the task retries it (autoretry on OperationalError)
