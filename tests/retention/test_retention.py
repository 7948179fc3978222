"""Retention rules applied: who is due when, exemptions, re-checks, notices and refused rules."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from policies.deadlines import Period
from policies.models import Organization, PeriodUnit, RetentionRule
from policies.seed_files import SeedError, seeds_read
from pos.models import Account
from retention.daily import retention_apply
from retention.models import PurgeRun, RetentionNotice
from retention.notices import notices_create_due
from retention.preview import retention_preview
from retention.purge import run_execute
from retention.rules import (
    RuleRefused,
    latest_start,
    retention_run_start,
    rule_check,
    rule_find,
    rules_in_force,
)
from tests.factories import RetentionExemptionFactory, RetentionRuleFactory
from tests.pos_data import (
    ACCOUNTING_BASIS,
    CLOPOS_RULE,
    ZPOS_RULE,
    merchant,
    retention_version,
    rule_of,
    surviving,
)

pytestmark = pytest.mark.django_db
TASHKENT = ZoneInfo("Asia/Tashkent")
BAKU = ZoneInfo("Asia/Baku")
SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def _purge(rule: RetentionRule, as_of: date) -> PurgeRun:
    return run_execute(retention_run_start(rule=rule, as_of=as_of))


def _gone(before: dict[str, set[int]], after: dict[str, set[int]]) -> dict[str, set[int]]:
    return {label: ids - after[label] for label, ids in before.items() if ids - after[label]}


# --- ZPos: 30 days after the account is deleted ----------------------------------------------


def test_zpos_data_goes_30_days_after_account_deletion_and_invoices_stay_on_legal_hold(
    zpos: Organization,
) -> None:
    rule = rule_of(retention_version(zpos, rules=[ZPOS_RULE]), "account-deleted")
    due = merchant(zpos, deleted_at=datetime(2027, 1, 29, 23, 30, tzinfo=TASHKENT))
    not_yet = merchant(zpos, deleted_at=datetime(2027, 1, 30, 0, 10, tzinfo=TASHKENT))
    current = merchant(zpos)
    before = surviving()
    buyer = Account.objects.values("company_name", "tax_id").get(pk=next(iter(due["pos.account"])))

    run = _purge(rule, date(2027, 2, 28))

    after = surviving()
    held = {"pos.invoice", "pos.payment", "pos.account"}
    assert _gone(before, after) == {label: ids for label, ids in due.items() if label not in held}
    for label in held:
        assert due[label] <= after[label]
    # The invoices kept for tax law keep the buyer's name and tax number; the address goes.
    account = Account.objects.get(pk=next(iter(due["pos.account"])))
    assert (account.company_name, account.tax_id) == (buyer["company_name"], buyer["tax_id"])
    assert account.registered_address == ""
    for untouched in (not_yet, current):
        for label, ids in untouched.items():
            assert ids <= after[label]
    assert run.totals["pos.sale"] == {"deleted": 2, "anonymised": 0, "kept": 0}
    assert run.totals["pos.account"] == {"deleted": 0, "anonymised": 1, "kept": 1}
    invoices = next(e for e in run.retained if e["model"] == "pos.invoice")
    assert (invoices["rows"], invoices["legal_basis"]) == (1, ACCOUNTING_BASIS)


def test_the_deletion_day_is_counted_on_the_organisations_calendar(zpos: Organization) -> None:
    rule = rule_of(retention_version(zpos, rules=[ZPOS_RULE]), "account-deleted")
    # 29 January 23:30 in Tashkent is still 29 January there, though 18:30 UTC: due 28 February.
    due = merchant(zpos, deleted_at=datetime(2027, 1, 29, 18, 30, tzinfo=UTC))
    # 30 January 00:10 in Tashkent is 29 January 19:10 UTC: due only on 1 March.
    later = merchant(zpos, deleted_at=datetime(2027, 1, 29, 19, 10, tzinfo=UTC))

    _purge(rule, date(2027, 2, 28))

    after = surviving()
    assert not due["pos.sale"] & after["pos.sale"]
    assert later["pos.sale"] <= after["pos.sale"]


def test_held_records_are_purged_once_their_own_period_has_passed(zpos: Organization) -> None:
    rule = rule_of(retention_version(zpos, rules=[ZPOS_RULE]), "account-deleted")
    deleted = merchant(zpos, deleted_at=datetime(2021, 1, 10, 12, tzinfo=TASHKENT))

    _purge(rule, date(2026, 1, 9))
    assert deleted["pos.invoice"] <= surviving()["pos.invoice"]

    run = _purge(rule, date(2026, 1, 10))

    after = surviving()
    for label, ids in deleted.items():
        assert not ids & after[label], label
    assert run.totals["pos.invoice"]["deleted"] == 1
    assert run.totals["pos.account"]["deleted"] == 1


# --- Clopos: 6 months after the licence fell overdue ------------------------------------------


def test_a_clopos_licence_overdue_since_31_august_is_purged_on_28_february_not_before(
    clopos: Organization,
) -> None:
    rule = rule_of(retention_version(clopos, rules=[CLOPOS_RULE]), "licence-overdue")
    overdue = merchant(clopos, paid_until=date(2026, 8, 30))

    _purge(rule, date(2027, 2, 27))
    assert overdue["pos.sale"] <= surviving()["pos.sale"]

    _purge(rule, date(2027, 2, 28))
    after = surviving()
    assert not overdue["pos.sale"] & after["pos.sale"]
    assert overdue["pos.invoice"] <= after["pos.invoice"]


def test_a_licence_paid_after_the_run_was_planned_is_not_purged(clopos: Organization) -> None:
    rule = rule_of(retention_version(clopos, rules=[CLOPOS_RULE]), "licence-overdue")
    paid_late = merchant(clopos, paid_until=date(2026, 8, 30))
    still_overdue = merchant(clopos, paid_until=date(2026, 8, 30))
    run = retention_run_start(rule=rule, as_of=date(2027, 2, 28))

    Account.objects.filter(pk__in=paid_late["pos.account"]).update(
        licence_paid_until=date(2027, 3, 31)
    )
    run_execute(run)

    after = surviving()
    for label, ids in paid_late.items():
        assert ids <= after[label], label
    assert not still_overdue["pos.sale"] & after["pos.sale"]


def test_an_account_whose_deletion_was_undone_is_not_purged(zpos: Organization) -> None:
    rule = rule_of(retention_version(zpos, rules=[ZPOS_RULE]), "account-deleted")
    restored = merchant(zpos, deleted_at=datetime(2027, 1, 1, tzinfo=TASHKENT))
    run = retention_run_start(rule=rule, as_of=date(2027, 3, 1))

    Account.objects.filter(pk__in=restored["pos.account"]).update(deleted_at=None)
    run_execute(run)

    for label, ids in restored.items():
        assert ids <= surviving()[label], label


def test_another_organisations_data_is_never_touched(
    zpos: Organization, clopos: Organization
) -> None:
    rule = rule_of(retention_version(zpos, rules=[ZPOS_RULE]), "account-deleted")
    merchant(zpos, deleted_at=datetime(2027, 1, 1, tzinfo=TASHKENT))
    other = merchant(clopos, deleted_at=datetime(2027, 1, 1, tzinfo=BAKU))

    _purge(rule, date(2027, 3, 1))

    after = surviving()
    for label, ids in other.items():
        assert ids <= after[label], label
    assert Account.objects.get(pk=next(iter(other["pos.account"]))).company_name.startswith(
        "Merchant"
    )


def test_a_second_run_of_the_same_rule_finds_nothing_more_to_do(zpos: Organization) -> None:
    rule = rule_of(retention_version(zpos, rules=[ZPOS_RULE]), "account-deleted")
    merchant(zpos, deleted_at=datetime(2027, 1, 1, tzinfo=TASHKENT))
    first = _purge(rule, date(2027, 3, 1))
    before = surviving()

    second = _purge(rule, date(2027, 3, 2))

    assert surviving() == before
    assert first.total("deleted") > 0
    assert second.total("deleted") == 0
    # The account stays anonymised; anonymising it again is not counted as new work.
    assert second.totals["pos.account"]["anonymised"] == 0


def test_starting_the_same_rule_and_day_twice_resumes_the_unfinished_run(
    zpos: Organization,
) -> None:
    rule = rule_of(retention_version(zpos, rules=[ZPOS_RULE]), "account-deleted")
    merchant(zpos, deleted_at=datetime(2027, 1, 1, tzinfo=TASHKENT))

    first = retention_run_start(rule=rule, as_of=date(2027, 3, 1))
    again = retention_run_start(rule=rule, as_of=date(2027, 3, 1))

    assert again.pk == first.pk
    assert PurgeRun.objects.count() == 1


def test_the_preview_counts_exactly_what_the_run_then_does(
    zpos: Organization, clopos: Organization
) -> None:
    rule = rule_of(retention_version(zpos, rules=[ZPOS_RULE]), "account-deleted")
    merchant(zpos, deleted_at=datetime(2027, 1, 1, tzinfo=TASHKENT), sales=3)
    merchant(zpos, deleted_at=datetime(2027, 1, 1, tzinfo=TASHKENT), invoices=0)
    merchant(zpos, deleted_at=datetime(2027, 2, 20, tzinfo=TASHKENT))
    merchant(clopos, deleted_at=datetime(2027, 1, 1, tzinfo=BAKU))
    before = surviving()

    lines = retention_preview(rule=rule, as_of=date(2027, 3, 1))
    assert surviving() == before
    run = _purge(rule, date(2027, 3, 1))

    for line in lines:
        totals = run.totals[line.model]
        assert line.delete == totals["deleted"], line.model
        assert line.anonymise == totals["anonymised"], line.model
    by_model = {line.model: line for line in lines}
    assert by_model["pos.invoice"].keep == 1
    assert ACCOUNTING_BASIS in by_model["pos.invoice"].keep_reason
    assert by_model["pos.account"].delete == 1
    assert by_model["pos.account"].anonymise == 1


# --- Advance notices --------------------------------------------------------------------------


def _notify(rule: RetentionRule, day: date, capture: Callable[..., Any]) -> list[int]:
    with capture(execute=True):
        return notices_create_due(rule=rule, as_of=day)


def test_advance_notices_go_once_each_on_the_days_the_rule_names(
    clopos: Organization, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    rule = rule_of(retention_version(clopos, rules=[CLOPOS_RULE]), "licence-overdue")
    merchant(clopos, paid_until=date(2026, 8, 30), owner_email="owner@shop.example")
    merchant(clopos)  # paid up: never told anything

    days = [
        date(2027, 1, 28),
        date(2027, 1, 29),
        date(2027, 1, 29),
        date(2027, 2, 10),
        date(2027, 2, 21),
        date(2027, 2, 22),
        date(2027, 2, 28),
    ]
    sent = [len(_notify(rule, day, django_capture_on_commit_callbacks)) for day in days]

    # 30 and 7 days before 28 February; the second run on 29 January sends nothing again.
    assert sent == [0, 1, 0, 0, 1, 0, 0]
    notices = list(
        RetentionNotice.objects.order_by("days_before").values_list(
            "days_before", "purge_on", "recipients"
        )
    )
    assert notices == [(7, date(2027, 2, 28), 1), (30, date(2027, 2, 28), 1)]
    assert [m.to for m in mail.outbox] == [["owner@shop.example"], ["owner@shop.example"]]
    assert "28" in mail.outbox[0].subject
    assert "pay your licence" in mail.outbox[0].body


def test_a_job_that_missed_the_30_day_notice_sends_only_the_7_day_one(
    clopos: Organization, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    rule = rule_of(retention_version(clopos, rules=[CLOPOS_RULE]), "licence-overdue")
    merchant(clopos, paid_until=date(2026, 8, 30))

    _notify(rule, date(2027, 2, 23), django_capture_on_commit_callbacks)

    assert list(RetentionNotice.objects.values_list("days_before", flat=True)) == [7]
    assert len(mail.outbox) == 1


def test_a_purge_date_already_passed_gets_no_notice(
    clopos: Organization, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    rule = rule_of(retention_version(clopos, rules=[CLOPOS_RULE]), "licence-overdue")
    merchant(clopos, paid_until=date(2026, 1, 1))

    assert _notify(rule, date(2027, 2, 23), django_capture_on_commit_callbacks) == []


# --- Rules in force, found by name, refused when broken -------------------------------------------


def test_only_the_rules_of_the_version_in_force_on_the_day_apply(zpos: Organization) -> None:
    retention_version(
        zpos, rules=[ZPOS_RULE], label="old", published_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    newer = retention_version(
        zpos,
        rules=[{**ZPOS_RULE, "period": 45}],
        label="new",
        published_at=datetime(2026, 7, 1, tzinfo=UTC),
    )

    assert [r.period for r in rules_in_force(date(2026, 3, 1))] == [30]
    assert [r.pk for r in rules_in_force(date(2026, 8, 1))] == [newer.retention_rules.get().pk]


def test_a_rule_is_found_by_id_by_organisation_and_slug_or_by_a_unique_slug(
    zpos: Organization, clopos: Organization
) -> None:
    zpos_rule = rule_of(retention_version(zpos, rules=[ZPOS_RULE]), "account-deleted")
    version = retention_version(clopos, rules=[{**ZPOS_RULE, "exemptions": []}, CLOPOS_RULE])
    clopos_rule = rule_of(version, "account-deleted")

    assert rule_find(str(zpos_rule.pk)).pk == zpos_rule.pk
    assert rule_find("clopos/account-deleted").pk == clopos_rule.pk
    assert rule_find("licence-overdue").slug == "licence-overdue"
    with pytest.raises(Exception, match=r"names several rules; say which: clopos/account-deleted"):
        rule_find("account-deleted")
    with pytest.raises(Exception, match=r"No retention rule in force is called 'nope'"):
        rule_find("nope")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"period": 0}, "the period must be at least 1, not 0"),
        ({"trigger": "moon_phase"}, "unknown trigger 'moon_phase'"),
        ({"period_unit": "fortnights"}, "unknown period unit 'fortnights'"),
        (
            {"notice_days_before": [7, -1]},
            "advance notices must be a list of whole days of at least 1",
        ),
    ],
)
def test_a_broken_rule_is_refused_naming_the_problem(
    zpos: Organization, change: dict[str, Any], problem: str
) -> None:
    rule = RetentionRuleFactory.create(version__policy__organization=zpos, **change)

    with pytest.raises(RuleRefused) as refusal:
        rule_check(rule)

    assert str(refusal.value) == f"Retention rule {rule.slug} (id {rule.pk}): {problem}"


def test_an_exemption_without_a_legal_basis_is_refused(zpos: Organization) -> None:
    exemption = RetentionExemptionFactory.create(
        rule__version__policy__organization=zpos, legal_basis="  "
    )

    with pytest.raises(RuleRefused, match="the exemption of payment names no legal basis"):
        rule_check(exemption.rule)
    with pytest.raises(RuleRefused):
        retention_run_start(rule=exemption.rule, as_of=date(2027, 3, 1))
    assert not PurgeRun.objects.exists()


def test_the_daily_job_skips_a_refused_rule_and_applies_the_others(
    zpos: Organization, clopos: Organization, caplog: pytest.LogCaptureFixture
) -> None:
    good = rule_of(retention_version(zpos, rules=[ZPOS_RULE]), "account-deleted")
    bad = rule_of(
        retention_version(clopos, rules=[{**ZPOS_RULE, "period": 0, "exemptions": []}]),
        "account-deleted",
    )

    runs = retention_apply(as_of=date(2027, 3, 1), dispatch=False)

    assert [run.rule_id for run in runs] == [good.pk]
    assert f"Retention rule account-deleted (id {bad.pk}): the period must be at least 1" in (
        caplog.text
    )


@pytest.mark.parametrize(
    ("old", "new", "field", "problem"),
    [
        ("period = 30\nperiod_unit", "period = 0\nperiod_unit", "period", "0 is out of range"),
        ("period = 30\nperiod_unit", "period = -5\nperiod_unit", "period", "-5 is out of range"),
        ('trigger = "account_deleted"', 'trigger = "moon_phase"', "trigger", "'moon_phase' is not"),
        (
            'legal_basis = "Legal retention requirements: accounting and tax records under the '
            'laws of the Republic of Uzbekistan"',
            'legal_basis = " "',
            "exemptions[0].legal_basis",
            "must not be empty",
        ),
    ],
)
def test_the_seed_loader_refuses_broken_retention_rules(
    tmp_path: Path, old: str, new: str, field: str, problem: str
) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    path = seeds / "zpos.toml"
    text = path.read_text(encoding="utf-8")
    head, rules = text.split("[[retention_rules]]", 1)
    assert old in rules
    path.write_text(head + "[[retention_rules]]" + rules.replace(old, new, 1), encoding="utf-8")

    with pytest.raises(SeedError) as refusal:
        seeds_read(directory=seeds)

    assert f"field 'retention_rules[0].{field}'" in str(refusal.value)
    assert problem in str(refusal.value)


# --- Dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "as_of", "latest"),
    [
        (Period(6, PeriodUnit.MONTHS), date(2027, 2, 28), date(2026, 8, 31)),
        (Period(6, PeriodUnit.MONTHS), date(2027, 3, 1), date(2026, 9, 1)),
        (Period(30, PeriodUnit.CALENDAR_DAYS), date(2027, 2, 28), date(2027, 1, 29)),
        (Period(1, PeriodUnit.MONTHS), date(2024, 2, 29), date(2024, 1, 31)),
    ],
)
def test_the_latest_start_is_the_last_day_whose_period_has_passed(
    period: Period, as_of: date, latest: date
) -> None:
    assert latest_start(period, as_of) == latest


def test_the_clock_of_the_daily_job_is_each_organisations_today(zpos: Organization) -> None:
    retention_version(zpos, rules=[ZPOS_RULE])
    merchant(zpos, deleted_at=datetime(2027, 1, 29, 12, tzinfo=TASHKENT))
    # 27 February 20:00 UTC is already 28 February in Tashkent.
    with time_machine.travel(datetime(2027, 2, 27, 20, tzinfo=UTC), tick=False):
        (run,) = retention_apply(dispatch=False)
    assert run.as_of == date(2027, 2, 28)
    assert run_execute(run).totals["pos.sale"]["deleted"] == 2
