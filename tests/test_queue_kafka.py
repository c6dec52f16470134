"""The care team's queue on the real broker: two workers sharing the partitions, a worker
restart, an answer leaving the queue, and the broker going away under a worker ("stale since"
rather than a silently wrong list)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import Stack, Worker
from queue_helpers import (
    COMPLAINTS,
    PRAISE,
    brand_reply,
    mention,
    metric_sum,
    post_mentions,
    queue,
    request,
    same_instant_counts,
    wait_for,
)
from test_tracking_kafka import _wait_for_balanced_group

pytestmark = pytest.mark.kafka

# An answer counts once the partition's clock reaches its event time: the clock trails the
# newest record by the allowed lateness, and runs with the wall clock after the idle grace.
ENV = {"MENTIONWATCH_TICK_INTERVAL_SECONDS": "0.5", "MENTIONWATCH_STORE": "memory://",
       "MENTIONWATCH_ALLOWED_LATENESS_SECONDS": "5", "MENTIONWATCH_IDLE_GRACE_SECONDS": "1"}


def _ids(answer: dict[str, Any]) -> set[str]:
    return {e["id"] for e in answer["entries"]}


LAST: dict[str, Any] = {}


def _whole(worker: Worker, expected: set[str]) -> dict[str, Any] | None:
    answer = LAST[worker.url] = queue(worker)
    if _ids(answer) == expected and answer["count"] == len(expected) and answer["complete"]:
        return answer
    return None


def _last() -> str:
    """What the queues said last, without the entries' texts."""
    return repr({url: {**a, "entries": sorted(_ids(a))} for url, a in LAST.items()})


def _check_counts(workers: list[Worker], expected: int) -> None:
    """Each worker's part equals its open gauge at the same instant; the parts add up to the
    whole queue of either worker."""
    parts = [same_instant_counts(w) for w in workers]
    for count, gauge in parts:
        assert count == gauge, parts
    assert sum(count for count, _ in parts) == expected, parts
    for w in workers:
        answer = queue(w)
        assert answer["count"] == expected == sum(
            metric_sum(x, "mentionwatch_complaints_open") for x in workers)


def test_two_workers_one_queue_answers_leave_and_a_restart_keeps_it(stack: Stack) -> None:
    started = time.monotonic()
    w1 = stack.start_worker("w1", **ENV)
    w2 = stack.start_worker("w2", **ENV)
    _wait_for_balanced_group([w1, w2], stack.partitions)
    complaints = [mention(f"710000{i:03d}", f"cust{i}", COMPLAINTS[i % len(COMPLAINTS)],
                          followers=i * 10) for i in range(10)]
    complaints[4]["url"] = "https://x.example/p/4"
    praise = [mention(f"p{i}", f"fan{i}", PRAISE) for i in range(3)]
    post_mentions(w1, complaints + praise)
    expected = {m["id"] for m in complaints}
    answer = wait_for("both workers list the ten complaints",
                      lambda: _whole(w1, expected) and _whole(w2, expected), timeout_s=45,
                      explain=_last)
    assert answer["partitions"]["missing"] == [] and len(answer["workers"]) == 2
    assert all(w["answered"] for w in answer["workers"])
    owned = [set(w["partitions"]) for w in answer["workers"]]
    assert all(owned) and owned[0].isdisjoint(owned[1])  # partitions on both workers
    by_id = {e["id"]: e for e in answer["entries"]}
    third = by_id["710000003"]
    assert (third["text"], third["author_handle"], third["followers"], third["link"]) == (
        COMPLAINTS[3], "cust3_h", 30, "https://x.com/cust3_h/status/710000003")
    assert by_id["710000004"]["link"] == "https://x.example/p/4"
    assert answer["stale_since"] is None
    _check_counts([w1, w2], 10)

    # An answer shows at once as received; it leaves the queue within seconds (on both
    # workers), once the clock reached it.
    answered = [complaints[0], complaints[5]]
    sent = time.monotonic()
    post_mentions(w2, [brand_reply(f"r{m['id']}", m) for m in answered])
    left = expected - {m["id"] for m in answered}

    def pending() -> bool:
        entries = {e["id"]: e for e in queue(w1)["entries"]}
        return all(entries.get(m["id"], {}).get("answered_at") for m in answered)

    wait_for("the answers show as received", pending, timeout_s=10)
    shown = time.monotonic() - sent
    wait_for("the answered complaints leave", lambda: _whole(w1, left) and _whole(w2, left),
             timeout_s=20, explain=_last)
    latency = time.monotonic() - sent
    print(f"answers shown as received {shown:.1f}s and the complaints gone from the queue of "
          f"both workers {latency:.1f}s after the reply (allowed lateness 5s, idle grace 1s)")
    assert latency < 15
    _check_counts([w1, w2], 8)

    # A worker restarts: the other one holds every partition meanwhile, then they share again;
    # the restored state still has the details.
    from agents.demo import stop_process

    stop_process(w2.proc, timeout_s=20)
    wait_for("w1 alone lists the queue", lambda: _whole(w1, left), timeout_s=45,
             explain=_last)
    w2 = stack.start_worker("w2", **ENV, MENTIONWATCH_WEB_PORT=str(w2.web_port),
                            MENTIONWATCH_METRICS_PORT=str(w2.metrics_port))
    _wait_for_balanced_group([w1, w2], stack.partitions)
    answer = wait_for("both list it after the restart",
                      lambda: _whole(w2, left) and _whole(w1, left), timeout_s=45,
                      explain=_last)
    assert len([w for w in answer["workers"] if w["answered"]]) == 2
    assert {e["id"]: e["text"] for e in answer["entries"]} == {
        m["id"]: m["text"] for m in complaints if m["id"] in left}
    _check_counts([w1, w2], 8)
    for w in (w1, w2):  # the workers log no customer text
        log = w.log_path.read_text(errors="replace")
        assert not [t for t in {*COMPLAINTS, PRAISE} if t in log]
    print(f"two-worker queue test took {time.monotonic() - started:.0f}s")


def test_broker_down_the_queue_says_stale_since(own_broker: Stack) -> None:
    from agents.demo import stop_process

    stack = own_broker
    worker = stack.start_worker("w1", **ENV)  # own_broker's workers are ours to stop
    try:
        _broker_down(stack, worker)
    finally:
        stop_process(worker.proc, timeout_s=20)


def _broker_down(stack: Stack, worker: Worker) -> None:
    from agents import broker

    complaints = [mention(f"s{i}", f"cust{i}", COMPLAINTS[i]) for i in range(3)]
    post_mentions(worker, complaints)
    expected = {m["id"] for m in complaints}
    wait_for("the queue lists the complaints", lambda: _whole(worker, expected), timeout_s=60)
    assert queue(worker)["stale_since"] is None

    settings = stack.settings()
    stopped = time.monotonic()
    broker.stop(settings)
    try:
        stale = wait_for("the queue says stale", lambda: (a := queue(worker))["stale_since"]
                         and a, timeout_s=40)
        print(f"stale flagged {time.monotonic() - stopped:.1f}s after the broker stopped, "
              f"stale since {stale['stale_since']}")
        assert _ids(stale) == expected  # the last known list, flagged
        assert stale["workers"][0]["stale_since"] == stale["stale_since"]
        status, page = request(f"{worker.url}/queue")
        assert status == 200 and b"stale since" in page
    finally:
        broker.start(settings)
    wait_for("fresh again once the broker is back",
             lambda: (a := queue(worker))["stale_since"] is None and _ids(a) == expected,
             timeout_s=60)
