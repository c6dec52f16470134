"""`mentionwatch ingest` never waits forever for the broker's acknowledgements: kafka-python's
idempotent producer stalled for good after a broker was SIGKILLed and restarted (reproduced on
the 3-node cluster: 477 of 1800 records neither acknowledged nor expired after 248 s, its
flush(timeout) waiting that long per batch). The ingest gives up after its own deadline and
reports exactly the lines the broker did not acknowledge."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from kafka.future import Future
from test_ingest_future import NOW, FakeProducer, _mentions, _write

from agents.config import load_settings
from agents.ingest import ingest_jsonl


class Stalled(FakeProducer):
    """Acknowledges every record except those containing STALL, which stay pending for good;
    its flush waits its whole timeout for each pending batch (kafka-python's) and raises."""

    def flush(self, timeout: float | None = None) -> None:
        stuck: list[tuple[bytes, Future]] = []
        for value, future in self.pending:
            if b"STALL" in value:
                stuck.append((value, future))
            else:
                future.success(None)
        self.pending = stuck
        if stuck:
            time.sleep(timeout or 0)
            from kafka.errors import KafkaTimeoutError

            raise KafkaTimeoutError("Timeout waiting for future")


def test_stalled_records_end_the_ingest_in_bounded_time_reported_by_line(
        tmp_path: Path) -> None:
    docs: list[dict[str, Any]] = _mentions(8)
    for i in (2, 5):  # lines 3 and 6
        docs[i] = {**docs[i], "text": docs[i]["text"] + " STALL"}
    path, rejects = tmp_path / "in.jsonl", tmp_path / "rej.jsonl"
    _write(path, docs)
    started = time.monotonic()
    result = ingest_jsonl(load_settings({}), path, rejects_path=rejects, progress=False,
                          producer=Stalled(), clock=lambda: NOW, ack_timeout_s=2.0)
    took = time.monotonic() - started
    assert took < 4, took
    assert result.sent == 6 and result.not_delivered == 2
    assert result.rejected == [
        (3, "not acknowledged by the broker within 2s (written or not: unknown)"),
        (6, "not acknowledged by the broker within 2s (written or not: unknown)")]
    assert [orjson.loads(line)["id"] for line in rejects.read_bytes().splitlines()] == [
        docs[2]["id"], docs[5]["id"]]
    summary = result.summary()
    assert "sent 6 mentions, rejected 2 (2 not written" in summary
    assert "2 mentions handed to the producer were neither acknowledged nor refused" in summary


def test_a_late_acknowledgement_after_giving_up_is_not_counted(tmp_path: Path) -> None:
    """The count is fixed when the ingest gives up: a record acknowledged afterwards stays
    reported as unacknowledged, never both."""
    docs = _mentions(3)
    docs[1] = {**docs[1], "text": docs[1]["text"] + " STALL"}
    path = tmp_path / "in.jsonl"
    _write(path, docs)
    producer = Stalled()
    result = ingest_jsonl(load_settings({}), path, progress=False, producer=producer,
                          clock=lambda: NOW, ack_timeout_s=1.0)
    for _value, future in producer.pending:
        future.success(None)  # too late
    assert result.sent == 2 and [line for line, _ in result.rejected] == [2]
