"""Admin pages: read-only evidence of purges and erasures, correction review, erasure approval,
and who may see and do what."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from erasure.models import ErasureCertificate, ErasureSchedule
from erasure.services import erasure_approve, erasures_start_due
from policies.models import Organization
from pos.models import AccountUser
from requests_app.admin_extensions import staff_links
from requests_app.audit import Actor
from requests_app.intake import SubjectDetails, request_submit
from requests_app.models import RequestStatus, SubjectRequest
from requests_app.roles import AGENTS, AUDITORS, OFFICERS
from requests_app.workflow import request_mark_verified
from retention.models import PurgeRun, RetentionNotice
from retention.purge import run_execute
from retention.rules import retention_run_start
from tests.factories import (
    AccountUserFactory,
    ConfirmedRequestFactory,
    StaffUserFactory,
    account_with_every_record,
)
from tests.pos_data import ZPOS_RULE, merchant, retention_version, rule_of

pytestmark = pytest.mark.django_db
OWNER = "owner@shop.example"


@pytest.fixture
def evidence(
    zpos: Organization, django_capture_on_commit_callbacks: Callable[..., Any]
) -> dict[str, Any]:
    """A finished retention run, an erasure with its certificate, and a retention notice."""
    rule = rule_of(retention_version(zpos, rules=[ZPOS_RULE], label="rules"), "account-deleted")
    merchant(zpos, deleted_at=datetime(2020, 1, 1, tzinfo=UTC))
    run = run_execute(retention_run_start(rule=rule, as_of=timezone.localdate()))
    account_with_every_record(organization=zpos, owner_email=OWNER)
    request: SubjectRequest = ConfirmedRequestFactory.create(
        organization=zpos, request_type="deletion", email=OWNER
    )
    officer: User = StaffUserFactory.create(is_superuser=True)
    with django_capture_on_commit_callbacks(execute=True):
        erasure_approve(request=request, actor=Actor.staff(officer))
    with (
        time_machine.travel(timezone.now() + timedelta(days=8), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        erasures_start_due()
    notice = RetentionNotice.objects.create(
        rule=rule,
        anchor_label="pos.account",
        anchor_pk=1,
        purge_on=date(2027, 3, 1),
        days_before=7,
        created_at=timezone.now(),
    )
    return {
        "run": run,
        "certificate": ErasureCertificate.objects.get(),
        "schedule": ErasureSchedule.objects.get(),
        "notice": notice,
    }


PAGES = [
    ("retention_purgerun", "run"),
    ("erasure_erasurecertificate", "certificate"),
    ("erasure_erasureschedule", "schedule"),
    ("retention_retentionnotice", "notice"),
]


@pytest.mark.parametrize(("model", "key"), PAGES)
def test_every_evidence_page_shows_read_only(
    admin_client: Client, evidence: dict[str, Any], model: str, key: str
) -> None:
    listing = admin_client.get(reverse(f"admin:{model}_changelist"))
    detail = admin_client.get(reverse(f"admin:{model}_change", args=[evidence[key].pk]))

    assert listing.status_code == 200
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert admin_client.get(reverse(f"admin:{model}_add")).status_code == 403


def test_the_purge_run_page_shows_rows_per_model_and_what_was_retained(
    admin_client: Client, evidence: dict[str, Any]
) -> None:
    page = admin_client.get(
        reverse("admin:retention_purgerun_change", args=[evidence["run"].pk])
    ).content.decode()

    assert "pos.sale" in page
    assert "Tax Code of the Republic of Uzbekistan" in page


@pytest.mark.parametrize(("role", "status"), [(AUDITORS, 200), (OFFICERS, 200), (AGENTS, 403)])
def test_auditors_and_officers_see_the_evidence_and_agents_do_not(
    client: Client, evidence: dict[str, Any], role: str, status: int
) -> None:
    client.force_login(StaffUserFactory.create(roles=[role]))

    response = client.get(reverse("admin:retention_purgerun_changelist"))

    assert response.status_code == status


# --- Correction review ---------------------------------------------------------------------------


@pytest.fixture
def correction(zpos: Organization) -> tuple[SubjectRequest, AccountUser]:
    owner = AccountUserFactory.create(
        account__organization=zpos, email=OWNER, role="owner", phone="+998 90 111 11 11"
    )
    version = retention_version(zpos)
    result = request_submit(
        organization=zpos,
        version=version,
        rule=version.request_type_rules.get(request_type="correction"),
        subject=SubjectDetails(
            email=OWNER,
            name="Dilnoza",
            details={"corrections": [{"field": "phone", "value": "+998 90 222 22 22"}]},
        ),
        language="en",
    )
    return request_mark_verified(request=result.request), owner


def test_the_correction_review_shows_the_current_value_beside_the_requested_one(
    admin_client: Client, correction: tuple[SubjectRequest, AccountUser]
) -> None:
    request, owner = correction

    page = admin_client.get(
        reverse("admin:requests_app_correction_review", args=[request.pk])
    ).content.decode()

    assert "+998 90 111 11 11" in page
    assert "+998 90 222 22 22" in page
    assert f"pos.accountuser:{owner.pk}:phone" in page


def test_applying_the_review_corrects_and_completes_the_request(
    admin_client: Client, correction: tuple[SubjectRequest, AccountUser]
) -> None:
    request, owner = correction

    response = admin_client.post(
        reverse("admin:requests_app_correction_review", args=[request.pk]),
        {
            "item-0-targets": [f"pos.accountuser:{owner.pk}:phone"],
            "item-0-value": "+998 90 222 22 22",
            "item-0-reason": "",
            "message": "",
        },
    )

    assert response.status_code == 302
    owner.refresh_from_db()
    request.refresh_from_db()
    assert owner.phone == "+998 90 222 22 22"
    assert request.status == RequestStatus.COMPLETED


def test_a_review_without_a_target_or_a_reason_is_sent_back_with_the_error(
    admin_client: Client, correction: tuple[SubjectRequest, AccountUser]
) -> None:
    request, owner = correction

    response = admin_client.post(
        reverse("admin:requests_app_correction_review", args=[request.pk]),
        {"item-0-value": "+998 90 222 22 22", "item-0-reason": "", "message": ""},
    )

    assert response.status_code == 200
    assert "or say why it is not made" in response.content.decode()
    owner.refresh_from_db()
    assert owner.phone == "+998 90 111 11 11"


def test_a_corrected_value_follows_the_forms_text_rules(
    admin_client: Client, correction: tuple[SubjectRequest, AccountUser]
) -> None:
    request, owner = correction

    response = admin_client.post(
        reverse("admin:requests_app_correction_review", args=[request.pk]),
        {
            "item-0-targets": [f"pos.accountuser:{owner.pk}:phone"],
            "item-0-value": "+998\u200b90 222 22 22",
            "item-0-reason": "",
            "message": "",
        },
    )

    assert response.status_code == 200
    assert "invisible or direction-changing" in response.content.decode()
    owner.refresh_from_db()
    assert owner.phone == "+998 90 111 11 11"


# --- Erasure approval ---------------------------------------------------------------------------


@pytest.fixture
def deletion(zpos: Organization) -> SubjectRequest:
    account_with_every_record(organization=zpos, owner_email=OWNER)
    request: SubjectRequest = ConfirmedRequestFactory.create(
        organization=zpos, request_type="deletion", email=OWNER
    )
    return request


def test_the_approval_page_shows_what_erasure_does_per_model(
    admin_client: Client, deletion: SubjectRequest
) -> None:
    page = admin_client.get(
        reverse("admin:requests_app_erasure_approve", args=[deletion.pk])
    ).content.decode()

    assert "retain under a legal basis" in page
    assert "Tax Code, art. 90" in page
    assert "anonymise" in page
    assert "delete" in page


def test_an_officer_approves_and_an_agent_is_refused(
    client: Client, deletion: SubjectRequest
) -> None:
    url = reverse("admin:requests_app_erasure_approve", args=[deletion.pk])
    agent = StaffUserFactory.create(roles=[AGENTS])
    SubjectRequest.objects.filter(pk=deletion.pk).update(assignee=agent)
    client.force_login(agent)
    assert client.post(url).status_code == 403
    assert not ErasureSchedule.objects.exists()

    client.force_login(StaffUserFactory.create(roles=[OFFICERS]))
    response = client.post(url)

    assert response.status_code == 302
    assert ErasureSchedule.objects.get().request_id == deletion.pk
    assert client.post(url).status_code == 302  # once: a second approval is only a message
    assert ErasureSchedule.objects.count() == 1


def test_the_request_page_links_are_offered_by_role_and_status(
    deletion: SubjectRequest, correction: tuple[SubjectRequest, AccountUser]
) -> None:
    officer = StaffUserFactory.create(roles=[OFFICERS])
    auditor = StaffUserFactory.create(roles=[AUDITORS])
    correction_request, _owner = correction

    # Besides the legal hold an officer may place on any request's subject.
    offered = [link["name"] for link in staff_links(officer, deletion)]
    assert [name for name in offered if name != "hold_place"] == ["erasure"]
    offered = [link["name"] for link in staff_links(officer, correction_request)]
    assert [name for name in offered if name != "hold_place"] == ["correction"]
    assert staff_links(auditor, deletion) == []
    assert PurgeRun.objects.count() == 0
