"""The event-time rule (streams.event_time): a mention dated beyond the tolerance ahead of the
time it was produced is rejected; an accepted one shows a clock min(created_at, produced)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.event_time import (
    accepted_event_ms,
    future_dated_detail,
    future_excess_ms,
    has_timestamp,
    observed_event_ms,
)

PRODUCED = 1_790_000_000_000  # 2026-09-21T...Z
TOL = 300_000  # the default MENTIONWATCH_MAX_FUTURE_SECONDS, in ms


@pytest.mark.parametrize(("created", "expected"), [
    (PRODUCED - 86_400_000, None),     # a day old: fine
    (PRODUCED, None),
    (PRODUCED + TOL - 1, None),
    (PRODUCED + TOL, None),            # at the limit: does not pass it (strictly greater)
    (PRODUCED + TOL + 1, 1),           # 1 ms past the limit: rejected
    (PRODUCED + TOL + 59_000, 59_000),
    (4_070_908_800_000, 4_070_908_800_000 - PRODUCED - TOL),  # 2099-01-01
])
def test_future_excess_boundaries(created: int, expected: int | None) -> None:
    assert future_excess_ms(created, PRODUCED, TOL) == expected


@pytest.mark.parametrize("produced", [None, 0, -1])
def test_no_produced_time_no_check(produced: int | None) -> None:
    assert not has_timestamp(produced)
    assert future_excess_ms(4_070_908_800_000, produced, TOL) is None
    assert observed_event_ms(4_070_908_800_000, produced) == 4_070_908_800_000


def test_zero_tolerance() -> None:
    assert future_excess_ms(PRODUCED, PRODUCED, 0) is None
    assert future_excess_ms(PRODUCED + 1, PRODUCED, 0) == 1


@pytest.mark.parametrize(("created", "expected"), [
    (PRODUCED - 5_000, PRODUCED - 5_000),  # the past: its own time
    (PRODUCED, PRODUCED),
    (PRODUCED + 1, PRODUCED),              # slightly ahead: no further than produced
    (PRODUCED + TOL, PRODUCED),
])
def test_observed_event_time(created: int, expected: int) -> None:
    assert observed_event_ms(created, PRODUCED) == expected
    assert has_timestamp(PRODUCED)


@given(created=st.integers(0, 2**53), produced=st.integers(1, 2**53),
       tol=st.integers(0, 10**9))
def test_an_accepted_record_never_shows_a_clock_past_produced(created: int, produced: int,
                                                              tol: int) -> None:
    excess = future_excess_ms(created, produced, tol)
    if excess is None:
        assert created <= produced + tol
        assert observed_event_ms(created, produced) == min(created, produced)
        assert accepted_event_ms(created, produced, tol) == min(created, produced)
    else:
        assert excess == created - produced - tol > 0
        assert accepted_event_ms(created, produced, tol) is None


@pytest.mark.parametrize(("created", "expected"), [
    (PRODUCED - 1, PRODUCED - 1),
    (PRODUCED + TOL, PRODUCED),
    (PRODUCED + TOL + 1, None),
])
def test_accepted_event_ms_in_one_call(created: int, expected: int | None) -> None:
    assert accepted_event_ms(created, PRODUCED, TOL) == expected
    assert accepted_event_ms(created, -1, TOL) == created  # no timestamp: no check
    assert accepted_event_ms(created, None, TOL) == created


def test_detail_names_both_times_and_the_excess() -> None:
    detail = future_dated_detail(4_070_908_800_000, 1_764_000_000_000, TOL)
    assert detail == (
        "created_at 2099-01-01T00:00:00.000Z is more than 300s ahead of the time the record "
        "was produced, 2025-11-24T16:00:00.000Z, by 2306908500.000s "
        "(MENTIONWATCH_MAX_FUTURE_SECONDS)")
    http = future_dated_detail(1_764_000_000_000 + 3_540_000, 1_764_000_000_000, TOL,
                               produced_as="the time it was received")
    assert http == (
        "created_at 2025-11-24T16:59:00.000Z is more than 300s ahead of the time it was "
        "received, 2025-11-24T16:00:00.000Z, by 3240.000s (MENTIONWATCH_MAX_FUTURE_SECONDS)")


def test_detail_survives_times_beyond_datetime() -> None:
    detail = future_dated_detail(10**17, PRODUCED, TOL)
    assert detail.startswith("created_at 100000000000000000 ms since the epoch is more than")
