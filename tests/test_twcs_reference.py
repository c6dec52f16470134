"""The streaming core against an independent reference on real data (TWCS, first 5,000 rows).

convert_twcs → mention.v1 (validated by the codec) → Posts → apply_post per routing key, in file
order and shuffled, with the clock running like a replay's → item_statuses at the watermark →
build_report must give exactly the reference's per-brand numbers (tests/twcs_reference.py).
The data is required: this test never skips (set MENTIONWATCH_SHARED_DATA to point at it).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pytest
from twcs_reference import (
    RefResult,
    pseudo_complaint,
    read_rows,
    reference_counts,
    twcs_head_path,
)

from schemas.codec import mention_from_dict
from schemas.state_codec import to_json
from streams.audit import AuditReport, build_report, render_report
from streams.brands import default_brand_config
from streams.tracking import (
    Post,
    ThreadState,
    Transition,
    advance,
    apply_post,
    item_statuses,
    post_from_mention,
    routing_key,
)
from streams.twcs import convert_twcs, parse_twcs_time, parse_tweet_ref

CONFIG = default_brand_config()


def ts(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp())


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    path = twcs_head_path()
    assert path.is_file(), (f"{path} is missing: the shared data must be beside the repository "
                            "(or set MENTIONWATCH_SHARED_DATA)")
    return read_rows(path)


@pytest.fixture(scope="module")
def posts(rows: list[dict[str, str]]) -> list[Post]:
    converted = convert_twcs(rows)
    mentions = [mention_from_dict(obj) for obj in converted.mentions]  # all valid mention.v1
    return [post_from_mention(m, pseudo_complaint(m.id), CONFIG) for m in mentions]


def run_core(posts: Iterable[Post], *, from_ms: int | None = None,
             to_ms: int | None = None) -> tuple[AuditReport, dict[str, ThreadState],
                                                list[Transition], int]:
    """What a replay does: the records in [from, to), the clock at the largest event time seen
    so far (so out-of-order records arrive "late" and exercise the corrections), statuses at
    the final watermark."""
    selected = [p for p in posts if (from_ms is None or p.created_at_ms >= from_ms)
                and (to_ms is None or p.created_at_ms < to_ms)]
    watermark = max(p.created_at_ms for p in selected)
    states: dict[str, ThreadState] = {}
    transitions: list[Transition] = []
    newest: int | None = None
    for post in selected:
        newest = post.created_at_ms if newest is None else max(newest, post.created_at_ms)
        key = routing_key(post)
        if key is None:
            continue  # answers nothing (the shell only counts it)
        states[key], out = apply_post(states.get(key), post, CONFIG, newest)
        transitions += out
    statuses = []
    for key in sorted(states):
        states[key], out = advance(states[key], CONFIG, watermark)
        transitions += out
        statuses += item_statuses(states[key], CONFIG, watermark)
    report = build_report(statuses, CONFIG, range_from_ms=from_ms, range_to_ms=to_ms,
                          watermark_ms=watermark, brand_filter=None)
    return report, states, transitions, watermark


def compare(report: AuditReport, ref: RefResult) -> None:
    assert report.watermark_ms == ref.watermark_s * 1000
    seen = {b.brand for b in report.brands}
    assert seen == {brand for brand, _ in ref.counts}
    for b in report.brands:
        assert not b.configured
        assert [p.platform for p in b.platforms] == ["twitter"]
        for view in ("complaints", "all_inbound"):
            got = getattr(b.platforms[0], view)
            want = ref.counts[(b.brand, view)]
            assert (got.inbound, got.answered, got.answered_late, got.ignored, got.open,
                    got.overdue, got.first_response_median_s, got.first_response_p90_s,
                    list(got.ignored_ids)) == \
                   (want.inbound, want.answered, want.answered_late, want.ignored, want.open,
                    want.overdue, want.median_s, want.p90_s, want.ignored_ids), (b.brand, view)


def net_announced(transitions: list[Transition]) -> Counter[tuple[str, str]]:
    net: Counter[tuple[str, str]] = Counter()
    for t in transitions:
        if t.kind == "corrected":
            for kind in t.retracts:
                net[(kind, t.mention_id)] -= 1
        else:
            net[(t.kind, t.mention_id)] += 1
    return +net


def test_conversion(rows: list[dict[str, str]]) -> None:
    converted = convert_twcs(rows)
    ref = reference_counts(rows)
    assert len(rows) == 5000
    assert converted.rejected == []
    assert len(converted.brand_accounts) == 76 == len(ref.brand_accounts)
    assert converted.brand_accounts == frozenset(ref.brand_accounts)
    assert sorted(t for t, _ in converted.unattributed) == sorted(ref.unattributed)
    assert len(converted.unattributed) == 140
    assert len(converted.mentions) == 5000 - 140
    first = converted.mentions[0]
    assert first == {
        "schema_version": 1, "id": "1", "platform": "twitter", "brand": "sprintcare",
        "author": {"id": "sprintcare", "handle": "sprintcare", "is_brand": True},
        "text": first["text"], "created_at": "2017-10-31T22:10:47Z", "conversation_id": "8",
        "in_reply_to": "3", "in_reply_to_author_id": "115712",
    }
    by_id = {m["id"]: m for m in converted.mentions}
    assert by_id["3"]["brand"] == "sprintcare"  # the brand that replied to it
    assert by_id["3"]["author"]["is_brand"] is False


def test_core_matches_reference_on_the_whole_file(posts: list[Post],
                                                  rows: list[dict[str, str]]) -> None:
    ref = reference_counts(rows)
    report, states, transitions, _ = run_core(posts)
    compare(report, ref)
    totals = report.all_inbound
    assert (totals.inbound, totals.answered, totals.ignored, totals.open) == (2638, 2157, 481, 0)
    assert totals.answered_late == 109
    assert (totals.first_response_median_s, totals.first_response_p90_s) == (763.5, 30896.0)
    assert len(report.brands) == 76  # every brand account has attributed inbound tweets
    # The transitions, net of corrections, say what the statuses say.
    statuses = [s for st in states.values() for s in item_statuses(st, CONFIG,
                                                                   report.watermark_ms or 0)]
    assert net_announced(transitions) == Counter(
        [("opened", s.mention_id) for s in statuses]
        + [("answered", s.mention_id) for s in statuses if s.status == "answered"]
        + [("ignored", s.mention_id) for s in statuses if s.status == "ignored"]
        + [("answered_late", s.mention_id) for s in statuses if s.answered_late]
        + [("overdue", s.mention_id) for s in statuses if s.overdue]
        + [("due_soon", s.mention_id) for s in statuses if s.due_soon]
        + [("ignore_soon", s.mention_id) for s in statuses if s.ignore_soon])
    # State size: the whole file's open-or-decided items in about 160 bytes each.
    size = sum(len(to_json(s)) for s in states.values())
    assert size / totals.inbound < 200


def test_core_matches_reference_in_any_order(posts: list[Post],
                                             rows: list[dict[str, str]]) -> None:
    shuffled = posts[:]
    random.Random(20171031).shuffle(shuffled)
    first, _, _, _ = run_core(posts)
    second, _, _, _ = run_core(shuffled)
    assert render_report(first, "json") == render_report(second, "json")
    compare(second, reference_counts(rows))


def test_core_matches_reference_on_a_replayed_period(posts: list[Post],
                                                     rows: list[dict[str, str]]) -> None:
    start, end = ts("2017-10-31T00:00:00+00:00"), ts("2017-11-01T12:00:00+00:00")
    ref = reference_counts(rows, range_from_s=start, range_to_s=end)
    shuffled = posts[:]
    random.Random(7).shuffle(shuffled)
    for order in (posts, shuffled):
        report, _, _, _ = run_core(order, from_ms=start * 1000, to_ms=end * 1000)
        compare(report, ref)
        assert report.all_inbound.open > 100 and report.all_inbound.overdue > 100


# -- conversion rules on small examples ----------------------------------------------------------

def row(tweet_id: str, author: str, inbound: bool, text: str = "hi", *,
        created: str = "Tue Oct 31 22:10:47 +0000 2017", responses: str = "",
        parent: str = "") -> dict[str, str]:
    return {"tweet_id": tweet_id, "author_id": author, "inbound": str(inbound),
            "created_at": created, "text": text, "response_tweet_id": responses,
            "in_response_to_tweet_id": parent}


def test_attribution_rules() -> None:
    rows = [
        row("1", "c1", True, "@BrandA @BrandB help", responses="2,3"),
        row("2", "BrandB", False, created="Tue Oct 31 22:20:00 +0000 2017", parent="1.0"),
        row("3", "BrandA", False, created="Tue Oct 31 22:30:00 +0000 2017", parent="1.0"),
        row("4", "c2", True, "hey @branda and @brandb"),  # first @handle, case-insensitive
        row("5", "BrandA", False, "news"),  # a brand's own thread root
        row("6", "c3", True, "what news?", parent="5.0"),  # brand of the conversation's root
        row("7", "c4", True, "talking to @someone", parent="99"),  # nothing: unattributed
    ]
    converted = convert_twcs(rows)
    brand = {m["id"]: m["brand"] for m in converted.mentions}
    assert brand == {"1": "BrandB", "2": "BrandB", "3": "BrandA", "4": "BrandA", "5": "BrandA",
                     "6": "BrandA"}  # 1: the earliest replying brand
    assert [t for t, _ in converted.unattributed] == ["7"]
    assert converted.brand_accounts == frozenset({"BrandA", "BrandB"})
    six = next(m for m in converted.mentions if m["id"] == "6")
    assert (six["in_reply_to"], six["in_reply_to_author_id"], six["conversation_id"]) == \
        ("5", "BrandA", "5")


def test_bad_rows_and_duplicates_are_reported() -> None:
    rows = [
        row("1", "c1", True, "@BrandA hi"),
        row("1", "c1", True, "@BrandA hi again"),
        row("2", "c1", True, created="yesterday"),
        row("3", "c1", "maybe"),  # type: ignore[arg-type]
        row("4", "c1", True, parent="x.5"),
        row("5", "BrandA", False, parent="7.0"),  # parent missing from the file
    ]
    converted = convert_twcs(rows)
    assert [m["id"] for m in converted.mentions] == ["1", "5"]
    reasons = dict(converted.rejected)
    assert sorted(reasons) == [2, 3, 4, 5]
    assert "duplicate tweet_id 1 (first at row 1)" in reasons[2]
    assert "not a Twitter timestamp" in reasons[3]
    assert "neither True nor False" in reasons[4]
    assert "not a tweet id" in reasons[5]
    five = converted.mentions[1]
    assert five["in_reply_to"] == "7" and "in_reply_to_author_id" not in five
    assert five["conversation_id"] == "7"  # the chain leaves the file: the missing parent


def test_time_and_reference_parsing() -> None:
    assert parse_twcs_time("Tue Oct 31 22:10:47 +0000 2017") == ("2017-10-31T22:10:47Z",
                                                                 1509487847000)
    assert parse_twcs_time("Tue Oct 31 23:10:47 +0100 2017")[0] == "2017-10-31T22:10:47Z"
    assert parse_tweet_ref("3.0") == "3"
    assert parse_tweet_ref("1.2e3") == "1200"
    assert parse_tweet_ref("") is None
    with pytest.raises(ValueError):
        parse_tweet_ref("3.5")


def test_reference_data_location_is_overridable(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setenv("MENTIONWATCH_SHARED_DATA", str(tmp_path))
    assert twcs_head_path() == tmp_path / "twcs" / "twcs_head5000.csv"
