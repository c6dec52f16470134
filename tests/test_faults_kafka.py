"""The fault suite (issue 12), on the real broker: each fault during a burst, then the live
numbers compared with replay of the same records — per mention (which ids were decided how),
per brand (decided counts) and as the worker exports them (open and overdue gauges). A run
without the fault is test_tracking_kafka.py::test_live_workers_decide_like_replay; a second
worker joining mid-burst is tests/test_stress_join_mid_burst.py.

Every fault runs once here. `./dev faults N` runs the kill -9 and SIGHUP cases N times each
(MENTIONWATCH_FAULT_RUNS) and prints a table.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Stack, Worker, consume_all
from test_tracking_kafka import DEMO_BRANDS, LIVE_ENV, _cli, _produce, _stream

RUNS = int(os.environ.get("MENTIONWATCH_FAULT_RUNS", "1"))
BURST = 4000


def _replay(stack: Stack, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "replay.json"
    rep = _cli(stack, "replay", "--from", "2026-01-01", "--to", "2030-01-01", "--format",
               "json", "--output", str(out), "--no-progress",
               env={"MENTIONWATCH_BRANDS_FILE": str(DEMO_BRANDS)})
    assert rep.returncode == 0, rep.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def _events(stack: Stack) -> list[dict[str, Any]]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(stack.topic("complaints.events"), bootstrap_servers=stack.bootstrap,
                             group_id=None, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=2000)
    events = [orjson.loads(rec.value) for rec in consumer]
    consumer.close()
    return events


def _fates(events: list[dict[str, Any]]) -> dict[str, set[str]]:
    """mention id → announced kinds, repeats dropped by event_id, corrections applied."""
    seen: set[str] = set()
    kinds: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e["event_id"] in seen:
            continue
        seen.add(e["event_id"])
        if e["kind"] == "corrected":
            kinds[e["mention_id"]] -= set(e["retracts"])
        else:
            kinds[e["mention_id"]].add(e["kind"])
    return kinds


def _expected(report: dict[str, Any]) -> tuple[set[str], dict[str, int], int, int]:
    ignored = {i for b in report["brands"] for p in b["platforms"]
               for i in p["all_inbound"]["ignored_ids"]}
    decided = {b["brand"]: b["totals"]["all_inbound"]["decided"] for b in report["brands"]}
    complaints = report["totals"]["complaints"]
    return ignored, decided, complaints["open"], complaints["overdue"]


def _gauge_sum(worker: Worker, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics_port}/metrics",
                                timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{"))


def _wait_for_live_equal_replay(stack: Stack, report: dict[str, Any], worker: Worker,
                                timeout_s: float = 180) -> dict[str, Any]:
    """Until complaints.events and the worker's gauges say what the replay says."""
    ignored, decided, open_, overdue = _expected(report)
    deadline = time.monotonic() + timeout_s
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        events = _events(stack)
        fates = _fates(events)
        brand_of = {e["mention_id"]: e["brand"] for e in events}
        live_decided: dict[str, int] = defaultdict(int)
        for mid, kinds in fates.items():
            if kinds & {"answered", "ignored"}:
                live_decided[brand_of[mid]] += 1
        state = {
            "ignored": {m for m, k in fates.items() if "ignored" in k},
            "decided": {b: n for b, n in live_decided.items() if n},
            "contradictory": sorted(m for m, k in fates.items() if {"answered", "ignored"} <= k),
            "open": _gauge_sum(worker, "mentionwatch_complaints_open"),
            "overdue": _gauge_sum(worker, "mentionwatch_complaints_overdue"),
            "events": len(events),
            "repeats": len(events) - len({e["event_id"] for e in events}),
        }
        if (state["ignored"] == ignored and state["decided"] == {
                b: n for b, n in decided.items() if n} and state["open"] == open_
                and state["overdue"] == overdue):
            break
        time.sleep(2)
    assert state["contradictory"] == []
    missing = sorted(ignored - state["ignored"])
    extra = sorted(state["ignored"] - ignored)
    assert (missing, extra) == ([], []), f"ignored: {len(missing)} missing live, e.g. " \
        f"{missing[:5]}; {len(extra)} only live, e.g. {extra[:5]}"
    assert state["decided"] == {b: n for b, n in decided.items() if n}
    assert (state["open"], state["overdue"]) == (open_, overdue), "phantom open complaints"
    return state


def _wait_for_events(stack: Stack, at_least: int) -> None:
    consume_all(stack.bootstrap, stack.topic("complaints.events"), expected=at_least,
                timeout_s=90)


def _signal_group(worker: Worker, sig: int) -> None:
    os.killpg(worker.proc.pid, sig)


@pytest.mark.parametrize("run", range(RUNS))
@pytest.mark.parametrize("fault", ["kill -9", "SIGHUP", "SIGTERM"])
def test_a_worker_stopped_mid_burst_loses_and_repeats_nothing(
        stack: Stack, tmp_path: Path, fault: str, run: int) -> None:
    mentions = _stream(BURST, seed=30 + run, partitions=stack.partitions)
    first = stack.start_worker("w1", **LIVE_ENV)
    _produce(stack, mentions, keyed_by_customer=True)
    # Mid-burst: transitions are flowing (the first worker is working through the stream and
    # its ticks announce overdue and ignored complaints).
    _wait_for_events(stack, 400 + 300 * run)
    sig = {"kill -9": signal.SIGKILL, "SIGHUP": signal.SIGHUP, "SIGTERM": signal.SIGTERM}[fault]
    started = time.monotonic()
    _signal_group(first, sig)
    code = first.proc.wait(timeout=60)
    stopped_s = time.monotonic() - started
    if fault != "kill -9":
        assert code == 0, first.log()
        assert stopped_s < 30
    # The same ports, so the same state directory: after kill -9 its local tables are ahead of
    # the changelog and must not be trusted.
    second = stack.start_worker("w2", MENTIONWATCH_WEB_PORT=str(first.web_port),
                                MENTIONWATCH_METRICS_PORT=str(first.metrics_port), **LIVE_ENV)
    state = _wait_for_live_equal_replay(stack, _replay(stack, tmp_path), second)
    print(f"{fault}: stopped in {stopped_s:.1f}s, {state['events']} events, "
          f"{state['repeats']} repeats (same event_id)")


def test_a_restart_after_complaints_were_decided_reopens_nothing(stack: Stack,
                                                                tmp_path: Path) -> None:
    """Issue 12, 2: decided complaints came back as open after a restart, and the past-SLA
    alert fired for them. Here the restarted worker's wall clock is the same, but its partition
    clocks start from scratch: the marker and each thread's own clock must carry them."""
    mentions = _stream(1500, seed=41, partitions=stack.partitions)
    first = stack.start_worker("w1", **LIVE_ENV)
    _produce(stack, mentions, keyed_by_customer=True)
    report = _replay(stack, tmp_path)
    before = _wait_for_live_equal_replay(stack, report, first)
    _signal_group(first, signal.SIGTERM)
    assert first.proc.wait(timeout=60) == 0
    second = stack.start_worker("w2", MENTIONWATCH_WEB_PORT=str(first.web_port),
                                MENTIONWATCH_METRICS_PORT=str(first.metrics_port), **LIVE_ENV)
    time.sleep(3 * float(LIVE_ENV["MENTIONWATCH_TICK_INTERVAL_SECONDS"]) + 2)
    after = _wait_for_live_equal_replay(stack, report, second, timeout_s=30)
    # Nothing was announced again: every event the restart sent repeats one already sent.
    assert after["events"] - after["repeats"] == before["events"] - before["repeats"]


def test_a_future_dated_mention_is_dead_lettered_and_moves_no_clock(stack: Stack,
                                                                   tmp_path: Path) -> None:
    """Issue 12, 3: one mention dated 2099 made every open complaint of its partition ignored.
    It is produced now (its record timestamp) and dated far beyond the tolerance."""
    from kafka import KafkaProducer

    mentions = _stream(600, seed=51, partitions=stack.partitions)
    worker = stack.start_worker("w1", **LIVE_ENV)
    _produce(stack, mentions[:300], keyed_by_customer=True)
    hostile = {**mentions[0], "id": "from-2099", "created_at": "2099-01-01T00:00:00Z"}
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap)
    producer.send(stack.topic("mentions.raw"), key=b"twitter:" + hostile["author"]["id"].encode(),
                  value=orjson.dumps(hostile), timestamp_ms=int(time.time() * 1000))
    producer.flush()
    # A producer that forges the record timestamp too is refused by the broker itself.
    forged = producer.send(stack.topic("mentions.raw"), key=b"forged",
                           value=orjson.dumps({**hostile, "id": "forged-2099"}),
                           timestamp_ms=4_070_908_800_000)
    producer.flush()
    with pytest.raises(Exception, match="InvalidTimestamp"):
        forged.get(timeout=10)
    producer.close()
    _produce(stack, mentions[300:], keyed_by_customer=True)
    letters = consume_all(stack.bootstrap, stack.topic("mentions.dlq"), expected=1,
                          timeout_s=60)
    assert [orjson.loads(r.value)["reason"] for r in letters] == ["future_dated"]
    out = tmp_path / "replay.json"
    rep = _cli(stack, "replay", "--from", "2026-01-01", "--to", "2030-01-01", "--format",
               "json", "--output", str(out), "--no-progress",
               env={"MENTIONWATCH_BRANDS_FILE": str(DEMO_BRANDS)})
    assert rep.returncode == 0, rep.stderr
    assert "0 invalid, 1 future-dated" in rep.stderr  # the same rule as live
    _wait_for_live_equal_replay(stack, json.loads(out.read_text()), worker)


def test_a_broker_outage_of_60_s_mid_stream_changes_no_number(own_broker: Stack,
                                                               tmp_path: Path) -> None:
    """The broker (this test's own) stops for 60 s under a working worker: the worker says it
    is not ready, logs the outage in a bounded number of lines, and once the broker is back
    every number is what replay says."""
    from agents import broker

    stack = own_broker
    settings = stack.settings()
    mentions = _stream(1200, seed=71, partitions=stack.partitions)
    worker = stack.start_worker("w1", **LIVE_ENV)
    _produce(stack, mentions[:600], keyed_by_customer=True)
    _wait_for_events(stack, 100)
    lines_before = len(worker.log_path.read_text(errors="replace").splitlines())
    broker.stop(settings)
    outage_started = time.monotonic()
    not_ready: list[str] = []
    while time.monotonic() - outage_started < 60:
        try:
            with urllib.request.urlopen(f"{worker.url}/readyz", timeout=2):
                pass
        except urllib.error.HTTPError as exc:
            if exc.code == 503:
                not_ready.append(json.loads(exc.read())["reasons"][0])
        except OSError:
            pass
        time.sleep(2)
    assert worker.alive(), worker.log()
    outage_lines = (len(worker.log_path.read_text(errors="replace").splitlines())
                    - lines_before)
    broker.start(settings)
    assert not_ready, "the worker said it was ready with the broker gone"
    assert outage_lines < 400, worker.log()
    _produce(stack, mentions[600:], keyed_by_customer=True)
    state = _wait_for_live_equal_replay(stack, _replay(stack, tmp_path), worker, timeout_s=240)
    print(f"outage: {outage_lines} log lines in 60 s, not ready ({not_ready[0]}), "
          f"{state['events']} events, {state['repeats']} repeats")
