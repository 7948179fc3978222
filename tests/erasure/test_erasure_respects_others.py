"""Erasure that respects other people and the law: an account other users still work in keeps
its business data when one of them is erased, and records kept for tax law keep the buyer's
identity the law keeps them for."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User

from erasure.models import ErasureCertificate
from erasure.services import SHARED_REASON, erasure_approve, erasure_plan, erasures_start_due
from policies.models import Organization
from pos.models import Account, AccountUser, Invoice, Login, Sale, StaffActivity
from requests_app.audit import Actor
from requests_app.models import RequestStatus, SubjectRequest
from tests.factories import (
    AccountFactory,
    AccountUserFactory,
    ConfirmedRequestFactory,
    InvoiceFactory,
    LoginFactory,
    SaleFactory,
    StaffActivityFactory,
    StaffUserFactory,
)

pytestmark = pytest.mark.django_db
OWNER = "owner@shop.example"
APPROVED = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def officer(db: None) -> User:
    user: User = StaffUserFactory.create(is_superuser=True)
    return user


def _shop(organization: Organization, *, others: int, deleted: bool = False) -> Account:
    account: Account = AccountFactory.create(
        organization=organization, deleted_at=APPROVED - timedelta(days=20) if deleted else None
    )
    owner = AccountUserFactory.create(
        account=account, email=OWNER, role="owner", is_primary_contact=True
    )
    LoginFactory.create(user=owner)
    StaffActivityFactory.create(user=owner)
    cashiers = [AccountUserFactory.create(account=account) for _ in range(others)]
    for number in range(50):
        SaleFactory.create(account=account, cashier=cashiers[number % others] if others else owner)
    InvoiceFactory.create(account=account)
    return account


def _erase(
    organization: Organization, officer: User, capture: Callable[..., Any]
) -> SubjectRequest:
    with time_machine.travel(APPROVED - timedelta(days=2), tick=False):
        request: SubjectRequest = ConfirmedRequestFactory.create(
            organization=organization, request_type="deletion", email=OWNER
        )
    with time_machine.travel(APPROVED, tick=False), capture(execute=True):
        erasure_approve(request=request, actor=Actor.staff(officer))
    with time_machine.travel(APPROVED + timedelta(days=8), tick=False), capture(execute=True):
        erasures_start_due()
    request.refresh_from_db()
    return request


def test_erasing_an_owner_keeps_the_sales_of_an_account_three_other_users_still_use(
    zpos: Organization,
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    account = _shop(zpos, others=3)
    name, tax_id = account.company_name, account.tax_id

    request = _erase(zpos, officer, django_capture_on_commit_callbacks)

    assert request.status == RequestStatus.COMPLETED
    # The person's own rows go...
    assert not AccountUser.objects.filter(email=OWNER).exists()
    assert not Login.objects.filter(user__email=OWNER).exists()
    assert not StaffActivity.objects.filter(user__email=OWNER).exists()
    # ...the business's stay with the three users who still work in it, untouched.
    assert Sale.objects.filter(account=account).count() == 50
    assert AccountUser.objects.filter(account=account).count() == 3
    account.refresh_from_db()
    assert (account.company_name, account.tax_id) == (name, tax_id)
    assert Invoice.objects.filter(account=account).count() == 1


def test_the_certificate_says_why_a_shared_accounts_data_stays(
    zpos: Organization,
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    _shop(zpos, others=3)

    request = _erase(zpos, officer, django_capture_on_commit_callbacks)

    content = ErasureCertificate.objects.get(request=request).content
    shared = [entry for entry in content["retained"] if entry["legal_basis"] == SHARED_REASON]
    models = {model for entry in shared for model in entry["models"]}
    assert {"pos.sale", "pos.account", "pos.invoice"} <= models
    assert sum(entry["rows"] for entry in shared if "pos.sale" in entry["models"]) >= 50
    assert "Shared with other active users of the account" in request.outcome


def test_the_plan_shows_the_shared_rows_as_kept_before_approval(zpos: Organization) -> None:
    _shop(zpos, others=3)
    with time_machine.travel(APPROVED - timedelta(days=2), tick=False):
        request: SubjectRequest = ConfirmedRequestFactory.create(
            organization=zpos, request_type="deletion", email=OWNER
        )

    plan = {
        (line.label, line.action): line.rows for line in erasure_plan(request, on=APPROVED.date())
    }

    assert plan[("pos.sale", "shared")] == 50
    assert plan[("pos.accountuser", "delete")] == 1
    assert ("pos.sale", "delete") not in plan or plan[("pos.sale", "delete")] == 0


def test_erasing_the_last_user_of_a_closed_account_erases_its_sales(
    zpos: Organization,
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    account = _shop(zpos, others=0, deleted=True)

    _erase(zpos, officer, django_capture_on_commit_callbacks)

    assert not Sale.objects.filter(account=account).exists()


def test_invoices_kept_for_tax_law_keep_the_buyers_name_and_tax_number(
    zpos: Organization,
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    account = _shop(zpos, others=0, deleted=True)
    name, tax_id = account.company_name, account.tax_id

    request = _erase(zpos, officer, django_capture_on_commit_callbacks)

    account.refresh_from_db()
    assert Invoice.objects.filter(account=account).count() == 1
    assert (account.company_name, account.tax_id) == (name, tax_id)
    assert account.registered_address == ""
    models = {
        m["model"]: m for m in ErasureCertificate.objects.get(request=request).content["models"]
    }
    assert models["pos.account"]["anonymised"] == 1
