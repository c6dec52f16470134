"""`mentionwatch ingest FILE`: validate mentions from a file and produce them to mentions.raw."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from agents.config import Settings
from agents.worker import load_brand_config
from schemas.codec import DecodeError, encode_mention, mention_from_dict
from schemas.models import Mention
from streams.brands import BrandConfig
from streams.enrich import producer_key

SHOW_REJECTS = 20


@dataclass
class IngestResult:
    sent: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    duplicates: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"sent {self.sent} mentions, rejected {len(self.rejected)}"
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


def read_jsonl(path: Path, rejects: IO[bytes] | None
               ) -> Iterator[tuple[int, int, Mention | None, str | None]]:
    """(line number, bytes read, mention or None, reason or None) per non-blank line."""
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line:
                yield line_no, len(raw), None, None
                continue
            try:
                obj: Any = orjson.loads(line)
                yield line_no, len(raw), mention_from_dict(obj), None
            except orjson.JSONDecodeError as exc:
                if rejects:
                    rejects.write(raw)
                yield line_no, len(raw), None, f"not valid JSON: {exc}"
            except DecodeError as error:
                if rejects:
                    rejects.write(raw)
                yield line_no, len(raw), None, f"{error.reason}: {error}"


def make_producer(settings: Settings) -> Any:
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        linger_ms=10,
        batch_size=512 * 1024,
        max_request_size=2 * 1024 * 1024,
        client_id="mentionwatch-ingest",
    )


def produce_mentions(producer: Any, settings: Settings, config: BrandConfig,
                     mentions: Iterator[Mention]) -> int:
    sent = 0
    for m in mentions:
        # Keyed by the customer, so the worker tracks it where it arrives (streams.enrich);
        # the record timestamp is the event time, so replay can seek a time range.
        producer.send(settings.topic_raw, key=producer_key(m, config).encode(),
                      value=encode_mention(m), timestamp_ms=m.created_at_ms)
        sent += 1
    return sent


def ingest_jsonl(settings: Settings, path: Path, *, rejects_path: Path | None = None,
                 progress: bool = True) -> IngestResult:
    from tqdm import tqdm

    result = IngestResult()
    started = time.monotonic()
    size = path.stat().st_size
    rejects = open(rejects_path, "wb") if rejects_path else None  # noqa: SIM115 (closed below)
    producer = make_producer(settings)
    config = load_brand_config(settings)
    seen: set[str] = set()
    try:
        bar = tqdm(total=size, unit="B", unit_scale=True, desc="ingest", file=sys.stderr,
                   disable=not progress or size < 5_000_000)
        with bar:
            for line_no, nbytes, mention, reason in read_jsonl(path, rejects):
                bar.update(nbytes)
                if mention is None:
                    if reason is not None:
                        result.rejected.append((line_no, reason))
                    continue
                key = f"{mention.platform}:{mention.id}"
                if key in seen:  # the same platform id twice is one mention (SEMANTICS)
                    result.duplicates += 1
                    continue
                seen.add(key)
                result.sent += produce_mentions(producer, settings, config, iter([mention]))
        producer.flush()
    finally:
        producer.close()
        if rejects:
            rejects.close()
    result.seconds = time.monotonic() - started
    return result


def ingest_twcs(settings: Settings, path: Path, *, progress: bool = True) -> IngestResult:
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
    producer = make_producer(settings)
    config = load_brand_config(settings)
    try:
        from tqdm import tqdm

        with tqdm(total=len(mentions), unit="mention", desc="ingest", file=sys.stderr,
                  disable=not progress or len(mentions) < 50_000) as bar:
            for m in mentions:
                result.sent += produce_mentions(producer, settings, config, iter([m]))
                bar.update(1)
        producer.flush()
    finally:
        producer.close()
    result.notes.append(
        f"twcs: {len(converted.brand_accounts)} brand accounts, "
        f"{len(converted.unattributed)} customer tweets unattributed (no brand found; not "
        "ingested)"
    )
    result.seconds = time.monotonic() - started
    return result
