"""Topic specs and the comparison with existing topics, without a broker."""

from __future__ import annotations

import pytest

from agents.config import DAY_MS, load_settings
from agents.topics import (
    ConfigChange,
    TopicSpec,
    _drift_lines,
    config_drift,
    replication_mismatch,
    show_value,
    too_few_brokers,
    topic_specs,
    unsafe_min_insync,
)


def test_every_topic_gets_min_insync_and_its_retention_from_the_settings() -> None:
    settings = load_settings({"MENTIONWATCH_RAW_RETENTION_DAYS": "forever",
                              "MENTIONWATCH_ENRICHED_RETENTION_DAYS": "90",
                              "MENTIONWATCH_DLQ_RETENTION_DAYS": "7",
                              "MENTIONWATCH_EVENTS_RETENTION_DAYS": "0.5",
                              "MENTIONWATCH_REPLICATION_FACTOR": "3",
                              "MENTIONWATCH_MIN_INSYNC_REPLICAS": "2",
                              "MENTIONWATCH_TOPIC_PREFIX": "p."})
    specs = {s.name: s.config for s in topic_specs(settings)}
    assert {name: config["retention.ms"] for name, config in specs.items()} == {
        "p.mentions.raw": "-1",
        "p.mentions.enriched": str(90 * DAY_MS),
        "p.mentions.dlq": str(7 * DAY_MS),
        "p.complaints.events": str(DAY_MS // 2),
        "p.mentionwatch.ticks": "3600000",  # operational: short whatever the settings
        "p.mentionwatch.rerouted": str(7 * DAY_MS),
        "p.mentions.deletions": "-1",  # as long as the mentions whose text they hide
        "p.mentionwatch.sources": "-1",  # compacted: the newest cursor per source, for good
        "p.mentionwatch.config": "-1",  # compacted: every recorded brand configuration
    }
    assert specs["p.mentionwatch.config"]["cleanup.policy"] == "compact"
    assert specs["p.mentionwatch.sources"]["cleanup.policy"] == "compact"
    assert {config["min.insync.replicas"] for config in specs.values()} == {"2"}
    assert specs["p.mentions.raw"]["message.timestamp.after.max.ms"] == "300000"


def test_defaults_keep_the_audit_record_400_days_and_the_rest_30() -> None:
    specs = {s.name: s for s in topic_specs(load_settings({}))}
    assert specs["mentions.raw"].config["retention.ms"] == str(400 * DAY_MS)
    assert specs["mentions.dlq"].config["retention.ms"] == str(30 * DAY_MS)
    assert specs["mentions.raw"].sources["retention.ms"] == "MENTIONWATCH_RAW_RETENTION_DAYS"


def test_drift_lists_only_keys_that_differ() -> None:
    spec = TopicSpec("t", {"retention.ms": "-1", "min.insync.replicas": "2"},
                     {"retention.ms": "MENTIONWATCH_RAW_RETENTION_DAYS"})
    assert config_drift(spec, {"retention.ms": "-1", "min.insync.replicas": "2"}) == []
    assert config_drift(spec, {"retention.ms": str(DAY_MS), "min.insync.replicas": "2"}) == [
        ConfigChange("t", "retention.ms", str(DAY_MS), "-1", "MENTIONWATCH_RAW_RETENTION_DAYS")]


def test_shortening_retention_is_flagged_lengthening_is_not() -> None:
    def change(current: str, wanted: str) -> ConfigChange:
        return ConfigChange("t", "retention.ms", current, wanted, None)

    assert change("-1", str(400 * DAY_MS)).shortens_retention
    assert change(str(30 * DAY_MS), str(7 * DAY_MS)).shortens_retention
    assert not change(str(7 * DAY_MS), str(30 * DAY_MS)).shortens_retention
    assert not change(str(7 * DAY_MS), "-1").shortens_retention
    assert not ConfigChange("t", "min.insync.replicas", "2", "1", None).shortens_retention


def test_drift_lines_say_what_is_not_changed_and_how_to_change_it() -> None:
    shorter = ConfigChange("mentions.raw", "retention.ms", "-1", str(400 * DAY_MS),
                           "MENTIONWATCH_RAW_RETENTION_DAYS")
    assert _drift_lines([shorter], applied=False) == [
        "differs  mentions.raw: retention.ms is forever (-1), the settings want 400 days "
        "(34560000000 ms) (MENTIONWATCH_RAW_RETENTION_DAYS); not changed (applying it deletes "
        "older records)",
        "         to apply the settings to existing topics: "
        "mentionwatch topics create --apply-config"]
    assert _drift_lines([shorter], applied=True) == [
        "changed  mentions.raw: retention.ms forever (-1) -> 400 days (34560000000 ms); the "
        "broker now deletes records older than that"]
    assert _drift_lines([], applied=False) == []


def test_show_value() -> None:
    assert show_value("retention.ms", "3600000") == "1 hour (3600000 ms)"
    assert show_value("retention.ms", str(DAY_MS)) == "1 day (86400000 ms)"
    assert show_value("min.insync.replicas", "2") == "2"
    assert show_value("retention.ms", None) == "unset"


def test_replication_and_broker_count() -> None:
    assert replication_mismatch("t", [3, 3], 3) is None
    line = replication_mismatch("t", [1, 1], 3)
    assert line is not None and line.startswith(
        "mismatch t: replication factor 1, MENTIONWATCH_REPLICATION_FACTOR is 3; a config "
        "change can't alter it")
    settings = load_settings({"MENTIONWATCH_REPLICATION_FACTOR": "3",
                              "MENTIONWATCH_BOOTSTRAP_SERVERS": "k:9092"})
    assert too_few_brokers(settings, 3) is None
    assert too_few_brokers(settings, 1) == (
        "MENTIONWATCH_REPLICATION_FACTOR=3, but the cluster at k:9092 has 1 broker: a topic can "
        "have at most 1 replica (set MENTIONWATCH_REPLICATION_FACTOR and "
        "MENTIONWATCH_MIN_INSYNC_REPLICAS to match the cluster)")


def test_min_insync_above_the_topics_replication_is_never_applied() -> None:
    change = ConfigChange("t", "min.insync.replicas", "1", "2", None)
    assert unsafe_min_insync(change, 1) and not unsafe_min_insync(change, 3)


# -- a refused password is named, not reported as an unreachable broker ---------------------------

SASL = {"MENTIONWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "MENTIONWATCH_KAFKA_USERNAME": "ingest", "MENTIONWATCH_KAFKA_PASSWORD": "wrong-secret"}


def _bootstrap(env: dict[str, str], refused: str | None, monkeypatch: pytest.MonkeyPatch,
               succeed_on: int = 99) -> tuple[list[int], list[float]]:
    """Run bootstrap_kafka_python with a client that times out (until attempt succeed_on) and
    a probe answering `refused`; returns the bootstrap timeouts tried and the probe calls."""
    from kafka.errors import KafkaTimeoutError

    from agents import topics

    tried: list[int] = []
    probed: list[float] = []

    def probe(_settings: object, timeout_s: float) -> str | None:
        probed.append(timeout_s)
        return refused

    def build(bootstrap_timeout_ms: int) -> str:
        tried.append(bootstrap_timeout_ms)
        if len(tried) < succeed_on:
            raise KafkaTimeoutError("Unable to bootstrap")
        return "client"

    monkeypatch.setattr(topics, "authentication_problem", probe)
    assert topics.bootstrap_kafka_python(load_settings(env), build, 30.0) == "client"
    return tried, probed


def test_a_refused_password_is_named_after_a_short_first_bootstrap(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.topics import KafkaAuthError

    with pytest.raises(KafkaAuthError, match="authentication failed for 'ingest'"):
        _bootstrap(SASL, "Kafka authentication failed for 'ingest'", monkeypatch)


def test_an_unreachable_broker_gets_the_whole_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from kafka.errors import KafkaTimeoutError

    with pytest.raises(KafkaTimeoutError):
        _bootstrap(SASL, None, monkeypatch)
    # plaintext: one attempt of 30 s, no probe (nothing to refuse)
    tried, probed = _bootstrap({}, None, monkeypatch, succeed_on=1)
    assert tried == [30_000] and probed == []
    # SASL, slow broker: a short first attempt, the probe, then the rest of the 30 s (the
    # first attempt failed at once here)
    tried, probed = _bootstrap(SASL, None, monkeypatch, succeed_on=2)
    assert tried[0] == 5_000 and 29_000 < tried[1] <= 30_000 and probed == [5.0]
