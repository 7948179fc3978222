"""Effects of rights in the data: an unsubscribe or an objection withdraws consent in every
system, a restriction sets the marker and an officer lifts it; only the subject's rows change,
every change is recorded, and the subject is told what changed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from effects.models import ConsentChange, EffectChannel, EffectKind
from effects.services import EffectRefused, request_effect_apply, restriction_lift
from policies.models import Organization, PolicyVersion, RequestType
from policies.seed_files import seeds_read
from policies.seeding import seeds_load
from pos.models import Account, AccountUser
from requests_app.audit import Actor
from requests_app.evidence import evidence_record
from requests_app.models import EventKind, RequestEvent, RequestStatus, SubjectRequest
from requests_app.workflow import MissingReason, request_mark_verified
from tests.factories import AccountFactory, AccountUserFactory, StaffUserFactory
from tests.tracker import file_request, links_in_outbox

pytestmark = pytest.mark.django_db

SEEDS = Path(settings.BASE_DIR) / "seeds"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SUBJECT = "owner@shop.example"
NEIGHBOUR = "neighbour@shop.example"
Capture = Callable[..., Any]


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def seeded(db: None) -> None:
    seeds_load(seeds=seeds_read(directory=SEEDS))


def _in_force(slug: str) -> PolicyVersion:
    version = PolicyVersion.objects.in_force().filter(policy__organization__slug=slug).first()
    assert version is not None
    return version


def _owner(organization: Organization, email: str, **account: Any) -> AccountUser:
    user: AccountUser = AccountUserFactory.create(
        account=AccountFactory.create(organization=organization, **account),
        email=email,
        role="owner",
        is_primary_contact=True,
    )
    return user


@pytest.fixture
def officer(db: None) -> User:
    user: User = StaffUserFactory.create(is_superuser=True)
    return user


def test_a_beshqozon_opt_out_flips_the_consent_after_one_click(
    seeded: None, client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    organization = Organization.objects.get(slug="beshqozon")
    subject = _owner(organization, SUBJECT, marketing_opt_in=True)
    neighbour = _owner(organization, NEIGHBOUR, marketing_opt_in=True)
    with django_capture_on_commit_callbacks(execute=True):
        request = file_request(_in_force("beshqozon"), RequestType.MARKETING_OPT_OUT, email=SUBJECT)
    token = links_in_outbox("confirm")[-1]
    mail.outbox.clear()

    # The one click: the confirmation button in the email's page. No staff step follows.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("requests_app:request_verify", args=[token]))

    subject.account.refresh_from_db()
    neighbour.account.refresh_from_db()
    assert subject.account.marketing_opt_in is False
    assert neighbour.account.marketing_opt_in is True
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    assert "Your consent is withdrawn for: marketing." in request.outcome
    assert "marketing opt-in of your accounts" in request.outcome
    told = [m for m in mail.outbox if "Your consent is withdrawn" in str(m.body)]
    assert [m.to for m in told] == [[SUBJECT]]
    change = ConsentChange.objects.get(request=request)
    assert (change.kind, change.channel, change.rows_changed) == (
        EffectKind.CONSENT_WITHDRAWN,
        EffectChannel.REQUEST,
        1,
    )
    note = RequestEvent.objects.get(request=request, kind=EventKind.NOTE)
    assert note.data["effect"]["changes"][0]["model"] == "pos.account"


def test_an_opt_out_under_a_policy_without_any_time_waits_for_staff(
    db: None, django_capture_on_commit_callbacks: Capture
) -> None:
    from tests.tracker import publish_version

    organization = Organization.objects.create(
        slug="plain",
        name="Plain",
        legal_name="Plain",
        country="UZ",
        time_zone="Asia/Tashkent",
        languages=["en"],
        contact_email="dpo@plain.example",
    )
    subject = _owner(organization, SUBJECT, marketing_opt_in=True)
    version = publish_version(organization, {RequestType.MARKETING_OPT_OUT: {}})
    with django_capture_on_commit_callbacks(execute=True):
        request = request_mark_verified(
            request=file_request(version, RequestType.MARKETING_OPT_OUT, email=SUBJECT)
        )
    subject.account.refresh_from_db()
    assert subject.account.marketing_opt_in is True
    assert request.status == RequestStatus.VERIFIED


def test_a_clopos_objection_withdraws_the_chosen_purpose_and_tells_the_subject(
    seeded: None, officer: User, django_capture_on_commit_callbacks: Capture
) -> None:
    organization = Organization.objects.get(slug="clopos")
    subject = _owner(organization, SUBJECT, marketing_opt_in=True)
    request = request_mark_verified(
        request=file_request(_in_force("clopos"), RequestType.OBJECTION, email=SUBJECT)
    )
    with pytest.raises(EffectRefused, match="Choose the purposes"):
        request_effect_apply(request=request, actor=Actor.staff(officer), purposes=["profiling"])
    subject.account.refresh_from_db()
    assert subject.account.marketing_opt_in is True

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        request_effect_apply(request=request, actor=Actor.staff(officer), purposes=["marketing"])
    subject.account.refresh_from_db()
    assert subject.account.marketing_opt_in is False
    assert request.status == RequestStatus.COMPLETED
    assert any("marketing opt-in" in str(m.body) for m in mail.outbox if m.to == [SUBJECT])
    assert evidence_record(request=request)["effects"][0]["effect"] == EffectKind.CONSENT_WITHDRAWN


def test_a_clopos_restriction_marks_only_the_subjects_rows_and_an_officer_lifts_it(
    seeded: None, officer: User, django_capture_on_commit_callbacks: Capture
) -> None:
    organization = Organization.objects.get(slug="clopos")
    subject = _owner(organization, SUBJECT)
    neighbour = _owner(organization, NEIGHBOUR)
    request = request_mark_verified(
        request=file_request(_in_force("clopos"), RequestType.RESTRICTION, email=SUBJECT)
    )
    request_effect_apply(request=request, actor=Actor.staff(officer))
    subject.refresh_from_db()
    subject.account.refresh_from_db()
    neighbour.refresh_from_db()
    assert subject.processing_restricted
    assert subject.account.processing_restricted
    assert not neighbour.processing_restricted
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED

    with pytest.raises(MissingReason):
        restriction_lift(request=request, actor=Actor.staff(officer), reason=" ")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        restriction_lift(request=request, actor=Actor.staff(officer), reason="Accuracy checked.")
    subject.refresh_from_db()
    assert not subject.processing_restricted
    lifted = RequestEvent.objects.filter(request=request, kind=EventKind.NOTE).last()
    assert lifted is not None
    assert lifted.actor_user == officer
    assert "Accuracy checked." in lifted.public_note
    assert any(m.to == [SUBJECT] for m in mail.outbox)
    with pytest.raises(EffectRefused):
        restriction_lift(request=request, actor=Actor.staff(officer), reason="Again.")


def test_a_restricted_owner_is_left_out_of_the_account_contacts(seeded: None) -> None:
    from subject_data.registry import registry

    organization = Organization.objects.get(slug="clopos")
    _owner(organization, SUBJECT)
    restricted = _owner(organization, NEIGHBOUR)
    AccountUser.objects.filter(pk=restricted.pk).update(processing_restricted=True)
    assert [email for email, _lang in registry.contacts(organization.pk)] == [SUBJECT]


def test_an_agent_cannot_lift_a_restriction_and_an_officer_can_from_the_request_page(
    seeded: None, officer: User, client: Client, settings: Any
) -> None:
    settings.SECURE_SSL_REDIRECT = False
    organization = Organization.objects.get(slug="clopos")
    _owner(organization, SUBJECT)
    request = request_mark_verified(
        request=file_request(_in_force("clopos"), RequestType.RESTRICTION, email=SUBJECT)
    )
    agent: User = StaffUserFactory.create(roles=["Support agents"])
    client.force_login(agent)
    apply_url = reverse("admin:requests_app_effect_apply", args=[request.pk])
    SubjectRequest.objects.filter(pk=request.pk).update(assignee=agent)
    assert client.get(apply_url).status_code == 200
    client.post(apply_url, {"message": ""})
    assert Account.objects.get(users__email=SUBJECT).processing_restricted
    lift_url = reverse("admin:requests_app_restriction_lift", args=[request.pk])
    assert client.post(lift_url, {"reason": "no"}).status_code == 403

    client.force_login(officer)
    refused = client.post(lift_url, {"reason": ""})
    assert refused.status_code == 200
    client.post(lift_url, {"reason": "The dispute is settled."})
    assert not Account.objects.get(users__email=SUBJECT).processing_restricted


def test_the_consent_report_counts_zpos_marketing_consent_per_organisation(
    seeded: None, officer: User, client: Client, settings: Any
) -> None:
    settings.SECURE_SSL_REDIRECT = False
    zpos = Organization.objects.get(slug="zpos")
    _owner(zpos, "yes@shop.example", marketing_opt_in=True)
    _owner(zpos, "restricted@shop.example", marketing_opt_in=True, processing_restricted=True)
    _owner(zpos, "no@shop.example", marketing_opt_in=False)
    client.force_login(officer)
    page = client.get(reverse("admin:effects_consentchange_report"))
    assert page.status_code == 200
    [zpos_section] = [s for s in page.context["sections"] if s["organization"] == zpos]
    [count] = zpos_section["counts"]
    assert (count.purpose, count.given, count.not_given, count.restricted, count.usable) == (
        "marketing",
        2,
        1,
        1,
        1,
    )
    assert 'id="consent-zpos"' in page.content.decode()


def test_the_one_click_opt_out_changes_the_data_even_while_a_manual_system_owes_its_answer(
    seeded: None, client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    from systems.models import System, SystemKind

    organization = Organization.objects.get(slug="beshqozon")
    System.objects.create(
        organization=organization,
        name="Support mailbox",
        slug="beshqozon-support",
        kind=SystemKind.MANUAL,
        owner_email="support@beshqozon.example",
    )
    subject = _owner(organization, SUBJECT, marketing_opt_in=True)
    with django_capture_on_commit_callbacks(execute=True):
        request = file_request(_in_force("beshqozon"), RequestType.MARKETING_OPT_OUT, email=SUBJECT)
    token = links_in_outbox("confirm")[-1]
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("requests_app:request_verify", args=[token]))

    subject.account.refresh_from_db()
    assert subject.account.marketing_opt_in is False
    request.refresh_from_db()
    assert request.status == RequestStatus.IN_PROGRESS
    told = [m for m in mail.outbox if m.to == [SUBJECT] and "consent is withdrawn" in str(m.body)]
    assert len(told) == 1
    notes = RequestEvent.objects.filter(request=request, kind=EventKind.NOTE)
    assert any("cannot be completed yet" in n.note and "Support mailbox" in n.note for n in notes)
