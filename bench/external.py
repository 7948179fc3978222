"""Benchmark: a retention purge and an access export in an external PostgreSQL system (a data map
over the Clopos schema), against raw batched ``DELETE`` and ``COPY`` on the same database.

    .venv/bin/python -m tests.servers -- .venv/bin/python bench/external.py \\
        --rows 1000000 --export-rows 1000000

(``tests.servers`` starts a throwaway PostgreSQL and Redis; any ``DATABASE_URL`` pointing at a
PostgreSQL server where the user may create databases works too: the benchmark creates its own
databases there, ``bench_external_<pid>_*``, and never touches the one the URL names.) The
defaults, ``--rows 200000 --export-rows 200000``, run in a few minutes.

Set-up, in child processes:

- **POS template** (the external system's database): the Clopos schema (``pos.clopos_db``),
  filled by ``INSERT ... SELECT generate_series``. ``--venues`` venues of the ``clopos-az`` tenant
  closed 60 days ago hold ``--rows`` orders between them, each with ``--items-per-order`` order
  items (inserted first, so their keys are contiguous); every venue has an owner (staff), a
  terminal, a menu item, a sign-in, a staff action, a ticket, a bill and its payment. Rows that
  must stay, a tenth as many orders: open ``clopos-az`` venues, ``clopos-az`` venues closed 5 days
  ago, and venues of the other tenant (``tapkassa-az``) closed 60 days ago.
- **Tracker template**: migrated; an organisation whose published policy deletes account data 30
  days after the account is deleted (payment records exempt for 60 months; the ``account_deleted``
  rule of ``tests/pos_data.ZPOS_RULE``) and offers access; the system, kind SQL, its connection
  URL in ``BENCH_EXTERNAL_DATABASE_URL``, with ``seeds/systems/clopos.toml`` added and checked
  against the POS template (``map_add``, ``map_check``).
- **Export database**: the Clopos schema again, where one owner (the subject) has a venue with
  ``--export-rows`` orders (each with its items), beside rows that are not theirs: other venues'
  orders and the other tenant's venue whose owner has the subject's email.

1. **Purge** (``--rounds`` rounds, 3, on fresh ``CREATE DATABASE ... TEMPLATE`` copies of both
   templates, taking turns to go first): the engine, in a child process, plans and executes the
   rule (``retention_run_start`` + ``run_execute``, what ``manage.py purge`` runs), timing every
   batch; the kernel keeps the process's peak resident memory. The limit, on its own copy of the
   POS template: raw ``DELETE FROM <table> WHERE <key> BETWEEN a AND b`` of the same rows in
   batches of the same size, children first, each its own transaction, and the venues'
   anonymisation as ``UPDATE ... WHERE venue_id BETWEEN``. Both must change the same rows of
   every table and leave the same row counts; the best round of each side counts.
2. **Export**, in a child process: a ``COPY (SELECT ...) TO STDOUT`` of the subject's rows warms
   the cache; the access export is built (``export_build``, as the worker does) while a thread
   samples the process's resident memory every 10 ms; the same ``COPY`` runs again, the very SQL
   the export's finders compile to, through psycopg on the external database.

It prints rows/s of both sides, their ratios (targets: purge at least 0.8, export at least 0.3),
the longest engine batch, the engine's peak RSS and the export's peak RSS growth (target under
64 MB). It exits 1 when the two sides of the purge disagree, 2 on an error (one line). The
databases are dropped at the end, whatever happens, unless ``--keep``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

ORGANIZATION = "bench-external"
RULE = f"{ORGANIZATION}/account-deleted"
SYSTEM = "bench-pos"
VARIABLE = "BENCH_EXTERNAL_DATABASE_URL"
SUBJECT = "subject@bench-external.example"
TENANT, OTHER_TENANT = "clopos-az", "tapkassa-az"
MAP = ROOT / "seeds" / "systems" / "clopos.toml"
MB = 1024 * 1024

# The tables the purge changes, children first, and how each reaches its venue (``v``).
PURGED: dict[str, tuple[str, str]] = {
    "order_items": (
        "item_id",
        "JOIN orders o ON o.order_id = t.order_id JOIN venues v ON v.venue_id = o.venue_id",
    ),
    "orders": ("order_id", "JOIN venues v ON v.venue_id = t.venue_id"),
    "tickets": ("ticket_id", "JOIN venues v ON v.venue_id = t.venue_id"),
    "sign_ins": (
        "sign_in_id",
        "JOIN staff s ON s.staff_id = t.staff_id JOIN venues v ON v.venue_id = s.venue_id",
    ),
    "staff_actions": (
        "action_id",
        "JOIN staff s ON s.staff_id = t.staff_id JOIN venues v ON v.venue_id = s.venue_id",
    ),
    "terminals": ("terminal_id", "JOIN venues v ON v.venue_id = t.venue_id"),
    "menu_items": ("menu_item_id", "JOIN venues v ON v.venue_id = t.venue_id"),
    "staff": ("staff_id", "JOIN venues v ON v.venue_id = t.venue_id"),
}
# Venues are referred to by their bills, kept 60 months: anonymised, not deleted.
ANONYMISED = "venues"


class BenchError(Exception):
    """The benchmark cannot go on; the message says why in one line."""


# --- Databases ----------------------------------------------------------------------------------


def _server() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise BenchError(
            "set DATABASE_URL to a PostgreSQL server where you may create databases, or run "
            "under .venv/bin/python -m tests.servers -- (see the docstring)"
        )
    return url


def _url(name: str) -> str:
    return urlunsplit(urlsplit(_server())._replace(path="/" + name))


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(_url("postgres"), autocommit=True, connect_timeout=10) as connection:
        connection.execute(statement)


def _drop(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# The databases this run created, dropped at the end (unless --keep).
CREATED: list[str] = []


def _create(name: str, template: str | None = None) -> None:
    _drop(name)
    _admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    if name not in CREATED:
        CREATED.append(name)


def _child(mode: str, env: dict[str, str], *args: str, verbose: bool = False) -> dict[str, Any]:
    """Run this script in ``mode`` in a child process with ``env`` added; return its JSON."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        if verbose:
            sys.stderr.write(done.stdout + done.stderr)
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit status {done.returncode}"
        raise BenchError(f"the {mode} step failed: {reason[:500]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- Child: the external databases' rows --------------------------------------------------------


def _venues(
    cursor: Any, *, tenant: str, closed_days_ago: int | None, count: int, label: str
) -> list[int]:
    """Insert ``count`` venues, each with an owner and one row of every other small table."""
    cursor.execute(
        """
        INSERT INTO venues (tenant_code, venue_name, business_type, tax_number, street, city,
                            subscription_plan, currency, opened_at, closed_at, paid_until)
        SELECT %(tenant)s, %(label)s || ' ' || g, 'restaurant', lpad(g::text, 10, '0'),
               'Nizami street ' || g, 'Baku', 'business', 'AZN', now() - interval '3 years',
               now() - make_interval(days => %(closed)s::int), current_date + 30
        FROM generate_series(1, %(count)s) AS g ORDER BY g
        RETURNING venue_id
        """,
        {"tenant": tenant, "label": label, "closed": closed_days_ago, "count": count},
    )
    return sorted(row[0] for row in cursor.fetchall())


def _hanging(cursor: Any, owners: dict[int, str]) -> None:
    """Give each venue (in key order) an owner and one row of every small table."""
    ids = sorted(owners)
    cursor.execute(
        """
        INSERT INTO staff (venue_id, full_name, email_address, mobile, role, is_primary_contact,
                           birth_date, hired_at)
        SELECT v.id, 'Owner ' || v.id, v.email, '+994 50 000 00 00', 'owner', true,
               date '1985-04-01', now() - interval '3 years'
        FROM unnest(%s::bigint[], %s::text[]) AS v(id, email) ORDER BY v.id
        """,
        [ids, [owners[i] for i in ids]],
    )
    per_venue = [
        """INSERT INTO terminals (venue_id, label, platform, serial_number)
           SELECT v, 'Till', 'android', 'SN-' || v FROM unnest(%s::bigint[]) AS v ORDER BY v""",
        """INSERT INTO menu_items (venue_id, item_name, category, price)
           SELECT v, 'Plov', 'Mains', 9.50 FROM unnest(%s::bigint[]) AS v ORDER BY v""",
        """INSERT INTO bills (venue_id, bill_number, issued_on, amount, tax_amount, currency,
                              issuer_tax_number)
           SELECT v, 'CLP-' || v, current_date - 90, 59.00, 9.00, 'AZN', '1400000000'
           FROM unnest(%s::bigint[]) AS v ORDER BY v""",
        """INSERT INTO tickets (venue_id, staff_id, opened_at, channel, subject, body)
           SELECT s.venue_id, s.staff_id, now() - interval '100 days', 'email', 'Printer',
                  'The receipt printer is offline.'
           FROM staff s WHERE s.venue_id = ANY(%s::bigint[]) ORDER BY s.venue_id""",
        """INSERT INTO sign_ins (staff_id, terminal_id, signed_in_at, ip_address, user_agent)
           SELECT s.staff_id, t.terminal_id, now() - interval '100 days', '192.0.2.10',
                  'Clopos/5.2 (Android 13)'
           FROM staff s JOIN terminals t ON t.venue_id = s.venue_id
           WHERE s.venue_id = ANY(%s::bigint[]) ORDER BY s.staff_id""",
        """INSERT INTO staff_actions (staff_id, action, acted_at)
           SELECT s.staff_id, 'refund', now() - interval '100 days'
           FROM staff s WHERE s.venue_id = ANY(%s::bigint[]) ORDER BY s.staff_id""",
        """INSERT INTO bill_payments (bill_id, paid_at, amount, method, card_brand, card_last4,
                                      gateway_ip_address)
           SELECT b.bill_id, now() - interval '89 days', 59.00, 'card', 'Visa', '4242',
                  '203.0.113.7'
           FROM bills b WHERE b.venue_id = ANY(%s::bigint[]) ORDER BY b.bill_id""",
    ]
    for statement in per_venue:
        cursor.execute(statement, [ids])


def _orders(cursor: Any, venue_ids: list[int], per_venue: int) -> None:
    """Insert ``per_venue`` orders per venue, venue by venue, so each venue's keys are contiguous.

    A quarter of them name a guest and their phone, as the demo's do."""
    cursor.execute(
        """
        INSERT INTO orders (venue_id, cashier_id, order_number, placed_at, total, guest_name,
                            guest_phone)
        SELECT v.id, s.staff_id, lpad(v.id::text, 4, '0') || '-' || lpad(g::text, 7, '0'),
               now() - interval '70 days' - g * interval '1 second',
               (1000 + g %% 9000)::numeric / 100,
               CASE WHEN g %% 4 = 0 THEN 'Guest ' || g END,
               CASE WHEN g %% 4 = 0 THEN '+994 50 123 45 67' END
        FROM unnest(%s::bigint[]) WITH ORDINALITY AS v(id, position)
        JOIN staff s ON s.venue_id = v.id AND s.role = 'owner'
        CROSS JOIN generate_series(1, %s) AS g
        ORDER BY v.position, g
        """,
        [venue_ids, per_venue],
    )


def _items(cursor: Any, per_order: int) -> None:
    """Give every order ``per_order`` items, in order key order (so they follow its keys)."""
    cursor.execute(
        """
        INSERT INTO order_items (order_id, menu_item_id, quantity, price)
        SELECT o.order_id, m.menu_item_id, 1.000, o.total
        FROM orders o JOIN menu_items m ON m.venue_id = o.venue_id
        CROSS JOIN generate_series(1, %s) AS g
        ORDER BY o.order_id, g
        """,
        [per_order],
    )


def _fill(url: str, build: Any) -> dict[str, int]:
    """Create the Clopos schema at ``url``, run ``build(cursor)`` in one transaction, analyse;
    return the rows per table."""
    import django
    import psycopg

    django.setup()  # pos.clopos_db reads the settings and imports pos.models
    from pos.clopos_db import TABLES, create_schema

    create_schema(url)
    with psycopg.connect(url) as connection:
        with connection.cursor() as cursor:
            build(cursor)
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE")
        return {
            table: int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
            for table in TABLES
        }


def generate_pos(url: str, *, rows: int, venues: int, items: int) -> dict[str, Any]:
    """The purge's external database (see the docstring)."""
    started = time.perf_counter()
    per_venue = max(1, rows // venues)
    staying = max(1, venues // 5), max(1, venues // 10), max(1, venues // 10)
    per_staying = max(1, rows // 10 // sum(staying))

    def build(cursor: Any) -> None:
        expired = _venues(cursor, tenant=TENANT, closed_days_ago=60, count=venues, label="Closed")
        current = _venues(
            cursor, tenant=TENANT, closed_days_ago=None, count=staying[0], label="Open"
        )
        recent = _venues(cursor, tenant=TENANT, closed_days_ago=5, count=staying[1], label="Recent")
        other = _venues(
            cursor, tenant=OTHER_TENANT, closed_days_ago=60, count=staying[2], label="Other"
        )
        every = expired + current + recent + other
        _hanging(cursor, {v: f"owner-{v}@bench-external.example" for v in every})
        _orders(cursor, expired, per_venue)
        _orders(cursor, current + recent + other, per_staying)
        _items(cursor, items)

    counts = _fill(url, build)
    return {
        "seconds": time.perf_counter() - started,
        "counts": counts,
        "expired_orders": per_venue * venues,
        "staying_orders": per_staying * sum(staying),
    }


def generate_export(url: str, *, rows: int, items: int) -> dict[str, Any]:
    """The export's external database: the subject's venue and rows that are not theirs."""
    started = time.perf_counter()
    others = 5

    def build(cursor: Any) -> None:
        (mine,) = _venues(cursor, tenant=TENANT, closed_days_ago=None, count=1, label="Mine")
        theirs = _venues(cursor, tenant=TENANT, closed_days_ago=None, count=others, label="Theirs")
        # The other tenant's owner has the subject's email: never reached from this organisation.
        (lookalike,) = _venues(
            cursor, tenant=OTHER_TENANT, closed_days_ago=None, count=1, label="Lookalike"
        )
        owners = {v: f"owner-{v}@bench-external.example" for v in theirs}
        _hanging(cursor, {mine: SUBJECT, lookalike: SUBJECT.upper(), **owners})
        _orders(cursor, [mine], rows)
        _orders(cursor, [*theirs, lookalike], max(1, rows // 10 // (others + 1)))
        _items(cursor, items)

    counts = _fill(url, build)
    return {"seconds": time.perf_counter() - started, "counts": counts}


# --- Child: the tracker's database --------------------------------------------------------------


def _django() -> None:
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise BenchError("bench/external.py measures PostgreSQL: set DATABASE_URL")


def generate_tracker() -> dict[str, Any]:
    """Migrate; the organisation, its policy and rule, the system and its checked map."""
    started = time.perf_counter()
    _django()
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from policies.models import (
        DataCategory,
        Organization,
        PeriodUnit,
        Policy,
        PolicyVersion,
        RequestType,
        RequestTypeRule,
        RetentionExemption,
        RetentionRule,
    )
    from policies.services import policy_version_publish
    from systems.models import System, SystemKind
    from systems.services import map_add, map_check

    call_command("migrate", verbosity=0)
    with transaction.atomic():
        organization = Organization.objects.create(
            slug=ORGANIZATION,
            name="Bench External",
            legal_name="Bench External LLC",
            country="AZ",
            time_zone="Asia/Baku",
            languages=["en"],
            contact_email="privacy@bench-external.example",
        )
        policy = Policy.objects.create(organization=organization, slug="privacy", title="Privacy")
        version = PolicyVersion.objects.create(
            policy=policy,
            version_label="bench",
            language="en",
            text="2. How We Use It\nTo sell. Data removed 30 days after the account is closed.",
        )
        for request_type in (RequestType.ACCESS, RequestType.DELETION):
            RequestTypeRule.objects.create(version=version, request_type=request_type)
        rule = RetentionRule.objects.create(
            version=version,
            slug="account-deleted",
            trigger="account_deleted",
            period=30,
            period_unit=PeriodUnit.CALENDAR_DAYS,
        )
        RetentionExemption.objects.create(
            rule=rule,
            category=DataCategory.PAYMENT,
            legal_basis="Tax Code of the Republic of Azerbaijan",
            period=60,
            period_unit=PeriodUnit.MONTHS,
        )
        policy_version_publish(version=version, at=timezone.now() - timedelta(days=400))
        system = System.objects.create(
            organization=organization,
            name="Bench POS database",
            slug=SYSTEM,
            kind=SystemKind.SQL,
            owner_email="it@bench-external.example",
            connection_env=VARIABLE,
        )
    map_add(system, MAP.read_text(encoding="utf-8"))
    result = map_check(system)
    if not result.ok:
        raise BenchError(f"{MAP.name} does not match the database: {'; '.join(result.problems)}")
    return {"seconds": time.perf_counter() - started}


# --- Child: the engine --------------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    """The process's resident memory high-water mark, kept by the kernel."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def engine(batch_size: int) -> dict[str, Any]:
    _django()
    from django.db import connections
    from django.db.models import Max

    from retention.models import PurgeStep
    from retention.purge import run_execute
    from retention.rules import organization_today, retention_run_start, rule_find
    from systems import loading
    from systems.models import System

    system = System.objects.get(slug=SYSTEM)
    if not loading.built_models(system.pk):
        raise BenchError(f"the system {SYSTEM} has no models: its map is not checked")
    rule = rule_find(RULE)
    as_of = organization_today(rule.version.policy.organization)
    with connections[system.alias].cursor() as cursor:  # the same warm cache the limit gets
        cursor.execute("SELECT count(*) FROM orders")
        cursor.execute("SELECT count(*) FROM order_items")

    baseline = _rss()
    longest = 0.0
    last = time.perf_counter()

    per_table: dict[str, float] = {}

    def tick(step: Any, rows: int) -> None:
        nonlocal longest, last
        moment = time.perf_counter()
        longest = max(longest, moment - last)
        table = step.model_label.removeprefix(f"{SYSTEM}.")
        per_table[table] = per_table.get(table, 0.0) + moment - last
        last = moment

    started = time.perf_counter()
    run = retention_run_start(rule=rule, as_of=as_of, batch_size=batch_size)
    planned = time.perf_counter()
    last = planned
    run = run_execute(run, progress=tick)
    seconds = time.perf_counter() - started
    steps = PurgeStep.objects.filter(run=run)
    if steps.exclude(model_label__startswith=f"{SYSTEM}.").exists():
        raise BenchError("the run has steps outside the system: the tracker's POS is not empty")
    return {
        "as_of": as_of.isoformat(),
        "rows": run.total("deleted") + run.total("anonymised"),
        "seconds": seconds,
        "planning_seconds": planned - started,
        "longest_batch_seconds": longest,
        "table_seconds": per_table,
        "longest_batch_in_transaction_ms": steps.aggregate(m=Max("longest_batch_ms"))["m"],
        "steps": steps.count(),
        "batches": sum(steps.values_list("batches", flat=True)),
        "peak_rss": _peak_rss(),
        "baseline_rss": baseline,
        "totals": run.totals,
    }


# --- The limit: raw batched DELETE ... WHERE key BETWEEN ----------------------------------------


def _due(table: str, key: str, path: str) -> str:
    # Names are this module's constants.
    return (
        f"SELECT min(t.{key}), max(t.{key}), count(*) FROM {table} t {path} "
        f"WHERE v.tenant_code = '{TENANT}' AND v.closed_at < now() - interval '30 days'"
    )


def _ranges(connection: Any, table: str, key: str, path: str) -> tuple[int, int, int]:
    row = connection.execute(_due(table, key, path)).fetchone()
    low, high, count = row
    if count and high - low + 1 != count:
        raise BenchError(f"the due rows of {table} are not contiguous: regenerate the dataset")
    return low, high, count


def raw_limit(url: str, batch_size: int) -> dict[str, Any]:
    """Delete the due rows of every table, children first, and anonymise their venues, in
    batches of ``batch_size`` keys, each its own transaction; time only the batches."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT count(*) FROM orders")
        connection.execute("SELECT count(*) FROM order_items")
        plan = [
            (table, key, "DELETE FROM {table} WHERE {key} BETWEEN %s AND %s", path)
            for table, (key, path) in PURGED.items()
        ]
        plan.append(
            (
                ANONYMISED,
                "venue_id",
                "UPDATE {table} SET venue_name = 'erased:' || encode(sha256(convert_to("
                "'key' || venue_name, 'UTF8')), 'hex'), tax_number = NULL, street = 'erased' "
                "WHERE {key} BETWEEN %s AND %s",
                "JOIN venues v ON v.venue_id = t.venue_id",
            )
        )
        bounds = [(entry, _ranges(connection, *entry[:2], entry[3])) for entry in plan]
        changed: dict[str, int] = {}
        per_table: dict[str, float] = {}
        longest = 0.0
        started = time.perf_counter()
        for (table, key, statement, _path), (low, high, count) in bounds:
            changed[table] = 0
            if not count:
                continue
            sql = statement.format(table=table, key=key)
            for first in range(low, high + 1, batch_size):
                batch_started = time.perf_counter()
                cursor = connection.execute(sql, [first, min(high, first + batch_size - 1)])
                changed[table] += cursor.rowcount
                elapsed = time.perf_counter() - batch_started
                per_table[table] = per_table.get(table, 0.0) + elapsed
                longest = max(longest, elapsed)
        seconds = time.perf_counter() - started
    return {
        "rows": sum(changed.values()),
        "changed": changed,
        "table_seconds": per_table,
        "seconds": seconds,
        "longest_batch_seconds": longest,
    }


def _row_counts(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        return {
            table: int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
            for table in (*PURGED, ANONYMISED, "bills", "bill_payments")
        }


def _engine_changed(totals: dict[str, dict[str, int]]) -> dict[str, int]:
    changed = dict.fromkeys((*PURGED, ANONYMISED), 0)
    for label, counts in totals.items():
        table = label.removeprefix(f"{SYSTEM}.")
        if table in changed:
            changed[table] += counts.get("deleted", 0) + counts.get("anonymised", 0)
        elif counts.get("deleted") or counts.get("anonymised"):
            changed[table] = counts.get("deleted", 0) + counts.get("anonymised", 0)
    return changed


# --- Child: the export --------------------------------------------------------------------------


class PeakRss:
    """Sample this process's resident set size every 10 ms in a thread; keep the highest
    (as bench/export.py does)."""

    def __init__(self) -> None:
        self.baseline = _rss()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def copy_rows(identity: Any) -> dict[str, Any]:
    """COPY the subject's rows of every registered model, each with the SQL its finder compiles
    to, on the database the model lives in (the system's, through its psycopg connection)."""
    from django.db import connections

    from subject_data.registry import registry

    rows = size = 0
    per_model: dict[str, int] = {}
    started = time.perf_counter()
    for registration, queryset in registry.for_subject(identity):
        narrow = queryset.order_by("pk").values_list(*registration.columns)
        sql, params = narrow.query.get_compiler(using=narrow.db).as_sql()
        counted = 0
        with (
            connections[narrow.db].cursor() as cursor,
            cursor.cursor.copy(f"COPY ({sql}) TO STDOUT", params) as copy,
        ):
            for block in copy:
                counted += bytes(block).count(b"\n")
                size += len(block)
        per_model[registration.label] = counted
        rows += counted
    return {
        "rows": rows,
        "bytes": size,
        "seconds": time.perf_counter() - started,
        "models": per_model,
    }


def export(chunk_size: int | None) -> dict[str, Any]:
    _django()
    import zipfile

    from django.conf import settings
    from django.utils import timezone

    from exports.build import export_build, export_storage
    from exports.models import ExportPackage
    from policies.models import Organization, PolicyVersion, RequestType
    from requests_app.intake import SubjectDetails, request_submit
    from requests_app.workflow import request_mark_verified
    from subject_data.registry import SubjectIdentity
    from subject_data.schema import schema_url
    from systems import loading
    from systems.models import System

    if chunk_size:
        settings.EXPORT_CHUNK_SIZE = chunk_size
    system = System.objects.get(slug=SYSTEM)
    if not loading.built_models(system.pk):
        raise BenchError(f"the system {SYSTEM} has no models: its map is not checked")
    organization = Organization.objects.get(slug=ORGANIZATION)
    version = PolicyVersion.objects.get(policy__organization=organization)
    submitted = request_submit(
        organization=organization,
        version=version,
        rule=version.request_type_rules.get(request_type=RequestType.ACCESS),
        subject=SubjectDetails(email=SUBJECT, name="Bench Subject"),
        language="en",
    )
    request = request_mark_verified(request=submitted.request, at=timezone.now())
    identity = SubjectIdentity.of_request(request)

    warm = copy_rows(identity)
    schema_url()  # the URLconf, loaded as in a worker that has run a task before
    package = ExportPackage.objects.create(request=request, kind="access")
    gc.collect()
    with PeakRss() as memory:
        started = time.perf_counter()
        built = export_build(package_id=package.pk)
        export_seconds = time.perf_counter() - started
    if built is None:
        raise BenchError("export_build built nothing (the package was not claimed)")
    copy = copy_rows(identity)
    if not copy["rows"] == warm["rows"] == built.total_rows:
        raise BenchError(
            f"the export has {built.total_rows:,} rows, COPY {copy['rows']:,} and {warm['rows']:,}"
        )
    with export_storage().open(built.file_path, "rb") as stored:
        manifest = json.loads(zipfile.ZipFile(stored).read("manifest.json"))
    written = sum(f["size"] for f in manifest["files"] if f["name"] != "summary.html")
    export_storage().delete(built.file_path)
    return {
        "rows": built.total_rows,
        "models": built.row_counts["models"],
        "seconds": export_seconds,
        "written": written,
        "zip": built.size,
        "chunk_size": settings.EXPORT_CHUNK_SIZE,
        "copy": copy,
        "baseline_rss": memory.baseline,
        "growth": memory.growth,
    }


# --- Main ---------------------------------------------------------------------------------------


def _purge(names: dict[str, str], options: argparse.Namespace) -> int:
    batch = str(options.batch_size)
    ours_runs: list[dict[str, Any]] = []
    limit_runs: list[dict[str, Any]] = []
    ratios: list[float] = []
    for number in range(options.rounds):
        for copy, template in (
            ("tracker_engine", "tracker"),
            ("pos_engine", "pos"),
            ("pos_limit", "pos"),
        ):
            _create(names[copy], names[template])
        env = {"DATABASE_URL": _url(names["tracker_engine"]), VARIABLE: _url(names["pos_engine"])}

        def run_engine(env: dict[str, str] = env) -> None:
            ours_runs.append(_child("engine", env, "--batch-size", batch, verbose=options.verbose))

        def run_limit() -> None:
            limit_runs.append(raw_limit(_url(names["pos_limit"]), options.batch_size))

        for side in (run_limit, run_engine) if number % 2 else (run_engine, run_limit):
            side()
        engine_changed = _engine_changed(ours_runs[-1]["totals"])
        if engine_changed != limit_runs[-1]["changed"]:
            print(f"MISMATCH: engine changed {engine_changed}, limit {limit_runs[-1]['changed']}")
            return 1
        engine_left = _row_counts(_url(names["pos_engine"]))
        limit_left = _row_counts(_url(names["pos_limit"]))
        if engine_left != limit_left:
            print(
                f"MISMATCH: rows left after the engine {engine_left}, after the limit {limit_left}"
            )
            return 1
        ratios.append(
            (ours_runs[-1]["rows"] / ours_runs[-1]["seconds"])
            / (limit_runs[-1]["rows"] / limit_runs[-1]["seconds"])
        )
    ours = min(ours_runs, key=lambda r: r["seconds"])
    limit = min(limit_runs, key=lambda r: r["seconds"])
    ours_rate = ours["rows"] / ours["seconds"]
    limit_rate = limit["rows"] / limit["seconds"]
    ratio = ours_rate / limit_rate
    changed = limit["changed"]
    print(f"purge: batch size {options.batch_size:,}; rows changed (the same on both sides):")
    print(
        "  " + ", ".join(f"{table} {count:,}" for table, count in changed.items())
        + f"; left in place: {engine_left['orders']:,} orders, {engine_left['bills']:,} bills"
    )  # fmt: skip
    print(
        f"  engine: {ours['rows']:,} rows in {ours['seconds']:.2f} s = {ours_rate:,.0f} rows/s "
        f"({ours['steps']} steps, {ours['batches']} batches, planning "
        f"{ours['planning_seconds']:.2f} s)"
    )
    print(
        f"  limit:  {limit['rows']:,} rows by DELETE ... WHERE key BETWEEN (and the venues' "
        f"UPDATE) in {limit['seconds']:.2f} s = {limit_rate:,.0f} rows/s"
    )
    print(
        f"  ratio:  {ratio:.2f} (target >= 0.8) {'PASS' if ratio >= 0.8 else 'MISS'}; per round: "
        f"{', '.join(f'{r:.2f}' for r in ratios)} (best of {options.rounds} each)"
    )
    others = [t for t in changed if t not in ("order_items", "orders")]
    print(
        "  seconds per table, engine / limit (their best rounds; the engine's include the work "
        "between batches): "
        + ", ".join(
            f"{table} {ours['table_seconds'].get(table, 0):.2f} / "
            f"{limit['table_seconds'].get(table, 0):.2f}"
            for table in ("order_items", "orders")
        )
        + f", the other {len(others)} tables "
        + f"{sum(ours['table_seconds'].get(t, 0) for t in others):.2f} / "
        + f"{sum(limit['table_seconds'].get(t, 0) for t in others):.2f}"
    )
    longest = ours["longest_batch_seconds"]
    print(
        f"  longest engine batch: {longest * 1000:.0f} ms with its commits "
        f"({ours['longest_batch_in_transaction_ms']} ms inside the transaction); limit's longest "
        f"{limit['longest_batch_seconds'] * 1000:.0f} ms (target < 1000 ms) "
        f"{'PASS' if longest < 1 else 'MISS'}"
    )
    peak = ours["peak_rss"] / MB
    print(
        f"  engine peak RSS: {peak:.0f} MB (baseline after start-up "
        f"{ours['baseline_rss'] / MB:.0f} MB) (target < 150 MB) {'PASS' if peak < 150 else 'MISS'}"
    )
    return 0


def _export(names: dict[str, str], options: argparse.Namespace, media: str) -> int:
    _create(names["tracker_export"], names["tracker"])
    env = {
        "DATABASE_URL": _url(names["tracker_export"]),
        VARIABLE: _url(names["export"]),
        "MEDIA_ROOT": media,
    }
    result = _child("export", env, "--chunk-size", str(options.chunk_size), verbose=options.verbose)
    copy = result["copy"]
    orders = result["models"].get(f"{SYSTEM}.orders", 0)
    if orders != options.export_rows:
        print(f"MISMATCH: the export holds {orders:,} orders, not {options.export_rows:,}")
        return 1
    export_rate = result["rows"] / result["seconds"]
    copy_rate = copy["rows"] / copy["seconds"]
    ratio = export_rate / copy_rate
    growth = result["growth"] / MB
    print(
        f"export: {result['rows']:,} rows ({orders:,} orders, "
        f"{result['models'].get(f'{SYSTEM}.order_items', 0):,} order items); chunk size "
        f"{result['chunk_size']}"
    )
    print(
        f"  export: {result['seconds']:6.2f} s  {export_rate:10,.0f} rows/s  "
        f"{result['written'] / MB / result['seconds']:6.1f} MB/s of data.json + CSV "
        f"({result['written'] / MB:,.0f} MB, ZIP {result['zip'] / MB:,.0f} MB)"
    )
    print(
        f"  COPY:   {copy['seconds']:6.2f} s  {copy_rate:10,.0f} rows/s  "
        f"{copy['bytes'] / MB / copy['seconds']:6.1f} MB/s of COPY text "
        f"({copy['bytes'] / MB:,.0f} MB)"
    )
    print(
        f"  ratio (export rows/s / COPY rows/s): {ratio:.2f} (target >= 0.3) "
        f"{'PASS' if ratio >= 0.3 else 'MISS'}"
    )
    print(
        f"  peak RSS growth during the export: {growth:.1f} MB (baseline "
        f"{result['baseline_rss'] / MB:.0f} MB; target < 64 MB) {'PASS' if growth < 64 else 'MISS'}"
    )
    return 0


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(f"bench/external.py: stopped by signal {signum}")


def run(options: argparse.Namespace) -> int:
    _server()
    prefix = f"bench_external_{os.getpid()}"
    keys = ("pos", "tracker", "export", "pos_engine", "pos_limit", "tracker_engine")
    names = {key: f"{prefix}_{key}" for key in (*keys, "tracker_export")}
    media = tempfile.mkdtemp(prefix="dsr-bench-external-")
    started = time.perf_counter()
    purge = options.only in (None, "purge")
    exporting = options.only in (None, "export")
    try:
        _create(names["pos"])
        made = _child(
            "generate-pos",
            {VARIABLE: _url(names["pos"])},
            "--rows", str(options.rows),
            "--venues", str(options.venues),
            "--items-per-order", str(options.items_per_order),
            verbose=options.verbose,
        )  # fmt: skip
        _create(names["tracker"])
        tracker = _child(
            "generate-tracker",
            {"DATABASE_URL": _url(names["tracker"]), VARIABLE: _url(names["pos"])},
            verbose=options.verbose,
        )
        counts = made["counts"]
        print(
            f"external database: {made['expired_orders']:,} orders of {options.venues} closed "
            f"{TENANT} venues due, {made['staying_orders']:,} that stay; "
            f"{counts['orders']:,} orders, {counts['order_items']:,} order items, "
            f"{counts['venues']:,} venues; generated in {made['seconds']:.1f} s; tracker "
            f"migrated and the map checked in {tracker['seconds']:.1f} s"
        )
        status = 0
        if purge:
            status = max(status, _purge(names, options))
        if exporting:
            _create(names["export"])
            made = _child(
                "generate-export",
                {VARIABLE: _url(names["export"])},
                "--export-rows", str(options.export_rows),
                "--items-per-order", str(options.items_per_order),
                verbose=options.verbose,
            )  # fmt: skip
            print(
                f"export database: the subject's {options.export_rows:,} orders among "
                f"{made['counts']['orders']:,}; generated in {made['seconds']:.1f} s"
            )
            status = max(status, _export(names, options, media))
        print(f"finished in {time.perf_counter() - started:.0f} s")
        return status
    finally:
        shutil.rmtree(media, ignore_errors=True)
        if options.keep:
            print(f"kept the databases {', '.join(CREATED)}")
        else:
            for name in CREATED:
                try:
                    _drop(name)
                except Exception as error:  # report each, go on with the others
                    reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
                    print(f"bench/external.py: could not drop {name}: {reason}", file=sys.stderr)


def _child_main(options: argparse.Namespace) -> dict[str, Any]:
    if options.child == "generate-pos":
        return generate_pos(
            os.environ[VARIABLE],
            rows=options.rows,
            venues=options.venues,
            items=options.items_per_order,
        )
    if options.child == "generate-export":
        return generate_export(
            os.environ[VARIABLE], rows=options.export_rows, items=options.items_per_order
        )
    if options.child == "generate-tracker":
        return generate_tracker()
    if options.child == "engine":
        return engine(options.batch_size)
    if options.child == "export":
        return export(options.chunk_size or None)
    raise BenchError(f"unknown child mode {options.child!r}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="orders the purge deletes")
    parser.add_argument("--venues", type=int, default=100, help="closed venues holding them")
    parser.add_argument("--export-rows", type=int, default=200_000, help="the subject's orders")
    parser.add_argument("--items-per-order", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=5000, help="purge batch size")
    parser.add_argument("--rounds", type=int, default=3, help="purge rounds of each side")
    parser.add_argument("--chunk-size", type=int, default=0, help="EXPORT_CHUNK_SIZE to use")
    parser.add_argument("--only", choices=("purge", "export"), help="run one of the two")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--verbose", action="store_true", help="show a failed step's output")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    for name in ("rows", "venues", "export_rows", "items_per_order", "batch_size", "rounds"):
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if options.child:
        try:
            result = _child_main(options)
        except Exception as error:
            # One line for the parent to show; the traceback for --verbose.
            import traceback

            traceback.print_exc()
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            print(f"{type(error).__name__}: {message}", file=sys.stderr)
            return 2
        print(json.dumps(result, default=str))
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return run(options)
    except BenchError as error:
        print(f"bench/external.py: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench/external.py: interrupted", file=sys.stderr)
        return 2
    except Exception as error:  # a database refusing, a driver error: one line
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(f"bench/external.py: {type(error).__name__}: {first}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
