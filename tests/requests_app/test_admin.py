"""The request queue and record in the admin: every page with every role, the deadline column,
filters, search, ordering, and a queue that costs the same few queries however long it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from policies.models import PolicyVersion, RequestType, RequestTypeRule
from requests_app.audit import Actor
from requests_app.models import RequestStatus, SubjectRequest, effective_due
from requests_app.roles import AGENTS, AUDITORS, OFFICERS
from requests_app.workflow import request_assign, request_mark_verified, request_start
from tests.factories import StaffUserFactory, SubjectRequestFactory
from tests.tracker import file_request

pytestmark = pytest.mark.django_db
S = RequestStatus
CHANGELIST = reverse("admin:requests_app_subjectrequest_changelist")
ROLES = [AGENTS, OFFICERS, AUDITORS]


def change_url(request: SubjectRequest) -> str:
    return reverse("admin:requests_app_subjectrequest_change", args=[request.pk])


def login(client: Client, role: str | None, username: str = "") -> User:
    user: User = StaffUserFactory.create(
        username=username or (role or "root").split()[-1].lower(),
        roles=[role] if role else [],
        is_superuser=role is None,
    )
    client.force_login(user)
    return user


@pytest.fixture
def rule(version: PolicyVersion) -> RequestTypeRule:
    return version.request_type_rules.get(request_type=RequestType.ACCESS)


@pytest.fixture
def in_progress(version: PolicyVersion) -> SubjectRequest:
    """A verified request being worked on, assigned to nobody, with a full audit trail."""
    request = request_mark_verified(request=file_request(version))
    officer = StaffUserFactory.create(username="someone", roles=[OFFICERS])
    return request_start(request=request, actor=Actor.staff(officer))


# --- Smoke tests: every page, every role ------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_role_can_open_the_queue_and_the_record(
    client: Client, in_progress: SubjectRequest, role: str
) -> None:
    login(client, role)

    queue = client.get(CHANGELIST)
    record = client.get(change_url(in_progress))

    assert queue.status_code == 200
    assert in_progress.reference in queue.content.decode()
    assert record.status_code == 200
    page = record.content.decode()
    assert in_progress.policy_version.text_sha256 in page
    assert "chain verified" in page


@pytest.mark.parametrize("role", [*ROLES, None])
def test_the_audit_event_pages_open_for_every_role(
    client: Client, in_progress: SubjectRequest, role: str | None
) -> None:
    login(client, role)
    event = in_progress.events.first()
    assert event is not None

    listing = client.get(reverse("admin:requests_app_requestevent_changelist"))
    detail = client.get(reverse("admin:requests_app_requestevent_change", args=[event.pk]))

    assert listing.status_code == detail.status_code == 200


def test_staff_without_a_role_cannot_open_the_queue(client: Client) -> None:
    login(client, AGENTS)
    StaffUserFactory.create(username="nobody-special")
    client.force_login(User.objects.get(username="nobody-special"))

    assert client.get(CHANGELIST).status_code == 403


def test_the_record_shows_the_policy_version_link_and_the_verification(
    client: Client, in_progress: SubjectRequest
) -> None:
    login(client, OFFICERS)
    version = in_progress.policy_version

    page = client.get(change_url(in_progress)).content.decode()

    public = reverse("policies:version_detail", args=[version.policy.organization.slug, version.pk])
    assert f'href="{public}"' in page
    assert "email confirmed on" in page


def test_the_record_and_its_events_cannot_be_edited_even_by_a_superuser(
    client: Client, in_progress: SubjectRequest
) -> None:
    login(client, None)
    before = SubjectRequest.objects.values().get(pk=in_progress.pk)

    page = client.get(change_url(in_progress)).content.decode()
    forced = client.post(
        change_url(in_progress), {"email": "evil@example.com", "status": S.COMPLETED}
    )

    assert 'name="_save"' not in page
    assert "<textarea" not in page.split('id="subjectrequest_form"')[1]
    assert forced.status_code == 403
    assert SubjectRequest.objects.values().get(pk=in_progress.pk) == before


# --- The deadline column ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "text", "css"),
    [
        (10, "due in 10 days", "dsr-ok"),
        (3, "due in 3 days", "dsr-soon"),
        (1, "due in 1 day", "dsr-soon"),
        (0, "due today", "dsr-soon"),
        (-1, "overdue by 1 day", "dsr-overdue"),
        (-12, "overdue by 12 days", "dsr-overdue"),
    ],
)
def test_the_queue_says_in_words_and_colour_how_the_deadline_stands(
    client: Client, rule: RequestTypeRule, days: int, text: str, css: str
) -> None:
    login(client, OFFICERS)
    now = timezone.now()
    SubjectRequestFactory.create(rule=rule, due_at=now + timedelta(days=days))

    page = client.get(CHANGELIST).content.decode()

    assert f'<span class="dsr-deadline {css}">' in page
    assert text in page


def test_the_queue_says_when_the_clock_is_paused_or_the_request_closed(
    client: Client, rule: RequestTypeRule
) -> None:
    login(client, OFFICERS)
    now = timezone.now()
    SubjectRequestFactory.create(
        rule=rule, status=S.ON_HOLD, on_hold_since=now, due_at=now - timedelta(days=2)
    )
    SubjectRequestFactory.create(
        rule=rule, status=S.COMPLETED, closed_at=now, due_at=now - timedelta(days=1)
    )

    page = client.get(CHANGELIST).content.decode()

    results = page.split('id="result_list"')[1].split("</table>")[0]
    assert "clock paused" in results
    assert "closed late" in results
    assert "overdue" not in results


def test_the_queue_lists_the_soonest_deadline_first(client: Client, rule: RequestTypeRule) -> None:
    login(client, OFFICERS)
    now = timezone.now()
    later = SubjectRequestFactory.create(rule=rule, due_at=now + timedelta(days=20))
    sooner = SubjectRequestFactory.create(rule=rule, due_at=now + timedelta(days=2))
    extended = SubjectRequestFactory.create(
        rule=rule, due_at=now - timedelta(days=5), extended_due_at=now + timedelta(days=9)
    )
    unverified = SubjectRequestFactory.create(
        rule=rule, status=S.AWAITING_VERIFICATION, verified_at=None, due_at=None
    )

    response = client.get(CHANGELIST)

    shown = [row.reference for row in response.context["cl"].result_list]
    assert shown == [sooner.reference, extended.reference, later.reference, unverified.reference]


@pytest.mark.parametrize("order", ["7", "-7"])
def test_the_queue_can_be_sorted_by_deadline_both_ways(
    client: Client, rule: RequestTypeRule, order: str
) -> None:
    login(client, OFFICERS)
    now = timezone.now()
    first = SubjectRequestFactory.create(rule=rule, due_at=now + timedelta(days=1))
    last = SubjectRequestFactory.create(rule=rule, due_at=now + timedelta(days=9))

    response = client.get(f"{CHANGELIST}?o={order}")

    shown = [row.reference for row in response.context["cl"].result_list]
    expected = [first.reference, last.reference]
    assert shown == (expected if order == "7" else expected[::-1])


# --- Filters and search -----------------------------------------------------------------------


@pytest.fixture
def queue(rule: RequestTypeRule) -> dict[str, SubjectRequest]:
    now = timezone.now()
    agent = StaffUserFactory.create(username="agent", roles=[AGENTS])
    return {
        "overdue": SubjectRequestFactory.create(rule=rule, due_at=now - timedelta(days=1)),
        "soon": SubjectRequestFactory.create(
            rule=rule, due_at=now + timedelta(days=2), assignee=agent
        ),
        "week": SubjectRequestFactory.create(rule=rule, due_at=now + timedelta(days=6)),
        "later": SubjectRequestFactory.create(
            rule=rule, due_at=now + timedelta(days=25), account_identifier="ACC-4242"
        ),
        "held": SubjectRequestFactory.create(
            rule=rule, status=S.ON_HOLD, on_hold_since=now, due_at=now - timedelta(days=3)
        ),
        "done": SubjectRequestFactory.create(
            rule=rule, status=S.COMPLETED, closed_at=now, due_at=now - timedelta(days=9)
        ),
    }


def _shown(client: Client, query: str) -> set[str]:
    response = client.get(f"{CHANGELIST}?{query}")
    assert response.status_code == 200
    return {row.reference for row in response.context["cl"].result_list}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("deadline=overdue", {"overdue"}),
        ("deadline=soon", {"soon"}),
        ("deadline=week", {"soon", "week"}),
        ("deadline=paused", {"held"}),
        ("on_hold=yes", {"held"}),
        ("status=completed", {"done"}),
        ("assignee=nobody", {"overdue", "week", "later", "held", "done"}),
        ("q=ACC-4242", {"later"}),
        ("request_type=access&deadline=overdue", {"overdue"}),
    ],
)
def test_the_queue_filters_and_searches(
    client: Client, queue: dict[str, SubjectRequest], query: str, expected: set[str]
) -> None:
    login(client, OFFICERS)

    assert _shown(client, query) == {queue[name].reference for name in expected}


def test_the_assigned_to_me_filter_shows_my_requests(
    client: Client, queue: dict[str, SubjectRequest]
) -> None:
    client.force_login(User.objects.get(username="agent"))

    assert _shown(client, "assignee=me") == {queue["soon"].reference}


def test_search_finds_a_request_by_reference_and_by_email(
    client: Client, queue: dict[str, SubjectRequest]
) -> None:
    login(client, OFFICERS)
    target = queue["week"]

    assert _shown(client, f"q={target.reference}") == {target.reference}
    assert _shown(client, f"q={target.email}") == {target.reference}


def test_a_bad_filter_value_is_ignored_not_an_error(
    client: Client, queue: dict[str, SubjectRequest]
) -> None:
    login(client, OFFICERS)

    assert client.get(f"{CHANGELIST}?assignee=banana&deadline=yesterday").status_code == 200


# --- Cost ---------------------------------------------------------------------------------------


def _bulk(rule: RequestTypeRule, count: int, assignee: User) -> None:
    now = timezone.now()
    SubjectRequest.objects.bulk_create(
        SubjectRequestFactory.build(
            rule=rule,
            due_at=now + timedelta(days=n % 40 - 10),
            assignee=assignee if n % 3 else None,
        )
        for n in range(count)
    )


def _queue_queries(client: Client, query: str = "") -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"{CHANGELIST}?{query}")
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("query", ["", "deadline=overdue&assignee=me", "q=example.com"])
def test_the_queue_runs_the_same_queries_for_ten_rows_as_for_a_thousand(
    client: Client, rule: RequestTypeRule, query: str, django_assert_max_num_queries: Any
) -> None:
    officer = login(client, OFFICERS)
    _bulk(rule, 10, officer)
    few = _queue_queries(client, query)

    _bulk(rule, 990, officer)
    assert SubjectRequest.objects.count() == 1000
    with django_assert_max_num_queries(few):
        client.get(f"{CHANGELIST}?{query}")

    assert _queue_queries(client, query) == few
    assert few <= 12


def test_the_overdue_and_due_filters_are_served_by_the_deadline_index(
    rule: RequestTypeRule,
) -> None:
    # As in real life most requests are closed; the partial index holds only the open ones.
    now = timezone.now()
    SubjectRequest.objects.bulk_create(
        SubjectRequestFactory.build(
            rule=rule,
            status=S.COMPLETED if n % 20 else S.IN_PROGRESS,
            closed_at=now if n % 20 else None,
            due_at=now + timedelta(days=n % 40 - 10),
        )
        for n in range(2000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE requests_app_subjectrequest")
        for queryset in (
            SubjectRequest.objects.overdue(now),
            SubjectRequest.objects.due_within(now, 7),
        ):
            sql, params = queryset.order_by(effective_due()).values("pk").query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "subject_request_open_deadline" in plan, plan


def test_days_are_counted_on_the_organisations_calendar(
    client: Client, rule: RequestTypeRule
) -> None:
    login(client, OFFICERS)
    # Due at the end of 10 March in Tashkent (18:59:59 UTC); at 20:00 UTC on 9 March it is
    # already 10 March in Tashkent, so the request is due today, not tomorrow.
    due = datetime(2026, 3, 10, 18, 59, 59, tzinfo=UTC)
    SubjectRequestFactory.create(rule=rule, due_at=due)

    with time_machine.travel(datetime(2026, 3, 9, 20, 0, tzinfo=UTC)):
        page = client.get(CHANGELIST).content.decode()

    assert "due today" in page


def test_an_agent_sees_a_request_once_it_is_assigned_to_them(
    client: Client, in_progress: SubjectRequest
) -> None:
    agent = login(client, AGENTS)
    officer = User.objects.get(username="someone")
    request_assign(request=in_progress, actor=Actor.staff(officer), assignee=agent)

    assert _shown(client, "assignee=me") == {in_progress.reference}
