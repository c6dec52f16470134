"""`mentionwatch ingest` without a broker: what the worker would dead-letter is not sent (the
worker's own checks, on the very bytes it would read), and the producer it builds waits for
every in-sync replica, is idempotent and uses the security settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from test_ingest_future import NOW, FakeProducer, _mentions, _write

from agents.config import load_settings
from agents.ingest import ingest_jsonl, make_producer
from schemas.codec import DecodeError, decode_mention, encode_mention, mention_from_dict

ANGRY = "\N{ANGRY FACE}"  # 4 bytes in UTF-8: a record much longer in bytes than in characters


def _sized(base: dict[str, Any], total_bytes: int) -> dict[str, Any]:
    """`base` with its text padded so its encoded record is exactly total_bytes long."""
    doc = {**base, "text": ANGRY * 16_000}
    size = len(encode_mention(mention_from_dict(doc)))
    doc["text"] += "a" * (total_bytes - size)
    assert len(encode_mention(mention_from_dict(doc))) == total_bytes
    return doc


def test_a_76_kb_mention_is_rejected_as_too_large_not_sent(tmp_path: Path) -> None:
    """Finding: a 76 KB mention (19,000 four-byte characters: within the schema's 20,000
    characters) was reported sent, and the worker dead-lettered it as too_large."""
    good = _mentions(3)
    big = {**good[0], "id": "big", "text": ANGRY * 19_000}
    value = encode_mention(mention_from_dict(big))
    assert 76_000 < len(value) < 77_000
    with pytest.raises(DecodeError) as worker_says:  # what the worker does with these bytes
        decode_mention(value, max_bytes=load_settings({}).max_record_bytes)
    assert worker_says.value.reason == "too_large"
    path = tmp_path / "in.jsonl"
    _write(path, [good[0], big, *good[1:]])
    producer = FakeProducer()
    result = ingest_jsonl(load_settings({}), path, rejects_path=tmp_path / "rej.jsonl",
                          progress=False, producer=producer, clock=lambda: NOW)
    assert [orjson.loads(v)["id"] for v, _ in producer.sent] == [d["id"] for d in good]
    assert result.sent == 3 and result.refused == {"too_large": 1}
    assert result.rejected == [(2, f"too_large: record is {len(value)} bytes, at most 65536 "
                                   "allowed (MENTIONWATCH_MAX_RECORD_BYTES)")]
    assert "sent 3 mentions, rejected 1 (1 too large)" in result.summary()
    assert orjson.loads((tmp_path / "rej.jsonl").read_bytes())["id"] == "big"


def test_size_is_measured_as_the_worker_measures_it(tmp_path: Path) -> None:
    """The record's bytes against MENTIONWATCH_MAX_RECORD_BYTES: at the limit it is sent, one
    byte more is not (the input line's own length, spacing included, does not count)."""
    base = _mentions(1)[0]
    at_limit = _sized({**base, "id": "at-limit"}, 65_536)
    over = _sized({**base, "id": "over"}, 65_537)
    path = tmp_path / "in.jsonl"
    # Pretty-printed JSON on one line: the line is longer than the record the worker reads.
    path.write_bytes(orjson.dumps(at_limit).replace(b'":', b'":   ') + b"\n"
                     + orjson.dumps(over) + b"\n")
    assert len(path.read_bytes().splitlines()[0]) > 65_536
    producer = FakeProducer()
    result = ingest_jsonl(load_settings({}), path, progress=False, producer=producer,
                          clock=lambda: NOW)
    assert [orjson.loads(v)["id"] for v, _ in producer.sent] == ["at-limit"]
    assert [len(v) for v, _ in producer.sent] == [65_536]
    assert result.rejected == [(2, "too_large: record is 65537 bytes, at most 65536 allowed "
                                   "(MENTIONWATCH_MAX_RECORD_BYTES)")]
    # The worker's own setting decides: raised, both go.
    producer = FakeProducer()
    result = ingest_jsonl(load_settings({"MENTIONWATCH_MAX_RECORD_BYTES": "70000"}), path,
                          progress=False, producer=producer, clock=lambda: NOW)
    assert result.sent == 2 and result.rejected == []


def test_a_brand_reply_without_the_replied_to_author_is_rejected_as_unroutable(
        tmp_path: Path) -> None:
    good = _mentions(2)
    reply = {**good[0], "id": "reply", "author": {"id": "b1", "handle": "brand_hilft",
                                                   "is_brand": True},
             "in_reply_to": good[0]["id"]}
    path = tmp_path / "in.jsonl"
    _write(path, [*good, reply])
    producer = FakeProducer()
    result = ingest_jsonl(load_settings({}), path, progress=False, producer=producer,
                          clock=lambda: NOW)
    assert result.sent == 2 and result.refused == {"unroutable": 1}
    assert result.rejected == [(3, "unroutable: $.in_reply_to_author_id: brand reply without "
                                   "in_reply_to_author_id: it can't be matched to the "
                                   "customer's mentions")]


def test_worker_rejection_is_none_for_what_the_worker_processes() -> None:
    from agents.ingest import worker_rejection

    m = mention_from_dict(_mentions(1)[0])
    assert worker_rejection(m, encode_mention(m), NOW, load_settings({}),
                            _brands()) is None


def _brands() -> Any:
    from streams.brands import BrandConfig

    return BrandConfig()


def test_the_producer_waits_for_all_replicas_is_idempotent_and_uses_the_security_settings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import kafka

    made: dict[str, Any] = {}

    class Captured:
        def __init__(self, **kwargs: Any) -> None:
            made.update(kwargs)

    monkeypatch.setattr(kafka, "KafkaProducer", Captured)
    settings = load_settings({"MENTIONWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                              "MENTIONWATCH_KAFKA_USERNAME": "ingest",
                              "MENTIONWATCH_KAFKA_PASSWORD": "not-a-real-secret"})
    make_producer(settings)
    assert made["acks"] == "all" and made["enable_idempotence"] is True
    assert made["security_protocol"] == "SASL_PLAINTEXT"
    assert made["sasl_mechanism"] == "SCRAM-SHA-512"
    assert made["sasl_plain_username"] == "ingest"
    assert made["sasl_plain_password"] == "not-a-real-secret"
