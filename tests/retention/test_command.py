"""``manage.py purge``: the dry run, one rule, "as of" a day, and one line on bad input."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from policies.models import Organization
from retention.models import PurgeRun
from tests.pos_data import (
    CLOPOS_RULE,
    ZPOS_RULE,
    merchant,
    retention_version,
    surviving,
)

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
TASHKENT = ZoneInfo("Asia/Tashkent")
BAKU = ZoneInfo("Asia/Baku")


@pytest.fixture
def rules(zpos: Organization, clopos: Organization) -> dict[str, dict[str, set[int]]]:
    retention_version(zpos, rules=[ZPOS_RULE])
    retention_version(clopos, rules=[CLOPOS_RULE])
    return {
        "zpos": merchant(zpos, deleted_at=datetime(2027, 1, 10, tzinfo=TASHKENT), sales=3),
        "clopos": merchant(clopos, paid_until=date(2026, 6, 1)),
    }


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("purge", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_dry_run_shows_per_organisation_and_model_what_would_go_and_stay(
    rules: dict[str, dict[str, set[int]]],
) -> None:
    before = surviving()

    out, err = _run("--dry-run", "--as-of", "2027-03-01")

    assert surviving() == before
    assert not PurgeRun.objects.exists()
    assert "zpos/account-deleted as of 2027-03-01 (dry run, nothing changed):" in out
    assert "clopos/licence-overdue as of 2027-03-01 (dry run, nothing changed):" in out
    zpos = out[out.index("zpos/account-deleted") :]
    assert "pos.sale" in zpos
    assert "would delete 3," in zpos
    assert "keep 1 (Tax Code of the Republic of Uzbekistan, art. 90, for 60 months)" in out
    assert "counting" in err
    assert "(100%)" in err


def test_one_rule_runs_now_and_the_others_wait(rules: dict[str, dict[str, set[int]]]) -> None:
    out, _err = _run("--rule", "zpos/account-deleted", "--as-of", "2027-03-01")

    after = surviving()
    assert not rules["zpos"]["pos.sale"] & after["pos.sale"]
    assert rules["clopos"]["pos.sale"] <= after["pos.sale"]
    assert "zpos/account-deleted as of 2027-03-01: run #" in out
    assert "deleted 3, anonymised 0, kept 0" in out
    (run,) = PurgeRun.objects.all()
    assert run.triggered_by == "manage.py purge"
    assert run.is_finished


def test_as_of_moves_time_forward_for_every_rule(rules: dict[str, dict[str, set[int]]]) -> None:
    _run("--as-of", "2027-02-08")
    after = surviving()
    assert rules["zpos"]["pos.sale"] <= after["pos.sale"]

    _run("--as-of", "2027-02-09")
    after = surviving()
    assert not rules["zpos"]["pos.sale"] & after["pos.sale"]
    assert not rules["clopos"]["pos.sale"] & after["pos.sale"]  # 1 June + 6 months: 2 December
    assert PurgeRun.objects.filter(finished_at__isnull=False).count() == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "2027-13-01"], "--as-of must be a date written YYYY-MM-DD"),
        (["--batch-size", "0"], "--batch-size must be a whole number of at least 1, not '0'"),
        (["--rule", "nope"], "No retention rule in force is called 'nope'"),
        (["--rule", "999999"], "No retention rule has id 999999."),
    ],
)
def test_bad_input_is_refused_in_one_line(
    rules: dict[str, dict[str, set[int]]], args: list[str], message: str
) -> None:
    with pytest.raises(CommandError) as refusal:
        _run(*args)

    assert message in str(refusal.value)
    assert "\n" not in str(refusal.value)
    assert not PurgeRun.objects.exists()


def test_a_refused_rule_stops_the_command_before_anything_runs(zpos: Organization) -> None:
    retention_version(zpos, rules=[{**ZPOS_RULE, "period": 0, "exemptions": []}])

    with pytest.raises(CommandError, match=r"the period must be at least 1, not 0"):
        _run()

    assert not PurgeRun.objects.exists()


def test_the_command_line_prints_one_line_and_exits_non_zero() -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "purge", "--as-of", "yesterday"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "CommandError: --as-of must be a date written YYYY-MM-DD, such as 2027-03-01, not "
        "'yesterday'."
    ]
