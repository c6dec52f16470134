"""Stress test (in the suite since issue 12; see docs/explanation/processing.md, "Rebalances"):
a second worker joins while the first works through a burst; live must still equal replay.

    pytest tests/test_stress_join_mid_burst.py
"""
from __future__ import annotations

from pathlib import Path

from conftest import Stack
from test_tracking_kafka import (
    LIVE_ENV,
    _explain,
    _produce,
    _replay_decided,
    _stream,
    _wait_for_balanced_group,
    _wait_for_parity,
)


def test_join_mid_burst(stack: Stack, tmp_path: Path) -> None:
    mentions = _stream(8000, seed=11, partitions=stack.partitions)
    w1 = stack.start_worker("w1", **LIVE_ENV)
    _wait_for_balanced_group([w1], stack.partitions)
    _produce(stack, mentions[:6000], keyed_by_customer=True)
    w2 = stack.start_worker("w2", **LIVE_ENV)
    _produce(stack, mentions[6000:], keyed_by_customer=True)
    _wait_for_balanced_group([w1, w2], stack.partitions)
    expected = _replay_decided(stack, tmp_path)
    live, contradictory = _wait_for_parity(stack, expected, timeout_s=150)
    assert contradictory == []
    assert live == {k: v for k, v in expected.items() if v}, _explain()
