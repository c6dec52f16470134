"""Plain dataclasses for the records on the wire (see the *.v1.json files beside this)."""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1  # of every record mentionwatch writes: mention, enriched, dead letter, event
# A brand key: the brand file's section name and every record's "brand" (one pattern for both).
BRAND_KEY_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}"


@dataclass(frozen=True, slots=True)
class Author:
    id: str
    handle: str
    is_brand: bool


@dataclass(frozen=True, slots=True)
class Mention:
    """A raw mention (mention.v1.json). ``created_at_ms`` is the event time in epoch milliseconds,
    parsed once from ``created_at`` (kept verbatim so re-encoding is lossless)."""

    id: str
    platform: str
    brand: str
    author: Author
    text: str
    created_at: str
    created_at_ms: int
    in_reply_to: str | None = None
    in_reply_to_author_id: str | None = None
    conversation_id: str | None = None
    lang: str | None = None
    url: str | None = None
    followers: int | None = None


@dataclass(frozen=True, slots=True)
class Enrichment:
    language: str
    sentiment: str
    sentiment_score: float
    complaint: bool
    complaint_score: float
    classifier: str


@dataclass(frozen=True, slots=True)
class EnrichedMention:
    mention: Mention
    enrichment: Enrichment
