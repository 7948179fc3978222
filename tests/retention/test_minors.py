"""BESHQOZON's rule for minors: a child's data collected by mistake is deleted promptly (or a
parent consents). Loaded from the seed; applied when a request or the data shows a child."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from erasure.services import ErasureRefused, erasure_approve
from policies.models import MinorsAction, MinorsRule, Organization, Policy, RequestType
from policies.services import policy_version_draft
from pos.models import AccountUser
from requests_app.audit import Actor
from requests_app.intake import SubjectDetails, request_submit
from requests_app.models import SubjectRequest
from requests_app.representation import OnBehalf, relationship_decide
from requests_app.roles import OFFICERS, roles_sync
from requests_app.selectors import intake_offer
from requests_app.workflow import (
    CompletionBlocked,
    IllegalAction,
    request_complete,
    request_mark_verified,
    request_start,
)
from retention.minors import minor_blocker, minor_confirm, minors_found
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def beshqozon() -> Organization:
    call_command("load_seeds", stdout=io.StringIO())
    call_command(
        "generate_demo_data",
        "--organization",
        "beshqozon",
        "--accounts",
        "5",
        "--per-account-sales",
        "2",
        verbosity=0,
    )
    return Organization.objects.get(slug="beshqozon")


@pytest.fixture
def officer(db: None) -> User:
    roles_sync()
    user: User = StaffUserFactory.create(roles=[OFFICERS])
    return user


def _file(
    organization: Organization, request_type: str, email: str, **extra: object
) -> SubjectRequest:
    offer = intake_offer(organization=organization)
    assert offer is not None
    rule = offer.rule_for(request_type)
    assert rule is not None
    result = request_submit(
        organization=organization,
        version=offer.version,
        rule=rule,
        subject=SubjectDetails(email=email, name="Someone", **extra),  # type: ignore[arg-type]
        language="en",
    )
    return request_mark_verified(request=result.request)


def test_beshqozons_seed_carries_the_rule_for_children_under_13(beshqozon: Organization) -> None:
    rule = MinorsRule.objects.get(version__policy__organization=beshqozon)

    assert (rule.age_below, rule.action) == (13, MinorsAction.DELETE_UNLESS_PARENT_CONSENTS)
    assert rule.response_days == 3
    assert "child under 13" in rule.source_quote


def test_a_childs_request_gets_the_short_deadline_and_waits_for_an_officer(
    beshqozon: Organization, officer: User
) -> None:
    child = AccountUser.objects.get(account__organization=beshqozon, first_name="Otabek")

    request = _file(
        beshqozon, RequestType.DELETION, child.email, details={"deletion_confirmed": True}
    )

    request.refresh_from_db()
    assert request.verified_at is not None
    assert request.due_at is not None
    assert request.due_at == request.verified_at + timedelta(days=3)
    assert "appears to concern a child" in minor_blocker(request)
    with pytest.raises(ErasureRefused, match="child"):
        erasure_approve(request=request, actor=Actor.staff(officer))
    with pytest.raises(IllegalAction):
        minor_confirm(request=request, actor=Actor.staff(officer), note=" ")

    minor_confirm(request=request, actor=Actor.staff(officer), note="No parental consent.")

    assert minor_blocker(request) == ""
    erasure_approve(request=request, actor=Actor.staff(officer))


def test_a_parent_who_gives_the_childs_birth_date_triggers_the_rule(
    beshqozon: Organization, officer: User
) -> None:
    born = timezone.localdate() - timedelta(days=11 * 365)
    request = _file(
        beshqozon,
        RequestType.CORRECTION,
        "parent@example.com",
        on_behalf_relationship="parent",
        on_behalf_subject_name="Kamola",
        details={"corrections": [{"field": "name", "value": "Kamola"}]},
        on_behalf=OnBehalf(subject_email="kamola@example.com", subject_date_of_birth=born),
    )
    relationship_decide(request=request, actor=Actor.staff(officer), verified=True, reason="ok")
    request = request_start(request=request, actor=Actor.staff(officer))

    with pytest.raises(CompletionBlocked):
        request_complete(request=request, actor=Actor.staff(officer), outcome="done")

    assert request.events.filter(data__minor__event="found").exists()


def test_an_adults_request_is_not_touched_by_the_rule(beshqozon: Organization) -> None:
    owner = AccountUser.objects.filter(
        account__organization=beshqozon, role="owner", date_of_birth__isnull=False
    ).first()
    assert owner is not None

    request = _file(
        beshqozon, RequestType.DELETION, owner.email, details={"deletion_confirmed": True}
    )

    assert minor_blocker(request) == ""
    assert not request.events.filter(data__minor__event="found").exists()


def test_the_rule_finds_the_12_year_old_in_the_demo_data(beshqozon: Organization) -> None:
    found = {
        (registration.label, row.first_name)
        for registration, rows in minors_found(beshqozon, on=timezone.localdate())
        for row in rows
    }

    assert ("pos.accountuser", "Otabek") in found
    stdout = io.StringIO()
    call_command("minors", "--organization", "beshqozon", stdout=stdout, stderr=io.StringIO())
    assert "pos.accountuser" in stdout.getvalue()
    assert "12 years old" in stdout.getvalue()


def test_a_new_beshqozon_draft_keeps_the_rule_for_minors(beshqozon: Organization) -> None:
    draft = policy_version_draft(
        policy=Policy.objects.get(organization=beshqozon), version_label="2027-draft"
    )

    rule = MinorsRule.objects.get(version=draft)
    assert (rule.age_below, rule.response_days) == (13, 3)
