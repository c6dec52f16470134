"""`mentionwatch ingest` on the real broker reports the truth: what it says was sent is what the
broker acknowledged and the worker processes; what the worker would dead-letter is refused
before sending; a broker that isn't there is one clear line and a non-zero exit, in bounded
time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from conftest import REPO, Stack, consume_all, free_port
from test_ingest_future import _mentions, _write

from agents.ingest import ingest_jsonl, make_producer


def _cli(env: dict[str, str], *args: str, timeout: float = 180
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, cwd=REPO, timeout=timeout)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _ids(records: list[Any]) -> list[str]:
    return sorted(orjson.loads(r.value)["id"] for r in records)


def test_dated_2099_and_two_hours_ahead_are_rejected_not_reported_sent(
        stack: Stack, tmp_path: Path) -> None:
    """Finding: lines dated 2099 and now + 2 h printed `sent 5 mentions, rejected 0`, exit 0,
    while the broker refused two."""
    now = int(time.time() * 1000)
    good = _mentions(3, start_ms=now - 3_600_000)
    docs = [good[0], {**good[0], "id": "y2099", "created_at": "2099-01-01T00:00:00Z"}, good[1],
            {**good[0], "id": "in-2h", "created_at": _iso(now + 2 * 3_600_000)}, good[2]]
    path = tmp_path / "in.jsonl"
    _write(path, docs)
    out = _cli(stack.env, "ingest", str(path), "--no-progress")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "sent 3 mentions, rejected 2 (2 future-dated)" in out.stdout, out.stdout
    assert "line 2: future_dated: $.created_at: created_at 2099-01-01T00:00:00.000Z" in out.stdout
    assert "line 4: future_dated: $.created_at: created_at " in out.stdout
    raw = consume_all(stack.bootstrap, stack.topic("mentions.raw"), expected=3, timeout_s=30)
    assert _ids(raw) == sorted(d["id"] for d in good)


def test_sent_is_what_the_broker_acknowledged(stack: Stack, tmp_path: Path) -> None:
    """A producer whose clock runs 2 h ahead of the broker's passes the ingest's own future
    check (created_at = its now) but the broker refuses the records' timestamps
    (message.timestamp.after.max.ms on mentions.raw): the counts come from the broker's
    acknowledgements, and exactly the mentions reported sent are in the topic."""
    settings = stack.settings()
    now = int(time.time() * 1000)
    docs = _mentions(5, start_ms=now - 3_600_000)
    ahead = {1, 3}  # lines 2 and 4
    for i in ahead:
        docs[i] = {**docs[i], "created_at": _iso(now + 2 * 3_600_000)}
    path = tmp_path / "in.jsonl"
    _write(path, docs)
    sends = iter(range(len(docs)))

    def skewed_clock() -> int:
        i = next(sends)
        return int(time.time() * 1000) + (2 * 3_600_000 if i in ahead else 0)

    result = ingest_jsonl(settings, path, progress=False, producer=make_producer(settings),
                          clock=skewed_clock)
    rejected_lines = [line for line, _ in result.rejected]
    assert result.future_dated == 0
    assert result.sent + result.not_delivered == 5
    # The two the broker refused are reported as such (the broker refuses a batch whole, so a
    # record batched with one of them may be refused too: reported, never counted as sent).
    assert {2, 4} <= set(rejected_lines), result.rejected
    for line, reason in result.rejected:
        if line in (2, 4):
            assert reason.startswith("not written: Invalid"), reason  # Record or Timestamp
            assert "Error: Timestamp " in reason and "is out of range" in reason, reason
    raw = consume_all(stack.bootstrap, stack.topic("mentions.raw"), expected=result.sent,
                      timeout_s=30)
    assert len(raw) == result.sent
    assert _ids(raw) == sorted(d["id"] for n, d in enumerate(docs, start=1)
                               if n not in rejected_lines)
    assert "not written: the broker refused them or was unreachable" in result.summary()


def test_a_76_kb_mention_is_refused_by_ingest_and_never_dead_lettered(
        stack: Stack, tmp_path: Path) -> None:
    """Finding: a 76 KB mention was reported sent and then dead-lettered by the worker as
    too_large. Now ingest refuses it (exit 1), the worker processes the rest, the DLQ stays
    empty."""
    worker = stack.start_worker()
    now = int(time.time() * 1000)
    good = _mentions(4, start_ms=now - 3_600_000)
    big = {**good[0], "id": "big", "text": "\N{ANGRY FACE}" * 19_000}
    path = tmp_path / "in.jsonl"
    _write(path, [*good[:2], big, *good[2:]])
    assert 76_000 < len(path.read_bytes().splitlines()[2]) < 77_000
    out = _cli(stack.env, "ingest", str(path), "--no-progress")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "sent 4 mentions, rejected 1 (1 too large)" in out.stdout, out.stdout
    assert "line 3: too_large: record is 76" in out.stdout
    raw = consume_all(stack.bootstrap, stack.topic("mentions.raw"), expected=4, timeout_s=30)
    assert _ids(raw) == sorted(d["id"] for d in good)
    enriched = consume_all(stack.bootstrap, stack.topic("mentions.enriched"), expected=4,
                           timeout_s=60)
    assert sorted(orjson.loads(r.value)["mention"]["id"] for r in enriched) == _ids(raw), (
        worker.log())
    assert consume_all(stack.bootstrap, stack.topic("mentions.dlq"), expected=0,
                       timeout_s=10) == []


def test_the_producer_is_idempotent_with_acks_all_on_the_broker(stack: Stack) -> None:
    """kafka-python turns idempotence off silently when a setting or the broker conflicts with
    it; on the real broker it stays on."""
    producer = make_producer(stack.settings())
    try:
        assert producer.config["enable_idempotence"] is True
        assert producer.config["acks"] == -1
    finally:
        producer.close(timeout=5)


def test_ingest_with_the_broker_down_is_one_clear_line_and_exit_1(tmp_path: Path) -> None:
    """Finding: ingest with the broker down ended in a Python traceback."""
    path = tmp_path / "in.jsonl"
    _write(path, _mentions(3))
    port = free_port()  # nothing listens there
    env = {"MENTIONWATCH_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
           "MENTIONWATCH_HOME": str(tmp_path / "home")}
    started = time.monotonic()
    out = _cli(env, "ingest", str(path), "--no-progress", timeout=90)
    elapsed = time.monotonic() - started
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert out.stderr.splitlines() == [
        f"Error: cannot reach the broker at 127.0.0.1:{port} (MENTIONWATCH_BOOTSTRAP_SERVERS): "
        f"KafkaTimeoutError: Unable to bootstrap from 127.0.0.1:{port}"]
    assert elapsed < 45, elapsed  # bounded by the producer's max_block_ms (30 s)
