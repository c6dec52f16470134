"""`mentionwatch replay`: audit an event-time range from mentions.raw with the same core the live
workers run, judged by the event-time watermark only, so the same records always give a
byte-identical report."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from agents.brand_versions import BUILT_IN_DEFAULT, mentionwatch_version
from agents.config import Settings
from agents.kafka_clients import confluent_security, is_auth_failure
from schemas.codec import (
    DecodeError,
    decode_mention,
    decode_tracking_record,
    format_rfc3339_ms,
    parse_rfc3339_ms,
)
from streams.audit import AuditTally, render_report
from streams.brand_versions import ConfigTimeline, ConfigVersion, versions_in_force
from streams.brands import BrandConfig, brand_config_sha256
from streams.classification import Classifier
from streams.enrich import UnroutableMention, enrich
from streams.event_time import accepted_event_ms
from streams.tracking import Post, StatesBuilder, ThreadState, item_statuses, make_post

# Records are seeked by their Kafka timestamp (when they were produced) and filtered by event
# time. An accepted record has created_at <= produced + max_future (streams.event_time), so
# every record of [from, to) has produced >= from - max_future: seeking to from - margin with
# margin >= max_future (seek_margin_ms) misses none. The day covers older data whose producers
# stamped event time with a clock running behind.
SEEK_MARGIN_MS = 24 * 3600 * 1000


def seek_margin_ms(max_future_ms: int) -> int:
    """How far before the range's start to seek: never less than the future tolerance."""
    return max(SEEK_MARGIN_MS, max_future_ms)


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


@dataclass(frozen=True)
class JudgingConfiguration:
    """The brand configuration a replay judges with, and what its report says of it."""

    config: BrandConfig
    provenance: dict[str, Any]
    note: str | None = None  # said on stderr (a brands file in the environment left unused)


def _version_entry(version: ConfigVersion | None, sha256: str, source: str,
                   config: BrandConfig) -> dict[str, Any]:
    return {
        "sha256": sha256,
        "effective_at": None if version is None else format_rfc3339_ms(version.effective_ms),
        "source": source,
        "brands": {key: {"sla_s": p.sla_ms / 1000, "ignore_after_s": p.ignore_after_ms / 1000,
                         "timezone": p.timezone, "business_hours": p.calendar is not None}
                   for key, p in sorted(config.brands.items(), key=lambda kv: kv[0].casefold())},
    }


def judging_configuration(settings: Settings, override: Path | None, from_ms: int, to_ms: int
                          ) -> JudgingConfiguration:
    """By default the configurations the workers recorded (each mention judged with the
    version in force when it was created); `override` (--brands-file) instead judges every
    mention with that file, reported as an override. Without recorded configurations (a
    deployment from before they were recorded): MENTIONWATCH_BRANDS_FILE or the built-in
    default, and the report says so. Raises ConfigError or ReplayError."""
    from agents.brand_versions import (
        BrandsFile,
        RecordedConfigError,
        read_brands_file,
        recorded_versions,
    )

    def single(brands: BrandsFile, origin: str) -> JudgingConfiguration:
        sha = brand_config_sha256(brands.config)
        return JudgingConfiguration(brands.config, {
            "from": origin, "sha256": sha, "file": None if brands.text is None else brands.source,
            "brands": len(brands.config.brands), "topic": settings.topic_brand_config,
            "versions": [_version_entry(None, sha, brands.source, brands.config)]})

    if override is not None:
        return single(read_brands_file(replace(settings, brands_file=override)),
                      "override (--brands-file): every mention judged with this file")
    from kafka.errors import KafkaError

    from agents.topics import KafkaAuthError

    try:
        versions = recorded_versions(settings)
    except RecordedConfigError as exc:
        raise ReplayError(str(exc)) from None
    except KafkaAuthError as exc:
        raise ReplayError(f"cannot read the topics of the broker: {exc}") from None
    except KafkaError as exc:
        raise ReplayError(f"cannot read the topics of the broker (broker "
                          f"{settings.bootstrap_servers}; {type(exc).__name__}: {exc})") from None
    if not versions:
        where = (f"{settings.topic_brand_config} does not exist" if versions is None
                 else f"nothing recorded on {settings.topic_brand_config}")
        origin = ("MENTIONWATCH_BRANDS_FILE" if settings.brands_file is not None
                  else "built-in default (MENTIONWATCH_BRANDS_FILE not set)")
        return single(read_brands_file(settings), f"{origin}; {where}")
    in_force = versions_in_force(versions, from_ms, to_ms)
    timeline = ConfigTimeline.of(in_force)
    note = None
    if settings.brands_file is not None:
        note = (f"MENTIONWATCH_BRANDS_FILE ({settings.brands_file}) is not used: the replay "
                "judges with the configurations the workers recorded (--brands-file overrides)")
    only = in_force[0] if len(in_force) == 1 else None
    return JudgingConfiguration(timeline, {
        "from": "recorded by the workers: each mention judged with the version in force when "
                "it was created",
        "sha256": None if only is None else only.sha256,
        "file": None if only is None or only.source == BUILT_IN_DEFAULT else only.source,
        "brands": len(timeline.brands), "topic": settings.topic_brand_config,
        "versions": [_version_entry(v, v.sha256, v.source, v.config) for v in in_force]},
        note)


@dataclass
class ReplayStats:
    source: str = "raw"
    read: int = 0
    in_range: int = 0
    invalid: int = 0
    future_dated: int = 0  # dated beyond the tolerance ahead of their record timestamp
    unroutable: int = 0
    # In range and routable: attributed to a customer's thread, or not (brand posts replying
    # to nobody: they answer nothing).
    attributed: int = 0
    unattributed: int = 0
    moved: int = 0  # posts found by one process whose thread another process judges
    workers: int = 1
    seconds: float = 0.0
    # partition → (first offset read, end offset), of the topic read.
    offsets: dict[int, tuple[int, int]] = field(default_factory=dict)
    # classifier name → records in range it classified (enriched: as recorded by the workers).
    classifiers: dict[str, int] = field(default_factory=dict)

    def add(self, other: ReplayStats) -> None:
        for name in ("read", "in_range", "invalid", "future_dated", "unroutable", "attributed",
                     "unattributed", "moved"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.offsets.update(other.offsets)
        for name, n in other.classifiers.items():
            self.classifiers[name] = self.classifiers.get(name, 0) + n


SOURCES = ("raw", "enriched")
BATCH_RECORDS = 50_000


# How long a read may go without a record before the replay gives up (a broker that went away
# mid-read: librdkafka retries on its own and would otherwise wait forever).
STALL_SECONDS = 60.0
_TIMEOUT_S = 15.0


class _Reader:
    """A read-only consumer (confluent-kafka, i.e. librdkafka): no group membership, never
    commits, so the live group's offsets are untouched. librdkafka fetches and parses record
    batches in its own threads, in C; aiokafka built every record in Python, about half of a
    bare reader's CPU (docs/explanation/performance.md)."""

    def __init__(self, bootstrap_servers: str, security: Mapping[str, Any] | None = None,
                 ) -> None:
        """security: librdkafka's security properties (agents.kafka_clients.confluent_security)
        """
        from confluent_kafka import Consumer

        self.bootstrap_servers = bootstrap_servers
        self.errors: list[str] = []
        self.consumer = Consumer({
            **(security or {}),
            "bootstrap.servers": bootstrap_servers,
            "group.id": "mentionwatch-replay",  # required by librdkafka; never joined
            "client.id": "mentionwatch-replay",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_uncommitted",  # what the live workers read
            "enable.partition.eof": False,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
            "error_cb": lambda err: self.errors.append(str(err)),
            "log_level": 0,  # errors come through error_cb, into ReplayError's message
        })

    def fail(self, what: str, exc: Exception | None = None) -> ReplayError:
        """The replay's error: what failed, the broker, and librdkafka's reason."""
        reasons = [f"broker {self.bootstrap_servers}"]
        if exc is not None and exc.args:
            error = exc.args[0]
            reasons.append(error.str() if hasattr(error, "str") else str(error))
        if self.errors:
            # librdkafka follows a refused login with "all brokers down": name the refusal.
            refused = next((e for e in self.errors if is_auth_failure(e)), None)
            reasons.append(f"client error: {refused}" if refused
                           else f"last client error: {self.errors[-1]}")
        if any(is_auth_failure(reason) for reason in reasons[1:]):
            # Retrying can't help: say so first, naming the settings to check.
            return ReplayError(f"{what}: the broker refused the credentials "
                               f"(authentication failed; {'; '.join(reasons)}). Check "
                               "MENTIONWATCH_KAFKA_USERNAME, MENTIONWATCH_KAFKA_PASSWORD (or "
                               "_FILE), MENTIONWATCH_KAFKA_SASL_MECHANISM and the "
                               "MENTIONWATCH_KAFKA_SSL_* files")
        return ReplayError(f"{what} ({'; '.join(reasons)})")

    def partitions(self, topic: str) -> list[int]:
        from confluent_kafka import KafkaException

        deadline = time.monotonic() + _TIMEOUT_S
        while True:
            # Short attempts, serving librdkafka's error callbacks in between: a broker that
            # refuses our credentials is reported at once, not after the whole timeout.
            try:
                meta = self.consumer.list_topics(topic, timeout=1.0)
                break
            except KafkaException as exc:
                self.consumer.poll(0)
                if time.monotonic() > deadline or any(map(is_auth_failure, self.errors)):
                    raise self.fail("cannot read the topics of the broker", exc) from None
        found = meta.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            return []
        return sorted(found.partitions)

    def close(self) -> None:
        self.consumer.close()


def _partitions(settings: Settings, topic: str) -> list[int]:
    reader = _Reader(settings.bootstrap_servers, confluent_security(settings))
    try:
        return reader.partitions(topic)
    finally:
        reader.close()


def _read(settings: Settings, topic: str, partitions: list[int], from_ms: int,
          on_batch: Callable[[list[bytes], list[int]], None],
          on_total: Callable[[int], None],
          on_offsets: Callable[[dict[int, tuple[int, int]]], None] | None = None) -> None:
    """Every record value of these partitions of `topic` from (about) from_ms up to the end
    offsets taken at start, in batches, with the records' timestamps (ms; -1: none) in a
    parallel list. on_offsets: partition → (first offset, end offset) of what is read."""
    from confluent_kafka import KafkaException, TopicPartition

    reader = _Reader(settings.bootstrap_servers, confluent_security(settings))
    consumer = reader.consumer
    try:
        try:
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                      timeout=_TIMEOUT_S)[1]
                    for p in partitions}
            seek_ms = max(0, from_ms - seek_margin_ms(int(settings.max_future_s * 1000)))
            starts = consumer.offsets_for_times(
                [TopicPartition(topic, p, seek_ms) for p in partitions], timeout=_TIMEOUT_S)
        except KafkaException as exc:
            raise reader.fail(f"cannot read the offsets of {topic}", exc) from None
        remaining: dict[int, int] = {}
        offsets: dict[int, tuple[int, int]] = {}
        assign = []
        for tp in starts:
            end = ends[tp.partition]
            start = tp.offset if tp.offset >= 0 else end  # < 0: no record that late
            offsets[tp.partition] = (start, end)
            if end > start:
                remaining[tp.partition] = end
                assign.append(TopicPartition(topic, tp.partition, start))
        if on_offsets is not None:
            on_offsets(offsets)
        on_total(sum(remaining[tp.partition] - tp.offset for tp in assign))
        if not assign:
            return
        consumer.assign(assign)
        last_progress = time.monotonic()
        while remaining:
            messages = consumer.consume(num_messages=BATCH_RECORDS, timeout=1.0)
            values = []
            timestamps = []
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.fatal() or not error.retriable():
                        raise reader.fail(f"reading {topic} failed: {error}")
                    continue
                partition = message.partition()
                end = remaining.get(partition)
                if end is None:
                    continue  # past its end offset: written after the replay started
                offset = message.offset()
                if offset < end:
                    values.append(message.value())
                    timestamps.append(message.timestamp()[1])  # (type, ms)
                if offset >= end - 1:
                    del remaining[partition]
                    consumer.pause([TopicPartition(topic, partition)])
            if values:
                on_batch(values, timestamps)
                last_progress = time.monotonic()
            elif remaining:
                # Offsets may have gaps (compaction, transaction markers): done when the next
                # offset to fetch is the end.
                for tp in consumer.position([TopicPartition(topic, p) for p in remaining]):
                    if tp.offset >= remaining[tp.partition]:
                        del remaining[tp.partition]
                if remaining and time.monotonic() - last_progress > STALL_SECONDS:
                    raise reader.fail(f"no records from {topic} for {STALL_SECONDS:.0f}s with "
                                      f"{len(remaining)} partition(s) unfinished")
    finally:
        reader.close()


def post_from_enriched(value: bytes, config: BrandConfig) -> Post:
    """A record of mentions.enriched → the tracking view of it, as the worker's tracking would
    build it. mentions.enriched is written by the workers alone, from mentions they validated,
    so this checks the types of what tracking reads only (the full validation costs more than
    the rest of the replay). Raises DecodeError."""
    return post_and_classifier_from_enriched(value, config)[0]


def post_and_classifier_from_enriched(value: bytes, config: BrandConfig) -> tuple[Post, str]:
    """post_from_enriched, and the name of the classifier the workers recorded."""
    m, created_ms, complaint, classifier = decode_tracking_record(value)
    author = m.author
    followers = m.followers
    # The replay shows no queue: of the details it keeps the follower count only (the reach).
    details = None if followers is None else (author.handle, "", None, followers)
    return make_post(m.id, m.platform, m.brand, author.id, author.handle, author.is_brand,
                     created_ms, m.in_reply_to, m.in_reply_to_author_id, m.conversation_id,
                     complaint, details, config), classifier


@dataclass
class _Job:
    """One replay, as every shard sees it."""

    settings: Settings
    config: BrandConfig
    classifier: Classifier
    classifier_name: str
    topic: str
    source: str
    from_ms: int
    to_ms: int
    brand: str | None
    by: str | None = None
    answered_ids: bool = False


class _Shard:
    """The threads found in some partitions: reads them, then judges them at the replay's
    watermark. A thread normally lives in one partition (the one its customer's key hashes to:
    the workers write mentions.enriched there, mentionwatch's producers mentions.raw); posts of
    a key that several shards found (a raw record a foreign producer keyed otherwise, a topic
    whose partition count changed) are gathered in one shard before anything is judged."""

    def __init__(self, job: _Job) -> None:
        self.job = job
        self.stats = ReplayStats(source=job.source)
        self.builder = StatesBuilder()
        self.max_event_ms: int | None = None
        self.judged: dict[str, ThreadState] = {}

    def on_batch(self, values: list[bytes], timestamps: list[int]) -> None:
        """values and their record timestamps (ms, <= 0: none), in parallel."""
        self.stats.read += len(values)
        if self.job.source == "enriched":
            posts, latest = self._enriched_posts(values, timestamps)
        else:
            posts, latest = self._raw_posts(values, timestamps)
        if posts:
            if self.max_event_ms is None or latest > self.max_event_ms:
                self.max_event_ms = latest
            before = self.builder.unattached
            self.builder.add(posts)
            unattached = self.builder.unattached - before
            self.stats.unattributed += unattached
            self.stats.attributed += len(posts) - unattached

    # The two loops below run per record: locals, and the event-time rule (streams.event_time,
    # the live worker's) in one call per record. Each returns the posts of the range and the
    # largest event time they may show the clock (observed_event_ms), -1 for none.

    def _enriched_posts(self, values: list[bytes], timestamps: list[int]
                        ) -> tuple[list[Post], int]:
        job = self.job
        from_ms, to_ms, config = job.from_ms, job.to_ms, job.config
        max_future_ms = int(job.settings.max_future_s * 1000)
        posts = []
        invalid = future_dated = unroutable = 0
        latest = -1
        classifiers = self.stats.classifiers
        for value, produced_ms in zip(values, timestamps, strict=True):
            try:
                post, classifier = post_and_classifier_from_enriched(value, config)
            except DecodeError:
                invalid += 1  # not a record the workers wrote
                continue
            created_ms = post.created_at_ms
            # The workers stamp an enriched record with its raw record's timestamp: the same
            # check as for raw records.
            observed = accepted_event_ms(created_ms, produced_ms, max_future_ms)
            if observed is None:
                future_dated += 1
                continue
            if from_ms <= created_ms < to_ms:
                classifiers[classifier] = classifiers.get(classifier, 0) + 1
                if (post.is_brand and post.in_reply_to is not None
                        and post.in_reply_to_author_id is None):
                    unroutable += 1  # as enrich() says of the raw record
                    continue
                posts.append(post)
                if observed > latest:
                    latest = observed
        self.stats.invalid += invalid
        self.stats.future_dated += future_dated
        self.stats.in_range += len(posts) + unroutable
        self.stats.unroutable += unroutable
        return posts, latest

    def _raw_posts(self, values: list[bytes], timestamps: list[int]
                   ) -> tuple[list[Post], int]:
        job = self.job
        from_ms, to_ms, config = job.from_ms, job.to_ms, job.config
        classify, max_bytes = job.classifier.classify, job.settings.max_record_bytes
        max_future_ms = int(job.settings.max_future_s * 1000)
        posts = []
        invalid = future_dated = in_range = unroutable = 0
        latest = -1
        for value, produced_ms in zip(values, timestamps, strict=True):
            try:
                mention = decode_mention(value, max_bytes=max_bytes)
            except DecodeError:
                invalid += 1  # the live worker dead-lettered it; not part of the audit
                continue
            created_ms = mention.created_at_ms
            observed = accepted_event_ms(created_ms, produced_ms, max_future_ms)
            if observed is None:
                future_dated += 1  # dead-lettered live as future_dated; moves no clock
                continue
            if not from_ms <= created_ms < to_ms:
                continue
            in_range += 1
            try:
                _enriched, post, _key = enrich(mention, classify, job.classifier_name, config)
            except UnroutableMention:
                unroutable += 1
                continue
            posts.append(post)
            if observed > latest:
                latest = observed
        self.stats.invalid += invalid
        self.stats.future_dated += future_dated
        self.stats.in_range += in_range
        self.stats.unroutable += unroutable
        if in_range:
            name = job.classifier_name
            self.stats.classifiers[name] = self.stats.classifiers.get(name, 0) + in_range
        return posts, latest

    def read(self, partitions: list[int], on_total: Callable[[int], None],
             on_progress: Callable[[int], None]) -> None:
        def on_batch(values: list[bytes], timestamps: list[int]) -> None:
            self.on_batch(values, timestamps)
            on_progress(len(values))

        _read(self.job.settings, self.job.topic, partitions, self.job.from_ms, on_batch,
              on_total, self.stats.offsets.update)

    def judge(self, watermark_ms: int) -> AuditTally:
        """Every item of the shard's threads as seen at the watermark (the same core function
        as the live workers), counted."""
        job = self.job
        tally = AuditTally(range_from_ms=job.from_ms, range_to_ms=job.to_ms,
                           brand_filter=job.brand, by=job.by, answered_ids=job.answered_ids)
        config = job.config
        builder = self.builder
        # Kept on the shard: a shard process ends without freeing them (_shard_process); freeing
        # them here would take ~0.3 s per 500k records before the tally goes out.
        self.judged = builder.states()
        for key, state in self.judged.items():
            followers = builder.followers(key)
            if followers is None:
                for status in item_statuses(state, config, watermark_ms):
                    tally.add(status, config)
            else:
                for status in item_statuses(state, config, watermark_ms):
                    tally.add(status, config, followers.get(status.mention_id))
        return tally


def _shard_process(job: _Job, partitions: list[int], conn: Connection) -> None:
    """A forked shard: read and say which keys it found; hand over the keys the parent names
    and take those handed to it; judge at the watermark and send the tally."""
    try:
        shard = _Shard(job)
        shard.read(partitions, lambda total: conn.send(("total", total)),
                   lambda n: conn.send(("progress", n)))
        conn.send(("read", shard.stats, shard.max_event_ms, shard.builder.keys()))
        give: dict[int, set[str]] = conn.recv()
        conn.send(("given", {owner: (shard.builder.take(keys), shard.builder.take_followers(keys))
                             for owner, keys in give.items()}))
        watermark, taken = conn.recv()
        for posts, followers in taken:
            shard.builder.merge(posts)
            shard.builder.merge_followers(followers)
        conn.send(("tally", shard.judge(watermark)))
    except BaseException as exc:  # the parent reports it and fails the replay
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from None
    finally:
        conn.close()
    # The parent has the tally: end here instead of freeing the shard's millions of objects one
    # by one on return (about half a second per million records, which the parent would wait
    # for in join). Nothing is left to flush: the shard writes nothing but to the pipe.
    os._exit(0)


def _watermark(job: _Job, max_event_ms: int | None) -> int:
    """The instant a replay judges at: the largest event time among its records
    (docs/explanation/semantics.md), the range's start if it has none."""
    return job.from_ms if max_event_ms is None else max_event_ms


def _handovers(found: list[set[str]]) -> list[dict[int, set[str]]]:
    """Per shard, the keys it gives to another shard (owner → keys): a key found by several
    shards goes to the first of them (set operations: the common case, keys found once, costs
    no Python loop per key)."""
    give: list[dict[int, set[str]]] = [{} for _ in found]
    for i, keys in enumerate(found):
        for j in range(i):
            shared = keys & found[j]
            for earlier in range(j):
                shared -= found[earlier]  # those go to an earlier shard
            if shared:
                give[i][j] = shared
    return give


class _Progress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.total = 0
        self.bar: Any = None

    def add_total(self, total: int) -> None:
        self.total += total
        if self.bar is not None:  # a shard that reported its total after the bar appeared
            self.bar.total = self.total
            self.bar.refresh()

    def update(self, n: int) -> None:
        if self.bar is None and self.enabled and self.total >= 200_000:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, unit="rec", unit_scale=True, desc="replay",
                            file=sys.stderr)
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_sharded(job: _Job, shards: list[list[int]], progress: _Progress,
                 stats: ReplayStats) -> tuple[AuditTally, int]:
    """The merged tally of the shards, and the watermark they were judged at."""
    context = multiprocessing.get_context("fork")  # the shards inherit config and classifier
    conns: list[Connection] = []
    procs = []
    for index, partitions in enumerate(shards):
        parent_end, child_end = context.Pipe()
        proc = context.Process(target=_shard_process, args=(job, partitions, child_end),
                               name=f"mentionwatch-replay-{index}", daemon=True)
        proc.start()
        child_end.close()
        conns.append(parent_end)
        procs.append(proc)
    try:
        def receive(conn: Connection, want: str) -> tuple[Any, ...] | None:
            """One message of a shard: its payload if it is `want`, else None (progress)."""
            try:
                message: tuple[Any, ...] = conn.recv()
            except EOFError:
                raise ReplayError("a replay shard process ended unexpectedly") from None
            kind = message[0]
            if kind == "total":
                progress.add_total(message[1])
            elif kind == "progress":
                progress.update(message[1])
            elif kind == "error":
                raise ReplayError(f"replay shard failed: {message[1]}")
            elif kind == want:
                return message[1:]
            return None

        def collect(want: str) -> list[tuple[Any, ...]]:
            got: dict[int, tuple[Any, ...]] = {}
            while len(got) < len(conns):
                ready = wait([c for i, c in enumerate(conns) if i not in got])
                for index, conn in enumerate(conns):
                    if conn in ready and index not in got:
                        payload = receive(conn, want)
                        if payload is not None:
                            got[index] = payload
            return [got[i] for i in range(len(conns))]

        maxima, found = [], []
        for shard_stats, max_event_ms, keys in collect("read"):
            stats.add(shard_stats)
            found.append(keys)
            if max_event_ms is not None:
                maxima.append(max_event_ms)
        for conn, give in zip(conns, _handovers(found), strict=True):
            conn.send(give)
        taken: list[list[Any]] = [[] for _ in shards]
        for (given,) in collect("given"):
            for owner, (posts, followers) in given.items():
                taken[owner].append((posts, followers))
                stats.moved += sum(len(recs) for recs in posts.values())
        watermark = _watermark(job, max(maxima, default=None))
        for conn, posts in zip(conns, taken, strict=True):
            conn.send((watermark, posts))
        tally: AuditTally | None = None
        for (part,) in collect("tally"):
            if tally is None:
                tally = part
            else:
                tally.merge(part)
        assert tally is not None
        return tally, watermark
    finally:
        for conn in conns:
            conn.close()
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """A replay builds millions of small objects and frees them all at the end, none in
    reference cycles: the cyclic collector would rescan the growing heap over and over (about a
    third of the replay's time) and find nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_replay(settings: Settings, config: BrandConfig, classifier: Classifier,
               classifier_name: str, *, from_ms: int, to_ms: int, brand: str | None,
               fmt: str, progress: bool = True, source: str = "raw",
               workers: int | None = None, by: str | None = None,
               answered_ids: bool = False, configuration: dict[str, Any] | None = None
               ) -> tuple[str, ReplayStats]:
    """source "raw": the audit record, classified again by the configured classifier;
    "enriched": the classification the live workers recorded (no classifier run: fast).
    workers: processes sharing the partitions (default: one per CPU); the report doesn't
    depend on it. by: day, week or month: figures per period too. answered_ids: list the ids
    answered in time as well. configuration: what the report says of `config`
    (judging_configuration's provenance; default: as of MENTIONWATCH_BRANDS_FILE)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1")
    started = time.monotonic()
    topic = settings.topic_raw if source == "raw" else settings.topic_enriched
    partitions = _partitions(settings, topic)
    if not partitions:
        raise ReplayError(f"topic {topic} not found on {settings.bootstrap_servers}")
    count = min(workers or os.cpu_count() or 1, len(partitions))
    job = _Job(settings, config, classifier, classifier_name, topic, source, from_ms, to_ms,
               brand, by, answered_ids)
    stats = ReplayStats(source=source, workers=count)
    bar = _Progress(progress)
    try:
        with _gc_paused():
            if count == 1:
                shard = _Shard(job)
                shard.read(partitions, bar.add_total, bar.update)
                stats.add(shard.stats)
                watermark = _watermark(job, shard.max_event_ms)
                tally = shard.judge(watermark)
            else:
                tally, watermark = _run_sharded(
                    job, [[p for p in partitions if p % count == i] for i in range(count)],
                    bar, stats)
    finally:
        bar.close()
    # Judged at the watermark of the range's records, once: the statuses depend on the set of
    # posts and that instant alone.
    report = tally.report(config, watermark,
                          replay_provenance(settings, config, job, stats, partitions,
                                            configuration))
    stats.seconds = time.monotonic() - started
    return render_report(report, fmt), stats


_CLASSIFICATION_DIR = Path(__file__).resolve().parents[1] / "streams" / "classification"


def lexicon_model_sha256() -> str:
    """The shipped classifier's identity: a hash of its code and lexicon files (any change to
    either may change a complaint flag)."""
    digest = hashlib.sha256()
    files = sorted(p for p in _CLASSIFICATION_DIR.rglob("*")
                   if p.is_file() and p.suffix in (".py", ".tsv", ".txt", ".json"))
    for path in files:
        digest.update(path.relative_to(_CLASSIFICATION_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def replay_provenance(settings: Settings, config: BrandConfig, job: _Job, stats: ReplayStats,
                      partitions: list[int], configuration: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
    """Where a report's figures come from. Nothing in it depends on the number of processes
    or on the time the replay ran: the report stays byte-identical."""
    names = sorted(stats.classifiers)
    if job.source == "raw":
        default = job.classifier_name.strip() in ("", "lexicon")
        classifier: dict[str, Any] = {
            "by": "this replay (mentions.raw classified again)",
            "name": job.classifier_name or "lexicon",
            "model_sha256": (lexicon_model_sha256() if default
                             else getattr(job.classifier, "model_sha256", None)),
            "complaint_threshold": settings.complaint_threshold,
        }
    else:
        classifier = {
            "by": "the workers (as recorded in mentions.enriched)",
            "name": names[0] if len(names) == 1 else ("mixed" if names else None),
            # The enriched records name their classifier but carry no model hash.
            "model_sha256": None,
            "complaint_threshold": None,
        }
    classifier["records"] = {name or "(unnamed)": stats.classifiers[name] for name in names}
    classifier["mixed"] = len(names) > 1
    brands_file = settings.brands_file
    return {
        "mentionwatch_version": mentionwatch_version(),
        "source": job.source,
        "topic": job.topic,
        "offsets": {str(p): {"first": stats.offsets.get(p, (0, 0))[0],
                             "end": stats.offsets.get(p, (0, 0))[1]} for p in partitions},
        "records": {
            "read": stats.read,
            "invalid": stats.invalid,  # dead-lettered live: not JSON, schema violations
            "future_dated": stats.future_dated,  # dead-lettered live by the event-time rule
            "in_range": stats.in_range,
            "unroutable": stats.unroutable,  # dead-lettered live: a reply naming no author
            "attributed": stats.attributed,  # in a customer's thread
            "unattributed": stats.unattributed,  # brand posts replying to nobody
        },
        "classifier": classifier,
        "brand_configuration": configuration or {
            "sha256": brand_config_sha256(config),
            "from": "MENTIONWATCH_BRANDS_FILE" if brands_file is not None
                    else "built-in default (MENTIONWATCH_BRANDS_FILE not set)",
            "file": str(brands_file) if brands_file is not None else None,
            "brands": len(config.brands),
        },
        "max_future_s": settings.max_future_s,
    }
