"""`mentionwatch topics create` on the real broker: replication, min.insync.replicas and
retention from the settings; existing topics compared, changed only with --apply-config; a
replication factor the cluster can't give is a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from agents.config import DAY_MS, load_settings
from agents.topics import TopicError, ensure_topics, topic_specs

NAMES = ("mentions.raw", "mentions.enriched", "mentions.dlq", "complaints.events",
         "mentionwatch.ticks", "mentionwatch.rerouted", "mentions.deletions",
         "mentionwatch.sources")


def _env(kafka: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"MENTIONWATCH_BOOTSTRAP_SERVERS": kafka, "MENTIONWATCH_HOME": str(tmp_path / "h"),
            "MENTIONWATCH_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.", **extra}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, cwd=REPO, timeout=120)


def _describe(kafka: str, prefix: str) -> dict[str, dict[str, Any]]:
    """topic name (without prefix) → its retention.ms, min.insync.replicas, replica counts."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource

    admin = KafkaAdminClient(bootstrap_servers=kafka, client_id="test-topics")
    try:
        names = [prefix + n for n in NAMES]
        configs = admin.describe_configs(
            [ConfigResource("topic", n, {"retention.ms": None, "min.insync.replicas": None})
             for n in names], config_filter="all")["topic"]
        topics = {t["name"]: t for t in admin.describe_topics(names)}
    finally:
        admin.close()
    return {n[len(prefix):]: {
        "retention.ms": int(configs[n]["retention.ms"]["value"]),
        "min.insync.replicas": int(configs[n]["min.insync.replicas"]["value"]),
        "replicas": {len(p["replica_nodes"]) for p in topics[n]["partitions"]},
    } for n in names}


def test_new_topics_take_replication_min_insync_and_retention_from_the_settings(
        kafka: str, tmp_path: Path) -> None:
    env = _env(kafka, tmp_path, MENTIONWATCH_RAW_RETENTION_DAYS="forever",
               MENTIONWATCH_ENRICHED_RETENTION_DAYS="90", MENTIONWATCH_DLQ_RETENTION_DAYS="7",
               MENTIONWATCH_EVENTS_RETENTION_DAYS="14")
    out = _cli(env, "topics", "create")
    assert out.returncode == 0, out.stderr
    assert (f"created  {env['MENTIONWATCH_TOPIC_PREFIX']}mentions.dlq (6 partitions, "
            "replication factor 1, min.insync.replicas 1, retention 7 days (604800000 ms))"
            ) in out.stdout.splitlines()
    found = _describe(kafka, env["MENTIONWATCH_TOPIC_PREFIX"])
    assert {n: t["retention.ms"] for n, t in found.items()} == {
        "mentions.raw": -1, "mentions.enriched": 90 * DAY_MS, "mentions.dlq": 7 * DAY_MS,
        "complaints.events": 14 * DAY_MS, "mentionwatch.ticks": 3600 * 1000,
        "mentionwatch.rerouted": 7 * DAY_MS,
        "mentions.deletions": -1,  # as long as the raw mentions whose texts they hide
        "mentionwatch.sources": -1}  # compacted cursors, kept for good
    assert all(t["min.insync.replicas"] == 1 and t["replicas"] == {1} for t in found.values())
    # Run again with the same settings: nothing to report.
    again = _cli(env, "topics", "create")
    assert again.returncode == 0 and all(
        line.startswith("exists   ") for line in again.stdout.splitlines()), again.stdout


def test_existing_retention_is_reported_and_changed_only_when_asked(
        kafka: str, tmp_path: Path) -> None:
    """The audit record was kept forever; the new settings would keep it 400 days. Creating
    topics (what every worker does at start) must not shorten it silently."""
    env = _env(kafka, tmp_path, MENTIONWATCH_RAW_RETENTION_DAYS="forever")
    prefix = env["MENTIONWATCH_TOPIC_PREFIX"]
    assert _cli(env, "topics", "create").returncode == 0
    shorter = {**env, "MENTIONWATCH_RAW_RETENTION_DAYS": "400",
               "MENTIONWATCH_DLQ_RETENTION_DAYS": "60"}
    lines = ensure_topics(load_settings(shorter))  # the worker's call, too
    assert (f"differs  {prefix}mentions.raw: retention.ms is forever (-1), the settings want "
            "400 days (34560000000 ms) (MENTIONWATCH_RAW_RETENTION_DAYS); not changed "
            "(applying it deletes older records)") in lines
    assert (f"differs  {prefix}mentions.dlq: retention.ms is 30 days (2592000000 ms), the "
            "settings want 60 days (5184000000 ms) (MENTIONWATCH_DLQ_RETENTION_DAYS); not "
            "changed") in lines
    # Deletions are kept as long as the raw mentions whose texts they hide.
    assert (f"differs  {prefix}mentions.deletions: retention.ms is forever (-1), the settings "
            "want 400 days (34560000000 ms) (MENTIONWATCH_RAW_RETENTION_DAYS); not changed "
            "(applying it deletes older records)") in lines
    assert sum(line.startswith("differs") for line in lines) == 3
    assert _describe(kafka, prefix)["mentions.raw"]["retention.ms"] == -1

    out = _cli(shorter, "topics", "create", "--apply-config")
    assert out.returncode == 0, out.stderr
    assert (f"changed  {prefix}mentions.raw: retention.ms forever (-1) -> 400 days "
            "(34560000000 ms); the broker now deletes records older than that"
            ) in out.stdout.splitlines()
    assert (f"changed  {prefix}mentions.dlq: retention.ms 30 days (2592000000 ms) -> 60 days "
            "(5184000000 ms)") in out.stdout.splitlines()
    found = _describe(kafka, prefix)
    assert found["mentions.raw"]["retention.ms"] == 400 * DAY_MS
    assert found["mentions.dlq"]["retention.ms"] == 60 * DAY_MS
    # Other keys of the topic are left alone by the incremental change.
    assert found["mentions.enriched"]["retention.ms"] == 400 * DAY_MS
    assert all(not line.startswith(("differs", "changed"))
               for line in ensure_topics(load_settings(shorter)))


def test_a_replication_factor_above_the_broker_count_is_a_clear_error(
        kafka: str, tmp_path: Path) -> None:
    env = _env(kafka, tmp_path, MENTIONWATCH_REPLICATION_FACTOR="3",
               MENTIONWATCH_MIN_INSYNC_REPLICAS="2")
    out = _cli(env, "topics", "create")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.splitlines() == [
        f"Error: MENTIONWATCH_REPLICATION_FACTOR=3, but the cluster at {kafka} has 1 broker: a "
        "topic can have at most 1 replica (set MENTIONWATCH_REPLICATION_FACTOR and "
        "MENTIONWATCH_MIN_INSYNC_REPLICAS to match the cluster)"]
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka, client_id="test-topics")
    try:
        assert not [t for t in admin.list_topics()
                    if t.startswith(env["MENTIONWATCH_TOPIC_PREFIX"])]
    finally:
        admin.close()
    with pytest.raises(TopicError, match="has 1 broker"):
        ensure_topics(load_settings(env))


def test_a_replication_mismatch_is_reported_and_min_insync_kept_within_it(
        kafka: str, tmp_path: Path) -> None:
    """Existing topics with one replica, settings asking for 2 (and min.insync.replicas 2):
    reported per topic; even --apply-config never raises min.insync.replicas above the
    topic's replication factor (every acks=all write would be refused)."""
    env = _env(kafka, tmp_path)
    prefix = env["MENTIONWATCH_TOPIC_PREFIX"]
    assert _cli(env, "topics", "create").returncode == 0
    wants_two = {**env, "MENTIONWATCH_REPLICATION_FACTOR": "2",
                 "MENTIONWATCH_MIN_INSYNC_REPLICAS": "2"}
    out = _cli(wants_two, "topics", "create", "--apply-config")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for spec in topic_specs(load_settings(env)):
        assert (f"mismatch {spec.name}: replication factor 1, MENTIONWATCH_REPLICATION_FACTOR "
                "is 2; a config change can't alter it: reassign the partitions "
                "(kafka-reassign-partitions.sh) or recreate the topic") in lines
        assert (f"kept     {spec.name}: min.insync.replicas stays 1: 2 is more than its "
                "replication factor 1, and the broker would refuse every write (fix the "
                "replication first)") in lines
    assert not [line for line in lines if line.startswith("changed")]
    assert {t["min.insync.replicas"] for t in _describe(kafka, prefix).values()} == {1}
