"""Bluesky's Jetstream (v1 ``/subscribe`` JSON frames) → what to do with each frame (pure).

A frame is ``{"did", "time_us", "kind": "commit"|"identity"|"account", "commit": {"rev",
"operation", "collection", "rkey", "record"?, "cid"?}}``; the record of an app.bsky.feed.post
create is the post as its author's PDS stored it (lexicons app.bsky.feed.post,
app.bsky.richtext.facet, app.bsky.embed.record, app.bsky.embed.recordWithMedia). Unknown fields
anywhere are ignored, so a newer Jetstream or lexicon revision keeps working.

Almost every post on the firehose concerns no brand: the brand is decided from the few fields
that can name one before anything else is checked or built, and a post naming none is skipped
without its remaining fields looked at (a stranger's post is not ours to dead-letter).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from schemas.codec import DecodeError, mention_from_dict, parse_rfc3339_ms
from schemas.models import SCHEMA_VERSION
from streams.sources.matching import BrandIndex
from streams.sources.outcome import Deleted, Outcome, Produce, Reject, Skip

PLATFORM = "bluesky"
POST_COLLECTION = "app.bsky.feed.post"

_MENTION = "app.bsky.richtext.facet#mention"
_TAG = "app.bsky.richtext.facet#tag"
_EMBED_RECORD = "app.bsky.embed.record"
_EMBED_RECORD_WITH_MEDIA = "app.bsky.embed.recordWithMedia"

# atproto DID syntax (method lower-case letters; identifier without a trailing ':' or '%').
_DID_RE = re.compile(r"did:[a-z]+:[A-Za-z0-9._:%-]*[A-Za-z0-9._-]")
# atproto record-key syntax; "." and ".." are excluded separately. A key outside it could
# smuggle '/' or '?' into the post's id and URL.
_RKEY_RE = re.compile(r"[A-Za-z0-9._:~-]{1,512}")
# The schema's created_at pattern, ASCII digits only (re's \d would take any script's digits)
# and at most 6 fraction digits: beyond microseconds Python truncates and msgspec (the tracking
# reader) rounds, so the two would disagree about the event time by a millisecond.
_CREATED_AT_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
_LANG_RE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]+)*")  # mention.v1's lang pattern
_LANG_MAX = 35  # the codec's bound on lang

_JSON_TYPES: dict[type, str] = {
    dict: "object", list: "array", str: "string", int: "integer", float: "number",
    bool: "boolean", type(None): "null",
}


def post_uri(did: str, rkey: str) -> str:
    """The at:// URI of a post: its id in mention.v1 (stable, and what replies and quotes cite)."""
    return f"at://{did}/{POST_COLLECTION}/{rkey}"


def did_of_uri(uri: str) -> str | None:
    """The authority of an at:// URI when it is a DID; None for a handle or a non-at:// string."""
    if not uri.startswith("at://"):
        return None
    authority = uri[5:]
    for sep in "/?#":
        cut = authority.find(sep)
        if cut >= 0:
            authority = authority[:cut]
    return authority if _DID_RE.fullmatch(authority) else None


def post_url(did: str, rkey: str) -> str:
    """The post on bsky.app (the profile path takes a DID as well as a handle; a DID stays)."""
    return f"https://bsky.app/profile/{did}/post/{rkey}"


def facet_span(text: str, byte_start: int, byte_end: int) -> str | None:
    """The text a facet covers (UTF-8 byte offsets, end exclusive); None when the range is
    empty, out of range or not on UTF-8 character boundaries."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: no UTF-8 offsets exist
        return None
    return _span(data, byte_start, byte_end)


def _span(data: bytes, start: int, end: int) -> str | None:
    if not 0 <= start < end <= len(data):
        return None
    # A UTF-8 continuation byte is 0b10xxxxxx: an offset landing on one splits a character.
    if data[start] & 0xC0 == 0x80 or (end < len(data) and data[end] & 0xC0 == 0x80):
        return None
    return data[start:end].decode("utf-8")


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _bad_frame(field: str, detail: str) -> Reject:
    return Reject("bad_frame", f"{field}: {detail}")


def _bad_post(field: str, detail: str) -> Reject:
    return Reject("bad_post", f"commit.record.{field}: {detail}")


def parse_jetstream_frame(frame: bytes | str, brands: BrandIndex) -> tuple[int | None, Outcome]:
    """(the frame's time_us when readable, else None; what to do).

    Reject reasons: not_json, bad_frame (the envelope or commit), bad_post (the post record
    breaks the lexicon), or the codec's reason when the mention fails mention.v1. Skip reasons:
    identity, account, unknown_kind, not_a_post, update, unknown_operation,
    brand_post_not_reply, no_brand. The time_us is returned with every outcome it could be read
    for, so the caller's cursor moves past skipped and rejected frames too.
    """
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        return None, Reject("not_json", f"not valid JSON: {exc}")
    if type(obj) is not dict:
        return None, Reject("bad_frame", f"frame must be a JSON object, got {_json_type(obj)}")

    time_us = obj.get("time_us")
    if type(time_us) is not int or time_us <= 0:
        return None, _bad_frame("time_us", f"must be a positive integer, got {_json_type(time_us)}")
    did = obj.get("did")
    if type(did) is not str or not did.startswith("did:"):
        return time_us, _bad_frame("did", f"must be a DID string, got {_json_type(did)}")
    kind = obj.get("kind")
    if type(kind) is not str:
        return time_us, _bad_frame("kind", f"must be a string, got {_json_type(kind)}")
    if kind != "commit":
        return time_us, Skip(kind if kind in ("identity", "account") else "unknown_kind")

    commit = obj.get("commit")
    if type(commit) is not dict:
        return time_us, _bad_frame("commit", f"must be an object, got {_json_type(commit)}")
    collection = commit.get("collection")
    if type(collection) is not str:
        return time_us, _bad_frame("commit.collection",
                                   f"must be a string, got {_json_type(collection)}")
    if collection != POST_COLLECTION:
        return time_us, Skip("not_a_post")

    # A post's id is built from the DID and rkey: both must be well-formed to be ids at all.
    if not _DID_RE.fullmatch(did):
        return time_us, _bad_frame("did", "is not a DID")
    rkey = commit.get("rkey")
    if type(rkey) is not str or not _RKEY_RE.fullmatch(rkey) or rkey in (".", ".."):
        return time_us, _bad_frame("commit.rkey", "must be a record key")
    operation = commit.get("operation")
    if operation == "create":
        return time_us, _created(did, rkey, commit.get("record"), brands)
    if operation == "delete":
        return time_us, Deleted(platform=PLATFORM, id=post_uri(did, rkey), author_id=did,
                                at_ms=time_us // 1000)
    if operation == "update":
        # Posts are immutable in Bluesky's app; should an edit ever come, the first version is
        # the one the brand was measured against.
        return time_us, Skip("update")
    if type(operation) is str:
        return time_us, Skip("unknown_operation")  # a future operation: not ours to judge
    return time_us, _bad_frame("commit.operation",
                               f"must be a string, got {_json_type(operation)}")


def _reply_uris(reply: object) -> tuple[str, str] | Reject | None:
    """(parent URI, root URI) of a reply; None for a top-level post; Reject if malformed."""
    if reply is None:
        return None
    if type(reply) is not dict:
        return _bad_post("reply", f"must be an object, got {_json_type(reply)}")
    uris: list[str] = []
    for key in ("parent", "root"):
        ref = reply.get(key)
        if type(ref) is not dict:
            return _bad_post(f"reply.{key}", "is required" if ref is None
                             else f"must be an object, got {_json_type(ref)}")
        uri = ref.get("uri")
        if type(uri) is not str or not uri.startswith("at://"):
            return _bad_post(f"reply.{key}.uri", "is required" if uri is None
                             else "must be an at:// URI")
        uris.append(uri)
    return uris[0], uris[1]


def _created(did: str, rkey: str, record: object, brands: BrandIndex) -> Outcome:
    """A post was created: its brand from the fields that are well-formed, then, only if it
    has one, the lexicon checks and the mention. A stranger's malformed post naming no brand is
    skipped, not dead-lettered: its bytes are not ours to keep."""
    if type(record) is not dict:
        return Reject("bad_post", "commit.record: is required" if record is None
                      else f"commit.record: must be an object, got {_json_type(record)}")
    text = record.get("text")
    reply = _reply_uris(record.get("reply"))
    parent_uri, root_uri = reply if isinstance(reply, tuple) else (None, None)

    author_brand = brands.brand_of_bluesky_did(did)
    if author_brand is not None:
        if reply is None:  # announcements answer nobody: nothing to measure
            return Skip("brand_post_not_reply")
        brand = author_brand
    else:
        named = _brand_named(record, text if type(text) is str else None, parent_uri, root_uri,
                             brands)
        if named is None:
            return Skip("no_brand")
        brand = named

    if type(text) is not str:
        return _bad_post("text", "is required" if text is None
                         else f"must be a string, got {_json_type(text)}")
    if isinstance(reply, Reject):
        return reply
    created_at = record.get("createdAt")
    if type(created_at) is not str:
        return _bad_post("createdAt", "is required" if created_at is None
                         else f"must be a string, got {_json_type(created_at)}")
    if not _CREATED_AT_RE.fullmatch(created_at):
        return _bad_post("createdAt", "is not an RFC 3339 date-time with time zone "
                                      "(at most 6 fraction digits)")
    try:
        parse_rfc3339_ms(created_at)  # the pattern passes month 13 or hour 25; this doesn't
    except ValueError:
        return _bad_post("createdAt", "is not a valid date-time")

    is_brand = author_brand is not None
    # Posts carry no handle, and a brand's configured handles can't be told apart by DID: the
    # DID is the handle (it is also among the brand's accounts, so the worker knows it).
    handle = did
    fields: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "id": post_uri(did, rkey),
        "platform": PLATFORM,
        "brand": brand,
        "author": {"id": did, "handle": handle, "is_brand": is_brand},
        "text": text,
        "created_at": created_at,
        "url": post_url(did, rkey),
    }
    # The codec refuses null for some optional fields: absent ones are left out.
    if parent_uri is not None:
        fields["in_reply_to"] = parent_uri
        parent_did = did_of_uri(parent_uri)
        if parent_did is not None:
            fields["in_reply_to_author_id"] = parent_did
    if root_uri is not None:
        fields["conversation_id"] = root_uri
    lang = _lang(record.get("langs"))
    if lang is not None:
        fields["lang"] = lang
    try:
        mention = mention_from_dict(fields)
    except DecodeError as exc:
        return Reject(exc.reason, str(exc))
    return Produce(mention)


def _brand_named(record: dict[str, Any], text: str | None, parent_uri: str | None,
                 root_uri: str | None, brands: BrandIndex) -> str | None:
    """The brand a stranger's post concerns, strongest sign first: a reply in the brand's
    thread, a mention, a quote, a hashtag, a keyword. Without a text (malformed) there are no
    facet spans and no keywords to read."""
    for uri in (parent_uri, root_uri):
        if uri is not None:
            uri_did = did_of_uri(uri)
            if uri_did is not None and (brand := brands.brand_of_bluesky_did(uri_did)):
                return brand

    tags: list[str] = []
    facets = record.get("facets") if text is not None else None
    for feature in _facet_features(facets, text or ""):
        ftype = feature.get("$type")
        if ftype == _MENTION:
            mentioned = feature.get("did")
            if type(mentioned) is str and (brand := brands.brand_of_bluesky_did(mentioned)):
                return brand
        elif ftype == _TAG:
            tag = feature.get("tag")
            if type(tag) is str:
                tags.append(tag)

    quoted = _quoted_uri(record.get("embed"))
    if quoted is not None:
        quoted_did = did_of_uri(quoted)
        if quoted_did is not None and (brand := brands.brand_of_bluesky_did(quoted_did)):
            return brand

    record_tags = record.get("tags")
    if type(record_tags) is list:
        tags.extend(t for t in record_tags if type(t) is str)
    if tags and (brand := brands.brand_of_hashtags(tags)):
        return brand
    return brands.brand_of_text(text) if text is not None else None


def _facet_features(facets: object, text: str) -> Iterator[dict[str, Any]]:
    """The features of the facets that cover a visible span of the text, in the record's order.
    Malformed facets are skipped, and so are empty or blank spans (Bluesky's app shows them as
    plain text: an invisible mention names no one) and spans out of range or splitting a
    character (only a broken client writes them; the app would clamp them or show U+FFFD)."""
    if type(facets) is not list or not facets:
        return
    data: bytes | None = None
    for facet in facets:
        if type(facet) is not dict:
            continue
        index = facet.get("index")
        features = facet.get("features")
        if type(index) is not dict or type(features) is not list:
            continue
        start, end = index.get("byteStart"), index.get("byteEnd")
        if type(start) is not int or type(end) is not int:
            continue
        if data is None:  # encoded once per post, and only for posts with facets
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError:
                return
        span = _span(data, start, end)
        if span is None or not span.strip():
            continue
        for feature in features:
            if type(feature) is dict:
                yield feature


def _quoted_uri(embed: object) -> str | None:
    """The URI a quote post embeds (alone, or with media); None for other or malformed embeds."""
    if type(embed) is not dict:
        return None
    etype = embed.get("$type")
    if etype == _EMBED_RECORD_WITH_MEDIA:
        embed = embed.get("record")  # an app.bsky.embed.record beside the media
        if type(embed) is not dict:
            return None
    elif etype != _EMBED_RECORD:
        return None
    ref = embed.get("record")
    if type(ref) is not dict:
        return None
    uri = ref.get("uri")
    return uri if type(uri) is str else None


def _lang(langs: object) -> str | None:
    """The post's first language as mention.v1 takes it (primary subtag lower-cased: 'DE' →
    'de'); None when absent or not a language tag (it is a hint, not worth a rejection)."""
    if type(langs) is not list or not langs:
        return None
    first = langs[0]
    if type(first) is not str or len(first) > _LANG_MAX or not first.isascii():
        return None
    primary, sep, rest = first.partition("-")
    tag = primary.lower() + sep + rest
    return tag if _LANG_RE.fullmatch(tag) else None
