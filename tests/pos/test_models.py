from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError

from pos.models import Account, Payment, Product, Sale
from tests.factories import (
    AccountFactory,
    AccountUserFactory,
    InvoiceFactory,
    PaymentFactory,
    SaleLineFactory,
)

pytestmark = pytest.mark.django_db


def test_the_database_refuses_a_full_card_number():
    payment = PaymentFactory.create()

    # PostgreSQL stops it at the column width; any database at the check constraint.
    with pytest.raises((DataError, IntegrityError)), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(card_last4="4242424242424242")

    payment.refresh_from_db()
    assert payment.card_last4 == "4242"


@pytest.mark.parametrize("value", ["424", "42a2", ""])
def test_the_database_refuses_anything_but_four_digits_on_a_card_payment(value):
    payment = PaymentFactory.create()

    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(card_last4=value)


def test_the_database_refuses_card_digits_on_a_payment_by_bank_transfer():
    payment = PaymentFactory.create(method="bank_transfer", card_brand="", card_last4="")

    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(card_last4="4242")


def test_validation_refuses_a_full_card_number_before_it_reaches_the_database():
    payment = PaymentFactory.build(invoice=InvoiceFactory.create(), card_last4="4242424242424242")

    with pytest.raises(ValidationError) as raised:
        payment.full_clean()

    assert "card_last4" in raised.value.message_dict


def test_an_account_has_at_most_one_primary_contact():
    account = AccountFactory.create()
    AccountUserFactory.create(account=account, is_primary_contact=True)

    with pytest.raises(IntegrityError), transaction.atomic():
        AccountUserFactory.create(account=account, is_primary_contact=True)


def test_deleting_an_account_takes_its_users_sales_and_products_with_it():
    line = SaleLineFactory.create()
    account = line.sale.account
    AccountUserFactory.create(account=account)

    account.delete()

    assert not Account.objects.exists()
    assert not Sale.objects.exists()
    assert not Product.objects.exists()


def test_a_sold_product_cannot_be_deleted_on_its_own():
    line = SaleLineFactory.create()

    with pytest.raises(RestrictedError):
        line.product.delete()


def test_an_account_with_invoices_cannot_be_deleted_until_they_are_dealt_with():
    payment = PaymentFactory.create()
    account = payment.invoice.account

    with pytest.raises(ProtectedError):
        account.delete()

    payment.invoice.delete()
    account.delete()
    assert not Account.objects.exists()
    assert not Payment.objects.exists()
