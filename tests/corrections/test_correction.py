"""Correction requests: current beside requested values, per-field approval, one transaction,
the before/after diff in the audit trail, and what the subject is told."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail

from corrections.services import (
    CorrectionDecision,
    CorrectionRefused,
    correctable_values,
    correction_apply,
    requested_corrections,
    suggested_keys,
)
from policies.models import Organization
from pos.models import Account, AccountUser
from requests_app.audit import Actor
from requests_app.evidence import evidence_record
from requests_app.intake import SubjectDetails, request_submit
from requests_app.models import RequestEvent, RequestStatus, SubjectRequest
from requests_app.workflow import request_mark_verified
from tests.factories import AccountFactory, AccountUserFactory, StaffUserFactory
from tests.pos_data import retention_version

pytestmark = pytest.mark.django_db
OWNER = "owner@shop.example"


@pytest.fixture
def officer(db: None) -> User:
    user: User = StaffUserFactory.create(is_superuser=True)
    return user


@pytest.fixture
def owner(zpos: Organization) -> AccountUser:
    account = AccountFactory.create(organization=zpos, company_name="Chorsu Market LLC")
    user: AccountUser = AccountUserFactory.create(
        account=account,
        email=OWNER,
        role="owner",
        is_primary_contact=True,
        phone="+998 90 111 11 11",
        first_name="Dilnoza",
    )
    return user


def _correction(organization: Organization, corrections: list[dict[str, str]]) -> SubjectRequest:
    version = retention_version(organization)
    result = request_submit(
        organization=organization,
        version=version,
        rule=version.request_type_rules.get(request_type="correction"),
        subject=SubjectDetails(
            email=OWNER, name="Dilnoza Karimova", details={"corrections": corrections}
        ),
        language="en",
    )
    return request_mark_verified(request=result.request)


def _key(row: Any, field: str) -> str:
    return f"{row._meta.label_lower}:{row.pk}:{field}"


def test_the_review_lists_the_current_values_and_suggests_the_one_the_subject_means(
    zpos: Organization, owner: AccountUser
) -> None:
    request = _correction(zpos, [{"field": "My phone number", "value": "+998 90 222 22 22"}])
    (item,) = requested_corrections(request)

    values = correctable_values(request)

    by_key = {value.key: value for value in values}
    assert by_key[_key(owner, "phone")].current == "+998 90 111 11 11"
    assert by_key[_key(owner.account, "company_name")].current == "Chorsu Market LLC"
    assert _key(owner, "role") not in by_key
    assert suggested_keys(item, values)[0] == _key(owner, "phone")


def test_approved_values_are_written_with_the_diff_in_the_audit_trail_and_the_subject_told(
    zpos: Organization,
    owner: AccountUser,
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    request = _correction(
        zpos,
        [
            {"field": "phone", "value": "+998 90 222 22 22"},
            {"field": "shop name", "value": "Chorsu Bazaar"},
        ],
    )
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        outcome = correction_apply(
            request=request,
            actor=Actor.staff(officer),
            decisions=[
                CorrectionDecision(0, (_key(owner, "phone"),), "+998 90 222 22 22"),
                CorrectionDecision(1, reason="The registered name matches the tax certificate."),
            ],
        )

    owner.refresh_from_db()
    assert owner.phone == "+998 90 222 22 22"
    assert Account.objects.get().company_name == "Chorsu Market LLC"
    assert len(outcome.changed) == 1
    assert len(outcome.declined) == 1
    event = RequestEvent.objects.get(request=request, data__has_key="correction")
    assert event.actor_user == officer
    assert event.data["correction"]["changed"] == [
        {
            "item": 0,
            "model": "pos.accountuser",
            "pk": owner.pk,
            "field": "phone",
            "before": "+998 90 111 11 11",
            "after": "+998 90 222 22 22",
        }
    ]
    assert event.data["correction"]["declined"][0]["reason"].startswith("The registered name")
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    assert "“+998 90 111 11 11” is now “+998 90 222 22 22”" in request.outcome
    assert "Not changed:" in request.outcome
    assert "tax certificate" in request.outcome
    (message,) = [m for m in mail.outbox if request.reference in m.subject]
    assert "is now “+998 90 222 22 22”" in message.body
    assert evidence_record(request=request)["correction"][0]["changed"][0]["after"] == (
        "+998 90 222 22 22"
    )


def test_one_value_applied_to_several_rows_and_one_already_right(
    zpos: Organization, owner: AccountUser, officer: User
) -> None:
    second = AccountUserFactory.create(
        account=AccountFactory.create(organization=zpos), email=OWNER, first_name="Dilnoza"
    )
    request = _correction(zpos, [{"field": "first name", "value": "Dilnoza"}])
    AccountUser.objects.filter(pk=second.pk).update(first_name="Dilnosa")

    outcome = correction_apply(
        request=request,
        actor=Actor.staff(officer),
        decisions=[
            CorrectionDecision(
                0, (_key(owner, "first_name"), _key(second, "first_name")), "Dilnoza"
            )
        ],
    )

    assert [c.pk for c in outcome.changed] == [second.pk]
    assert [c.pk for c in outcome.unchanged] == [owner.pk]
    assert set(AccountUser.objects.values_list("first_name", flat=True)) == {"Dilnoza"}


def test_a_value_the_field_refuses_stops_the_whole_correction_and_writes_nothing(
    zpos: Organization, owner: AccountUser, officer: User
) -> None:
    request = _correction(
        zpos,
        [
            {"field": "phone", "value": "+998 90 222 22 22"},
            {"field": "birthday", "value": "the thirtieth of Febtember"},
        ],
    )
    events = request.audit_length

    with pytest.raises(CorrectionRefused, match="date of birth"):
        correction_apply(
            request=request,
            actor=Actor.staff(officer),
            decisions=[
                CorrectionDecision(0, (_key(owner, "phone"),), "+998 90 222 22 22"),
                CorrectionDecision(
                    1, (_key(owner, "date_of_birth"),), "the thirtieth of Febtember"
                ),
            ],
        )

    owner.refresh_from_db()
    request.refresh_from_db()
    assert owner.phone == "+998 90 111 11 11"
    assert (request.status, request.audit_length) == (RequestStatus.VERIFIED, events)


@pytest.mark.parametrize(
    "target",
    ["someone else's row", "a field the registry does not let subjects correct", "nonsense"],
)
def test_a_target_outside_the_subjects_correctable_data_is_refused(
    zpos: Organization, owner: AccountUser, officer: User, target: str
) -> None:
    stranger = AccountUserFactory.create(account__organization=zpos, email="other@shop.example")
    key = {
        "someone else's row": _key(stranger, "phone"),
        "a field the registry does not let subjects correct": _key(owner, "role"),
        "nonsense": "pos.accountuser:phone",
    }[target]
    request = _correction(zpos, [{"field": "phone", "value": "+998 90 222 22 22"}])

    with pytest.raises(CorrectionRefused):
        correction_apply(
            request=request,
            actor=Actor.staff(officer),
            decisions=[CorrectionDecision(0, (key,), "+998 90 222 22 22")],
        )

    stranger.refresh_from_db()
    assert stranger.phone != "+998 90 222 22 22"
    assert AccountUser.objects.get(pk=owner.pk).role == "owner"


def test_every_correction_needs_one_decision_and_a_declined_one_a_reason(
    zpos: Organization, owner: AccountUser, officer: User
) -> None:
    request = _correction(
        zpos,
        [
            {"field": "phone", "value": "1"},
            {"field": "birthday", "value": date(1990, 1, 1).isoformat()},
        ],
    )
    actor = Actor.staff(officer)

    with pytest.raises(CorrectionRefused, match="once each"):
        correction_apply(
            request=request, actor=actor, decisions=[CorrectionDecision(0, reason="x")]
        )
    with pytest.raises(CorrectionRefused, match="once each"):
        correction_apply(
            request=request,
            actor=actor,
            decisions=[CorrectionDecision(0, reason="x"), CorrectionDecision(0, reason="y")],
        )
    with pytest.raises(CorrectionRefused, match="Say why"):
        correction_apply(
            request=request,
            actor=actor,
            decisions=[CorrectionDecision(0, reason="x"), CorrectionDecision(1, reason=" ")],
        )
    request.refresh_from_db()
    assert request.status == RequestStatus.VERIFIED


def test_corrections_apply_only_to_an_open_correction_request(
    zpos: Organization, owner: AccountUser, officer: User
) -> None:
    request = _correction(zpos, [{"field": "phone", "value": "+998 90 222 22 22"}])
    decision = [CorrectionDecision(0, (_key(owner, "phone"),), "+998 90 222 22 22")]
    correction_apply(request=request, actor=Actor.staff(officer), decisions=decision)

    with pytest.raises(CorrectionRefused, match=r"while request .* is “Completed”"):
        correction_apply(request=request, actor=Actor.staff(officer), decisions=decision)
