"""`mentionwatch replay`: audit an event-time range from mentions.raw with the same core the live
workers run, judged by the event-time watermark only, so the same records always give a
byte-identical report."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agents.config import Settings
from schemas.codec import DecodeError, decode_mention, parse_rfc3339_ms
from streams.audit import build_report, render_report
from streams.brands import BrandConfig
from streams.classification import Classifier
from streams.enrich import UnroutableMention, enrich
from streams.tracking import ThreadState, advance, apply_post, item_statuses

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


@dataclass
class ReplayStats:
    read: int = 0
    in_range: int = 0
    invalid: int = 0
    unroutable: int = 0
    seconds: float = 0.0


def read_raw(settings: Settings, from_ms: int, *, progress: bool) -> Iterator[tuple[bytes, Any]]:
    """Every record of mentions.raw from (about) from_ms up to the end offsets taken at start.
    A read-only consumer: no group, never commits, so the live group's offsets are untouched."""
    from kafka import KafkaConsumer, TopicPartition
    from tqdm import tqdm

    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024, max_poll_records=20_000,
        client_id="mentionwatch-replay",
    )
    try:
        partitions = consumer.partitions_for_topic(settings.topic_raw)
        if not partitions:
            raise SystemExit(f"topic {settings.topic_raw} not found on "
                             f"{settings.bootstrap_servers}")
        tps = [TopicPartition(settings.topic_raw, p) for p in sorted(partitions)]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        starts = consumer.offsets_for_times({tp: max(0, from_ms - SEEK_MARGIN_MS) for tp in tps})
        remaining = {}
        for tp in tps:
            found = starts.get(tp)
            start = found.offset if found is not None else ends[tp]
            consumer.seek(tp, start)
            if ends[tp] > start:
                remaining[tp] = ends[tp]
        total = sum(ends[tp] - consumer.position(tp) for tp in remaining)
        with tqdm(total=total, unit="rec", unit_scale=True, desc="replay", file=sys.stderr,
                  disable=not progress or total < 200_000) as bar:
            while remaining:
                batches = consumer.poll(timeout_ms=1000)
                for tp, records in batches.items():
                    end = remaining.get(tp)
                    if end is None:
                        continue
                    for rec in records:
                        if rec.offset >= end:
                            break
                        yield rec.value, rec
                    bar.update(len(records))
                    if consumer.position(tp) >= end:
                        del remaining[tp]
                        consumer.pause(tp)
    finally:
        consumer.close()


def run_replay(settings: Settings, config: BrandConfig, classifier: Classifier,
               classifier_name: str, *, from_ms: int, to_ms: int, brand: str | None,
               fmt: str, progress: bool = True) -> tuple[str, ReplayStats]:
    stats = ReplayStats()
    started = time.monotonic()
    states: dict[str, ThreadState] = {}
    watermark: int | None = None
    classify = classifier.classify
    for value, _rec in read_raw(settings, from_ms, progress=progress):
        stats.read += 1
        try:
            mention = decode_mention(value, max_bytes=settings.max_record_bytes)
        except DecodeError:
            stats.invalid += 1  # the live worker dead-lettered it; not part of the audit
            continue
        if not from_ms <= mention.created_at_ms < to_ms:
            continue
        stats.in_range += 1
        try:
            _enriched, post, key = enrich(mention, classify, classifier_name, config)
        except UnroutableMention:
            stats.unroutable += 1
            continue
        if watermark is None or post.created_at_ms > watermark:
            watermark = post.created_at_ms
        # Arrival order doesn't matter to the core; judge nothing yet (clock at the range's
        # start) and apply the watermark once, at the end.
        new_state, _ = apply_post(states.get(key), post, config, from_ms)
        states[key] = new_state
    final_watermark = watermark if watermark is not None else from_ms
    statuses = []
    for key in sorted(states):
        state, _ = advance(states[key], config, final_watermark)
        statuses.extend(item_statuses(state, config, final_watermark))
    report = build_report(statuses, config, range_from_ms=from_ms, range_to_ms=to_ms,
                          watermark_ms=final_watermark, brand_filter=brand)
    stats.seconds = time.monotonic() - started
    return render_report(report, fmt), stats
