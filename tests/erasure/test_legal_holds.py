"""Legal holds on one subject or one account: placed and released by an officer with a reason;
erasure and retention purges skip the held data and say so; the release lets it go."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import User

from erasure.holds import holds_release_start
from erasure.models import ErasureCertificate
from erasure.services import erasure_approve, erasures_start_due
from policies.models import Organization
from pos.models import AccountUser, Login, Sale
from requests_app.audit import Actor
from requests_app.holds import holds_for_request, legal_hold_place, legal_hold_release
from requests_app.models import LegalHold, SubjectRequest
from requests_app.roles import OFFICERS, roles_sync
from requests_app.workflow import IllegalAction
from retention.models import PurgeRun
from retention.purge import run_execute
from retention.rules import retention_run_start
from tests.factories import ConfirmedRequestFactory, StaffUserFactory
from tests.pos_data import ZPOS_RULE, merchant, retention_version, rule_of, surviving

pytestmark = pytest.mark.django_db
OWNER = "owner@shop.example"
APPROVED = datetime(2027, 3, 1, 9, tzinfo=UTC)
TASHKENT = ZoneInfo("Asia/Tashkent")


@pytest.fixture
def officer(db: None) -> User:
    roles_sync()
    user: User = StaffUserFactory.create(roles=[OFFICERS])
    return user


def _deletion(organization: Organization) -> SubjectRequest:
    with time_machine.travel(APPROVED - timedelta(days=2), tick=False):
        request: SubjectRequest = ConfirmedRequestFactory.create(
            organization=organization, request_type="deletion", email=OWNER
        )
    return request


def _run_erasure(request: SubjectRequest, officer: User, capture: Callable[..., Any]) -> None:
    with time_machine.travel(APPROVED, tick=False), capture(execute=True):
        erasure_approve(request=request, actor=Actor.staff(officer))
    with time_machine.travel(APPROVED + timedelta(days=8), tick=False), capture(execute=True):
        erasures_start_due()


def test_a_legal_hold_on_a_subject_keeps_their_data_through_an_erasure_until_released(
    zpos: Organization,
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    merchant(zpos, owner_email=OWNER, deleted_at=APPROVED - timedelta(days=20))
    request = _deletion(zpos)
    hold = legal_hold_place(
        organization=zpos,
        actor=Actor.staff(officer),
        reason="Court order 12/2027",
        subject_email=OWNER,
        request=request,
    )
    before = surviving()

    _run_erasure(request, officer, django_capture_on_commit_callbacks)

    assert surviving() == before
    certificate = ErasureCertificate.objects.get(request=request).content
    bases = {entry["legal_basis"] for entry in certificate["retained"]}
    assert any("Legal hold #" in basis and "Court order 12/2027" in basis for basis in bases)

    with time_machine.travel(APPROVED + timedelta(days=30), tick=False):
        legal_hold_release(hold=hold, actor=Actor.staff(officer), reason="Case closed")
    (release,) = holds_release_start(as_of=date(2027, 3, 31))
    run_execute(release)

    assert not AccountUser.objects.filter(email=OWNER).exists()
    assert not Login.objects.filter(user__email=OWNER).exists()


def test_a_retention_purge_skips_an_account_under_legal_hold_and_says_so(
    zpos: Organization, officer: User
) -> None:
    rule = rule_of(retention_version(zpos, rules=[ZPOS_RULE]), "account-deleted")
    held = merchant(zpos, deleted_at=datetime(2027, 1, 10, 12, tzinfo=TASHKENT))
    due = merchant(zpos, deleted_at=datetime(2027, 1, 10, 12, tzinfo=TASHKENT))
    (account_id,) = held["pos.account"]
    legal_hold_place(
        organization=zpos,
        actor=Actor.staff(officer),
        reason="Regulator's inquiry",
        account_identifier=str(account_id),
    )

    run = run_execute(retention_run_start(rule=rule, as_of=date(2027, 2, 28)))

    after = surviving()
    for label, ids in held.items():
        assert ids <= after[label], label
    assert not Sale.objects.filter(pk__in=due["pos.sale"]).exists()
    entries = [
        e for e in PurgeRun.objects.get(pk=run.pk).retained if "Legal hold #" in e["legal_basis"]
    ]
    assert {e["model"] for e in entries} >= {"pos.account", "pos.sale", "pos.accountuser"}
    assert all("Regulator's inquiry" in e["legal_basis"] for e in entries)


def test_only_an_officer_places_or_releases_a_hold_and_always_with_a_reason(
    zpos: Organization, officer: User
) -> None:
    agent: User = StaffUserFactory.create(roles=["Support agents"])

    with pytest.raises(IllegalAction, match="privacy officer"):
        legal_hold_place(
            organization=zpos, actor=Actor.staff(agent), reason="x", subject_email=OWNER
        )
    with pytest.raises(IllegalAction, match="reason"):
        legal_hold_place(
            organization=zpos, actor=Actor.staff(officer), reason="  ", subject_email=OWNER
        )
    with pytest.raises(IllegalAction, match="email or the account"):
        legal_hold_place(organization=zpos, actor=Actor.staff(officer), reason="Litigation")
    assert not LegalHold.objects.exists()

    hold = legal_hold_place(
        organization=zpos, actor=Actor.staff(officer), reason="Litigation", subject_email=OWNER
    )
    with pytest.raises(IllegalAction, match="reason"):
        legal_hold_release(hold=hold, actor=Actor.staff(officer), reason="")
    with pytest.raises(IllegalAction, match="privacy officer"):
        legal_hold_release(hold=hold, actor=Actor.staff(agent), reason="done")
    hold.refresh_from_db()
    assert hold.is_active


def test_placing_and_releasing_a_hold_is_in_the_requests_audit_trail(
    zpos: Organization, officer: User
) -> None:
    request = _deletion(zpos)

    hold = legal_hold_place(
        organization=zpos,
        actor=Actor.staff(officer),
        reason="Litigation",
        subject_email=OWNER,
        request=request,
    )
    assert list(holds_for_request(request)) == [hold]
    legal_hold_release(hold=hold, actor=Actor.staff(officer), reason="Settled")

    events = list(request.events.filter(data__has_key="legal_hold").order_by("sequence"))
    assert [e.data["legal_hold"]["event"] for e in events] == ["placed", "released"]
    assert [e.note for e in events] == ["Litigation", "Settled"]
    assert all(e.actor_user == officer for e in events)
    assert list(holds_for_request(request)) == []
