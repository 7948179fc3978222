"""The tracker's own closed requests: anonymised after the evidence period, chain intact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from policies.models import Organization
from requests_app.audit import Actor, chain_breaks
from requests_app.intake import SubjectDetails, request_submit
from requests_app.models import Representation, RequestToken, SubjectRequest, TokenPurpose
from requests_app.representation import OnBehalf
from requests_app.verification import InvalidLink, status_request, token_issue
from requests_app.workflow import (
    request_complete,
    request_mark_verified,
    request_reject,
    request_start,
)
from retention.closed_requests import closed_requests_anonymise
from tests.factories import ConfirmedRequestFactory, StaffUserFactory, export_policy_version

pytestmark = pytest.mark.django_db
CLOSED = datetime(2027, 3, 1, 12, tzinfo=UTC)


def _closed(organization: Organization, **kwargs: Any) -> tuple[SubjectRequest, str]:
    officer: User = StaffUserFactory.create(is_superuser=True)
    with time_machine.travel(CLOSED - timedelta(days=5), tick=False):
        request: SubjectRequest = ConfirmedRequestFactory.create(
            organization=organization, phone="+998901112233", **kwargs
        )
    with time_machine.travel(CLOSED, tick=False):
        request_start(request=request, actor=Actor.staff(officer))
        request_complete(request=request, actor=Actor.staff(officer), outcome="Sent.")
        token = token_issue(request=request, purpose=TokenPurpose.STATUS)
    return request, token


def test_a_request_closed_over_three_years_ago_is_anonymised_and_its_chain_still_verifies(
    zpos: Organization,
) -> None:
    request, token = _closed(zpos, email="dilnoza@example.com", name="Dilnoza Karimova")
    length = SubjectRequest.objects.get(pk=request.pk).audit_length

    with time_machine.travel(CLOSED + timedelta(days=3 * 365 + 2), tick=False):
        assert closed_requests_anonymise() == 1

    request.refresh_from_db()
    assert request.email == f"anonymised-{request.pk}@invalid"
    assert (request.name, request.phone, request.details) == ("", "", {})
    assert request.outcome == "Sent."
    assert not RequestToken.objects.filter(request=request).exists()
    with pytest.raises(InvalidLink):
        status_request(token=token)
    assert request.audit_length > length
    assert next(chain_breaks(SubjectRequest.objects.filter(pk=request.pk)), None) is None
    call_command("verify_audit_chain", request.reference)


def test_nothing_is_anonymised_within_the_evidence_period_or_twice(zpos: Organization) -> None:
    request, _token = _closed(zpos, email="dilnoza@example.com")

    with time_machine.travel(CLOSED + timedelta(days=3 * 365 - 2), tick=False):
        assert closed_requests_anonymise() == 0
    request.refresh_from_db()
    assert request.email == "dilnoza@example.com"

    with time_machine.travel(CLOSED + timedelta(days=3 * 365 + 2), tick=False):
        assert closed_requests_anonymise() == 1
        events = SubjectRequest.objects.get(pk=request.pk).audit_length
        assert closed_requests_anonymise() == 0
    assert SubjectRequest.objects.get(pk=request.pk).audit_length == events


def test_open_requests_are_never_anonymised(zpos: Organization, settings: Any) -> None:
    settings.CLOSED_REQUEST_EVIDENCE_YEARS = 1
    with time_machine.travel(CLOSED - timedelta(days=5 * 365), tick=False):
        open_request: SubjectRequest = ConfirmedRequestFactory.create(organization=zpos)

    with time_machine.travel(CLOSED, tick=False):
        assert closed_requests_anonymise() == 0
    open_request.refresh_from_db()
    assert "@example.com" in open_request.email


def test_a_closed_request_for_someone_else_loses_whom_it_was_about_and_the_authorisation(
    zpos: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    version = export_policy_version(zpos)
    officer: User = StaffUserFactory.create(is_superuser=True)
    with time_machine.travel(CLOSED, tick=False):
        request = request_submit(
            organization=zpos,
            version=version,
            rule=version.request_type_rules.get(request_type="access"),
            subject=SubjectDetails(
                email="agent@law.example",
                name="Agent",
                on_behalf_relationship="agent",
                on_behalf_subject_name="Aziz Karimov",
                on_behalf=OnBehalf(
                    subject_email="aziz@example.com",
                    subject_date_of_birth=date(1990, 1, 1),
                    authorisation=SimpleUploadedFile("poa.pdf", b"%PDF-1.4 signed"),
                ),
            ),
            language="en",
        ).request
        request = request_mark_verified(request=request)
        request_reject(
            request=request, actor=Actor.staff(officer), reason_code="other", reason="No."
        )
    stored = Representation.objects.get(request=request).authorisation
    storage, name = stored.storage, stored.name or ""
    assert storage.exists(name)

    with (
        time_machine.travel(CLOSED + timedelta(days=3 * 365 + 2), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert closed_requests_anonymise() == 1

    representation = Representation.objects.get(request=request)
    assert (representation.subject_email, representation.subject_date_of_birth) == ("", None)
    assert not representation.authorisation
    assert not storage.exists(name)
