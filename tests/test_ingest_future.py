"""`mentionwatch ingest`: records are stamped with the time they are sent, future-dated lines
are rejected before sending, and what the broker refused is reported (exit status 1)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from conftest import REPO, Stack, consume_all
from kafka.future import Future

from agents.config import load_settings
from agents.ingest import ingest_jsonl
from streams.demo import generate

NOW = 1_790_000_000_000  # the fake clock: 2026-09-21T14:13:20Z


def _mentions(n: int, start_ms: int = NOW - 3_600_000) -> list[dict[str, Any]]:
    return list(generate(seed=3, start_ms=start_ms, count=n, rate_per_s=1, id_prefix="ing"))


class FakeProducer:
    """Records sends; at flush, the broker 'refuses' values containing `refuse`."""

    def __init__(self, refuse: bytes = b"\x00never") -> None:
        self.sent: list[tuple[bytes, int]] = []
        self.pending: list[tuple[bytes, Future]] = []
        self.refuse = refuse

    def send(self, topic: str, *, key: bytes, value: bytes, timestamp_ms: int) -> Future:
        future = Future()
        self.pending.append((value, future))
        self.sent.append((value, timestamp_ms))
        return future

    def flush(self, timeout: float | None = None) -> None:
        for value, future in self.pending:
            if self.refuse in value:
                future.failure(RuntimeError("MessageSizeTooLarge (simulated)"))
            else:
                future.success(None)
        self.pending = []

    def close(self, timeout: float | None = None) -> None:
        pass


def _write(path: Path, docs: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))


def test_future_dated_lines_are_rejected_and_the_rest_stamped_with_the_send_time(
        tmp_path: Path) -> None:
    good = _mentions(4)
    docs = list(good)
    docs.insert(1, {**good[0], "id": "far", "created_at": "2099-01-01T00:00:00Z"})
    # The clock ticks 1 ms per line. At the tolerance exactly (line 4, sent at NOW + 3):
    # accepted; 1 ms past it (line 5, NOW + 4): rejected ("passes" is strictly greater).
    docs.insert(3, {**good[0], "id": "at-limit", "created_at": "2026-09-21T14:18:20.003Z"})
    docs.insert(4, {**good[0], "id": "past-limit", "created_at": "2026-09-21T14:18:20.005Z"})
    path = tmp_path / "in.jsonl"
    _write(path, docs)
    producer = FakeProducer()
    ticks = iter(range(NOW, NOW + 100))
    result = ingest_jsonl(load_settings({}), path, rejects_path=tmp_path / "rej.jsonl",
                          progress=False, producer=producer, clock=lambda: next(ticks))
    assert result.sent == 5 and result.future_dated == 2 and result.not_delivered == 0
    assert [line for line, _ in result.rejected] == [2, 5]
    assert result.rejected[0][1].startswith(
        "future_dated: $.created_at: created_at 2099-01-01T00:00:00.000Z is more than 300s "
        "ahead of the time of sending, 2026-09-21T14:13:20.001Z")
    sent_ids = [orjson.loads(v)["id"] for v, _ in producer.sent]
    assert sent_ids == [good[0]["id"], good[1]["id"], "at-limit", good[2]["id"], good[3]["id"]]
    # Stamped with the clock at the send, not created_at.
    assert [ts for _, ts in producer.sent] == [NOW, NOW + 2, NOW + 3, NOW + 5, NOW + 6]
    rejected_ids = [orjson.loads(line)["id"]
                    for line in (tmp_path / "rej.jsonl").read_bytes().splitlines()]
    assert rejected_ids == ["far", "past-limit"]
    summary = result.summary()
    assert "sent 5 mentions, rejected 2 (2 future-dated)" in summary
    assert "line 2: future_dated: $.created_at: created_at 2099-01-01" in summary


def test_what_the_broker_refuses_is_reported_not_counted_as_sent(tmp_path: Path) -> None:
    docs = _mentions(5)
    docs[3] = {**docs[3], "text": docs[3]["text"] + " REFUSE-ME"}
    path = tmp_path / "in.jsonl"
    _write(path, docs)
    result = ingest_jsonl(load_settings({}), path, rejects_path=tmp_path / "rej.jsonl",
                          progress=False, producer=FakeProducer(refuse=b"REFUSE-ME"),
                          clock=lambda: NOW)
    assert result.sent == 4 and result.not_delivered == 1
    assert result.rejected == [
        (4, "not written: RuntimeError: MessageSizeTooLarge (simulated)")]
    assert "sent 4 mentions, rejected 1 (1 not written: the broker refused them" in (
        result.summary())
    assert orjson.loads((tmp_path / "rej.jsonl").read_bytes())["id"] == docs[3]["id"]


def test_an_unreachable_broker_stops_the_ingest(tmp_path: Path) -> None:
    class Unreachable(FakeProducer):
        def send(self, topic: str, *, key: bytes, value: bytes, timestamp_ms: int) -> Future:
            if len(self.sent) == 2:
                raise TimeoutError("Failed to update metadata after 30.0 secs.")
            return super().send(topic, key=key, value=value, timestamp_ms=timestamp_ms)

    path = tmp_path / "in.jsonl"
    _write(path, _mentions(6))
    producer = Unreachable()
    result = ingest_jsonl(load_settings({}), path, progress=False, producer=producer,
                          clock=lambda: NOW)
    assert result.sent == 2 and len(producer.sent) == 2
    assert result.rejected == [(3, "not written: TimeoutError: Failed to update metadata "
                                   "after 30.0 secs.")]
    assert any(note.startswith("stopped at line 3: TimeoutError") for note in result.notes)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, cwd=REPO, timeout=180)


def test_cli_on_the_broker_future_dated_line_not_written(stack: Stack, tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    good = _mentions(6, start_ms=now_ms - 3_600_000)
    docs = [*good[:2], {**good[0], "id": "far", "created_at": "2099-01-01T00:00:00Z"}, *good[2:]]
    path = tmp_path / "in.jsonl"
    _write(path, docs)
    before = int(time.time() * 1000)
    out = _cli(stack.env, "ingest", str(path), "--no-progress")
    after = int(time.time() * 1000)
    assert out.returncode == 1, out.stderr
    assert "sent 6 mentions, rejected 1 (1 future-dated)" in out.stdout
    assert ("line 3: future_dated: $.created_at: created_at 2099-01-01T00:00:00.000Z is more "
            "than 300s") in out.stdout
    raw = consume_all(stack.bootstrap, stack.topic("mentions.raw"), expected=6, timeout_s=30)
    assert sorted(orjson.loads(r.value)["id"] for r in raw) == sorted(m["id"] for m in good)
    for r in raw:  # stamped when sent (the worker and replay check created_at against it)
        assert before <= r.timestamp <= after


def test_cli_on_the_broker_reports_refused_records(kafka: str, tmp_path: Path) -> None:
    """A raw topic whose records may be at most 200 bytes: the broker refuses every mention;
    ingest says so and exits 1 instead of "sent 5, rejected 0"."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    prefix = f"t{uuid.uuid4().hex[:8]}."
    admin = KafkaAdminClient(bootstrap_servers=kafka, client_id="test-ingest")
    try:
        admin.create_topics([NewTopic(f"{prefix}mentions.raw", num_partitions=1,
                                      replication_factor=1,
                                      topic_configs={"max.message.bytes": "200"})])
    finally:
        admin.close()
    path = tmp_path / "in.jsonl"
    _write(path, _mentions(5, start_ms=int(time.time() * 1000) - 3_600_000))
    env = {"MENTIONWATCH_BOOTSTRAP_SERVERS": kafka, "MENTIONWATCH_TOPIC_PREFIX": prefix,
           "MENTIONWATCH_HOME": str(tmp_path / "home")}
    out = _cli(env, "ingest", str(path), "--no-progress", "--rejects", str(tmp_path / "r"))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "sent 0 mentions, rejected 5 (5 not written: the broker refused them" in out.stdout
    assert "line 1: not written: MessageSizeTooLargeError" in out.stdout, out.stdout
    assert len((tmp_path / "r").read_bytes().splitlines()) == 5
