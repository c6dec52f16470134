"""Which event time a record may show a clock: the rule against hijacked clocks.

A partition's clock (its event-time watermark) follows the largest event time seen. A single
mention dated 2099 would move it to 2099 and make every open complaint ignored at once. So the
event time a record claims is checked against the time it was *produced*, its Kafka record
timestamp (our producers stamp the wall-clock time of the send; Kafka stamps the send time when
a producer sets none):

- a mention whose ``created_at`` passes ``produced + max_future`` (strictly greater,
  docs/explanation/semantics.md "passes") is rejected: dead-lettered as ``future_dated``, it
  never moves a clock;
- an accepted mention lets a clock observe ``min(created_at, produced)`` only, so one dated a
  little in the future moves no clock past the moment it was produced;
- a record without a timestamp (None, or <= 0 as Kafka reports "none") is not checked and
  shows its ``created_at``.

The same functions are called by the live worker, the HTTP ingest (produced = now), the ingest
CLI (produced = now) and replay, so live and replay agree. Pure: no clock, times passed in
(epoch milliseconds).
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = [
    "accepted_event_ms",
    "future_dated_detail",
    "future_excess_ms",
    "has_timestamp",
    "observed_event_ms",
]


def has_timestamp(produced_ms: int | None) -> bool:
    """Whether a record's produced time can be checked against (Kafka reports -1 for none)."""
    return produced_ms is not None and produced_ms > 0


def future_excess_ms(created_at_ms: int, produced_ms: int | None,
                     max_future_ms: int) -> int | None:
    """How far (ms, > 0) created_at passes the tolerance ``produced_ms + max_future_ms``; None
    when the record is acceptable (at the limit exactly, or no produced time)."""
    if produced_ms is None or produced_ms <= 0:
        return None
    excess = created_at_ms - produced_ms - max_future_ms
    return excess if excess > 0 else None


def observed_event_ms(created_at_ms: int, produced_ms: int | None) -> int:
    """The event time an accepted record may show a clock: ``min(created_at, produced)``, or
    created_at when the record has no produced time. Call it for accepted records only (after
    future_excess_ms returned None)."""
    if produced_ms is None or produced_ms <= 0 or created_at_ms <= produced_ms:
        return created_at_ms
    return produced_ms


def accepted_event_ms(created_at_ms: int, produced_ms: int | None,
                      max_future_ms: int) -> int | None:
    """The whole rule in one call, for per-record loops (replay): None when the record is
    rejected as future-dated, else the event time it may show a clock. Equals
    ``observed_event_ms`` when ``future_excess_ms`` is None."""
    if produced_ms is None or produced_ms <= 0:
        return created_at_ms
    if created_at_ms <= produced_ms:
        return created_at_ms
    if created_at_ms - produced_ms > max_future_ms:
        return None
    return produced_ms


def _iso(ms: int) -> str:
    try:
        text = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    except (OverflowError, ValueError, OSError):  # beyond datetime's years: say the number
        return f"{ms} ms since the epoch"
    return text.replace("+00:00", "Z")


def future_dated_detail(created_at_ms: int, produced_ms: int | None, max_future_ms: int,
                        *, produced_as: str = "the time the record was produced") -> str:
    """The dead letter's (or HTTP error's) human detail: both times, the tolerance and the
    excess; no customer text. produced_as names the produced time (the HTTP ingest says "the
    time it was received")."""
    excess = future_excess_ms(created_at_ms, produced_ms, max_future_ms)
    produced = "unknown" if produced_ms is None else _iso(produced_ms)
    over = f", by {excess / 1000:.3f}s" if excess is not None else ""
    return (f"created_at {_iso(created_at_ms)} is more than {max_future_ms / 1000:g}s ahead "
            f"of {produced_as}, {produced}{over} (MENTIONWATCH_MAX_FUTURE_SECONDS)")
