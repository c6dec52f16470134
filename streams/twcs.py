"""The "Customer Support on Twitter" (TWCS) CSV → mention.v1 records (pure conversion).

The shell reads the file with csv.DictReader and hands the rows over. Rules:
- platform "twitter"; brand accounts are the authors of rows with inbound=False; a brand tweet's
  brand is its author (the brand key is the account handle);
- an inbound tweet's brand is the brand account that replied to it (in_response_to /
  response_tweet_id links; several: the earliest reply), else the first @handle in its text (@
  and a run of ASCII letters, digits, _) that is a brand account (case-insensitive), else the
  brand that authored its conversation's root, else it is unattributed (reported, not
  ingested);
- in_reply_to, in_reply_to_author_id (the replied-to row's author, when that row is in the file)
  and conversation_id (the root over the whole file: the topmost id reached by following
  in_response_to links, which is the id of a missing parent when the chain leaves the file) are
  filled, so live processing, replay and any reference computation agree;
- created_at "Tue Oct 31 22:10:47 +0000 2017" → "2017-10-31T22:10:47Z";
- a tweet_id seen again is the same mention: the first row wins, the others are reported.
Row numbers count data rows from 1 (the header is not a row).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from schemas.models import SCHEMA_VERSION
from streams.brands import BRAND_KEY_RE

PLATFORM = "twitter"
MAX_TEXT_CHARS = 20_000
MAX_ID_CHARS = 256

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_CREATED_RE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) (\d{2}) (\d{2}):(\d{2}):(\d{2}) "
    r"([+-])(\d{2})(\d{2}) (\d{4})"
)
_HANDLE_RE = re.compile(r"@([A-Za-z0-9_]+)")
_ID_RE = re.compile(r"[0-9A-Za-z_.-]{1,256}")


@dataclass
class TwcsImport:
    mentions: list[dict[str, Any]] = field(default_factory=list)  # mention.v1 objects
    unattributed: list[tuple[str, str]] = field(default_factory=list)  # (tweet_id, reason)
    brand_accounts: frozenset[str] = frozenset()
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason)


@dataclass(frozen=True, slots=True)
class _Row:
    number: int
    tweet_id: str
    author_id: str
    inbound: bool
    created_at: str  # RFC 3339
    created_ms: int
    text: str
    responses: tuple[str, ...]
    parent: str | None


def parse_twcs_time(value: str) -> tuple[str, int]:
    """'Tue Oct 31 22:10:47 +0000 2017' → ('2017-10-31T22:10:47Z', epoch ms). Locale-free."""
    m = _CREATED_RE.fullmatch(value.strip())
    if not m or m.group(1) not in _MONTHS:
        raise ValueError(f"{value!r} is not a Twitter timestamp like 'Tue Oct 31 22:10:47 +0000 "
                         "2017'")
    mon, day, hh, mi, ss, sign, oh, om, year = m.groups()
    offset = timedelta(hours=int(oh), minutes=int(om)) * (1 if sign == "+" else -1)
    local = datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mi), int(ss),
                     tzinfo=timezone(offset))
    utc = local.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ"), int(utc.timestamp()) * 1000


def parse_tweet_ref(value: str) -> str | None:
    """'3.0' / '3' / '' → '3' / '3' / None (the file writes parent ids as floats)."""
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return str(int(text))
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a tweet id") from None
    if not number.is_finite() or number != number.to_integral_value() or number < 0:
        raise ValueError(f"{value!r} is not a tweet id")
    return str(int(number))


def _parse_row(number: int, raw: Mapping[str, str]) -> _Row:
    def get(name: str) -> str:
        value = raw.get(name)
        if value is None:
            raise ValueError(f"column {name} is missing")
        return value

    tweet_id = get("tweet_id").strip()
    if not _ID_RE.fullmatch(tweet_id):
        raise ValueError(f"tweet_id {tweet_id!r} is not an id")
    author = get("author_id").strip()
    if not author or len(author) > MAX_ID_CHARS:
        raise ValueError("author_id is empty or too long")
    inbound_text = get("inbound").strip()
    if inbound_text not in ("True", "False"):
        raise ValueError(f"inbound {inbound_text!r} is neither True nor False")
    created_at, created_ms = parse_twcs_time(get("created_at"))
    text = get("text")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"text is {len(text)} characters, at most {MAX_TEXT_CHARS} allowed")
    responses = []
    for part in (raw.get("response_tweet_id") or "").split(","):
        ref = parse_tweet_ref(part)
        if ref is not None:
            responses.append(ref)
    parent = parse_tweet_ref(raw.get("in_response_to_tweet_id") or "")
    return _Row(number, str(int(tweet_id)) if tweet_id.isdigit() else tweet_id, author,
                inbound_text == "True", created_at, created_ms, text, tuple(responses), parent)


def _roots(rows: Mapping[str, _Row]) -> dict[str, str]:
    """Tweet id → root: the topmost id reached following parent links (a missing parent's id
    when the chain leaves the file). A cycle (bad data) is rooted at its smallest id."""
    roots: dict[str, str] = {}
    for start in rows:
        if start in roots:
            continue
        chain: list[str] = []
        on_chain: set[str] = set()
        current: str | None = start
        root: str
        while True:
            assert current is not None
            if current in roots:
                root = roots[current]
                break
            row = rows.get(current)
            if row is None:
                root = current
                break
            if current in on_chain:
                cycle = chain[chain.index(current):]
                root = min(cycle, key=lambda i: (len(i), i))
                break
            chain.append(current)
            on_chain.add(current)
            if row.parent is None:
                root = current
                break
            current = row.parent
        for tid in chain:
            roots[tid] = root
    return roots


def _order(row: _Row) -> tuple[int, int, str]:
    return (row.created_ms, len(row.tweet_id), row.tweet_id)


def convert_twcs(rows: Iterable[Mapping[str, str]]) -> TwcsImport:
    result = TwcsImport()
    parsed: dict[str, _Row] = {}
    for number, raw in enumerate(rows, 1):
        try:
            row = _parse_row(number, raw)
        except ValueError as exc:
            result.rejected.append((number, str(exc)))
            continue
        first = parsed.get(row.tweet_id)
        if first is not None:
            result.rejected.append(
                (number, f"duplicate tweet_id {row.tweet_id} (first at row {first.number}); "
                         "one mention"))
            continue
        parsed[row.tweet_id] = row

    brands: dict[str, str] = {}  # casefolded handle → handle
    for row in parsed.values():
        if not row.inbound and row.author_id.casefold() not in brands:
            if not BRAND_KEY_RE.fullmatch(row.author_id):
                continue
            brands[row.author_id.casefold()] = row.author_id
    rows_by_id: dict[str, _Row] = {}
    for tid, row in parsed.items():
        if not row.inbound and row.author_id.casefold() not in brands:
            result.rejected.append((row.number, f"brand account {row.author_id!r} is not a "
                                                "valid brand key"))
            continue
        rows_by_id[tid] = row
    result.brand_accounts = frozenset(brands.values())

    roots = _roots(rows_by_id)
    replies: dict[str, list[_Row]] = {}
    for row in rows_by_id.values():
        if not row.inbound and row.parent is not None:
            replies.setdefault(row.parent, []).append(row)
    for row in rows_by_id.values():
        if row.inbound:
            for rid in row.responses:
                reply = rows_by_id.get(rid)
                if reply is not None and not reply.inbound:
                    found = replies.setdefault(row.tweet_id, [])
                    if reply not in found:
                        found.append(reply)

    for tid, row in rows_by_id.items():
        if row.inbound:
            brand = _attribute(row, replies, brands, roots, rows_by_id)
            if brand is None:
                result.unattributed.append(
                    (tid, "no brand replied to it, its text names no brand account and its "
                          "conversation's root is not a brand's tweet"))
                continue
        else:
            brand = row.author_id
        parent_row = rows_by_id.get(row.parent) if row.parent is not None else None
        mention: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "id": tid,
            "platform": PLATFORM,
            "brand": brand,
            "author": {"id": row.author_id, "handle": row.author_id, "is_brand": not row.inbound},
            "text": row.text,
            "created_at": row.created_at,
            "conversation_id": roots[tid],
        }
        if row.parent is not None:
            mention["in_reply_to"] = row.parent
            if parent_row is not None:
                mention["in_reply_to_author_id"] = parent_row.author_id
        result.mentions.append(mention)
    return result


def _attribute(row: _Row, replies: Mapping[str, list[_Row]], brands: Mapping[str, str],
               roots: Mapping[str, str], rows_by_id: Mapping[str, _Row]) -> str | None:
    replied = replies.get(row.tweet_id)
    if replied:
        return min(replied, key=_order).author_id
    for handle in _HANDLE_RE.findall(row.text):
        brand = brands.get(handle.casefold())
        if brand is not None:
            return brand
    root = rows_by_id.get(roots[row.tweet_id])
    if root is not None and not root.inbound:
        return root.author_id
    return None
