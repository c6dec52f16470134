"""The faust shell: app, topics, the enrich agent, dead letters and the web views.

Everything that decides anything lives in streams/ (pure); this module moves bytes between
Kafka, the core, Prometheus and HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn, cast

import faust
from faust.web import Request, Response, View

from agents import faust_compat
from agents.config import Settings
from agents.disk import free_bytes
from agents.kafka_clients import aiokafka_security, faust_credentials
from agents.metrics import Metrics
from agents.offsets import GapGuard
from agents.partitioning import partition_for
from schemas.codec import (
    DecodeError,
    decode_mention,
    encode_dead_letter,
    encode_enriched,
)
from streams.brands import BrandConfig
from streams.classification import Classifier
from streams.enrich import UnroutableMention, enrich
from streams.event_time import future_dated_detail, future_excess_ms

log = logging.getLogger("mentionwatch")

# Free space on the state directory's disk before a worker stopped by a full disk starts again.
DISK_SPACE_NEEDED = 64 * 2**20
DISK_POLL_S = 5.0


def produced_ms(message: Any) -> int | None:
    """When a record was produced: its Kafka timestamp (faust gives seconds)."""
    return int(message.timestamp * 1000) if message.timestamp else None


def canonical_url(settings: Settings) -> str:
    """How the group's other workers reach this worker's web server: the setting, else the web
    host and port (this host's name when bound to a wildcard address, which others can't dial)."""
    if settings.web_canonical_url:
        return settings.web_canonical_url
    host = settings.web_host.strip()
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = socket.gethostname()
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{settings.web_port}"


def wall_clock_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Pipeline:
    settings: Settings
    brands: BrandConfig
    classifier: Classifier
    classifier_name: str
    metrics: Metrics
    app: faust.App = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        faust_compat.check_versions()
        faust_compat.shorten_fetch_wait(s.fetch_max_wait_ms)
        faust_compat.idempotent_producer()
        self.app = faust.App(
            s.installation_id,
            broker=[f"kafka://{hp.strip()}" for hp in s.bootstrap_servers.split(",")],
            store=s.store,
            datadir=str(s.state_dir.resolve()),
            autodiscover=False,
            topic_partitions=s.partitions,
            # faust's own topics (the tables' changelogs, the assignor's leader topic) are
            # replicated like ours: 3 on a cluster, so losing a broker loses no table state.
            topic_replication_factor=s.replication_factor,
            broker_credentials=faust_credentials(s),
            topic_allow_declare=True,
            web_enabled=True,
            web_host=s.web_host,
            web_bind=s.web_host,
            web_port=s.web_port,
            # Announced to the group: the care team's queue fetches each worker's part there.
            canonical_url=canonical_url(s),
            # Serving table contents over HTTP would publish customers' thread state.
            web_tables_enabled=False,
            web_stats_enabled=False,
            web_graph_enabled=False,
            web_router_enabled=False,
            web_metrics_enabled=False,
            # Our records are bytes we encode ourselves (orjson); tables store bytes too.
            key_serializer="raw",
            value_serializer="raw",
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            producer_linger=s.producer_linger_s,
            # Finish the record in hand before a rebalance or shutdown hands its partition on.
            stream_wait_empty=True,
            processing_guarantee="at_least_once",
        )
        self.raw_topic = self.app.topic(s.topic_raw, key_type=bytes, value_type=bytes,
                                        key_serializer="raw", value_serializer="raw")
        self.enriched_topic = self.app.topic(s.topic_enriched, key_type=bytes, value_type=bytes,
                                             key_serializer="raw", value_serializer="raw",
                                             partitions=s.partitions)
        self.dlq_topic = self.app.topic(s.topic_dlq, key_type=bytes, value_type=bytes,
                                        key_serializer="raw", value_serializer="raw")
        self.events_topic = self.app.topic(s.topic_events, key_type=bytes, value_type=bytes,
                                           key_serializer="raw", value_serializer="raw")
        self.rerouted_topic = self.app.topic(s.topic_rerouted, key_type=bytes, value_type=bytes,
                                             key_serializer="raw", value_serializer="raw",
                                             partitions=s.partitions)
        from agents.tracking import Tracker

        self.tracker = Tracker(self)
        # A changelog write acknowledged by fewer than min.insync.replicas brokers fails (and is
        # retried) instead of living on one disk: the table state is as durable as the topics.
        faust_compat.add_changelog_config(
            self.app, {"min.insync.replicas": str(s.min_insync_replicas)})
        self._register_agent()
        self._register_web()

    async def produce(self, topic: str, key: bytes, value: bytes, partition: int,
                      timestamp_s: float | None = None,
                      headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future[Any]:
        """Hand a record to the producer, for the agent's outputs. Straight to faust's producer
        rather than Topic.send: that path's futures, callbacks and sensors cost more per record
        than the send itself (docs/explanation/performance.md). Delivery is still at least once:
        faust flushes the producer before it commits the offsets of the records that caused these.
        The partition is the one the default partitioner gives the key (partition_for), known
        already where this is called. timestamp_s: the record timestamp (None: now). Returns
        the delivery's future."""
        future = await self.app.producer.send(topic, key, value, partition, timestamp_s,
                                              headers)
        return cast("asyncio.Future[Any]", future)

    # -- readiness ------------------------------------------------------------------------------
    def not_ready_reasons(self) -> list[str]:
        """Why this worker can't do its work now (empty: ready). For /readyz."""
        reasons: list[str] = []
        app = self.app
        if faust_compat.is_recovering(app):
            reasons.append("partitions are being assigned or their state restored")
        elif not self.tracker.assigned:
            reasons.append("no partition of the work topics is assigned to this worker")
        reasons.extend(self.tracker.health_problems())
        return reasons

    # -- a full disk ----------------------------------------------------------------------------
    async def wait_out_full_disk(self, exc: BaseException) -> NoReturn:
        """The state directory's disk is full. RocksDB refuses every write after that, even
        once space is back, so: stop processing (the record in hand stays uncommitted), say so
        once, report not ready, and when space is back start this worker again in the same
        process (exec): it restores its tables from the changelog, as after any crash."""
        home = self.settings.state_dir
        self.tracker.problems["disk"] = (
            f"the disk of {home} is full: processing paused until "
            f"{DISK_SPACE_NEEDED // 2**20} MiB are free")
        log.error("the disk of %s is full (%s): processing paused; the worker starts again by "
                  "itself once %d MiB are free", home, exc, DISK_SPACE_NEEDED // 2**20)
        while free_bytes(home) < DISK_SPACE_NEEDED:
            await asyncio.sleep(DISK_POLL_S)
        log.warning("%d MiB free again on the disk of %s: restarting the worker, which "
                    "restores its tables from the changelog", free_bytes(home) // 2**20, home)
        logging.shutdown()
        os.execv(sys.executable, sys.orig_argv)

    # -- dead letters -------------------------------------------------------------------------
    async def processing_error(self, exc: Exception, message: Any) -> None:
        """A bug must not stop the stream or lose the record: log it, dead-letter the record."""
        log.exception("processing error at %s[%s]@%s", message.topic, message.partition,
                      message.offset)
        await self.dead_letter(
            DecodeError("processing_error", f"{type(exc).__name__}: {exc}"), message)

    async def dead_letter(self, error: DecodeError, message: Any) -> None:
        record = encode_dead_letter(
            error,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
            value=message.value,
            key=message.key,
            failed_at=wall_clock_iso(),
        )
        # Awaited to delivery: a dead letter must not be lost even if the worker dies next.
        fut = await self.dlq_topic.send(key=message.key, value=record)
        await fut
        self.metrics.dead_letters.labels(reason=error.reason).inc()
        log.warning("dead letter %s[%s]@%s: %s: %s", message.topic, message.partition,
                    message.offset, error.reason, error.detail)

    # -- the agent ------------------------------------------------------------------------------
    def _register_agent(self) -> None:
        """One agent, so a mention costs one pass through faust (its per-record cost is most of
        a record's cost, docs/explanation/performance.md). It reads raw mentions, enriched
        mentions that arrived in the wrong partition and had to be rerouted, and the timer's
        ticks; all three topics and the table's changelog are co-partitioned, and being one task,
        the agent never interleaves two updates of a thread."""
        from agents.tracking import produced_ms_header

        settings = self.settings
        metrics = self.metrics
        tracker = self.tracker
        classify = self.classifier.classify
        processed = metrics.processed.labels(agent="enrich")
        partitions = settings.partitions
        raw_topic, ticks_topic = settings.topic_raw, settings.topic_ticks
        enriched_topic, rerouted_topic = settings.topic_enriched, settings.topic_rerouted
        max_future_ms = int(settings.max_future_s * 1000)

        async def enrich_and_track(message: Any) -> None:
            processed.inc()
            metrics.last_processed.set(time.time())
            try:
                mention = decode_mention(message.value, max_bytes=settings.max_record_bytes)
                excess = future_excess_ms(mention.created_at_ms, produced_ms(message),
                                          max_future_ms)
                if excess is not None:
                    raise DecodeError("future_dated", future_dated_detail(
                        mention.created_at_ms, produced_ms(message), max_future_ms),
                        field="$.created_at")
                enriched, post, key = enrich(mention, classify, self.classifier_name,
                                             self.brands)
            except DecodeError as error:
                await self.dead_letter(error, message)
                return
            except UnroutableMention as exc:
                await self.dead_letter(DecodeError("unroutable", str(exc)), message)
                return
            except Exception as exc:  # a bug must not stop the stream or lose the record
                await self.processing_error(exc, message)
                return
            key_bytes = key.encode()
            value = encode_enriched(enriched)
            partition = partition_for(key_bytes, partitions)
            # The enriched record keeps the raw record's timestamp (when it was produced), as
            # the rerouted one does in a header: replay and the rerouted hop judge event time
            # against it alike.
            await self.produce(enriched_topic, key_bytes, value, partition, message.timestamp)
            metrics.mention_counter(mention.brand, mention.platform,
                                    enriched.enrichment.sentiment).inc()
            if partition == message.partition:
                await tracker.track(key_bytes, post, message)
            else:
                # The producer keyed the raw record by something else than the customer: the
                # customer's thread lives in another partition, possibly on another worker.
                # Stamped now, so the topic's retention counts from the reroute: a backfilled
                # mention's old timestamp would let the broker delete it before it is read.
                await self.produce(rerouted_topic, key_bytes, value, partition, None,
                                   produced_ms_header(produced_ms(message)))

        async def handle(message: Any) -> None:
            if message.topic == raw_topic:
                await enrich_and_track(message)
            else:
                await tracker.track_enriched(message)

        async def process(stream: faust.StreamT[bytes]) -> None:
            guard = GapGuard(self.app, "process", settings.bootstrap_servers,
                             metrics.gap_recorder("process"),
                             metrics.short_reread_recorder("process"),
                             client_options=aiokafka_security(settings))
            async for event in stream.events():
                message = event.message
                if message.topic == ticks_topic:
                    await tracker.age_partition(message.partition)
                    continue
                for skipped in await guard.skipped(message):
                    await handle(skipped)
                await handle(message)

        source = self.app.topic(settings.topic_raw, settings.topic_rerouted,
                                settings.topic_ticks, key_type=bytes, value_type=bytes)
        self.agent = self.app.agent(source, name="mentionwatch.process")(process)

    # -- web ------------------------------------------------------------------------------------
    def _register_web(self) -> None:
        """POST /mentions, /livez, /readyz and /healthz: agents/web.py."""
        from agents.web import register_web

        register_web(self)

    async def post_mentions(self, view: View, request: Request) -> Response:
        from agents.web import post_mentions

        return await post_mentions(self, view, request)
