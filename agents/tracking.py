"""Complaint tracking's faust shell: moves bytes between the thread table, complaints.events,
the ticks topic and streams.partition.PartitionTracker (pure), which decides everything.

State lives in a changelog-backed table keyed by the routing key (the customer: see
docs/explanation/semantics.md), so a customer's mentions and the brand's replies to them meet in one
partition. The crash-safety argument (outbox, partition marker, restore after a dirty stop) is
in streams/partition.py and docs/explanation/processing.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from agents import faust_compat
from agents.disk import is_disk_full
from agents.partitioning import partition_for
from schemas.codec import DecodeError, decode_enriched, encode_complaint_event
from streams.brands import BrandConfig
from streams.event_time import observed_event_ms
from streams.partition import (
    EMPTY_GAUGES,
    Gauges,
    PartitionTracker,
    Step,
    gauges,
    marker_partition,
)
from streams.queue import EMPTY_CAPTURE, Capture, OpenComplaint, capture, ordered
from streams.tracking import Post, Transition, answered_within_sla, post_from_mention

if TYPE_CHECKING:
    from agents.app import Pipeline

# A rerouted record's own timestamp is the time the broker appended it (the topic has
# message.timestamp.type=LogAppendTime, so its retention counts from the reroute, not from a
# backfilled mention's event time, which would let the broker delete it before it is read).
# The raw record's timestamp, which event time is judged against, travels in this header.
PRODUCED_MS_HEADER = "mentionwatch-produced-ms"


def produced_ms_header(produced_ms: int | None) -> list[tuple[str, bytes]]:
    return [] if produced_ms is None else [(PRODUCED_MS_HEADER, str(produced_ms).encode())]


def record_produced_ms(message: Any) -> int | None:
    """When the mention was produced: the header a reroute added, else the record timestamp
    (faust gives seconds)."""
    headers = message.headers or ()
    for name, value in headers.items() if isinstance(headers, dict) else headers:
        if name == PRODUCED_MS_HEADER:
            try:
                return int(value)
            except (TypeError, ValueError):
                break  # damaged header: fall back to the record's own timestamp
    return int(message.timestamp * 1000) if message.timestamp else None

log = logging.getLogger("mentionwatch.tracking")

# Threads aged per tick and partition before the agent turns back to waiting records (at a few
# hundred microseconds each, a batch holds new mentions up for about a tenth of a second).
AGE_BATCH = 256
# A flush that takes longer means the broker is unreachable: give up until the next tick (the
# outbox keeps what wasn't confirmed).
FLUSH_TIMEOUT_S = 5.0
# How often a busy partition stores its marker (a table write): what a crash sends again.
CONFIRM_INTERVAL_S = 1.0
# The broker counts as unreachable (not ready) when no flush succeeded for this long.
BROKER_SILENCE_S = 30.0
# The queue says "stale since" once no flush succeeded for this long (or this many tick
# intervals, if longer): a worker with partitions flushes at every tick, within FLUSH_TIMEOUT_S.
QUEUE_STALE_AFTER_S = 15.0
QUEUE_STALE_AFTER_TICKS = 3


class StateCollector(Collector):
    """The gauges derived from the tracking state, computed at scrape time from the snapshot
    the timer swaps in (the Prometheus thread reads it while the loop works)."""

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
        yield family("mentionwatch_complaints_due_soon",
                     "Open complaints within the brand's due-soon lead time of the SLA (not "
                     "overdue yet).", snap.due_soon)
        yield family("mentionwatch_complaints_ignore_soon",
                     "Open complaints within the brand's ignore-soon lead time of the ignore "
                     "deadline.", snap.ignore_soon)
        yield family("mentionwatch_oldest_open_complaint_created_timestamp_seconds",
                     "Event time of the oldest open complaint (age: time() - this).",
                     snap.oldest_open_s)
        yield family("mentionwatch_complaints_decided_window",
                     "Decided complaints whose event time lies in the share window.",
                     snap.decided_window)
        yield family("mentionwatch_complaints_ignored_window",
                     "Ignored complaints whose event time lies in the share window.",
                     snap.ignored_window)
        lag = GaugeMetricFamily(
            "mentionwatch_consumer_lag_records",
            "Records of the work topics (raw and rerouted mentions) not yet processed by this "
            "worker. faust's changelog and internal topics are left out: a worker never reads "
            "them back.", labels=["topic", "partition"])
        for (topic, partition), value in sorted(self.tracker.lag.items()):
            lag.add_metric([topic, str(partition)], float(value))
        yield lag


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
        self.trackers: dict[int, PartitionTracker] = {}
        self.assigned: frozenset[int] = frozenset()
        self.needs_rebuild = True
        self.snapshot: Gauges = EMPTY_GAUGES
        # The open complaints of the same index at the same instant as the gauges (the care
        # team's queue), and its complaints in queue order once asked for (once per capture).
        self.queue_capture: Capture = EMPTY_CAPTURE
        self._queue_order: tuple[Capture, list[OpenComplaint]] = (EMPTY_CAPTURE, [])
        self.lag: dict[tuple[str, int], int] = {}
        self.problems: dict[str, str] = {}  # what keeps the worker from working, for /readyz
        self.last_flush_ok = time.monotonic()
        self.last_flush_ok_wall = time.time()
        self.assigned_at = time.monotonic()
        self.max_future_ms = int(s.max_future_s * 1000)
        self.metrics.registry.register(StateCollector(self))
        for key, policy in self.config.brands.items():
            self.metrics.sla.labels(brand=key).set(policy.sla_ms / 1000)
            self.metrics.ignore_after.labels(brand=key).set(policy.ignore_after_ms / 1000)
        self.processed = self.metrics.processed.labels(agent="tracking")
        self.outcome_series: set[tuple[str, str]] = set()  # (brand, platform) label values
        self.partitions = s.partitions
        self.event_partitions: dict[bytes, int] = {}  # brand → partition of complaints.events
        # Per partition: (outbox sequence, delivery future) of each event sent, oldest first.
        self.deliveries: dict[int, deque[tuple[int, asyncio.Future[Any]]]] = {}
        self.confirmed_at: dict[int, float] = {}
        self.recovered: set[int] = set()  # partitions recovered since the last assignment
        app.timer(s.tick_interval_s)(self._tick)

        async def _on_rebalance(sender: Any, *args: Any, **kwargs: Any) -> None:
            # Tables were restored: every partition is recovered once more before use (by the
            # agent at its first record or tick of it, or by the timer, whichever comes first).
            self.needs_rebuild = True
            self.recovered.clear()

        app.on_rebalance_complete.connect(_on_rebalance)  # type: ignore[arg-type]

    def health_problems(self) -> list[str]:
        """What keeps the tracker from working (broker unreachable, disk full); for /readyz."""
        problems = list(self.problems.values())
        silent = time.monotonic() - self.last_flush_ok
        if silent > BROKER_SILENCE_S:
            problems.append(f"no write to the broker confirmed for {silent:.0f}s")
        return problems

    def stale_since_ms(self) -> int | None:
        """Since when the queue of this worker may be out of date (wall ms: the last producer
        flush that succeeded), or None. Stale when a health problem keeps the worker from
        working (disk full) or when, with partitions assigned, no flush succeeded for
        QUEUE_STALE_AFTER_S (the broker is down or unreachable)."""
        since = int(self.last_flush_ok_wall * 1000)
        if self.problems:
            return since
        if not self.assigned:
            return None
        after = max(QUEUE_STALE_AFTER_S, QUEUE_STALE_AFTER_TICKS * self.settings.tick_interval_s)
        if time.monotonic() - max(self.last_flush_ok, self.assigned_at) > after:
            return since
        return None

    def queue_order(self) -> tuple[Capture, list[OpenComplaint]]:
        """The last capture and its complaints in queue order (sorted once per capture)."""
        cap = self.queue_capture
        cached_cap, cached = self._queue_order
        if cached_cap is not cap:
            cached = ordered(cap, self.config)
            self._queue_order = (cap, cached)
        return cap, cached

    def _tracker(self, partition: int) -> PartitionTracker:
        tracker = self.trackers.get(partition)
        if tracker is None:
            s = self.settings
            tracker = self.trackers[partition] = PartitionTracker(
                partition, self.config, lateness_ms=int(s.allowed_lateness_s * 1000),
                idle_grace_ms=int(s.idle_grace_s * 1000),
                retention_ms=int(s.retention_s * 1000))
        return tracker

    # -- called by the agent (agents/app.py) --------------------------------------------------
    async def track_enriched(self, message: Any) -> None:
        """An enriched mention rerouted to the partition of its customer (the raw record's
        timestamp, the time it was produced, is in its PRODUCED_MS_HEADER)."""
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
        it came from, and says when the mention was produced."""
        self.processed.inc()
        produced_ms = record_produced_ms(message)
        try:
            tracker = await self._recovered(message.partition)
            step = tracker.on_post(key, faust_compat.table_get(self.table, key), post,
                                   observed_event_ms(post.created_at_ms, produced_ms),
                                   int(time.time() * 1000))
        except Exception as exc:  # a bug must not stop the stream or lose the record
            await self.pipeline.processing_error(exc, message)
            return
        await self._carry_out(step, tracker)
        await self._confirm(tracker)

    async def _carry_out(self, step: Step, tracker: PartitionTracker) -> None:
        """Send, then store: a state is stored only after the events it announces were handed
        to the producer (and it keeps them in its outbox until their delivery is confirmed)."""
        deliveries = self.deliveries.setdefault(tracker.partition, deque())
        for entry in step.resend:
            deliveries.append((entry.seq, await self._send(entry.transition)))
        for t in step.send:
            assert step.seq is not None
            deliveries.append((step.seq, await self._send(t)))
            self._count(t)
        for key, value in step.store:
            try:
                if value is None:
                    if faust_compat.table_get(self.table, key) is not None:
                        del self.table[key]
                else:
                    self.table[key] = value
            except Exception as exc:
                if not is_disk_full(exc):
                    raise
                await self.pipeline.wait_out_full_disk(exc)  # does not return

    async def _send(self, t: Transition) -> asyncio.Future[Any]:
        key = t.brand.encode()
        partition = self.event_partitions.get(key)
        if partition is None:
            partition = self.event_partitions[key] = partition_for(key, self.partitions)
        return await self.pipeline.produce(self.settings.topic_events, key,
                                           encode_complaint_event(t), partition)

    async def _confirm(self, tracker: PartitionTracker, now: bool = False) -> None:
        """Store the partition's marker up to the first step whose events aren't all delivered
        yet (at most once per CONFIRM_INTERVAL_S, unless now). A failed delivery stops
        confirmation and has the timer rebuild the index, which sends the outboxes again."""
        mono = time.monotonic()
        if not now and mono - self.confirmed_at.get(tracker.partition, 0.0) < CONFIRM_INTERVAL_S:
            return
        self.confirmed_at[tracker.partition] = mono
        pending: list[tuple[int, asyncio.Future[Any]]] = []
        for seq, future in self.deliveries.get(tracker.partition, ()):
            if not future.done():
                pending.append((seq, future))
            elif future.cancelled() or future.exception() is not None:
                log.error("partition %d: an event could not be delivered (%s); its outbox is "
                          "sent again", tracker.partition,
                          "cancelled" if future.cancelled() else future.exception())
                self.needs_rebuild = True
                return
        self.deliveries[tracker.partition] = deque(pending)
        # Resent entries come in any order of sequence: the smallest pending one bounds it.
        point = min((seq for seq, _ in pending), default=tracker.flush_point())
        if point > tracker.confirmed_seq:
            await self._carry_out(tracker.confirm(point), tracker)

    def _count(self, t: Transition) -> None:
        if not t.complaint:
            return
        m = self.metrics
        labels = {"brand": m.brand_label(t.brand), "platform": m.platform_label(t.platform)}
        key = (labels["brand"], labels["platform"])
        if key not in self.outcome_series:
            # The outcome counters of a brand and platform exist from its first transition on,
            # at 0: a ratio of them (SLA attainment) is 0 rather than absent when nothing was
            # answered in time, and increase() sees their first increment.
            self.outcome_series.add(key)
            for counter in (m.answered, m.answered_within_sla, m.answered_late, m.ignored):
                counter.labels(**labels)
        if t.kind == "opened":
            m.complaints.labels(**labels).inc()
        elif t.kind == "answered":
            m.answered.labels(**labels).inc()
            if answered_within_sla(t, self.config):
                m.answered_within_sla.labels(**labels).inc()
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

    async def _recovered(self, partition: int) -> PartitionTracker:
        """The partition's tracker, recovered from the table first if this assignment hasn't
        been yet: a record that arrives before the timer's rebuild must not be judged by an
        empty index (nor its events be sent again by the rebuild as unconfirmed)."""
        tracker = self.trackers.get(partition)
        if tracker is None or partition not in self.recovered:
            for p, step in self._rebuild(frozenset((partition,))):
                await self._carry_out(step, self.trackers[p])
                self.metrics.resent_events.inc(len(step.resend))
            tracker = self.trackers[partition]
        return tracker

    # -- the timer ----------------------------------------------------------------------------
    def _rebuild(self, partitions: frozenset[int]) -> list[tuple[int, Step]]:
        """After an assignment or a restart: derive these partitions' indexes from the restored
        table, and collect what their outboxes say might not have been sent."""
        wall_ms = int(time.time() * 1000)
        values: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in partitions}
        for key, raw in self.table.items():
            marked = marker_partition(key)
            p = partition_for(key, self.partitions) if marked is None else marked
            if p in values and raw is not None:
                values[p].append((key, raw))
        steps = []
        for p in sorted(partitions):
            tracker = self._tracker(p)
            self.deliveries.pop(p, None)  # what they would confirm, the outboxes send again
            steps.append((p, tracker.recover(values[p], wall_ms)))
            self.recovered.add(p)
            if tracker.undecodable:
                log.error("partition %d: %d stored values are not tracking states; left as "
                          "they are", p, len(tracker.undecodable))
        resent = sum(len(step.resend) for _, step in steps)
        log.info("tracking index rebuilt for partitions %s (%d keys, %d unconfirmed events "
                 "sent again)", sorted(partitions), sum(len(v) for v in values.values()),
                 resent)
        return steps

    async def _tick(self) -> None:
        app = self.pipeline.app
        self.metrics.last_processed.set(time.time())  # the worker is alive and working
        if faust_compat.is_recovering(app):
            return
        active = faust_compat.active_partitions(app, self.settings.topic_raw)
        if self.needs_rebuild or active != self.assigned:
            self.needs_rebuild = False
            if active != self.assigned:
                self.assigned_at = time.monotonic()
            self.assigned = active
            log.info("tracking partitions assigned: %s", sorted(active))
            for p in list(self.trackers):
                if p not in active:
                    del self.trackers[p]
                    self.deliveries.pop(p, None)
        missing = frozenset(p for p in active if p not in self.recovered)
        if missing:
            for partition, step in self._rebuild(missing):
                await self._carry_out(step, self.trackers[partition])
                self.metrics.resent_events.inc(len(step.resend))
        for p in sorted(active):
            await self.ticks_topic.send(key=b"tick", value=b"", partition=p)
        wall_ms = int(time.time() * 1000)
        # The queue's capture and the gauges: one index, one instant, no await between.
        self.queue_capture = capture(self.trackers.values(), wall_ms)
        self.snapshot = gauges(self.trackers.values(), wall_ms,
                               self.config.share_window_ms, self.metrics.brand_label,
                               self.metrics.platform_label)
        self.lag = self._lag()

    async def age_partition(self, partition: int) -> None:
        """Runs in the agent, on a tick of `partition`: decide what time alone decides, compact,
        then confirm what was sent (flush) and store the partition's marker."""
        if partition not in self.assigned:
            return
        tracker = await self._recovered(partition)
        step = tracker.on_tick(lambda key: faust_compat.table_get(self.table, key),
                               int(time.time() * 1000), AGE_BATCH)
        await self._carry_out(step, tracker)
        if step.more_due:
            # More is due (the clock jumped: a burst after a quiet spell, a restart). Come back
            # after the records already waiting, so new mentions aren't held up behind
            # thousands of announcements.
            await self.ticks_topic.send(key=b"tick", value=b"", partition=partition)
        try:
            await asyncio.wait_for(self.pipeline.app.producer.flush(), FLUSH_TIMEOUT_S)
        except TimeoutError:
            log.warning("partition %d: the producer did not flush within %.0fs; unconfirmed "
                        "events stay in their outboxes", partition, FLUSH_TIMEOUT_S)
            return
        self.last_flush_ok = time.monotonic()
        self.last_flush_ok_wall = time.time()
        await self._confirm(tracker, now=True)  # every delivery is done after a flush

    def _lag(self) -> dict[tuple[str, int], int]:
        """Lag of the work topics only: changelog and assignor topics are never read back."""
        app = self.pipeline.app
        work = {self.settings.topic_raw, self.settings.topic_rerouted}
        lag: dict[tuple[str, int], int] = {}
        try:
            for tp in faust_compat.assigned_actives(app):
                if tp.topic not in work:
                    continue
                high = faust_compat.highwater(app, tp)
                read = faust_compat.read_offset(app, tp)
                # Nothing read since the start: the group's committed offset is the next one.
                next_offset = (read + 1 if read is not None
                               else faust_compat.committed_offset(app, tp))
                if high is not None and next_offset is not None:
                    lag[(tp.topic, tp.partition)] = max(0, high - next_offset)
        except Exception:  # lag is best effort; never break the timer for it
            log.debug("consumer lag unavailable", exc_info=True)
        return lag
