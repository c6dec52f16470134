"""Replay applies the event-time rule of the live worker (streams.event_time) to the records'
timestamps: a future-dated record is counted, never judged, and moves no watermark; an accepted
record dated a little ahead shows the watermark its produced time only."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from conftest import Stack

from agents.replay import SEEK_MARGIN_MS, run_replay, seek_margin_ms
from schemas.codec import encode_enriched, mention_from_dict
from schemas.models import EnrichedMention, Enrichment
from streams.audit import iso_ms
from streams.brands import default_brand_config
from streams.classification import get_classifier

T0 = 1_790_000_000_000
H = 3_600_000
MIN = 60_000


def _mention(mid: str, created_ms: int, author: str) -> dict[str, Any]:
    return {"schema_version": 1, "id": mid, "platform": "twitter", "brand": "acme",
            "author": {"id": author, "handle": author, "is_brand": False},
            "text": "Where is my parcel?", "created_at": iso_ms(created_ms),
            "lang": "en"}


# (mention, record timestamp). Default brand policy: SLA 1 h, ignored after 24 h.
RECORDS = [
    (_mention("c1", T0, "u1"), T0),
    # 2099, produced at T0 + 1 s: rejected. Judged by it, c1 would be ignored.
    (_mention("far", 4_070_908_800_000, "u2"), T0 + 1000),
    # Dated 24 h + 3 min after c1 but produced 4 min earlier (within the 5 min tolerance): the
    # watermark is its produced time, T0 + 24 h - 1 min, so c1 is not ignored yet.
    (_mention("ahead", T0 + 24 * H + 3 * MIN, "u3"), T0 + 24 * H - MIN),
]


def _produce(stack: Stack, source: str) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=stack.bootstrap)
    topic = stack.topic("mentions.raw" if source == "raw" else "mentions.enriched")
    for doc, ts in RECORDS:
        value = orjson.dumps(doc)
        if source == "enriched":
            value = encode_enriched(EnrichedMention(
                mention_from_dict(doc), Enrichment("en", "negative", -0.5, True, 0.9, "lexicon")))
        producer.send(topic, key=f"twitter:{doc['author']['id']}".encode(), value=value,
                      timestamp_ms=ts)
    producer.flush()
    producer.close()


@pytest.mark.parametrize("source", ["raw", "enriched"])
def test_replay_rejects_future_dated_and_clamps_the_watermark(stack: Stack, source: str) -> None:
    _produce(stack, source)
    reports = []
    for workers in (1, 2):
        text, stats = run_replay(stack.settings(), default_brand_config(),
                                 get_classifier("lexicon"), "lexicon", from_ms=T0 - H,
                                 to_ms=4_102_444_800_000, brand=None, fmt="json",
                                 progress=False, source=source, workers=workers)
        assert (stats.read, stats.future_dated, stats.in_range, stats.invalid) == (3, 1, 2, 0)
        reports.append(text)
    assert reports[0] == reports[1]
    report = orjson.loads(reports[0])
    assert report["watermark_ms"] == T0 + 24 * H - MIN
    totals = report["totals"]["all_inbound"]
    assert (totals["inbound"], totals["ignored"], totals["open"]) == (2, 0, 2)


def test_seek_margin_covers_the_future_tolerance() -> None:
    assert seek_margin_ms(300_000) == SEEK_MARGIN_MS
    assert seek_margin_ms(SEEK_MARGIN_MS + 1) == SEEK_MARGIN_MS + 1
