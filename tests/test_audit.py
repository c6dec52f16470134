"""The audit report: counts per brand/platform/view, conventions, byte-identical rendering."""

from __future__ import annotations

import csv
import io
import random
from typing import Any

import orjson
import pytest

from streams.audit import AuditTally, build_report, iso_ms, render_report
from streams.brands import BrandConfig, BrandPolicy
from streams.stats import median, p90_nearest_rank
from streams.tracking import ItemStatus

T0 = 1_762_000_000_000
S = 1000


def test_median_conventions() -> None:
    assert median([]) is None
    assert median([5]) == 5
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5  # mean of the two middle values


@pytest.mark.parametrize(("n", "expected"), [(1, 1), (2, 2), (9, 9), (10, 9), (11, 10),
                                             (19, 18), (20, 18), (21, 19), (100, 90)])
def test_p90_nearest_rank(n: int, expected: int) -> None:
    values = list(range(n, 0, -1))  # unsorted on purpose
    assert p90_nearest_rank(values) == expected  # rank ceil(0.9 n) of 1..n


def test_p90_empty() -> None:
    assert p90_nearest_rank([]) is None


def item(mid: str, status: str, *, brand: str = "db", platform: str = "twitter",
         complaint: bool = True, overdue: bool = False, late: bool = False,
         response_s: int | None = None, created: int = T0) -> ItemStatus:
    return ItemStatus(
        mention_id=mid, brand=brand, platform=platform, complaint=complaint,
        created_at_ms=created, status=status,  # type: ignore[arg-type]
        overdue=overdue, answered_late=late,
        first_response_ms=None if response_s is None else response_s * S,
        decided_at_ms=None if status == "open" else created + 1, author_key="twitter:c",
    )


CONFIG = BrandConfig(brands={
    "db": BrandPolicy("db", "Deutsche Bahn", frozenset({"DB_Bahn"})),
    "quiet": BrandPolicy("quiet", "Quiet Brand", sla_ms=1800 * S),
})

ITEMS = [
    item("1", "answered", response_s=60),
    item("2", "answered", response_s=600, overdue=True),
    item("10", "ignored", overdue=True),
    item("3", "ignored", overdue=True, late=True, response_s=100_000),
    item("4", "open", overdue=True),
    item("5", "open"),
    item("6", "answered", complaint=False, response_s=30),
    item("7", "ignored", complaint=False, overdue=True),
    item("8", "open", platform="mastodon", complaint=False),
    item("9", "answered", brand="acme", response_s=5),
]


def build(items: list[ItemStatus], **kw: Any) -> str:
    args: dict[str, Any] = {"range_from_ms": None, "range_to_ms": None,
                            "watermark_ms": T0 + 86_400_000, "brand_filter": None}
    args.update(kw)
    return render_report(build_report(items, CONFIG, **args), "json")


def test_counts_per_brand_platform_and_view() -> None:
    report = orjson.loads(build(ITEMS))
    brands = {b["brand"]: b for b in report["brands"]}
    assert sorted(brands) == ["acme", "db", "quiet"]  # configured brands are always listed
    db = brands["db"]
    assert db["configured"] and db["display_name"] == "Deutsche Bahn"
    assert [p["platform"] for p in db["platforms"]] == ["mastodon", "twitter"]
    tw = db["platforms"][1]
    assert tw["complaints"] == {
        "inbound": 6, "answered": 2, "answered_late": 1, "ignored": 2, "open": 2,
        "overdue": 1, "decided": 4, "ignored_share": 0.5,
        # over answered and answered late: 60, 600, 100000 s
        "first_response_median_s": 600.0, "first_response_p90_s": 100000.0,
        "ignored_ids": ["3", "10"],  # numeric order
        "answered_late_ids": ["3"], "open_ids": ["4", "5"],  # no answered ids unless asked
        "reach": {"ignored_authors": 1, "with_known_followers": 0, "followers": 0},
        # against db's SLA (3600 s): 60 and 600 s within 25% of it, 100000 s beyond 200%
        "first_response_vs_sla": {"le_25pct": 2, "le_50pct": 0, "le_100pct": 0,
                                  "le_200pct": 0, "gt_200pct": 1},
    }
    assert tw["all_inbound"]["inbound"] == 8
    assert tw["all_inbound"]["ignored_ids"] == ["3", "7", "10"]
    assert tw["all_inbound"]["first_response_median_s"] == 330.0  # 30, 60, 600, 100000
    mastodon = db["platforms"][0]
    assert mastodon["complaints"]["inbound"] == 0
    assert mastodon["complaints"]["ignored_share"] is None  # no share, not 0
    assert mastodon["all_inbound"]["ignored_share"] is None  # one open item, nothing decided
    assert db["totals"]["all_inbound"]["inbound"] == 9
    assert "ignored_ids" not in db["totals"]["all_inbound"]
    acme = brands["acme"]
    assert not acme["configured"]  # unconfigured: listed, flagged, with the defaults
    assert (acme["sla_s"], acme["ignore_after_s"]) == (3600.0, 86400.0)
    quiet = brands["quiet"]
    assert quiet["platforms"] == [] and quiet["sla_s"] == 1800.0
    assert quiet["totals"]["complaints"]["inbound"] == 0
    assert report["totals"]["all_inbound"]["inbound"] == 10
    assert report["totals"]["complaints"]["inbound"] == 7
    assert report["watermark"] == "2025-11-02T12:26:40.000Z"


def test_range_and_brand_filter() -> None:
    items = [item("1", "open", created=T0 - 1), item("2", "open", created=T0),
             item("3", "open", created=T0 + 10), item("4", "open", brand="acme", created=T0)]
    report = orjson.loads(build(items, range_from_ms=T0, range_to_ms=T0 + 10,
                                brand_filter="db"))
    assert [b["brand"] for b in report["brands"]] == ["db"]
    assert report["totals"]["all_inbound"]["inbound"] == 1  # [from, to): only "2"
    assert report["range"] == {"from": iso_ms(T0), "to": iso_ms(T0 + 10), "from_ms": T0,
                               "to_ms": T0 + 10}
    # A filter naming a brand nobody configured and nothing mentions: listed, zero, flagged.
    report = orjson.loads(build(items, brand_filter="ghost"))
    assert [(b["brand"], b["configured"]) for b in report["brands"]] == [("ghost", False)]


@pytest.mark.parametrize("fmt", ["json", "csv", "md", "html"])
def test_rendering_is_byte_identical_whatever_the_input_order(fmt: str) -> None:
    outputs = set()
    for seed in range(5):
        shuffled = ITEMS[:]
        random.Random(seed).shuffle(shuffled)
        report = build_report(shuffled, CONFIG, range_from_ms=T0, range_to_ms=T0 + 1,
                              watermark_ms=T0 + 5, brand_filter=None)
        outputs.add(render_report(report, fmt))
    assert len(outputs) == 1


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_tallies_of_shards_merge_into_the_same_report(parts: int) -> None:
    """A replay counts each shard's threads in its own process and merges the tallies."""
    args: dict[str, Any] = {"range_from_ms": T0, "range_to_ms": T0 + 1, "brand_filter": None}
    whole = render_report(build_report(ITEMS, CONFIG, watermark_ms=T0 + 5, **args), "json")
    for seed in range(5):
        tallies = [AuditTally(**args) for _ in range(parts)]
        rng = random.Random(seed)
        for s in ITEMS:
            rng.choice(tallies).add(s, CONFIG)
        merged = tallies[0]
        for other in tallies[1:]:
            merged.merge(other)
        assert render_report(merged.report(CONFIG, T0 + 5), "json") == whole


def test_tallies_of_different_ranges_do_not_merge() -> None:
    a = AuditTally(range_from_ms=T0, range_to_ms=None, brand_filter=None)
    with pytest.raises(ValueError):
        a.merge(AuditTally(range_from_ms=None, range_to_ms=None, brand_filter=None))


def test_csv_layout() -> None:
    report = build_report(ITEMS, CONFIG, range_from_ms=None, range_to_ms=None,
                          watermark_ms=T0, brand_filter=None)
    rows = list(csv.DictReader(io.StringIO(render_report(report, "csv"))))
    row = next(r for r in rows if r["brand"] == "db" and r["platform"] == "twitter"
               and r["view"] == "complaints")
    assert row["ignored_share"] == "0.5000"
    assert row["first_response_median_s"] == "600.000"
    assert row["ignored_ids"] == "3 10"
    assert row["watermark"] == iso_ms(T0)
    total = rows[-1]
    assert (total["brand"], total["view"], total["inbound"]) == ("*", "all_inbound", "10")
    quiet = [r for r in rows if r["brand"] == "quiet"]
    assert [(r["platform"], r["ignored_share"]) for r in quiet] == [("*", ""), ("*", "")]


def test_markdown_mentions_flags_and_ids() -> None:
    report = build_report(ITEMS, CONFIG, range_from_ms=None, range_to_ms=None,
                          watermark_ms=T0, brand_filter=None)
    md = render_report(report, "md")
    assert "## acme (`acme`) — **unconfigured** (default SLA and deadline)" in md
    assert "| twitter | complaints | 6 | 2 | 1 | 2 | 2 | 1 | 4 | 50.0% | 600.000 |" in md
    assert "Ignored (twitter, complaints): `3`, `10`" in md


def test_unknown_format() -> None:
    report = build_report([], CONFIG, range_from_ms=None, range_to_ms=None, watermark_ms=None,
                          brand_filter=None)
    with pytest.raises(ValueError, match="unknown report format"):
        render_report(report, "xml")
