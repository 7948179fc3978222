"""Request metrics per organisation and period, computed by aggregate queries.

For each organisation and each month (or week) of the chosen range: requests received, by type;
requests completed and rejected in that period; how many completions met their deadline (the
extended one when there was an extension); mean and median days from receipt to closing (completed
and rejected requests); and, per organisation, how many requests are overdue right now. Received
counts go by ``received_at``, closing figures by ``closed_at``. Days, weeks and months are cut at
local midnight on the organisation's clock (``Organization.time_zone``); a report over several
organisations in different time zones is cut on the server's clock (``TIME_ZONE``) instead.

A fixed handful of grouped queries does the counting, whatever the number of requests. The median
uses PostgreSQL's ``percentile_cont``; other databases (the embedded SQLite) get it from window
functions, picking the middle row or two of each group in SQL.

One cohesive thing, and so one module: the metrics report, its grouped queries and their table.
"""

from __future__ import annotations

import csv
import io
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Window,
)
from django.db.models.functions import RowNumber, TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from policies.models import Organization, RequestType
from requests_app.models import RequestStatus, SubjectRequest, effective_due

MONTH = "month"
WEEK = "week"
GROUPINGS = {MONTH: TruncMonth, WEEK: TruncWeek}


class Median(Aggregate):
    """PostgreSQL's continuous median of the ordered values."""

    function = "percentile_cont"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


def _days_to_close() -> ExpressionWrapper:
    return ExpressionWrapper(F("closed_at") - F("received_at"), output_field=DurationField())


def _days(duration: timedelta | None) -> float | None:
    return None if duration is None else round(duration.total_seconds() / 86400, 1)


@dataclass
class MetricsRow:
    """The figures of one organisation in one period (``period`` None: the whole range)."""

    organization_id: int
    organization: str
    period: date | None
    received_by_type: dict[str, int] = field(default_factory=dict)
    received: int = 0
    completed: int = 0
    rejected: int = 0
    completed_on_time: int = 0
    mean_days_to_close: float | None = None
    median_days_to_close: float | None = None
    currently_overdue: int | None = None

    @property
    def on_time_percent(self) -> float | None:
        if not self.completed:
            return None
        return round(100 * self.completed_on_time / self.completed, 1)


@dataclass(frozen=True)
class MetricsReport:
    start: date
    end: date
    grouping: str
    periods: list[date]
    rows: list[MetricsRow]
    totals: list[MetricsRow]


def report_timezone(organizations: Iterable[Organization]) -> tzinfo:
    """The clock a report is cut on: the organisations' own, or ``TIME_ZONE`` when they differ."""
    zones = {organization.time_zone for organization in organizations}
    if len(zones) == 1:
        return zoneinfo.ZoneInfo(zones.pop())
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _bounds(start: date, end: date, tz: tzinfo) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def periods_between(start: date, end: date, grouping: str) -> list[date]:
    """Return the first day of every month (or the Monday of every week) from start to end."""
    if grouping == WEEK:
        first = start - timedelta(days=start.weekday())
        return [first + timedelta(weeks=n) for n in range((end - first).days // 7 + 1)]
    months = (end.year - start.year) * 12 + end.month - start.month
    return [
        date(start.year + (start.month - 1 + n) // 12, (start.month - 1 + n) % 12 + 1, 1)
        for n in range(months + 1)
    ]


def _period_key(value: datetime | date | None, tz: tzinfo) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(tz).date() if timezone.is_aware(value) else value.date()
    return value


def _received(
    requests: QuerySet[SubjectRequest], keys: list[str], tz: tzinfo
) -> dict[tuple[Any, ...], Any]:
    counts = {
        f"type_{value}": Count("pk", filter=Q(request_type=value)) for value in RequestType.values
    }
    rows = requests.values(*keys).annotate(received=Count("pk"), **counts).order_by()
    return {tuple(_period_key(row[k], tz) for k in keys): row for row in rows}


def _closed(
    requests: QuerySet[SubjectRequest], keys: list[str], tz: tzinfo
) -> dict[tuple[Any, ...], Any]:
    figures: dict[str, Any] = {
        "completed": Count("pk", filter=Q(status=RequestStatus.COMPLETED)),
        "rejected": Count("pk", filter=Q(status=RequestStatus.REJECTED)),
        "on_time": Count(
            "pk", filter=Q(status=RequestStatus.COMPLETED, closed_at__lte=effective_due())
        ),
        "mean": Avg(_days_to_close()),
    }
    postgres = connection.vendor == "postgresql"
    if postgres:
        figures["median"] = Median(_days_to_close(), output_field=DurationField())
    rows = requests.values(*keys).annotate(**figures).order_by()
    found = {tuple(_period_key(row[k], tz) for k in keys): row for row in rows}
    if not postgres:
        for key, median in medians_portable(requests, keys, tz).items():
            found[key]["median"] = median
    return found


def medians_portable(
    requests: QuerySet[SubjectRequest], keys: list[str], tz: tzinfo
) -> dict[tuple[Any, ...], timedelta]:
    """Median days to close per group with window functions, for databases without percentiles.

    Each row is numbered within its group in order of duration; the rows whose number is the
    middle one (odd count) or one of the middle two (even count) come back, at most two a group.
    """
    partition = [F(key) for key in keys]
    ranked = requests.annotate(
        duration=_days_to_close(),
        position=Window(RowNumber(), partition_by=partition, order_by=_days_to_close().asc()),
        group_size=Window(Count("pk"), partition_by=partition),
    ).filter(
        position__gte=(F("group_size") + 1) / 2,
        position__lte=(F("group_size") + 2) / 2,
    )
    middles: dict[tuple[Any, ...], list[timedelta]] = {}
    for row in ranked.values(*keys, "duration"):
        key = tuple(_period_key(row[k], tz) for k in keys)
        middles.setdefault(key, []).append(row["duration"])
    return {key: sum(values, timedelta()) / len(values) for key, values in middles.items()}


def _fill(row: MetricsRow, received: Any | None, closed: Any | None) -> MetricsRow:
    if received:
        row.received = received["received"]
        row.received_by_type = {v: received[f"type_{v}"] for v in RequestType.values}
    else:
        row.received_by_type = dict.fromkeys(RequestType.values, 0)
    if closed:
        row.completed = closed["completed"]
        row.rejected = closed["rejected"]
        row.completed_on_time = closed["on_time"]
        row.mean_days_to_close = _days(closed["mean"])
        row.median_days_to_close = _days(closed.get("median"))
    return row


def metrics_report(
    *,
    start: date,
    end: date,
    grouping: str = MONTH,
    organizations: Iterable[Organization] | None = None,
    at: datetime | None = None,
) -> MetricsReport:
    """Return the figures of ``organizations`` (all by default) from ``start`` to ``end``.

    The range and its periods are cut on ``report_timezone(organizations)``.
    """
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown grouping {grouping!r}")
    if end < start:
        raise ValueError("the range ends before it starts")
    now = at or timezone.now()
    orgs = list(organizations if organizations is not None else Organization.objects.all())
    org_ids = [org.pk for org in orgs]
    tz = report_timezone(orgs)
    since, until = _bounds(start, end, tz)
    trunc = GROUPINGS[grouping]
    scope = SubjectRequest.objects.filter(organization_id__in=org_ids)
    received_in = scope.filter(received_at__gte=since, received_at__lt=until)
    closed_in = scope.filter(
        closed_at__gte=since,
        closed_at__lt=until,
        status__in=[RequestStatus.COMPLETED, RequestStatus.REJECTED],
    )
    by_period = ["organization_id", "period"]
    received = _received(
        received_in.annotate(period=trunc("received_at", tzinfo=tz)), by_period, tz
    )
    closed = _closed(closed_in.annotate(period=trunc("closed_at", tzinfo=tz)), by_period, tz)
    received_total = _received(received_in, ["organization_id"], tz)
    closed_total = _closed(closed_in, ["organization_id"], tz)
    overdue = dict(
        SubjectRequest.objects.overdue(now)
        .filter(organization_id__in=org_ids)
        .values_list("organization_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    periods = periods_between(start, end, grouping)
    rows = [
        _fill(
            MetricsRow(org.pk, org.name, period),
            received.get((org.pk, period)),
            closed.get((org.pk, period)),
        )
        for org in orgs
        for period in periods
    ]
    totals = []
    for org in orgs:
        total = _fill(
            MetricsRow(org.pk, org.name, None),
            received_total.get((org.pk,)),
            closed_total.get((org.pk,)),
        )
        total.currently_overdue = overdue.get(org.pk, 0)
        totals.append(total)
    return MetricsReport(start, end, grouping, periods, rows, totals)


# --- CSV --------------------------------------------------------------------------------------


def metrics_csv(report: MetricsReport) -> str:
    """Return the report as CSV: one row per organisation and period, then one total each."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "organization",
            "period",
            *(f"received_{value}" for value in RequestType.values),
            "received",
            "completed",
            "rejected",
            "completed_on_time",
            "on_time_percent",
            "mean_days_to_close",
            "median_days_to_close",
            "currently_overdue",
        ]
    )
    for row in [*report.rows, *report.totals]:
        writer.writerow(
            [
                row.organization,
                row.period.isoformat() if row.period else "total",
                *(row.received_by_type[value] for value in RequestType.values),
                row.received,
                row.completed,
                row.rejected,
                row.completed_on_time,
                _blank(row.on_time_percent),
                _blank(row.mean_days_to_close),
                _blank(row.median_days_to_close),
                _blank(row.currently_overdue),
            ]
        )
    return out.getvalue()


def _blank(value: object) -> object:
    return "" if value is None else value


# --- Chart ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    series_title: str
    label: str
    value: int


@dataclass(frozen=True)
class Chart:
    """A grouped bar chart laid out for an inline SVG: one group of bars per period."""

    width: int
    height: int
    plot_top: int
    plot_bottom: int
    plot_left: int
    bars: list[Bar]
    ticks: list[tuple[float, int]]
    labels: list[tuple[float, str]]
    legend: list[tuple[str, str, int]]

    @property
    def tick_x(self) -> int:
        return self.plot_left - 6

    @property
    def label_y(self) -> int:
        return self.plot_bottom + 16

    @property
    def legend_y(self) -> int:
        return self.height - 14


SERIES = [
    ("received", _("received")),
    ("completed", _("completed")),
    ("rejected", _("rejected")),
]


def metrics_chart(report: MetricsReport, *, width: int = 760, height: int = 260) -> Chart:
    """Lay out received, completed and rejected per period, summed over the organisations."""
    sums: dict[date, dict[str, int]] = {
        period: dict.fromkeys(("received", "completed", "rejected"), 0) for period in report.periods
    }
    for row in report.rows:
        if row.period in sums:
            for name in sums[row.period]:
                sums[row.period][name] += getattr(row, name)
    top, bottom, left, right = 12, height - 40, 44, width - 8
    peak = max([1, *(v for values in sums.values() for v in values.values())])
    scale = (bottom - top) / peak
    slot = (right - left) / max(1, len(report.periods))
    bar_width = max(1.0, slot * 0.8 / len(SERIES))
    bars: list[Bar] = []
    labels: list[tuple[float, str]] = []
    every = max(1, len(report.periods) // 12)  # at most a dozen labels under the axis
    for index, period in enumerate(report.periods):
        x0 = left + index * slot + slot * 0.1
        label = period.strftime("%Y-%m") if report.grouping == MONTH else period.isoformat()
        for n, (name, title) in enumerate(SERIES):
            value = sums[period][name]
            bars.append(
                Bar(
                    x=round(x0 + n * bar_width, 2),
                    y=round(bottom - value * scale, 2),
                    width=round(bar_width, 2),
                    height=round(value * scale, 2),
                    series=name,
                    series_title=str(title),
                    label=label,
                    value=value,
                )
            )
        if index % every == 0:
            labels.append((round(left + index * slot + slot / 2, 2), label))
    ticks = [(round(bottom - v * scale, 2), v) for v in sorted({0, peak // 2, peak})]
    return Chart(
        width=width,
        height=height,
        plot_top=top,
        plot_bottom=bottom,
        plot_left=left,
        bars=bars,
        ticks=ticks,
        labels=labels,
        legend=[(name, str(title), left + 120 * n) for n, (name, title) in enumerate(SERIES)],
    )
