"""Bounded label values and SLA attainment, on the exporter's own metric objects (no Kafka).

Issue 15: 40 POSTs with made-up platforms added 252 series, one set per platform. The platform
label is bounded like the brand: platforms outside MENTIONWATCH_PLATFORMS count as
platform="_other". The mentions go through the worker's own code paths: enrich, the partition
tracker, Metrics.mention_counter, Tracker._count and the gauges of StateCollector.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from prometheus_client import generate_latest

from agents.config import DEFAULT_PLATFORMS, ConfigError, load_settings
from agents.metrics import OTHER_PLATFORM, UNCONFIGURED, Metrics
from agents.tracking import StateCollector, Tracker
from schemas.codec import decode_mention
from streams.brands import BrandConfig, BrandPolicy, BusinessCalendar
from streams.classification import get_classifier
from streams.enrich import enrich
from streams.partition import PartitionTracker, gauges
from streams.tracking import (
    Post,
    Transition,
    advance,
    answered_within_sla,
    apply_post,
    item_statuses,
)

MIN = 60_000
HOUR = 60 * MIN
T0 = 1_767_261_600_000  # 2026-01-01T10:00:00Z
CONFIG = BrandConfig(brands={"acme": BrandPolicy("acme", "Acme", frozenset({"AcmeHelp"}),
                                                 sla_ms=HOUR, ignore_after_ms=24 * HOUR)})
COMPLAINT = "@AcmeHelp my order is broken again, nobody answers, terrible service"


def inbound(pid: str, at: int, *, brand: str) -> Post:
    return Post(id=pid, platform="twitter", brand=brand, author_id="c1", author_handle="c1",
                is_brand=False, created_at_ms=at, in_reply_to=None, in_reply_to_author_id=None,
                conversation_id=None, complaint=True)


def reply(pid: str, at: int, to: str, *, brand: str) -> Post:
    return Post(id=pid, platform="twitter", brand=brand, author_id=f"{brand}_help",
                author_handle=f"{brand}_help", is_brand=True, created_at_ms=at, in_reply_to=to,
                in_reply_to_author_id="c1", conversation_id=None, complaint=False)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def mentions(platforms: list[str], answered: int) -> list[dict[str, Any]]:
    """A complaint per platform, by its own customer; the first `answered` of them get a reply
    from the brand 30 minutes later (within the SLA)."""
    out = []
    for i, platform in enumerate(platforms):
        complaint = {"schema_version": 1, "id": f"c{i}", "platform": platform, "brand": "acme",
                     "author": {"id": f"cust{i}", "handle": f"customer_{i}", "is_brand": False},
                     "text": COMPLAINT, "created_at": _iso(T0 + i), "lang": "en"}
        out.append(complaint)
        if i < answered:
            out.append({"schema_version": 1, "id": f"r{i}", "platform": platform,
                        "brand": "acme",
                        "author": {"id": "acme-care", "handle": "AcmeHelp", "is_brand": True},
                        "text": "@customer so sorry, we are on it", "lang": "en",
                        "created_at": _iso(T0 + 30 * MIN + i), "in_reply_to": f"c{i}",
                        "in_reply_to_author_id": f"cust{i}", "conversation_id": f"c{i}"})
    return out


def run_worker_paths(metrics: Metrics, records: list[dict[str, Any]]) -> None:
    """What a worker does with these records and a later tick, minus Kafka: the metrics it
    exports afterwards are in metrics.registry."""
    classify = get_classifier("lexicon").classify
    tracker = PartitionTracker(0, CONFIG, lateness_ms=0, idle_grace_ms=60_000,
                               retention_ms=8 * 24 * HOUR)
    shell = SimpleNamespace(metrics=metrics, config=CONFIG, outcome_series=set())
    table: dict[bytes, bytes | None] = {}

    def carry_out(step: Any) -> None:
        for t in step.send:
            Tracker._count(shell, t)  # type: ignore[arg-type]
        for key, value in step.store:
            table[key] = value

    for record in records:
        mention = decode_mention(orjson.dumps(record), max_bytes=64 * 1024)
        enriched, post, key = enrich(mention, classify, "lexicon", CONFIG)
        assert post.is_brand or post.complaint, record["text"]
        metrics.mention_counter(mention.brand, mention.platform,
                                enriched.enrichment.sentiment).inc()
        carry_out(tracker.on_post(key.encode(), table.get(key.encode()), post,
                                  post.created_at_ms, post.created_at_ms))  # live: no delay
    # The partition idles past its grace, its clock follows the wall clock: the unanswered
    # complaints are overdue (and still open: open, overdue and oldest-open gauges for them).
    later = T0 + 2 * HOUR
    carry_out(tracker.on_tick(table.get, later, 10_000))
    snapshot = gauges([tracker], later, CONFIG.share_window_ms, metrics.brand_label,
                      metrics.platform_label)
    metrics.registry.register(StateCollector(SimpleNamespace(snapshot=snapshot, lag={})))  # type: ignore[arg-type]


def series(metrics: Metrics) -> list[tuple[str, dict[str, str]]]:
    """The exported mentionwatch_* series with their labels."""
    out = []
    for line in generate_latest(metrics.registry).decode().splitlines():
        m = re.match(r"^(mentionwatch_\w+)(?:\{(.*)\})? ", line)
        if m:
            out.append((m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))))
    return out


def test_made_up_platforms_add_no_series_beyond_other() -> None:
    made_up = [f"madeup-{i}" for i in range(40)]
    records = mentions(made_up, answered=20)

    folded = Metrics(CONFIG.brands.keys())
    run_worker_paths(folded, records)
    platforms = {labels["platform"] for _, labels in series(folded) if "platform" in labels}
    assert platforms == {OTHER_PLATFORM}

    # The same 40 complaints on one configured platform make exactly as many series.
    one_platform = Metrics(CONFIG.brands.keys())
    run_worker_paths(one_platform, mentions(["twitter"] * 40, answered=20))
    assert len(series(folded)) == len(series(one_platform))

    # What the issue measured: without the bound, every made-up platform its own set.
    unbounded = Metrics(CONFIG.brands.keys(), platforms=made_up)
    run_worker_paths(unbounded, records)
    extra = len(series(unbounded)) - len(series(folded))
    assert extra > 39 * 10, f"expected hundreds of extra series, got {extra}"
    print(f"\n40 made-up platforms: {len(series(folded))} series bounded, "
          f"{len(series(unbounded))} unbounded")


def test_numbers_stay_right_when_folded() -> None:
    metrics = Metrics(CONFIG.brands.keys())
    run_worker_paths(metrics, mentions([f"madeup-{i}" for i in range(10)] + ["bluesky"] * 2,
                                       answered=3))
    text = generate_latest(metrics.registry).decode()

    def value(metric: str, platform: str) -> float:
        m = re.search(rf'^{metric}\{{brand="acme",platform="{platform}"\}} (\S+)$', text, re.M)
        assert m, f"{metric} {platform} missing"
        return float(m.group(1))

    assert value("mentionwatch_complaints_total", OTHER_PLATFORM) == 10
    assert value("mentionwatch_complaints_total", "bluesky") == 2
    assert value("mentionwatch_complaints_answered_total", OTHER_PLATFORM) == 3
    assert value("mentionwatch_complaints_answered_within_sla_total", OTHER_PLATFORM) == 3
    # Nothing answered on bluesky: the outcome counters exist, at 0 (a ratio is 0, not absent).
    assert value("mentionwatch_complaints_answered_total", "bluesky") == 0
    assert value("mentionwatch_complaints_answered_within_sla_total", "bluesky") == 0
    assert value("mentionwatch_complaints_ignored_total", "bluesky") == 0
    # The state gauges fold the same way and add up.
    assert value("mentionwatch_complaints_open", OTHER_PLATFORM) == 7
    assert value("mentionwatch_complaints_overdue", OTHER_PLATFORM) == 7
    assert value("mentionwatch_complaints_open", "bluesky") == 2


def test_unconfigured_brands_and_other_platforms_fold_independently() -> None:
    metrics = Metrics(["acme"], platforms=["x"])
    assert metrics.platform_label("x") == "x"
    assert metrics.platform_label("X-not-lower") == OTHER_PLATFORM
    assert metrics.brand_label("nobody") == UNCONFIGURED
    metrics.mention_counter("nobody", "myspace", "negative").inc()
    metrics.mention_counter("acme", "myspace", "negative").inc(2)
    got = {(labels["brand"], labels["platform"]): None for name, labels in series(metrics)
           if name == "mentionwatch_mentions_total"}
    assert set(got) == {(UNCONFIGURED, OTHER_PLATFORM), ("acme", OTHER_PLATFORM)}


def test_public_url_info_names_the_queue_base() -> None:
    metrics = Metrics(["acme"], public_url="https://care.example/mw")
    assert ("mentionwatch_public_url_info", {"url": "https://care.example/mw"}) in series(metrics)
    assert "mentionwatch_public_url_info" not in {n for n, _ in series(Metrics(["acme"]))}


# -- settings ------------------------------------------------------------------------------------

def test_platform_and_public_url_settings() -> None:
    s = load_settings({})
    assert s.platforms == DEFAULT_PLATFORMS
    assert {"x", "twitter", "bluesky", "mastodon"} <= set(s.platforms)
    assert s.public_url == "http://localhost:6066"
    assert load_settings({"MENTIONWATCH_WEB_PORT": "7000"}).public_url == "http://localhost:7000"
    s = load_settings({"MENTIONWATCH_PLATFORMS": " bluesky, x ,,bluesky",
                       "MENTIONWATCH_PUBLIC_URL": "https://care.example/mw/"})
    assert s.platforms == ("bluesky", "x")
    assert s.public_url == "https://care.example/mw"


@pytest.mark.parametrize("env, message", [
    ({"MENTIONWATCH_PLATFORMS": "x,Twitter"}, "MENTIONWATCH_PLATFORMS"),
    ({"MENTIONWATCH_PLATFORMS": "_other"}, "MENTIONWATCH_PLATFORMS"),
    ({"MENTIONWATCH_PUBLIC_URL": "localhost:6066"}, "MENTIONWATCH_PUBLIC_URL"),
    ({"MENTIONWATCH_PUBLIC_URL": "https://care.example/?a=b"}, "MENTIONWATCH_PUBLIC_URL"),
])
def test_bad_platform_or_url_settings_name_the_variable(env: dict[str, str],
                                                        message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


# -- answered within the SLA ---------------------------------------------------------------------

def answered(config: BrandConfig, created: int, answer: int, brand: str = "acme") -> Transition:
    state, ts = apply_post(None, inbound("1", created, brand=brand), config, created)
    state, more = apply_post(state, reply("2", answer, "1", brand=brand), config, answer)
    state, later = advance(state, config, answer + 48 * HOUR)
    (t,) = [t for t in ts + more + later if t.kind in ("answered", "answered_late")]
    return t


def test_answered_within_sla_is_age_at_most_the_sla() -> None:
    exactly = answered(CONFIG, T0, T0 + HOUR)
    assert exactly.kind == "answered" and answered_within_sla(exactly, CONFIG)
    late = answered(CONFIG, T0, T0 + HOUR + 1)
    assert late.kind == "answered" and not answered_within_sla(late, CONFIG)
    # Answered late (after the ignore deadline) is never within the SLA; other kinds neither.
    assert not answered_within_sla(answered(CONFIG, T0, T0 + 25 * HOUR), CONFIG)
    _, ts = apply_post(None, inbound("1", T0, brand="acme"), CONFIG, T0)
    assert ts[0].kind == "opened" and not answered_within_sla(ts[0], CONFIG)
    # An unconfigured brand: the default SLA (1 h).
    assert answered_within_sla(answered(CONFIG, T0, T0 + 59 * MIN, brand="other"), CONFIG)


def test_answered_within_sla_counts_business_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")

    def at(d: int, h: int, mi: int = 0) -> int:
        return int(datetime(2026, 11, d, h, mi, tzinfo=berlin).timestamp() * 1000)

    cal = BusinessCalendar.weekly("Europe/Berlin", {d: [("09:00", "17:00")] for d in range(5)})
    config = BrandConfig(brands={"db": BrandPolicy("db", "DB", frozenset({"db_help"}),
                                                   sla_ms=8 * HOUR, ignore_after_ms=24 * HOUR,
                                                   calendar=cal)})
    # Posted Monday 07:00: the 8 business hours run out at 17:00 and the age stays equal to
    # the SLA all night, so an answer at 22:00 is within it; Tuesday 09:00:00.001 is not.
    posted = at(9, 7)
    assert answered_within_sla(answered(config, posted, at(9, 22), brand="db"), config)
    assert not answered_within_sla(answered(config, posted, at(10, 9) + 1, brand="db"), config)
    # Friday 16:30 with a 1 h SLA (the brand's 8 h here: Monday 16:30) over the weekend.
    friday = at(6, 16, 30)
    assert answered_within_sla(answered(config, friday, at(9, 16, 30), brand="db"), config)
    assert not answered_within_sla(answered(config, friday, at(9, 16, 31), brand="db"), config)


def test_answered_within_sla_agrees_with_the_statuses() -> None:
    """Within the SLA exactly when the item is answered and was never overdue."""
    cal = BusinessCalendar.weekly("Europe/Berlin", {d: [("09:00", "12:00"), ("13:00", "17:00")]
                                                    for d in range(5)})
    config = BrandConfig(brands={"db": BrandPolicy("db", "DB", frozenset({"db_help"}),
                                                   sla_ms=2 * HOUR, ignore_after_ms=6 * HOUR,
                                                   calendar=cal)})
    created = int(datetime(2026, 11, 6, 11, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
                  * 1000)
    for minutes in range(0, 5 * 24 * 60, 37):
        answer = created + minutes * MIN
        t = answered(config, created, answer, brand="db")
        state, _ = apply_post(None, inbound("1", created, brand="db"), config, created)
        state, _ = apply_post(state, reply("2", answer, "1", brand="db"), config, answer)
        (st,) = item_statuses(state, config, answer + 48 * HOUR)
        assert answered_within_sla(t, config) == (st.status == "answered" and not st.overdue), (
            minutes, st)
