"""Complaint tracking and its timer: the faust shell around streams.tracking, called by the
agent in agents/app.py.

State lives in a changelog-backed table keyed by the routing key (the customer: see
docs/semantics.md), so a customer's mentions and the brand's replies to them meet in one
partition. Each partition has its own clock (streams.clock). The timer ages open items, emits
overdue/ignored transitions, compacts decided items, and refreshes the gauges from an in-memory
index that is rebuilt from the restored table whenever the assignment changes.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import orjson
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from agents.partitioning import partition_for
from schemas.codec import DecodeError, decode_enriched
from streams.brands import BrandConfig
from streams.clock import PartitionClock
from streams.tracking import (
    ItemStatus,
    Post,
    ThreadState,
    Transition,
    advance,
    apply_post,
    compact,
    from_json,
    item_statuses,
    next_due_ms,
    post_from_mention,
    to_json,
    transition_to_dict,
)

if TYPE_CHECKING:
    from agents.app import Pipeline

log = logging.getLogger("mentionwatch.tracking")

# Threads aged per tick and partition before the agent turns back to waiting records (at a few
# hundred microseconds each, a batch holds new mentions up for about a tenth of a second).
AGE_BATCH = 256


@dataclass
class PartitionIndex:
    """What the timer and the gauges need, per partition, without reading the table."""

    clock: PartitionClock
    statuses: dict[bytes, list[ItemStatus]] = field(default_factory=dict)
    due: list[tuple[int, bytes]] = field(default_factory=list)  # heap, lazily invalidated
    due_at: dict[bytes, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GaugeSnapshot:
    """Immutable, swapped atomically: the Prometheus thread reads it while the loop works."""

    open: dict[tuple[str, str], int]
    overdue: dict[tuple[str, str], int]
    oldest_open_s: dict[tuple[str, str], float]
    decided_window: dict[tuple[str, str], int]
    ignored_window: dict[tuple[str, str], int]
    lag: dict[tuple[str, int], int]


class StateCollector(Collector):
    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.tracker.snapshot
        bp = ["brand", "platform"]

        def family(name: str, doc: str, values: dict[tuple[str, str], Any]) -> GaugeMetricFamily:
            fam = GaugeMetricFamily(name, doc, labels=bp)
            for (brand, platform), value in sorted(values.items()):
                fam.add_metric([brand, platform], float(value))
            return fam

        yield family("mentionwatch_complaints_open", "Complaints waiting for an answer.",
                     snap.open)
        yield family("mentionwatch_complaints_overdue", "Open complaints past the brand's SLA.",
                     snap.overdue)
        yield family("mentionwatch_oldest_open_complaint_created_timestamp_seconds",
                     "Event time of the oldest open complaint (age: time() - this).",
                     snap.oldest_open_s)
        yield family("mentionwatch_complaints_decided_window",
                     "Decided complaints whose event time lies in the share window.",
                     snap.decided_window)
        yield family("mentionwatch_complaints_ignored_window",
                     "Ignored complaints whose event time lies in the share window.",
                     snap.ignored_window)
        share = {k: snap.ignored_window.get(k, 0) / v for k, v in snap.decided_window.items()
                 if v > 0}  # an empty window has no share, not 0
        yield family("mentionwatch_ignored_complaint_share",
                     "Ignored / decided complaints in the share window (this worker's "
                     "partitions).", share)
        lag = GaugeMetricFamily("mentionwatch_consumer_lag", "Records not yet consumed.",
                                labels=["topic", "partition"])
        for (topic, partition), value in sorted(snap.lag.items()):
            lag.add_metric([topic, str(partition)], float(value))
        yield lag


EMPTY = GaugeSnapshot({}, {}, {}, {}, {}, {})


class Tracker:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings
        self.config: BrandConfig = pipeline.brands
        self.metrics = pipeline.metrics
        app = pipeline.app
        s = self.settings
        self.table = app.Table(
            "threads", default=None, key_type=bytes, value_type=bytes, partitions=s.partitions,
        )
        # faust tables (RocksDB) can only be written while processing a record of the table's
        # partition. So the timer doesn't age state itself: it sends a tick to each of its
        # partitions of this co-partitioned topic, and the agent ages that partition.
        self.ticks_topic = app.topic(s.topic_ticks, key_type=bytes, value_type=bytes,
                                     partitions=s.partitions)
        self.indexes: dict[int, PartitionIndex] = {}
        self.assigned: frozenset[int] = frozenset()
        self.needs_rebuild = True
        self.snapshot = EMPTY
        self.problems: list[str] = []
        self.retention_ms = int(s.retention_s * 1000)
        self.metrics.registry.register(StateCollector(self))
        for key, policy in self.config.brands.items():
            self.metrics.sla.labels(brand=key).set(policy.sla_ms / 1000)
            self.metrics.ignore_after.labels(brand=key).set(policy.ignore_after_ms / 1000)
        self.processed = self.metrics.processed.labels(agent="tracking")
        self.partitions = s.partitions
        self.event_partitions: dict[bytes, int] = {}  # brand → partition of complaints.events
        app.timer(s.tick_interval_s)(self._tick)

        async def _on_rebalance(sender: Any, *args: Any, **kwargs: Any) -> None:
            self.needs_rebuild = True  # tables were restored: derive the index again

        app.on_rebalance_complete.connect(cast(Any, _on_rebalance))

    def _clock(self, partition: int) -> PartitionIndex:
        index = self.indexes.get(partition)
        if index is None:
            index = self.indexes[partition] = PartitionIndex(PartitionClock(
                lateness_ms=int(self.settings.allowed_lateness_s * 1000),
                idle_grace_ms=int(self.settings.idle_grace_s * 1000)))
        return index

    def health_problems(self) -> list[str]:
        """What keeps the tracker from working (broker unreachable, disk full); for /readyz."""
        return list(self.problems)

    # -- called by the agent (agents/app.py) --------------------------------------------------
    async def track_enriched(self, message: Any) -> None:
        """An enriched mention rerouted to the partition of its customer."""
        try:
            enriched = decode_enriched(message.value)
            post = post_from_mention(enriched.mention, enriched.enrichment.complaint,
                                     self.config)
        except DecodeError as error:
            await self.pipeline.dead_letter(error, message)
            return
        except Exception as exc:  # a bug must not stop the stream or lose the record
            await self.pipeline.processing_error(exc, message)
            return
        await self.track(message.key, post, message)

    async def track(self, key: bytes, post: Post, message: Any) -> None:
        """Apply one post to its customer's thread; message (of the thread's partition) is where
        it came from."""
        self.processed.inc()
        try:
            index = self._clock(message.partition)
            now_ms = index.clock.observe(post.created_at_ms, int(time.time() * 1000))
            raw = self._load(key)
            state = from_json(raw) if raw is not None else None
            new_state, transitions = apply_post(state, post, self.config, now_ms)
        except Exception as exc:  # a bug must not stop the stream or lose the record
            await self.pipeline.processing_error(exc, message)
            return
        # Announce before recording that we announced: if the worker dies in between, the
        # record is processed again and the transitions repeat (at least once) rather than
        # being lost.
        await self._emit(transitions)
        self._store(key, new_state, index, now_ms)

    def _load(self, key: bytes) -> bytes | None:
        """The thread's stored state. faust's Table.get asks RocksDB twice for a stored key
        (whether it exists, then its value) and raises KeyError inside for a new one; the
        store's own get asks once. Only faust's table-read sensor is skipped (its web stats)."""
        value: bytes | None = self.table.data.get(key)
        return value

    def _store(self, key: bytes, state: ThreadState | None, index: PartitionIndex,
               now_ms: int) -> None:
        if state is None:
            if self._load(key) is not None:
                del self.table[key]
            index.statuses.pop(key, None)
            index.due_at.pop(key, None)
            return
        self.table[key] = to_json(state)
        index.statuses[key] = item_statuses(state, self.config, now_ms)
        due = next_due_ms(state, self.config)
        if due is None:
            index.due_at.pop(key, None)
        elif index.due_at.get(key) != due:
            index.due_at[key] = due
            heapq.heappush(index.due, (due, key))

    async def _emit(self, transitions: Iterable[Transition]) -> None:
        m = self.metrics
        for t in transitions:
            key = t.brand.encode()
            partition = self.event_partitions.get(key)
            if partition is None:
                partition = self.event_partitions[key] = partition_for(key, self.partitions)
            await self.pipeline.produce(self.settings.topic_events, key,
                                        orjson.dumps(transition_to_dict(t)), partition)
            if not t.complaint:
                continue
            labels = {"brand": m.brand_label(t.brand), "platform": t.platform}
            if t.kind == "opened":
                m.complaints.labels(**labels).inc()
            elif t.kind == "answered":
                m.answered.labels(**labels).inc()
                if t.first_response_ms is not None:
                    m.first_response.labels(**labels).observe(t.first_response_ms / 1000)
            elif t.kind == "ignored":
                m.ignored.labels(**labels).inc()
            elif t.kind == "corrected":
                for kind in t.retracts:
                    m.corrections.labels(**labels, retracted=kind).inc()
            elif t.kind == "answered_late":
                m.answered_late.labels(**labels).inc()
                if t.first_response_ms is not None:
                    m.first_response.labels(**labels).observe(t.first_response_ms / 1000)

    # -- the timer ----------------------------------------------------------------------------
    def _active_partitions(self) -> frozenset[int]:
        topic = self.settings.topic_raw
        return frozenset(tp.partition for tp in self.pipeline.app.assignor.assigned_actives()
                         if tp.topic == topic)

    def _rebuild(self, active: frozenset[int]) -> None:
        """Gauges must be right after a restart: derive the index from the restored table."""
        wall_ms = int(time.time() * 1000)
        partitions = self.settings.partitions
        for p in list(self.indexes):
            if p not in active:
                del self.indexes[p]
        states: dict[int, list[tuple[bytes, ThreadState]]] = defaultdict(list)
        for key, raw in self.table.items():
            p = partition_for(key, partitions)
            if p in active and raw is not None:
                states[p].append((key, from_json(raw)))
        for p in active:
            index = self._clock(p)
            index.statuses.clear()
            index.due.clear()
            index.due_at.clear()
            latest = [s.max_event_ms() for _, s in states[p]]
            if latest and index.clock.max_event_ms is None:
                index.clock.observe(max(latest), wall_ms)
            now_ms = index.clock.now(wall_ms)
            for key, state in states[p]:
                self._store_index_only(key, state, index, now_ms)
        self.assigned = active
        self.needs_rebuild = False
        log.info("tracking index rebuilt for partitions %s (%d keys)", sorted(active),
                 sum(len(v) for v in states.values()))

    def _store_index_only(self, key: bytes, state: ThreadState, index: PartitionIndex,
                          now_ms: int | None) -> None:
        if now_ms is not None:
            index.statuses[key] = item_statuses(state, self.config, now_ms)
        due = next_due_ms(state, self.config)
        if due is not None:
            index.due_at[key] = due
            heapq.heappush(index.due, (due, key))

    async def _tick(self) -> None:
        app = self.pipeline.app
        if app.rebalancing or getattr(app, "in_recovery", False):
            return
        active = self._active_partitions()
        if self.needs_rebuild or active != self.assigned:
            self._rebuild(active)
        for p in sorted(active):
            await self.ticks_topic.send(key=b"tick", value=b"", partition=p)
        self.snapshot = self._gauges(int(time.time() * 1000))

    async def age_partition(self, partition: int) -> None:
        """Runs in the agent, on a tick of `partition`: decide what time alone decides, compact,
        and refresh the statuses the gauges read."""
        if partition not in self.indexes:
            return
        index = self.indexes[partition]
        now_ms = index.clock.now(int(time.time() * 1000))
        if now_ms is None:
            return
        budget = AGE_BATCH
        while index.due and index.due[0][0] <= now_ms:
            if budget == 0:
                # More is due (the clock jumped: a burst after a quiet spell, a restart). Come
                # back after the records already waiting, so new mentions aren't held up behind
                # thousands of announcements.
                await self.ticks_topic.send(key=b"tick", value=b"", partition=partition)
                return
            budget -= 1
            due, key = heapq.heappop(index.due)
            if index.due_at.get(key) != due:
                continue  # superseded by a newer due time
            del index.due_at[key]
            raw = self._load(key)
            if raw is None:
                index.statuses.pop(key, None)
                continue
            state, transitions = advance(from_json(raw), self.config, now_ms)
            await self._emit(transitions)
            self._store(key, compact(state, now_ms, self.retention_ms), index, now_ms)
        # Statuses change by time only at due instants (SLA and deadline passing are
        # transitions, so next_due_ms covers them): the loop above keeps them current.

    def _gauges(self, wall_ms: int) -> GaugeSnapshot:
        m = self.metrics
        open_: dict[tuple[str, str], int] = defaultdict(int)
        overdue: dict[tuple[str, str], int] = defaultdict(int)
        oldest: dict[tuple[str, str], float] = {}
        decided: dict[tuple[str, str], int] = defaultdict(int)
        ignored: dict[tuple[str, str], int] = defaultdict(int)
        window_ms = self.config.share_window_ms
        for index in self.indexes.values():
            now_ms = index.clock.now(wall_ms)
            if now_ms is None:
                continue
            for statuses in index.statuses.values():
                for st in statuses:
                    if not st.complaint:
                        continue
                    label = (m.brand_label(st.brand), st.platform)
                    if st.status == "open":
                        open_[label] += 1
                        overdue[label] += st.overdue
                        created_s = st.created_at_ms / 1000
                        if label not in oldest or created_s < oldest[label]:
                            oldest[label] = created_s
                    elif st.created_at_ms > now_ms - window_ms:
                        decided[label] += 1
                        ignored[label] += st.status == "ignored"
        lag: dict[tuple[str, int], int] = {}
        consumer = self.pipeline.app.consumer
        try:
            for tp in self.pipeline.app.assignor.assigned_actives():
                highwater = consumer.highwater(tp)
                read = cast(Any, consumer)._read_offset.get(tp)
                if highwater is not None:
                    lag[(tp.topic, tp.partition)] = max(0, highwater - ((read or -1) + 1))
        except Exception:  # lag is best effort; never break the timer for it
            log.debug("consumer lag unavailable", exc_info=True)
        for label in list(open_):
            overdue.setdefault(label, 0)
        return GaugeSnapshot(dict(open_), dict(overdue), oldest, dict(decided), dict(ignored),
                             lag)
