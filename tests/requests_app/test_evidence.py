"""The evidence record an auditor is handed: complete, checkable on its own, and recorded."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from policies.models import PolicyVersion
from requests_app import evidence
from requests_app.audit import Actor
from requests_app.models import EventKind, ReasonCode, SubjectRequest
from requests_app.roles import AGENTS, AUDITORS, OFFICERS
from requests_app.workflow import request_mark_verified, request_reject, request_start
from tests.factories import StaffUserFactory
from tests.tracker import file_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def rejected(version: PolicyVersion, django_capture_on_commit_callbacks: Any) -> SubjectRequest:
    officer = StaffUserFactory.create(username="officer", roles=[OFFICERS])
    with django_capture_on_commit_callbacks(execute=True):  # the confirmation link is mailed
        filed = file_request(version)
    request = request_mark_verified(request=filed)
    request = request_start(request=request, actor=Actor.staff(officer))
    return request_reject(
        request=request,
        actor=Actor.staff(officer),
        reason_code=ReasonCode.NO_DATA_HELD,
        reason="No account uses this address.",
    )


def html_url(request: SubjectRequest) -> str:
    return reverse("admin:requests_app_subjectrequest_evidence", args=[request.pk])


def json_url(request: SubjectRequest) -> str:
    return reverse("admin:requests_app_subjectrequest_evidence_json", args=[request.pk])


def _recompute(events: list[dict[str, Any]]) -> str:
    """Check a chain from the record alone, as an auditor would; return its last hash."""
    previous = "0" * 64
    for event in events:
        assert event["previous_hash"] == previous
        payload = json.dumps(
            event["hashed_fields"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        digest = hashlib.sha256((previous + payload).encode("utf-8")).hexdigest()
        assert digest == event["hash"], event["sequence"]
        previous = digest
    return previous


def test_the_record_holds_the_request_policy_rule_verification_and_outcome(
    rejected: SubjectRequest,
) -> None:
    record = evidence.evidence_record(request=rejected)

    assert record["request"]["reference"] == rejected.reference
    assert record["request"]["subject"]["email"] == rejected.email
    version = rejected.policy_version
    assert record["policy_version"]["text_sha256"] == version.text_sha256
    assert record["policy_version"]["text_sha256_matches_text"] is True
    assert record["rule"]["response_period"] == rejected.rule.response_period
    assert record["verification"]["email_confirmed"] is True
    assert [link["purpose"] for link in record["verification"]["links"]] == ["verification"]
    assert record["outcome"] == {
        "status": "rejected",
        "closed_at": rejected.closed_at.isoformat() if rejected.closed_at else None,
        "outcome": "No account uses this address.",
        "reason_code": "no_data_held",
        "answered_on_time": True,
    }
    json.dumps(record)  # serialisable as it is


def test_the_chain_in_the_record_can_be_checked_with_sha256_alone(
    rejected: SubjectRequest,
) -> None:
    trail = evidence.evidence_record(request=rejected)["audit_trail"]

    assert trail["verified"] is True
    assert [e["kind"] for e in trail["events"]] == [
        "submitted",
        "email_sent",
        "verified",
        "started",
        "rejected",
    ]
    assert _recompute(trail["events"]) == trail["head"] == rejected.audit_head


def test_a_broken_chain_is_reported_in_the_record(rejected: SubjectRequest) -> None:
    # Someone drops the last event's link from the request; the trail no longer ends where it says.
    SubjectRequest.objects.filter(pk=rejected.pk).update(audit_length=rejected.audit_length + 1)

    trail = evidence.evidence_record(request=rejected)["audit_trail"]

    assert trail["verified"] is False
    assert "missing" in trail["break"]


@pytest.fixture
def extra_section() -> Iterator[None]:
    evidence.evidence_section_register(
        "export_packages", lambda r: [{"sha256": "ab" * 32, "request": r.reference}]
    )
    evidence.evidence_section_register("erasure_certificates", lambda r: [])
    yield
    evidence._SECTIONS.pop("export_packages")
    evidence._SECTIONS.pop("erasure_certificates")


def test_later_features_add_their_sections_once_they_have_something(
    rejected: SubjectRequest, extra_section: None
) -> None:
    record = evidence.evidence_record(request=rejected)

    assert record["export_packages"] == [{"sha256": "ab" * 32, "request": rejected.reference}]
    assert "erasure_certificates" not in record


# --- Through the admin -------------------------------------------------------------------------


@pytest.mark.parametrize("role", [AUDITORS, OFFICERS])
def test_auditors_and_officers_download_the_record_and_the_download_is_recorded(
    client: Client, rejected: SubjectRequest, role: str
) -> None:
    user = StaffUserFactory.create(username="reader", roles=[role])
    client.force_login(user)

    response = client.get(json_url(rejected))

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="evidence-{rejected.reference}.json"'
    )
    record = json.loads(response.content)
    trail = record["audit_trail"]
    assert record["generated_by"] == "reader"
    assert trail["events"][-1]["kind"] == EventKind.EVIDENCE_EXPORTED
    assert trail["events"][-1]["actor"] == "reader"
    assert _recompute(trail["events"]) == trail["head"]
    assert SubjectRequest.objects.get(pk=rejected.pk).audit_head == trail["head"]


def test_the_printable_page_shows_the_chain_and_every_event(
    client: Client, rejected: SubjectRequest, extra_section: None
) -> None:
    client.force_login(StaffUserFactory.create(roles=[AUDITORS]))
    events_before = rejected.events.count()

    page = client.get(html_url(rejected)).content.decode()

    assert "chain of 5 events verifies" in page
    for event in rejected.events.all():
        assert event.hash in page
    assert rejected.policy_version.text_sha256 in page
    assert "No account uses this address." in page
    assert "export_packages" in page
    assert json_url(rejected) in page
    # Reading the page is not a download: nothing is appended.
    assert rejected.events.count() == events_before


def test_the_record_page_links_to_the_evidence_for_those_who_may_see_it(
    client: Client, rejected: SubjectRequest
) -> None:
    change = reverse("admin:requests_app_subjectrequest_change", args=[rejected.pk])
    client.force_login(StaffUserFactory.create(roles=[AUDITORS]))
    assert json_url(rejected) in client.get(change).content.decode()

    agent = StaffUserFactory.create(roles=[AGENTS])
    rejected.assignee = agent
    SubjectRequest.objects.filter(pk=rejected.pk).update(assignee=agent)
    client.force_login(agent)
    assert html_url(rejected) not in client.get(change).content.decode()


def test_agents_cannot_view_or_download_the_evidence(
    client: Client, rejected: SubjectRequest
) -> None:
    agent = StaffUserFactory.create(roles=[AGENTS])
    SubjectRequest.objects.filter(pk=rejected.pk).update(assignee=agent)
    client.force_login(agent)
    events_before = rejected.events.count()

    assert client.get(html_url(rejected)).status_code == 403
    assert client.get(json_url(rejected)).status_code == 403
    assert rejected.events.count() == events_before


def test_the_evidence_of_an_unknown_request_is_not_found(client: Client) -> None:
    client.force_login(StaffUserFactory.create(roles=[AUDITORS]))

    response = client.get(reverse("admin:requests_app_subjectrequest_evidence_json", args=[999999]))

    assert response.status_code == 404
