"""orjson codec and validation for the wire contract.

Validation is hand-written (it runs once per record on the hot path) and kept in agreement with
the JSON Schema files by tests/test_schemas.py, which checks both against the same corpus.
Errors name the field (as a JSON path) and say why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from schemas.models import (
    BRAND_KEY_PATTERN,
    SCHEMA_VERSION,
    Author,
    EnrichedMention,
    Enrichment,
    Mention,
)

if TYPE_CHECKING:  # only its attributes are read: a runtime import would be a cycle
    from streams.tracking import Transition

# A raw record larger than this is dead-lettered as too_large before it is parsed.
MAX_RECORD_BYTES = 64 * 1024
MAX_TEXT_CHARS = 20_000
MAX_ID_CHARS = 256

_PLATFORM_RE = re.compile(r"[a-z][a-z0-9_.-]{0,31}")
_BRAND_RE = re.compile(BRAND_KEY_PATTERN)
_LANG_RE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]+)*")
_RFC3339_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_TOP_LEVEL = frozenset(
    {
        "schema_version", "id", "platform", "brand", "author", "text", "created_at",
        "in_reply_to", "in_reply_to_author_id", "conversation_id", "lang", "url", "followers",
    }
)
_AUTHOR_FIELDS = frozenset({"id", "handle", "is_brand"})


@dataclass(frozen=True, slots=True)
class DecodeError(Exception):
    """Why a record was rejected. ``reason`` is one of the dead-letter reasons."""

    reason: str
    detail: str
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}" if self.field else self.detail


def _fail(field: str, detail: str, reason: str = "schema_violation") -> DecodeError:
    return DecodeError(reason=reason, detail=detail, field=field)


def parse_rfc3339_ms(value: str) -> int:
    """RFC 3339 timestamp → epoch milliseconds. Raises ValueError if not RFC 3339 with an offset."""
    if not _RFC3339_RE.fullmatch(value):
        raise ValueError(f"not an RFC 3339 timestamp with offset: {value!r}")
    text = value.replace("t", "T").replace(" ", "T")
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    return _epoch_ms(datetime.fromisoformat(text))


def format_rfc3339_ms(ms: int) -> str:
    """Epoch milliseconds → RFC 3339 in UTC with milliseconds ("2026-12-03T15:04:05.123Z")."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def _epoch_ms(moment: datetime) -> int:
    """An aware datetime → epoch ms, floored. Integer arithmetic: no float rounding in event
    times (audits must be exact)."""
    return (moment - _EPOCH) // _MILLISECOND


def _string(obj: dict[str, Any], key: str, path: str, *, required: bool, max_len: int,
            min_len: int = 1) -> str | None:
    value = obj.get(key)
    if value is None:
        if required or (key in obj and min_len == 0):
            raise _fail(path, "is required" if key not in obj else "must be a string, not null")
        return None
    if type(value) is not str:
        raise _fail(path, f"must be a string, got {type(value).__name__}")
    if len(value) < min_len:
        raise _fail(path, "must not be empty")
    if len(value) > max_len:
        raise _fail(path, f"is {len(value)} characters, at most {max_len} allowed")
    return value


def mention_from_dict(obj: Any) -> Mention:
    """Validate a decoded JSON value against mention.v1 and build the model."""
    if type(obj) is not dict:
        raise _fail("$", f"must be a JSON object, got {type(obj).__name__}")
    if "schema_version" not in obj:
        raise _fail("$.schema_version", "is required")
    version = obj["schema_version"]
    if version != SCHEMA_VERSION or type(version) is not int:
        raise DecodeError(
            reason="unknown_schema_version",
            detail=f"{version!r} is not a known version (expected {SCHEMA_VERSION})",
            field="$.schema_version",
        )
    extra = obj.keys() - _TOP_LEVEL
    if extra:
        raise _fail("$." + sorted(extra)[0], "is not a field of mention.v1")

    mention_id = _string(obj, "id", "$.id", required=True, max_len=MAX_ID_CHARS)
    platform = _string(obj, "platform", "$.platform", required=True, max_len=32)
    assert platform is not None and mention_id is not None
    if not _PLATFORM_RE.fullmatch(platform):
        raise _fail("$.platform", f"{platform!r} must be lower-case letters, digits, _ . -")
    brand = _string(obj, "brand", "$.brand", required=True, max_len=64)
    assert brand is not None
    if not _BRAND_RE.fullmatch(brand):
        raise _fail("$.brand", f"{brand!r} must be letters, digits, _ . - (a brand key)")

    author_obj = obj.get("author")
    if author_obj is None:
        raise _fail("$.author", "is required")
    if type(author_obj) is not dict:
        raise _fail("$.author", f"must be an object, got {type(author_obj).__name__}")
    extra = author_obj.keys() - _AUTHOR_FIELDS
    if extra:
        raise _fail("$.author." + sorted(extra)[0], "is not a field of author")
    author_id = _string(author_obj, "id", "$.author.id", required=True, max_len=MAX_ID_CHARS)
    handle = _string(author_obj, "handle", "$.author.handle", required=True, max_len=256,
                     min_len=0)
    if "is_brand" not in author_obj:
        raise _fail("$.author.is_brand", "is required")
    is_brand = author_obj["is_brand"]
    if type(is_brand) is not bool:
        raise _fail("$.author.is_brand", f"must be true or false, got {type(is_brand).__name__}")

    if "text" not in obj:
        raise _fail("$.text", "is required")
    text = obj["text"]
    if type(text) is not str:
        raise _fail("$.text", f"must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise DecodeError(
            reason="too_large",
            detail=f"is {len(text)} characters, at most {MAX_TEXT_CHARS} allowed",
            field="$.text",
        )

    created_at = _string(obj, "created_at", "$.created_at", required=True, max_len=64)
    assert created_at is not None
    try:
        created_at_ms = parse_rfc3339_ms(created_at)
    except ValueError:
        raise _fail("$.created_at",
                    f"{created_at!r} is not an RFC 3339 date-time with offset") from None

    lang = _string(obj, "lang", "$.lang", required=False, max_len=35)
    if lang is not None and not _LANG_RE.fullmatch(lang):
        raise _fail("$.lang", f"{lang!r} is not a language tag")
    followers = obj.get("followers")
    if followers is not None and (type(followers) is not int or followers < 0):
        raise _fail("$.followers", "must be a non-negative integer")

    return Mention(
        id=mention_id,
        platform=platform,
        brand=brand,
        author=Author(id=author_id or "", handle=handle or "", is_brand=is_brand),
        text=text,
        created_at=created_at,
        created_at_ms=created_at_ms,
        in_reply_to=_string(obj, "in_reply_to", "$.in_reply_to", required=False,
                            max_len=MAX_ID_CHARS),
        in_reply_to_author_id=_string(obj, "in_reply_to_author_id", "$.in_reply_to_author_id",
                                      required=False, max_len=MAX_ID_CHARS),
        conversation_id=_string(obj, "conversation_id", "$.conversation_id", required=False,
                                max_len=MAX_ID_CHARS),
        lang=lang,
        url=_string(obj, "url", "$.url", required=False, max_len=2048, min_len=0),
        followers=followers,
    )


def decode_mention(data: bytes | None, *, max_bytes: int = MAX_RECORD_BYTES) -> Mention:
    """Bytes from mentions.raw → Mention, or DecodeError (not_json, too_large, schema_violation,
    unknown_schema_version)."""
    if data is None:
        raise DecodeError(reason="not_json", detail="record has no value (tombstone)")
    if len(data) > max_bytes:
        raise DecodeError(
            reason="too_large", detail=f"record is {len(data)} bytes, at most {max_bytes} allowed"
        )
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(reason="not_json", detail=f"not valid JSON: {exc}") from None
    return mention_from_dict(obj)


def mention_to_dict(m: Mention) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "id": m.id,
        "platform": m.platform,
        "brand": m.brand,
        "author": {"id": m.author.id, "handle": m.author.handle, "is_brand": m.author.is_brand},
        "text": m.text,
        "created_at": m.created_at,
    }
    for key in ("in_reply_to", "in_reply_to_author_id", "conversation_id", "lang", "url",
                "followers"):
        value = getattr(m, key)
        if value is not None:
            out[key] = value
    return out


def encode_mention(m: Mention) -> bytes:
    return orjson.dumps(mention_to_dict(m))


def encode_enriched(e: EnrichedMention) -> bytes:
    en = e.enrichment
    return orjson.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "mention": mention_to_dict(e.mention),
            "enrichment": {
                "language": en.language,
                "sentiment": en.sentiment,
                "sentiment_score": en.sentiment_score,
                "complaint": en.complaint,
                "complaint_score": en.complaint_score,
                "classifier": en.classifier,
            },
        }
    )


def complaint_event_to_dict(t: Transition) -> dict[str, Any]:
    """A transition as its complaint_event.v1 record (JSON object)."""
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "event_id": t.event_id,
        "kind": t.kind,
        "mention_id": t.mention_id,
        "brand": t.brand,
        "platform": t.platform,
        "author_key": t.author_key,
        "complaint": t.complaint,
        "mention_created_at_ms": t.mention_created_at_ms,
        "at_ms": t.at_ms,
        "first_response_ms": t.first_response_ms,
        "unanswered_age_ms": t.unanswered_age_ms,
    }
    if t.kind == "corrected":
        out["retracts"] = list(t.retracts)
    return out


def encode_complaint_event(t: Transition) -> bytes:
    """The bytes of a complaints.events record (complaint_event.v1.json)."""
    return orjson.dumps(complaint_event_to_dict(t))


class AuthorView(msgspec.Struct):
    id: str
    handle: str
    is_brand: bool


class MentionView(msgspec.Struct):
    """The fields of an enriched record's mention that tracking reads."""

    id: str
    platform: str
    brand: str
    author: AuthorView
    created_at: datetime  # parsed by msgspec in C: 4x faster than parsing the string here
    in_reply_to: str | None = None
    in_reply_to_author_id: str | None = None
    conversation_id: str | None = None
    followers: int | None = None  # the author's, where the platform gives it (audit reach)


class _EnrichmentView(msgspec.Struct):
    complaint: bool
    classifier: str = ""


class _EnrichedView(msgspec.Struct):
    schema_version: int
    mention: MentionView
    enrichment: _EnrichmentView


_ENRICHED_VIEW = msgspec.json.Decoder(_EnrichedView)


def decode_tracking_view(data: bytes) -> tuple[MentionView, int, bool]:
    """A record of mentions.enriched → (the mention's fields tracking reads, its created_at in
    epoch ms, complaint), type-checked while parsed. msgspec skips the text and the other
    fields without building them: several times faster than decode_enriched, whose checks the
    workers' own records have passed already. Raises DecodeError."""
    m, created_ms, complaint, _classifier = decode_tracking_record(data)
    return m, created_ms, complaint


def decode_tracking_record(data: bytes) -> tuple[MentionView, int, bool, str]:
    """decode_tracking_view, and the name of the classifier that classified the record."""
    try:
        view = _ENRICHED_VIEW.decode(data)
    except msgspec.DecodeError as exc:
        raise DecodeError(reason="schema_violation", detail=str(exc)) from None
    if view.schema_version != SCHEMA_VERSION:
        raise DecodeError(reason="unknown_schema_version", detail="not an enriched_mention.v1",
                          field="$.schema_version")
    m = view.mention
    if m.created_at.tzinfo is None:
        raise _fail("$.mention.created_at", "must have a UTC offset")
    return m, _epoch_ms(m.created_at), view.enrichment.complaint, view.enrichment.classifier


_SENTIMENTS = frozenset({"negative", "neutral", "positive"})
_LANGUAGES = frozenset({"de", "en", "und"})


def decode_enriched(data: bytes) -> EnrichedMention:
    """Bytes from mentions.enriched → EnrichedMention (validated; raises DecodeError)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(reason="not_json", detail=f"not valid JSON: {exc}") from None
    if type(obj) is not dict or obj.get("schema_version") != SCHEMA_VERSION:
        raise DecodeError(reason="unknown_schema_version", detail="not an enriched_mention.v1",
                          field="$.schema_version")
    mention = mention_from_dict(obj.get("mention"))
    en = obj.get("enrichment")
    if type(en) is not dict:
        raise _fail("$.enrichment", "is required and must be an object")
    try:
        enrichment = Enrichment(
            language=en["language"],
            sentiment=en["sentiment"],
            sentiment_score=float(en["sentiment_score"]),
            complaint=bool(en["complaint"]),
            complaint_score=float(en["complaint_score"]),
            classifier=str(en["classifier"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail("$.enrichment", f"missing or malformed field {exc}") from None
    if enrichment.language not in _LANGUAGES:
        raise _fail("$.enrichment.language", f"{enrichment.language!r} is not de, en or und")
    if enrichment.sentiment not in _SENTIMENTS:
        raise _fail("$.enrichment.sentiment", f"{enrichment.sentiment!r} is not a sentiment")
    return EnrichedMention(mention=mention, enrichment=enrichment)


def encode_dead_letter(
    error: DecodeError,
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    value: bytes | None,
    key: bytes | None,
    failed_at: str,
) -> bytes:
    """A dead_letter.v1 record: the original bytes (base64), the reason and where it came from."""
    import base64

    return orjson.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "reason": error.reason,
            "detail": error.detail,
            "field": error.field,
            "source": {"topic": topic, "partition": partition, "offset": offset,
                       "timestamp_ms": timestamp_ms},
            "original_value_b64": base64.b64encode(value or b"").decode(),
            "original_key_b64": base64.b64encode(key).decode() if key is not None else None,
            "failed_at": failed_at,
        }
    )


def encode_deletion(*, platform: str, id: str, author_id: str, deleted_at: str) -> bytes:
    """A deletion.v1 record (mentions.deletions): a post a source produced was deleted."""
    return orjson.dumps({"schema_version": SCHEMA_VERSION, "platform": platform, "id": id,
                         "author_id": author_id, "deleted_at": deleted_at})


@dataclass(frozen=True, slots=True)
class SourceCursor:
    """A source's durable position (source_cursor.v1.json, on the compacted sources topic,
    keyed by the source's name). `position` is the platform's (Bluesky: time_us; Mastodon: the
    newest ids read per feed); `raw_offsets` are mentions.raw's end offsets once everything
    produced before this cursor was acknowledged, so a restart reads from there to learn what
    was produced after it; `recent_ids` are the ids produced in the overlap a restart reads
    again (Bluesky resumes a few seconds early)."""

    source: str
    platform: str
    position: dict[str, Any]
    raw_offsets: dict[int, int]
    recent_ids: tuple[str, ...]
    saved_at: str


def encode_source_cursor(cursor: SourceCursor) -> bytes:
    return orjson.dumps({
        "schema_version": SCHEMA_VERSION, "source": cursor.source, "platform": cursor.platform,
        "position": cursor.position,
        "raw_offsets": {str(p): o for p, o in sorted(cursor.raw_offsets.items())},
        "recent_ids": list(cursor.recent_ids), "saved_at": cursor.saved_at})


def _version_1_object(data: bytes) -> dict[str, Any]:
    """A JSON object of schema_version 1, else DecodeError (for the small records the shell
    writes itself: cursors, brand configurations)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("not_json", f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise _fail("$", "must be an object")
    if obj.get("schema_version") != SCHEMA_VERSION:
        raise _fail("$.schema_version", f"{obj.get('schema_version')!r} is not 1",
                    "unknown_schema_version")
    return obj


def decode_source_cursor(data: bytes) -> SourceCursor:
    """Raises DecodeError naming the field (a cursor from a newer version, or damaged)."""
    obj = _version_1_object(data)
    for key, kind in (("source", str), ("platform", str), ("position", dict),
                      ("raw_offsets", dict), ("recent_ids", list), ("saved_at", str)):
        if not isinstance(obj.get(key), kind):
            raise _fail(f"$.{key}", f"missing or not a {kind.__name__}")
    try:
        offsets = {int(p): int(o) for p, o in obj["raw_offsets"].items()}
    except (TypeError, ValueError):
        raise _fail("$.raw_offsets", "must map partition numbers to offsets") from None
    if not all(isinstance(i, str) for i in obj["recent_ids"]):
        raise _fail("$.recent_ids", "must be a list of strings")
    return SourceCursor(obj["source"], obj["platform"], obj["position"], offsets,
                        tuple(obj["recent_ids"]), obj["saved_at"])


@dataclass(frozen=True, slots=True)
class RecordedBrandConfig:
    """A brand configuration a worker ran with (brand_config.v1.json, on the compacted
    configuration topic): in force from `effective_at` until the next one. `toml` is the brands
    file's text (None: the built-in default, no file); `sha256` is the hash of the parsed
    configuration (streams.brands.brand_config_sha256), which replay checks on reading."""

    effective_ms: int
    sha256: str
    source: str
    toml: str | None
    mentionwatch_version: str

    @property
    def key(self) -> bytes:
        """One key per version (compaction keeps every version, and a repeat of the same
        record only once)."""
        return f"{self.effective_ms:013d}:{self.sha256}".encode()


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def encode_brand_config(record: RecordedBrandConfig) -> bytes:
    return orjson.dumps({
        "schema_version": SCHEMA_VERSION,
        "effective_at": format_rfc3339_ms(record.effective_ms),
        "effective_ms": record.effective_ms, "sha256": record.sha256, "source": record.source,
        "toml": record.toml, "mentionwatch_version": record.mentionwatch_version})


def decode_brand_config(data: bytes) -> RecordedBrandConfig:
    """Raises DecodeError naming the field (a record from a newer version, or damaged)."""
    obj = _version_1_object(data)
    for key, kinds in (("effective_at", (str,)), ("effective_ms", (int,)), ("sha256", (str,)),
                       ("source", (str,)), ("toml", (str, type(None))),
                       ("mentionwatch_version", (str,))):
        value = obj.get(key)
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise _fail(f"$.{key}", "missing or of the wrong type")
    if obj["effective_ms"] < 0:
        raise _fail("$.effective_ms", "must not be negative")
    if not _SHA256.match(obj["sha256"]):
        raise _fail("$.sha256", "must be 64 lower-case hex digits")
    return RecordedBrandConfig(obj["effective_ms"], obj["sha256"], obj["source"], obj["toml"],
                               obj["mentionwatch_version"])
