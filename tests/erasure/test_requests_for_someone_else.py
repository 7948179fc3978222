"""A request filed for someone else acts on that person's data, and only once an officer has
verified the relationship: BESHQOZON's demo child "Otabek" (12 years old), whose parent files a
deletion for him."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from erasure.services import ErasureRefused, erasure_approve, erasures_start_due
from policies.models import Organization, RequestType
from pos.models import Account, AccountUser, Invoice, Login, Sale, StaffActivity, SupportMessage
from requests_app.audit import Actor
from requests_app.intake import SubjectDetails, request_submit
from requests_app.models import RelationshipStatus, RequestStatus, SubjectRequest
from requests_app.representation import OnBehalf, relationship_decide
from requests_app.roles import OFFICERS, roles_sync
from requests_app.selectors import intake_offer
from requests_app.workflow import IllegalAction, request_mark_verified
from retention.minors import minor_confirm
from tests.factories import StaffUserFactory
from tests.pos_data import surviving

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
        "10",
        verbosity=0,
    )
    return Organization.objects.get(slug="beshqozon")


@pytest.fixture
def officer(db: None) -> User:
    roles_sync()
    user: User = StaffUserFactory.create(roles=[OFFICERS])
    return user


def _otabek(organization: Organization) -> AccountUser:
    return AccountUser.objects.get(
        account__organization=organization, first_name="Otabek", date_of_birth__year=2014
    )


def _parent_files_deletion(organization: Organization, child: AccountUser) -> SubjectRequest:
    """The account's owner files a deletion for the child and confirms their own address."""
    parent = AccountUser.objects.get(account=child.account, role="owner")
    offer = intake_offer(organization=organization)
    assert offer is not None
    rule = offer.rule_for(RequestType.DELETION)
    assert rule is not None
    result = request_submit(
        organization=organization,
        version=offer.version,
        rule=rule,
        subject=SubjectDetails(
            email=parent.email,
            name=f"{parent.first_name} {parent.last_name}",
            on_behalf_relationship="parent",
            on_behalf_subject_name=f"{child.first_name} {child.last_name}",
            details={"deletion_confirmed": True},
            on_behalf=OnBehalf(
                subject_email=child.email, subject_date_of_birth=child.date_of_birth
            ),
        ),
        language="en",
    )
    return request_mark_verified(request=result.request)


def test_a_parents_request_erases_the_childs_rows_only(
    beshqozon: Organization,
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    child = _otabek(beshqozon)
    parent = AccountUser.objects.get(account=child.account, role="owner")
    child_logins = set(Login.objects.filter(user=child).values_list("pk", flat=True))
    child_activity = set(StaffActivity.objects.filter(user=child).values_list("pk", flat=True))
    child_messages = set(SupportMessage.objects.filter(user=child).values_list("pk", flat=True))
    assert child_logins
    assert child_activity
    before = surviving()
    request = _parent_files_deletion(beshqozon, child)
    relationship_decide(
        request=request,
        actor=Actor.staff(officer),
        verified=True,
        reason="Birth certificate checked: the filer is Otabek's mother.",
    )
    minor_confirm(
        request=request, actor=Actor.staff(officer), note="Born 2014; no parental consent."
    )

    with django_capture_on_commit_callbacks(execute=True):
        schedule = erasure_approve(request=request, actor=Actor.staff(officer))
    with django_capture_on_commit_callbacks(execute=True):
        erasures_start_due(at=schedule.execute_after + timedelta(minutes=1))

    after = surviving()
    assert before["pos.accountuser"] - after["pos.accountuser"] == {child.pk}
    assert before["pos.login"] - after["pos.login"] == child_logins
    assert before["pos.staffactivity"] - after["pos.staffactivity"] == child_activity
    assert before["pos.supportmessage"] - after["pos.supportmessage"] == child_messages
    own = ("pos.accountuser", "pos.login", "pos.staffactivity", "pos.supportmessage")
    for label in before:
        if label not in own:
            assert after[label] == before[label], label
    assert AccountUser.objects.filter(pk=parent.pk).exists()
    # The account, its sales and invoices are the business's and stay with its other users.
    assert Sale.objects.filter(account=child.account).count() == 10
    assert not Sale.objects.filter(cashier_id=child.pk).exists()
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED


def test_nothing_is_erased_before_an_officer_verifies_the_relationship(
    beshqozon: Organization, officer: User
) -> None:
    request = _parent_files_deletion(beshqozon, _otabek(beshqozon))

    with pytest.raises(ErasureRefused, match="verify the relationship"):
        erasure_approve(request=request, actor=Actor.staff(officer))

    assert not request.events.filter(data__erasure__event="scheduled").exists()


def test_a_rejected_relationship_rejects_the_request_and_erases_nothing(
    beshqozon: Organization, officer: User
) -> None:
    before = surviving()
    request = _parent_files_deletion(beshqozon, _otabek(beshqozon))

    representation = relationship_decide(
        request=request,
        actor=Actor.staff(officer),
        verified=False,
        reason="The document names another child.",
    )

    request.refresh_from_db()
    assert representation.status == RelationshipStatus.REJECTED
    assert request.status == RequestStatus.REJECTED
    assert "another child" in request.outcome
    with pytest.raises(ErasureRefused):
        erasure_approve(request=request, actor=Actor.staff(officer))
    assert surviving() == before


def test_only_an_officer_with_the_permission_verifies_a_relationship_and_gives_a_reason(
    beshqozon: Organization, officer: User
) -> None:
    request = _parent_files_deletion(beshqozon, _otabek(beshqozon))
    agent: User = StaffUserFactory.create(roles=["Support agents"])

    with pytest.raises(IllegalAction, match="privacy officer"):
        relationship_decide(request=request, actor=Actor.staff(agent), verified=True, reason="ok")
    with pytest.raises(IllegalAction, match="reason"):
        relationship_decide(request=request, actor=Actor.staff(officer), verified=True, reason=" ")

    request.representation.refresh_from_db()
    assert request.representation.status == RelationshipStatus.PENDING
    event_kinds = list(request.events.values_list("data", flat=True))
    assert not any("relationship" in data for data in event_kinds)


def test_the_relationship_decision_is_recorded_in_the_audit_trail(
    beshqozon: Organization, officer: User
) -> None:
    request = _parent_files_deletion(beshqozon, _otabek(beshqozon))

    relationship_decide(
        request=request, actor=Actor.staff(officer), verified=True, reason="Checked in person."
    )

    event = request.events.get(data__relationship__decision="verified")
    assert event.actor_user == officer
    assert event.note == "Checked in person."
    assert event.data["relationship"]["subject_email"] == _otabek(beshqozon).email
    assert event.created_at <= timezone.now()


def test_the_account_stays_with_its_other_users(beshqozon: Organization) -> None:
    # The demo data the promise is tested on: the child works in an account three others use.
    child = _otabek(beshqozon)
    assert AccountUser.objects.filter(account=child.account).exclude(pk=child.pk).count() >= 1
    assert Account.objects.filter(pk=child.account_id, deleted_at__isnull=True).exists()
    assert Invoice.objects.filter(account=child.account).exists()
