"""`mentionwatch replay`: audit an event-time range from mentions.raw with the same core the live
workers run, judged by the event-time watermark only, so the same records always give a
byte-identical report."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from agents.config import Settings
from agents.offsets import stop_consumer
from schemas.codec import DecodeError, decode_mention, parse_rfc3339_ms
from streams.audit import build_report, render_report
from streams.brands import BrandConfig
from streams.classification import Classifier
from streams.enrich import UnroutableMention, enrich
from streams.tracking import Post, item_statuses, states_from_posts

# Records are seeked by their Kafka timestamp; a producer's clock may run a little behind the
# event time it writes, so start this much earlier and filter by event time.
SEEK_MARGIN_MS = 24 * 3600 * 1000


def parse_time(value: str) -> int:
    """RFC 3339, or a date (YYYY-MM-DD, midnight UTC) → epoch ms."""
    try:
        if len(value) == 10:
            return int(datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp() * 1000)
        return parse_rfc3339_ms(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither RFC 3339 (2026-11-01T00:00:00Z) nor a date "
                         "(2026-11-01)") from None


class ReplayError(RuntimeError):
    pass


@dataclass
class ReplayStats:
    source: str = "raw"
    read: int = 0
    in_range: int = 0
    invalid: int = 0
    unroutable: int = 0
    seconds: float = 0.0


SOURCES = ("raw", "enriched")
BATCH_RECORDS = 50_000


def _partitions(bootstrap_servers: str, topic: str) -> set[int]:
    # aiokafka keeps metadata only of topics it subscribed to; an assigning reader asks first.
    from kafka import KafkaConsumer

    probe = KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                          client_id="mentionwatch-replay")
    try:
        return set(probe.partitions_for_topic(topic) or ())
    finally:
        probe.close()


async def _read(settings: Settings, topic: str, from_ms: int, on_batch: Callable[[list[bytes]],
                None], *, progress: bool) -> None:
    """Every record value of `topic` from (about) from_ms up to the end offsets taken at start,
    in batches. A read-only consumer: no group, never commits, so the live group's offsets are
    untouched. aiokafka parses record batches in C (kafka-python's pure-Python CRC check alone
    held replay to a few thousand records/s)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from tqdm import tqdm

    partitions = _partitions(settings.bootstrap_servers, topic)
    if not partitions:
        raise ReplayError(f"topic {topic} not found on {settings.bootstrap_servers}")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024, client_id="mentionwatch-replay",
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.offsets_for_times(
            {tp: max(0, from_ms - SEEK_MARGIN_MS) for tp in tps})
        remaining: dict[Any, int] = {}
        total = 0
        for tp in tps:
            found = starts.get(tp)
            start = found.offset if found is not None else ends[tp]
            consumer.seek(tp, start)
            if ends[tp] > start:
                remaining[tp] = ends[tp]
                total += ends[tp] - start
        with tqdm(total=total, unit="rec", unit_scale=True, desc="replay", file=sys.stderr,
                  disable=not progress or total < 200_000) as bar:
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=1000,
                                                 max_records=BATCH_RECORDS)
                for tp, records in batches.items():
                    end = remaining.get(tp)
                    if end is None:
                        continue
                    values = [r.value for r in records if r.offset < end]
                    on_batch(values)
                    bar.update(len(values))
                    if ((records and records[-1].offset >= end - 1)
                            or await consumer.position(tp) >= end):
                        del remaining[tp]
                        consumer.pause(tp)
    finally:
        await stop_consumer(consumer)


def post_from_enriched(value: bytes, config: BrandConfig) -> Post:
    """A record of mentions.enriched → the tracking view of it, as the worker's tracking would
    build it. mentions.enriched is written by the workers alone, from mentions they validated,
    so this checks structure only (the full validation costs more than the rest of the replay);
    a record without the fields raises KeyError or TypeError."""
    obj = orjson.loads(value)
    if obj["schema_version"] != 1:
        raise KeyError("schema_version")
    m = obj["mention"]
    author = m["author"]
    is_brand = author["is_brand"] is True or config.is_brand_account(m["brand"],
                                                                      author["handle"])
    return Post(
        id=m["id"], platform=m["platform"], brand=m["brand"], author_id=author["id"],
        author_handle=author["handle"], is_brand=is_brand,
        created_at_ms=parse_rfc3339_ms(m["created_at"]), in_reply_to=m.get("in_reply_to"),
        in_reply_to_author_id=m.get("in_reply_to_author_id"),
        conversation_id=m.get("conversation_id"),
        complaint=obj["enrichment"]["complaint"] is True and not is_brand,
    )


def run_replay(settings: Settings, config: BrandConfig, classifier: Classifier,
               classifier_name: str, *, from_ms: int, to_ms: int, brand: str | None,
               fmt: str, progress: bool = True, source: str = "raw") -> tuple[str, ReplayStats]:
    """source "raw": the audit record, classified again by the configured classifier;
    "enriched": the classification the live workers recorded (no classifier run: fast)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
    stats = ReplayStats(source=source)
    started = time.monotonic()
    posts: list[Post] = []
    classify = classifier.classify
    max_bytes = settings.max_record_bytes

    def from_raw(values: list[bytes]) -> None:
        for value in values:
            try:
                mention = decode_mention(value, max_bytes=max_bytes)
            except DecodeError:
                stats.invalid += 1  # the live worker dead-lettered it; not part of the audit
                continue
            if not from_ms <= mention.created_at_ms < to_ms:
                continue
            stats.in_range += 1
            try:
                _enriched, post, _key = enrich(mention, classify, classifier_name, config)
            except UnroutableMention:
                stats.unroutable += 1
                continue
            posts.append(post)

    def from_enriched(values: list[bytes]) -> None:
        for value in values:
            try:
                post = post_from_enriched(value, config)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                stats.invalid += 1
                continue
            if from_ms <= post.created_at_ms < to_ms:
                stats.in_range += 1
                posts.append(post)

    def on_batch(values: list[bytes]) -> None:
        stats.read += len(values)
        (from_raw if source == "raw" else from_enriched)(values)

    topic = settings.topic_raw if source == "raw" else settings.topic_enriched
    asyncio.run(_read(settings, topic, from_ms, on_batch, progress=progress))
    # Judge everything at the watermark of the range's records, once: the statuses depend on
    # the set of posts and that instant alone (the same core functions as the live workers).
    watermark = max((p.created_at_ms for p in posts), default=from_ms)
    states = states_from_posts(posts)
    statuses = []
    for key in sorted(states):
        statuses.extend(item_statuses(states[key], config, watermark))
    report = build_report(statuses, config, range_from_ms=from_ms, range_to_ms=to_ms,
                          watermark_ms=watermark, brand_filter=brand)
    stats.seconds = time.monotonic() - started
    return render_report(report, fmt), stats
