"""The staff side of requests filed for someone else and of legal holds: the warning, the
officer's verification page, the authorisation as a download only, and holds in the queue."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from policies.models import PolicyVersion, RequestType
from requests_app.audit import Actor
from requests_app.holds import legal_hold_place
from requests_app.intake import SubjectDetails, request_submit
from requests_app.models import RelationshipStatus, SubjectRequest
from requests_app.representation import OnBehalf
from requests_app.roles import AGENTS, OFFICERS
from requests_app.workflow import request_mark_verified
from tests.factories import StaffUserFactory
from tests.tracker import file_request

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:requests_app_subjectrequest_changelist")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def login(client: Client, role: str) -> User:
    user: User = StaffUserFactory.create(username=role.split()[-1].lower(), roles=[role])
    client.force_login(user)
    return user


@pytest.fixture
def filed_by_agent(version: PolicyVersion) -> SubjectRequest:
    rule = version.request_type_rules.get(request_type=RequestType.ACCESS)
    result = request_submit(
        organization=version.policy.organization,
        version=version,
        rule=rule,
        subject=SubjectDetails(
            email="agent@law.example",
            name="Nodira Agentova",
            on_behalf_relationship="agent",
            on_behalf_subject_name="Aziz Karimov",
            on_behalf=OnBehalf(
                subject_email="aziz@example.com",
                authorisation=SimpleUploadedFile("<b>poa</b>.pdf", PDF),
            ),
        ),
        language="en",
    )
    return request_mark_verified(request=result.request)


def _change(request: SubjectRequest) -> str:
    return reverse("admin:requests_app_subjectrequest_change", args=[request.pk])


def test_the_request_page_warns_that_someone_else_filed_it_until_verified(
    client: Client, filed_by_agent: SubjectRequest
) -> None:
    login(client, OFFICERS)

    page = client.get(_change(filed_by_agent)).content.decode()

    assert "Filed by someone else" in page
    assert "aziz@example.com" in page
    assert "Verify the relationship" in page
    assert reverse("admin:requests_app_relationship", args=[filed_by_agent.pk]) in page


def test_an_officer_verifies_the_relationship_on_its_page_with_a_reason(
    client: Client, filed_by_agent: SubjectRequest
) -> None:
    officer = login(client, OFFICERS)
    url = reverse("admin:requests_app_relationship", args=[filed_by_agent.pk])

    empty = client.post(url, {"decision": "verify", "reason": ""})
    assert empty.status_code == 200
    assert "required" in empty.content.decode()
    response = client.post(url, {"decision": "verify", "reason": "Signed power of attorney."})

    assert response.status_code == 302
    filed_by_agent.representation.refresh_from_db()
    assert filed_by_agent.representation.status == RelationshipStatus.VERIFIED
    assert filed_by_agent.representation.decided_by == officer
    assert "relationship was verified" in client.get(_change(filed_by_agent)).content.decode()


def test_the_authorisation_is_a_download_for_officers_only(
    client: Client, filed_by_agent: SubjectRequest
) -> None:
    url = reverse("admin:requests_app_authorisation", args=[filed_by_agent.pk])
    login(client, AGENTS)
    assert client.get(url).status_code in (403, 404)

    login(client, OFFICERS)
    response = client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "<b>" not in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PDF  # type: ignore[attr-defined]


def test_a_hold_shows_in_the_queue_column_and_filter_and_on_the_request(
    client: Client, version: PolicyVersion
) -> None:
    held = request_mark_verified(request=file_request(version, email="held@example.com"))
    free = request_mark_verified(request=file_request(version, email="free@example.com"))
    officer = login(client, OFFICERS)
    legal_hold_place(
        organization=version.policy.organization,
        actor=Actor.staff(officer),
        reason="Regulator's inquiry",
        subject_email="held@example.com",
    )

    only_held = client.get(CHANGELIST, {"legal_hold": "yes"})
    without = client.get(CHANGELIST, {"legal_hold": "no"})

    assert [r.pk for r in only_held.context["cl"].result_list] == [held.pk]
    assert [r.pk for r in without.context["cl"].result_list] == [free.pk]
    assert "legal hold" in only_held.content.decode().lower()
    page = client.get(_change(held)).content.decode()
    assert "Under legal hold" in page
    assert "Regulator&#x27;s inquiry" in page


def test_an_officer_places_and_releases_a_hold_from_the_request(
    client: Client, version: PolicyVersion
) -> None:
    request = request_mark_verified(request=file_request(version, email="held@example.com"))
    login(client, OFFICERS)
    place = reverse("admin:requests_app_hold_place", args=[request.pk])

    refused = client.post(place, {"what": "account", "account_identifier": "", "reason": "x"})
    assert refused.status_code == 200
    assert not request.legal_holds.exists()
    client.post(place, {"what": "subject", "reason": "Litigation"})
    hold = request.legal_holds.get()
    assert hold.subject_email == "held@example.com"

    client.post(reverse("admin:requests_app_hold_release", args=[hold.pk]), {"reason": "Settled"})

    hold.refresh_from_db()
    assert hold.release_reason == "Settled"
    assert not hold.is_active


def test_agents_cannot_place_a_hold(client: Client, version: PolicyVersion) -> None:
    request = request_mark_verified(request=file_request(version, email="held@example.com"))
    login(client, AGENTS)
    response: Any = client.post(
        reverse("admin:requests_app_hold_place", args=[request.pk]),
        {"what": "subject", "reason": "Litigation"},
    )

    assert response.status_code in (403, 404)
    assert not request.legal_holds.exists()
