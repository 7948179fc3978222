"""The purge killed with SIGKILL at random points, then resumed: the end state and counts are
those of an uninterrupted run. (``bench/purge.py`` runs the same on a large dataset.)"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Sum

from pos.models import Sale, SaleLine
from retention.models import PurgeRun, PurgeStep
from tests.conftest import _test_database_url
from tests.factories import OrganizationFactory
from tests.pos_data import (
    ZPOS_RULE,
    merchant,
    retention_version,
    surviving,
)

ROOT = Path(__file__).resolve().parents[2]
TASHKENT = ZoneInfo("Asia/Tashkent")
KILLS = 5


def _bulk_sales(ids: dict[str, set[int]], count: int) -> None:
    """Add ``count`` sales with a line each to the merchant ``ids`` describes."""
    (account_id,) = ids["pos.account"]
    (product_id,) = ids["pos.product"]
    sales = Sale.objects.bulk_create(
        Sale(account_id=account_id, number=f"K-{account_id}-{n}", total=Decimal("10.00"))
        for n in range(count)
    )
    lines = SaleLine.objects.bulk_create(
        SaleLine(sale=sale, product_id=product_id, quantity=Decimal(1), unit_price=Decimal(10))
        for sale in sales
    )
    ids["pos.sale"] |= {sale.pk for sale in sales}
    ids["pos.saleline"] |= {line.pk for line in lines}


def _batches_done() -> int:
    return int(PurgeStep.objects.aggregate(done=Sum("batches"))["done"] or 0)


def _finished() -> bool:
    return PurgeRun.objects.filter(finished_at__isnull=False).exists()


@pytest.mark.django_db(transaction=True)
def test_a_purge_killed_at_random_points_and_resumed_ends_like_an_uninterrupted_one() -> None:
    organization = OrganizationFactory.create(slug="kill-zpos", time_zone="Asia/Tashkent")
    retention_version(organization, rules=[ZPOS_RULE])
    due = [
        merchant(organization, deleted_at=datetime(2027, 1, 1, tzinfo=TASHKENT)) for _ in range(3)
    ]
    for ids in due:
        _bulk_sales(ids, 400)
    stays = merchant(organization)
    _bulk_sales(stays, 100)
    before = surviving()
    # What an uninterrupted run leaves: every due row gone but the held invoices, payments and
    # the accounts they refer to.
    held = {"pos.invoice", "pos.payment", "pos.account"}
    expected = {
        label: ids - set().union(*(d[label] for d in due)) if label not in held else ids
        for label, ids in before.items()
    }
    command = [
        sys.executable,
        "manage.py",
        "purge",
        "--rule",
        "kill-zpos/account-deleted",
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
            time.sleep(chance.uniform(0.2, 1.5))  # during start-up or planning
        else:
            # After a random number of committed batches, at a random moment of the next one.
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
    assert surviving() == expected
    (run,) = PurgeRun.objects.all()
    assert run.is_finished
    assert run.totals["pos.sale"]["deleted"] == 3 * 402
    assert run.totals["pos.saleline"]["deleted"] == 3 * 402
    assert run.totals["pos.account"] == {"deleted": 0, "anonymised": 3, "kept": 3}
