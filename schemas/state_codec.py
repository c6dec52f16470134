"""The stored state's codec: a thread's ThreadState and its outbox ⇄ the bytes of the tracking
table (RocksDB and its changelog topic). The rest of the wire contract is in schemas/codec.py;
this module imports the plain types of streams/tracking.py, which imports nothing of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from streams.tracking import Details, OutboxEntry, PostRec, ThreadState, Transition

__all__ = [
    "STATE_VERSION",
    "OutboxRow",
    "from_json",
    "from_json_with_outbox",
    "outbox_entries",
    "outbox_row",
    "to_json",
]

STATE_VERSION = 1
# The queue's details ("d", added later) are an optional map beside the others, not a sixth
# element of a post: a reader from before ignores the key (a worker rolled back reads every
# state; it drops the details when it writes one), and a state from before has no "d".

_F_BRAND = 1
_F_COMPLAINT = 2

# An outbox row as stored: [seq, kind, mention_id, brand, complaint, created, at, first, age,
# retracts]. Kept as the plain list JSON gives, so a thread's outbox costs nothing to carry
# through a write; outbox_entries() makes transitions of it when they must be sent again.
OutboxRow = list[Any]


def outbox_row(seq: int, t: Transition) -> OutboxRow:
    return [seq, t.kind, t.mention_id, t.brand, t.complaint, t.mention_created_at_ms, t.at_ms,
            t.first_response_ms, t.unanswered_age_ms, list(t.retracts)]


def outbox_entries(rows: Iterable[OutboxRow], key: str) -> list[OutboxEntry]:
    """The transitions of a state's outbox rows (the state's key is their author key).
    Raises ValueError for a row that isn't one."""
    platform = key.split(":", 1)[0]
    out = []
    for row in rows:
        try:
            seq, kind, mid, brand, complaint, created, at, first, age, retracts = row
        except (TypeError, ValueError):
            raise ValueError("malformed tracking state: outbox row of the wrong shape") from None
        if kind not in _KINDS or type(mid) is not str or type(brand) is not str:
            raise ValueError("malformed tracking state: outbox row is not a transition")
        out.append(OutboxEntry(_int(seq), Transition(
            kind=kind, mention_id=mid, brand=brand, platform=platform, author_key=key,
            complaint=bool(complaint), mention_created_at_ms=_int(created), at_ms=_int(at),
            first_response_ms=_opt_int(first), unanswered_age_ms=_opt_int(age),
            retracts=tuple(map(str, retracts)))))
    return out


def to_json(state: ThreadState, outbox: list[OutboxRow] | None = None) -> bytes:
    """Compact JSON for the table: {"v","k","c","l","p":{id:[brand,t,flags,irt,conv]},
    "a":{id:[bits,decided_at]},"x":{id:compacted_at},"d":{id:[handle,text,url,followers]},
    "o":[outbox rows]} (empty maps omitted)."""
    obj: dict[str, Any] = {"v": STATE_VERSION, "k": state.key, "c": state.clock_ms,
                           "l": state.latest_event_ms}
    if state.posts:
        obj["p"] = {
            pid: [r.brand, r.created_ms,
                  (_F_BRAND if r.is_brand else 0) | (_F_COMPLAINT if r.complaint else 0),
                  r.in_reply_to, r.conversation_id]
            for pid, r in state.posts.items()
        }
    if state.announced:
        obj["a"] = {pid: [bits, at] for pid, (bits, at) in state.announced.items()}
    if state.compacted:
        obj["x"] = state.compacted
    if state.details:
        obj["d"] = state.details
    if outbox:
        obj["o"] = outbox
    return orjson.dumps(obj)


def _opt_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"expected a string or null, got {type(value).__name__}")


def _int(value: Any) -> int:
    if type(value) is not int:
        raise ValueError(f"expected an integer, got {type(value).__name__}")
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _details(row: Any) -> Details:
    handle, text, url, followers = row
    if type(handle) is not str or type(text) is not str:
        raise ValueError("details: handle and text must be strings")
    return (handle, text, _opt_str(url), _opt_int(followers))


_KINDS = frozenset(("opened", "due_soon", "answered", "overdue", "ignore_soon", "ignored",
                    "answered_late", "corrected"))


def from_json(data: bytes) -> ThreadState:
    """Inverse of to_json (the state alone). Raises ValueError on anything that isn't a v1
    state."""
    return from_json_with_outbox(data)[0]


def from_json_with_outbox(data: bytes) -> tuple[ThreadState, list[OutboxRow]]:
    """Inverse of to_json: the state and its outbox rows (each checked to start with its
    sequence number; outbox_entries checks the rest). Raises ValueError on anything that isn't
    a v1 state."""
    try:
        obj = orjson.loads(data)
        if type(obj) is not dict or obj.get("v") != STATE_VERSION:
            raise ValueError("not a tracking state (v1)")
        key = obj["k"]
        if type(key) is not str:
            raise ValueError("key must be a string")
        posts = {}
        for pid, (brand, created, flags, irt, conv) in obj.get("p", {}).items():
            if type(brand) is not str:
                raise ValueError("brand must be a string")
            flags = _int(flags)
            posts[pid] = PostRec(brand, _int(created), bool(flags & _F_BRAND),
                                 bool(flags & _F_COMPLAINT), _opt_str(irt), _opt_str(conv))
        announced = {pid: (_int(bits), _opt_int(at)) for pid, (bits, at)
                     in obj.get("a", {}).items()}
        compacted = {pid: _int(at) for pid, at in obj.get("x", {}).items()}
        details = {pid: _details(row) for pid, row in obj.get("d", {}).items()}
        state = ThreadState(key=key, clock_ms=_opt_int(obj.get("c")),
                            latest_event_ms=_opt_int(obj.get("l")), posts=posts,
                            announced=announced, compacted=compacted, details=details)
        outbox = obj.get("o", [])
        if type(outbox) is not list or not all(
                type(row) is list and row and type(row[0]) is int for row in outbox):
            raise ValueError("outbox must be a list of rows that start with a sequence")
        return state, outbox
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed tracking state: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"malformed tracking state: {exc}") from None
