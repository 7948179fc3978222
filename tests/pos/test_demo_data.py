from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.progress import Progress
from pos.demo_data import demo_data_generate
from pos.models import Account, AccountUser, Invoice, Payment, Sale, SaleLine
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
TODAY = NOW.date()


def _snapshot() -> list[tuple[object, ...]]:
    """Return the generated rows without their primary keys, in a stable order."""
    accounts = list(
        Account.objects.order_by("pk").values_list(
            "company_name", "tax_id", "licence_paid_until", "deleted_at", "created_at"
        )
    )
    users = list(AccountUser.objects.order_by("pk").values_list("email", "phone", "date_of_birth"))
    sales = list(Sale.objects.order_by("pk").values_list("number", "created_at", "total"))
    payments = list(Payment.objects.order_by("pk").values_list("paid_at", "card_last4"))
    return [*accounts, *users, *sales, *payments]


def _delete_all() -> None:
    # Invoices are protected accounting records: they go first, then the account tree.
    Invoice.objects.all().delete()
    Account.objects.all().delete()


def test_every_organisation_gets_deleted_accounts_and_overdue_licences():
    organization = OrganizationFactory.create()

    demo_data_generate(
        organizations=[organization], accounts=5, sales_per_account=3, seed=1, now=NOW
    )

    accounts = Account.objects.filter(organization=organization)
    live = accounts.not_deleted()
    six_months_ago = TODAY - timedelta(days=184)
    assert accounts.count() == 5
    assert accounts.filter(deleted_at__lt=NOW - timedelta(days=30)).count() == 1
    assert accounts.filter(deleted_at__gte=NOW - timedelta(days=30)).count() == 1
    assert live.filter(licence_paid_until__lt=six_months_ago).count() == 1
    assert live.licence_overdue(TODAY).filter(licence_paid_until__gte=six_months_ago).count() == 1
    assert live.filter(licence_paid_until__gte=TODAY, subscription_active=True).count() == 1


def test_every_generated_account_has_its_contacts_sales_and_billing():
    organization = OrganizationFactory.create()

    demo_data_generate(
        organizations=[organization], accounts=5, sales_per_account=3, seed=1, now=NOW
    )

    for account in Account.objects.all():
        assert account.users.filter(is_primary_contact=True).count() == 1
        assert account.sales.count() == 3
        assert account.invoices.exists()
        assert account.devices.exists()
    assert SaleLine.objects.filter(sale__account__organization=organization).exists()
    # Only domains reserved for examples (RFC 2606): demo mail can never reach a real person.
    reserved = (".example", "@example.com", "@example.net", "@example.org")
    assert all(u.email.endswith(reserved) for u in AccountUser.objects.all())
    card_digits = Payment.objects.filter(method="card").values_list("card_last4", flat=True)
    assert card_digits
    assert all(len(d) == 4 and d.isdigit() for d in card_digits)


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    organization = OrganizationFactory.create()

    def generate(seed: int) -> list[tuple[object, ...]]:
        demo_data_generate(
            organizations=[organization], accounts=6, sales_per_account=4, seed=seed, now=NOW
        )
        rows = _snapshot()
        _delete_all()
        return rows

    first = generate(7)

    assert generate(7) == first
    assert generate(8) != first


def test_rows_are_written_in_batches_no_larger_than_the_batch_size():
    organization = OrganizationFactory.create()

    with CaptureQueriesContext(connection) as queries:
        report = demo_data_generate(
            organizations=[organization],
            accounts=5,
            sales_per_account=40,
            seed=1,
            batch_size=50,
            now=NOW,
        )

    sale_inserts = [
        q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "pos_sale" ')
    ]
    assert report.rows["Sale"] == Sale.objects.count() == 200
    assert report.batches["Sale"] == len(sale_inserts) >= 4
    assert report.largest_batch <= 50
    assert report.rows["SaleLine"] > 50


def test_an_organisation_that_already_has_accounts_is_skipped():
    organization = OrganizationFactory.create()
    demo_data_generate(organizations=[organization], sales_per_account=2, seed=1, now=NOW)
    before = _snapshot()

    report = demo_data_generate(organizations=[organization], sales_per_account=2, seed=1, now=NOW)

    assert report.skipped == [organization.slug]
    assert not report.rows
    assert _snapshot() == before


def test_progress_in_a_log_writes_a_line_whenever_the_percentage_moves():
    lines: list[str] = []
    progress = Progress(lines.append, in_place=False)

    progress.start("sales", 200)
    for _ in range(4):
        progress.advance(50)
    progress.finish()

    assert lines == [
        "sales 50/200 (25%)\n",
        "sales 100/200 (50%)\n",
        "sales 150/200 (75%)\n",
        "sales 200/200 (100%)\n",
    ]


def test_progress_on_a_terminal_rewrites_one_line_and_ends_it():
    written: list[str] = []
    progress = Progress(written.append, in_place=True)

    progress.start("sales", 12_000)
    progress.advance(3_000)
    progress.advance(9_000)
    progress.finish()

    assert written == ["\rsales 3,000/12,000 (25%)", "\rsales 12,000/12,000 (100%)", "\n"]
