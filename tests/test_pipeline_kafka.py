"""End to end on the real broker: a foreign producer writes to mentions.raw; the worker (a
subprocess) enriches every valid record exactly once and dead-letters every bad one."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from conftest import REPO, Stack, consume_all

from schemas.codec import decode_enriched
from streams.demo import generate


def _valid_mentions(n: int) -> list[dict[str, Any]]:
    return list(generate(seed=7, start_ms=1_790_000_000_000, count=n, rate_per_s=20,
                         id_prefix="it"))


BAD_RECORDS: list[tuple[bytes, str]] = [
    (b"{this is not json", "not_json"),
    (orjson.dumps({"schema_version": 1, "id": "x1", "platform": "twitter", "brand": "db",
                   "author": {"id": "a", "handle": "a", "is_brand": False},
                   "created_at": "2026-01-01T00:00:00Z"}), "schema_violation"),  # no text
    (orjson.dumps({"schema_version": 1, "id": 17, "platform": "twitter", "brand": "db",
                   "author": {"id": "a", "handle": "a", "is_brand": False}, "text": "hi",
                   "created_at": "2026-01-01T00:00:00Z"}), "schema_violation"),  # wrong type
    (orjson.dumps({"schema_version": 1, "id": "x3", "platform": "twitter", "brand": "db",
                   "author": {"id": "a", "handle": "a", "is_brand": False},
                   "text": "Verspätung! " * 10_000, "created_at": "2026-01-01T00:00:00Z"}),
     "too_large"),
    (orjson.dumps({"schema_version": 9, "id": "x4", "platform": "twitter", "brand": "db",
                   "author": {"id": "a", "handle": "a", "is_brand": False}, "text": "hi",
                   "created_at": "2026-01-01T00:00:00Z"}), "unknown_schema_version"),
]


def test_foreign_producer_1000_valid_plus_bad_records(stack: Stack) -> None:
    from kafka import KafkaProducer

    worker = stack.start_worker()
    mentions = _valid_mentions(1000)
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap, max_request_size=2_000_000)
    for i, m in enumerate(mentions):
        producer.send(stack.topic("mentions.raw"), value=orjson.dumps(m))
        if i % 250 == 0:  # bad records interleaved with good ones
            bad, _ = BAD_RECORDS[(i // 250) % len(BAD_RECORDS)]
            producer.send(stack.topic("mentions.raw"), value=bad)
    for bad, _ in BAD_RECORDS[4:]:
        producer.send(stack.topic("mentions.raw"), value=bad)
    producer.flush()
    producer.close()
    sent_bad = [BAD_RECORDS[(i // 250) % len(BAD_RECORDS)] for i in range(0, 1000, 250)]
    sent_bad += BAD_RECORDS[4:]

    enriched = consume_all(stack.bootstrap, stack.topic("mentions.enriched"), expected=1000)
    dead = consume_all(stack.bootstrap, stack.topic("mentions.dlq"), expected=len(sent_bad))

    ids = [decode_enriched(r.value).mention.id for r in enriched]
    assert len(ids) == 1000 and set(ids) == {m["id"] for m in mentions}
    records = [orjson.loads(r.value) for r in dead]
    assert Counter(r["reason"] for r in records) == Counter(reason for _, reason in sent_bad)
    for rec in records:
        original = base64.b64decode(rec["original_value_b64"])
        assert (original, rec["reason"]) in BAD_RECORDS
        assert rec["source"]["topic"] == stack.topic("mentions.raw")
        assert rec["source"]["offset"] >= 0 and 0 <= rec["source"]["partition"] < 6
        assert rec["source"]["timestamp_ms"] > 0
        assert rec["detail"]
    by_reason = {r["reason"]: r for r in records}
    assert by_reason["schema_violation"]["field"] in ("$.text", "$.id")
    assert worker.alive(), worker.log()

    # Keys co-partition a customer's mentions with the brand's replies to them.
    for rec in enriched:
        em = decode_enriched(rec.value)
        expected_author = (em.mention.in_reply_to_author_id if em.mention.author.is_brand
                           else em.mention.author.id)
        assert rec.key == f"twitter:{expected_author}".encode()
        assert em.enrichment.language in ("de", "en")
        if em.mention.author.is_brand:
            assert em.enrichment.complaint is False

    # The dead-letter counter is exported.
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics_port}/metrics") as resp:
        text = resp.read().decode()
    for reason, count in Counter(reason for _, reason in sent_bad).items():
        assert f'mentionwatch_dead_letters_total{{reason="{reason}"}} {float(count)}' in text
    assert 'mentionwatch_mentions_total{brand="_unconfigured",platform="twitter"' in text


def test_ingest_cli_reports_invalid_lines(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "mentions.jsonl"
    good = _valid_mentions(30)
    lines = [orjson.dumps(m).decode() for m in good]
    lines.insert(3, "{broken")
    lines.insert(10, json.dumps({**good[0], "id": "other", "created_at": "soon"}))
    lines.insert(12, json.dumps(good[5]))  # the same platform id twice is one mention
    path.write_text("\n".join(lines) + "\n")
    env = {**stack.env, "PATH": str(Path(sys.executable).parent)}
    before_ms = int(time.time() * 1000)
    out = subprocess.run([sys.executable, "-m", "agents.cli", "ingest", str(path),
                          "--rejects", str(tmp_path / "rejects.jsonl")],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    after_ms = int(time.time() * 1000)
    assert out.returncode == 1, out.stderr
    assert "sent 30 mentions, rejected 2, skipped 1 duplicate ids" in out.stdout
    assert "line 4: not valid JSON" in out.stdout
    assert "line 11: schema_violation: $.created_at: 'soon' is not an RFC 3339" in out.stdout
    assert len((tmp_path / "rejects.jsonl").read_text().splitlines()) == 2
    raw = consume_all(stack.bootstrap, stack.topic("mentions.raw"), expected=30, timeout_s=30)
    assert sorted(orjson.loads(r.value)["id"] for r in raw) == sorted(m["id"] for m in good)
    # The record timestamp is the time of sending: the worker and replay check created_at
    # against it (streams.event_time).
    for r in raw:
        assert before_ms <= r.timestamp <= after_ms


def _post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_http_endpoint_accepts_and_rejects(stack: Stack) -> None:
    # A state directory that doesn't exist yet (a fresh volume path) is created.
    home = stack.home / "fresh" / "volume"
    worker = stack.start_worker(MENTIONWATCH_HOME=str(home))
    assert stack.settings(MENTIONWATCH_HOME=str(home),
                          MENTIONWATCH_WEB_PORT=str(worker.web_port)).state_dir.is_dir()
    good = _valid_mentions(5)
    status, body = _post(f"{worker.url}/mentions", orjson.dumps(good[0]))
    assert (status, body) == (202, {"accepted": 1, "rejected": 0})
    status, body = _post(f"{worker.url}/mentions", orjson.dumps(good[1:]))
    assert (status, body) == (202, {"accepted": 4, "rejected": 0})
    bad_batch = [good[0], {**good[1], "author": {"id": "x"}}, {**good[2], "schema_version": 3}]
    status, body = _post(f"{worker.url}/mentions", orjson.dumps(bad_batch))
    assert status == 400
    assert body["accepted"] == 0 and body["rejected"] == 2
    assert [(e["index"], e["reason"], e["field"]) for e in body["errors"]] == [
        (1, "schema_violation", "$.author.handle"),
        (2, "unknown_schema_version", "$.schema_version"),
    ]
    status, body = _post(f"{worker.url}/mentions", b"nope")
    assert status == 400 and body["errors"][0]["reason"] == "not_json"
    enriched = consume_all(stack.bootstrap, stack.topic("mentions.enriched"), expected=5,
                           timeout_s=60)
    assert sorted(decode_enriched(r.value).mention.id for r in enriched) == sorted(
        m["id"] for m in good)
    # No table contents over HTTP.
    try:
        with urllib.request.urlopen(f"{worker.url}/table/", timeout=5) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status == 404
