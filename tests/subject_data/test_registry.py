"""The subject-data registry: whose rows each registration finds, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet

from policies.deadlines import Period
from policies.models import DataCategory, Organization, PeriodUnit, RetentionTrigger
from pos.models import Account, AccountUser, Device, Invoice, Payment, Sale, SaleLine
from subject_data.registry import (
    ByEmail,
    Erasure,
    ErasureAction,
    Registry,
    SubjectIdentity,
    Via,
    registry,
)
from tests.factories import (
    AccountUserFactory,
    OrganizationFactory,
    StaffActivityFactory,
    SupportMessageFactory,
    account_with_every_record,
)

pytestmark = pytest.mark.django_db


def _found(identity: SubjectIdentity, *, portable_only: bool = False) -> dict[str, set[int]]:
    return {
        registration.label: set(queryset.values_list("pk", flat=True))
        for registration, queryset in registry.for_subject(identity, portable_only=portable_only)
    }


def _identity(organization: Organization, email: str) -> SubjectIdentity:
    return SubjectIdentity(organization_id=organization.pk, email=email)


def test_every_pos_model_is_registered() -> None:
    pos_models = set(apps.get_app_config("pos").get_models())

    assert {model for model in pos_models if registry.is_registered(model)} == pos_models


def test_an_owner_finds_their_rows_in_every_registered_model_and_nobody_elses() -> None:
    organization = OrganizationFactory.create()
    expected = account_with_every_record(
        organization=organization, owner_email="owner@shop.example"
    )
    account_with_every_record(organization=organization, owner_email="other@shop.example")

    found = _found(_identity(organization, "owner@shop.example"))

    assert found == expected


def test_the_same_address_at_another_organisation_finds_nothing_here() -> None:
    organization, elsewhere = OrganizationFactory.create_batch(2)
    account_with_every_record(organization=elsewhere, owner_email="owner@shop.example")

    found = _found(_identity(organization, "owner@shop.example"))

    assert found == {r.label: set() for r in registry}


def test_the_email_matches_whatever_its_case() -> None:
    organization = OrganizationFactory.create()
    user = AccountUserFactory.create(account__organization=organization, email="Owner@Shop.Example")

    found = _found(_identity(organization, "owner@shop.example"))

    assert found["pos.accountuser"] == {user.pk}


def test_a_cashier_finds_their_own_rows_but_not_the_shops() -> None:
    organization = OrganizationFactory.create()
    account_with_every_record(
        organization=organization,
        owner_email="owner@shop.example",
        cashier_email="kassa@shop.example",
    )
    cashier = AccountUser.objects.get(email="kassa@shop.example")
    message = SupportMessageFactory.create(account=cashier.account, user=cashier)

    found = _found(_identity(organization, "kassa@shop.example"))

    assert found["pos.accountuser"] == {cashier.pk}
    assert found["pos.staffactivity"] == set(cashier.activities.values_list("pk", flat=True))
    assert found["pos.login"] == set(cashier.logins.values_list("pk", flat=True))
    assert found["pos.supportmessage"] == {message.pk}
    for label in ("pos.account", "pos.sale", "pos.saleline", "pos.invoice", "pos.device"):
        assert found[label] == set(), label


def test_an_owner_does_not_find_their_employees_logins_or_activity() -> None:
    organization = OrganizationFactory.create()
    account_with_every_record(organization=organization, owner_email="owner@shop.example")
    owner = AccountUser.objects.get(email="owner@shop.example")
    employee_activity = StaffActivityFactory.create(user__account=owner.account)

    found = _found(_identity(organization, "owner@shop.example"))

    assert employee_activity.pk not in found["pos.staffactivity"]
    assert found["pos.login"] == set(owner.logins.values_list("pk", flat=True))


def test_portability_leaves_out_what_the_subject_did_not_provide() -> None:
    portable = {r.label for r in registry.selected(portable_only=True)}

    assert "pos.invoice" not in portable
    assert {"pos.sale", "pos.saleline", "pos.payment", "pos.accountuser"} <= portable


def test_registrations_come_in_category_order() -> None:
    order = [r.category for r in registry]

    assert order == sorted(order, key=list(DataCategory).index)


def test_invoices_and_payments_are_retained_under_a_legal_basis() -> None:
    for model in (Invoice, Payment):
        erasure = registry.get(model).erasure
        assert erasure.action == ErasureAction.RETAIN
        assert erasure.legal_basis
        assert erasure.period == Period(60, PeriodUnit.MONTHS)


def test_the_account_is_anonymised_rather_than_deleted() -> None:
    erasure = registry.get(Account).erasure

    assert erasure.action == ErasureAction.ANONYMISE
    assert set(erasure.fields) <= set(registry.get(Account).fields)


def test_every_registration_follows_the_account_retention_triggers() -> None:
    for registration in registry:
        assert registration.retention_triggers == {
            RetentionTrigger.ACCOUNT_DELETED,
            RetentionTrigger.LICENCE_OVERDUE,
        }, registration.label


# --- What a registration refuses --------------------------------------------------------------


def _register(within: Registry, model: Any = Device, **overrides: Any) -> Any:
    options: dict[str, object] = {
        "category": DataCategory.TECHNICAL,
        "subject": lambda identity: Device.objects.all(),
        "fields": ("name", "identifier"),
        "organization": "account__organization",
        "erasure": Erasure.delete(),
        "portable": True,
        **overrides,
    }
    return within.register(model, **options)  # type: ignore[arg-type]


def test_a_model_is_registered_once() -> None:
    within = Registry()
    _register(within)

    with pytest.raises(ImproperlyConfigured, match="already registered"):
        _register(within)
    with pytest.raises(ImproperlyConfigured, match="already registered"):
        within.exclude(Device, reason="changed my mind")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"fields": ("name", "colour")}, "'colour' is not an exportable field"),
        ({"fields": ()}, "at least one field"),
        ({"correctable": ("platform",)}, "must be an exported"),
        ({"organization": "account"}, "does not end on policies.Organization"),
        ({"organization": "account__owner"}, "does not resolve"),
        ({"retention_anchor": "shop"}, "does not resolve"),
        ({"subject": ByEmail("name__email")}, "must follow relations"),
        ({"subject": ByEmail("platform_code")}, "is not a field holding emails"),
        ({"subject": Via("account", Sale)}, "does not lead to pos.Sale"),
        ({"subject": Via("account", Account)}, "register pos.Account before"),
        ({"erasure": Erasure(ErasureAction.ANONYMISE, fields=("account",))}, "cannot anonymise"),
    ],
)
def test_a_registration_that_does_not_resolve_is_refused(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        _register(Registry(), **overrides)


def test_erasure_under_retention_needs_a_legal_basis_and_a_period() -> None:
    with pytest.raises(ImproperlyConfigured):
        Erasure.retain(legal_basis=" ", period=Period(60, PeriodUnit.MONTHS))
    with pytest.raises(ImproperlyConfigured):
        Erasure.retain(legal_basis="Tax Code", period=Period(0, PeriodUnit.MONTHS))
    with pytest.raises(ImproperlyConfigured):
        Erasure.anonymise()


def test_an_exclusion_needs_a_reason() -> None:
    with pytest.raises(ImproperlyConfigured, match="needs a reason"):
        Registry().exclude(Device, reason="")


def test_rows_never_leave_the_subjects_organisation_whatever_the_lookup_returns() -> None:
    organization, elsewhere = OrganizationFactory.create_batch(2)
    mine = account_with_every_record(organization=organization, owner_email="a@shop.example")
    account_with_every_record(organization=elsewhere, owner_email="b@shop.example")
    within = Registry()
    # A careless lookup that returns every device of every organisation.
    registration = _register(within)

    rows: QuerySet[Device] = registration.rows(_identity(organization, "a@shop.example"))

    assert set(rows.values_list("pk", flat=True)) == mine["pos.device"]


def test_a_lookup_that_returns_another_models_rows_is_refused() -> None:
    within = Registry()
    registration = _register(within, subject=lambda identity: Sale.objects.all())

    with pytest.raises(ImproperlyConfigured, match=r"returned pos\.sale rows"):
        registration.rows(SubjectIdentity(organization_id=1, email="a@shop.example"))


def test_a_chain_of_via_lookups_finds_the_same_rows_as_nested_lookups() -> None:
    organization = OrganizationFactory.create()
    expected = account_with_every_record(organization=organization, owner_email="o@shop.example")
    identity = _identity(organization, "o@shop.example")
    sales = registry.get(Sale).rows(identity)

    nested = SaleLine.objects.filter(sale__in=sales.values("pk"))

    assert (
        set(registry.get(SaleLine).rows(identity).values_list("pk", flat=True))
        == set(nested.values_list("pk", flat=True))
        == expected["pos.saleline"]
    )
