"""Actions on the request record: offered only when legal for the status and the role, each one
a recorded service call, and refused (nothing changed) when forced."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from policies.models import PeriodUnit, PolicyVersion, RequestType
from requests_app.audit import Actor
from requests_app.models import EventKind, RequestStatus, SubjectRequest
from requests_app.roles import AGENTS, AUDITORS, OFFICERS
from requests_app.workflow import request_assign, request_mark_verified
from tests.factories import StaffUserFactory, forwarded_by_controller
from tests.tracker import file_request, publish_version

pytestmark = pytest.mark.django_db
S = RequestStatus
CHANGELIST = reverse("admin:requests_app_subjectrequest_changelist")


def act_url(request: SubjectRequest, action: str) -> str:
    return reverse("admin:requests_app_subjectrequest_act", args=[request.pk, action])


def change_url(request: SubjectRequest) -> str:
    return reverse("admin:requests_app_subjectrequest_change", args=[request.pk])


def fresh(request: SubjectRequest) -> SubjectRequest:
    return SubjectRequest.objects.get(pk=request.pk)


def kinds(request: SubjectRequest) -> list[str]:
    return list(request.events.order_by("sequence").values_list("kind", flat=True))


@pytest.fixture
def rules(organization: Any) -> PolicyVersion:
    return publish_version(
        organization,
        {
            RequestType.ACCESS: {
                "response_period": 30,
                "max_extension": 2,
                "extension_unit": PeriodUnit.MONTHS,
            },
        },
        label="admin-actions",
    )


@pytest.fixture
def verified(rules: PolicyVersion) -> SubjectRequest:
    return request_mark_verified(request=file_request(rules))


@pytest.fixture
def officer(client: Client) -> User:
    user: User = StaffUserFactory.create(username="officer", roles=[OFFICERS])
    client.force_login(user)
    return user


@pytest.fixture
def agent() -> User:
    user: User = StaffUserFactory.create(username="agent", roles=[AGENTS])
    return user


def test_an_officer_works_a_request_from_verified_to_completed_in_the_admin(
    client: Client,
    officer: User,
    verified: SubjectRequest,
    django_capture_on_commit_callbacks: Any,
) -> None:
    mail.outbox.clear()
    steps: list[tuple[str, dict[str, str]]] = [
        ("assign_self", {}),
        ("start", {}),
        ("hold", {"question": "Which shop account is yours?"}),
        ("resume", {}),
        ("extend", {"amount": "1", "reason": "Archive restore."}),
        ("complete", {"outcome": "Export sent."}),
    ]
    for action, data in steps:
        # Each click is its own request and transaction; its emails go once it commits.
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(act_url(verified, action), data)
        assert response.status_code == 302, action

    assert response.status_code == 302
    assert response["Location"] == change_url(verified)
    done = fresh(verified)
    assert (done.status, done.assignee, done.outcome) == (S.COMPLETED, officer, "Export sent.")
    assert done.extension_amount == 1
    assert [k for k in kinds(verified) if k != EventKind.EMAIL_SENT] == [
        EventKind.SUBMITTED,
        EventKind.VERIFIED,
        EventKind.ASSIGNED,
        EventKind.STARTED,
        EventKind.PUT_ON_HOLD,
        EventKind.RESUMED,
        EventKind.EXTENDED,
        EventKind.COMPLETED,
    ]
    staff_events = verified.events.exclude(actor_kind="subject").exclude(actor_kind="system")
    assert set(staff_events.values_list("actor_user__username", flat=True)) == {"officer"}
    told = [message.subject for message in mail.outbox]
    assert told == [
        f"Your privacy request {verified.reference}: On hold, waiting for the subject",
        f"Your privacy request {verified.reference}: the deadline was extended",
        f"Your privacy request {verified.reference}: Completed",
    ]


def test_an_officer_rejects_with_a_reason_code_and_the_subject_is_told_of_their_right(
    client: Client,
    officer: User,
    verified: SubjectRequest,
    django_capture_on_commit_callbacks: Any,
) -> None:
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            act_url(verified, "reject"),
            {"reason_code": "no_data_held", "reason": "We hold no data about this address."},
        )

    rejected = fresh(verified)
    assert (rejected.status, rejected.reason_code) == (S.REJECTED, "no_data_held")
    (message,) = mail.outbox
    assert "right to complain" in str(message.body)


def test_a_rejection_without_a_reason_is_refused_with_a_message(
    client: Client, officer: User, verified: SubjectRequest
) -> None:
    before = SubjectRequest.objects.values().get(pk=verified.pk)

    response = client.post(act_url(verified, "reject"), {"reason_code": "other", "reason": ""})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert SubjectRequest.objects.values().get(pk=verified.pk) == before


def test_a_rejection_with_a_blank_reason_is_refused_by_the_service(
    client: Client, officer: User, verified: SubjectRequest
) -> None:
    response = client.post(act_url(verified, "reject"), {"reason_code": "other", "reason": "   "})

    assert response.status_code == 200
    assert fresh(verified).status == S.VERIFIED


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("hold", {"question": "<script>alert(1)</script>"}, "plain text"),
        ("reject", {"reason_code": "other", "reason": "Busy\u202emonth"}, "direction-changing"),
        ("extend", {"amount": "1", "reason": "x\x07y"}, "control characters"),
    ],
)
def test_the_staffs_messages_to_the_subject_follow_the_forms_text_rules(
    client: Client,
    officer: User,
    verified: SubjectRequest,
    action: str,
    data: dict[str, str],
    message: str,
) -> None:
    before = SubjectRequest.objects.values().get(pk=verified.pk)

    response = client.post(act_url(verified, action), data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert SubjectRequest.objects.values().get(pk=verified.pk) == before


def test_an_extension_past_the_maximum_is_refused_by_the_form(
    client: Client, officer: User, verified: SubjectRequest
) -> None:
    response = client.post(act_url(verified, "extend"), {"amount": "3", "reason": "Big."})

    assert response.status_code == 200
    assert "less than or equal to 2" in response.content.decode()
    assert fresh(verified).extension_amount is None


def test_an_extension_is_not_offered_a_second_time(
    client: Client, officer: User, verified: SubjectRequest
) -> None:
    client.post(act_url(verified, "extend"), {"amount": "1", "reason": "Big."})

    page = client.get(change_url(verified)).content.decode()
    forced = client.post(act_url(verified, "extend"), {"amount": "1", "reason": "Again."})

    assert act_url(verified, "extend") not in page
    assert forced.status_code == 302
    assert fresh(verified).events.filter(kind=EventKind.EXTENDED).count() == 1


def test_the_record_offers_only_the_actions_legal_in_its_status(
    client: Client, officer: User, verified: SubjectRequest
) -> None:
    page = client.get(change_url(verified)).content.decode()

    for offered in ("assign_self", "assign", "start", "hold", "extend", "reject"):
        assert act_url(verified, offered) in page
    for hidden in ("resume", "complete"):
        assert act_url(verified, hidden) not in page


def test_an_illegal_action_forced_by_post_is_refused_and_changes_nothing(
    client: Client, officer: User, verified: SubjectRequest
) -> None:
    before = SubjectRequest.objects.values().get(pk=verified.pk)
    events = verified.events.count()

    resumed = client.post(act_url(verified, "resume"), follow=True)
    completed = client.post(act_url(verified, "complete"), {"outcome": "Done."}, follow=True)

    for response in (resumed, completed):
        assert response.redirect_chain[-1][0] == change_url(verified)
        assert "does not apply to" in response.content.decode()
    assert SubjectRequest.objects.values().get(pk=verified.pk) == before
    assert verified.events.count() == events


def test_an_unknown_action_is_not_found(
    client: Client, officer: User, verified: SubjectRequest
) -> None:
    assert client.post(act_url(verified, "delete")).status_code == 404


def test_an_action_page_asks_before_acting(
    client: Client, officer: User, verified: SubjectRequest
) -> None:
    for action in ("start", "hold", "extend", "reject", "assign"):
        response = client.get(act_url(verified, action))
        assert response.status_code == 200
    assert fresh(verified).status == S.VERIFIED
    assert fresh(verified).assignee is None


# --- Roles ------------------------------------------------------------------------------------


def test_an_agent_cannot_extend_or_reject_what_an_officer_can(
    client: Client, agent: User, verified: SubjectRequest
) -> None:
    officer = StaffUserFactory.create(username="boss", roles=[OFFICERS])
    request_assign(request=verified, actor=Actor.staff(officer), assignee=agent)
    client.force_login(agent)

    page = client.get(change_url(verified)).content.decode()
    extend = client.post(act_url(verified, "extend"), {"amount": "1", "reason": "Big."})
    reject = client.post(act_url(verified, "reject"), {"reason_code": "other", "reason": "No."})
    start = client.post(act_url(verified, "start"))

    assert act_url(verified, "extend") not in page
    assert act_url(verified, "reject") not in page
    assert (extend.status_code, reject.status_code) == (403, 403)
    assert start.status_code == 302
    assert fresh(verified).status == S.IN_PROGRESS
    assert fresh(verified).extension_amount is None

    client.force_login(officer)
    client.post(act_url(verified, "extend"), {"amount": "1", "reason": "Big."})
    assert fresh(verified).extension_amount == 1


def test_an_agent_takes_an_unassigned_request_but_not_someone_elses(
    client: Client, agent: User, verified: SubjectRequest, rules: PolicyVersion
) -> None:
    other = StaffUserFactory.create(username="other-agent", roles=[AGENTS])
    theirs = request_mark_verified(request=file_request(rules, email="b@example.com"))
    request_assign(request=theirs, actor=Actor.staff(other), assignee=other)
    client.force_login(agent)

    mine = client.post(act_url(verified, "assign_self"))
    stolen = client.post(act_url(theirs, "assign_self"))
    started = client.post(act_url(theirs, "start"))

    assert mine.status_code == 302
    assert fresh(verified).assignee == agent
    # Someone else's request is not even visible to the agent.
    assert (stolen.status_code, started.status_code) == (404, 404)
    assert fresh(theirs).assignee == other
    assert fresh(theirs).status == S.VERIFIED


def test_an_agent_must_take_a_request_before_working_on_it(
    client: Client, agent: User, verified: SubjectRequest
) -> None:
    client.force_login(agent)

    page = client.get(change_url(verified)).content.decode()
    forced = client.post(act_url(verified, "start"))

    assert act_url(verified, "assign_self") in page
    assert act_url(verified, "start") not in page
    assert forced.status_code == 403
    assert fresh(verified).status == S.VERIFIED


def test_an_auditor_is_offered_nothing_and_every_forced_action_is_refused(
    client: Client, verified: SubjectRequest
) -> None:
    auditor = StaffUserFactory.create(username="auditor", roles=[AUDITORS])
    client.force_login(auditor)
    before = SubjectRequest.objects.values().get(pk=verified.pk)

    page = client.get(change_url(verified)).content.decode()
    statuses = {
        client.post(act_url(verified, action), {"outcome": "x", "reason": "x"}).status_code
        for action in ("assign_self", "assign", "start", "hold", "extend", "reject", "complete")
    }

    assert "/act/" not in page
    assert statuses == {403}
    assert SubjectRequest.objects.values().get(pk=verified.pk) == before


# --- Bulk actions -----------------------------------------------------------------------------


def _bulk(client: Client, action: str, requests: list[SubjectRequest], **extra: str) -> Any:
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [r.pk for r in requests], **extra},
        follow=True,
    )


def test_bulk_start_applies_where_legal_and_says_what_it_skipped(
    client: Client, officer: User, verified: SubjectRequest, rules: PolicyVersion
) -> None:
    unverified = file_request(rules, email="late@example.com")

    response = _bulk(client, "start_selected", [verified, unverified])

    page = response.content.decode()
    assert "done for 1 request" in page
    assert "does not apply to 1 selected request" in page
    assert fresh(verified).status == S.IN_PROGRESS
    assert fresh(unverified).status == S.AWAITING_VERIFICATION


def test_bulk_assign_to_someone_asks_whom_then_assigns(
    client: Client, officer: User, agent: User, verified: SubjectRequest
) -> None:
    asked = _bulk(client, "assign_selected", [verified])
    assert "Assign the selected requests" in asked.content.decode()
    assert fresh(verified).assignee is None

    _bulk(client, "assign_selected", [verified], post="yes", assignee=str(agent.pk))

    assert fresh(verified).assignee == agent


def test_agents_are_not_offered_bulk_reassignment(
    client: Client, agent: User, verified: SubjectRequest
) -> None:
    client.force_login(agent)

    page = client.get(CHANGELIST).content.decode()

    assert "assign_selected_to_me" in page
    assert 'value="assign_selected"' not in page
    assert "delete_selected" not in page


def test_staff_are_told_a_forwarded_requests_subject_is_not_emailed_and_whom_to_ask(
    client: Client,
    officer: User,
    verified: SubjectRequest,
    django_capture_on_commit_callbacks: Any,
) -> None:
    controller = forwarded_by_controller(verified).controller
    request_assign(request=verified, actor=Actor.staff(officer), assignee=officer)
    client.post(act_url(verified, "start"))
    mail.outbox.clear()

    form = client.get(act_url(verified, "hold"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            act_url(verified, "hold"), {"question": "Which shop account is yours?"}, follow=True
        )

    assert f"{controller.name} forwarded this request through OpenDSR" in form.content.decode()
    shown = [str(message) for message in response.context["messages"]]
    assert shown == [
        f"{verified.reference} is on hold. {controller.name} forwarded it through OpenDSR and we "
        f"do not email its subject: ask {controller.name} for what you need."
    ]
    assert fresh(verified).status == S.ON_HOLD
    assert mail.outbox == []
