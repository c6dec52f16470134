"""Workers record their brand configuration; replay judges with what was recorded (issue 17),
on the real broker. The parity of a replay without a brands file with the live workers is
test_tracking_kafka.py::test_live_workers_decide_like_replay (its _replay_decided)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Stack
from test_brand_versions import T_V2, V1_TOML, V2_TOML, answered_across_the_change, ms
from test_tracking_kafka import _cli

from agents.brand_versions import BrandsFile, read_recorded, record_brand_config
from agents.topics import ensure_topics
from schemas.codec import format_rfc3339_ms, parse_rfc3339_ms
from streams.brands import parse_brand_config

pytestmark = pytest.mark.kafka

MIN = 60_000
H = 60 * MIN


def _brands(toml: str, source: str) -> BrandsFile:
    return BrandsFile(parse_brand_config(toml), toml, source)


def _iso(t: int) -> str:
    return format_rfc3339_ms(t)


def _mention(pid: str, author: str, created: int, **extra: Any) -> dict[str, Any]:
    return {"schema_version": 1, "id": pid, "platform": "twitter", "brand": "acme",
            "author": {"id": author, "handle": author, "is_brand": False},
            "text": "My parcel is lost, terrible service", "created_at": _iso(created),
            "lang": "en", **extra}


def _as_sent(doc: dict[str, Any]) -> dict[str, Any]:
    """A mention of the unit tests with this file's complaint text and language."""
    return {**doc, "text": "My parcel is lost, terrible service", "lang": "en"}


def _produce_raw(stack: Stack, docs: list[dict[str, Any]]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=stack.bootstrap)
    for doc in docs:
        customer = doc.get("in_reply_to_author_id") or doc["author"]["id"]
        producer.send(stack.topic("mentions.raw"), key=f"twitter:{customer}".encode(),
                      value=orjson.dumps(doc), timestamp_ms=parse_rfc3339_ms(doc["created_at"]))
    producer.flush()
    producer.close()


def test_a_worker_records_a_configuration_once_and_each_change(stack: Stack) -> None:
    settings = stack.settings()
    ensure_topics(settings)
    first = record_brand_config(settings, _brands(V1_TOML, "/etc/a.toml"), "9.9",
                                now_ms=lambda: 1_000).written
    assert first is not None and first.effective_ms == 1_000
    # A restart with the same content (another layout, comments) records nothing.
    same = "# reformatted\n" + V1_TOML.replace(" = ", "=")
    again = record_brand_config(settings, _brands(same, "/etc/b.toml"), "9.9",
                                now_ms=lambda: 2_000)
    assert again.written is None and [v.effective_ms for v in again.versions] == [1_000]
    changed = record_brand_config(settings, _brands(V2_TOML, "/etc/a.toml"), "9.9",
                                  now_ms=lambda: 3_000)
    assert changed.written is not None
    assert [v.effective_ms for v in changed.versions] == [1_000, 3_000]
    records = sorted(r.effective_ms for r, _ in read_recorded(settings) or [])
    assert records == [1_000, 3_000]
    # A damaged record doesn't keep a worker from starting (an audit refuses it, below).
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=stack.bootstrap)
    producer.send(stack.topic("mentionwatch.config"), key=b"x", value=b"\xff")
    producer.flush()
    producer.close()
    back = record_brand_config(settings, _brands(V1_TOML, "/etc/a.toml"), "9.9",
                               now_ms=lambda: 4_000).written
    assert back is not None and back.sha256 == first.sha256
    assert len(read_recorded(settings, strict=False) or []) == 3


def test_replay_judges_each_mention_with_the_configuration_in_force(stack: Stack,
                                                                     tmp_path: Path) -> None:
    """v1 (SLA 1 h, account acme_help) until T_V2, then v2 (SLA 5 min, account acme_care):
    c1 before the change is answered by acme_help, c2 after it by acme_care."""
    settings = stack.settings()
    ensure_topics(settings)
    before, after = T_V2 - 30 * MIN, T_V2 + 30 * MIN
    _produce_raw(stack, [
        *(_as_sent(doc) for doc in answered_across_the_change(before, after)),
        _mention("late", "u3", after + 6 * H),  # moves the watermark past every deadline
    ])

    def replay(*extra: str, name: str, from_: str = "2026-10-05", to: str = "2026-10-06"
               ) -> tuple[Any, str]:
        out = tmp_path / name
        rep = _cli(stack, "replay", "--from", from_, "--to", to, "--format", "json",
                   "--output", str(out), "--no-progress", *extra,
                   env={"MENTIONWATCH_BRANDS_FILE": ""})
        assert rep.returncode == 0, rep.stderr
        return json.loads(out.read_text()), rep.stderr

    # Nothing recorded yet (a deployment from before): the built-in default, said so.
    report, _ = replay(name="none.json")
    assert "nothing recorded on" in report["provenance"]["brand_configuration"]["from"]

    v1_at = ms("2026-10-01T00:00:00")
    record_brand_config(settings, _brands(V1_TOML, "/etc/brands.toml"), "9.9",
                        now_ms=lambda: v1_at)
    record_brand_config(settings, _brands(V2_TOML, "/etc/brands.toml"), "9.9",
                        now_ms=lambda: T_V2)
    report, _ = replay(name="recorded.json")
    acme = next(b for b in report["brands"] if b["brand"] == "acme")
    view = acme["platforms"][0]["complaints"]
    assert view["ignored_ids"] == [] and view["answered"] == 2
    configuration = report["provenance"]["brand_configuration"]
    assert configuration["from"].startswith("recorded by the workers")
    assert [v["effective_at"] for v in configuration["versions"]] == [
        "2026-10-01T00:00:00.000Z", "2026-10-05T12:00:00.000Z"]
    assert [v["brands"]["acme"]["sla_s"] for v in configuration["versions"]] == [3600, 300]
    assert configuration["sha256"] is None  # two versions: each listed with its own
    # The report's per-brand parameters are the latest version's.
    assert acme["sla_s"] == 300

    # A range after the change is judged by v2 alone, and says so.
    report, _ = replay(name="after.json", from_="2026-10-05T12:00:00Z")
    configuration = report["provenance"]["brand_configuration"]
    assert [v["effective_at"] for v in configuration["versions"]] == ["2026-10-05T12:00:00.000Z"]
    assert configuration["sha256"] == configuration["versions"][0]["sha256"]
    assert configuration["file"] == "/etc/brands.toml"
    report, _ = replay("--brands-file", str(_write(tmp_path, V2_TOML)), name="override.json")
    view = next(b for b in report["brands"] if b["brand"] == "acme")["platforms"][0][
        "complaints"]
    # v2 for everything: acme_help is no brand account, so c1 was never answered (and its
    # "reply" is one more customer's complaint, never answered either).
    assert view["ignored_ids"] == ["c1", "r1"]
    assert report["provenance"]["brand_configuration"]["from"].startswith("override")

    # A damaged record on the configuration topic: a clear error naming where, no traceback;
    # an explicit file still works.
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=stack.bootstrap)
    producer.send(stack.topic("mentionwatch.config"), key=b"x", value=b"{not json")
    producer.flush()
    producer.close()
    rep = _cli(stack, "replay", "--from", "2026-10-05", "--to", "2026-10-06", "--no-progress",
               env={"MENTIONWATCH_BRANDS_FILE": ""})
    assert rep.returncode == 1
    assert "mentionwatch.config[" in rep.stderr and "not a brand configuration" in rep.stderr
    assert "Traceback" not in rep.stderr
    replay("--brands-file", str(_write(tmp_path, V1_TOML)), name="still.json")


def _write(tmp_path: Path, toml: str) -> Path:
    path = tmp_path / f"brands-{abs(hash(toml))}.toml"
    path.write_text(toml, encoding="utf-8")
    return path


def _events(stack: Stack) -> dict[str, list[str]]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(stack.topic("complaints.events"), bootstrap_servers=stack.bootstrap,
                             group_id=None, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=2000)
    kinds: dict[str, list[str]] = {}
    for record in consumer:
        event = orjson.loads(record.value)
        kinds.setdefault(event["mention_id"], []).append(event["kind"])
    consumer.close()
    return kinds


def test_live_workers_and_replay_judge_across_a_configuration_change_alike(
        stack: Stack, tmp_path: Path) -> None:
    """c1 is made under v1 (ignore deadline 1 h) and answered after a restart with v2 (10 s),
    45 s after it was made: judged with v1 (answered), live as in the audit; c2, made under v2
    and answered 25 s later, was ignored first (answered late). Before configurations were
    recorded, the restarted worker judged c1 with v2: ignored."""
    import time

    from agents.demo import stop_process

    v1 = _write(tmp_path, '[brands.acme]\naccounts = ["acme_help"]\nsla = "30m"\n'
                          'ignore_after = "1h"\n')
    v2 = _write(tmp_path, '[brands.acme]\naccounts = ["acme_help"]\nsla = "5s"\n'
                          'ignore_after = "10s"\n')
    env = {"MENTIONWATCH_ALLOWED_LATENESS_SECONDS": "0",
           "MENTIONWATCH_IDLE_GRACE_SECONDS": "100000000",  # event time only, like replay
           "MENTIONWATCH_TICK_INTERVAL_SECONDS": "0.5"}

    def now() -> int:
        return int(time.time() * 1000)

    first = stack.start_worker("v1", MENTIONWATCH_BRANDS_FILE=str(v1), **env)
    c1_at = now()
    _produce_raw(stack, [_mention("c1", "u1", c1_at)])
    deadline = time.monotonic() + 60
    while "c1" not in _enriched_ids(stack):
        assert time.monotonic() < deadline, first.log()
        time.sleep(0.5)
    stop_process(first.proc, timeout_s=20)
    second = stack.start_worker("v2", MENTIONWATCH_BRANDS_FILE=str(v2), **env)
    assert "2 brand configurations recorded" in second.log()
    c2_at = now()
    _produce_raw(stack, [_mention("c2", "u2", c2_at)])
    time.sleep(max(0.0, (c1_at + 45_000 - now()) / 1000))
    answer_at = max(now(), c1_at + 45_000, c2_at + 25_000)
    _produce_raw(stack, [
        _mention("r1", "acme_help", answer_at, in_reply_to="c1", in_reply_to_author_id="u1"),
        _mention("r2", "acme_help", answer_at, in_reply_to="c2", in_reply_to_author_id="u2"),
    ])
    deadline = time.monotonic() + 90
    while True:
        kinds = _events(stack)
        if "answered" in kinds.get("c1", []) and "answered_late" in kinds.get("c2", []):
            break
        assert time.monotonic() < deadline, (kinds, second.log())
        time.sleep(1)
    assert "ignored" not in kinds["c1"], kinds  # judged with v1, in force when c1 was made
    assert "ignored" in kinds["c2"], kinds

    out = tmp_path / "audit.json"
    day = datetime.fromtimestamp(c1_at / 1000, UTC).strftime("%Y-%m-%d")
    rep = _cli(stack, "replay", "--from", day, "--to", "2100-01-01", "--format", "json",
               "--output", str(out), "--no-progress", "--with-answered-ids",
               env={"MENTIONWATCH_BRANDS_FILE": ""})
    assert rep.returncode == 0, rep.stderr
    report = json.loads(out.read_text())
    view = next(b for b in report["brands"] if b["brand"] == "acme")["platforms"][0][
        "complaints"]
    assert view["answered_ids"] == ["c1"] and view["answered_late_ids"] == ["c2"], view
    assert [v["source"] for v in report["provenance"]["brand_configuration"]["versions"]] == [
        str(v1), str(v2)]


def _enriched_ids(stack: Stack) -> set[str]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(stack.topic("mentions.enriched"), bootstrap_servers=stack.bootstrap,
                             group_id=None, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=1000)
    ids = {orjson.loads(r.value)["mention"]["id"] for r in consumer}
    consumer.close()
    return ids
