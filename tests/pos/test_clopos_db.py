"""The Clopos demo POS database on SQLite always, PostgreSQL and MariaDB when a server is given.

PostgreSQL: a database of its own on the server ``DATABASE_URL`` names (the test harness's).
MariaDB/MySQL: one on the server ``MARIADB_URL`` names; skipped without it.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest
from django.core.management import CommandError, call_command

from pos import clopos_db
from pos.clopos_db import (
    CLOPOS_TENANT,
    DEMO_OWNER_EMAIL,
    DEMO_VENUE_NAME,
    OTHER_TENANT,
    PRIMARY_KEYS,
    TABLES,
    CloposDbError,
    create_schema,
    populate,
)

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "seeds" / "systems" / "clopos.toml"
NOW = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
ORDER_ITEM = "INSERT INTO order_items (order_id, menu_item_id, quantity, price) VALUES (?, ?, ?, ?)"


def _on_other_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _postgres_database() -> Iterator[str]:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        pytest.skip("DATABASE_URL names no PostgreSQL server")
    import psycopg
    from psycopg import sql

    name = f"clopos_test_{secrets.token_hex(4)}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _on_other_database(base, name)
    finally:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _mariadb_database() -> Iterator[str]:
    base = os.environ.get("MARIADB_URL", "")
    if not base:
        pytest.skip("MARIADB_URL is not set: no MariaDB/MySQL server to test on")
    import pymysql

    # The harness's URL names the server only (no database): connect without one.
    parts = urlsplit(base)
    server = {
        "host": parts.hostname or "localhost",
        "port": parts.port or 3306,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
    }
    name = f"clopos_test_{secrets.token_hex(4)}"  # letters and digits only: safe to inline
    with pymysql.connect(**server) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        yield _on_other_database(base, name)
    finally:
        with pymysql.connect(**server) as connection, connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'clopos.sqlite3'}"
    elif request.param == "postgresql":
        yield from _postgres_database()
    else:
        yield from _mariadb_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'clopos.sqlite3'}"


def _filled(url: str, *, venues: int = 8, seed: int = 1) -> dict[str, int]:
    create_schema(url)
    return populate(url, venues=venues, seed=seed, now=NOW)


def _query(url: str, statement: str, params: tuple[object, ...] = ()) -> list[tuple]:
    with clopos_db.connect(url) as database:
        cursor = database.connection.cursor()
        cursor.execute(statement.replace("?", database.dialect.placeholder), params)
        return [tuple(row) for row in cursor.fetchall()]


def _dump(url: str) -> dict[str, list[tuple]]:
    return {
        table: _query(url, f"SELECT * FROM {table} ORDER BY {key}")  # noqa: S608
        for table, key in PRIMARY_KEYS.items()
    }


def _integrity_error(dialect: str) -> type[Exception]:
    if dialect == "sqlite":
        return sqlite3.IntegrityError
    if dialect == "postgresql":
        import psycopg

        return psycopg.errors.ForeignKeyViolation
    import pymysql

    return pymysql.err.IntegrityError


# --- Schema and rows, on every database ----------------------------------------------------------


def test_create_schema_makes_every_table_empty(database_url):
    create_schema(database_url)

    for table in TABLES:
        assert _query(database_url, f"SELECT COUNT(*) FROM {table}") == [(0,)]  # noqa: S608


def test_populate_returns_the_rows_it_wrote(database_url):
    counts = _filled(database_url)

    assert set(counts) == set(TABLES)
    for table, count in counts.items():
        assert count > 0, table
        assert _query(database_url, f"SELECT COUNT(*) FROM {table}") == [(count,)]  # noqa: S608
    # 8 Clopos venues and the other tenant's 6, one per retention case.
    assert counts["venues"] == 14


def test_an_order_item_of_a_missing_order_is_refused(database_url):
    _filled(database_url)

    with clopos_db.connect(database_url) as database:
        error = _integrity_error(database.dialect.name)
        mark = database.dialect.placeholder
        cursor = database.connection.cursor()
        with pytest.raises(error):
            cursor.execute(ORDER_ITEM.replace("?", mark), (10**9, 1, 1, "1.00"))


def test_new_rows_get_keys_past_the_demo_rows(database_url):
    counts = _filled(database_url)

    with clopos_db.connect(database_url) as database:
        mark = database.dialect.placeholder
        cursor = database.connection.cursor()
        cursor.execute(ORDER_ITEM.replace("?", mark), (1, 1, 1, "1.00"))
        database.connection.commit()

    assert _query(database_url, "SELECT MAX(item_id) FROM order_items") == [
        (counts["order_items"] + 1,)
    ]


def test_existing_tables_are_refused_unless_replaced(database_url):
    _filled(database_url)

    with pytest.raises(CloposDbError, match="already has the tables venues"):
        create_schema(database_url)
    create_schema(database_url, replace=True)

    assert _query(database_url, "SELECT COUNT(*) FROM orders") == [(0,)]
    assert populate(database_url, venues=3, seed=2, now=NOW)["venues"] == 9


def test_populate_refuses_tables_that_already_hold_rows(database_url):
    _filled(database_url)

    with pytest.raises(CloposDbError, match="already hold rows"):
        populate(database_url, venues=3, now=NOW)


def test_the_demo_subject_owns_the_first_clopos_venue_and_shares_an_email_across_tenants(
    database_url,
):
    _filled(database_url)

    people = _query(
        database_url,
        "SELECT v.tenant_code, s.venue_id, s.role FROM staff s "
        "JOIN venues v ON v.venue_id = s.venue_id "
        "WHERE LOWER(s.email_address) = ? ORDER BY s.staff_id",
        (DEMO_OWNER_EMAIL,),
    )
    assert people == [
        (CLOPOS_TENANT, 1, "owner"),
        (CLOPOS_TENANT, 2, "manager"),
        (OTHER_TENANT, 9, "owner"),
    ]
    assert _query(database_url, "SELECT venue_name FROM venues WHERE venue_id = 1") == [
        (DEMO_VENUE_NAME,)
    ]
    per_venue = {
        table: _query(database_url, f"SELECT COUNT(*) FROM {table} WHERE venue_id = 1")[0][0]  # noqa: S608
        for table in ("staff", "terminals", "menu_items", "orders", "bills", "tickets")
    }
    assert per_venue["staff"] == 5
    assert per_venue["terminals"] == 2
    assert per_venue["orders"] == clopos_db.DEMO_ORDERS
    assert per_venue["tickets"] == 2
    assert per_venue["menu_items"] > 0
    assert per_venue["bills"] > 0
    items = _query(
        database_url,
        "SELECT COUNT(*) FROM order_items i JOIN orders o ON o.order_id = i.order_id "
        "WHERE o.venue_id = 1",
    )
    assert items[0][0] >= clopos_db.DEMO_ORDERS


# --- SQLite only ---------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_rows_and_another_seed_other_rows(tmp_path):
    first, second, other = (f"sqlite:///{tmp_path / name}.sqlite3" for name in ("a", "b", "c"))
    _filled(first, seed=7)
    _filled(second, seed=7)
    _filled(other, seed=8)

    assert _dump(first) == _dump(second)
    assert _dump(first) != _dump(other)


def test_every_retention_case_is_present_in_both_tenants(sqlite_url):
    _filled(sqlite_url)
    rows = _query(sqlite_url, "SELECT tenant_code, closed_at, paid_until FROM venues")
    today = NOW.date()

    for tenant in (CLOPOS_TENANT, OTHER_TENANT):
        closed = [
            NOW - datetime.fromisoformat(closed_at).replace(tzinfo=UTC)
            for code, closed_at, _paid in rows
            if code == tenant and closed_at
        ]
        paid_until = [paid for code, closed_at, paid in rows if code == tenant and not closed_at]
        assert any(timedelta(days=60) <= age < timedelta(days=61) for age in closed), tenant
        assert "2025-10-01" in paid_until, tenant  # seven months before 1 May 2026
        assert any(paid > today.isoformat() for paid in paid_until), tenant


def test_audit_log_holds_no_reference_to_customers(sqlite_url):
    create_schema(sqlite_url)
    columns = {row[1] for row in _query(sqlite_url, "PRAGMA table_info(audit_log)")}

    assert columns == {"log_id", "logged_at", "actor", "event_type", "detail"}
    assert _query(sqlite_url, "PRAGMA foreign_key_list(audit_log)") == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nope://host/db", "unsupported database URL scheme 'nope'"),
        ("sqlite://relative.sqlite3", "sqlite:////ABSOLUTE/PATH or sqlite:///PATH/IN/THE/PROJECT"),
        ("postgres://dsr@127.0.0.1:5432/", "names no database"),
        ("mysql://root@127.0.0.1:port/db", "not a database URL"),
        ("sqlite:////no/such/directory/x.sqlite3", "cannot connect to the sqlite database"),
    ],
)
def test_a_bad_url_is_refused_in_one_line(url, message):
    with pytest.raises(CloposDbError, match=message) as raised:
        create_schema(url)

    assert "\n" not in str(raised.value)


def test_populate_without_the_schema_says_to_create_it(sqlite_url):
    with pytest.raises(CloposDbError, match="missing: create them first"):
        populate(sqlite_url)


# --- The data map against the schema -------------------------------------------------------------


@dataclass
class _LiveTable:
    columns: set[str]
    primary_key: str
    # column -> (TABLE.COLUMN, the map's on_delete)
    references: dict[str, tuple[str, str]]


def _live_schema(url: str) -> dict[str, _LiveTable]:
    schema = {}
    for table in TABLES:
        info = _query(url, f"PRAGMA table_info({table})")
        keys = _query(url, f"PRAGMA foreign_key_list({table})")
        schema[table] = _LiveTable(
            columns={row[1] for row in info},
            primary_key=next(row[1] for row in info if row[5]),
            references={
                row[3]: (f"{row[2]}.{row[4]}", "set_null" if row[6] == "SET NULL" else "restrict")
                for row in keys
            },
        )
    return schema


def test_the_data_map_matches_the_schema(sqlite_url):
    create_schema(sqlite_url)
    live = _live_schema(sqlite_url)
    data_map = tomllib.loads(MAP.read_text())
    tables = data_map["tables"]

    assert set(tables) | set(data_map["excluded"]) == set(TABLES)
    assert data_map["scope"] == {"table": "venues", "column": "tenant_code", "value": CLOPOS_TENANT}
    for name, table in tables.items():
        schema = live[name]
        assert table["primary_key"] == schema.primary_key, name
        mapped = set(table["columns"]) | set(table.get("ignore", {})) | {table["primary_key"]}
        assert mapped == schema.columns, name
        references = {
            column: (spec["references"], spec.get("on_delete", "restrict"))
            for column, spec in table["columns"].items()
            if "references" in spec
        }
        assert references == schema.references, name
        for column in table["find"].get("via", []):
            assert column in references, f"{name}.{column}"


def test_the_data_map_triggers_and_finders_name_live_columns(sqlite_url):
    create_schema(sqlite_url)
    live = _live_schema(sqlite_url)
    data_map = tomllib.loads(MAP.read_text())

    owners = data_map["tables"]["venues"]["find"]
    table, column = owners["referenced_by"].split(".")
    assert live[table].references[column][0] == "venues.venue_id"
    assert set(owners["where"]) <= live[table].columns
    assert data_map["tables"]["staff"]["find"] == {"email": "email_address"}
    triggers = {trigger["trigger"]: trigger for trigger in data_map["triggers"]}
    assert (triggers["account_deleted"]["column"], triggers["account_deleted"]["starts"]) == (
        "closed_at",
        "on",
    )
    assert (triggers["licence_overdue"]["column"], triggers["licence_overdue"]["starts"]) == (
        "paid_until",
        "after",
    )
    for trigger in triggers.values():
        assert trigger["exempt"] == ["payment"]
        assert trigger["column"] in live[trigger["table"]].columns
    for name in ("bills", "bill_payments"):
        assert data_map["tables"][name]["erasure"]["action"] == "retain"
        assert data_map["tables"][name]["erasure"]["period"] == "60 months"


# --- The command ---------------------------------------------------------------------------------


def test_the_command_creates_and_fills_the_database(sqlite_url):
    stdout = StringIO()

    call_command("clopos_demo_db", sqlite_url, "--venues", "3", stdout=stdout)

    output = stdout.getvalue()
    assert "venues 9," in output
    assert DEMO_OWNER_EMAIL in output
    assert _query(sqlite_url, "SELECT COUNT(*) FROM venues") == [(9,)]


def test_the_command_refuses_existing_tables_without_replace(sqlite_url):
    call_command("clopos_demo_db", sqlite_url, "--venues", "2", stdout=StringIO())

    with pytest.raises(CommandError, match="--replace"):
        call_command("clopos_demo_db", sqlite_url, "--venues", "2", stdout=StringIO())
    call_command("clopos_demo_db", sqlite_url, "--venues", "2", "--replace", stdout=StringIO())


def test_the_command_exits_non_zero_with_one_line_on_a_bad_url():
    finished = subprocess.run(
        [sys.executable, "manage.py", "clopos_demo_db", "nope://host/db"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert finished.returncode != 0
    assert finished.stderr.strip().splitlines() == [
        "CommandError: unsupported database URL scheme 'nope': use sqlite:////ABSOLUTE/PATH, "
        "postgres://USER:PASSWORD@HOST:PORT/NAME or mysql://USER:PASSWORD@HOST:PORT/NAME"
    ]


def test_a_sqlite_url_names_the_same_file_as_for_the_tracker():
    # django-environ's reading: four slashes are an absolute path, three one in the project.
    assert clopos_db._sqlite_path(urlsplit("sqlite:////srv/x.sqlite3")) == Path("/srv/x.sqlite3")
    assert clopos_db._sqlite_path(urlsplit("sqlite:///var/x.sqlite3")) == ROOT / "var/x.sqlite3"
