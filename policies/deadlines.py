"""The deadline engine: when a subject request must be answered, as pure functions.

Semantics, in the order the engine applies them:

- **Local dates.** A deadline is counted on the organisation's clock: the start instant is turned
  into its local date in the organisation's time zone, and the period is added to that date.
- **Calendar days** count every day: 31 January 2027 + 30 calendar days = 2 March 2027.
- **Business days** skip Saturdays, Sundays and the public holidays of the organisation's country
  (ISO 3166-1 alpha-2, from the ``holidays`` package, which covers UZ, AZ and PK). The count starts
  on the next business day after the start, so a request received on a Saturday with 1 business
  day is due on Monday (or later, if Monday is a holiday).
- **Months** keep the day number, or the month's last day when that number does not exist:
  31 January + 1 month = 28 February (29 in a leap year).
- **Extension**: one extension, added to the due date in its own unit (after month clamping, so
  31 January + 1 month + 1 month extension = 28 March).
- **Pauses**: whole days the clock was paused push the due date after the extension, counted as
  calendar days for calendar-day and month periods and as business days for business-day periods.
- **The due instant** is the end of the local due day (23:59:59.999999 on the organisation's
  clock, correct on daylight-saving days) and is returned as an aware UTC datetime, which is what
  the database stores.

Nothing here reads the database or the clock; callers pass everything in.
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import holidays
from django.utils.translation import ngettext

from policies.models import PeriodUnit

if TYPE_CHECKING:
    from policies.models import Organization, RequestTypeRule

SATURDAY = 5


@dataclass(frozen=True)
class Period:
    """A length of time in one unit: N calendar days, N business days or N months."""

    amount: int
    unit: PeriodUnit

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"a period's amount must be an int, not {self.amount!r}")
        if self.amount < 0:
            raise ValueError(f"a period cannot be negative: {self.amount}")
        # Rules store the unit as a plain string; accept it and refuse an unknown unit early.
        object.__setattr__(self, "unit", PeriodUnit(self.unit))

    def __str__(self) -> str:
        if self.unit == PeriodUnit.CALENDAR_DAYS:
            text = ngettext("%(count)d calendar day", "%(count)d calendar days", self.amount)
        elif self.unit == PeriodUnit.BUSINESS_DAYS:
            text = ngettext("%(count)d business day", "%(count)d business days", self.amount)
        else:
            text = ngettext("%(count)d month", "%(count)d months", self.amount)
        return text % {"count": self.amount}


@functools.lru_cache(maxsize=256)
def _public_holidays(country: str, year: int) -> frozenset[date]:
    # A frozen copy per year: the `holidays` objects fill themselves in lazily on lookup, which is
    # not something to share between threads.
    try:
        calendar_of_country = holidays.country_holidays(country, years=year)
    except NotImplementedError as error:
        raise ValueError(f"no public holiday calendar for country {country!r}") from error
    return frozenset(calendar_of_country)


def is_business_day(day: date, *, country: str | None = None) -> bool:
    """Whether ``day`` is a weekday that is not a public holiday of ``country`` (if given)."""
    if day.weekday() >= SATURDAY:
        return False
    return country is None or day not in _public_holidays(country.upper(), day.year)


def _add_months(start: date, months: int) -> date:
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(start.day, last_day))


def _add_business_days(start: date, days: int, country: str | None) -> date:
    day = start
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_business_day(day, country=country):
            remaining -= 1
    return day


def add_period(start: date, period: Period, *, country: str | None = None) -> date:
    """Return the local due date ``start`` + ``period``.

    Calendar days count every day. Business days skip Saturdays, Sundays and the public holidays
    of ``country`` (ISO alpha-2; weekends only when ``None``) and the count starts the next
    business day, so the result is always a business day unless the amount is 0. Months keep the
    day number or clamp to the target month's last day. An amount of 0 returns ``start``.
    """
    if period.unit == PeriodUnit.CALENDAR_DAYS:
        return start + timedelta(days=period.amount)
    if period.unit == PeriodUnit.BUSINESS_DAYS:
        return _add_business_days(start, period.amount, country)
    return _add_months(start, period.amount)


def end_of_local_day(day: date, tz: ZoneInfo) -> datetime:
    """Return the last instant of ``day`` in ``tz`` as an aware UTC datetime.

    That is 23:59:59.999999 local time. It is computed as one microsecond before the first instant
    of the next local day, which stays right in zones whose clocks change at midnight
    (America/Santiago falls back from 24:00 to 23:00, so the day's last instant is the second
    23:59:59.999999, an hour after the first).
    """
    # fold=0 gives a non-existent local midnight (a spring-forward gap at 00:00) the offset in
    # force before the change, which is exactly the instant the gap ends: the next day's start.
    next_midnight = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return next_midnight.astimezone(UTC) - timedelta(microseconds=1)


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got the naive {moment!r}")


def _pause_unit(period: Period) -> PeriodUnit:
    if period.unit == PeriodUnit.BUSINESS_DAYS:
        return PeriodUnit.BUSINESS_DAYS
    return PeriodUnit.CALENDAR_DAYS


def due_date(
    start: datetime,
    period: Period,
    *,
    tz: ZoneInfo,
    country: str | None = None,
    paused_days: int = 0,
    extension: Period | None = None,
) -> date:
    """Return the local due day that :func:`deadline` ends; same arguments and errors."""
    _require_aware(start, "start")
    if paused_days < 0:
        raise ValueError(f"paused days cannot be negative: {paused_days}")
    day = add_period(start.astimezone(tz).date(), period, country=country)
    if extension is not None:
        day = add_period(day, extension, country=country)
    return add_period(day, Period(paused_days, _pause_unit(period)), country=country)


def deadline(
    start: datetime,
    period: Period,
    *,
    tz: ZoneInfo,
    country: str | None = None,
    paused_days: int = 0,
    extension: Period | None = None,
) -> datetime:
    """Return when a response is due, as an aware UTC datetime.

    Take ``start``'s local date in ``tz``, add ``period``, then ``extension`` (if any) to that
    due date, then push it by ``paused_days`` whole days the clock was paused (business days for
    a business-day period, calendar days otherwise); the result is the end of that local day.
    Raise ``ValueError`` if ``start`` is naive or ``paused_days`` is negative.
    """
    day = due_date(
        start, period, tz=tz, country=country, paused_days=paused_days, extension=extension
    )
    return end_of_local_day(day, tz)


def paused_days_between(start: datetime, end: datetime, *, tz: ZoneInfo) -> int:
    """Return the whole local days a clock was paused from ``start`` to ``end``.

    Every local midnight the pause spans counts one whole day: a pause that starts and ends the
    same local day counts 0, and one from 23:00 to 01:00 the next day counts 1 (a part of a day
    rounds up, so the time taken away from the response is always given back). Counting dates
    rather than hours keeps consecutive pauses additive and ignores daylight-saving changes.
    Raise ``ValueError`` if either is naive or ``end`` is before ``start``.
    """
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end < start:
        raise ValueError(f"a pause cannot end ({end}) before it starts ({start})")
    return (end.astimezone(tz).date() - start.astimezone(tz).date()).days


def response_period(rule: RequestTypeRule) -> Period:
    """Return the period a request type rule gives the business to respond."""
    return Period(rule.response_period, PeriodUnit(rule.response_unit))


def max_extension(rule: RequestTypeRule) -> Period | None:
    """Return the longest extension a rule allows, or ``None`` when it allows none."""
    if rule.max_extension == 0:
        return None
    return Period(rule.max_extension, PeriodUnit(rule.extension_unit))


def rule_deadline(
    rule: RequestTypeRule,
    start: datetime,
    *,
    organization: Organization,
    paused_days: int = 0,
    extension: Period | None = None,
) -> datetime:
    """Return :func:`deadline` for ``rule`` in the organisation's time zone and country.

    Raise ``ValueError`` if ``extension`` is longer than the rule allows (none at all when its
    maximum is 0). Lengths in different units are compared by the due date each gives: an
    extension is refused when it would end after the maximum extension would.
    """
    tz = organization.tz
    country = organization.country
    period = response_period(rule)
    if extension is not None:
        allowed = max_extension(rule)
        if allowed is None:
            raise ValueError("this request type's deadline cannot be extended")
        base = due_date(start, period, tz=tz, country=country)
        asked_day = add_period(base, extension, country=country)
        allowed_day = add_period(base, allowed, country=country)
        if asked_day > allowed_day:
            raise ValueError(
                f"an extension of {extension} is longer than the maximum of {allowed}"
                f" (due {asked_day.isoformat()}, at most {allowed_day.isoformat()})"
            )
    return deadline(
        start,
        period,
        tz=tz,
        country=country,
        paused_days=paused_days,
        extension=extension,
    )
