"""The one-click unsubscribe link (RFC 8058): signed per address and organisation, POST with
``List-Unsubscribe=One-Click`` and no cookie withdraws the consent at once, GET asks with a
button, and the answers reveal nothing about who is a customer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client

from effects.links import unsubscribe_token, unsubscribe_url
from effects.models import ConsentChange, EffectChannel
from policies.models import Organization
from policies.seed_files import seeds_read
from policies.seeding import seeds_load
from pos.models import Account
from tests.factories import AccountFactory, AccountUserFactory

pytestmark = pytest.mark.django_db

SEEDS = Path(settings.BASE_DIR) / "seeds"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SUBJECT = "Owner@Shop.example"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
Capture = Callable[..., Any]


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def beshqozon(db: None) -> Organization:
    seeds_load(seeds=seeds_read(directory=SEEDS))
    return Organization.objects.get(slug="beshqozon")


@pytest.fixture
def mail_client() -> Client:
    # A mail client's POST carries no cookie and no CSRF token.
    return Client(enforce_csrf_checks=True)


def _account(organization: Organization, email: str) -> Account:
    account: Account = AccountFactory.create(organization=organization, marketing_opt_in=True)
    AccountUserFactory.create(account=account, email=email.lower(), role="owner")
    return account


def _path(organization: Organization, email: str) -> str:
    return unsubscribe_url(organization, email).removeprefix(settings.SITE_URL)


def test_a_beshqozon_one_click_post_withdraws_the_consent_and_confirms_by_email(
    beshqozon: Organization, mail_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    account = _account(beshqozon, SUBJECT)
    other = _account(beshqozon, "other@shop.example")
    with django_capture_on_commit_callbacks(execute=True):
        response = mail_client.post(_path(beshqozon, SUBJECT), ONE_CLICK)
    assert response.status_code == 200
    account.refresh_from_db()
    other.refresh_from_db()
    assert account.marketing_opt_in is False
    assert other.marketing_opt_in is True
    change = ConsentChange.objects.get()
    assert (change.channel, change.email, change.request) == (
        EffectChannel.ONE_CLICK,
        SUBJECT.lower(),
        None,
    )
    [confirmation] = mail.outbox
    assert confirmation.to == [SUBJECT.lower()]
    assert "marketing opt-in of your accounts" in str(confirmation.body)

    # Again: nothing more changes and nobody is emailed twice.
    with django_capture_on_commit_callbacks(execute=True):
        assert mail_client.post(_path(beshqozon, SUBJECT), ONE_CLICK).status_code == 200
    assert len(mail.outbox) == 1


def test_get_shows_a_button_that_posts_the_one_click_field_and_changes_nothing(
    beshqozon: Organization, mail_client: Client
) -> None:
    account = _account(beshqozon, SUBJECT)
    page = mail_client.get(_path(beshqozon, SUBJECT))
    text = page.content.decode()
    assert page.status_code == 200
    assert 'name="List-Unsubscribe" value="One-Click"' in text
    assert '<button type="submit" id="unsubscribe">' in text
    account.refresh_from_db()
    assert account.marketing_opt_in is True
    assert not ConsentChange.objects.exists()


def test_a_post_without_the_one_click_field_changes_nothing(
    beshqozon: Organization, mail_client: Client
) -> None:
    account = _account(beshqozon, SUBJECT)
    assert mail_client.post(_path(beshqozon, SUBJECT), {}).status_code == 400
    account.refresh_from_db()
    assert account.marketing_opt_in is True


def test_an_address_with_no_data_gets_the_same_answer_as_a_customer(
    beshqozon: Organization, mail_client: Client
) -> None:
    _account(beshqozon, SUBJECT)
    customer = mail_client.post(_path(beshqozon, SUBJECT), ONE_CLICK)
    stranger = mail_client.post(_path(beshqozon, "nobody@example.com"), ONE_CLICK)
    assert (customer.status_code, customer.content) == (stranger.status_code, stranger.content)


def test_a_tampered_or_other_organisations_token_is_refused_with_one_page(
    beshqozon: Organization, mail_client: Client
) -> None:
    account = _account(beshqozon, SUBJECT)
    clopos = Organization.objects.get(slug="clopos")
    token = unsubscribe_token(beshqozon, SUBJECT)
    tampered = mail_client.post(f"/privacy/beshqozon/unsubscribe/{token[:-2]}xy/", ONE_CLICK)
    foreign = mail_client.post(
        f"/privacy/beshqozon/unsubscribe/{unsubscribe_token(clopos, SUBJECT)}/", ONE_CLICK
    )
    assert tampered.status_code == foreign.status_code == 404
    assert tampered.content == foreign.content
    account.refresh_from_db()
    assert account.marketing_opt_in is True


def test_zpos_promises_no_unsubscribe_at_any_time_so_it_has_no_one_click_link(
    beshqozon: Organization, mail_client: Client
) -> None:
    zpos = Organization.objects.get(slug="zpos")
    account = _account(zpos, SUBJECT)
    assert mail_client.post(_path(zpos, SUBJECT), ONE_CLICK).status_code == 404
    account.refresh_from_db()
    assert account.marketing_opt_in is True
    with pytest.raises(CommandError, match="does not promise"):
        call_command("unsubscribe_link", "zpos", SUBJECT)


def test_the_command_prints_the_rfc_8058_headers(beshqozon: Organization) -> None:
    out = StringIO()
    call_command("unsubscribe_link", "beshqozon", SUBJECT, stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == f"List-Unsubscribe: <{unsubscribe_url(beshqozon, SUBJECT)}>"
    assert lines[1] == "List-Unsubscribe-Post: List-Unsubscribe=One-Click"
    with pytest.raises(CommandError, match="not an email address"):
        call_command("unsubscribe_link", "beshqozon", "not-an-address")
