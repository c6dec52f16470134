"""The codec's hand-written validation agrees with the JSON Schema files, and says which field
is wrong and why."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from referencing import Registry, Resource

from schemas.codec import (
    DecodeError,
    decode_enriched,
    decode_mention,
    decode_tracking_view,
    encode_complaint_event,
    encode_dead_letter,
    encode_enriched,
    encode_mention,
    mention_from_dict,
    parse_rfc3339_ms,
)
from schemas.models import EnrichedMention, Enrichment

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())


REGISTRY = Registry().with_resources(
    [(f"https://mentionwatch.dev/schemas/{n}", Resource.from_contents(_schema(n)))
     for n in ("mention.v1.json", "enriched_mention.v1.json", "dead_letter.v1.json")]
)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = _schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, registry=REGISTRY, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


VALID: dict[str, Any] = {
    "schema_version": 1,
    "id": "1234567890",
    "platform": "twitter",
    "brand": "db",
    "author": {"id": "42", "handle": "kunde42", "is_brand": False},
    "text": "Mein ICE hat schon wieder 40 Minuten Verspätung &amp; keiner sagt was",
    "created_at": "2026-11-23T08:15:00.250+01:00",
    "in_reply_to": None,
    "lang": "de",
    "followers": 12,
}


def _with(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    target = doc
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return doc


_DELETE = object()

INVALID = [
    # (document, reason, field)
    (_with("id", _DELETE), "schema_violation", "$.id"),
    (_with("id", 123), "schema_violation", "$.id"),
    (_with("id", ""), "schema_violation", "$.id"),
    (_with("platform", "Twitter!"), "schema_violation", "$.platform"),
    (_with("brand", "has space"), "schema_violation", "$.brand"),
    (_with("author", _DELETE), "schema_violation", "$.author"),
    (_with("author", "someone"), "schema_violation", "$.author"),
    (_with("author.is_brand", "no"), "schema_violation", "$.author.is_brand"),
    (_with("author.id", _DELETE), "schema_violation", "$.author.id"),
    (_with("author.extra", 1), "schema_violation", "$.author.extra"),
    (_with("text", _DELETE), "schema_violation", "$.text"),
    (_with("text", 5), "schema_violation", "$.text"),
    (_with("text", "x" * 20001), "too_large", "$.text"),
    (_with("created_at", "yesterday"), "schema_violation", "$.created_at"),
    (_with("created_at", "2026-11-23T08:15:00"), "schema_violation", "$.created_at"),
    (_with("followers", -1), "schema_violation", "$.followers"),
    (_with("followers", "12"), "schema_violation", "$.followers"),
    (_with("lang", "German"), "schema_violation", "$.lang"),
    (_with("schema_version", 2), "unknown_schema_version", "$.schema_version"),
    (_with("schema_version", _DELETE), "schema_violation", "$.schema_version"),
    (_with("surprise", True), "schema_violation", "$.surprise"),
]


def test_valid_mention_passes_both_validators() -> None:
    _validator("mention.v1.json").validate(VALID)
    mention = mention_from_dict(VALID)
    assert mention.created_at_ms == parse_rfc3339_ms("2026-11-23T07:15:00.250Z")
    assert mention.author.handle == "kunde42"


@pytest.mark.parametrize(("doc", "reason", "field"), INVALID)
def test_invalid_mentions_rejected_by_both_with_field(doc: dict[str, Any], reason: str,
                                                     field: str) -> None:
    errors = list(_validator("mention.v1.json").iter_errors(doc))
    assert errors, "the JSON Schema accepts what the codec must reject"
    with pytest.raises(DecodeError) as info:
        mention_from_dict(doc)
    assert info.value.reason == reason
    assert info.value.field == field
    assert field in str(info.value)


def test_decode_rejects_non_json_and_oversized_records() -> None:
    with pytest.raises(DecodeError) as info:
        decode_mention(b"{not json")
    assert info.value.reason == "not_json"
    with pytest.raises(DecodeError) as info:
        decode_mention(b"[1,2]")
    assert info.value.reason == "schema_violation" and info.value.field == "$"
    big = orjson.dumps(VALID) + b" " * 70_000
    with pytest.raises(DecodeError) as info:
        decode_mention(big)
    assert info.value.reason == "too_large"


def test_round_trip_is_lossless_and_enriched_matches_schema() -> None:
    mention = decode_mention(orjson.dumps(VALID))
    again = decode_mention(encode_mention(mention))
    assert again == mention
    enriched = EnrichedMention(mention, Enrichment("de", "negative", -0.6, True, 0.91, "lexicon"))
    data = encode_enriched(enriched)
    _validator("enriched_mention.v1.json").validate(orjson.loads(data))
    assert decode_enriched(data) == enriched


def test_dead_letter_keeps_original_bytes_and_matches_schema() -> None:
    import base64

    original = b"\xff\xfe not json"
    record = orjson.loads(encode_dead_letter(
        DecodeError("not_json", "not valid JSON"), topic="mentions.raw", partition=3,
        offset=17, timestamp_ms=1_700_000_000_000, value=original, key=b"k",
        failed_at="2026-11-23T08:00:00.000Z"))
    _validator("dead_letter.v1.json").validate(record)
    assert base64.b64decode(record["original_value_b64"]) == original
    assert record["source"] == {"topic": "mentions.raw", "partition": 3, "offset": 17,
                                "timestamp_ms": 1_700_000_000_000}


def test_future_dated_dead_letter_matches_schema() -> None:
    from streams.event_time import future_dated_detail

    produced = 1_700_000_000_000
    created = parse_rfc3339_ms("2099-01-01T00:00:00Z")
    record = orjson.loads(encode_dead_letter(
        DecodeError("future_dated", future_dated_detail(created, produced, 300_000),
                    field="$.created_at"),
        topic="mentions.raw", partition=0, offset=5, timestamp_ms=produced,
        value=orjson.dumps(VALID), key=None, failed_at="2026-11-23T08:00:00.000Z"))
    _validator("dead_letter.v1.json").validate(record)
    assert record["reason"] == "future_dated"
    assert "2099-01-01T00:00:00.000Z" in record["detail"]
    assert "2023-11-14T22:13:20.000Z" in record["detail"]  # the produced time


def test_dead_letter_reasons_are_the_metrics_reasons() -> None:
    from agents.metrics import DEAD_LETTER_REASONS

    schema = _schema("dead_letter.v1.json")
    # The worker's metric counts the worker's reasons; a source counts its rejected frames
    # itself (mentionwatch_source_frames_rejected_total).
    assert sorted(schema["properties"]["reason"]["enum"]) == sorted(
        (*DEAD_LETTER_REASONS, "bad_frame"))
    with pytest.raises(jsonschema.ValidationError):
        _validator("dead_letter.v1.json").validate(orjson.loads(encode_dead_letter(
            DecodeError("made_up", "x"), topic="t", partition=0, offset=0, timestamp_ms=None,
            value=b"", key=None, failed_at="2026-11-23T08:00:00.000Z")))


def test_complaint_events_match_schema() -> None:
    """Every kind, a correction with what it retracts, and the nulls of an opened event: the
    encoder writes complaint_event.v1 (the property tests of test_partition_crashes validate
    every event of generated runs too)."""
    from streams.tracking import Transition

    schema = _schema("complaint_event.v1.json")
    kinds = schema["properties"]["kind"]["enum"]
    created = 1_700_000_000_000
    for kind in kinds:
        t = Transition(kind=kind, mention_id="9", brand="db", platform="twitter",
                       author_key="twitter:c1", complaint=True, mention_created_at_ms=created,
                       at_ms=created + 60_000,
                       first_response_ms=60_000 if "answered" in kind else None,
                       unanswered_age_ms=None if "answered" in kind else 3_600_000,
                       retracts=("overdue", "ignored") if kind == "corrected" else ())
        record = orjson.loads(encode_complaint_event(t))
        _validator("complaint_event.v1.json").validate(record)
        assert record["event_id"] == t.event_id and record["kind"] == kind
        assert ("retracts" in record) == (kind == "corrected")
    record["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError):
        _validator("complaint_event.v1.json").validate(record)


def test_rfc3339_parsing() -> None:
    assert parse_rfc3339_ms("1970-01-01T00:00:01Z") == 1000
    assert parse_rfc3339_ms("1970-01-01T01:00:00+01:00") == 0
    assert parse_rfc3339_ms("2017-10-31 22:10:47.5z") == 1509487847500
    with pytest.raises(ValueError):
        parse_rfc3339_ms("2017-10-31")


def test_tracking_view_reads_what_decode_enriched_reads() -> None:
    doc = dict(VALID, in_reply_to="77", in_reply_to_author_id="u9", conversation_id="70")
    enriched = EnrichedMention(mention_from_dict(doc),
                               Enrichment("de", "negative", -0.6, True, 0.91, "lexicon"))
    full = decode_enriched(encode_enriched(enriched))
    view, created_ms, complaint = decode_tracking_view(encode_enriched(enriched))
    m = full.mention
    assert (view.id, view.platform, view.brand, view.author.id, view.author.handle,
            view.author.is_brand, created_ms, view.in_reply_to, view.in_reply_to_author_id,
            view.conversation_id, complaint) == (
        m.id, m.platform, m.brand, m.author.id, m.author.handle, m.author.is_brand,
        m.created_at_ms, m.in_reply_to, m.in_reply_to_author_id, m.conversation_id,
        full.enrichment.complaint)


@pytest.mark.parametrize(("data", "reason"), [
    (b"not json", "schema_violation"),
    (b'{"schema_version": 1, "mention": {"id": 5}}', "schema_violation"),
    (b'{"schema_version": 2, "mention": {"id": "1", "platform": "x", "brand": "b", "author": '
     b'{"id": "u", "handle": "h", "is_brand": false}, "created_at": "2026-03-01T00:00:00Z"}, '
     b'"enrichment": {"complaint": true}}', "unknown_schema_version"),
    (b'{"schema_version": 1, "mention": {"id": "1", "platform": "x", "brand": "b", "author": '
     b'{"id": "u", "handle": "h", "is_brand": false}, "created_at": "yesterday"}, '
     b'"enrichment": {"complaint": true}}', "schema_violation"),
    (b'{"schema_version": 1, "mention": {"id": "1", "platform": "x", "brand": "b", "author": '
     b'{"id": "u", "handle": "h", "is_brand": false}, "created_at": "2026-03-01T00:00:00"}, '
     b'"enrichment": {"complaint": true}}', "schema_violation"),
])
def test_tracking_view_rejects_what_tracking_cannot_read(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_tracking_view(data)
    assert info.value.reason == reason


@given(st.integers(min_value=0, max_value=4_102_444_800_000),
       st.sampled_from(["Z", "+00:00", "+05:30", "-08:00"]))
def test_tracking_view_times_equal_rfc3339_parsing(ms: int, offset: str) -> None:
    from datetime import UTC, datetime, timedelta

    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        tz = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])) * sign
        text = (when + tz).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}" + offset
    else:
        text = when.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"
    doc = dict(VALID, created_at=text)
    enriched = EnrichedMention(mention_from_dict(doc),
                               Enrichment("en", "neutral", 0.0, False, 0.1, "lexicon"))
    data = orjson.dumps({**orjson.loads(encode_enriched(enriched)),
                         "mention": {**orjson.loads(encode_mention(enriched.mention)),
                                     "created_at": text}})
    _view, created_ms, _complaint = decode_tracking_view(data)
    assert created_ms == parse_rfc3339_ms(text) == ms
