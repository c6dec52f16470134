"""Business-time arithmetic (pure; zoneinfo).

An instant u counts as business time when its local wall-clock time (in the calendar's zone) lies
in one of the opening intervals [open, close) of its local date, and that date is not a holiday.
This definition is exact across midnight, weekends, holidays and DST changes: on the spring-
forward day a local hour does not exist (so it is not business time), on the fall-back day a local
hour happens twice (and counts twice, as it was really worked).

How it is computed: each UTC day is split into stretches of constant UTC offset (the zone's
offset is probed every 6 h and each change located to the second by bisection; real zones never
change twice within 6 h). Inside a stretch local time is UTC + offset, so the day's business
intervals are plain integer arithmetic. The per-day intervals are cached, so a call costs a few
dict look-ups per day spanned (no per-minute loops).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from streams.brands import DAY_MS, MINUTE_MS, BusinessCalendar, hhmm_to_minutes

_PROBE_MS = 6 * 3_600_000
_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()
# A calendar with at least one open weekday has business time every week; holidays are finite.
# Searching further than this for a deadline means the calendar is unusable.
MAX_SEARCH_DAYS = 3_700

Interval = tuple[int, int]


@lru_cache(maxsize=64)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def _offset_ms(zone: ZoneInfo, ms: int) -> int:
    # Transitions happen on whole seconds, so the floor second has the offset of the instant.
    off = datetime.fromtimestamp(ms // 1000, tz=UTC).astimezone(zone).utcoffset()
    assert off is not None
    return int(off.total_seconds() * 1000)


def _first_change(zone: ZoneInfo, lo_ms: int, hi_ms: int, off_lo: int) -> int:
    """Smallest whole second t in (lo, hi] with an offset other than off_lo (one exists)."""
    lo, hi = lo_ms // 1000, hi_ms // 1000
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset_ms(zone, mid * 1000) == off_lo:
            lo = mid
        else:
            hi = mid
    return hi * 1000


@lru_cache(maxsize=16_384)
def _offset_stretches(tz: str, utc_day: int) -> tuple[tuple[int, int, int], ...]:
    """[(start_ms, end_ms, offset_ms)] covering the UTC day, offset constant in each."""
    zone = _zone(tz)
    lo = utc_day * DAY_MS
    probes = [lo + i * _PROBE_MS for i in range(5)]
    offs = [_offset_ms(zone, p) for p in probes]
    out = []
    start, current = lo, offs[0]
    for i in range(4):
        if offs[i + 1] != offs[i]:
            change = _first_change(zone, probes[i], probes[i + 1], offs[i])
            if change >= lo + DAY_MS:
                break
            out.append((start, change, current))
            start, current = change, _offset_ms(zone, change)
    out.append((start, lo + DAY_MS, current))
    return tuple(s for s in out if s[0] < s[1])


@lru_cache(maxsize=256)
def _schedule(
    cal: BusinessCalendar,
) -> tuple[tuple[tuple[tuple[int, int], ...], ...], frozenset[int]]:
    """Opening intervals per weekday in ms since local midnight; holidays as local day numbers."""
    week = tuple(
        tuple((hhmm_to_minutes(o) * MINUTE_MS, hhmm_to_minutes(c) * MINUTE_MS) for o, c in day)
        for day in cal.hours
    )
    return week, frozenset(d.toordinal() - _EPOCH_ORDINAL for d in cal.holidays)


@lru_cache(maxsize=65_536)
def _day_pieces(cal: BusinessCalendar, utc_day: int) -> tuple[Interval, ...]:
    """Business time within the UTC day, as sorted disjoint [start, end) epoch-ms intervals."""
    week, holidays = _schedule(cal)
    pieces: list[Interval] = []
    for s, e, off in _offset_stretches(cal.tz, utc_day):
        local_s, local_e = s + off, e + off
        for local_day in range(local_s // DAY_MS, (local_e - 1) // DAY_MS + 1):
            if local_day in holidays:
                continue
            base = local_day * DAY_MS
            for o, c in week[(local_day + 3) % 7]:  # 1970-01-01 was a Thursday
                a, b = max(base + o, local_s), min(base + c, local_e)
                if a < b:
                    pieces.append((a - off, b - off))
    pieces.sort()
    merged: list[Interval] = []
    for a, b in pieces:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return tuple(merged)


@lru_cache(maxsize=65_536)
def _day_total(cal: BusinessCalendar, utc_day: int) -> int:
    return sum(b - a for a, b in _day_pieces(cal, utc_day))


def business_intervals(start_ms: int, end_ms: int,
                       cal: BusinessCalendar) -> list[Interval]:
    """The business-time intervals within [start, end), sorted and disjoint (for display/tests)."""
    out: list[Interval] = []
    if end_ms <= start_ms:
        return out
    for day in range(start_ms // DAY_MS, (end_ms - 1) // DAY_MS + 1):
        for a, b in _day_pieces(cal, day):
            a, b = max(a, start_ms), min(b, end_ms)
            if a < b:
                if out and out[-1][1] == a:
                    out[-1] = (out[-1][0], b)
                else:
                    out.append((a, b))
    return out


def business_elapsed_ms(start_ms: int, end_ms: int, cal: BusinessCalendar | None) -> int:
    """Business milliseconds in [start, end) (0 if end <= start); without a calendar end-start."""
    if end_ms <= start_ms:
        return 0
    if cal is None:
        return end_ms - start_ms
    first, last = start_ms // DAY_MS, (end_ms - 1) // DAY_MS
    total = 0
    for day in range(first, last + 1):
        if first < day < last:
            total += _day_total(cal, day)
            continue
        for a, b in _day_pieces(cal, day):
            a, b = max(a, start_ms), min(b, end_ms)
            if a < b:
                total += b - a
    return total


# Deadlines are looked up in tables of BLOCK_DAYS UTC days: the block's business intervals
# (the days' pieces) with the business time accrued by each one's end.
# A deadline is then two bisections instead of a walk over days and intervals.
BLOCK_DAYS = 64
_BLOCK_MS = BLOCK_DAYS * DAY_MS
_MAX_SEARCH_BLOCKS = -(-MAX_SEARCH_DAYS // BLOCK_DAYS)


class _Block(NamedTuple):
    starts: list[int]  # interval starts, epoch ms, sorted
    ends: list[int]  # interval ends (exclusive)
    accrued: list[int]  # business ms in the block from its start to each interval's end
    total: int


@lru_cache(maxsize=4_096)
def _block(cal: BusinessCalendar, block: int) -> _Block:
    starts: list[int] = []
    ends: list[int] = []
    accrued: list[int] = []
    total = 0
    for day in range(block * BLOCK_DAYS, (block + 1) * BLOCK_DAYS):
        for a, b in _day_pieces(cal, day):
            total += b - a
            starts.append(a)
            ends.append(b)
            accrued.append(total)
    return _Block(starts, ends, accrued, total)


def _next_opening(cal: BusinessCalendar, block: int, after: int) -> int:
    """The first instant of business time at or after `after`, searching from `block`."""
    for b in range(block, block + _MAX_SEARCH_BLOCKS):
        blk = _block(cal, b)
        i = bisect_right(blk.ends, after)
        if i < len(blk.starts):
            return max(blk.starts[i], after)
    raise ValueError(f"the calendar of zone {cal.tz} has no business time for "
                     f"{MAX_SEARCH_DAYS} days")


def _table_pair(start_ms: int, budget_ms: int, cal: BusinessCalendar) -> tuple[int, int]:
    """business_deadlines_ms for a budget > 0."""
    block = start_ms // _BLOCK_MS
    blk = _block(cal, block)
    # The target: business time accrued in the block up to the start, plus the budget.
    i = bisect_right(blk.starts, start_ms) - 1
    target = budget_ms
    if i >= 0:
        target += blk.accrued[i] - max(0, blk.ends[i] - start_ms)
    for _ in range(_MAX_SEARCH_BLOCKS):
        if target <= blk.total:
            j = bisect_left(blk.accrued, target)
            end = blk.ends[j]
            deadline = end - (blk.accrued[j] - target)
            if deadline < end:
                return deadline, deadline + 1
            # Used up exactly when business time stops: the first instant past the budget is
            # one millisecond into the next opening.
            return deadline, _next_opening(cal, block, end) + 1
        target -= blk.total
        block += 1
        blk = _block(cal, block)
    raise ValueError(f"the calendar of zone {cal.tz} has no business time for "
                     f"{MAX_SEARCH_DAYS} days")


def _minute_pairs(minute_ms: int, budget_ms: int,
                  cal: BusinessCalendar) -> tuple[int, int, int] | None:
    """(deadline, past, step) such that every instant minute + k of the minute has the deadline
    pair (deadline + k * step, past + k * step), or None when the minute is mixed.

    Checking the minute's last instant against its first suffices. Deadlines never decrease as
    the start moves later, so equal pairs at both ends mean one pair for the whole minute (step
    0: it lies outside business time). Otherwise, from one instant to the next, a deadline moves
    by 0 ms (the start is outside business time) or by at least 1 ms (one more millisecond of
    business time takes at least one millisecond to accrue): a total of 59,999 ms over 59,999
    steps means exactly 1 ms each (step 1). So in a stream with a few mentions a minute the
    deadlines come from a cache per minute instead of a lookup per instant."""
    first = _table_pair(minute_ms, budget_ms, cal)
    last = _table_pair(minute_ms + MINUTE_MS - 1, budget_ms, cal)
    if last == first:
        return first[0], first[1], 0
    if last[0] - first[0] == MINUTE_MS - 1 and last[1] - first[1] == MINUTE_MS - 1:
        return first[0], first[1], 1
    return None


_cached_minute_pairs = lru_cache(maxsize=65_536)(_minute_pairs)


def business_deadline_ms(start_ms: int, budget_ms: int, cal: BusinessCalendar | None) -> int:
    """The earliest instant t >= start with business_elapsed_ms(start, t) == budget.

    Note that the elapsed time may stay equal to the budget after t (the budget ran out exactly
    at closing time): "past the deadline" is elapsed > budget, whose first instant is
    business_deadline_ms(start, budget + 1, cal)."""
    return business_deadlines_ms(start_ms, budget_ms, cal)[0]


def business_deadlines_ms(start_ms: int, budget_ms: int,
                          cal: BusinessCalendar | None) -> tuple[int, int]:
    """(business_deadline_ms(start, budget), business_deadline_ms(start, budget + 1)): when the
    budget is used up and the first instant past it. Usually the second is the first plus one
    millisecond; only a budget used up exactly when business time stops (closing time) needs a
    second search. The hot path asks for both for every item."""
    if budget_ms < 0:
        raise ValueError("budget must not be negative")
    if cal is None:
        return start_ms + budget_ms, start_ms + budget_ms + 1
    if budget_ms == 0:
        return start_ms, _table_pair(start_ms, 1, cal)[0]
    offset = start_ms % MINUTE_MS
    cached = _cached_minute_pairs(start_ms - offset, budget_ms, cal)
    if cached is None:
        return _table_pair(start_ms, budget_ms, cal)
    deadline, past, step = cached
    if step:
        return deadline + offset, past + offset
    return deadline, past
