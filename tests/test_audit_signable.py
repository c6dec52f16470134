"""What makes an audit signable (issue 17): periods, every decided id, reach, provenance, and a
case-insensitive brand order, on small examples and on the TWCS excerpt (pure; no broker)."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from twcs_reference import pseudo_complaint, read_rows, twcs_head_path

from agents.config import load_settings
from agents.replay import _Job, _Shard, replay_provenance
from schemas.codec import encode_enriched, mention_from_dict
from schemas.models import EnrichedMention, Enrichment
from streams.audit import (
    AuditReport,
    AuditTally,
    brand_sort_key,
    build_report,
    render_report,
)
from streams.audit_periods import period_of
from streams.brands import (
    BrandConfig,
    BrandPolicy,
    brand_config_sha256,
    default_brand_config,
    parse_brand_config,
)
from streams.classification import get_classifier
from streams.tracking import ItemStatus, Post, item_statuses, post_from_mention, states_from_posts
from streams.twcs import convert_twcs

S, MIN, H, DAY = 1000, 60_000, 3_600_000, 86_400_000
COUNTS = ("inbound", "answered", "answered_late", "ignored", "open", "overdue", "decided")


def ms(value: str) -> int:
    return int(datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp() * 1000)


# -- periods ---------------------------------------------------------------------------------

def test_period_boundaries() -> None:
    assert period_of(ms("2017-10-31T23:59:59.999"), "day") == (
        ms("2017-10-31T00:00:00"), ms("2017-11-01T00:00:00"), "2017-10-31")
    # ISO weeks start on Monday; 2017-10-30 is a Monday, 2017-11-05 a Sunday.
    week = (ms("2017-10-30T00:00:00"), ms("2017-11-06T00:00:00"), "2017-W44")
    assert period_of(ms("2017-10-30T00:00:00"), "week") == week
    assert period_of(ms("2017-11-05T23:59:59.999"), "week") == week
    assert period_of(ms("2017-11-06T00:00:00"), "week")[2] == "2017-W45"
    assert period_of(ms("2021-01-01T12:00:00"), "week")[2] == "2020-W53"  # ISO year
    assert period_of(ms("2017-12-31T23:00:00"), "month") == (
        ms("2017-12-01T00:00:00"), ms("2018-01-01T00:00:00"), "2017-12")
    assert period_of(-1, "day")[2] == "1969-12-31"
    with pytest.raises(ValueError):
        period_of(0, "year")


def post(pid: str, author: str, created: int, *, brand: str = "acme", is_brand: bool = False,
         reply_to: str | None = None, reply_author: str | None = None,
         followers: int | None = None, complaint: bool = True) -> Post:
    doc: dict[str, Any] = {"schema_version": 1, "id": pid, "platform": "twitter", "brand": brand,
                           "author": {"id": author, "handle": author, "is_brand": is_brand},
                           "text": "hello", "created_at": iso(created)}
    if reply_to is not None:
        doc["in_reply_to"] = reply_to
        doc["in_reply_to_author_id"] = reply_author
    if followers is not None:
        doc["followers"] = followers
    return post_from_mention(mention_from_dict(doc), complaint, CONFIG)


def iso(t: int) -> str:
    return datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


CONFIG = BrandConfig(brands={
    "acme": BrandPolicy("acme", "Acme", frozenset({"acme_help"})),
    "Tesco": BrandPolicy("Tesco", "Tesco"),
    "sprintcare": BrandPolicy("sprintcare", "Sprint"),
})


def statuses_of(posts: list[Post], now: int) -> list[ItemStatus]:
    return [s for st in states_from_posts(posts).values()
            for s in item_statuses(st, CONFIG, now)]


def test_a_reply_after_the_period_ends_answers_a_mention_inside_it() -> None:
    sunday = ms("2017-11-05T23:30:00")  # week 2017-W44
    posts = [post("1", "c1", sunday),
             post("2", "acme_help", sunday + 40 * MIN, is_brand=True, reply_to="1",
                  reply_author="c1"),  # Monday 00:10, week 2017-W45
             post("3", "c2", sunday + 2 * DAY)]  # W45, open
    now = sunday + 2 * DAY
    report = build_report(statuses_of(posts, now), CONFIG, range_from_ms=None,
                          range_to_ms=None, watermark_ms=now, brand_filter=None, by="week")
    acme = next(b for b in report.brands if b.brand == "acme")
    assert [p.period for p in acme.periods] == ["2017-W44", "2017-W45"]
    w44, w45 = acme.periods
    assert (w44.all_inbound.answered, w44.all_inbound.ignored, w44.all_inbound.open) == (1, 0, 0)
    assert w44.all_inbound.first_response_median_s == 2400.0  # answered in the next week
    assert (w45.all_inbound.inbound, w45.all_inbound.open) == (1, 1)
    # A brand with no mention is listed with zeros in every period of the report.
    tesco = next(b for b in report.brands if b.brand == "Tesco")
    assert [(p.period, p.all_inbound.inbound) for p in tesco.periods] == [("2017-W44", 0),
                                                                          ("2017-W45", 0)]


# -- the TWCS excerpt ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def twcs_statuses() -> tuple[list[ItemStatus], int, dict[str, int]]:
    rows = read_rows(twcs_head_path())
    mentions = [mention_from_dict(o) for o in convert_twcs(rows).mentions]
    config = default_brand_config()
    posts = [post_from_mention(m, pseudo_complaint(m.id), config) for m in mentions]
    watermark = max(p.created_at_ms for p in posts)
    statuses = [s for st in states_from_posts(posts).values()
                for s in item_statuses(st, config, watermark)]
    # Invented follower counts for some authors: the reach adds them up.
    followers = {m.id: int(m.id) % 1000 for m in mentions if int(m.id) % 2 == 0}
    return statuses, watermark, followers


def _twcs_report(statuses: list[ItemStatus], watermark: int, **kw: Any) -> AuditReport:
    args: dict[str, Any] = {"range_from_ms": None, "range_to_ms": None,
                            "watermark_ms": watermark, "brand_filter": None}
    args.update(kw)
    return build_report(statuses, default_brand_config(), **args)


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    """A report without what --by adds."""
    doc = dict(doc)
    doc.pop("periods", None)
    doc["by"] = None
    doc["brands"] = [{k: v for k, v in b.items() if k != "periods"} for b in doc["brands"]]
    return doc


@pytest.mark.parametrize("by", ["day", "week", "month"])
def test_period_sums_equal_the_whole_range(twcs_statuses: Any, by: str) -> None:
    statuses, watermark, _ = twcs_statuses
    whole = orjson.loads(render_report(_twcs_report(statuses, watermark), "json"))
    doc = orjson.loads(render_report(_twcs_report(statuses, watermark, by=by), "json"))
    assert _strip(doc) == whole  # totals identical to the report without --by
    labels = [p["period"] for p in doc["periods"]]
    assert labels == sorted(labels) and len(labels) == len(set(labels))
    assert len(labels) > (1 if by == "month" else 3)
    for entry in [doc, *doc["brands"]]:
        assert [p["period"] for p in entry["periods"]] == labels
        for view in ("complaints", "all_inbound"):
            for name in COUNTS:
                assert sum(p[view][name] for p in entry["periods"]) == \
                    entry["totals"][view][name], (entry.get("brand"), view, name)
    # The sums are not trivially zero: most periods carry figures.
    assert sum(1 for p in doc["periods"] if p["all_inbound"]["decided"]) >= len(labels) - 1


def test_period_reports_are_byte_identical_whatever_the_order_or_the_shards(
        twcs_statuses: Any) -> None:
    statuses, watermark, followers = twcs_statuses
    for fmt in ("json", "csv", "md", "html"):
        outputs = set()
        for seed in range(3):
            shuffled = statuses[:]
            random.Random(seed).shuffle(shuffled)
            tallies = [AuditTally(range_from_ms=None, range_to_ms=None, brand_filter=None,
                                  by="week", answered_ids=True) for _ in range(seed + 1)]
            for i, s in enumerate(shuffled):
                tallies[i % len(tallies)].add(s, default_brand_config(),
                                              followers.get(s.mention_id))
            for other in tallies[1:]:
                tallies[0].merge(other)
            outputs.add(render_report(tallies[0].report(default_brand_config(), watermark,
                                                        {"source": "test"}), fmt))
        assert len(outputs) == 1, fmt


def test_brands_are_in_case_insensitive_order(twcs_statuses: Any) -> None:
    statuses, watermark, _ = twcs_statuses
    report = _twcs_report(statuses, watermark)
    names = [b.brand for b in report.brands]
    assert names == sorted(names, key=str.casefold)
    assert names.index("sprintcare") < names.index("Tesco")
    for fmt in ("csv", "md"):
        text = render_report(report, fmt)
        assert text.index("sprintcare") < text.index("Tesco")
    assert sorted(["b", "B", "a"], key=brand_sort_key) == ["a", "B", "b"]  # stable ties


def test_every_decided_id_is_listed() -> None:
    cut = ms("2017-11-01T12:00:00")  # open items too: replay the first part of the file
    rows = read_rows(twcs_head_path())
    mentions = [mention_from_dict(o) for o in convert_twcs(rows).mentions]
    config = default_brand_config()
    posts = [post_from_mention(m, pseudo_complaint(m.id), config) for m in mentions
             if m.created_at_ms < cut]
    now = max(p.created_at_ms for p in posts)
    early = [s for st in states_from_posts(posts).values()
             for s in item_statuses(st, config, now)]
    by_status: dict[str, set[str]] = {"answered": set(), "ignored": set(), "open": set(),
                                      "late": set()}
    for s in early:
        by_status[s.status].add(s.mention_id)
        if s.answered_late:
            by_status["late"].add(s.mention_id)
    assert all(by_status.values())
    plain = orjson.loads(render_report(_twcs_report(early, now), "json"))
    full = orjson.loads(render_report(_twcs_report(early, now, answered_ids=True), "json"))
    assert plain["answered_ids_listed"] is False and full["answered_ids_listed"] is True

    def ids(doc: dict[str, Any], name: str) -> set[str]:
        found = [i for b in doc["brands"] for p in b["platforms"]
                 for i in p["all_inbound"].get(name, [])]
        assert len(found) == len(set(found))
        return set(found)

    assert ids(full, "answered_ids") == by_status["answered"]
    assert ids(full, "ignored_ids") == by_status["ignored"]
    assert ids(full, "answered_late_ids") == by_status["late"]
    assert ids(full, "open_ids") == by_status["open"]
    assert ids(plain, "answered_ids") == set()  # behind the flag
    report = _twcs_report(early, now, answered_ids=True)
    rows_csv = list(csv.DictReader(io.StringIO(render_report(report, "csv"))))
    figures = [r for r in rows_csv if r["record"] == "figures" and r["platform"] == "twitter"
               and r["view"] == "all_inbound"]
    for column, want in (("answered_ids", "answered"), ("ignored_ids", "ignored"),
                         ("answered_late_ids", "late"), ("open_ids", "open")):
        assert {i for r in figures for i in r[column].split()} == by_status[want], column
    md = render_report(report, "md")
    for prefix, want in (("Answered late (twitter, all inbound): ", "late"),
                         ("Open (twitter, all inbound): ", "open"),
                         ("Answered (twitter, all inbound): ", "answered"),
                         ("Ignored (twitter, all inbound): ", "ignored")):
        listed = {i.strip("`") for line in md.splitlines() if line.startswith(prefix)
                  for i in line.removeprefix(prefix).split(", ")}
        assert listed == by_status[want], prefix


def test_reach_of_ignored_complaints(twcs_statuses: Any) -> None:
    statuses, watermark, followers = twcs_statuses
    report = _twcs_report(statuses, watermark, followers=followers)
    ignored = [s for s in statuses if s.status == "ignored" and s.complaint]
    for b in report.brands:
        mine = [s for s in ignored if s.brand == b.brand]
        authors: dict[str, int] = {}
        for s in mine:
            known = followers.get(s.mention_id, -1)
            authors[s.author_key] = max(authors.get(s.author_key, -1), known)
        v = b.complaints
        assert v.reach_authors == len(authors), b.brand
        assert v.reach_authors_known == sum(1 for k in authors.values() if k >= 0), b.brand
        assert v.reach_followers == sum(k for k in authors.values() if k > 0), b.brand
    total = report.complaints
    assert total.reach_authors > 50 and 0 < total.reach_authors_known < total.reach_authors
    assert total.reach_followers > 1000


def test_twcs_figures_are_unchanged_by_the_new_fields(twcs_statuses: Any) -> None:
    statuses, watermark, _ = twcs_statuses
    report = _twcs_report(statuses, watermark, by="week", answered_ids=True)
    t = report.all_inbound
    assert (t.inbound, t.answered, t.ignored, t.open, t.answered_late) == (2638, 2157, 481, 0,
                                                                           109)
    assert (t.first_response_median_s, t.first_response_p90_s) == (763.5, 30896.0)


# -- provenance ------------------------------------------------------------------------------

def test_provenance_is_rendered_in_every_format() -> None:
    provenance = {"mentionwatch_version": "9.9", "offsets": {"0": {"first": 3, "end": 7}},
                  "records": {"read": 4, "unattributed": 1},
                  "classifier": {"name": "lexicon", "mixed": False, "model_sha256": None}}
    report = AuditTally(range_from_ms=0, range_to_ms=DAY, brand_filter=None).report(
        CONFIG, 5, provenance)
    doc = orjson.loads(render_report(report, "json"))
    assert doc["provenance"] == provenance
    rows = list(csv.DictReader(io.StringIO(render_report(report, "csv"))))
    got = {r["key"]: r["value"] for r in rows if r["record"] == "provenance"}
    assert got == {"mentionwatch_version": "9.9", "offsets.0.first": "3", "offsets.0.end": "7",
                   "records.read": "4", "records.unattributed": "1", "classifier.name": "lexicon",
                   "classifier.mixed": "false", "classifier.model_sha256": ""}
    md = render_report(report, "md")
    assert "## Provenance" in md and "- offsets.0.end: 7" in md
    assert "- classifier.model_sha256: —" in md


def test_brand_parameters_in_the_report() -> None:
    text = Path(__file__).resolve().parents[1].joinpath("deploy", "brands.example.toml")
    config = parse_brand_config(text.read_text(encoding="utf-8"))
    report = AuditTally(range_from_ms=0, range_to_ms=DAY, brand_filter=None).report(config, 5)
    doc = orjson.loads(render_report(report, "json"))
    with_hours = [b for b in doc["brands"] if b["business_hours"]]
    assert with_hours, "the example file has a brand with business hours"
    b = with_hours[0]
    assert b["hours"].startswith("mon ") and "sun" in b["hours"]
    policy = config.brands[b["brand"]]
    assert (b["due_soon_lead_s"], b["ignore_soon_lead_s"]) == (policy.due_soon_ms / 1000,
                                                               policy.ignore_soon_ms / 1000)


def test_brand_configuration_hash_is_of_the_content() -> None:
    a = parse_brand_config('[brands.db]\nname = "DB"\naccounts = ["DB_Bahn", "DB_Info"]\n'
                           'sla = "30m"\n\n[brands.acme]\nname = "Acme"\n')
    b = parse_brand_config('# same content, other layout\n[brands.acme]\nname = "Acme"\n'
                           '[brands.db]\naccounts = ["DB_Info", "DB_Bahn"]\nname = "DB"\n'
                           'sla = "30m"\n')
    c = parse_brand_config('[brands.db]\nname = "DB"\naccounts = ["DB_Bahn", "DB_Info"]\n'
                           'sla = "31m"\n\n[brands.acme]\nname = "Acme"\n')
    assert brand_config_sha256(a) == brand_config_sha256(b) != brand_config_sha256(c)
    assert len(brand_config_sha256(default_brand_config())) == 64


def _enriched(doc: dict[str, Any], classifier: str) -> bytes:
    return encode_enriched(EnrichedMention(mention_from_dict(doc), Enrichment(
        "en", "negative", -0.5, True, 0.9, classifier)))


def _doc(pid: str, author: str, created: int, **extra: Any) -> dict[str, Any]:
    is_brand = extra.pop("is_brand", False)
    return {"schema_version": 1, "id": pid, "platform": "twitter", "brand": "acme",
            "author": {"id": author, "handle": author, "is_brand": is_brand},
            "text": "Where is my parcel? Terrible service", "created_at": iso(created),
            "lang": "en", **extra}


T0 = ms("2026-10-05T08:00:00")
RECORDS = [
    (_doc("1", "u1", T0, followers=120), T0),
    (_doc("2", "u1", T0 + MIN, followers=150), T0 + MIN),  # u1 once, the largest count
    (_doc("3", "u2", T0 + 2 * MIN), T0 + 2 * MIN),  # no follower count
    (_doc("4", "acme_help", T0 + 3 * MIN, is_brand=True), T0 + 3 * MIN),  # replies to nobody
    (_doc("5", "acme_help", T0 + 4 * MIN, is_brand=True, in_reply_to="3"), T0 + 4 * MIN),
    (_doc("6", "u3", T0 - DAY), T0 - DAY),  # before the range
    (_doc("7", "u4", 4_070_908_800_000), T0),  # future-dated
    (_doc("9", "u5", T0 + 2 * DAY, followers=7), T0 + 2 * DAY),
]


@pytest.mark.parametrize("source", ["raw", "enriched"])
def test_replay_provenance_counts(source: str) -> None:
    """The shard's counts (what stderr says) are the provenance's, and so are the classifiers
    and the follower counts of the records."""
    settings = load_settings({})
    config = BrandConfig(brands={"acme": BrandPolicy("acme", "Acme", frozenset({"acme_help"}))})
    job = _Job(settings, config, get_classifier("lexicon"), "lexicon", "mentions." + source,
               source, T0 - H, T0 + 3 * DAY, None, "day", True)
    shard = _Shard(job)
    values = [orjson.dumps(d) if source == "raw" else _enriched(d, "lexicon" if i else "other")
              for i, (d, _) in enumerate(RECORDS)] + [b"not json"]
    shard.on_batch(values, [t for _, t in RECORDS] + [T0])
    stats = shard.stats
    stats.offsets = {0: (10, 19)}
    tally = shard.judge(shard.max_event_ms or 0)
    prov = replay_provenance(settings, config, job, stats, [0])
    assert prov["records"] == {"read": 9, "invalid": 1, "future_dated": 1, "in_range": 6,
                               "unroutable": 1, "attributed": 4, "unattributed": 1}
    assert prov["offsets"] == {"0": {"first": 10, "end": 19}}
    assert prov["topic"] == "mentions." + source and prov["source"] == source
    assert prov["brand_configuration"]["sha256"] == brand_config_sha256(config)
    assert prov["brand_configuration"]["file"] is None
    classifier = prov["classifier"]
    if source == "raw":
        assert classifier["name"] == "lexicon" and len(classifier["model_sha256"]) == 64
        assert classifier["records"] == {"lexicon": 6} and not classifier["mixed"]
    else:
        # Record "1" was classified by "other": a range with two classifiers says so.
        assert classifier["name"] == "mixed" and classifier["mixed"]
        assert classifier["records"] == {"lexicon": 5, "other": 1}
        assert classifier["model_sha256"] is None
    report = tally.report(config, shard.max_event_ms, prov)
    acme = report.brands[0]
    # At the watermark (T0 + 2 days) 1, 2 (u1) and 3 (u2) are ignored: 5, the reply to 3, names
    # no replied-to author and is unroutable. 9 is open. Reach: u1 once (150), u2 unknown.
    assert (acme.all_inbound.ignored, acme.all_inbound.open) == (3, 1)
    assert (acme.all_inbound.reach_authors, acme.all_inbound.reach_authors_known,
            acme.all_inbound.reach_followers) == (2, 1, 150)
    assert [p.period for p in acme.periods] == ["2026-10-05", "2026-10-07"]
