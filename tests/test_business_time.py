"""Business-time arithmetic: worked examples and properties against a minute-by-minute oracle."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.brands import DAY_MS, BusinessCalendar
from streams.business_time import (
    BLOCK_DAYS,
    business_deadline_ms,
    business_deadlines_ms,
    business_elapsed_ms,
    business_intervals,
)

BERLIN = ZoneInfo("Europe/Berlin")
MIN = 60_000
HOUR = 3_600_000


def berlin(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=BERLIN).timestamp() * 1000)


def local(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, BERLIN).strftime("%a %Y-%m-%d %H:%M:%S.%f%z")


OFFICE = BusinessCalendar.weekly(
    "Europe/Berlin", {d: [("09:00", "17:00")] for d in range(5)},
    holidays=[date(2026, 12, 25)])


def test_no_calendar_is_wall_time() -> None:
    assert business_elapsed_ms(1000, 5000, None) == 4000
    assert business_elapsed_ms(5000, 1000, None) == 0
    assert business_deadline_ms(1000, 3600, None) == 4600


def test_friday_afternoon_post_is_due_monday_morning() -> None:
    # Fri 2026-11-06 16:30: 30 min left on Friday, the other 30 min on Monday from 09:00.
    start = berlin(2026, 11, 6, 16, 30)
    deadline = business_deadline_ms(start, HOUR, OFFICE)
    assert local(deadline) == "Mon 2026-11-09 09:30:00.000000+0100"
    assert business_elapsed_ms(start, deadline, OFFICE) == HOUR
    assert business_elapsed_ms(start, berlin(2026, 11, 8, 23, 59), OFFICE) == 30 * MIN


def test_post_outside_hours_starts_the_clock_at_the_next_opening() -> None:
    start = berlin(2026, 11, 7, 11, 0)  # Saturday
    assert local(business_deadline_ms(start, HOUR, OFFICE)) == \
        "Mon 2026-11-09 10:00:00.000000+0100"
    early = berlin(2026, 11, 10, 6, 0)  # Tuesday before opening
    assert local(business_deadline_ms(early, HOUR, OFFICE)) == \
        "Tue 2026-11-10 10:00:00.000000+0100"


def test_holiday_is_skipped() -> None:
    start = berlin(2026, 12, 24, 16, 0)  # Thursday; Friday 25th is a holiday
    assert local(business_deadline_ms(start, 2 * HOUR, OFFICE)) == \
        "Mon 2026-12-28 10:00:00.000000+0100"


def test_budget_used_up_exactly_at_closing_stays_equal_overnight() -> None:
    # The budget runs out at 17:00 exactly. Elapsed stays == budget all night, so the item is
    # NOT past the deadline until the next opening ("passes" = strictly greater).
    start = berlin(2026, 11, 10, 16, 0)
    deadline = business_deadline_ms(start, HOUR, OFFICE)
    assert local(deadline) == "Tue 2026-11-10 17:00:00.000000+0100"
    assert business_elapsed_ms(start, berlin(2026, 11, 11, 8, 59), OFFICE) == HOUR
    past = business_deadline_ms(start, HOUR + 1, OFFICE)
    assert local(past) == "Wed 2026-11-11 09:00:00.001000+0100"
    assert business_deadlines_ms(start, HOUR, OFFICE) == (deadline, past)


def test_intervals_across_midnight_are_continuous() -> None:
    night = BusinessCalendar.weekly(
        "Europe/Berlin", {d: [("00:00", "02:00"), ("20:00", "24:00")] for d in range(7)})
    start = berlin(2026, 11, 10, 23, 0)
    assert business_elapsed_ms(start, berlin(2026, 11, 11, 3, 0), night) == 3 * HOUR
    assert business_intervals(start, berlin(2026, 11, 11, 3, 0), night) == [
        (start, berlin(2026, 11, 11, 2, 0))]


def test_dst_spring_forward_hour_does_not_exist() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST. 01:00-04:00 local is 2 real hours that day.
    cal = BusinessCalendar.weekly("Europe/Berlin", {6: [("01:00", "04:00")]})
    day = (berlin(2026, 3, 29), berlin(2026, 3, 30))
    assert business_elapsed_ms(*day, cal) == 2 * HOUR
    assert local(business_deadline_ms(day[0], 90 * MIN, cal)) == \
        "Sun 2026-03-29 03:30:00.000000+0200"
    # An opening inside the gap starts at the first existing instant after it.
    gap = BusinessCalendar.weekly("Europe/Berlin", {6: [("02:30", "05:00")]})
    assert business_intervals(*day, gap) == [(berlin(2026, 3, 29, 3, 0),
                                              berlin(2026, 3, 29, 5, 0))]


def test_dst_fall_back_hour_counts_twice() -> None:
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET. 01:00-04:00 local is 4 real hours.
    cal = BusinessCalendar.weekly("Europe/Berlin", {6: [("01:00", "04:00")]})
    day = (berlin(2026, 10, 25), berlin(2026, 10, 26))
    assert business_elapsed_ms(*day, cal) == 4 * HOUR
    # 02:30-05:00 local: 02:30-03:00 CEST, then (after the fall-back to 02:00) 02:30-05:00 CET.
    late = BusinessCalendar.weekly("Europe/Berlin", {6: [("02:30", "05:00")]})
    utc = datetime(2026, 10, 25, tzinfo=UTC)
    ms = [int((utc + timedelta(minutes=m)).timestamp() * 1000) for m in (30, 60, 90, 240)]
    assert business_intervals(*day, late) == [(ms[0], ms[1]), (ms[2], ms[3])]


def test_calendar_validation() -> None:
    with pytest.raises(ValueError, match="closed on every day"):
        BusinessCalendar.weekly("Europe/Berlin", {})
    with pytest.raises(ValueError, match="not before"):
        BusinessCalendar.weekly("Europe/Berlin", {0: [("10:00", "09:00")]})
    with pytest.raises(ValueError, match="time zone"):
        BusinessCalendar.weekly("Mars/Olympus", {0: [("09:00", "10:00")]})


# -- properties against a brute-force oracle ---------------------------------------------------

def oracle_elapsed(start: int, end: int, cal: BusinessCalendar) -> int:
    """Minute by minute (start and end on whole minutes): is this minute business time?"""
    zone = ZoneInfo(cal.tz)
    total = 0
    for m in range(start, end, MIN):
        t = datetime.fromtimestamp(m / 1000, zone)
        if t.date() in cal.holidays:
            continue
        minute = t.hour * 60 + t.minute
        for o, c in cal.hours[t.weekday()]:
            ho, mo = map(int, o.split(":"))
            hc, mc = map(int, c.split(":"))
            if ho * 60 + mo <= minute < hc * 60 + mc:
                total += MIN
                break
    return total


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    hours = {}
    for day in range(7):
        kind = draw(st.integers(0, 4))
        if kind == 0:
            continue
        if kind == 1:
            hours[day] = [("00:00", "24:00")]
            continue
        # 1 or 2 intervals on a 15-minute grid, biased to the DST hours 01:00-04:00
        cuts = sorted(draw(st.sets(st.integers(0, 96), min_size=2, max_size=4)))
        if len(cuts) % 2:
            cuts = cuts[:-1]
        hours[day] = [(f"{a * 15 // 60:02d}:{a * 15 % 60:02d}",
                       f"{b * 15 // 60:02d}:{b * 15 % 60:02d}")
                      for a, b in zip(cuts[::2], cuts[1::2], strict=True)]
    if not any(hours.values()):
        hours[draw(st.integers(0, 6))] = [("01:30", "03:30")]
    holidays = draw(st.sets(st.sampled_from(
        [date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30), date(2026, 10, 24),
         date(2026, 10, 25), date(2026, 10, 26)]), max_size=2))
    return BusinessCalendar.weekly("Europe/Berlin", hours, holidays)


# Windows around both 2026 DST changes in Berlin, on whole minutes.
_ANCHORS = [berlin(2026, 3, 27), berlin(2026, 10, 23)]
minute_instants = st.builds(lambda a, m: a + m * MIN, st.sampled_from(_ANCHORS),
                            st.integers(0, 4 * 24 * 60))


@settings(max_examples=60, deadline=None)
@given(cal=calendars(), a=minute_instants, span=st.integers(0, 2 * 24 * 60))
def test_elapsed_matches_minute_oracle(cal: BusinessCalendar, a: int, span: int) -> None:
    b = a + span * MIN
    assert business_elapsed_ms(a, b, cal) == oracle_elapsed(a, b, cal)


@settings(max_examples=200, deadline=None)
@given(cal=calendars(), a=minute_instants, d1=st.integers(0, 3 * 86_400_000),
       d2=st.integers(0, 3 * 86_400_000))
def test_elapsed_is_additive(cal: BusinessCalendar, a: int, d1: int, d2: int) -> None:
    b, c = a + d1, a + d1 + d2
    assert business_elapsed_ms(a, c, cal) == \
        business_elapsed_ms(a, b, cal) + business_elapsed_ms(b, c, cal)


@settings(max_examples=200, deadline=None)
@given(cal=calendars(), a=minute_instants, offset=st.integers(0, 59_999),
       budget=st.integers(0, 30 * HOUR))
def test_deadline_is_the_earliest_instant_with_elapsed_equal_budget(
        cal: BusinessCalendar, a: int, offset: int, budget: int) -> None:
    start = a + offset
    deadline = business_deadline_ms(start, budget, cal)
    assert deadline >= start
    assert business_elapsed_ms(start, deadline, cal) == budget
    if deadline > start:
        assert business_elapsed_ms(start, deadline - 1, cal) == budget - 1
    # The first instant past the budget is the deadline of budget + 1.
    past = business_deadline_ms(start, budget + 1, cal)
    assert business_elapsed_ms(start, past, cal) == budget + 1
    assert business_elapsed_ms(start, past - 1, cal) == budget
    assert business_deadlines_ms(start, budget, cal) == (deadline, past)


@settings(max_examples=200, deadline=None)
@given(cal=calendars(), a=minute_instants, budget_min=st.integers(0, 30 * 60))
def test_the_deadline_pair_when_budgets_end_on_whole_minutes(
        cal: BusinessCalendar, a: int, budget_min: int) -> None:
    # Whole minutes from whole minutes: budgets often run out exactly at a closing time.
    budget = budget_min * MIN
    assert business_deadlines_ms(a, budget, cal) == (
        business_deadline_ms(a, budget, cal), business_deadline_ms(a, budget + 1, cal))


# Deadlines are looked up in tables of BLOCK_DAYS UTC days: starts just before a table's first
# day, and budgets that run through several tables of a sparse calendar.
_BLOCK_EDGE = BLOCK_DAYS * DAY_MS * (berlin(2026, 3, 27) // (BLOCK_DAYS * DAY_MS) + 1)


@settings(max_examples=200, deadline=None)
@given(cal=calendars(), before=st.integers(0, 3 * DAY_MS), budget=st.integers(0, 40 * HOUR))
def test_deadlines_across_table_edges(cal: BusinessCalendar, before: int, budget: int) -> None:
    start = _BLOCK_EDGE - before
    deadline, past = business_deadlines_ms(start, budget, cal)
    assert deadline >= start
    assert business_elapsed_ms(start, deadline, cal) == budget
    if deadline > start:
        assert business_elapsed_ms(start, deadline - 1, cal) == budget - 1
    assert business_elapsed_ms(start, past, cal) == budget + 1
    assert business_elapsed_ms(start, past - 1, cal) == budget


def test_a_deadline_many_tables_away() -> None:
    # One hour a week: a 30-hour budget takes 30 weeks, about three and a half tables.
    sparse = BusinessCalendar.weekly("Europe/Berlin", {2: [("10:00", "11:00")]})
    start = _BLOCK_EDGE - 5 * DAY_MS
    deadline, past = business_deadlines_ms(start, 30 * HOUR, sparse)
    assert local(deadline) == "Wed 2026-10-21 11:00:00.000000+0200"
    assert business_elapsed_ms(start, deadline, sparse) == 30 * HOUR
    assert local(past) == "Wed 2026-10-28 10:00:00.001000+0100"


@settings(max_examples=200, deadline=None)
@given(cal=calendars(), a=minute_instants, budget=st.integers(1, 30 * HOUR),
       offsets=st.lists(st.integers(0, 59_999), min_size=1, max_size=12))
def test_deadlines_from_the_minute_cache_equal_the_lookup(
        cal: BusinessCalendar, a: int, budget: int, offsets: list[int]) -> None:
    """business_deadlines_ms shifts one pair per minute, or keeps it, when the whole minute
    allows it; every instant must get what the lookup gives it (minutes at opening and closing
    times, where a deadline crosses a closed stretch, DST days: the calendars strategy covers
    them)."""
    from streams.business_time import _table_pair

    for offset in [0, 59_999, *offsets]:
        assert business_deadlines_ms(a + offset, budget, cal) == _table_pair(
            a + offset, budget, cal)
