"""The enrich step: a validated mention + the classifier → the enriched record and its key."""

from __future__ import annotations

from collections.abc import Callable

from schemas.models import EnrichedMention, Enrichment, Mention
from streams.brands import BrandConfig
from streams.classification import Classification
from streams.tracking import Post, post_from_mention, routing_key, state_key

ClassifyFn = Callable[[str, str | None], Classification]


class UnroutableMention(ValueError):
    """A brand reply that names no author to route it to (in_reply_to_author_id missing)."""


def partition_key(mention: Mention, config: BrandConfig) -> str:
    """The key mentions are partitioned by, raw and enriched alike: the post's state key (its
    routing key, the customer, see docs/explanation/semantics.md; for a brand post that replies
    to nobody its own author). Producers that key mentions.raw by it let the worker track a
    mention in the partition it arrived in, without a second hop through Kafka. Raises
    UnroutableMention for a brand reply that names no author (in_reply_to_author_id missing)."""
    return _partition_key_of(post_from_mention(mention, False, config))


def _partition_key_of(post: Post) -> str:
    if routing_key(post) is None and post.is_brand and post.in_reply_to is not None:
        raise UnroutableMention(
            "brand reply without in_reply_to_author_id: it can't be matched to the "
            "customer's mentions"
        )
    return state_key(post)


def producer_key(mention: Mention, config: BrandConfig) -> str:
    """The key to write a raw mention with: partition_key, or for a mention the worker will
    dead-letter as unroutable, its author (so producers never refuse a valid record)."""
    return state_key(post_from_mention(mention, False, config))


def enrich(
    mention: Mention, classify: ClassifyFn, classifier_name: str, config: BrandConfig
) -> tuple[EnrichedMention, Post, str]:
    """Classify one mention. Returns the enriched record, the tracking view of it, and the
    partition key for mentions.enriched (see partition_key)."""
    result = classify(mention.text, mention.lang)
    post = post_from_mention(mention, result.complaint, config)  # brand posts: never complaints
    key = _partition_key_of(post)
    enrichment = Enrichment(
        language=result.language,
        sentiment=result.sentiment,
        sentiment_score=round(result.sentiment_score, 4),
        complaint=post.complaint,
        complaint_score=round(result.complaint_score, 4),
        classifier=classifier_name,
    )
    return EnrichedMention(mention=mention, enrichment=enrichment), post, key
