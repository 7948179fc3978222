"""Property tests of the purge: over random datasets, rules and days, it never touches a row that
is not past its rule's date, never an exempt row before its own date, never another
organisation's data; and everything past its date is gone (or anonymised when records that stay
still refer to it). The expected dates come from the deadline engine, row by row, in Python.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.deadlines import Period, add_period
from policies.models import DataCategory, Organization, PeriodUnit, RetentionTrigger
from retention.purge import batch_run, pending_steps, run_execute
from retention.rules import latest_start, retention_run_start
from retention.scopes import registration_for
from tests.pos_data import POS_MODELS, merchant, retention_version, rule_of

pytestmark = pytest.mark.django_db
EXEMPT = {"pos.invoice", "pos.payment"}

periods = st.one_of(
    st.builds(Period, st.integers(1, 90), st.just(PeriodUnit.CALENDAR_DAYS)),
    st.builds(Period, st.integers(1, 14), st.just(PeriodUnit.MONTHS)),
    st.builds(Period, st.integers(1, 40), st.just(PeriodUnit.BUSINESS_DAYS)),
)
exemptions = st.one_of(
    st.none(),
    periods,
    st.builds(Period, st.integers(1, 72), st.just(PeriodUnit.MONTHS)),
)
days = st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31))
# Accounts are dated relative to the day of the run, so that many sit near a rule's date or
# between the rule's date and an exemption's.
ages = st.one_of(st.integers(-30, 120), st.integers(-30, 800), st.integers(0, 2300))
accounts = st.fixed_dictionaries(
    {
        "deleted_age": st.one_of(st.none(), ages),
        "deleted_at_hour": st.integers(0, 23),
        "paid_age": ages,
        "sales": st.integers(0, 2),
        "invoices": st.integers(0, 1),
    }
)


def _snapshot() -> dict[str, dict[int, dict[str, Any]]]:
    return {
        label: {row["id"]: row for row in apps.get_model(label)._base_manager.values()}
        for label in POS_MODELS
    }


def _accounts_of_rows() -> dict[str, dict[int, int]]:
    """Each row's account (its retention anchor), by model label and row id."""
    found = {}
    for label in POS_MODELS:
        registration = registration_for(label)
        anchor = registration.retention_anchor or "pk"
        found[label] = dict(registration.model._base_manager.values_list("pk", anchor))
    return found


def _started_on(account: dict[str, Any], trigger: str, tz: ZoneInfo) -> date | None:
    """When the trigger started for an account, as the policy describes it; None if it holds
    not at all."""
    if trigger == RetentionTrigger.ACCOUNT_DELETED:
        deleted = account["deleted_at"]
        return deleted.astimezone(tz).date() if deleted is not None else None
    return account["licence_paid_until"] + timedelta(days=1)


def _build(organization: Organization, plans: list[dict[str, Any]], as_of: date) -> None:
    tz = organization.tz
    for plan in plans:
        deleted_at = (
            datetime.combine(
                as_of - timedelta(days=plan["deleted_age"]), time(plan["deleted_at_hour"]), tz
            )
            if plan["deleted_age"] is not None
            else None
        )
        merchant(
            organization,
            deleted_at=deleted_at,
            paid_until=as_of - timedelta(days=plan["paid_age"]),
            sales=plan["sales"],
            invoices=plan["invoices"],
        )


@pytest.fixture
def organizations(db: None) -> tuple[Organization, Organization]:
    from tests.factories import OrganizationFactory

    return (
        OrganizationFactory.create(slug="zpos", time_zone="Asia/Tashkent", country="UZ"),
        OrganizationFactory.create(slug="clopos", time_zone="Asia/Baku", country="AZ"),
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    trigger=st.sampled_from([RetentionTrigger.ACCOUNT_DELETED, RetentionTrigger.LICENCE_OVERDUE]),
    period=periods,
    exemption=exemptions,
    own=st.lists(accounts, min_size=1, max_size=4),
    others=st.lists(accounts, min_size=1, max_size=2),
    as_of=days,
    batch_size=st.integers(1, 3),
    interrupted_batches=st.integers(0, 6),
)
def test_a_purge_touches_only_rows_past_their_date_and_only_its_organisations(
    organizations: tuple[Organization, Organization],
    trigger: str,
    period: Period,
    exemption: Period | None,
    own: list[dict[str, Any]],
    others: list[dict[str, Any]],
    as_of: date,
    batch_size: int,
    interrupted_batches: int,
) -> None:
    organization, other = organizations
    with transaction.atomic():
        rule_options: dict[str, Any] = {
            "slug": "rule",
            "trigger": trigger,
            "period": period.amount,
            "period_unit": period.unit,
            "exemptions": [],
        }
        if exemption is not None:
            rule_options["exemptions"] = [
                {
                    "category": DataCategory.PAYMENT,
                    "legal_basis": "Tax Code",
                    "period": exemption.amount,
                    "period_unit": exemption.unit,
                }
            ]
        rule = rule_of(retention_version(organization, rules=[rule_options]), "rule")
        _build(organization, own, as_of)
        _build(other, others, as_of)
        before = _snapshot()
        anchors = _accounts_of_rows()
        tz, country = organization.tz, organization.country

        run = retention_run_start(rule=rule, as_of=as_of, batch_size=batch_size)
        for _ in range(interrupted_batches):  # a worker that dies after a few batches
            pending = pending_steps(run)
            if pending:
                batch_run(pending[-1])
        run_execute(run)
        after = _snapshot()

        accounts = before["pos.account"]
        # Without an exemption in the rule, the registry's own legal hold keeps the records.
        held_for = exemption or registration_for("pos.invoice").erasure.period
        assert held_for is not None

        def due(account_id: int, length: Period) -> bool:
            account = accounts[account_id]
            if account["organization_id"] != organization.pk:
                return False
            started = _started_on(account, trigger, tz)
            return started is not None and add_period(started, length, country=country) <= as_of

        for label in POS_MODELS:
            for pk, row in before[label].items():
                account_id = anchors[label][pk]
                rule_due = due(account_id, period)
                own_date = rule_due and (label not in EXEMPT or due(account_id, held_for))
                changed = after[label].get(pk) != row
                # 1-3: nothing changes before its date, exempt rows before their own date, or
                # in another organisation (never due above).
                if changed:
                    assert own_date, (label, pk, row, after[label].get(pk))
                # And everything due is done: deleted, or (an account invoices still refer to)
                # anonymised, keeping the buyer's name and tax number the invoices are kept for.
                if own_date and label != "pos.account":
                    assert pk not in after[label], (label, pk)
                if own_date and label == "pos.account" and pk in after[label]:
                    kept = after[label][pk]
                    assert kept["company_name"] == row["company_name"]
                    assert kept["tax_id"] == row["tax_id"]
                    assert kept["registered_address"] == ""
                    assert any(
                        anchors["pos.invoice"][invoice] == pk for invoice in after["pos.invoice"]
                    )
        # The engine's cutoff agrees with the deadline engine, day by day.
        cutoff = latest_start(period, as_of, country=country)
        assert add_period(cutoff, period, country=country) <= as_of
        assert add_period(cutoff + timedelta(days=1), period, country=country) > as_of
        transaction.set_rollback(True)


@settings(max_examples=300, deadline=None)
@given(start=days, period=periods, as_of=days)
def test_the_latest_start_separates_the_days_whose_period_has_passed(
    start: date, period: Period, as_of: date
) -> None:
    passed = add_period(start, period, country="UZ") <= as_of
    assert passed == (start <= latest_start(period, as_of, country="UZ"))
