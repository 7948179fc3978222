"""Shared set-up for the correction, erasure and retention tests (POS rows on retention clocks).

- ``retention_version``: a published policy version of an organisation with the rights and the
  retention rules a test asks for.
- ``merchant``: an account with rows in every POS model, on a given retention clock (deleted on
  a day, licence paid until a day); returns the ids it created by model label.
- ``surviving``: the ids of every POS row, by model label, to compare before and after a purge.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from policies.models import (
    DataCategory,
    Organization,
    PeriodUnit,
    Policy,
    PolicyVersion,
    RequestType,
    RetentionRule,
)
from policies.services import policy_version_publish
from tests.factories import (
    AccountFactory,
    AccountUserFactory,
    DeviceFactory,
    InvoiceFactory,
    LoginFactory,
    OrganizationFactory,
    PaymentFactory,
    PolicyFactory,
    PolicyVersionFactory,
    ProductFactory,
    RequestTypeRuleFactory,
    RetentionExemptionFactory,
    RetentionRuleFactory,
    SaleFactory,
    SaleLineFactory,
    StaffActivityFactory,
    SupportMessageFactory,
)

POS_MODELS = (
    "pos.account",
    "pos.accountuser",
    "pos.staffactivity",
    "pos.product",
    "pos.sale",
    "pos.saleline",
    "pos.invoice",
    "pos.payment",
    "pos.device",
    "pos.login",
    "pos.supportmessage",
)
ACCOUNTING_BASIS = "Tax Code of the Republic of Uzbekistan, art. 90"


def retention_version(
    organization: Organization,
    *,
    rules: list[dict[str, Any]] | None = None,
    label: str = "v1",
    published_at: datetime | None = None,
) -> PolicyVersion:
    """Publish a version offering correction and deletion, with ``rules`` (each a dict of
    RetentionRule fields plus ``exemptions``: a list of dicts of RetentionExemption fields)."""
    policy = Policy.objects.filter(organization=organization).first() or PolicyFactory.create(
        organization=organization
    )
    version = PolicyVersionFactory.create(policy=policy, version_label=label)
    for request_type in (RequestType.ACCESS, RequestType.CORRECTION, RequestType.DELETION):
        RequestTypeRuleFactory.create(
            version=version, request_type=request_type, response_period=30
        )
    for options in rules or []:
        options = dict(options)
        exemptions = options.pop("exemptions", [])
        rule = RetentionRuleFactory.create(version=version, **options)
        for exemption in exemptions:
            RetentionExemptionFactory.create(rule=rule, **exemption)
    # A test version carries its own rules: whatever an earlier one had is dropped on purpose.
    return policy_version_publish(
        version=version,
        at=published_at or timezone.now() - timedelta(days=3650),
        reason="A test version.",
    )


ZPOS_RULE: dict[str, Any] = {
    "slug": "account-deleted",
    "trigger": "account_deleted",
    "period": 30,
    "period_unit": PeriodUnit.CALENDAR_DAYS,
    "exemptions": [
        {
            "category": DataCategory.PAYMENT,
            "legal_basis": ACCOUNTING_BASIS,
            "period": 60,
            "period_unit": PeriodUnit.MONTHS,
        }
    ],
}
CLOPOS_RULE: dict[str, Any] = {
    "slug": "licence-overdue",
    "trigger": "licence_overdue",
    "period": 6,
    "period_unit": PeriodUnit.MONTHS,
    "notice_days_before": [30, 7],
    "exemptions": [
        {
            "category": DataCategory.PAYMENT,
            "legal_basis": "Tax Code of the Republic of Azerbaijan",
            "period": 60,
            "period_unit": PeriodUnit.MONTHS,
        }
    ],
}


def merchant(
    organization: Organization,
    *,
    deleted_at: datetime | None = None,
    paid_until: date | None = None,
    owner_email: str | None = None,
    sales: int = 2,
    invoices: int = 1,
) -> dict[str, set[int]]:
    """An account with rows in every POS model; return the ids created, by model label."""
    account = AccountFactory.create(
        organization=organization,
        deleted_at=deleted_at,
        **({"licence_paid_until": paid_until} if paid_until else {}),
    )
    owner = AccountUserFactory.create(
        account=account,
        role="owner",
        is_primary_contact=True,
        **({"email": owner_email} if owner_email else {}),
    )
    cashier = AccountUserFactory.create(account=account)
    device = DeviceFactory.create(account=account)
    product = ProductFactory.create(account=account)
    ids: dict[str, set[int]] = {label: set() for label in POS_MODELS}
    ids["pos.account"].add(account.pk)
    ids["pos.accountuser"] |= {owner.pk, cashier.pk}
    ids["pos.device"].add(device.pk)
    ids["pos.product"].add(product.pk)
    for _ in range(sales):
        sale = SaleFactory.create(account=account, cashier=cashier, customer_name="Aziz")
        ids["pos.sale"].add(sale.pk)
        ids["pos.saleline"].add(SaleLineFactory.create(sale=sale, product=product).pk)
    for _ in range(invoices):
        invoice = InvoiceFactory.create(account=account)
        ids["pos.invoice"].add(invoice.pk)
        ids["pos.payment"].add(PaymentFactory.create(invoice=invoice).pk)
    ids["pos.staffactivity"].add(StaffActivityFactory.create(user=cashier).pk)
    ids["pos.login"].add(LoginFactory.create(user=owner, device=device).pk)
    ids["pos.supportmessage"].add(SupportMessageFactory.create(account=account, user=owner).pk)
    return ids


def surviving() -> dict[str, set[int]]:
    """The ids of every POS row now in the database, by model label."""
    return {
        label: set(apps.get_model(label)._base_manager.values_list("pk", flat=True))
        for label in POS_MODELS
    }


def rule_of(version: PolicyVersion, slug: str) -> RetentionRule:
    rule: RetentionRule = version.retention_rules.select_related(
        "version__policy__organization"
    ).get(slug=slug)
    return rule


@pytest.fixture
def zpos(db: None) -> Organization:
    created: Organization = OrganizationFactory.create(
        slug="zpos", name="ZPos System", time_zone="Asia/Tashkent", country="UZ"
    )
    return created


@pytest.fixture
def clopos(db: None) -> Organization:
    created: Organization = OrganizationFactory.create(
        slug="clopos", name="Clopos", time_zone="Asia/Baku", country="AZ"
    )
    return created
