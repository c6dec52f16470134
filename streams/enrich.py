"""The enrich step: a validated mention + the classifier → the enriched record and its key."""

from __future__ import annotations

from collections.abc import Callable

from schemas.models import EnrichedMention, Enrichment, Mention
from streams.brands import BrandConfig
from streams.classification import Classification
from streams.tracking import Post, post_from_mention, routing_key

ClassifyFn = Callable[[str, str | None], Classification]


class UnroutableMention(ValueError):
    """A brand reply that names no author to route it to (in_reply_to_author_id missing)."""


def enrich(
    mention: Mention, classify: ClassifyFn, classifier_name: str, config: BrandConfig
) -> tuple[EnrichedMention, Post, str]:
    """Classify one mention. Returns the enriched record, the tracking view of it, and the
    partition key for mentions.enriched (see docs/semantics.md, "the routing key")."""
    result = classify(mention.text, mention.lang)
    is_brand = mention.author.is_brand or config.is_brand_account(mention.brand,
                                                                   mention.author.handle)
    # The brand's own posts are never complaints (SEMANTICS).
    complaint = result.complaint and not is_brand
    post = post_from_mention(mention, complaint, config)
    key = routing_key(post)
    if key is None:
        if is_brand and mention.in_reply_to is not None:
            raise UnroutableMention(
                "brand reply without in_reply_to_author_id: it can't be matched to the "
                "customer's mentions"
            )
        # A brand post that replies to nobody answers nothing; key it by its own author.
        key = f"{mention.platform}:{mention.author.id}"
    enrichment = Enrichment(
        language=result.language,
        sentiment=result.sentiment,
        sentiment_score=round(result.sentiment_score, 4),
        complaint=complaint,
        complaint_score=round(result.complaint_score, 4),
        classifier=classifier_name,
    )
    return EnrichedMention(mention=mention, enrichment=enrichment), post, key
