"""The brand configuration over time (issue 17): which recorded version judges which mention,
the brand_config.v1 record, and what a worker records. No broker: the Kafka side is in
test_brand_versions_kafka.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agents.brand_versions import RecordedConfigError, to_version
from schemas.codec import (
    DecodeError,
    RecordedBrandConfig,
    decode_brand_config,
    encode_brand_config,
    mention_from_dict,
)
from streams.brand_versions import (
    ConfigTimeline,
    ConfigVersion,
    needs_recording,
    versions_in_force,
)
from streams.brands import brand_config_sha256, parse_brand_config
from streams.tracking import apply_post, item_statuses, post_from_mention, state_key

REPO = Path(__file__).resolve().parents[1]
MIN = 60_000
H = 60 * MIN


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


BRAND = '[brands.acme]\nname = "Acme"\nignore_after = "4h"\n'
V1_TOML = BRAND + 'accounts = ["acme_help"]\nsla = "1h"\n'
V2_TOML = BRAND + 'accounts = ["acme_care"]\nsla = "5m"\n'
T_V2 = ms("2026-10-05T12:00:00")


def version(toml: str, effective_ms: int) -> ConfigVersion:
    config = parse_brand_config(toml)
    return ConfigVersion(effective_ms, brand_config_sha256(config), "brands.toml", config)


V1 = version(V1_TOML, ms("2026-10-01T00:00:00"))
V2 = version(V2_TOML, T_V2)


def test_the_version_in_force_at_an_instant_judges_it() -> None:
    timeline = ConfigTimeline.of([V2, V1])  # any order in, by effective time inside
    assert timeline.versions == (V1, V2)
    assert timeline.version_at(T_V2 - 1) == V1
    assert timeline.version_at(T_V2) == V2
    # Before the first recorded version nothing else is known: the first one judges.
    assert timeline.version_at(0) == V1
    assert timeline.budgets("acme", T_V2 - 1)[0] == H
    assert timeline.budgets("acme", T_V2)[0] == 5 * MIN
    # Without an instant (the report's brand parameters): the latest version.
    assert timeline.budgets("acme")[0] == 5 * MIN
    assert timeline.policy_for("acme").display_name == "Acme"
    # Brand accounts too: acme_help answered for acme before the change, acme_care after.
    assert timeline.is_brand_account("acme", "acme_help", T_V2 - 1)
    assert not timeline.is_brand_account("acme", "acme_help", T_V2)
    assert timeline.is_brand_account("acme", "@Acme_Care", T_V2)
    with pytest.raises(ValueError):
        ConfigTimeline.of([])


def test_a_version_recorded_twice_in_a_row_is_one_change() -> None:
    """Two workers started together with the same file both record it."""
    twice = ConfigVersion(V1.effective_ms + 5, V1.sha256, "other/brands.toml", V1.config)
    assert ConfigTimeline.of([V1, twice, V2]).versions == (V1, V2)
    assert versions_in_force([twice, V1], 0, T_V2) == (V1,)
    back = ConfigVersion(T_V2 + H, V1.sha256, "brands.toml", V1.config)
    assert ConfigTimeline.of([V1, V2, back]).versions == (V1, V2, back)


def test_versions_in_force_in_a_range() -> None:
    assert versions_in_force([V1, V2], ms("2026-10-02T00:00:00"), T_V2) == (V1,)
    assert versions_in_force([V1, V2], ms("2026-10-02T00:00:00"), T_V2 + 1) == (V1, V2)
    assert versions_in_force([V2, V1], T_V2, T_V2 + H) == (V2,)
    assert versions_in_force([V1, V2], 0, 1) == (V1,)  # before anything was recorded
    assert versions_in_force([], 0, 1) == ()


def test_a_restart_with_the_same_configuration_records_nothing() -> None:
    assert needs_recording([], V1.sha256)
    assert not needs_recording([(V1.effective_ms, V1.sha256)], V1.sha256)
    assert needs_recording([(V1.effective_ms, V1.sha256)], V2.sha256)
    # Back to the first file after a change: recorded again (it is the newest from now on).
    assert needs_recording([(V1.effective_ms, V1.sha256), (V2.effective_ms, V2.sha256)],
                           V1.sha256)


def _mention(pid: str, author: str, created: int, **extra: Any) -> dict[str, Any]:
    return {"schema_version": 1, "id": pid, "platform": "twitter", "brand": "acme",
            "author": {"id": author, "handle": author, "is_brand": False},
            "text": "Where is my parcel?", "created_at": datetime.fromtimestamp(
                created / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"), **extra}


def _statuses(config: Any, docs: list[dict[str, Any]], now: int) -> dict[str, str]:
    return {s.mention_id: s.status + (" after the SLA" if s.overdue else "")
            for s in _all_statuses(config, docs, now)}


def answered_across_the_change(before: int, after: int, *, second_account: str = "acme_care"
                               ) -> list[dict[str, Any]]:
    """c1 made before the change and c2 after it, each answered 10 minutes later: c1 by
    acme_help (v1's account), c2 by `second_account`."""
    return [
        _mention("c1", "u1", before),
        _mention("r1", "acme_help", before + 10 * MIN, in_reply_to="c1",
                 in_reply_to_author_id="u1"),
        _mention("c2", "u2", after),
        _mention("r2", second_account, after + 10 * MIN, in_reply_to="c2",
                 in_reply_to_author_id="u2"),
    ]


def test_each_mention_is_judged_with_the_version_in_force_when_it_was_created() -> None:
    """The same 10-minute answer: in time under v1 (SLA 1 h), after the SLA under v2 (5 min);
    each answer comes from the account its version names."""
    before, after = T_V2 - 30 * MIN, T_V2 + 30 * MIN
    docs = answered_across_the_change(before, after)
    now = after + 5 * H
    got = _statuses(ConfigTimeline.of([V1, V2]), docs, now)
    assert {k: got[k] for k in ("c1", "c2")} == {"c1": "answered",
                                                 "c2": "answered after the SLA"}
    # One file for everything (an override) judges both alike.
    assert {k: _statuses(V2.config, docs, now)[k] for k in ("c1", "c2")} == {
        "c1": "ignored after the SLA", "c2": "answered after the SLA"}  # acme_help: not v2


def test_the_record_round_trips_and_matches_its_schema() -> None:
    schema = json.loads((REPO / "schemas" / "brand_config.v1.json").read_text())
    for toml in (V1_TOML, None):
        record = RecordedBrandConfig(1_764_775_445_123, "a" * 64, "/etc/brands.toml", toml,
                                     "0.1.0")
        data = encode_brand_config(record)
        jsonschema.validate(json.loads(data), schema)
        assert decode_brand_config(data) == record
        assert json.loads(data)["effective_at"] == "2025-12-03T15:24:05.123Z"
    assert record.key == b"1764775445123:" + b"a" * 64


@pytest.mark.parametrize("change, field", [
    ({"schema_version": 2}, "$.schema_version"),
    ({"sha256": "ABC"}, "$.sha256"),
    ({"effective_ms": -1}, "$.effective_ms"),
    ({"effective_ms": True}, "$.effective_ms"),
    ({"toml": 3}, "$.toml"),
    ({"source": None}, "$.source"),
])
def test_a_damaged_record_is_refused_naming_the_field(change: dict[str, Any],
                                                     field: str) -> None:
    doc = json.loads(encode_brand_config(
        RecordedBrandConfig(1, "b" * 64, "x", V1_TOML, "0.1.0")))
    doc.update(change)
    with pytest.raises(DecodeError) as info:
        decode_brand_config(json.dumps(doc).encode())
    assert info.value.field == field
    with pytest.raises(DecodeError):
        decode_brand_config(b"{not json")


def test_a_recorded_text_that_no_longer_gives_its_hash_is_not_trusted() -> None:
    good = RecordedBrandConfig(5, V1.sha256, "brands.toml", V1_TOML, "0.1.0")
    assert to_version(good, "t[0]@3").config == V1.config
    default = RecordedBrandConfig(5, brand_config_sha256(parse_brand_config("")),
                                  "built-in default", None, "0.1.0")
    assert to_version(default, "t[0]@4").config.brands == {}
    with pytest.raises(RecordedConfigError, match=r"t\[0\]@3 gives another hash"):
        to_version(RecordedBrandConfig(5, V2.sha256, "brands.toml", V1_TOML, "0.1.0"),
                   "t[0]@3")
    with pytest.raises(RecordedConfigError, match=r"t\[0\]@3 no longer parses"):
        to_version(RecordedBrandConfig(5, V1.sha256, "brands.toml", "[brands.x]\nsla = 3\n",
                                       "0.1.0"), "t[0]@3")


def test_first_responses_are_bucketed_against_their_own_sla_in_business_time() -> None:
    """The histogram's buckets: each answer against the SLA in force when its complaint was
    made, in the brand's business time (not calendar time)."""
    from streams.audit import build_report

    before, after = T_V2 - 30 * MIN, T_V2 + 30 * MIN
    docs = answered_across_the_change(before, after)
    timeline = ConfigTimeline.of([V1, V2])
    report = build_report(_all_statuses(timeline, docs, after + 5 * H), timeline,
                          range_from_ms=None, range_to_ms=None, watermark_ms=after + 5 * H,
                          brand_filter=None)
    # c1: 10 min of v1's 1 h (≤25%); c2: 10 min of v2's 5 min (≤200%).
    assert report.brands[0].complaints.first_response_vs_sla == (1, 0, 0, 1, 0)

    hours = ('timezone = "Europe/Berlin"\n[brands.acme.business_hours]\n'
             + "".join(f'{d} = "09:00-17:00"\n' for d in ("mon", "tue", "wed", "thu", "fri"))
             + 'sat = "closed"\nsun = "closed"\n')
    config = parse_brand_config(BRAND + 'accounts = ["acme_help"]\nsla = "1h"\n' + hours)
    friday = ms("2026-10-09T14:55:00")  # 16:55 in Berlin
    monday = ms("2026-10-12T07:05:00")  # 09:05: 10 business minutes later
    docs = [_mention("c3", "u3", friday),
            _mention("r3", "acme_help", monday, in_reply_to="c3", in_reply_to_author_id="u3")]
    report = build_report(_all_statuses(config, docs, monday + H), config, range_from_ms=None,
                          range_to_ms=None, watermark_ms=monday + H, brand_filter=None)
    assert report.brands[0].complaints.first_response_vs_sla == (1, 0, 0, 0, 0)
    assert report.brands[0].complaints.first_response_median_s == 64 * 3600 + 600  # calendar


def _all_statuses(config: Any, docs: list[dict[str, Any]], now: int) -> list[Any]:
    states: dict[str, Any] = {}
    for doc in docs:
        post = post_from_mention(mention_from_dict(doc), True, config)
        key = state_key(post)
        states[key] = apply_post(states.get(key), post, config, now)[0]
    return [s for state in states.values() for s in item_statuses(state, config, now)]
