"""Benchmark: the retention purge against raw ``DELETE ... WHERE id BETWEEN``; and a kill test.

    .venv/bin/python -m tests.servers -- .venv/bin/python bench/purge.py --sales 1000000

(``tests.servers`` starts a throwaway PostgreSQL and Redis; any ``DATABASE_URL`` pointing at a
PostgreSQL server where the user may create databases works too.) The default, ``--sales
200000``, runs in a few minutes.

1. A template database is migrated and filled: an organisation whose policy deletes account data
   30 days after the account is deleted and keeps payment records 60 months; ``--accounts``
   accounts deleted 60 days ago holding ``--sales`` sales between them (inserted first, so their
   ids are contiguous), each with a user, a device, a product, invoices and payments; and rows
   that must stay: the sales (a tenth as many) of current accounts and of accounts deleted 5 days
   ago, and every invoice and payment.
2. Three copies are made of it (``CREATE DATABASE ... TEMPLATE``).
3. **Engine**: in a child process, the retention run is planned and executed (``run_execute``,
   what ``manage.py purge`` and the worker tasks run), timing every batch; the kernel keeps the
   process's peak resident memory.
4. **Limit**: on the second copy, raw ``DELETE FROM pos_sale WHERE id BETWEEN a AND b`` of the
   same expired sales in batches of the same size, each its own transaction.
   Engine and limit each run ``--rounds`` times (3) on fresh copies, taking turns to go first,
   so that neither gets the quieter moment of a busy machine; the best round of each counts.
5. **Kill test**: on the third copy, ``manage.py purge`` is killed with SIGKILL at random points
   ``--kills`` times, then run to completion; every POS table (its rows, hashed in primary key
   order) and the run's counts must equal the uninterrupted run's.

It prints rows/s of both, their ratio (target at least 0.8), the longest engine batch (target
under 1 s), the engine's peak RSS (target under 150 MB) and the kill test's verdict; it exits
non-zero when the kill test fails. The databases are dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

ORGANIZATION = "bench-purge"
RULE = f"{ORGANIZATION}/account-deleted"
MB = 1024 * 1024
POS_TABLES = (
    "pos_account",
    "pos_accountuser",
    "pos_staffactivity",
    "pos_product",
    "pos_sale",
    "pos_saleline",
    "pos_invoice",
    "pos_payment",
    "pos_device",
    "pos_login",
    "pos_supportmessage",
)


# --- Databases ----------------------------------------------------------------------------------


def _url(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + name))


def _base_name() -> str:
    return urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/") or "postgres"


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(_url("postgres"), autocommit=True) as connection:
        connection.execute(statement)


def _drop(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _clone(template: str, name: str) -> None:
    _drop(name)
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def _child(mode: str, database: str, *args: str) -> dict[str, Any]:
    """Run this script in ``mode`` against ``database`` in a child process; return its JSON."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, *args],
        env={**os.environ, "DATABASE_URL": _url(database)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"bench/purge.py --child {mode} failed")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- Child: generate the dataset -----------------------------------------------------------------


def generate(sales: int, accounts: int) -> dict[str, Any]:
    import django

    django.setup()
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import connection, transaction
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
    from pos.models import Account, AccountUser, Device, Invoice, Payment, Product

    if connection.vendor != "postgresql":
        raise SystemExit("bench/purge.py measures PostgreSQL: set DATABASE_URL (see the docstring)")
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    now = timezone.now()
    with transaction.atomic():
        organization = Organization.objects.create(
            slug=ORGANIZATION,
            name="Bench Purge",
            legal_name="Bench Purge LLC",
            country="UZ",
            time_zone="Asia/Tashkent",
            languages=["en"],
            contact_email="privacy@bench.example",
        )
        policy = Policy.objects.create(organization=organization, slug="privacy", title="Privacy")
        version = PolicyVersion.objects.create(
            policy=policy, version_label="bench", language="en", text="Data removed in 30 days."
        )
        RequestTypeRule.objects.create(version=version, request_type=RequestType.DELETION)
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
            legal_basis="Accounting and tax records",
            period=60,
            period_unit=PeriodUnit.MONTHS,
        )
        policy_version_publish(version=version, at=now - timedelta(days=400))

        def make(count: int, deleted_days_ago: int | None) -> list[int]:
            created = Account.objects.bulk_create(
                Account(
                    organization=organization,
                    company_name=f"Merchant {n}",
                    tax_id=f"{300_000_000 + n}",
                    business_type="retail",
                    currency="UZS",
                    subscription_plan="business",
                    licence_paid_until=now.date() + timedelta(days=30),
                    deleted_at=(
                        now - timedelta(days=deleted_days_ago) if deleted_days_ago else None
                    ),
                )
                for n in range(count)
            )
            for account in created:
                AccountUser.objects.create(
                    account=account,
                    first_name="Owner",
                    last_name=str(account.pk),
                    email=f"owner-{account.pk}@bench.example",
                    role="owner",
                    is_primary_contact=True,
                )
                Device.objects.create(
                    account=account, name="Till", platform="android", identifier=f"d-{account.pk}"
                )
                Product.objects.create(account=account, name="Bread", sku="B-1", price="5.00")
                for n in range(2):
                    invoice = Invoice.objects.create(
                        account=account,
                        number=f"INV-{n}",
                        issued_at=now - timedelta(days=90),
                        amount="100.00",
                        tax_amount="12.00",
                        currency="UZS",
                    )
                    Payment.objects.create(
                        invoice=invoice, paid_at=invoice.issued_at, amount="100.00", method="cash"
                    )
            return [account.pk for account in created]

        expired = make(accounts, 60)
        staying = make(max(1, accounts // 5), None) + make(max(1, accounts // 10), 5)

    def insert_sales(account_ids: list[int], per_account: int) -> None:
        # Account by account, so each account's sales (and all expired ones) are contiguous.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO pos_sale (account_id, number, created_at, total, customer_name,
                                      customer_phone)
                SELECT a.id, 'S-' || g, now() - interval '70 days', 10.00, 'Customer ' || g, ''
                FROM unnest(%s::bigint[]) WITH ORDINALITY AS a(id, position)
                CROSS JOIN generate_series(1, %s) AS g
                ORDER BY a.position, g
                """,
                [account_ids, per_account],
            )

    insert_sales(expired, max(1, sales // accounts))
    insert_sales(staying, max(1, sales // 10 // len(staying)))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"seconds": time.perf_counter() - started}


# --- Child: the engine --------------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    """The process's resident memory high-water mark, kept by the kernel (no sampling thread,
    which would compete with the purge for the interpreter)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def engine(batch_size: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.db import connection
    from django.db.models import Max

    from retention.models import PurgeStep
    from retention.purge import run_execute
    from retention.rules import organization_today, rule_find

    rule = rule_find(RULE)
    as_of = organization_today(rule.version.policy.organization)
    with connection.cursor() as cursor:  # the same warm cache the limit gets
        cursor.execute("SELECT count(*) FROM pos_sale")
    from retention.rules import retention_run_start

    baseline = _rss()
    longest = 0.0
    last = time.perf_counter()

    def tick(step: Any, rows: int) -> None:
        nonlocal longest, last
        moment = time.perf_counter()
        longest = max(longest, moment - last)
        last = moment

    started = time.perf_counter()
    run = retention_run_start(rule=rule, as_of=as_of, batch_size=batch_size)
    planned = time.perf_counter()
    last = planned
    run = run_execute(run, progress=tick)
    seconds = time.perf_counter() - started
    steps = PurgeStep.objects.filter(run=run)
    return {
        "as_of": as_of.isoformat(),
        "rows": run.total("deleted") + run.total("anonymised"),
        "sales": run.totals["pos.sale"]["deleted"],
        "seconds": seconds,
        "planning_seconds": planned - started,
        "longest_batch_seconds": longest,
        "longest_batch_in_transaction_ms": steps.aggregate(m=Max("longest_batch_ms"))["m"],
        "steps": steps.count(),
        "batches": sum(steps.values_list("batches", flat=True)),
        "peak_rss": _peak_rss(),
        "baseline_rss": baseline,
        "totals": run.totals,
    }


def fingerprint() -> dict[str, Any]:
    """Every POS table's row count and an MD5 of its rows in primary key order; the runs' counts."""
    import django

    django.setup()
    from django.db import connection

    from retention.models import PurgeRun

    tables = {}
    with connection.cursor() as cursor:
        for table in POS_TABLES:
            cursor.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) "
                f"FROM {table} t"
            )
            tables[table] = list(cursor.fetchone() or ())
    # Counted once, however many runs it took: the sum over runs, and whether any is unfinished
    # (a resumed run is the same run; a later start after a finished one finds nothing to do).
    totals: dict[str, dict[str, int]] = {}
    for run in PurgeRun.objects.all():
        for label, counts in run.totals.items():
            for column, value in counts.items():
                if column != "kept":  # rows left in place, re-counted by every run
                    entry = totals.setdefault(label, {})
                    entry[column] = entry.get(column, 0) + value
    unfinished = PurgeRun.objects.filter(finished_at__isnull=True).count()
    return {"tables": tables, "runs": {"totals": totals, "unfinished": unfinished}}


# --- The limit: raw batched DELETE ... WHERE id BETWEEN ----------------------------------------


def raw_limit(database: str, batch_size: int) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(_url(database), autocommit=True) as connection:
        connection.execute("SELECT count(*) FROM pos_sale")
        row = connection.execute(
            """
            SELECT min(s.id), max(s.id), count(*) FROM pos_sale s
            JOIN pos_account a ON a.id = s.account_id
            WHERE a.deleted_at < now() - interval '30 days'
            """
        ).fetchone()
        assert row is not None
        low, high, count = row
        if high - low + 1 != count:
            raise SystemExit("the expired sales are not contiguous: regenerate the dataset")
        deleted = 0
        longest = 0.0
        started = time.perf_counter()
        for first in range(low, high + 1, batch_size):
            batch_started = time.perf_counter()
            cursor = connection.execute(
                "DELETE FROM pos_sale WHERE id BETWEEN %s AND %s",
                [first, min(high, first + batch_size - 1)],
            )
            deleted += cursor.rowcount
            longest = max(longest, time.perf_counter() - batch_started)
        seconds = time.perf_counter() - started
    return {"rows": deleted, "seconds": seconds, "longest_batch_seconds": longest}


# --- The kill test ------------------------------------------------------------------------------


def kill_test(database: str, *, kills: int, as_of: str, batch_size: int) -> int:
    """Kill ``manage.py purge`` ``kills`` times at random points while it purges, then let it
    finish; return how many kills landed on a purge in progress.

    The first kill lands at a random moment of start-up and planning; each later one after a
    random number of committed batches (1 to 4) and a random fraction of the next batch, so
    kills fall inside transactions as well as between them.
    """
    import psycopg

    command = [
        sys.executable,
        str(ROOT / "manage.py"),
        "purge",
        "--rule",
        RULE,
        "--as-of",
        as_of,
        "--batch-size",
        str(batch_size),
        "--verbosity",
        "0",
    ]
    env = {**os.environ, "DATABASE_URL": _url(database)}
    chance = random.Random()
    landed = 0

    def progress(connection: psycopg.Connection[Any]) -> tuple[int, bool]:
        """Batches committed so far, and whether the run is finished."""
        row = connection.execute(
            "SELECT coalesce(sum(s.batches), 0), bool_and(r.finished_at IS NOT NULL) "
            "FROM requests_app_purgerun r LEFT JOIN requests_app_purgestep s ON s.run_id = r.id"
        ).fetchone()
        return (int(row[0]), bool(row[1])) if row else (0, False)

    with psycopg.connect(_url(database), autocommit=True) as watcher:
        for number in range(kills):
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            if number == 0:
                time.sleep(chance.uniform(0.2, 3.0))
            else:
                before, _finished = progress(watcher)
                wanted = before + chance.randint(1, 4)
                while process.poll() is None and progress(watcher)[0] < wanted:
                    time.sleep(0.002)
                time.sleep(chance.uniform(0, 0.03))
            if process.poll() is None and not progress(watcher)[1]:
                process.send_signal(signal.SIGKILL)
                landed += 1
            process.wait()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return landed


# --- Main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="engine and limit runs each")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child == "generate":
        print(json.dumps(generate(options.sales, options.accounts)))
        return 0
    if options.child == "engine":
        print(json.dumps(engine(options.batch_size)))
        return 0
    if options.child == "fingerprint":
        print(json.dumps(fingerprint(), default=str))
        return 0

    base = _base_name()
    names = {k: f"{base}_purge_{k}" for k in ("template", "engine", "limit", "kill")}
    for name in names.values():
        _drop(name)
    _admin(f'CREATE DATABASE "{names["template"]}"')
    try:
        made = _child(
            "generate",
            names["template"],
            "--sales",
            str(options.sales),
            "--accounts",
            str(options.accounts),
        )
        print(
            f"dataset: {options.sales:,} expired sales in {options.accounts} accounts, plus rows "
            f"that stay; generated in {made['seconds']:.1f} s"
        )
        for key in ("engine", "limit", "kill"):
            _clone(names["template"], names[key])

        batch = str(options.batch_size)
        # Rounds on fresh copies, alternating which goes first, so neither gets the quieter
        # moment of a busy machine; the best round of each is compared.
        ours_runs, limit_runs, ratios = [], [], []
        for round_number in range(options.rounds):
            if round_number:
                for key in ("engine", "limit"):
                    _clone(names["template"], names[key])
            if round_number % 2:
                limit_runs.append(raw_limit(names["limit"], options.batch_size))
                ours_runs.append(_child("engine", names["engine"], "--batch-size", batch))
            else:
                ours_runs.append(_child("engine", names["engine"], "--batch-size", batch))
                limit_runs.append(raw_limit(names["limit"], options.batch_size))
            ratios.append(
                (ours_runs[-1]["rows"] / ours_runs[-1]["seconds"])
                / (limit_runs[-1]["rows"] / limit_runs[-1]["seconds"])
            )
        ours = min(ours_runs, key=lambda r: r["seconds"])
        limit = min(limit_runs, key=lambda r: r["seconds"])
        if limit["rows"] != ours["sales"]:
            print(
                f"MISMATCH: the engine deleted {ours['sales']:,} sales, the limit {limit['rows']:,}"
            )
            return 1
        ours_rate = ours["rows"] / ours["seconds"]
        limit_rate = limit["rows"] / limit["seconds"]
        ratio = ours_rate / limit_rate
        print(f"batch size {options.batch_size:,}")
        print(
            f"engine: {ours['rows']:,} rows (all models; {ours['sales']:,} sales) in "
            f"{ours['seconds']:.2f} s = {ours_rate:,.0f} rows/s "
            f"({ours['steps']} steps, {ours['batches']} batches, planning "
            f"{ours['planning_seconds']:.2f} s)"
        )
        print(
            f"limit:  {limit['rows']:,} sales by DELETE ... WHERE id BETWEEN in "
            f"{limit['seconds']:.2f} s = {limit_rate:,.0f} rows/s"
        )
        print(
            f"ratio:  {ratio:.2f} (target >= 0.8) {'PASS' if ratio >= 0.8 else 'MISS'}; per "
            f"round: {', '.join(f'{r:.2f}' for r in ratios)} (best of {options.rounds} each)"
        )
        longest = ours["longest_batch_seconds"]
        print(
            f"longest engine batch: {longest * 1000:.0f} ms with its commit "
            f"({ours['longest_batch_in_transaction_ms']} ms inside the transaction); limit's "
            f"longest {limit['longest_batch_seconds'] * 1000:.0f} ms "
            f"(target < 1000 ms) {'PASS' if longest < 1 else 'MISS'}"
        )
        peak = ours["peak_rss"] / MB
        print(
            f"engine peak RSS: {peak:.0f} MB (baseline after start-up "
            f"{ours['baseline_rss'] / MB:.0f} MB) (target < 150 MB) "
            f"{'PASS' if peak < 150 else 'MISS'}"
        )

        if options.kills:
            landed = kill_test(
                names["kill"],
                kills=options.kills,
                as_of=ours["as_of"],
                batch_size=options.batch_size,
            )
            uninterrupted = _child("fingerprint", names["engine"])
            resumed = _child("fingerprint", names["kill"])
            same = uninterrupted == resumed
            verdict = "EQUAL to" if same else "DIFFERENT from"
            print(
                f"kill test: SIGKILL {landed} of {options.kills} times at random points of a "
                f"purge in progress, then resumed: final state {verdict} the uninterrupted run "
                f"({len(POS_TABLES)} tables and the run's counts compared) "
                f"{'PASS' if same and landed == options.kills else 'FAIL'}"
            )
            if not same:
                for table, value in uninterrupted["tables"].items():
                    if resumed["tables"][table] != value:
                        print(f"  {table}: {value} != {resumed['tables'][table]}")
                print(f"  runs: {uninterrupted['runs']} != {resumed['runs']}")
                return 1
            if landed < options.kills:
                print("  the purge finished before every kill landed: use more --sales")
                return 1
        return 0
    finally:
        if not options.keep:
            for name in names.values():
                _drop(name)


if __name__ == "__main__":
    raise SystemExit(main())
