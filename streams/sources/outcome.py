"""What a source does with one platform event: the parsers' result types (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.models import Mention


@dataclass(frozen=True, slots=True)
class Produce:
    """Produce this mention to mentions.raw."""

    mention: Mention


@dataclass(frozen=True, slots=True)
class Deleted:
    """The platform says the post `id` (as a mention's id) was deleted at `at_ms` (epoch ms)."""

    platform: str
    id: str
    author_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class Skip:
    """Nothing to produce, for a counted reason: 'no_brand' (a post naming no configured brand),
    'not_a_post', 'identity', 'account', 'update' (an edit: the first version counts),
    'brand_post_not_reply' (the brand's own post answering nobody) ..."""

    reason: str


@dataclass(frozen=True, slots=True)
class Reject:
    """The event can't be parsed or breaks the platform's format: dead-letter its bytes.
    `reason` is short and stable (metric label); `detail` says which field and why (never the
    post's text)."""

    reason: str
    detail: str


Outcome = Produce | Deleted | Skip | Reject
