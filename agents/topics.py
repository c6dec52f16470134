"""Source topics, created up front (faust only creates its internal topics, and an agent whose
source topic is missing at start consumes nothing until restarted)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from agents.config import Settings


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    config: dict[str, str]


def topic_specs(settings: Settings) -> list[TopicSpec]:
    return [
        # Raw mentions are the audit record: kept until the operator deletes them. A record
        # timestamp is the time the mention was produced, which the worker and replay check
        # created_at against (streams/event_time.py): the broker refuses one stamped beyond the
        # same tolerance ahead of its own clock, so no producer can forge its way past.
        TopicSpec(settings.topic_raw, {
            "retention.ms": "-1", "max.message.bytes": "1048588",
            "message.timestamp.after.max.ms": str(int(settings.max_future_s * 1000))}),
        # Kept as long: `replay --source enriched` audits the classifications recorded live.
        TopicSpec(settings.topic_enriched, {"retention.ms": "-1"}),
        # Dead letters wait for a human: keep them as long as raw mentions.
        TopicSpec(settings.topic_dlq, {"retention.ms": "-1", "max.message.bytes": "2097152"}),
        TopicSpec(settings.topic_events, {"retention.ms": str(30 * 24 * 3600 * 1000)}),
        # Timer ticks routed through the agent (see agents/tracking.py).
        TopicSpec(settings.topic_ticks, {"retention.ms": str(3600 * 1000)}),
        # Enriched mentions whose raw record was not keyed by the customer, on their way to the
        # customer's partition (see agents/app.py).
        TopicSpec(settings.topic_rerouted, {"retention.ms": str(7 * 24 * 3600 * 1000)}),
    ]


class TopicError(RuntimeError):
    pass


def ensure_topics(settings: Settings, *, timeout_s: float = 30.0) -> list[str]:
    """Create missing topics; fail if an existing one has another partition count (co-partitioned
    tables need the same count everywhere). Returns one line per topic for the CLI."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                             request_timeout_ms=int(timeout_s * 1000),
                             client_id="mentionwatch-topics")
    try:
        existing = set(admin.list_topics())
        lines = []
        for spec in topic_specs(settings):
            if spec.name in existing:
                lines.append(f"exists   {spec.name}")
                continue
            try:
                admin.create_topics(
                    [NewTopic(spec.name, num_partitions=settings.partitions, replication_factor=1,
                              topic_configs=spec.config)],
                    timeout_ms=int(timeout_s * 1000),
                )
                lines.append(f"created  {spec.name} ({settings.partitions} partitions)")
            except TopicAlreadyExistsError:
                lines.append(f"exists   {spec.name}")
        names = [s.name for s in topic_specs(settings)]
        deadline = time.monotonic() + timeout_s
        while True:  # new topics take a moment to appear in the metadata
            described = admin.describe_topics(names)
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
        return lines
    except KafkaError as exc:
        raise TopicError(f"could not create topics on {settings.bootstrap_servers}: {exc}") from exc
    finally:
        admin.close()
