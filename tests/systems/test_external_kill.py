"""A purge in a system's own database killed with SIGKILL at random points, then resumed: the
rows left there and the run's counts are those of an uninterrupted run, although each batch
commits in two databases (``retention.purge._batch_run_in_system``)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db.models import Sum

from policies.models import Organization
from retention.models import PurgeRun, PurgeStep
from systems.models import System, SystemKind
from systems.services import map_add, map_check
from tests.conftest import _test_database_url
from tests.factories import OrganizationFactory
from tests.pos_data import ZPOS_RULE, retention_version
from tests.systems.test_external_sql import MAP, ROWS, SCHEMA

ROOT = Path(__file__).resolve().parents[2]
KILLS = 5
ORDERS = 600


def _batches_done() -> int:
    return int(PurgeStep.objects.aggregate(done=Sum("batches"))["done"] or 0)


def _finished() -> bool:
    return PurgeRun.objects.filter(finished_at__isnull=False).exists()


@pytest.fixture
def external(tmp_path: Path) -> Path:
    path = tmp_path / "venues.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA["sqlite"])
        for statement in ROWS:
            db.execute(statement)
        db.execute("UPDATE venues SET closed_at = '2027-01-01 08:00:00' WHERE venue_id IN (1, 2)")
        for number in range(ORDERS):
            db.execute("INSERT INTO orders VALUES (?, 1, 10, 1.00)", (2000 + number,))
            db.execute(
                "INSERT INTO order_items VALUES (?, ?, 'Tea')", (5000 + number, 2000 + number)
            )
    return path


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        return {
            table: list(db.execute(f"SELECT * FROM {table} ORDER BY 1"))  # noqa: S608 - fixed names
            for table in ("venues", "staff", "orders", "order_items", "bills")
        }


@pytest.mark.django_db(transaction=True)
def test_an_external_purge_killed_at_random_points_ends_like_an_uninterrupted_one(
    external: Path, system_connections: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    organization: Organization = OrganizationFactory.create(
        slug="kill-venues", time_zone="Asia/Baku"
    )
    retention_version(organization, rules=[ZPOS_RULE])
    monkeypatch.setenv("KILL_VENUES_URL", f"sqlite:///{external}")
    system = System.objects.create(
        organization=organization,
        name="Venues",
        slug="venues",
        kind=SystemKind.SQL,
        owner_email="it@venue.example",
        connection_env="KILL_VENUES_URL",
    )
    map_add(system, MAP)
    assert map_check(system).ok
    command = [
        sys.executable,
        "manage.py",
        "purge",
        "--rule",
        "kill-venues/account-deleted",
        "--as-of",
        "2027-03-01",
        "--batch-size",
        "10",
        "--verbosity",
        "0",
    ]
    env = {**os.environ, "DATABASE_URL": _test_database_url()}
    chance = random.Random()

    kills = 0
    for number in range(KILLS):
        process = subprocess.Popen(command, cwd=ROOT, env=env)
        if number == 0:
            time.sleep(chance.uniform(0.2, 1.5))
        else:
            wanted = _batches_done() + chance.randint(1, 8)
            while process.poll() is None and _batches_done() < wanted:
                time.sleep(0.002)
            time.sleep(chance.uniform(0, 0.005))
        if process.poll() is not None or _finished():
            process.wait(timeout=30)
            break
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        kills += 1
    finished = subprocess.run(command, cwd=ROOT, env=env, timeout=300, check=False)

    assert finished.returncode == 0
    assert kills == KILLS, "the purge finished before every kill: make the dataset larger"
    rows = _rows(external)
    assert [r[0] for r in rows["staff"]] == [12, 13]
    assert [r[0] for r in rows["orders"]] == [102, 103]
    assert [r[0] for r in rows["order_items"]] == [1002, 1003]
    assert [r[0] for r in rows["bills"]] == [500, 501]
    venues = {r[0]: r[2] for r in rows["venues"]}
    assert str(venues[1]).startswith("erased:")
    assert venues[2] == "Other Tenant Cafe"
    (run,) = PurgeRun.objects.all()
    assert run.is_finished
    assert run.totals["venues.orders"]["deleted"] == ORDERS + 2
    assert run.totals["venues.order_items"]["deleted"] == ORDERS + 2
    assert run.totals["venues.staff"]["deleted"] == 2
    assert run.totals["venues.venues"]["anonymised"] == 1
    assert not PurgeStep.objects.filter(pending_last__isnull=False).exists()
