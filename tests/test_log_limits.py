"""Repeated log messages pass once per interval, then one line with the count (a fake clock)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from agents.log_limits import RepeatLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup() -> Iterator[tuple[RepeatLimiter, FakeClock, io.StringIO]]:
    clock = FakeClock()
    limiter = RepeatLimiter(interval_s=30.0, clock=clock)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(limiter)
    # A second handler with the same filter: each record must be decided once, not twice.
    second = logging.StreamHandler(io.StringIO())
    second.addFilter(limiter)
    loggers = [logging.getLogger(name) for name in ("aiokafka.conn", "t.other", "mentionwatch")]
    for lg in loggers:
        lg.addHandler(handler)
        lg.addHandler(second)
        lg.propagate = False
        lg.setLevel(logging.DEBUG)
    yield limiter, clock, out
    for lg in loggers:
        lg.removeHandler(handler)
        lg.removeHandler(second)
        lg.propagate = True


def lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_first_passes_repeats_are_counted_in_one_line(setup: tuple[RepeatLimiter, FakeClock,
                                                                    io.StringIO]) -> None:
    limiter, clock, out = setup
    log = logging.getLogger("aiokafka.conn")
    for i in range(1000):
        log.error("Unable connect to node with id %s: %s", 1, f"refused {i}")
        clock.now += 0.01  # 1,000 in 10 s
    assert lines(out) == ["ERROR aiokafka.conn Unable connect to node with id 1: refused 0"]
    clock.now += 25.0  # 35 s after the first: the window is over
    log.error("Unable connect to node with id %s: %s", 1, "refused 1000")
    assert lines(out)[1:] == ["ERROR aiokafka.conn Unable connect to node with id 1: "
                              "refused 999 (repeated 999 times in the last 35s)"]
    # The one that closed the window starts the next one, counted there.
    clock.now += 31.0
    limiter.flush()
    assert lines(out)[2:] == ["ERROR aiokafka.conn Unable connect to node with id 1: "
                              "refused 1000 (repeated 1 time in the last 31s)"]


def test_summary_comes_with_the_next_record_of_any_kind(setup: tuple[RepeatLimiter, FakeClock,
                                                                     io.StringIO]) -> None:
    _, clock, out = setup
    noisy, other = logging.getLogger("aiokafka.conn"), logging.getLogger("t.other")
    for _ in range(5):
        noisy.warning("Heartbeat failed for group %s", "g")
    clock.now += 30.0
    other.warning("something else")
    assert lines(out) == [
        "WARNING aiokafka.conn Heartbeat failed for group g",
        "WARNING aiokafka.conn Heartbeat failed for group g (repeated 4 times in the last 30s)",
        "WARNING t.other something else",
    ]


def test_a_message_that_stopped_passes_again_and_numbers_do_not_make_it_new(
        setup: tuple[RepeatLimiter, FakeClock, io.StringIO]) -> None:
    _, clock, out = setup
    log, other = logging.getLogger("t.other"), logging.getLogger("aiokafka.conn")
    log.warning(f"producer flush took {12} ms")  # pre-formatted: only the number differs
    log.warning(f"producer flush took {13} ms")
    clock.now += 30.0
    other.warning("tick")  # closes the window: the summary, before it
    clock.now += 30.0
    other.warning("tock")  # a whole interval without a repeat: forgotten
    log.warning(f"producer flush took {14} ms")
    assert lines(out) == [
        "WARNING t.other producer flush took 12 ms",
        "WARNING t.other producer flush took 13 ms (repeated 1 time in the last 30s)",
        "WARNING aiokafka.conn tick",
        "WARNING aiokafka.conn tock",
        "WARNING t.other producer flush took 14 ms",
    ]


def test_levels_and_loggers_are_separate_and_our_info_lines_all_pass(
        setup: tuple[RepeatLimiter, FakeClock, io.StringIO]) -> None:
    _, _, out = setup
    ours, theirs = logging.getLogger("mentionwatch"), logging.getLogger("t.other")
    for topic in ("a", "b", "c"):
        ours.info("topic %s", topic)
    ours.warning("topic %s", "a")
    theirs.warning("topic %s", "a")
    ours.warning("topic %s", "b")  # same logger, level and template: a repeat
    assert lines(out) == ["INFO mentionwatch topic a", "INFO mentionwatch topic b",
                          "INFO mentionwatch topic c", "WARNING mentionwatch topic a",
                          "WARNING t.other topic a"]
