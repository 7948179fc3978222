"""Announcing a significant version: every subject with an open request and every account
contact the host lists is emailed once, in their language, in batches, with the effective date
and a link to the public comparison."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.test import Client

from announcements import services
from announcements.models import Announcement, AnnouncementSource
from policies.models import Organization, Policy, PolicyVersion, RequestType
from policies.seed_files import seeds_read
from policies.seeding import seeds_load
from policies.services import policy_version_draft, policy_version_publish
from pos.models import AccountUser
from requests_app.models import RequestStatus, SubjectRequest
from tests.factories import AccountFactory, AccountUserFactory
from tests.tracker import file_request

pytestmark = pytest.mark.django_db

SEEDS = Path(settings.BASE_DIR) / "seeds"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
Capture = Callable[..., Any]


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def zpos(db: None) -> Policy:
    seeds_load(seeds=seeds_read(directory=SEEDS))
    return Policy.objects.get(organization__slug="zpos")


def _contact(organization: Organization, email: str, **person: Any) -> AccountUser:
    user: AccountUser = AccountUserFactory.create(
        account=AccountFactory.create(organization=organization),
        email=email,
        role="owner",
        is_primary_contact=True,
        **person,
    )
    return user


def _significant_draft(policy: Policy, label: str = "2026-12-01") -> PolicyVersion:
    draft = policy_version_draft(policy=policy, version_label=label)
    draft.significant = True
    draft.save()
    return draft


@pytest.fixture
def audience(zpos: Policy) -> dict[str, str]:
    """Who is announced to, and in which language: two open requests, one closed, contacts."""
    organization = zpos.organization
    version = PolicyVersion.objects.published().get(policy=zpos)
    file_request(version, RequestType.ACCESS, email="open@example.com", language="ru")
    file_request(version, RequestType.DELETION, email="open@example.com", language="ru")
    file_request(version, RequestType.CORRECTION, email="second@example.com", language="en")
    closed = file_request(version, RequestType.ACCESS, email="closed@example.com")
    SubjectRequest.objects.filter(pk=closed.pk).update(
        status=RequestStatus.WITHDRAWN, closed_at=NOW
    )
    _contact(organization, "owner@shop.example")
    _contact(organization, "open@example.com")  # also a subject: announced once
    _contact(organization, "restricted@shop.example", processing_restricted=True)
    mail.outbox.clear()
    return {"open@example.com": "ru", "second@example.com": "en", "owner@shop.example": "en"}


def test_publishing_a_significant_version_emails_the_subjects(
    zpos: Policy,
    audience: dict[str, str],
    client: Client,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    draft = _significant_draft(zpos)
    with django_capture_on_commit_callbacks(execute=True):
        policy_version_publish(version=draft, published_by="officer")
    sent = sorted((m.to[0], m) for m in mail.outbox)
    assert [to for to, _m in sent] == sorted(audience)
    announcements = Announcement.objects.filter(version=draft)
    assert {a.email: a.language for a in announcements} == audience
    assert all(a.sent_at is not None for a in announcements)
    assert announcements.get(email="owner@shop.example").source == (
        AnnouncementSource.ACCOUNT_CONTACT
    )
    body = str(dict(sent)["owner@shop.example"].body)
    assert "takes effect on Dec. 24, 2026" in body
    link = f"{settings.SITE_URL}/privacy/zpos/versions/{draft.pk}/changes/"
    assert link in body
    page = client.get(link.removeprefix(settings.SITE_URL))
    assert page.status_code == 200
    assert "This version replaces version 2026-06-23" in page.content.decode()


def test_announcements_are_sent_once_per_version_and_address(
    zpos: Policy, audience: dict[str, str], django_capture_on_commit_callbacks: Capture
) -> None:
    draft = _significant_draft(zpos)
    with django_capture_on_commit_callbacks(execute=True):
        policy_version_publish(version=draft, published_by="officer")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.announcement_plan(version_id=draft.pk) == 0
        assert services.announcements_send(version_id=draft.pk) == 0
    assert len(mail.outbox) == len(audience)


def test_announcements_go_out_in_bounded_batches(
    zpos: Policy,
    audience: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    monkeypatch.setattr(services, "ANNOUNCEMENT_BATCH", 1)
    monkeypatch.setattr(services, "PLAN_CHUNK", 2)
    draft = _significant_draft(zpos)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        policy_version_publish(version=draft, published_by="officer")
    # One task per batch of one: the plan's, then one send per address and a last empty one.
    assert len(callbacks) >= len(audience) + 1
    assert sorted(m.to[0] for m in mail.outbox) == sorted(audience)


def test_a_version_not_marked_significant_announces_nothing(
    zpos: Policy, audience: dict[str, str], django_capture_on_commit_callbacks: Capture
) -> None:
    draft = policy_version_draft(policy=zpos, version_label="minor")
    with django_capture_on_commit_callbacks(execute=True):
        policy_version_publish(version=draft, published_by="officer")
    assert mail.outbox == []
    assert not Announcement.objects.exists()


def test_the_changes_page_of_a_first_version_is_not_found(zpos: Policy, client: Client) -> None:
    version = PolicyVersion.objects.published().get(policy=zpos)
    assert client.get(f"/privacy/zpos/versions/{version.pk}/changes/").status_code == 404
