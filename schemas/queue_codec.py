"""The care team's queue as JSON: one worker's part (GET /queue/local.json, which the workers
fetch from each other) and the whole queue (GET /queue.json). docs/reference/http-api.md,
"The care team's queue", describes every field.

Times are RFC 3339 UTC with milliseconds plus the same instant in epoch milliseconds (``*_ms``,
what a worker reads back); durations are seconds (docs/explanation/semantics.md), at millisecond
precision.
"""

from __future__ import annotations

from typing import Any

import orjson

from streams.audit import iso_ms
from streams.queue import LocalQueue, MergedQueue, QueueEntry

__all__ = [
    "LOCAL_VERSION",
    "entry_json",
    "local_from_json",
    "local_to_json",
    "merged_json",
]

LOCAL_VERSION = 1


def _s(ms: int) -> float:
    return round(ms / 1000, 3)


def entry_json(e: QueueEntry) -> dict[str, Any]:
    return {
        "id": e.mention_id,
        "brand": e.brand,
        "platform": e.platform,
        "partition": e.partition,
        "author_handle": e.author_handle,
        "text": e.text,
        "link": e.link,
        "followers": e.followers,
        "created_at": iso_ms(e.created_at_ms),
        "created_at_ms": e.created_at_ms,
        "as_of_ms": e.as_of_ms,
        "age_s": _s(e.age_ms),
        "waiting_s": _s(e.waiting_ms),
        "sla_deadline": iso_ms(e.sla_deadline_ms),
        "sla_deadline_ms": e.sla_deadline_ms,
        "sla_remaining_s": _s(e.sla_remaining_ms),
        "ignore_deadline": iso_ms(e.ignore_deadline_ms),
        "ignore_deadline_ms": e.ignore_deadline_ms,
        "ignore_remaining_s": _s(e.ignore_remaining_ms),
        "overdue": e.overdue,
        "due_soon": e.due_soon,
        "ignore_soon": e.ignore_soon,
        "answered_at": iso_ms(e.answered_at_ms),
        "answered_at_ms": e.answered_at_ms,
    }


def _int(obj: dict[str, Any], name: str) -> int:
    value = obj[name]
    if type(value) is not int:
        raise ValueError(f"{name} must be an integer")
    return value


def _ms_of_s(obj: dict[str, Any], name: str) -> int:
    value: float = obj[name]
    if type(value) not in (int, float):
        raise ValueError(f"{name} must be a number")
    return round(value * 1000)


def _opt(obj: dict[str, Any], name: str, kind: type) -> Any:
    value = obj.get(name)
    if value is not None and type(value) is not kind:
        raise ValueError(f"{name} must be a {kind.__name__} or null")
    return value


def _str(obj: dict[str, Any], name: str) -> str:
    value = obj[name]
    if type(value) is not str:
        raise ValueError(f"{name} must be a string")
    return value


def entry_from_json(obj: Any) -> QueueEntry:
    if type(obj) is not dict:
        raise ValueError("an entry must be an object")
    flags = [obj[name] for name in ("overdue", "due_soon", "ignore_soon")]
    if not all(type(flag) is bool for flag in flags):
        raise ValueError("overdue, due_soon and ignore_soon must be booleans")
    overdue, due_soon, ignore_soon = flags
    return QueueEntry(
        mention_id=_str(obj, "id"), brand=_str(obj, "brand"), platform=_str(obj, "platform"),
        partition=_int(obj, "partition"), author_handle=_opt(obj, "author_handle", str),
        text=_opt(obj, "text", str), link=_opt(obj, "link", str),
        followers=_opt(obj, "followers", int), created_at_ms=_int(obj, "created_at_ms"),
        as_of_ms=_int(obj, "as_of_ms"), age_ms=_ms_of_s(obj, "age_s"),
        waiting_ms=_ms_of_s(obj, "waiting_s"), sla_deadline_ms=_int(obj, "sla_deadline_ms"),
        sla_remaining_ms=_ms_of_s(obj, "sla_remaining_s"),
        ignore_deadline_ms=_int(obj, "ignore_deadline_ms"),
        ignore_remaining_ms=_ms_of_s(obj, "ignore_remaining_s"), overdue=overdue,
        due_soon=due_soon, ignore_soon=ignore_soon,
        answered_at_ms=_opt(obj, "answered_at_ms", int))


def local_to_json(q: LocalQueue) -> bytes:
    """One worker's part: its snapshot's entries (perhaps only the first ones of a filter and
    limit) and, per partition it covers, how many entries the filter matched there."""
    return orjson.dumps({
        "v": LOCAL_VERSION,
        "worker": q.worker,
        "as_of": iso_ms(q.as_of_ms),
        "as_of_ms": q.as_of_ms,
        "partitions": sorted(q.partitions),
        "counts": {str(p): n for p, n in sorted(q.counts.items())},
        "stale_since": iso_ms(q.stale_since_ms),
        "stale_since_ms": q.stale_since_ms,
        "rebalancing": q.rebalancing,
        "entries": [entry_json(e) for e in q.entries],
    })


def local_from_json(data: bytes) -> LocalQueue:
    """Inverse of local_to_json. Raises ValueError for anything else."""
    try:
        obj = orjson.loads(data)
        if type(obj) is not dict or obj.get("v") != LOCAL_VERSION:
            raise ValueError("not a local queue (v1)")
        parts = obj["partitions"]
        if type(parts) is not list or not all(type(p) is int for p in parts):
            raise ValueError("partitions must be a list of integers")
        raw_counts = obj["counts"]
        if type(raw_counts) is not dict:
            raise ValueError("counts must be an object")
        counts = {int(p): n for p, n in raw_counts.items()}
        if not all(type(n) is int for n in counts.values()):
            raise ValueError("counts must be integers")
        raw_entries = obj["entries"]
        if type(raw_entries) is not list:
            raise ValueError("entries must be a list")
        rebalancing = obj["rebalancing"]
        if type(rebalancing) is not bool:
            raise ValueError("rebalancing must be a boolean")
        q = LocalQueue(worker=_str(obj, "worker"), as_of_ms=_int(obj, "as_of_ms"),
                       partitions=frozenset(parts),
                       entries=tuple(entry_from_json(e) for e in raw_entries), counts=counts,
                       stale_since_ms=_opt(obj, "stale_since_ms", int), rebalancing=rebalancing)
        return q
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"malformed local queue: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"malformed local queue: {exc}") from None


def merged_json(m: MergedQueue, *, brand: str | None, platform: str | None,
                now_ms: int) -> dict[str, Any]:
    """The whole queue's answer (GET /queue.json)."""
    as_of = [w.as_of_ms for w in m.workers if w.as_of_ms is not None]
    return {
        "generated_at": iso_ms(now_ms),
        "as_of": iso_ms(min(as_of)) if as_of else None,
        "complete": m.complete,
        "stale_since": iso_ms(m.stale_since_ms),
        "stale_since_ms": m.stale_since_ms,
        "filters": {"brand": brand, "platform": platform},
        "count": m.count,
        "truncated": m.count > len(m.entries),
        "partitions": {"total": m.partitions_total, "covered": list(m.covered),
                       "missing": list(m.missing)},
        "workers": [{"url": w.worker, "answered": w.answered, "as_of": iso_ms(w.as_of_ms),
                     "as_of_ms": w.as_of_ms, "partitions": list(w.partitions),
                     "stale_since": iso_ms(w.stale_since_ms), "rebalancing": w.rebalancing,
                     "error": w.error} for w in m.workers],
        "entries": [entry_json(e) for e in m.entries],
    }
