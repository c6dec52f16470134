"""What every source shares: producing to mentions.raw exactly once, its durable cursor on the
compacted sources topic, dead letters, deletions and its metrics.

Exactly once on mentions.raw without transactions: a cursor is written only after every
mention produced before it was acknowledged, and it records mentions.raw's end offsets at
that moment. A restart reads mentions.raw from those offsets to the end (what was produced
after the cursor, before the stop) and adds the cursor's `recent_ids` (what was produced in the
overlap it reads again): every id in that set is dropped, so a kill -9 at any point repeats
nothing and loses nothing (the platform is read again from the cursor).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge

from agents.config import Settings
from agents.ingest import make_producer, worker_rejection
from agents.kafka_clients import kafka_python_security
from schemas.codec import (
    DecodeError,
    SourceCursor,
    decode_source_cursor,
    encode_dead_letter,
    encode_deletion,
    encode_mention,
    encode_source_cursor,
    format_rfc3339_ms,
)
from schemas.models import Mention
from streams.brands import BrandConfig
from streams.enrich import producer_key
from streams.sources.outcome import Deleted

log = logging.getLogger("mentionwatch.source")

# Ids remembered to drop repeats (between the stream and a REST catch-up, or after a restart);
# the oldest are forgotten first.
MAX_REMEMBERED_IDS = 1_000_000
# How long a checkpoint waits for the broker's acknowledgements before the source gives up
# (and exits non-zero: a restart resumes from the previous cursor, repeating nothing).
ACK_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 30.0


class SourceError(RuntimeError):
    """The source can't go on safely (records refused by the broker, a damaged cursor ...);
    the message says why. A restart resumes from the last cursor."""


def wall_ms() -> int:
    return int(time.time() * 1000)


class SourceMetrics:
    """The source's Prometheus metrics (own registry; `source` is the source's name, `brand`
    a configured brand key: both bounded)."""

    def __init__(self, name: str, brands: Iterable[str]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r, label = self.registry, ["source"]
        self.connected = Gauge("mentionwatch_source_connected",
                               "1 while the source's stream is connected.", label, registry=r)
        self.last_event = Gauge("mentionwatch_source_last_event_timestamp_seconds",
                                "Platform time of the newest event read.", label, registry=r)
        self.cursor_time = Gauge("mentionwatch_source_cursor_timestamp_seconds",
                                 "Platform time of the durable cursor (a restart resumes "
                                 "there).", label, registry=r)
        self.events = Counter("mentionwatch_source_events_read", "Platform events read.",
                              label, registry=r)
        self.produced = Counter("mentionwatch_source_mentions_produced",
                                "Mentions produced to mentions.raw.", [*label, "brand"],
                                registry=r)
        self.skipped = Counter("mentionwatch_source_events_skipped",
                               "Events that produced nothing, by reason (no_brand: a post "
                               "naming no configured brand).", [*label, "reason"], registry=r)
        self.rejected = Counter("mentionwatch_source_frames_rejected",
                                "Frames that could not be parsed (dead-lettered), by reason.",
                                [*label, "reason"], registry=r)
        self.duplicates = Counter("mentionwatch_source_duplicates",
                                  "Posts read again (reconnect, restart, catch-up) and not "
                                  "produced twice.", label, registry=r)
        self.deletions = Counter("mentionwatch_source_deletions",
                                 "Deletions of produced posts written to mentions.deletions.",
                                 label, registry=r)
        self.reconnects = Counter("mentionwatch_source_reconnects",
                                  "Connections lost and retried.", label, registry=r)
        self.gaps = Counter("mentionwatch_source_gaps",
                            "Resumes that could not start at the cursor (the platform no longer "
                            "keeps it): events in between were missed.", label, registry=r)
        self.name = name
        for g in (self.connected, self.last_event, self.cursor_time):
            g.labels(name)
        for c in (self.events, self.duplicates, self.deletions, self.reconnects, self.gaps):
            c.labels(name)
        for brand in brands:
            self.produced.labels(name, brand)
        self.skipped.labels(name, "no_brand")


@dataclass
class _Pending:
    failed: list[str]
    outstanding: int = 0


class SourceRuntime:
    """One source's link to Kafka. Not thread-safe: call it from one thread (the asyncio loop's
    blocking calls run in an executor one at a time)."""

    def __init__(self, settings: Settings, config: BrandConfig, *, name: str, platform: str,
                 metrics: SourceMetrics, producer: Any = None,
                 clock: Callable[[], int] = wall_ms) -> None:
        self.settings = settings
        self.config = config
        self.name = name
        self.platform = platform
        self.metrics = metrics
        self.clock = clock
        self._producer = producer
        self._consumer: Any = None
        self.cursor: SourceCursor | None = None
        self._seen: dict[str, None] = {}  # an ordered set: oldest first
        self._recent: deque[tuple[int, str]] = deque()  # (order, id) since the overlap start
        self._lock = threading.Lock()
        self._pending = _Pending(failed=[])

    # -- start ---------------------------------------------------------------------------------

    def open(self) -> SourceCursor | None:
        """Connect, read this source's cursor and learn what was produced after it. Returns the
        cursor (None on a first start, or when the last run never got past it). Raises
        SourceError, or the clients' errors when the broker can't be reached."""
        from kafka import KafkaConsumer

        from agents.topics import ensure_topics

        for line in ensure_topics(self.settings):  # as the worker does: idempotent
            log.info("%s", line)
        if self._producer is None:
            self._producer = make_producer(self.settings)
        self._consumer = KafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers, group_id=None,
            enable_auto_commit=False, client_id=f"mentionwatch-source-{self.name}",
            **kafka_python_security(self.settings))
        self.cursor = self._read_cursor()
        if self.cursor is None:
            # A first start writes a cursor (no position yet) before it produces anything:
            # killed before its first checkpoint, its restart still learns from the cursor's
            # offsets what it produced, instead of producing all of it again.
            self.checkpoint({})
            return None
        ids = self._ids_produced_since(self.cursor.raw_offsets)
        for mention_id in (*self.cursor.recent_ids, *ids):
            self._remember(mention_id)
        log.info("source %s: resuming from %s; %d ids already produced are dropped if "
                 "read again", self.name, self.cursor.position or "its first start",
                 len(self._seen))
        # No position: killed before its first checkpoint; it starts over as on a first start.
        return self.cursor if self.cursor.position else None

    def _read_to_end(self, topic: str) -> Iterable[Any]:
        from kafka import TopicPartition

        consumer = self._consumer
        partitions = None
        deadline = time.monotonic() + READ_TIMEOUT_S
        while partitions is None:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                if time.monotonic() > deadline:
                    raise SourceError(f"topic {topic} does not exist: run "
                                      "`mentionwatch topics create`")
                time.sleep(0.2)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        return assigned

    def _consume(self, starts: dict[Any, int | None]) -> Iterable[Any]:
        """Every record from `starts` (None: the beginning) to the end offsets seen now."""
        consumer = self._consumer
        ends = consumer.end_offsets(list(starts))
        for tp, start in starts.items():
            if start is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, start)
        deadline = time.monotonic() + READ_TIMEOUT_S
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise SourceError(f"could not read {sorted({tp.topic for tp in ends})} to the "
                                  f"end within {READ_TIMEOUT_S:g}s")
            for batch in consumer.poll(timeout_ms=500).values():
                yield from batch

    def _read_cursor(self) -> SourceCursor | None:
        assigned = self._read_to_end(self.settings.topic_source_cursors)
        latest: bytes | None = None
        key = self.name.encode()
        for record in self._consume(dict.fromkeys(assigned)):
            if record.key == key:
                latest = record.value
        if latest is None:
            return None
        try:
            cursor = decode_source_cursor(latest)
        except DecodeError as error:
            raise SourceError(f"the cursor of source {self.name!r} on "
                              f"{self.settings.topic_source_cursors} is unreadable ({error}); "
                              "start it under another --name to begin afresh") from None
        if cursor.platform != self.platform:
            raise SourceError(f"source name {self.name!r} belongs to a {cursor.platform} "
                              f"source; give this {self.platform} source another --name")
        return cursor

    def _ids_produced_since(self, offsets: dict[int, int]) -> list[str]:
        assigned = self._read_to_end(self.settings.topic_raw)
        ids = []
        for record in self._consume({tp: offsets.get(tp.partition) for tp in assigned}):
            try:
                obj = orjson.loads(record.value)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict) and obj.get("platform") == self.platform:
                mention_id = obj.get("id")
                if isinstance(mention_id, str):
                    ids.append(mention_id)
        return ids

    # -- per event -----------------------------------------------------------------------------

    def _remember(self, mention_id: str) -> None:
        self._seen[mention_id] = None
        if len(self._seen) > MAX_REMEMBERED_IDS:
            del self._seen[next(iter(self._seen))]

    def known(self, mention_id: str) -> bool:
        """Whether this source produced the mention (this run, or since its last cursor)."""
        return mention_id in self._seen

    def produce(self, mention: Mention, order: int = 0) -> bool:
        """Produce the mention unless it was produced before (False). `order`: its position in
        the platform's stream (Bluesky's time_us), for the overlap a restart reads again. A
        mention the worker would dead-letter (dated too far ahead, too large ...) goes to the
        dead letters here, with the same reason."""
        if mention.id in self._seen:
            self.metrics.duplicates.labels(self.name).inc()
            return False
        value = encode_mention(mention)
        now = self.clock()
        refused = worker_rejection(mention, value, now, self.settings, self.config)
        if refused is not None:
            reason, detail = refused
            self._send(self.settings.topic_dlq, None, self._dead_letter_bytes(
                value, DecodeError(reason, detail)), now)
            self.metrics.rejected.labels(self.name, reason).inc()
        else:
            self._send(self.settings.topic_raw, producer_key(mention, self.config).encode(),
                       value, now)
            self.metrics.produced.labels(self.name, mention.brand).inc()
        self._remember(mention.id)
        self._recent.append((order, mention.id))
        return True

    def _dead_letter_bytes(self, data: bytes, error: DecodeError) -> bytes:
        now = self.clock()
        return encode_dead_letter(error, topic=f"source:{self.name}", partition=-1, offset=-1,
                                  timestamp_ms=now, value=data, key=None,
                                  failed_at=format_rfc3339_ms(now))

    def dead_letter(self, data: bytes, reason: str, detail: str) -> None:
        """A frame that can't be parsed: its bytes to mentions.dlq (reason bad_frame or
        not_json; the parser's reason in the detail)."""
        dlq_reason = "not_json" if reason == "not_json" else "bad_frame"
        self._send(self.settings.topic_dlq, None, self._dead_letter_bytes(
            data, DecodeError(dlq_reason, f"{reason}: {detail}" if dlq_reason != reason
                              else detail)), self.clock())
        self.metrics.rejected.labels(self.name, reason).inc()

    def deleted(self, deletion: Deleted) -> bool:
        """Record the deletion of a post this source produced (others are none of ours)."""
        if deletion.id not in self._seen:
            return False
        value = encode_deletion(platform=deletion.platform, id=deletion.id,
                                author_id=deletion.author_id,
                                deleted_at=format_rfc3339_ms(deletion.at_ms))
        self._send(self.settings.topic_deletions,
                   f"{deletion.platform}:{deletion.id}".encode(), value, self.clock())
        self.metrics.deletions.labels(self.name).inc()
        return True

    def _send(self, topic: str, key: bytes | None, value: bytes, timestamp_ms: int) -> None:
        pending = self._pending

        def on_ack(_metadata: Any) -> None:
            with self._lock:
                pending.outstanding -= 1

        def on_error(exc: BaseException) -> None:
            with self._lock:
                pending.outstanding -= 1
                pending.failed.append(f"{topic}: {type(exc).__name__}: {exc}")

        with self._lock:
            pending.outstanding += 1
        try:
            future = self._producer.send(topic, key=key, value=value, timestamp_ms=timestamp_ms)
        except Exception as exc:
            with self._lock:
                pending.outstanding -= 1
            raise SourceError(f"could not hand a record for {topic} to the producer: "
                              f"{type(exc).__name__}: {exc}") from None
        future.add_callback(on_ack)
        future.add_errback(on_error)

    # -- durable position ------------------------------------------------------------------------

    def _settle(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                outstanding, failed = self._pending.outstanding, list(self._pending.failed)
            if failed:
                raise SourceError(f"the broker refused {len(failed)} records (first: "
                                  f"{failed[0]}); the cursor stays where it was")
            if outstanding <= 0:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise SourceError(f"{outstanding} records not acknowledged by the broker within "
                                  f"{timeout_s:g}s; the cursor stays where it was")
            with contextlib.suppress(Exception):  # a step's timeout; the deadline decides
                self._producer.flush(timeout=min(0.5, left))

    def checkpoint(self, position: dict[str, Any], *, keep_from: int = 0,
                   position_ms: int | None = None) -> None:
        """Make `position` the durable cursor, once everything produced before it is
        acknowledged. `keep_from`: ids produced at an order >= this are kept in the cursor (the
        overlap a restart reads again). Blocking; raises SourceError."""
        from kafka import TopicPartition

        self._settle(ACK_TIMEOUT_S)
        while self._recent and self._recent[0][0] < keep_from:
            self._recent.popleft()
        partitions = self._consumer.partitions_for_topic(self.settings.topic_raw) or set()
        ends = self._consumer.end_offsets(
            [TopicPartition(self.settings.topic_raw, p) for p in sorted(partitions)])
        cursor = SourceCursor(self.name, self.platform, position,
                              {tp.partition: end for tp, end in ends.items()},
                              tuple(mention_id for _, mention_id in self._recent),
                              format_rfc3339_ms(self.clock()))
        self._send(self.settings.topic_source_cursors, self.name.encode(),
                   encode_source_cursor(cursor), self.clock())
        self._settle(ACK_TIMEOUT_S)
        self.cursor = cursor
        if position_ms is not None:
            self.metrics.cursor_time.labels(self.name).set(position_ms / 1000)

    def close(self) -> None:
        for client in (self._producer, self._consumer):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close(timeout=5) if client is self._producer else client.close()
