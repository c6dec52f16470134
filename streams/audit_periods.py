"""Report periods (pure): the day, ISO week or month of a mention's creation, in UTC.

A period is named by a label ("2017-10-31", "2017-W44", "2017-10") and spans [start, end) in
epoch ms. ISO weeks start on Monday 00:00 UTC; the week of 2021-01-01 is "2020-W53".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

Period = Literal["day", "week", "month"]
PERIODS: tuple[str, ...] = ("day", "week", "month")
DAY_MS = 86_400_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(milliseconds=1)


def period_of(ms: int, by: Period | str) -> tuple[int, int, str]:
    """(start_ms, end_ms, label) of the period holding the instant ms (UTC)."""
    day = _EPOCH + timedelta(days=ms // DAY_MS)
    if by == "day":
        return _ms(day), _ms(day + timedelta(days=1)), day.strftime("%Y-%m-%d")
    if by == "week":
        start = day - timedelta(days=day.weekday())
        year, week, _ = start.isocalendar()
        return _ms(start), _ms(start + timedelta(days=7)), f"{year:04d}-W{week:02d}"
    if by == "month":
        start = day.replace(day=1)
        end = (start.replace(year=start.year + 1, month=1) if start.month == 12
               else start.replace(month=start.month + 1))
        return _ms(start), _ms(end), start.strftime("%Y-%m")
    raise ValueError(f"unknown period {by!r} (day, week or month)")


class PeriodIndex:
    """period_of with a cache per UTC day: a report asks for every item's period."""

    __slots__ = ("_days", "by")

    def __init__(self, by: Period | str) -> None:
        period_of(0, by)  # raises for an unknown period
        self.by = by
        self._days: dict[int, tuple[int, int, str]] = {}

    def __call__(self, ms: int) -> tuple[int, int, str]:
        day = ms // DAY_MS
        found = self._days.get(day)
        if found is None:
            found = self._days[day] = period_of(ms, self.by)
        return found
