"""The live partition clock: watermark while records flow, wall time once idle, never backwards."""

from __future__ import annotations

from streams.clock import PartitionClock

H = 3_600_000


def test_watermark_is_max_event_less_lateness_while_records_flow() -> None:
    clock = PartitionClock(lateness_ms=60_000, idle_grace_ms=60_000)
    assert clock.now(1_000) is None
    # A historical record arriving years later is judged by its own event time.
    assert clock.observe(event_ms=10 * H, wall_ms=900 * H) == 10 * H - 60_000
    assert clock.observe(event_ms=9 * H, wall_ms=900 * H + 10) == 10 * H - 60_000
    assert clock.observe(event_ms=12 * H, wall_ms=900 * H + 20) == 12 * H - 60_000


def test_idle_partition_clock_runs_on_with_wall_time_after_grace() -> None:
    clock = PartitionClock(lateness_ms=0, idle_grace_ms=60_000)
    clock.observe(event_ms=100 * H, wall_ms=100 * H)
    assert clock.now(100 * H + 59_000) == 100 * H
    assert clock.now(100 * H + 60_000) == 100 * H
    assert clock.now(100 * H + 2 * H) == 100 * H + 2 * H - 60_000


def test_clock_never_goes_backwards_when_records_resume() -> None:
    clock = PartitionClock(lateness_ms=0, idle_grace_ms=0)
    clock.observe(event_ms=100 * H, wall_ms=100 * H)
    advanced = clock.now(105 * H)
    assert advanced == 105 * H
    # A record with an older event time resets idleness but not the clock.
    assert clock.observe(event_ms=101 * H, wall_ms=105 * H) == advanced
