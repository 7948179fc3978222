from __future__ import annotations

from typing import Any

import pytest
from django.db import models
from django.test import Client
from django.urls import reverse

from tests.factories import (
    AccountUserFactory,
    DeviceFactory,
    LoginFactory,
    PaymentFactory,
    SaleLineFactory,
    StaffActivityFactory,
    SupportMessageFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_http(settings: Any) -> None:
    # Production settings redirect HTTP to HTTPS; the test client speaks plain HTTP.
    settings.SECURE_SSL_REDIRECT = False


def _url(obj: models.Model, view: str) -> str:
    meta = obj._meta
    args = [obj.pk] if view == "change" else []
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def _one_of_each() -> list[models.Model]:
    line = SaleLineFactory.create()
    user = AccountUserFactory.create(account=line.sale.account, is_primary_contact=True)
    payment = PaymentFactory.create(invoice__account=line.sale.account)
    return [
        line.sale.account,
        user,
        StaffActivityFactory.create(user=user),
        line.product,
        line.sale,
        payment.invoice,
        DeviceFactory.create(account=line.sale.account),
        LoginFactory.create(user=user),
        SupportMessageFactory.create(account=line.sale.account, user=user),
    ]


def test_every_pos_admin_list_and_detail_page_renders(admin_client: Client) -> None:
    for obj in _one_of_each():
        for view in ("changelist", "change"):
            response = admin_client.get(_url(obj, view))
            assert response.status_code == 200, (type(obj).__name__, view)


def test_pos_data_cannot_be_added_or_changed_from_the_admin(admin_client: Client) -> None:
    account = SaleLineFactory.create().sale.account
    response = admin_client.get(_url(account, "change"))

    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    assert admin_client.get(_url(account, "add")).status_code == 403
    assert admin_client.post(_url(account, "change"), {"company_name": "x"}).status_code == 403
