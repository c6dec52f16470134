"""The wire contract: JSON Schema files, the Python models and the orjson codec."""

from schemas.codec import (
    MAX_RECORD_BYTES,
    DecodeError,
    decode_enriched,
    decode_mention,
    encode_complaint_event,
    encode_enriched,
    encode_mention,
    mention_from_dict,
    parse_rfc3339_ms,
)
from schemas.models import Author, EnrichedMention, Enrichment, Mention

__all__ = [
    "MAX_RECORD_BYTES",
    "Author",
    "DecodeError",
    "EnrichedMention",
    "Enrichment",
    "Mention",
    "decode_enriched",
    "decode_mention",
    "encode_complaint_event",
    "encode_enriched",
    "encode_mention",
    "mention_from_dict",
    "parse_rfc3339_ms",
]
