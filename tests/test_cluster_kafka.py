"""A real three-node Kafka cluster (KRaft, Kafka 4.1.1) with a SASL_SSL client listener: a
worker over SCRAM-SHA-512 and TLS keeps every mention and decides like replay while one broker
is killed with SIGKILL mid-stream and restarted; faust's own topics are replicated 3 times; a
wrong password is a clear, prompt error."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from cluster import SecureCluster, secure_cluster
from conftest import REPO, Stack, free_port
from test_tracking_kafka import DEMO_BRANDS, LIVE_ENV, _replay_decided, _stream

pytestmark = pytest.mark.skipif(
    not (shutil.which("java") and shutil.which("openssl") and shutil.which("mvn")),
    reason="needs a JDK, Maven (Kafka's jars) and openssl")

PARTITIONS = 3
MENTIONS = 1500
KILL_AT = 500  # mentions sent when a broker is killed
RESTART_AT = 1000  # ... and when it is started again
RATE_PER_S = 60.0


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureCluster]:
    started = time.monotonic()
    with secure_cluster(tmp_path_factory.mktemp("cluster"), partitions=PARTITIONS) as cluster:
        print(f"3-node SASL_SSL cluster up in {time.monotonic() - started:.1f}s on "
              f"{cluster.bootstrap}")
        yield cluster


@dataclass
class SecureStack(Stack):
    """conftest's Stack, with the cluster's SASL_SSL settings and 3/2 replication in its env,
    so workers and the CLI (replay) it starts talk SASL_SSL."""

    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.extra_env}


@pytest.fixture
def stack(secure: SecureCluster, tmp_path: Path) -> Iterator[SecureStack]:
    from agents.demo import stop_process
    from agents.topics import ensure_topics

    s = SecureStack(bootstrap=secure.bootstrap, prefix=f"c{os.urandom(4).hex()}.",
                    home=tmp_path / "home", partitions=PARTITIONS,
                    extra_env={**secure.env(), "MENTIONWATCH_REPLICATION_FACTOR": "3",
                               "MENTIONWATCH_MIN_INSYNC_REPLICAS": "2"})
    for line in ensure_topics(s.settings()):
        print("topic", line)
    workers: list[Any] = []
    original = s.start_worker

    def start_and_track(name: str = "w1", **extra_env: str) -> Any:
        worker = original(name, **extra_env)
        workers.append(worker)
        return worker

    s.start_worker = start_and_track  # type: ignore[method-assign]
    yield s
    for worker in workers:
        stop_process(worker.proc, timeout_s=20)


def _admin(secure: SecureCluster) -> Any:
    from kafka import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=secure.bootstrap, request_timeout_ms=20000,
                            **secure.client_options())


def _describe(secure: SecureCluster, topics: list[str]) -> dict[str, list[dict[str, Any]]]:
    admin = _admin(secure)
    try:
        return {t["name"]: t["partitions"] for t in admin.describe_topics(topics)}
    finally:
        admin.close()


def _topic_config(secure: SecureCluster, topic: str, key: str) -> str:
    from kafka.admin import ConfigResource

    admin = _admin(secure)
    try:
        described = admin.describe_configs([ConfigResource("topic", topic, {key: None})],
                                           config_filter="all")["topic"][topic]
    finally:
        admin.close()
    return str(described[key]["value"])


def _wait_for_full_isr(secure: SecureCluster, topics: list[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    described: dict[str, list[dict[str, Any]]] = {}
    while time.monotonic() < deadline:
        described = _describe(secure, topics)
        if all(len(p["isr_nodes"]) == 3
               for parts in described.values() for p in parts):
            return
        time.sleep(1)
    raise AssertionError(f"replicas did not catch up: {described}")


def _produce_over_time(stack: SecureStack, secure: SecureCluster, mentions: list[dict[str, Any]],
                       on_sent: dict[int, Any]) -> list[str]:
    """Produce the mentions at RATE_PER_S over SASL_SSL, keyed by customer like mentionwatch's
    producers, with librdkafka (acks=all, idempotent, retried while a broker is gone; its
    security options from agents.kafka_clients); on_sent[n] is called after the n-th send.
    Returns the ids whose delivery Kafka acknowledged. (kafka-python's idempotent producer
    once stalled for good after the broker restart here: 318 records never acknowledged.)"""
    from confluent_kafka import Producer

    from agents.config import load_settings
    from agents.kafka_clients import confluent_security
    from schemas.codec import mention_from_dict, parse_rfc3339_ms
    from streams.brands import parse_brand_config
    from streams.enrich import producer_key

    config = parse_brand_config(DEMO_BRANDS.read_text(encoding="utf-8"))
    producer = Producer({"bootstrap.servers": secure.bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5,
                         "delivery.timeout.ms": 180_000,
                         **confluent_security(load_settings(secure.env()))})
    acked: list[str] = []
    failed: list[str] = []

    def delivered(mention_id: str) -> Any:
        return lambda err, _msg: (failed if err else acked).append(mention_id)

    started = time.monotonic()
    for n, m in enumerate(mentions, 1):
        key = producer_key(mention_from_dict(m), config)
        producer.produce(stack.topic("mentions.raw"), key=key.encode(), value=orjson.dumps(m),
                         timestamp=parse_rfc3339_ms(m["created_at"]),
                         on_delivery=delivered(m["id"]))
        producer.poll(0)
        if n in on_sent:
            on_sent[n]()
        time.sleep(max(0.0, started + n / RATE_PER_S - time.monotonic()))
    remaining = producer.flush(180)
    assert remaining == 0 and not failed, f"{remaining} undelivered, {len(failed)} failed"
    return acked


def _read_topic(secure: SecureCluster, topic: str, *, until: Any, timeout_s: float = 180
                ) -> list[Any]:
    """Every record of topic from the beginning, read over SASL_SSL until until(records) holds
    (or time runs out)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=secure.bootstrap, group_id=None,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             **secure.client_options())
    records: list[Any] = []
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(batch)
            if until(records):
                break
    finally:
        consumer.close()
    return records


def _live_decided(secure: SecureCluster, stack: SecureStack
                  ) -> tuple[dict[tuple[str, str], int], list[str]]:
    """Decided mentions per brand and view on complaints.events (after corrections), and ids
    announced both answered and ignored (test_tracking_kafka's rule, read over SASL_SSL)."""
    topic = stack.topic("complaints.events")
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=secure.bootstrap, group_id=None,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             **secure.client_options())
    parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    ends = consumer.end_offsets(parts)
    kinds: dict[str, set[str]] = defaultdict(set)
    meta: dict[str, tuple[str, bool]] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(consumer.position(tp) < ends[tp] for tp in parts):
        for batch in consumer.poll(timeout_ms=1000).values():
            for rec in batch:
                event = orjson.loads(rec.value)
                mid = event["mention_id"]
                meta[mid] = (event["brand"], event["complaint"])
                if event["kind"] == "corrected":
                    kinds[mid] -= set(event.get("retracts", []))
                else:
                    kinds[mid].add(event["kind"])
    consumer.close()
    decided: dict[tuple[str, str], int] = defaultdict(int)
    contradictory = []
    for mid, seen in kinds.items():
        brand, complaint = meta[mid]
        if {"answered", "ignored"} <= seen:
            contradictory.append(mid)
        if seen & {"answered", "ignored"}:
            decided[(brand, "all_inbound")] += 1
            if complaint:
                decided[(brand, "complaints")] += 1
    return dict(decided), contradictory


def _wait_assigned(worker: Any, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if "tracking partitions assigned: [0, 1, 2]" in worker.log_path.read_text(
                errors="replace"):
            return
        assert worker.alive(), worker.log()
        time.sleep(0.5)
    raise AssertionError(f"the worker got no partitions:\n{worker.log()}")


def test_a_sasl_ssl_worker_loses_nothing_when_a_broker_is_killed_mid_stream(
        secure: SecureCluster, stack: SecureStack, tmp_path: Path) -> None:
    started = time.monotonic()
    raw = stack.topic("mentions.raw")
    # The project's own topics: replication factor 3, min.insync.replicas 2 (ensure_topics).
    for topic, parts in _describe(secure, [raw, stack.topic("complaints.events")]).items():
        assert {len(p["replica_nodes"]) for p in parts} == {3}, topic
        assert _topic_config(secure, topic, "min.insync.replicas") == "2"

    worker = stack.start_worker("w1", **LIVE_ENV)
    _wait_assigned(worker)
    mentions = _stream(MENTIONS, seed=33, partitions=PARTITIONS)
    victim = _describe(secure, [raw])[raw][0]["leader_id"]  # leads raw partition 0
    events: dict[str, float] = {}

    def kill() -> None:
        secure.kill(victim)
        events["killed"] = time.monotonic()

    def restart() -> None:
        secure.restart(victim)
        events["restarted"] = time.monotonic()

    acked = _produce_over_time(stack, secure, mentions, {KILL_AT: kill, RESTART_AT: restart})
    assert len(acked) == len(mentions), "the producer lost records while a broker was down"
    sent_ids = {m["id"] for m in mentions}

    # Every mention reached mentions.enriched (at least once).
    def all_enriched(records: list[Any]) -> bool:
        return {orjson.loads(r.value)["mention"]["id"] for r in records} >= sent_ids

    enriched = _read_topic(secure, stack.topic("mentions.enriched"), until=all_enriched)
    enriched_ids = Counter(orjson.loads(r.value)["mention"]["id"] for r in enriched)
    missing = sent_ids - set(enriched_ids)
    assert not missing, f"{len(missing)} mentions never enriched, e.g. {sorted(missing)[:5]}"
    assert set(enriched_ids) == sent_ids

    # Every complaint decision equals replay's (replay reads over SASL_SSL too).
    expected = _replay_decided(stack, tmp_path)
    assert sum(expected.values()) > 300
    live: dict[tuple[str, str], int] = {}
    contradictory: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        live, contradictory = _live_decided(secure, stack)
        if live == {k: v for k, v in expected.items() if v}:
            break
        time.sleep(2)
    assert contradictory == []
    assert live == {k: v for k, v in expected.items() if v}
    assert worker.alive(), worker.log()

    # faust's changelog (and leader) topics: replicated like ours, all replicas back in sync.
    changelog = f"{stack.prefix}app-threads-changelog"
    leader = f"{stack.prefix}app-__assignor-__leader"
    described = _describe(secure, [changelog, leader])
    assert {len(p["replica_nodes"]) for parts in described.values() for p in parts} == {3}
    assert len(described[changelog]) == PARTITIONS
    assert _topic_config(secure, changelog, "min.insync.replicas") == "2"
    _wait_for_full_isr(secure, [raw, changelog])
    print(f"streamed {len(mentions)} mentions at {RATE_PER_S:.0f}/s over SASL_SSL; broker "
          f"{victim} SIGKILLed after {KILL_AT} and restarted after {RESTART_AT} "
          f"({events['restarted'] - events['killed']:.1f}s down); "
          f"{len(enriched)} enriched records for {len(enriched_ids)} mentions "
          f"({sum(c - 1 for c in enriched_ids.values())} repeats); decisions equal replay: "
          f"{sum(expected.values())} ({dict(sorted(live.items()))}); "
          f"{time.monotonic() - started:.0f}s")


def test_ingest_through_a_broker_kill_ends_in_bounded_time_with_true_counts(
        secure: SecureCluster, stack: SecureStack, tmp_path: Path) -> None:
    """`mentionwatch ingest` (kafka-python, idempotent) reads a pipe while the leader of a raw
    partition is SIGKILLed and restarted. kafka-python's producer once stalled for good there
    (records neither acknowledged nor expired): the ingest must still end within its
    --ack-timeout, and its counts be the truth: sent + rejected = every line, every line not
    in --rejects is in mentions.raw."""
    raw = stack.topic("mentions.raw")
    mentions = _stream(600, seed=44, partitions=PARTITIONS)
    fifo, rejects = tmp_path / "in.fifo", tmp_path / "rejects.jsonl"
    os.mkfifo(fifo)
    victim = _describe(secure, [raw])[raw][0]["leader_id"]
    ack_timeout = 20
    proc = subprocess.Popen(
        [sys.executable, "-m", "agents.cli", "ingest", str(fifo), "--no-progress",
         "--rejects", str(rejects), "--ack-timeout", str(ack_timeout)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **stack.env}, cwd=REPO)
    started = time.monotonic()
    try:
        with open(fifo, "wb") as pipe:
            for n, m in enumerate(mentions, 1):
                pipe.write(orjson.dumps(m) + b"\n")
                pipe.flush()
                if n == 200:
                    secure.kill(victim)
                if n == 400:
                    secure.restart(victim)
                time.sleep(0.01)
        closed = time.monotonic()
        out, err = proc.communicate(timeout=ack_timeout + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
    waited = time.monotonic() - closed
    print(f"ingest through a broker kill: exit {proc.returncode}, {waited:.1f}s after the "
          f"input ended ({time.monotonic() - started:.1f}s in all): {out.strip()[:300]}")
    assert "Traceback" not in err, err
    assert waited < ack_timeout + 15
    summary = out.splitlines()[0]
    sent = int(summary.split()[1])
    rejected = int(summary.split("rejected ")[1].split()[0].rstrip(","))
    assert sent + rejected == len(mentions), out
    assert proc.returncode == (1 if rejected else 0), out
    not_acked = {orjson.loads(line)["id"] for line in rejects.read_bytes().splitlines()}
    assert len(not_acked) == rejected
    acked = {m["id"] for m in mentions} - not_acked
    found = {orjson.loads(r.value)["id"] for r in _read_topic(
        secure, raw, timeout_s=60,
        until=lambda records: {orjson.loads(r.value)["id"] for r in records} >= acked)}
    assert acked <= found, f"{len(acked - found)} reported sent but not in {raw}"
    _wait_for_full_isr(secure, [raw])


def test_plain_and_scram_both_authenticate(secure: SecureCluster, tmp_path: Path) -> None:
    for mechanism in ("PLAIN", "SCRAM-SHA-512"):
        env = {**os.environ, **secure.env(mechanism=mechanism),
               "MENTIONWATCH_HOME": str(tmp_path), "MENTIONWATCH_PARTITIONS": str(PARTITIONS),
               "MENTIONWATCH_TOPIC_PREFIX": f"p{mechanism[:5].lower()}."}
        out = subprocess.run([sys.executable, "-m", "agents.cli", "topics", "create"],
                             capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "created" in out.stdout


WRONG = "not-the-password-4711"


@pytest.mark.parametrize("command", [
    ["replay", "--from", "2026-01-01", "--to", "2027-01-01"],
    ["topics", "create"],
    ["ingest", "IN"],
])
def test_a_wrong_password_is_a_clear_cli_error(secure: SecureCluster, tmp_path: Path,
                                               command: list[str]) -> None:
    env = {**os.environ, **secure.env(password=WRONG), "MENTIONWATCH_HOME": str(tmp_path),
           "MENTIONWATCH_PARTITIONS": str(PARTITIONS)}
    if "IN" in command:  # a file of mentions to ingest
        mentions = tmp_path / "in.jsonl"
        mentions.write_bytes(b"".join(orjson.dumps(m) + b"\n"
                                      for m in _stream(3, seed=1, partitions=PARTITIONS)))
        command = [str(mentions) if arg == "IN" else arg for arg in command]
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "agents.cli", *command], capture_output=True,
                         text=True, env=env, cwd=REPO, timeout=180)
    took = time.monotonic() - started
    print(f"{' '.join(command[:2])}: exit {out.returncode} after {took:.1f}s: "
          f"{out.stderr.strip()[:400]}")
    assert out.returncode != 0
    assert "authentication failed" in out.stderr.lower()
    assert "Traceback" not in out.stderr
    assert WRONG not in out.stderr + out.stdout
    if command[0] != "replay":  # replay words it its own way (agents/replay.py)
        assert "user 'mentionwatch' with SCRAM-SHA-512" in out.stderr
    assert "cannot reach" not in out.stderr
    assert took < 30  # kafka-python alone would time out after 30 s


def test_a_worker_with_a_wrong_password_says_so_promptly(secure: SecureCluster, tmp_path: Path
                                                         ) -> None:
    """It exits (non-zero, the reason in its log) or reports not ready with the reason; it
    neither hangs silently nor logs the password."""
    web_port = free_port()
    env = {**os.environ, **secure.env(password=WRONG), "MENTIONWATCH_HOME": str(tmp_path),
           "MENTIONWATCH_PARTITIONS": str(PARTITIONS), "MENTIONWATCH_WEB_PORT": str(web_port),
           "MENTIONWATCH_METRICS_PORT": "0", "MENTIONWATCH_APP_ID": "wrongpw"}
    log_path = tmp_path / "worker.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "worker"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                start_new_session=True)
    outcome = None
    try:
        while time.monotonic() - started < 120 and outcome is None:
            if proc.poll() is not None:
                outcome = f"exited {proc.returncode}"
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/readyz",
                                            timeout=2) as resp:
                    body = resp.read().decode()
            except urllib.error.HTTPError as exc:
                body = exc.read().decode()
                if "authentication" in body.lower():
                    outcome = f"not ready: {json.loads(body)['reasons']}"
            except OSError:
                pass
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            from agents.demo import stop_process

            stop_process(proc, timeout_s=20)
    took = time.monotonic() - started
    text = log_path.read_text(errors="replace")
    print(f"worker with a wrong password: {outcome} after {took:.1f}s")
    assert outcome is not None, f"no verdict within 120s:\n{text[-3000:]}"
    assert WRONG not in text
    if outcome.startswith("exited"):
        assert proc.returncode != 0
        assert "authentication failed" in text.lower(), text[-3000:]
        assert "user 'mentionwatch' with SCRAM-SHA-512" in text
        assert "Traceback" not in text, text[-3000:]
        assert took < 60


def test_authentication_problem_names_a_refused_password(secure: SecureCluster) -> None:
    from agents.config import load_settings
    from agents.kafka_clients import authentication_problem

    started = time.monotonic()
    refused = authentication_problem(load_settings(secure.env(password=WRONG)))
    took = time.monotonic() - started
    assert refused is not None and "authentication failed" in refused.lower()
    assert "user 'mentionwatch' with SCRAM-SHA-512" in refused and WRONG not in refused
    assert took < 10
    assert authentication_problem(load_settings(secure.env())) is None
    assert authentication_problem(load_settings(secure.env(mechanism="PLAIN"))) is None
