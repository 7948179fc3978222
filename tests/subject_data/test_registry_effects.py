"""Consent fields per purpose, the restriction marker and the account contacts in the registry:
what a registration may name, and what the sample host declares."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from policies.models import DataCategory
from pos.models import Account, AccountUser
from subject_data.registry import ByEmail, Erasure, Registry, registry
from tests.factories import AccountFactory, AccountUserFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def _register(**options: Any) -> None:
    Registry().register(
        AccountUser,
        category=DataCategory.CONTACT,
        subject=ByEmail("email"),
        fields=("email",),
        organization="account__organization",
        erasure=Erasure.delete(),
        portable=True,
        **options,
    )


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"consent": {"marketing": "first_name"}}, "must be a boolean column"),
        ({"consent": {"marketing": "no_such_field"}}, "no consent field 'no_such_field'"),
        ({"consent": {"Marketing!": "processing_restricted"}}, "is not a purpose name"),
        ({"restriction": "account"}, "no restriction marker 'account'"),
    ],
)
def test_a_consent_field_or_restriction_marker_that_is_not_a_boolean_is_refused(
    options: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=problem):
        _register(**options)


def test_the_pos_declares_marketing_consent_and_restriction_markers() -> None:
    assert registry.get(Account).consent_field("marketing") == "marketing_opt_in"
    assert registry.get(Account).restriction == "processing_restricted"
    assert registry.get(AccountUser).restriction == "processing_restricted"
    organization = OrganizationFactory.create()
    assert registry.consent_purposes(organization.pk) == ["marketing"]


def test_the_pos_lists_owners_and_primary_contacts_of_live_accounts_as_contacts() -> None:
    organization = OrganizationFactory.create(default_language="uz")
    live = AccountFactory.create(organization=organization)
    AccountUserFactory.create(account=live, email="owner@shop.example", role="owner")
    AccountUserFactory.create(account=live, email="cashier@shop.example", role="cashier")
    gone = AccountFactory.create(organization=organization, deleted_at="2026-01-01T00:00Z")
    AccountUserFactory.create(account=gone, email="gone@shop.example", role="owner")
    other = AccountFactory.create()
    AccountUserFactory.create(account=other, email="elsewhere@shop.example", role="owner")
    assert list(registry.contacts(organization.pk)) == [("owner@shop.example", "uz")]
