"""An independent, deliberately simple implementation of SEMANTICS.md over the TWCS CSV.

It shares no code with streams/: plain loops over the rows, global conversation trees, no
business hours, SLA 1 h and ignore deadline 24 h, watermark = the largest event time in the
file. Tests compare the streaming core against it (tests/test_twcs_reference.py); the Kafka
end-to-end test can reuse it (``reference_counts``).
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

HOUR_S = 3600
SLA_S = HOUR_S
IGNORE_AFTER_S = 24 * HOUR_S


def shared_data_dir() -> Path:
    """../shared/data beside the repository, or $MENTIONWATCH_SHARED_DATA."""
    env = os.environ.get("MENTIONWATCH_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def twcs_head_path() -> Path:
    return shared_data_dir() / "twcs" / "twcs_head5000.csv"


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def pseudo_complaint(tweet_id: str) -> bool:
    """TWCS has no sentiment labels: a fixed, arbitrary split, to exercise the complaints view
    as well (the same function is given to the streaming core in the test)."""
    return int(tweet_id) % 3 == 0


@dataclass
class Tweet:
    id: str
    author: str
    inbound: bool
    t: int  # epoch seconds
    text: str
    parent: str | None
    responses: list[str]


@dataclass
class RefItem:
    id: str
    author: str
    brand: str
    t: int
    complaint: bool
    answer_t: int | None = None
    status: str = "open"
    overdue: bool = False
    answered_late: bool = False


@dataclass
class RefCounts:
    inbound: int = 0
    answered: int = 0
    answered_late: int = 0
    ignored: int = 0
    open: int = 0
    overdue: int = 0
    median_s: float | None = None
    p90_s: float | None = None
    ignored_ids: list[str] = field(default_factory=list)


@dataclass
class RefResult:
    watermark_s: int
    brand_accounts: set[str]
    unattributed: list[str]
    items: list[RefItem]
    # (brand, view) → counts, view in ("complaints", "all_inbound")
    counts: dict[tuple[str, str], RefCounts]


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    n = len(values)
    if n % 2 == 1:
        return float(values[n // 2])
    return (values[n // 2 - 1] + values[n // 2]) / 2


def _p90(values: list[int]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return float(values[math.ceil(0.9 * len(values) - 1e-9) - 1])


def reference_counts(rows: list[dict[str, str]], *, range_from_s: int | None = None,
                     range_to_s: int | None = None) -> RefResult:
    """Brands and conversations come from the whole file (as the importer does); with a range,
    only tweets with event time in [from, to) are "replayed": they are the items, the answers,
    the replied-to posts, and the watermark is their largest event time."""
    tweets: dict[str, Tweet] = {}
    for r in rows:
        if r["tweet_id"] in tweets:
            continue
        parent = r["in_response_to_tweet_id"]
        tweets[r["tweet_id"]] = Tweet(
            id=r["tweet_id"],
            author=r["author_id"],
            inbound=r["inbound"] == "True",
            t=int(datetime.strptime(r["created_at"], "%a %b %d %H:%M:%S %z %Y").timestamp()),
            text=r["text"],
            parent=str(int(float(parent))) if parent else None,
            responses=[x for x in r["response_tweet_id"].split(",") if x],
        )
    brands = {tw.author for tw in tweets.values() if not tw.inbound}
    lower = {b.lower(): b for b in brands}

    def root(tid: str) -> str:
        while tid in tweets and tweets[tid].parent is not None:
            tid = tweets[tid].parent  # type: ignore[assignment]
        return tid

    items: list[RefItem] = []
    unattributed: list[str] = []
    for tw in tweets.values():
        if not tw.inbound:
            continue
        brand = None
        # 1. the brand that replied (earliest reply)
        replies = [b for b in tweets.values() if not b.inbound and b.parent == tw.id]
        replies += [tweets[x] for x in tw.responses
                    if x in tweets and not tweets[x].inbound and tweets[x] not in replies]
        if replies:
            replies.sort(key=lambda b: (b.t, int(b.id)))
            brand = replies[0].author
        # 2. the first @handle that is a brand account
        if brand is None:
            for handle in re.findall(r"@([A-Za-z0-9_]+)", tw.text):
                if handle.lower() in lower:
                    brand = lower[handle.lower()]
                    break
        # 3. the brand that authored the conversation's root
        if brand is None:
            top = root(tw.id)
            if top in tweets and not tweets[top].inbound:
                brand = tweets[top].author
        if brand is None:
            unattributed.append(tw.id)
            continue
        items.append(RefItem(tw.id, tw.author, brand, tw.t, pseudo_complaint(tw.id)))

    def in_range(tw: Tweet) -> bool:
        return ((range_from_s is None or tw.t >= range_from_s)
                and (range_to_s is None or tw.t < range_to_s))

    attributed = {it.id for it in items}
    items = [it for it in items if in_range(tweets[it.id])]
    replayed = [tw for tw in tweets.values()
                if in_range(tw) and (not tw.inbound or tw.id in attributed)]
    watermark = max(tw.t for tw in replayed)
    brand_tweets: dict[str, list[Tweet]] = {}
    for tw in replayed:
        if not tw.inbound:
            brand_tweets.setdefault(tw.author, []).append(tw)

    for m in items:
        # A brand post answers M when it replies to M, or to a later inbound mention of M's
        # author in M's conversation, at or after M's creation.
        for b in brand_tweets.get(m.brand, []):
            if b.parent is None or b.parent not in tweets or b.t < m.t:
                continue
            x = tweets[b.parent]
            if not in_range(x) or not x.inbound or x.author != m.author:
                continue
            if x.t < m.t or root(x.id) != root(m.id):
                continue
            if m.answer_t is None or b.t < m.answer_t:
                m.answer_t = b.t
        if m.answer_t is not None and m.answer_t - m.t <= IGNORE_AFTER_S:
            m.status = "answered"
            m.overdue = m.answer_t - m.t > SLA_S
        elif m.answer_t is not None:
            m.status, m.answered_late, m.overdue = "ignored", True, True
        elif watermark - m.t > IGNORE_AFTER_S:
            m.status, m.overdue = "ignored", True
        else:
            m.overdue = watermark - m.t > SLA_S

    counts: dict[tuple[str, str], RefCounts] = {}
    for brand in sorted({it.brand for it in items}):
        for view in ("complaints", "all_inbound"):
            chosen = [it for it in items
                      if it.brand == brand and (view == "all_inbound" or it.complaint)]
            c = RefCounts()
            c.inbound = len(chosen)
            c.answered = sum(it.status == "answered" for it in chosen)
            c.ignored = sum(it.status == "ignored" for it in chosen)
            c.answered_late = sum(it.answered_late for it in chosen)
            c.open = sum(it.status == "open" for it in chosen)
            c.overdue = sum(it.status == "open" and it.overdue for it in chosen)
            responses = [it.answer_t - it.t for it in chosen if it.answer_t is not None]
            c.median_s = _median(responses)
            c.p90_s = _p90(responses)
            c.ignored_ids = sorted((it.id for it in chosen if it.status == "ignored"), key=int)
            counts[(brand, view)] = c
    return RefResult(watermark, brands, unattributed, items, counts)
