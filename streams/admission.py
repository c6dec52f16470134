"""Which mentions a producer may write to mentions.raw: exactly those the worker would process.

The worker (agents/app.py) dead-letters a raw record when ``decode_mention`` refuses its bytes
(size as it measures it, JSON, schema), when its created_at passes the future-dated tolerance
(streams.event_time) against the record's timestamp, and when a brand reply can't be routed to
a customer (streams.enrich.partition_key). ``admit`` runs those same checks, in that order, on
the very bytes that would be written and the timestamp they would carry, so a producer that
writes only admitted mentions never has one reported accepted and then dead-lettered.

Pure: the time of receipt and the limits are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.codec import DecodeError, decode_mention, encode_mention, mention_from_dict
from schemas.models import Mention
from streams.brands import BrandConfig
from streams.enrich import UnroutableMention, partition_key, producer_key
from streams.event_time import future_dated_detail, future_excess_ms

__all__ = ["Admitted", "Refusal", "admit", "admit_batch", "check_admissible"]


@dataclass(frozen=True, slots=True)
class Admitted:
    """A mention the worker will process: its record value and key, as they are to be written."""

    mention: Mention
    value: bytes
    key: bytes


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one item is refused: a dead-letter reason (or ``duplicate_id``), the field as a JSON
    path when there is one, and a detail naming no customer text."""

    index: int
    reason: str
    field: str | None
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "reason": self.reason, "field": self.field,
                "detail": self.detail}


def admit(item: Any, *, produced_ms: int, max_record_bytes: int, max_future_ms: int,
          brands: BrandConfig, produced_as: str = "the time it was received") -> Admitted:
    """One decoded JSON item → Admitted, or DecodeError with the reason the worker would
    dead-letter its record with (``unroutable`` included)."""
    mention = mention_from_dict(item)
    value = encode_mention(mention)
    check_admissible(mention, value, produced_ms=produced_ms, max_record_bytes=max_record_bytes,
                     max_future_ms=max_future_ms, brands=brands, produced_as=produced_as)
    return Admitted(mention, value, producer_key(mention, brands).encode())


def check_admissible(mention: Mention, value: bytes, *, produced_ms: int, max_record_bytes: int,
                     max_future_ms: int, brands: BrandConfig, produced_as: str) -> None:
    """Raise DecodeError with the reason the worker would dead-letter the record `value`
    (encode_mention(mention)) produced at `produced_ms` with; return when it would process it.
    The one implementation of the worker's checks for producers (HTTP and CLI ingest)."""
    try:
        # The worker's own decoder on the bytes it would read: its size limit, and a record
        # that doesn't survive the round trip is refused here, not dead-lettered there.
        decode_mention(value, max_bytes=max_record_bytes)
    except DecodeError as error:
        if error.reason == "too_large":
            raise DecodeError(error.reason, error.detail + " (MENTIONWATCH_MAX_RECORD_BYTES)",
                              error.field) from None
        raise
    if future_excess_ms(mention.created_at_ms, produced_ms, max_future_ms) is not None:
        raise DecodeError("future_dated", future_dated_detail(
            mention.created_at_ms, produced_ms, max_future_ms, produced_as=produced_as),
            field="$.created_at")
    try:
        partition_key(mention, brands)
    except UnroutableMention as exc:
        raise DecodeError("unroutable", str(exc), field="$.in_reply_to_author_id") from None


def admit_batch(items: list[Any], *, produced_ms: int, max_record_bytes: int,
                max_future_ms: int, brands: BrandConfig
                ) -> tuple[list[Admitted], list[Refusal]]:
    """Every item checked (all refusals reported, not just the first). An id that appears a
    second time in the batch is refused as ``duplicate_id``: a batch names each mention once,
    so a response can say unambiguously which ids were written."""
    admitted: list[Admitted] = []
    refusals: list[Refusal] = []
    seen_ids: set[str] = set()
    for index, item in enumerate(items):
        try:
            one = admit(item, produced_ms=produced_ms, max_record_bytes=max_record_bytes,
                        max_future_ms=max_future_ms, brands=brands)
        except DecodeError as error:
            refusals.append(Refusal(index, error.reason, error.field, error.detail))
            continue
        if one.mention.id in seen_ids:
            refusals.append(Refusal(index, "duplicate_id", "$.id",
                                    "the same id appears earlier in this request"))
            continue
        seen_ids.add(one.mention.id)
        admitted.append(one)
    return admitted, refusals
