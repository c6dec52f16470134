"""Source topics, created up front (faust only creates its internal topics, and an agent whose
source topic is missing at start consumes nothing until restarted).

Every topic gets the replication factor, min.insync.replicas and retention of the settings.
An existing topic is never changed behind the operator's back: its configuration is compared
with the settings and each difference reported; `mentionwatch topics create --apply-config`
applies them (and says what changed). Its replication factor can't be changed by a config
change at all: a mismatch is reported as one."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agents.config import DAY_MS, Settings
from agents.kafka_clients import authentication_problem, kafka_python_security

HOUR_MS = 3600 * 1000
# With SASL or TLS, a kafka-python client's first bootstrap gets this long before librdkafka is
# asked whether the brokers refuse the credentials (kafka-python only ever reports a timeout).
FIRST_BOOTSTRAP_S = 5.0
AUTH_PROBE_S = 5.0

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    config: dict[str, str]
    # config key → the environment variable that sets it (for the messages); keys not listed
    # are fixed by mentionwatch.
    sources: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    isr = {"min.insync.replicas": str(settings.min_insync_replicas)}
    isr_source = {"min.insync.replicas": "MENTIONWATCH_MIN_INSYNC_REPLICAS"}

    def retention(ms: int, variable: str) -> tuple[dict[str, str], dict[str, str]]:
        return ({"retention.ms": str(ms), **isr},
                {"retention.ms": variable, **isr_source})

    raw, raw_src = retention(settings.raw_retention_ms, "MENTIONWATCH_RAW_RETENTION_DAYS")
    enriched, enriched_src = retention(settings.enriched_retention_ms,
                                       "MENTIONWATCH_ENRICHED_RETENTION_DAYS")
    dlq, dlq_src = retention(settings.dlq_retention_ms, "MENTIONWATCH_DLQ_RETENTION_DAYS")
    events, events_src = retention(settings.events_retention_ms,
                                   "MENTIONWATCH_EVENTS_RETENTION_DAYS")
    return [
        # Raw mentions are the audit record, kept for the audit period (personal data:
        # docs/explanation/personal-data.md). A record timestamp is the time the mention was
        # produced, which the worker and replay check created_at against
        # (streams/event_time.py): the broker
        # refuses one stamped beyond the same tolerance ahead of its own clock, so no producer
        # can forge its way past.
        TopicSpec(settings.topic_raw, {
            **raw, "max.message.bytes": "1048588",
            "message.timestamp.after.max.ms": str(int(settings.max_future_s * 1000))},
            {**raw_src, "message.timestamp.after.max.ms": "MENTIONWATCH_MAX_FUTURE_SECONDS"}),
        # `replay --source enriched` audits the classifications recorded live.
        TopicSpec(settings.topic_enriched, enriched, enriched_src),
        # Dead letters wait for a human; they hold the original bytes (personal data).
        TopicSpec(settings.topic_dlq, {**dlq, "max.message.bytes": "2097152"}, dlq_src),
        TopicSpec(settings.topic_events, events, events_src),
        # Operational topics, short-lived by design: timer ticks routed through the agent
        # (agents/tracking.py), and enriched mentions whose raw record was not keyed by the
        # customer, on their way to the customer's partition (agents/app.py).
        TopicSpec(settings.topic_ticks, {"retention.ms": str(HOUR_MS), **isr}, isr_source),
        TopicSpec(settings.topic_rerouted, {"retention.ms": str(7 * 24 * HOUR_MS), **isr},
                  isr_source),
        # Deletions reported by the platforms (deletion.v1): kept as long as the mentions
        # they hide the text of.
        TopicSpec(settings.topic_deletions, raw, raw_src),
        # The sources' cursors (source_cursor.v1), one per source name: compacted, so the
        # newest position of every source is kept for good and nothing else.
        TopicSpec(settings.topic_source_cursors,
                  {"cleanup.policy": "compact", "retention.ms": "-1", **isr}, isr_source),
        # The brand configurations the workers ran with (brand_config.v1), one key per
        # version: compacted and kept for good, so an audit of any period judges each mention
        # with the configuration in force for it (agents/brand_versions.py).
        TopicSpec(settings.topic_brand_config,
                  {"cleanup.policy": "compact", "retention.ms": "-1", **isr}, isr_source),
    ]


def topic_names(settings: Settings) -> list[str]:
    """The topics `topics create` creates, in order (the CLI's help lists them from here)."""
    return [spec.name for spec in topic_specs(settings)]


class TopicError(RuntimeError):
    pass


class KafkaAuthError(RuntimeError):
    """The brokers refuse this client's credentials (or its TLS): the message says whose and
    how (never the password); retrying can't help."""


def bootstrap_kafka_python(settings: Settings, build: Callable[[int], T], timeout_s: float) -> T:
    """build(bootstrap_timeout_ms): a kafka-python client, which connects in its constructor.
    kafka-python reports credentials the brokers refuse only as a bootstrap timeout (after all
    of timeout_s, as if the broker were down). So with SASL or TLS configured, a first attempt
    that fails within FIRST_BOOTSTRAP_S asks librdkafka why (authentication_problem, about 1 s)
    and raises KafkaAuthError when the brokers refused us; otherwise the client gets the rest of
    timeout_s. Raises kafka-python's KafkaError (a timeout) when the brokers can't be reached."""
    from kafka.errors import KafkaError

    sec = settings.kafka_security
    if not (sec.uses_sasl or sec.uses_tls):  # nothing the brokers could refuse
        return build(int(timeout_s * 1000))
    deadline = time.monotonic() + timeout_s
    try:
        return build(int(min(FIRST_BOOTSTRAP_S, timeout_s) * 1000))
    except KafkaError:
        refused = authentication_problem(settings, timeout_s=AUTH_PROBE_S)
        if refused is not None:
            raise KafkaAuthError(refused) from None
    return build(max(1000, int((deadline - time.monotonic()) * 1000)))


# -- pure: what differs and how to say it ------------------------------------------------------

def show_value(key: str, value: str | None) -> str:
    """A config value for people: retention in days (or forever), the rest as is."""
    if value is None:
        return "unset"
    if key == "retention.ms":
        try:
            ms = int(value)
        except ValueError:
            return value
        if ms < 0:
            return "forever (-1)"
        days = ms / DAY_MS
        amount, unit = (days, "day") if days >= 1 else (ms / HOUR_MS, "hour")
        return f"{amount:g} {unit}{'' if amount == 1 else 's'} ({ms} ms)"
    return value


@dataclass(frozen=True, slots=True)
class ConfigChange:
    topic: str
    key: str
    current: str | None
    wanted: str
    source: str | None  # the environment variable that sets it, None: fixed by mentionwatch

    @property
    def shortens_retention(self) -> bool:
        """True when applying it lets the broker delete records it keeps now."""
        if self.key != "retention.ms":
            return False
        try:
            current, wanted = int(self.current or "-1"), int(self.wanted)
        except ValueError:
            return False
        return wanted >= 0 and (current < 0 or wanted < current)

    def describe(self) -> str:
        why = f" ({self.source})" if self.source else ""
        return (f"{self.key} is {show_value(self.key, self.current)}, the settings want "
                f"{show_value(self.key, self.wanted)}{why}")


def config_drift(spec: TopicSpec, current: Mapping[str, str | None]) -> list[ConfigChange]:
    """The keys of `spec` whose value on the broker (`current`, effective values) differs."""
    return [ConfigChange(spec.name, key, current.get(key), wanted, spec.sources.get(key))
            for key, wanted in spec.config.items() if current.get(key) != wanted]


def replication_mismatch(topic: str, replicas: list[int], wanted: int) -> str | None:
    """A line about a topic whose partitions don't have `wanted` replicas (None: they do).
    replicas: the replica count of each partition."""
    if not replicas or set(replicas) == {wanted}:
        return None
    found = "/".join(str(n) for n in sorted(set(replicas)))
    return (f"mismatch {topic}: replication factor {found}, MENTIONWATCH_REPLICATION_FACTOR is "
            f"{wanted}; a config change can't alter it: reassign the partitions "
            "(kafka-reassign-partitions.sh) or recreate the topic")


def unsafe_min_insync(change: ConfigChange, replication_factor: int) -> bool:
    """A min.insync.replicas above the topic's replication factor makes every acks=all write
    fail: never applied, whatever the settings say."""
    return change.key == "min.insync.replicas" and int(change.wanted) > replication_factor


def too_few_brokers(settings: Settings, brokers: int) -> str | None:
    if settings.replication_factor <= brokers:
        return None
    return (f"MENTIONWATCH_REPLICATION_FACTOR={settings.replication_factor}, but the cluster at "
            f"{settings.bootstrap_servers} has {brokers} broker{'s' if brokers != 1 else ''}: "
            f"a topic can have at most {brokers} replica{'s' if brokers != 1 else ''} (set "
            "MENTIONWATCH_REPLICATION_FACTOR and MENTIONWATCH_MIN_INSYNC_REPLICAS to match the "
            "cluster)")


def _drift_lines(changes: list[ConfigChange], applied: bool) -> list[str]:
    lines = []
    for change in changes:
        if applied:
            line = (f"changed  {change.topic}: {change.key} "
                    f"{show_value(change.key, change.current)} -> "
                    f"{show_value(change.key, change.wanted)}")
            if change.shortens_retention:
                line += "; the broker now deletes records older than that"
        else:
            line = f"differs  {change.topic}: {change.describe()}; not changed"
            if change.shortens_retention:
                line += " (applying it deletes older records)"
        lines.append(line)
    if changes and not applied:
        lines.append("         to apply the settings to existing topics: "
                     "mentionwatch topics create --apply-config")
    return lines


# -- the broker --------------------------------------------------------------------------------

def _admin(settings: Settings, timeout_s: float) -> Any:
    from kafka import KafkaAdminClient

    def build(bootstrap_timeout_ms: int) -> Any:
        return KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                                request_timeout_ms=int(timeout_s * 1000),
                                bootstrap_timeout_ms=bootstrap_timeout_ms,
                                client_id="mentionwatch-topics",
                                **kafka_python_security(settings))

    return bootstrap_kafka_python(settings, build, timeout_s)


def ensure_topics(settings: Settings, *, timeout_s: float = 30.0,
                  apply_config: bool = False) -> list[str]:
    """Create missing topics; fail if an existing one has another partition count (co-partitioned
    tables need the same count everywhere) or the cluster has fewer brokers than a new topic
    needs replicas. Report (or with apply_config, apply) configuration that differs from the
    settings, and report a replication factor that differs. Returns one line per finding for
    the CLI."""
    from kafka.admin import ConfigResource, NewTopic
    from kafka.errors import (
        InvalidReplicationFactorError,
        KafkaError,
        TopicAlreadyExistsError,
    )

    specs = topic_specs(settings)
    try:
        a = _admin(settings, timeout_s)
    except KafkaAuthError as exc:
        raise TopicError(str(exc)) from None
    except KafkaError as exc:
        raise TopicError(f"cannot reach the broker at {settings.bootstrap_servers} "
                         f"(MENTIONWATCH_BOOTSTRAP_SERVERS): {type(exc).__name__}: {exc}"
                         ) from None
    try:
        existing = set(a.list_topics())
        lines: list[str] = []
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            brokers = len(a.describe_cluster()["brokers"])
            problem = too_few_brokers(settings, brokers)
            if problem:
                raise TopicError(problem)
        for spec in specs:
            if spec.name in existing:
                lines.append(f"exists   {spec.name}")
                continue
            try:
                a.create_topics(
                    [NewTopic(spec.name, num_partitions=settings.partitions,
                              replication_factor=settings.replication_factor,
                              topic_configs=spec.config)],
                    timeout_ms=int(timeout_s * 1000),
                )
                lines.append(
                    f"created  {spec.name} ({settings.partitions} partitions, replication "
                    f"factor {settings.replication_factor}, min.insync.replicas "
                    f"{settings.min_insync_replicas}, retention "
                    f"{show_value('retention.ms', spec.config['retention.ms'])})")
            except TopicAlreadyExistsError:
                lines.append(f"exists   {spec.name}")
            except InvalidReplicationFactorError as exc:
                raise TopicError(f"can't create {spec.name} with replication factor "
                                 f"{settings.replication_factor} "
                                 f"(MENTIONWATCH_REPLICATION_FACTOR): {exc}") from None
        names = [s.name for s in specs]
        deadline = time.monotonic() + timeout_s
        while True:  # new topics take a moment to appear in the metadata
            described = a.describe_topics(names)
            if all(t.get("error_code") == 0 and t.get("partitions") for t in described):
                break
            if time.monotonic() > deadline:
                raise TopicError(f"topics did not become available: {described}")
            time.sleep(0.2)
        for topic in described:
            count = len(topic.get("partitions", []))
            if count != settings.partitions:
                raise TopicError(
                    f"topic {topic['name']} has {count} partitions, MENTIONWATCH_PARTITIONS is "
                    f"{settings.partitions}: co-partitioned tables need the same count "
                    "(set MENTIONWATCH_PARTITIONS to match, or recreate the topics)"
                )
        replicas = {t["name"]: [len(p["replica_nodes"]) for p in t["partitions"]]
                    for t in described}
        for name in names:
            mismatch = replication_mismatch(name, replicas[name], settings.replication_factor)
            if mismatch:
                lines.append(mismatch)
        lines.extend(_reconcile(a, specs, {name: min(r) for name, r in replicas.items()},
                                apply_config, ConfigResource))
        return lines
    except KafkaError as exc:
        raise TopicError(f"could not create topics on {settings.bootstrap_servers}: "
                         f"{type(exc).__name__}: {exc}") from exc
    finally:
        a.close()


def _reconcile(admin: Any, specs: list[TopicSpec], replicas: dict[str, int], apply_config: bool,
               config_resource: type) -> list[str]:
    """Compare each topic's effective configuration with its spec; apply the differences when
    asked (incrementally: only the keys of the spec, nothing else on the topic changes).
    replicas: each topic's (smallest) replication factor."""
    described = admin.describe_configs(
        [config_resource("topic", spec.name, dict.fromkeys(spec.config)) for spec in specs],
        config_filter="all")["topic"]
    changes: list[ConfigChange] = []
    for spec in specs:
        current = {key: entry.get("value") for key, entry in described[spec.name].items()}
        changes.extend(config_drift(spec, current))
    held = [c for c in changes if unsafe_min_insync(c, replicas.get(c.topic, 0))]
    changes = [c for c in changes if c not in held]
    lines = [f"kept     {c.topic}: {c.key} stays {c.current}: {c.wanted} is more than its "
             f"replication factor {replicas.get(c.topic)}, and the broker would refuse every "
             "write (fix the replication first)" for c in held]
    if changes and apply_config:
        by_topic: dict[str, dict[str, str]] = {}
        for change in changes:
            by_topic.setdefault(change.topic, {})[change.key] = change.wanted
        result = admin.alter_configs(
            [config_resource("topic", name, configs) for name, configs in by_topic.items()],
            incremental=True)["topic"]
        failed = {name: outcome for name, outcome in result.items() if outcome != "OK"}
        if failed:
            raise TopicError(f"could not change the configuration of {failed}")
    return lines + _drift_lines(changes, applied=apply_config)
