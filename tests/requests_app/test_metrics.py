"""Request metrics per organisation and period: the numbers, their cost, the page and the CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.db.models import DurationField
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from policies.models import Organization, PolicyVersion, RequestType, RequestTypeRule
from requests_app import metrics
from requests_app.models import RequestStatus, SubjectRequest
from requests_app.roles import AGENTS, AUDITORS, OFFICERS
from tests.factories import (
    OrganizationFactory,
    RequestTypeRuleFactory,
    StaffUserFactory,
    SubjectRequestFactory,
)

pytestmark = pytest.mark.django_db
S = RequestStatus
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
METRICS = reverse("admin:requests_app_subjectrequest_metrics")
METRICS_CSV = reverse("admin:requests_app_subjectrequest_metrics_csv")
RANGE = {"start": "2026-03-01", "end": "2026-04-30", "grouping": "month"}


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 10, 0, tzinfo=UTC)


def made(
    rule: RequestTypeRule,
    received: datetime,
    due: datetime,
    *,
    status: str = S.IN_PROGRESS,
    closed: datetime | None = None,
    request_type: str = RequestType.ACCESS,
) -> SubjectRequest:
    request: SubjectRequest = SubjectRequestFactory.create(
        rule=rule,
        request_type=request_type,
        received_at=received,
        due_at=due,
        status=status,
        closed_at=closed,
    )
    return request


@pytest.fixture
def orgs(version: PolicyVersion) -> tuple[Organization, Organization]:
    """Two organisations with a known set of requests in March and April 2026."""
    a = version.policy.organization
    rule_a = version.request_type_rules.get(request_type=RequestType.ACCESS)
    b: Organization = OrganizationFactory.create(slug="clopos", name="Clopos")
    rule_b = RequestTypeRuleFactory.create(version__policy__organization=b)
    C, R = S.COMPLETED, S.REJECTED
    made(rule_a, at(3, 2), at(3, 31), status=C, closed=at(3, 10))  # 8 days, on time
    made(
        rule_a, at(3, 5), at(4, 4), status=C, closed=at(4, 10), request_type="deletion"
    )  # 36, late
    made(rule_a, at(3, 20), at(4, 19), status=R, closed=at(3, 22))  # rejected after 2 days
    made(rule_a, at(4, 3), at(4, 5), request_type="correction")  # overdue now
    made(rule_a, at(4, 10), at(5, 10), status=C, closed=at(4, 14))  # 4 days, on time
    made(rule_a, at(2, 27), at(3, 29), status=C, closed=at(3, 3))  # received before the range
    made(rule_b, at(3, 15), at(3, 20))  # overdue now
    made(rule_b, at(3, 16), at(4, 15), status=S.WITHDRAWN, closed=at(3, 17))
    return a, b


def _report(**kwargs: Any) -> metrics.MetricsReport:
    with time_machine.travel(NOW, tick=False):
        return metrics.metrics_report(start=date(2026, 3, 1), end=date(2026, 4, 30), **kwargs)


def _row(report: metrics.MetricsReport, org: Organization, period: date | None):
    rows = report.totals if period is None else report.rows
    (row,) = [r for r in rows if r.organization_id == org.pk and r.period == period]
    return row


def test_requests_received_are_counted_by_type_per_month(orgs: Any) -> None:
    a, b = orgs
    report = _report()

    march, april = _row(report, a, date(2026, 3, 1)), _row(report, a, date(2026, 4, 1))

    assert report.periods == [date(2026, 3, 1), date(2026, 4, 1)]
    assert (
        march.received,
        march.received_by_type["access"],
        march.received_by_type["deletion"],
    ) == (3, 2, 1)
    assert (april.received, april.received_by_type["correction"]) == (2, 1)
    assert _row(report, b, date(2026, 3, 1)).received == 2


def test_closing_figures_go_by_the_month_a_request_was_closed(orgs: Any) -> None:
    a, b = orgs
    report = _report()

    march, april = _row(report, a, date(2026, 3, 1)), _row(report, a, date(2026, 4, 1))

    assert (march.completed, march.rejected, march.completed_on_time) == (2, 1, 2)
    assert march.on_time_percent == 100.0
    assert (march.mean_days_to_close, march.median_days_to_close) == (4.7, 4.0)
    assert (april.completed, april.completed_on_time, april.on_time_percent) == (2, 1, 50.0)
    assert (april.mean_days_to_close, april.median_days_to_close) == (20.0, 20.0)
    # A withdrawal is neither completed nor rejected.
    assert (
        _row(report, b, date(2026, 3, 1)).completed,
        _row(report, b, date(2026, 3, 1)).rejected,
    ) == (0, 0)


def test_totals_cover_the_whole_range_with_the_requests_overdue_now(orgs: Any) -> None:
    a, b = orgs
    report = _report()

    total_a, total_b = _row(report, a, None), _row(report, b, None)

    assert (total_a.received, total_a.completed, total_a.rejected) == (5, 4, 1)
    assert total_a.on_time_percent == 75.0
    assert (total_a.mean_days_to_close, total_a.median_days_to_close) == (10.8, 4.0)
    assert (total_a.currently_overdue, total_b.currently_overdue) == (1, 1)
    assert total_b.on_time_percent is None


def test_one_organisation_can_be_chosen(orgs: Any) -> None:
    a, _b = orgs

    report = _report(organizations=[a])

    assert {row.organization_id for row in [*report.rows, *report.totals]} == {a.pk}


def test_weeks_start_on_monday(orgs: Any) -> None:
    a, _b = orgs
    report = _report(grouping=metrics.WEEK)

    assert report.periods[0] == date(2026, 2, 23)
    assert _row(report, a, date(2026, 3, 2)).received == 2  # 2 and 5 March


def test_periods_are_cut_at_midnight_on_the_organisations_clock(version: PolicyVersion) -> None:
    organization = version.policy.organization  # Asia/Tashkent, UTC+5
    rule = version.request_type_rules.get(request_type=RequestType.ACCESS)
    last_of_march = datetime(2026, 3, 31, 18, 59, tzinfo=UTC)  # 23:59 in Tashkent
    first_of_may = datetime(2026, 4, 30, 19, 1, tzinfo=UTC)  # 00:01 on 1 May in Tashkent
    made(rule, last_of_march, at(4, 30))
    made(rule, last_of_march + timedelta(minutes=2), at(4, 30))  # 00:01 on 1 April
    made(rule, first_of_may, at(5, 30), status=S.COMPLETED, closed=first_of_may)

    report = _report(organizations=[organization])

    march = _row(report, organization, date(2026, 3, 1))
    april = _row(report, organization, date(2026, 4, 1))
    assert (march.received, april.received) == (1, 1)
    # Received and closed at 00:01 on 1 May: after the range, on the organisation's clock.
    assert (_row(report, organization, None).received, april.completed) == (2, 0)


def test_organisations_on_different_clocks_are_reported_on_the_servers(
    version: PolicyVersion, settings: Any
) -> None:
    settings.TIME_ZONE = "UTC"
    tashkent = version.policy.organization
    baku: Organization = OrganizationFactory.create(slug="baku", time_zone="Asia/Baku")
    other_tashkent: Organization = OrganizationFactory.create(slug="samarkand")

    assert str(metrics.report_timezone([tashkent, other_tashkent])) == "Asia/Tashkent"
    assert str(metrics.report_timezone([tashkent, baku])) == "UTC"


def test_the_portable_median_agrees_with_percentile_cont(orgs: Any) -> None:
    closed = SubjectRequest.objects.filter(status__in=[S.COMPLETED, S.REJECTED])

    portable = metrics.medians_portable(closed, ["organization_id"], UTC)
    native = {
        (row["organization_id"],): row["median"]
        for row in closed.values("organization_id").annotate(
            median=metrics.Median(metrics._days_to_close(), output_field=DurationField())
        )
    }

    assert portable == native
    assert portable[(orgs[0].pk,)] == timedelta(days=4)


def test_the_figures_cost_the_same_queries_for_few_and_many_requests(orgs: Any) -> None:
    with CaptureQueriesContext(connection) as few:
        _report()
    rule = RequestTypeRule.objects.filter(version__policy__organization=orgs[0]).first()
    assert rule is not None
    SubjectRequest.objects.bulk_create(
        SubjectRequestFactory.build(
            rule=rule,
            received_at=at(3, 1 + n % 28),
            due_at=at(4, 1),
            status=S.COMPLETED,
            closed_at=at(4, 1 + n % 20),
        )
        for n in range(400)
    )

    with CaptureQueriesContext(connection) as many:
        report = _report()

    assert len(many) == len(few) <= 8
    assert _row(report, orgs[0], None).completed == 404


def test_the_chart_draws_bars_in_proportion(orgs: Any) -> None:
    chart = metrics.metrics_chart(_report())

    received = {bar.label: bar for bar in chart.bars if bar.series == "received"}
    assert received["2026-03"].value == 5  # 3 + 2 across both organisations
    assert received["2026-04"].value == 2
    assert received["2026-03"].height == pytest.approx(received["2026-04"].height * 5 / 2)
    assert received["2026-03"].y + received["2026-03"].height == chart.plot_bottom


def test_the_csv_has_a_row_per_organisation_and_period_and_a_total(orgs: Any) -> None:
    rows = list(csv.DictReader(io.StringIO(metrics.metrics_csv(_report()))))

    assert [(r["organization"], r["period"]) for r in rows] == [
        ("BESHQOZON", "2026-03-01"),
        ("BESHQOZON", "2026-04-01"),
        ("Clopos", "2026-03-01"),
        ("Clopos", "2026-04-01"),
        ("BESHQOZON", "total"),
        ("Clopos", "total"),
    ]
    assert rows[0]["received_access"] == "2"
    assert rows[0]["on_time_percent"] == "100.0"
    assert rows[4]["currently_overdue"] == "1"
    assert rows[0]["currently_overdue"] == ""


# --- The page ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [OFFICERS, AUDITORS])
def test_officers_and_auditors_see_the_metrics_page_and_download_the_csv(
    client: Client, orgs: Any, role: str
) -> None:
    client.force_login(StaffUserFactory.create(roles=[role]))

    with time_machine.travel(NOW, tick=False):
        page = client.get(METRICS, RANGE)
        download = client.get(METRICS_CSV, RANGE)

    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html
    assert "<rect" in html
    assert "Clopos" in html
    assert f"{METRICS_CSV}?" in html
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    assert 'filename="request-metrics-2026-03-01-2026-04-30.csv"' in download["Content-Disposition"]
    assert "BESHQOZON,total" in download.content.decode()


def test_the_metrics_page_opens_on_the_last_twelve_months(client: Client, orgs: Any) -> None:
    client.force_login(StaffUserFactory.create(roles=[OFFICERS]))

    with time_machine.travel(NOW, tick=False):
        response = client.get(METRICS)

    report = response.context["report"]
    assert (report.start, report.end) == (date(2025, 5, 1), date(2026, 4, 20))
    assert len(report.periods) == 12


def test_agents_do_not_see_the_metrics(client: Client, orgs: Any) -> None:
    client.force_login(StaffUserFactory.create(roles=[AGENTS]))

    assert client.get(METRICS).status_code == 403
    assert client.get(METRICS_CSV, RANGE).status_code == 403
    assert (
        METRICS
        not in client.get(reverse("admin:requests_app_subjectrequest_changelist")).content.decode()
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({**RANGE, "end": "2026-02-01"}, "The end date is before the start date."),
        ({**RANGE, "start": "someday"}, "Enter a valid date."),
        ({**RANGE, "start": "2000-01-01", "grouping": "week"}, "Choose a shorter range"),
        ({**RANGE, "grouping": "decade"}, "Select a valid choice."),
    ],
)
def test_a_bad_range_gets_a_clear_message_not_an_error(
    client: Client, orgs: Any, query: dict[str, str], message: str
) -> None:
    client.force_login(StaffUserFactory.create(roles=[OFFICERS]))

    page = client.get(METRICS, query)
    download = client.get(METRICS_CSV, query)

    assert page.status_code == 200
    assert message in page.content.decode()
    assert page.context["report"] is None
    assert download.status_code == 400
    assert message in download.content.decode()
