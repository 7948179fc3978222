"""The staff endpoints: the queue, the record and each action, under the admin's roles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from policies.models import Organization, PeriodUnit, PolicyVersion, RequestType
from requests_app.models import EventKind, RequestStatus, SubjectRequest
from requests_app.workflow import request_mark_verified
from tests.api.conftest import CommittingClient, as_user, errors_of
from tests.factories import OrganizationFactory, StaffUserFactory
from tests.tracker import file_request, publish_version

pytestmark = pytest.mark.django_db
S = RequestStatus


@pytest.fixture
def extendable(organization: Organization) -> PolicyVersion:
    """Access: 30 days, extendable once by up to 2 months; deletion: 30 days, not extendable."""
    return publish_version(
        organization,
        {
            RequestType.ACCESS: {
                "response_period": 30,
                "max_extension": 2,
                "extension_unit": PeriodUnit.MONTHS,
            },
            RequestType.DELETION: {"response_period": 30, "max_extension": 0},
            RequestType.COMPLAINT: {"response_period": 30},
        },
        label="extendable",
    )


def _verified(
    version: PolicyVersion, request_type: str = RequestType.ACCESS, email: str = "s@example.com"
) -> SubjectRequest:
    return request_mark_verified(request=file_request(version, request_type, email=email))


def _act(client: APIClient, request: SubjectRequest, action: str, data: Any = None) -> Any:
    url = reverse(f"api:staff_{action}", args=[request.reference])
    return client.post(url, data or {}, format="json")


def _references(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["reference"] for row in response.json()["results"]]


LIST = "/api/v1/staff/requests/"


def test_without_credentials_the_answer_is_401_with_a_token_challenge(api: APIClient) -> None:
    response = api.get(LIST)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"


def test_a_wrong_token_is_401(api: APIClient) -> None:
    api.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    response = api.get(LIST)

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_staff_user_without_a_role_is_refused(db: None) -> None:
    nobody = StaffUserFactory.create(username="nobody", password=None)

    response = as_user(nobody).get(LIST)

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_an_officer_pages_through_every_request_newest_first(
    extendable: PolicyVersion, officer: User
) -> None:
    requests = [_verified(extendable, email=f"s{n}@example.com") for n in range(3)]
    client = as_user(officer)

    first = client.get(LIST, {"page_size": 2})
    second = client.get(first.json()["next"])

    newest_first = [r.reference for r in reversed(requests)]
    assert _references(first) == newest_first[:2]
    assert _references(second) == newest_first[2:]
    assert second.json()["next"] is None


def test_an_agent_sees_the_unassigned_pool_and_their_own_only(
    extendable: PolicyVersion, agent: User, officer: User
) -> None:
    pool = _verified(extendable, email="pool@example.com")
    theirs = _verified(extendable, email="theirs@example.com")
    others = _verified(extendable, email="others@example.com")
    SubjectRequest.objects.filter(pk=theirs.pk).update(assignee=agent)
    SubjectRequest.objects.filter(pk=others.pk).update(assignee=officer)
    client = as_user(agent)

    listed = _references(client.get(LIST))
    hidden = client.get(reverse("api:staff_request_detail", args=[others.reference]))

    assert sorted(listed) == sorted([pool.reference, theirs.reference])
    assert hidden.status_code == 404


def test_the_queue_filters_by_status_type_organisation_and_assignee(
    extendable: PolicyVersion, officer: User
) -> None:
    access = _verified(extendable, email="a@example.com")
    complaint = _verified(extendable, RequestType.COMPLAINT, email="c@example.com")
    waiting = file_request(extendable, RequestType.DELETION, email="d@example.com")
    SubjectRequest.objects.filter(pk=complaint.pk).update(assignee=officer)
    other_org = OrganizationFactory.create(slug="elsewhere")
    elsewhere = _verified(publish_version(other_org, {RequestType.ACCESS: {}}))
    client = as_user(officer)

    assert set(_references(client.get(LIST, {"status": ["verified"]}))) == {
        access.reference,
        complaint.reference,
        elsewhere.reference,
    }
    assert set(_references(client.get(f"{LIST}?status=verified&status=awaiting_verification"))) == {
        access.reference,
        complaint.reference,
        waiting.reference,
        elsewhere.reference,
    }
    assert _references(client.get(LIST, {"request_type": "complaint"})) == [complaint.reference]
    assert _references(client.get(LIST, {"organization": "elsewhere"})) == [elsewhere.reference]
    assert _references(client.get(LIST, {"assignee": "me"})) == [complaint.reference]
    assert _references(client.get(LIST, {"assignee": str(officer.pk)})) == [complaint.reference]
    assert complaint.reference not in _references(client.get(LIST, {"assignee": "none"}))


def test_the_queue_filters_overdue_and_due_before(extendable: PolicyVersion, officer: User) -> None:
    with time_machine.travel(timezone.now() - timedelta(days=60)):
        late = _verified(extendable, email="late@example.com")
    on_time = _verified(extendable, email="fine@example.com")
    client = as_user(officer)

    overdue = _references(client.get(LIST, {"overdue": "true"}))
    not_overdue = _references(client.get(LIST, {"overdue": "false"}))
    due_soon = _references(
        client.get(LIST, {"due_before": (timezone.now() + timedelta(days=7)).isoformat()})
    )

    assert overdue == [late.reference]
    assert on_time.reference in not_overdue
    assert late.reference not in not_overdue
    assert due_soon == [late.reference]


def test_a_malformed_filter_is_400_with_the_field_named(officer: User) -> None:
    response = as_user(officer).get(LIST, {"status": "lost", "due_before": "soon"})

    assert response.status_code == 400
    assert set(errors_of(response)) == {"status", "due_before"}


def test_the_record_shows_the_audit_trail_and_what_the_role_allows(
    extendable: PolicyVersion, officer: User, agent: User
) -> None:
    request = _verified(extendable)
    SubjectRequest.objects.filter(pk=request.pk).update(assignee=agent)
    url = reverse("api:staff_request_detail", args=[request.reference])

    as_officer = as_user(officer).get(url).json()
    as_agent = as_user(agent).get(url).json()

    assert [event["kind"] for event in as_officer["events"]] == ["submitted", "verified"]
    assert as_officer["events"][1]["hash"] == request.events.get(sequence=2).hash
    assert {"extend", "reject", "start", "assign"} <= set(as_officer["available_actions"])
    assert set(as_agent["available_actions"]) == {"start", "hold"}
    assert as_officer["deadline"] == as_officer["due_at"]


def test_an_officer_works_a_request_from_verified_to_completed(
    extendable: PolicyVersion, officer: User
) -> None:
    request = _verified(extendable)
    client = as_user(officer)

    answers = [
        _act(client, request, "assign_to_me"),
        _act(client, request, "start"),
        _act(client, request, "hold", {"question": "Which shop is yours?"}),
        _act(client, request, "resume"),
        _act(client, request, "extend", {"amount": 1, "reason": "Many shops to search."}),
        _act(client, request, "complete", {"outcome": "Your data is attached."}),
    ]

    assert [a.status_code for a in answers] == [200] * 6, [a.content for a in answers]
    final = answers[-1].json()
    assert final["status"] == "completed"
    assert final["assignee"]["username"] == "officer"
    assert final["extension"]["amount"] == 1
    assert final["deadline"] == final["extension"]["extended_due_at"]
    kinds = [event["kind"] for event in final["events"] if event["actor_kind"] == "staff"]
    assert kinds == ["assigned", "started", "put_on_hold", "resumed", "extended", "completed"]


def test_an_officer_assigns_to_an_agent_and_back_to_nobody(
    extendable: PolicyVersion, officer: User, agent: User
) -> None:
    request = _verified(extendable)
    client = as_user(officer)

    to_agent = _act(client, request, "assign", {"assignee": agent.pk})
    to_nobody = _act(client, request, "assign", {"assignee": None})

    assert to_agent.json()["assignee"] == {"id": agent.pk, "username": "agent"}
    assert to_nobody.json()["assignee"] is None


def test_only_staff_who_can_work_on_requests_can_be_assigned(
    extendable: PolicyVersion, officer: User, auditor: User
) -> None:
    request = _verified(extendable)

    response = _act(as_user(officer), request, "assign", {"assignee": auditor.pk})

    assert response.status_code == 400
    assert list(errors_of(response)) == ["assignee"]


def test_an_agent_cannot_extend_reject_or_reassign(
    extendable: PolicyVersion, agent: User, officer: User
) -> None:
    request = _verified(extendable)
    SubjectRequest.objects.filter(pk=request.pk).update(assignee=agent)
    client = as_user(agent)

    answers = [
        _act(client, request, "extend", {"amount": 1, "reason": "Busy."}),
        _act(client, request, "reject", {"reason_code": "excessive", "reason": "Again."}),
        _act(client, request, "assign", {"assignee": officer.pk}),
    ]

    assert [a.status_code for a in answers] == [403, 403, 403]
    request.refresh_from_db()
    assert (request.status, request.extension_amount, request.assignee_id) == (
        S.VERIFIED,
        None,
        agent.pk,
    )


def test_an_agent_takes_from_the_pool_but_not_from_a_colleague(
    extendable: PolicyVersion, agent: User, officer: User
) -> None:
    pool = _verified(extendable, email="pool@example.com")
    colleagues = _verified(extendable, email="colleague@example.com")
    colleague = StaffUserFactory.create(
        username="colleague", roles=["Support agents"], password=None
    )
    SubjectRequest.objects.filter(pk=colleagues.pk).update(assignee=colleague)
    client = as_user(agent)

    taken = _act(client, pool, "assign_to_me")
    start_pool_before = _act(client, colleagues, "start")

    assert taken.status_code == 200
    assert start_pool_before.status_code == 404  # not even visible to them


def test_an_agent_cannot_start_an_unassigned_request_before_taking_it(
    extendable: PolicyVersion, agent: User
) -> None:
    request = _verified(extendable)

    response = _act(as_user(agent), request, "start")

    assert response.status_code == 403
    assert response.json()["detail"] == "Your role does not allow this action on this request."


def test_an_auditor_reads_everything_and_changes_nothing(
    extendable: PolicyVersion, auditor: User
) -> None:
    request = _verified(extendable)
    client = as_user(auditor)

    read = client.get(reverse("api:staff_request_detail", args=[request.reference]))
    start = _act(client, request, "start")

    assert read.status_code == 200
    assert read.json()["available_actions"] == []
    assert start.status_code == 403
    request.refresh_from_db()
    assert request.status == S.VERIFIED


def test_an_illegal_transition_is_409_and_changes_nothing(
    extendable: PolicyVersion, officer: User
) -> None:
    request = _verified(extendable)
    events = request.events.count()

    response = _act(as_user(officer), request, "resume")

    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert response.json()["detail"].endswith("while it is “Confirmed”.")
    assert request.events.count() == events


def test_a_second_extension_is_409(extendable: PolicyVersion, officer: User) -> None:
    request = _verified(extendable)
    client = as_user(officer)
    _act(client, request, "extend", {"amount": 1, "reason": "Busy."})

    again = _act(client, request, "extend", {"amount": 1, "reason": "Still busy."})

    assert again.status_code == 409
    assert again.json()["code"] == "illegal_action"


def test_an_extension_past_the_policys_maximum_is_400_on_the_amount(
    extendable: PolicyVersion, officer: User
) -> None:
    request = _verified(extendable)

    response = _act(as_user(officer), request, "extend", {"amount": 3, "reason": "Busy."})

    assert response.status_code == 400
    assert response.json()["code"] == "extension_refused"
    assert list(errors_of(response)) == ["amount"]
    request.refresh_from_db()
    assert request.extension_amount is None


def test_a_rejection_needs_a_reason_code_and_an_explanation(
    extendable: PolicyVersion, officer: User
) -> None:
    request = _verified(extendable)
    client = as_user(officer)

    missing = _act(client, request, "reject", {})
    blank = _act(client, request, "reject", {"reason_code": "excessive", "reason": "   "})
    done = _act(client, request, "reject", {"reason_code": "excessive", "reason": "Fourth time."})

    assert missing.status_code == 400
    assert set(errors_of(missing)) == {"reason_code", "reason"}
    assert blank.status_code == 400
    assert done.status_code == 200
    assert done.json()["reason_code"] == "excessive"
    assert request.events.filter(kind=EventKind.REJECTED).count() == 1


def test_a_browser_session_must_send_the_csrf_token(
    extendable: PolicyVersion, officer: User
) -> None:
    request = _verified(extendable)
    browser = CommittingClient(enforce_csrf_checks=True)
    browser.force_login(officer)

    read = browser.get(reverse("api:staff_request_detail", args=[request.reference]))
    write = _act(browser, request, "start")

    assert read.status_code == 200
    assert write.status_code == 403
    assert "CSRF" in write.json()["detail"]


def test_staff_calls_are_throttled_per_user(officer: User, settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "user": "2/min",
        },
    }
    client = as_user(officer)

    answers = [client.get(LIST) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]


@pytest.mark.parametrize(
    ("action", "data", "field"),
    [
        ("hold", {"question": "<script>alert(1)</script>"}, "question"),
        ("extend", {"amount": 1, "reason": "Busy\u202emonth"}, "reason"),
        ("reject", {"reason_code": "excessive", "reason": "No\x00pe"}, "reason"),
        ("complete", {"outcome": "x" * 5001}, "outcome"),
    ],
)
def test_the_staffs_messages_to_the_subject_follow_the_forms_text_rules(
    extendable: PolicyVersion, officer: User, action: str, data: dict[str, Any], field: str
) -> None:
    request = _verified(extendable)
    client = as_user(officer)
    _act(client, request, "start")

    response = _act(client, request, action, data)

    assert response.status_code == 400, response.content
    assert list(errors_of(response)) == [field]
    request.refresh_from_db()
    assert request.status == RequestStatus.IN_PROGRESS


def test_a_staff_message_is_kept_normalised_with_its_line_breaks(
    extendable: PolicyVersion, officer: User
) -> None:
    request = _verified(extendable)
    client = as_user(officer)
    _act(client, request, "start")

    response = _act(client, request, "complete", {"outcome": "  Sent.\r\nAll\tof it.  "})

    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "Sent.\nAll\tof it."
