"""Erasure requests: approval, the grace period, execution through the registry, the
certificate, and the end of the legal hold on what was kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core import mail

from erasure.holds import holds_release_start
from erasure.models import ErasureCertificate, ErasureSchedule, ErasureStatus
from erasure.services import (
    ErasureRefused,
    erasure_approve,
    erasure_cancel,
    erasures_start_due,
)
from policies.models import Organization
from pos.models import Account, AccountUser, Invoice, Login, Payment, Sale
from requests_app.audit import Actor, chain_breaks
from requests_app.evidence import evidence_record
from requests_app.models import RequestStatus, SubjectRequest
from requests_app.workflow import request_hold, request_reject
from retention.models import PurgeKind, PurgeRun, PurgeTarget
from retention.purge import run_execute
from tests.factories import (
    ConfirmedRequestFactory,
    StaffUserFactory,
    account_with_every_record,
    forwarded_by_controller,
)
from tests.pos_data import surviving

pytestmark = pytest.mark.django_db
OWNER = "owner@shop.example"
CASHIER = "cashier@shop.example"
APPROVED = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def officer(db: None) -> User:
    user: User = StaffUserFactory.create(is_superuser=True)
    return user


@pytest.fixture
def shop(zpos: Organization) -> dict[str, set[int]]:
    """A shop its owner has closed: no one else works in it any more, so erasing the owner
    erases the business's data too (an open shop's stays with its other users)."""
    found = account_with_every_record(organization=zpos, owner_email=OWNER, cashier_email=CASHIER)
    Account.objects.filter(pk__in=found["pos.account"]).update(
        deleted_at=APPROVED - timedelta(days=20)
    )
    return found


def _deletion(organization: Organization, email: str = OWNER) -> SubjectRequest:
    with time_machine.travel(APPROVED - timedelta(days=2), tick=False):
        request: SubjectRequest = ConfirmedRequestFactory.create(
            organization=organization, request_type="deletion", email=email
        )
    return request


def _approve(
    request: SubjectRequest, officer: User, capture: Callable[..., Any]
) -> ErasureSchedule:
    with time_machine.travel(APPROVED, tick=False), capture(execute=True):
        return erasure_approve(request=request, actor=Actor.staff(officer))


def _execute_due(at: datetime, capture: Callable[..., Any]) -> list[PurgeRun]:
    """Run the beat job at ``at``: the run's steps go through the (eager) Celery tasks."""
    with time_machine.travel(at, tick=False), capture(execute=True):
        return erasures_start_due()


# --- Approval and the grace period -------------------------------------------------------------


def test_approval_schedules_the_erasure_after_the_grace_period_and_tells_the_subject(
    zpos: Organization,
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    request = _deletion(zpos)

    schedule = _approve(request, officer, django_capture_on_commit_callbacks)

    request.refresh_from_db()
    assert request.status == RequestStatus.IN_PROGRESS
    assert schedule.execute_after == APPROVED + timedelta(days=7)
    assert schedule.approved_by == officer
    assert schedule.deadline == request.effective_due_at
    (message,) = [m for m in mail.outbox if "will be erased" in m.subject]
    assert message.to == [OWNER]
    assert "/privacy/requests/status/" in message.body
    event = request.events.filter(data__erasure__event="scheduled").get()
    assert event.subject_visible
    assert "cancel" in event.public_note


def test_the_grace_period_is_shortened_so_the_erasure_runs_before_the_deadline(
    zpos: Organization,
    officer: User,
    settings: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    settings.ERASURE_GRACE_DAYS = 60
    request = _deletion(zpos)

    schedule = _approve(request, officer, django_capture_on_commit_callbacks)

    request.refresh_from_db()
    assert request.effective_due_at is not None
    assert schedule.execute_after == request.effective_due_at - timedelta(hours=1)


def test_an_erasure_is_approved_only_for_a_verified_deletion_request_and_only_once(
    zpos: Organization,
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    access: SubjectRequest = ConfirmedRequestFactory.create(organization=zpos, email=OWNER)
    with pytest.raises(ErasureRefused, match="does not ask for deletion"):
        erasure_approve(request=access, actor=Actor.staff(officer))

    request = _deletion(zpos)
    _approve(request, officer, django_capture_on_commit_callbacks)
    with pytest.raises(ErasureRefused, match="was approved already"):
        erasure_approve(request=request, actor=Actor.staff(officer))

    rejected = _deletion(zpos, email="other@shop.example")
    request_reject(request=rejected, actor=Actor.staff(officer), reason_code="other", reason="No.")
    with pytest.raises(ErasureRefused, match="cannot be approved while"):
        erasure_approve(request=rejected, actor=Actor.staff(officer))
    assert ErasureSchedule.objects.count() == 1


def test_the_subject_cancels_during_the_grace_period_and_nothing_is_erased(
    zpos: Organization,
    shop: dict[str, set[int]],
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    request = _deletion(zpos)
    _approve(request, officer, django_capture_on_commit_callbacks)
    before = surviving()

    with time_machine.travel(APPROVED + timedelta(days=6), tick=False):
        schedule = erasure_cancel(request=request)
    runs = _execute_due(APPROVED + timedelta(days=8), django_capture_on_commit_callbacks)

    request.refresh_from_db()
    assert schedule.status == ErasureStatus.CANCELLED
    assert request.status == RequestStatus.WITHDRAWN
    assert runs == []
    assert surviving() == before


def test_cancelling_after_the_grace_period_is_refused(
    zpos: Organization,
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    request = _deletion(zpos)
    _approve(request, officer, django_capture_on_commit_callbacks)

    with (
        time_machine.travel(APPROVED + timedelta(days=7, seconds=1), tick=False),
        pytest.raises(ErasureRefused, match="can no longer be cancelled"),
    ):
        erasure_cancel(request=request)

    request.refresh_from_db()
    assert request.status == RequestStatus.IN_PROGRESS
    assert ErasureSchedule.objects.get().status == ErasureStatus.SCHEDULED


# --- Execution and the certificate --------------------------------------------------------------


def test_a_due_erasure_runs_through_the_registry_and_issues_its_certificate(
    zpos: Organization,
    shop: dict[str, set[int]],
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    request = _deletion(zpos)
    _approve(request, officer, django_capture_on_commit_callbacks)
    cashier = AccountUser.objects.get(email=CASHIER)
    mail.outbox.clear()

    assert _execute_due(APPROVED + timedelta(days=6), django_capture_on_commit_callbacks) == []
    (run,) = _execute_due(APPROVED + timedelta(days=8), django_capture_on_commit_callbacks)

    after = surviving()
    for label in (
        "pos.accountuser",
        "pos.device",
        "pos.product",
        "pos.sale",
        "pos.saleline",
        "pos.staffactivity",
        "pos.login",
        "pos.supportmessage",
    ):
        assert not shop[label] & after[label], label
    (account_id,) = shop["pos.account"]
    # The invoices kept for tax law keep the buyer's name and tax number; the address goes.
    account = Account.objects.get(pk=account_id)
    assert not account.company_name.startswith("erased-")
    assert not account.tax_id.startswith("erased-")
    assert account.registered_address == ""
    assert shop["pos.invoice"] <= after["pos.invoice"]
    assert shop["pos.payment"] <= after["pos.payment"]
    # The cashier is not the subject: their own row and login stay, without the deleted device.
    assert AccountUser.objects.filter(pk=cashier.pk).exists()
    assert Login.objects.get(user=cashier).device is None

    request.refresh_from_db()
    schedule = ErasureSchedule.objects.get(request=request)
    certificate = ErasureCertificate.objects.get(request=request)
    assert request.status == RequestStatus.COMPLETED
    assert schedule.status == ErasureStatus.DONE
    assert schedule.run_id == run.pk
    assert certificate.is_intact()
    content = certificate.content
    models = {m["model"]: m for m in content["models"]}
    assert models["pos.sale"]["deleted"] == 1
    assert models["pos.account"]["anonymised"] == 1
    assert models["pos.invoice"]["retained"] == 1
    (retained,) = content["retained"]
    assert retained["category"] == "payment"
    assert set(retained["models"]) == {"pos.invoice", "pos.payment"}
    assert retained["rows"] == 2
    assert retained["until"] == "2032-03-09"  # 60 months after the erasure ran
    # The policy version's exemption names the basis, not the registry's default.
    assert retained["legal_basis"] == "Tax Code, art. 90"
    assert content["on_time"] is True
    assert content["request"] == request.reference
    assert (
        "2 records of payments and invoices are kept under Tax Code, art. 90 until 2032-03-09"
        in (request.outcome)
    )

    (message,) = [m for m in mail.outbox if "erasure certificate" in m.subject]
    assert message.to == [OWNER]
    (name, attached, kind) = message.attachments[0]
    assert kind == "application/json"
    assert request.reference in name
    assert json.loads(attached) == content
    assert ErasureCertificate.objects.get(pk=certificate.pk).sent_at is not None

    record = evidence_record(request=request)
    assert record["erasure"]["certificate"]["sha256"] == certificate.sha256
    assert record["erasure"]["certificate"]["sha256_matches_content"] is True
    assert next(chain_breaks(SubjectRequest.objects.filter(pk=request.pk)), None) is None


def test_erasing_a_cashier_leaves_the_shops_sales_without_their_name(
    zpos: Organization,
    shop: dict[str, set[int]],
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    request = _deletion(zpos, email=CASHIER)
    cashier = AccountUser.objects.get(email=CASHIER)
    _approve(request, officer, django_capture_on_commit_callbacks)

    _execute_due(APPROVED + timedelta(days=8), django_capture_on_commit_callbacks)

    after = surviving()
    assert not AccountUser.objects.filter(pk=cashier.pk).exists()
    assert shop["pos.sale"] <= after["pos.sale"]
    assert Sale.objects.filter(pk__in=shop["pos.sale"], cashier__isnull=True).count() == 1
    assert AccountUser.objects.filter(email=OWNER).exists()
    assert shop["pos.account"] <= after["pos.account"]
    assert Account.objects.get(pk=next(iter(shop["pos.account"]))).company_name.startswith(
        "Merchant"
    )


def test_an_erasure_waits_while_its_request_is_on_hold_and_is_dropped_once_it_is_closed(
    zpos: Organization,
    shop: dict[str, set[int]],
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    request = _deletion(zpos)
    _approve(request, officer, django_capture_on_commit_callbacks)
    request.refresh_from_db()
    request_hold(request=request, actor=Actor.staff(officer), question="Which account?")
    before = surviving()

    assert _execute_due(APPROVED + timedelta(days=8), django_capture_on_commit_callbacks) == []
    assert ErasureSchedule.objects.get().status == ErasureStatus.SCHEDULED

    request.refresh_from_db()
    request_reject(request=request, actor=Actor.staff(officer), reason_code="other", reason="No")
    assert _execute_due(APPROVED + timedelta(days=9), django_capture_on_commit_callbacks) == []
    assert ErasureSchedule.objects.get().status == ErasureStatus.CANCELLED
    assert surviving() == before


def test_records_kept_under_a_legal_hold_are_deleted_when_it_ends(
    zpos: Organization,
    shop: dict[str, set[int]],
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    request = _deletion(zpos)
    _approve(request, officer, django_capture_on_commit_callbacks)
    (erasure_run,) = _execute_due(APPROVED + timedelta(days=8), django_capture_on_commit_callbacks)

    assert holds_release_start(as_of=date(2032, 3, 8)) == []
    (release,) = holds_release_start(as_of=date(2032, 3, 9))
    run_execute(release)

    assert not Invoice.objects.filter(pk__in=shop["pos.invoice"]).exists()
    assert not Payment.objects.filter(pk__in=shop["pos.payment"]).exists()
    release.refresh_from_db()
    assert release.kind == PurgeKind.HOLD_RELEASE
    assert release.parent_id == erasure_run.pk
    assert release.totals["pos.invoice"]["deleted"] == 1
    assert not PurgeTarget.objects.filter(
        run=erasure_run, released_at__isnull=True, action="retain"
    )
    assert holds_release_start(as_of=date(2032, 12, 31)) == []
    assert request.events.filter(data__erasure__event="hold_ended").exists()


def test_a_subject_with_no_data_gets_a_certificate_saying_so(
    zpos: Organization, officer: User, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    request = _deletion(zpos, email="nobody@example.com")
    _approve(request, officer, django_capture_on_commit_callbacks)

    (run,) = _execute_due(APPROVED + timedelta(days=8), django_capture_on_commit_callbacks)

    request.refresh_from_db()
    certificate = ErasureCertificate.objects.get(request=request)
    assert run.steps.count() == 0
    assert request.status == RequestStatus.COMPLETED
    assert all(m["deleted"] == m["anonymised"] == 0 for m in certificate.content["models"])
    assert certificate.content["retained"] == []


def test_a_request_a_controller_forwarded_is_erased_without_emailing_the_subject(
    zpos: Organization,
    shop: dict[str, set[int]],
    officer: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    request = _deletion(zpos)
    forwarded_by_controller(request)

    _approve(request, officer, django_capture_on_commit_callbacks)
    _execute_due(APPROVED + timedelta(days=8), django_capture_on_commit_callbacks)

    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    assert ErasureCertificate.objects.get(request=request).sent_at is None
    assert [m for m in mail.outbox if OWNER in m.to] == []
