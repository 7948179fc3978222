"""The deadline engine: worked examples from the seed policies, then properties with hypothesis.

Holiday dates come from the ``holidays`` package (0.109): Uzbekistan gives Monday 31 August 2026
off by decree before Independence Day on Tuesday 1 September; Pakistan's Independence Day,
14 August 2026, is a Friday; Azerbaijan's National Liberation Day, 15 June 2026, is a Monday.
Time zones come from the system's zoneinfo: Europe/Berlin springs forward at 01:00 UTC on
29 March 2026 and falls back at 01:00 UTC on 25 October 2026; Asia/Baku and Asia/Tashkent have no
daylight-saving time; America/Santiago changes its clocks at local midnight (falls back on
4 April 2026 at 24:00, springs forward on 6 September 2026 at 00:00).
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.deadlines import (
    Period,
    add_period,
    deadline,
    due_date,
    end_of_local_day,
    is_business_day,
    max_extension,
    paused_days_between,
    rule_deadline,
)
from policies.models import Organization, PeriodUnit, RequestTypeRule

CAL = PeriodUnit.CALENDAR_DAYS
BIZ = PeriodUnit.BUSINESS_DAYS
MON = PeriodUnit.MONTHS

TASHKENT = ZoneInfo("Asia/Tashkent")
BAKU = ZoneInfo("Asia/Baku")
KARACHI = ZoneInfo("Asia/Karachi")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SANTIAGO = ZoneInfo("America/Santiago")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # a 30-minute daylight-saving shift

LAST_MICROSECOND = time(23, 59, 59, 999999)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def smartpos() -> Organization:
    # Unsaved instances: the engine reads attributes only, so these tests need no database.
    return Organization(name="Smartpos", country="UZ", time_zone="Asia/Tashkent")


def rule(**fields: object) -> RequestTypeRule:
    defaults: dict[str, object] = {
        "response_period": 30,
        "response_unit": CAL,
        "max_extension": 0,
        "extension_unit": CAL,
    }
    return RequestTypeRule(**{**defaults, **fields})


# --- worked examples ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "period", "country", "expected"),
    [
        pytest.param(date(2027, 1, 31), Period(30, CAL), None, date(2027, 3, 2), id="smartpos-30d"),
        pytest.param(date(2026, 6, 23), Period(30, CAL), None, date(2026, 7, 23), id="zpos-30d"),
        pytest.param(date(2026, 1, 31), Period(1, MON), None, date(2026, 2, 28), id="jan31+1m"),
        pytest.param(
            date(2028, 1, 31), Period(1, MON), None, date(2028, 2, 29), id="leap-jan31+1m"
        ),
        pytest.param(date(2026, 8, 31), Period(6, MON), None, date(2027, 2, 28), id="clopos-6m"),
        pytest.param(date(2026, 3, 15), Period(1, MON), None, date(2026, 4, 15), id="same-day-no"),
        pytest.param(date(2026, 11, 30), Period(3, MON), None, date(2027, 2, 28), id="across-year"),
        pytest.param(date(2026, 5, 31), Period(0, MON), None, date(2026, 5, 31), id="zero-months"),
        # Friday + 1 business day: the weekend is skipped.
        pytest.param(date(2026, 8, 28), Period(1, BIZ), None, date(2026, 8, 31), id="fri+1bd"),
        # Saturday + 1 business day: the count starts on the next business day, Monday.
        pytest.param(date(2026, 8, 29), Period(1, BIZ), None, date(2026, 8, 31), id="sat+1bd"),
        # Uzbekistan: Mon 31 Aug 2026 (decree day off) and Tue 1 Sep (Independence Day).
        pytest.param(date(2026, 8, 28), Period(1, BIZ), "UZ", date(2026, 9, 2), id="uz-indep"),
        pytest.param(date(2026, 8, 28), Period(5, BIZ), "UZ", date(2026, 9, 8), id="uz-5bd"),
        pytest.param(date(2026, 8, 28), Period(1, BIZ), "uz", date(2026, 9, 2), id="uz-lower"),
        # Pakistan: Independence Day, Friday 14 Aug 2026, then the weekend.
        pytest.param(date(2026, 8, 13), Period(1, BIZ), "PK", date(2026, 8, 17), id="pk-indep"),
        # Azerbaijan: National Liberation Day, Monday 15 Jun 2026.
        pytest.param(date(2026, 6, 12), Period(1, BIZ), "AZ", date(2026, 6, 16), id="az-15jun"),
        pytest.param(date(2026, 6, 12), Period(0, BIZ), "AZ", date(2026, 6, 12), id="zero-bd"),
    ],
)
def test_add_period_matches_the_worked_example(
    start: date, period: Period, country: str | None, expected: date
) -> None:
    assert add_period(start, period, country=country) == expected


def test_a_smartpos_claim_received_on_31_january_2027_is_due_at_the_end_of_2_march_tashkent() -> (
    None
):
    received = datetime(2027, 1, 31, 10, 0, tzinfo=TASHKENT)

    due = deadline(received, Period(30, CAL), tz=TASHKENT, country="UZ")

    assert due == utc(2027, 3, 2, 18, 59, 59, 999999)
    assert due.tzinfo is UTC
    assert due.astimezone(TASHKENT).date() == date(2027, 3, 2)


def test_the_start_counts_by_its_local_date_not_its_utc_date() -> None:
    # 19:30 UTC on 31 January is 00:30 on 1 February in Tashkent.
    received = utc(2027, 1, 31, 19, 30)

    due = deadline(received, Period(30, CAL), tz=TASHKENT)

    assert due == utc(2027, 3, 3, 18, 59, 59, 999999)


def test_a_clopos_overdue_licence_purge_falls_on_28_february_2027_in_baku() -> None:
    overdue_since = datetime(2026, 8, 31, 9, 0, tzinfo=BAKU)

    due = deadline(overdue_since, Period(6, MON), tz=BAKU, country="AZ")

    assert due == utc(2027, 2, 28, 19, 59, 59, 999999)


@pytest.mark.parametrize(
    ("day", "tz", "expected"),
    [
        # Berlin springs forward on 29 March 2026: the day ends at 23:59:59.999999 CEST (+02:00).
        pytest.param(date(2026, 3, 28), BERLIN, utc(2026, 3, 28, 22, 59, 59, 999999), id="de-pre"),
        pytest.param(
            date(2026, 3, 29), BERLIN, utc(2026, 3, 29, 21, 59, 59, 999999), id="de-spring"
        ),
        # ... and falls back on 25 October 2026: the day ends in CET (+01:00).
        pytest.param(
            date(2026, 10, 25), BERLIN, utc(2026, 10, 25, 22, 59, 59, 999999), id="de-fall"
        ),
        # Baku has kept +04:00 all year since 2016.
        pytest.param(date(2026, 3, 29), BAKU, utc(2026, 3, 29, 19, 59, 59, 999999), id="baku"),
        pytest.param(
            date(2026, 10, 25), BAKU, utc(2026, 10, 25, 19, 59, 59, 999999), id="baku-oct"
        ),
        # Santiago falls back at 24:00 on 4 April 2026: the day's last instant is the second
        # 23:59:59.999999, in -04:00, an hour after the first one in -03:00.
        pytest.param(date(2026, 4, 4), SANTIAGO, utc(2026, 4, 5, 3, 59, 59, 999999), id="cl-fall"),
        # Santiago springs forward at 00:00 on 6 September 2026: 5 September ends in -04:00.
        pytest.param(
            date(2026, 9, 5), SANTIAGO, utc(2026, 9, 6, 3, 59, 59, 999999), id="cl-spring"
        ),
    ],
)
def test_end_of_local_day_is_the_right_utc_instant_on_daylight_saving_days(
    day: date, tz: ZoneInfo, expected: datetime
) -> None:
    end = end_of_local_day(day, tz)

    assert end == expected
    assert end.tzinfo is UTC
    assert end.astimezone(tz).date() == day
    assert (end + timedelta(microseconds=1)).astimezone(tz).date() == day + timedelta(days=1)


def test_berlin_spring_forward_day_lasts_23_hours_and_fall_back_day_25() -> None:
    spring = end_of_local_day(date(2026, 3, 29), BERLIN) - end_of_local_day(
        date(2026, 3, 28), BERLIN
    )
    autumn = end_of_local_day(date(2026, 10, 25), BERLIN) - end_of_local_day(
        date(2026, 10, 24), BERLIN
    )

    assert spring == timedelta(hours=23)
    assert autumn == timedelta(hours=25)


def test_an_extension_is_added_to_the_due_date_in_its_own_unit() -> None:
    received = datetime(2027, 1, 31, 10, 0, tzinfo=TASHKENT)

    due = deadline(received, Period(30, CAL), tz=TASHKENT, extension=Period(30, CAL))

    # 2 March 2027 + 30 calendar days.
    assert due.astimezone(TASHKENT).date() == date(2027, 4, 1)


def test_a_month_extension_starts_from_the_clamped_due_date() -> None:
    received = datetime(2026, 1, 31, 10, 0, tzinfo=BERLIN)

    due = deadline(received, Period(1, MON), tz=BERLIN, extension=Period(2, MON))

    # 31 January + 1 month = 28 February; + 2 months = 28 April, the end of that day in CEST.
    assert due == utc(2026, 4, 28, 21, 59, 59, 999999)


def test_paused_days_push_a_calendar_deadline_by_calendar_days() -> None:
    received = datetime(2027, 1, 31, 10, 0, tzinfo=TASHKENT)

    due = deadline(received, Period(30, CAL), tz=TASHKENT, country="UZ", paused_days=3)

    assert due.astimezone(TASHKENT).date() == date(2027, 3, 5)


def test_paused_days_push_a_month_deadline_by_calendar_days() -> None:
    overdue_since = datetime(2026, 8, 31, 9, 0, tzinfo=BAKU)

    due = deadline(overdue_since, Period(6, MON), tz=BAKU, country="AZ", paused_days=2)

    assert due.astimezone(BAKU).date() == date(2027, 3, 2)


def test_paused_days_push_a_business_day_deadline_by_business_days() -> None:
    received = datetime(2026, 8, 28, 12, 0, tzinfo=TASHKENT)

    due = deadline(received, Period(5, BIZ), tz=TASHKENT, country="UZ", paused_days=4)

    # 5 business days from Friday 28 August is Tuesday 8 September; 4 more skip the weekend and
    # end on Monday 14 September (4 calendar days would end on Saturday the 12th).
    assert due.astimezone(TASHKENT).date() == date(2026, 9, 14)


def test_pause_extension_and_period_combine_in_that_order() -> None:
    received = datetime(2026, 1, 31, 10, 0, tzinfo=BERLIN)

    day = due_date(received, Period(1, MON), tz=BERLIN, extension=Period(1, MON), paused_days=1)

    # 28 February, + 1 month = 28 March, + 1 day = 29 March.
    assert day == date(2026, 3, 29)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(
            datetime(2026, 5, 4, 9, 0, tzinfo=TASHKENT),
            datetime(2026, 5, 4, 17, 0, tzinfo=TASHKENT),
            0,
            id="same-local-day",
        ),
        pytest.param(
            datetime(2026, 5, 4, 23, 0, tzinfo=TASHKENT),
            datetime(2026, 5, 5, 1, 0, tzinfo=TASHKENT),
            1,
            id="two-hours-over-midnight-round-up",
        ),
        pytest.param(
            datetime(2026, 5, 4, 9, 0, tzinfo=TASHKENT),
            datetime(2026, 5, 11, 9, 0, tzinfo=TASHKENT),
            7,
            id="a-week",
        ),
        # 20:00 and 22:00 UTC on 4 May are 01:00 and 03:00 on 5 May in Tashkent: one local day.
        pytest.param(utc(2026, 5, 4, 20, 0), utc(2026, 5, 4, 22, 0), 0, id="local-not-utc"),
        # Across Berlin's spring-forward night: one local midnight, 23 hours later.
        pytest.param(
            datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN),
            datetime(2026, 3, 29, 12, 0, tzinfo=BERLIN),
            1,
            id="dst-night",
        ),
    ],
)
def test_paused_days_between_counts_whole_local_days(
    start: datetime, end: datetime, expected: int
) -> None:
    tz = start.tzinfo if isinstance(start.tzinfo, ZoneInfo) else TASHKENT

    assert paused_days_between(start, end, tz=tz) == expected


def test_a_pause_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        paused_days_between(utc(2026, 5, 5), utc(2026, 5, 4), tz=TASHKENT)


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        deadline(datetime(2027, 1, 31, 10, 0), Period(30, CAL), tz=TASHKENT)  # noqa: DTZ001


def test_a_naive_pause_boundary_is_refused() -> None:
    naive_end = datetime(2026, 5, 5, 10, 0)  # noqa: DTZ001

    with pytest.raises(ValueError, match="aware"):
        paused_days_between(utc(2026, 5, 4), naive_end, tz=TASHKENT)


def test_negative_paused_days_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        deadline(utc(2026, 5, 4), Period(30, CAL), tz=TASHKENT, paused_days=-1)


def test_a_negative_period_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Period(-1, CAL)


def test_an_unknown_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="weeks"):
        Period(2, "weeks")  # type: ignore[arg-type]


def test_a_unit_stored_as_a_string_becomes_a_period_unit() -> None:
    assert Period(6, "months").unit is PeriodUnit.MONTHS  # type: ignore[arg-type]


def test_business_days_in_a_country_without_a_holiday_calendar_are_refused() -> None:
    with pytest.raises(ValueError, match="no public holiday calendar"):
        add_period(date(2026, 8, 28), Period(1, BIZ), country="QQ")


@pytest.mark.parametrize(
    ("period", "text"),
    [
        (Period(30, CAL), "30 calendar days"),
        (Period(1, CAL), "1 calendar day"),
        (Period(10, BIZ), "10 business days"),
        (Period(1, BIZ), "1 business day"),
        (Period(6, MON), "6 months"),
        (Period(1, MON), "1 month"),
    ],
)
def test_a_period_reads_as_its_amount_and_unit(period: Period, text: str) -> None:
    assert str(period) == text


# --- request type rules ------------------------------------------------------------------------


def test_rule_deadline_uses_the_organisation_time_zone_and_holidays() -> None:
    claim = rule(response_period=1, response_unit=BIZ)

    due = rule_deadline(
        claim, datetime(2026, 8, 28, 12, 0, tzinfo=TASHKENT), organization=smartpos()
    )

    # Monday 31 August and Tuesday 1 September are Uzbek holidays.
    assert due == utc(2026, 9, 2, 18, 59, 59, 999999)


def test_rule_deadline_answers_the_smartpos_written_claim_in_30_calendar_days() -> None:
    due = rule_deadline(
        rule(), datetime(2027, 1, 31, 10, 0, tzinfo=TASHKENT), organization=smartpos()
    )

    assert due == utc(2027, 3, 2, 18, 59, 59, 999999)


def test_rule_deadline_applies_an_extension_within_the_maximum() -> None:
    monthly = rule(response_period=1, response_unit=MON, max_extension=2, extension_unit=MON)

    due = rule_deadline(
        monthly,
        datetime(2026, 1, 31, 10, 0, tzinfo=TASHKENT),
        organization=smartpos(),
        extension=Period(59, CAL),
    )

    # 28 February + 59 days = 28 April, the same day 2 months would give.
    assert due.astimezone(TASHKENT).date() == date(2026, 4, 28)


def test_rule_deadline_applies_pauses() -> None:
    due = rule_deadline(
        rule(),
        datetime(2027, 1, 31, 10, 0, tzinfo=TASHKENT),
        organization=smartpos(),
        paused_days=4,
    )

    assert due.astimezone(TASHKENT).date() == date(2027, 3, 6)


@pytest.mark.parametrize(
    "extension",
    [Period(3, MON), Period(60, CAL)],
    ids=["more-months", "more-days-than-the-months-give"],
)
def test_an_extension_past_the_maximum_is_refused(extension: Period) -> None:
    monthly = rule(response_period=1, response_unit=MON, max_extension=2, extension_unit=MON)

    with pytest.raises(ValueError, match="longer than the maximum"):
        rule_deadline(
            monthly,
            datetime(2026, 1, 31, 10, 0, tzinfo=TASHKENT),
            organization=smartpos(),
            extension=extension,
        )


def test_an_extension_of_a_rule_without_one_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be extended"):
        rule_deadline(
            rule(max_extension=0),
            datetime(2027, 1, 31, 10, 0, tzinfo=TASHKENT),
            organization=smartpos(),
            extension=Period(1, CAL),
        )


def test_max_extension_is_none_when_the_rule_allows_none() -> None:
    assert max_extension(rule(max_extension=0)) is None
    assert max_extension(rule(max_extension=2, extension_unit=MON)) == Period(2, MON)


# --- properties --------------------------------------------------------------------------------

FAST = settings(max_examples=200, deadline=None, database=None)

ZONES = [TASHKENT, BAKU, KARACHI, BERLIN, NEW_YORK, SANTIAGO, LORD_HOWE]
DST_ZONES = [BERLIN, NEW_YORK, SANTIAGO, LORD_HOWE]
COUNTRIES = [None, "UZ", "AZ", "PK"]

zones = st.sampled_from(ZONES)
countries = st.sampled_from(COUNTRIES)
units = st.sampled_from(list(PeriodUnit))
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
instants = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2035, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@st.composite
def periods(draw: st.DrawFn, unit: PeriodUnit | None = None) -> Period:
    chosen = unit if unit is not None else draw(units)
    ceiling = 24 if chosen == PeriodUnit.MONTHS else 120
    return Period(draw(st.integers(min_value=0, max_value=ceiling)), chosen)


@FAST
@given(
    start=instants,
    period=periods(),
    tz=zones,
    country=countries,
    paused=st.integers(min_value=0, max_value=60),
    extension=st.none() | periods(),
)
def test_the_due_instant_is_never_before_the_start(
    start: datetime,
    period: Period,
    tz: ZoneInfo,
    country: str | None,
    paused: int,
    extension: Period | None,
) -> None:
    due = deadline(start, period, tz=tz, country=country, paused_days=paused, extension=extension)

    assert due >= start
    assert due.tzinfo is UTC


@FAST
@given(first=instants, second=instants, period=periods(), tz=zones, country=countries)
def test_a_later_start_never_gives_an_earlier_due_instant(
    first: datetime, second: datetime, period: Period, tz: ZoneInfo, country: str | None
) -> None:
    earlier, later = sorted([first, second])

    assert deadline(earlier, period, tz=tz, country=country) <= deadline(
        later, period, tz=tz, country=country
    )


@FAST
@given(
    start=instants,
    unit=units,
    amounts=st.lists(st.integers(min_value=0, max_value=120), min_size=2, max_size=2),
    tz=zones,
    country=countries,
)
def test_a_longer_period_never_gives_an_earlier_due_instant(
    start: datetime, unit: PeriodUnit, amounts: list[int], tz: ZoneInfo, country: str | None
) -> None:
    shorter, longer = sorted(amounts)

    assert deadline(start, Period(shorter, unit), tz=tz, country=country) <= deadline(
        start, Period(longer, unit), tz=tz, country=country
    )


@FAST
@given(start=days, months=st.integers(min_value=0, max_value=60))
def test_months_keep_the_day_number_or_clamp_to_the_last_day(start: date, months: int) -> None:
    result = add_period(start, Period(months, MON))

    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
    assert result.day == min(start.day, calendar.monthrange(result.year, result.month)[1])


@FAST
@given(start=days, amount=st.integers(min_value=1, max_value=60), country=countries)
def test_business_day_results_are_never_a_weekend_or_a_holiday(
    start: date, amount: int, country: str | None
) -> None:
    result = add_period(start, Period(amount, BIZ), country=country)

    assert result.weekday() < 5
    assert is_business_day(result, country=country)
    between = [start + timedelta(days=n) for n in range(1, (result - start).days + 1)]
    assert sum(is_business_day(day, country=country) for day in between) == amount


@FAST
@given(
    start=instants,
    amount=st.integers(min_value=1, max_value=60),
    tz=zones,
    country=countries,
    paused=st.integers(min_value=0, max_value=30),
)
def test_paused_business_day_deadlines_still_end_on_a_business_day(
    start: datetime, amount: int, tz: ZoneInfo, country: str | None, paused: int
) -> None:
    due = deadline(start, Period(amount, BIZ), tz=tz, country=country, paused_days=paused)

    assert is_business_day(due.astimezone(tz).date(), country=country)


@FAST
@given(day=days, tz=st.sampled_from(DST_ZONES))
def test_end_of_local_day_is_the_last_instant_of_that_local_day_in_dst_zones(
    day: date, tz: ZoneInfo
) -> None:
    end = end_of_local_day(day, tz)

    assert end.tzinfo is UTC
    assert end.astimezone(tz).date() == day
    assert (end + timedelta(microseconds=1)).astimezone(tz).date() == day + timedelta(days=1)
    # Days are 23 to 25 hours long, never more, even across a change of the clocks.
    length = end - end_of_local_day(day - timedelta(days=1), tz)
    assert timedelta(hours=23) <= length <= timedelta(hours=25)


@FAST
@given(
    day=st.sampled_from(
        # The daylight-saving days of Europe/Berlin in the engine's range, plus their neighbours.
        [
            date(year, month, last_sunday) + timedelta(days=shift)
            for year in range(2020, 2036)
            for month in (3, 10)
            for last_sunday in [max(week[6] for week in calendar.monthcalendar(year, month))]
            for shift in (-1, 0, 1)
        ]
    ),
    hour=st.integers(min_value=0, max_value=23),
    period=periods(),
)
def test_due_instants_on_berlin_dst_days_end_at_local_midnight(
    day: date, hour: int, period: Period
) -> None:
    start = datetime.combine(day, time(hour), tzinfo=BERLIN)

    due = deadline(start, period, tz=BERLIN).astimezone(BERLIN)

    assert due.time() == LAST_MICROSECOND
    assert due.date() == add_period(day, period)


@FAST
@given(moments=st.lists(instants, min_size=3, max_size=3), tz=zones)
def test_consecutive_pauses_add_up_to_one_long_pause(moments: list[datetime], tz: ZoneInfo) -> None:
    a, b, c = sorted(moments)

    total = paused_days_between(a, c, tz=tz)

    assert paused_days_between(a, b, tz=tz) + paused_days_between(b, c, tz=tz) == total
    # Every local midnight inside the pause counts a day, and local days last 23 to 25 hours, so
    # the count is within a day of the elapsed time however the clocks change.
    assert (total - 1) * timedelta(hours=23) < c - a < (total + 1) * timedelta(hours=25)
