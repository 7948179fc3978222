"""The retention rules of the seed policies, run on the demo data as ``make run`` loads it.

ZPos deletes an account's data 30 days after the account is deleted; Clopos deletes the data of
an account whose licence payment is 6 months overdue; both keep payment records under a legal
hold. ``manage.py purge --as-of`` is what the daily job runs, on a chosen day.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from policies.models import Organization
from pos.models import Account, Invoice, Payment, Sale
from retention.models import PurgeRun

pytestmark = pytest.mark.django_db


def _purge(as_of: date) -> None:
    call_command("purge", "--as-of", as_of.isoformat(), stdout=io.StringIO(), stderr=io.StringIO())


def _local_today(organization: Organization) -> date:
    return timezone.localtime(timezone.now(), organization.tz).date()


def _months_later(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError(day)


def _sales(account: Account) -> int:
    return Sale.objects.filter(account=account).count()


def _payment_records(account: Account) -> tuple[int, int]:
    return (
        Invoice.objects.filter(account=account).count(),
        Payment.objects.filter(invoice__account=account).count(),
    )


@pytest.fixture
def demo() -> dict[str, Organization]:
    call_command("load_seeds", stdout=io.StringIO())
    call_command(
        "generate_demo_data",
        "--organization",
        "zpos",
        "clopos",
        "--accounts",
        "16",
        "--per-account-sales",
        "3",
        verbosity=0,
    )
    return {o.slug: o for o in Organization.objects.filter(slug__in=["zpos", "clopos"])}


def test_zpos_deletes_30_days_after_account_deletion_and_keeps_payment_records(
    demo: dict[str, Organization],
) -> None:
    zpos = demo["zpos"]
    today = _local_today(zpos)
    deleted = list(Account.objects.filter(organization=zpos, deleted_at__isnull=False))
    due = [
        a
        for a in deleted
        if timezone.localtime(a.deleted_at, zpos.tz).date() <= today - timedelta(30)
    ]
    waiting = [a for a in deleted if a not in due]
    live = list(Account.objects.filter(organization=zpos, deleted_at__isnull=True))
    # The demo data has accounts deleted long ago, deleted recently and live.
    assert due
    assert waiting
    assert live
    held = {a.pk: _payment_records(a) for a in due}
    live_sales = {a.pk: _sales(a) for a in [*waiting, *live]}

    _purge(today)

    assert all(_sales(a) == 0 for a in due)
    assert {a.pk: _payment_records(a) for a in due} == held
    assert {a.pk: _sales(a) for a in [*waiting, *live]} == live_sales
    run = PurgeRun.objects.get(rule__slug="account-deleted", organization=zpos)
    assert run.is_finished
    assert run.totals["pos.sale"]["deleted"] > 0
    assert any(entry["rows"] and entry["legal_basis"] for entry in run.retained)


def test_clopos_deletes_data_of_a_licence_six_months_overdue_and_not_sooner(
    demo: dict[str, Organization],
) -> None:
    clopos = demo["clopos"]
    today = _local_today(clopos)
    accounts = list(Account.objects.filter(organization=clopos, deleted_at__isnull=True))
    overdue = [a for a in accounts if a.licence_paid_until < today]
    due = [a for a in overdue if _months_later(a.licence_paid_until, 6) < today]
    recent = [a for a in overdue if a not in due]
    paid = [a for a in accounts if a not in overdue]
    # The demo data has licences long overdue, recently overdue and paid.
    assert due
    assert recent
    assert paid
    held = {a.pk: _payment_records(a) for a in due}
    kept_sales = {a.pk: _sales(a) for a in [*recent, *paid]}

    _purge(today)

    assert all(_sales(a) == 0 for a in due)
    assert {a.pk: _payment_records(a) for a in due} == held
    assert {a.pk: _sales(a) for a in [*recent, *paid]} == kept_sales

    # Time moved forward: the licences overdue for less than six months today reach it too,
    # except one paid meanwhile (the trigger is read again on the day of the purge).
    late, *others = recent
    Account.objects.filter(pk=late.pk).update(licence_paid_until=today + timedelta(days=365))
    later = max(_months_later(a.licence_paid_until, 6) for a in others) + timedelta(days=1)
    _purge(later)

    assert all(_sales(a) == 0 for a in others)
    assert _sales(late) == kept_sales[late.pk]
    runs = PurgeRun.objects.filter(rule__slug="licence-overdue", organization=clopos)
    assert [run.as_of for run in runs.order_by("as_of")] == [today, later]
    assert all(run.is_finished for run in runs)
