"""`mentionwatch ingest FILE`: validate mentions from a file and produce them to mentions.raw."""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from agents.config import Settings
from agents.kafka_clients import kafka_python_security
from agents.worker import load_brand_config
from schemas.codec import DecodeError, encode_mention, mention_from_dict
from schemas.models import Mention
from streams.admission import check_admissible
from streams.brands import BrandConfig
from streams.enrich import producer_key

SHOW_REJECTS = 20
# A send that can't get the topic's metadata in this long means the broker is unreachable (or
# the topic missing): the ingest stops there instead of waiting this long for every line.
MAX_BLOCK_MS = 30_000
# Longer than the producer's delivery timeout (120 s): by then every record should be settled.
# kafka-python's idempotent producer can stall for good after a broker restart (a batch neither
# acknowledged nor expired; reproduced on the 3-node cluster), and its flush(timeout) waits that
# long per batch: the ingest waits at most this long in all, then reports each line the broker
# did not acknowledge.
FLUSH_TIMEOUT_S = 150.0
# One flush call waits at most this long per batch (kafka-python's flush timeout is per batch).
FLUSH_STEP_S = 0.5


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class IngestResult:
    """sent: mentions the broker acknowledged. rejected: (line or row number, reason) of every
    line not written, bad input and delivery failures alike (exit status 1 when not empty)."""

    sent: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    duplicates: int = 0
    # Valid mentions not sent because the worker would dead-letter them, by its reason
    # (future_dated, too_large, unroutable, ...).
    refused: Counter[str] = field(default_factory=Counter)
    not_delivered: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def future_dated(self) -> int:
        return self.refused["future_dated"]

    def summary(self) -> str:
        why = [f"{count} {reason.replace('_', '-' if reason == 'future_dated' else ' ')}"
               for reason, count in sorted(self.refused.items())]
        if self.not_delivered:
            why.append(f"{self.not_delivered} not written: the broker refused them or was "
                       "unreachable")
        lines = [
            f"sent {self.sent} mentions, rejected {len(self.rejected)}"
            + (f" ({'; '.join(why)})" if why else "")
            + (f", skipped {self.duplicates} duplicate ids" if self.duplicates else "")
            + f", in {self.seconds:.2f}s"
            + (f" ({self.sent / self.seconds:,.0f}/s)" if self.seconds > 0 and self.sent else "")
        ]
        lines.extend(self.notes)
        for line_no, reason in self.rejected[:SHOW_REJECTS]:
            lines.append(f"  line {line_no}: {reason}")
        if len(self.rejected) > SHOW_REJECTS:
            lines.append(f"  ... and {len(self.rejected) - SHOW_REJECTS} more "
                         "(--rejects FILE writes them all)")
        return "\n".join(lines)


def worker_rejection(m: Mention, value: bytes, produced_ms: int, settings: Settings,
                     config: BrandConfig) -> tuple[str, str] | None:
    """(dead-letter reason, message) when the worker would dead-letter the record `value`
    (encode_mention(m)) produced at `produced_ms`; None when it would process it
    (streams.admission, the checks POST /mentions makes too). Checking them here keeps a
    mention from being reported sent and then dead-lettered."""
    try:
        check_admissible(m, value, produced_ms=produced_ms,
                         max_record_bytes=settings.max_record_bytes,
                         max_future_ms=int(settings.max_future_s * 1000), brands=config,
                         produced_as="the time of sending")
    except DecodeError as error:
        return error.reason, f"{error.reason}: {error}"
    return None


def read_jsonl(path: Path, rejects: IO[bytes] | None
               ) -> Iterator[tuple[int, bytes, Mention | None, str | None]]:
    """(line number, the line's bytes, mention or None, reason or None) per line; a blank line
    has neither mention nor reason."""
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line:
                yield line_no, raw, None, None
                continue
            try:
                obj: Any = orjson.loads(line)
                yield line_no, raw, mention_from_dict(obj), None
            except orjson.JSONDecodeError as exc:
                if rejects:
                    rejects.write(raw)
                yield line_no, raw, None, f"not valid JSON: {exc}"
            except DecodeError as error:
                if rejects:
                    rejects.write(raw)
                yield line_no, raw, None, f"{error.reason}: {error}"


def error_text(exc: BaseException) -> str:
    """`Type: message`, the type once (kafka-python's messages often start with it, after
    their error code)."""
    name = type(exc).__name__
    text = re.sub(rf"^(\[Error \d+\] )?{re.escape(name)}: ", "", str(exc))
    return f"{name}: {text}"


def make_producer(settings: Settings) -> Any:
    """The producer, connected. Raises KafkaAuthError (agents.topics) when the brokers refuse
    the credentials, kafka-python's KafkaError when they can't be reached in MAX_BLOCK_MS."""
    from agents.topics import bootstrap_kafka_python

    def build(bootstrap_timeout_ms: int) -> Any:
        return _kafka_python_producer(settings, bootstrap_timeout_ms)

    return bootstrap_kafka_python(settings, build, MAX_BLOCK_MS / 1000)


def _kafka_python_producer(settings: Settings, bootstrap_timeout_ms: int) -> Any:
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        bootstrap_timeout_ms=bootstrap_timeout_ms,
        # Every in-sync replica has the record before it counts as sent, and a retried batch
        # is never written twice (idempotence also keeps the order within a partition).
        acks="all",
        enable_idempotence=True,
        linger_ms=10,
        batch_size=512 * 1024,
        max_request_size=2 * 1024 * 1024,
        max_block_ms=MAX_BLOCK_MS,
        client_id="mentionwatch-ingest",
        **kafka_python_security(settings),
    )


class _Delivery:
    """Sends mentions and collects what was not written. The producer's callbacks run in its
    I/O thread, the only writer of `acked` and `failed` and the only one removing from
    `pending` (a list append, a dict pop are atomic in CPython)."""

    def __init__(self, producer: Any, settings: Settings, config: BrandConfig,
                 clock: Callable[[], int], flush_timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        self.producer = producer
        self.settings = settings
        self.config = config
        self.clock = clock
        self.flush_timeout_s = flush_timeout_s
        self.handed = 0  # records the producer accepted into its buffer
        self.acked = 0  # ... and the broker acknowledged (written by the I/O thread only)
        self.failed: list[tuple[int, bytes | None, str]] = []  # handed, then refused
        self.unsent: list[tuple[int, bytes | None, str]] = []  # send() raised
        # handed, neither acknowledged nor refused yet: send number → (line, bytes, label)
        self.pending: dict[int, tuple[int, bytes | None, str]] = {}
        self.lock = threading.Lock()  # a callback's pop and count vs finish giving up
        self.stopped: str | None = None

    def send(self, line_no: int, m: Mention, raw: bytes | None, label: str = ""
             ) -> tuple[str, str] | None:
        """Hand one mention to the producer, stamped with the time of sending (the worker and
        replay check its created_at against that time). Returns (dead-letter reason, message)
        when the worker would dead-letter it (not sent: worker_rejection). A send that raises
        (no metadata within MAX_BLOCK_MS: the broker is unreachable) sets `stopped`: the
        caller sends nothing more."""
        produced_ms = self.clock()
        value = encode_mention(m)
        rejection = worker_rejection(m, value, produced_ms, self.settings, self.config)
        if rejection is not None:
            return rejection
        failed, pending, number = self.failed, self.pending, self.handed

        def on_ack(_metadata: Any) -> None:
            with self.lock:
                if pending.pop(number, None) is not None:  # once; never after finish gave up
                    self.acked += 1

        def on_error(exc: BaseException) -> None:
            with self.lock:
                if pending.pop(number, None) is not None:
                    failed.append((line_no, raw, f"{label}not written: {error_text(exc)}"))

        try:
            future = self.producer.send(
                self.settings.topic_raw, key=producer_key(m, self.config).encode(),
                value=value, timestamp_ms=produced_ms)
        except Exception as exc:  # KafkaTimeoutError (no metadata), a full buffer, ...
            self.unsent.append((line_no, raw,
                                f"{label}not written: {error_text(exc)}"))
            self.stopped = (f"stopped at {label or f'line {line_no}: '}{type(exc).__name__} "
                            f"from broker {self.settings.bootstrap_servers}; nothing after it "
                            "was sent")
            return None
        pending[number] = (line_no, raw, label)
        self.handed += 1
        future.add_callback(on_ack)
        future.add_errback(on_error)
        return None

    def finish(self, result: IngestResult, rejects: IO[bytes] | None) -> None:
        """Wait for every acknowledgement or failure, at most flush_timeout_s, then count:
        `sent` is acknowledged; a record still pending then is reported by its line."""
        # kafka-python's flush can raise before every record is settled (after it split a
        # batch the broker refused as too large, "Future not done"), and its timeout applies
        # to each batch in turn: short flushes, the callbacks counted, our own deadline.
        deadline = time.monotonic() + self.flush_timeout_s
        while self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                self.producer.flush(timeout=min(FLUSH_STEP_S, left))
            except Exception:  # KafkaTimeoutError of this step; the deadline decides
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        # Whatever is pending now counts as not acknowledged, even if its callback comes later
        # (the callbacks pop from `pending`: a late one finds nothing and counts nothing).
        with self.lock:
            stalled = [self.pending[n] for n in sorted(self.pending)]
            self.pending.clear()
            acked, failed = self.acked, list(self.failed)
        unacked = [(line_no, raw, f"{label}not acknowledged by the broker within "
                    f"{self.flush_timeout_s:g}s (written or not: unknown)")
                   for line_no, raw, label in stalled]
        if unacked:
            self.stopped = self.stopped or (
                f"{len(unacked)} mentions handed to the producer were neither acknowledged nor "
                f"refused by broker {self.settings.bootstrap_servers} within "
                f"{self.flush_timeout_s:g}s; gave up waiting")
        result.sent += acked
        failures = sorted(failed + self.unsent + unacked, key=lambda f: f[0])
        result.not_delivered += len(failures)
        for line_no, raw, reason in failures:
            result.rejected.append((line_no, reason))
            if rejects is not None and raw is not None:
                rejects.write(raw)
        result.rejected.sort(key=lambda r: r[0])
        if self.stopped:
            result.notes.append(self.stopped)


def _close(producer: Any) -> None:
    # finish() counted every record already; a close that raises has nothing to add.
    with contextlib.suppress(Exception):
        producer.close(timeout=5)


def ingest_jsonl(settings: Settings, path: Path, *, rejects_path: Path | None = None,
                 progress: bool = True, producer: Any = None,
                 clock: Callable[[], int] = wall_ms,
                 ack_timeout_s: float = FLUSH_TIMEOUT_S) -> IngestResult:
    """producer, clock: for tests (default: a Kafka producer, the wall clock). ack_timeout_s:
    how long to wait at the end for the broker's acknowledgements (lines still unacknowledged
    then are rejected: reported, written to rejects_path)."""
    from tqdm import tqdm

    result = IngestResult()
    started = time.monotonic()
    size = path.stat().st_size
    config = load_brand_config(settings)  # a bad brands file fails before anything is sent
    producer = producer if producer is not None else make_producer(settings)
    rejects = open(rejects_path, "wb") if rejects_path else None  # noqa: SIM115 (closed below)
    delivery = _Delivery(producer, settings, config, clock, ack_timeout_s)
    seen: set[str] = set()
    try:
        bar = tqdm(total=size, unit="B", unit_scale=True, desc="ingest", file=sys.stderr,
                   disable=not progress or size < 5_000_000)
        with bar:
            for line_no, raw, mention, reason in read_jsonl(path, rejects):
                bar.update(len(raw))
                if mention is None:
                    if reason is not None:
                        result.rejected.append((line_no, reason))
                    continue
                key = f"{mention.platform}:{mention.id}"
                # The same platform id twice is one mention (docs/explanation/semantics.md).
                if key in seen:
                    result.duplicates += 1
                    continue
                rejection = delivery.send(line_no, mention, raw)
                if rejection is not None:
                    result.refused[rejection[0]] += 1
                    result.rejected.append((line_no, rejection[1]))
                    if rejects:
                        rejects.write(raw)
                    continue
                if delivery.stopped:
                    break
                seen.add(key)
        delivery.finish(result, rejects)
    finally:
        _close(producer)
        if rejects:
            rejects.close()
    result.seconds = time.monotonic() - started
    return result


def ingest_twcs(settings: Settings, path: Path, *, progress: bool = True, producer: Any = None,
                clock: Callable[[], int] = wall_ms,
                ack_timeout_s: float = FLUSH_TIMEOUT_S) -> IngestResult:
    """The Customer Support on Twitter CSV layout → mention.v1 records (streams.twcs decides
    the brand of each tweet; unattributed tweets are counted and reported, not ingested)."""
    import csv

    from streams.twcs import convert_twcs

    result = IngestResult()
    started = time.monotonic()
    with open(path, newline="", encoding="utf-8") as handle:
        converted = convert_twcs(csv.DictReader(handle))
    mentions: list[Mention] = []
    for row_no, reason in converted.rejected:
        result.rejected.append((row_no, reason))
    for obj in converted.mentions:
        try:
            mentions.append(mention_from_dict(obj))
        except DecodeError as error:
            result.rejected.append((0, f"tweet {obj.get('id')}: {error.reason}: {error}"))
    config = load_brand_config(settings)
    producer = producer if producer is not None else make_producer(settings)
    delivery = _Delivery(producer, settings, config, clock, ack_timeout_s)
    try:
        from tqdm import tqdm

        with tqdm(total=len(mentions), unit="mention", desc="ingest", file=sys.stderr,
                  disable=not progress or len(mentions) < 50_000) as bar:
            for m in mentions:
                label = f"tweet {m.id}: "
                rejection = delivery.send(0, m, None, label)
                if rejection is not None:
                    result.refused[rejection[0]] += 1
                    result.rejected.append((0, label + rejection[1]))
                if delivery.stopped:
                    break
                bar.update(1)
        delivery.finish(result, None)
    finally:
        _close(producer)
    result.notes.append(
        f"twcs: {len(converted.brand_accounts)} brand accounts, "
        f"{len(converted.unattributed)} customer tweets unattributed (no brand found; not "
        "ingested)"
    )
    result.seconds = time.monotonic() - started
    return result
