"""Mastodon, the pure part: a streaming websocket message, a notification or a Status entity →
what to produce (a mention.v1), or why nothing (Skip) or why it is rejected (Reject).

The shell (agents/sources) connects to the instance's streaming API as the brand account (the
`user` or `user:notification` stream) or to `hashtag` streams, fetches the parent of a reply
over REST when it needs one, and remembers status id → StatusRef for deletions (a `delete`
event carries only the instance-local status id, while a mention's id is the status's `uri`).

Formats: https://docs.joinmastodon.org/methods/streaming/ and the Status, Notification and
Account entities (https://docs.joinmastodon.org/entities/).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import orjson

from schemas.codec import MAX_ID_CHARS, DecodeError, mention_from_dict
from schemas.models import SCHEMA_VERSION
from streams.sources.matching import BrandIndex
from streams.sources.outcome import Outcome, Produce, Reject, Skip

PLATFORM = "mastodon"

# Events whose payload is a JSON object encoded as a string (parsed here), and the one whose
# payload is a bare status id. Every other event's payload is kept as given (a string, or None
# when absent, as for filters_changed): the source ignores those events.
_OBJECT_EVENTS = frozenset({"update", "status.update", "notification"})
_ID_EVENTS = frozenset({"delete"})

# Notification types as documented (up to Mastodon 4.6). Any other type is counted as
# "notification_other", so a server can't grow the skip metric's label set.
_NOTIFICATION_TYPES = frozenset({
    "mention", "status", "reblog", "follow", "follow_request", "favourite", "poll", "update",
    "admin.sign_up", "admin.report", "severed_relationships", "moderation_warning", "quote",
    "quoted_update", "added_to_collection", "collection_update",
})

# "public" and "unlisted" are readable by anyone. Everything else ("private" = followers only,
# "direct", and any value a fork invents) is not a public mention: never produce it.
_PUBLIC_VISIBILITIES = frozenset({"public", "unlisted"})

_LANG_RE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]+)*")  # mention.v1's lang pattern
_LANG_MAX = 35
_URL_MAX = 2048
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")  # unencodable in UTF-8: the wire would refuse it


# -- accounts ---------------------------------------------------------------------------------

def normalize_acct(acct: str, instance_domain: str) -> str:
    """An Account's or Mention's `acct` → "user@domain", lower case.

    Mastodon gives local accounts as a bare "user" and remote ones as "user@domain".
    `instance_domain` must be the instance's account domain (the `domain` of
    /api/v2/instance, i.e. LOCAL_DOMAIN), which can differ from the host serving the API."""
    name = acct.strip().removeprefix("@").lower()
    if name and "@" not in name:
        name = f"{name}@{instance_domain.strip().removeprefix('@').lower()}"
    return name


# -- HTML -------------------------------------------------------------------------------------

# Elements that start and end a block (a paragraph of their own). Mastodon's sanitizer keeps
# p, br, span, a and, since 4.2, pre, blockquote, lists and inline formatting; the others are
# here for remote HTML that reached us some other way.
_BLOCKS = frozenset({"p", "div", "blockquote", "pre", "ul", "ol", "h1", "h2", "h3", "h4",
                     "h5", "h6", "hr", "table", "tr", "section", "article", "header", "footer"})
_LINES = frozenset({"li", "dt", "dd"})
_HIDDEN = frozenset({"script", "style", "template"})  # their content is never shown
_WS_RE = re.compile(r"[ \t\n\r\f\v]+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities are unescaped in handle_data
        self.blocks: list[str] = []
        self._parts: list[str] = []
        self._block_has_pre = False
        self._pre = 0
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "br":
            self._parts.append("\n")
        elif tag in _BLOCKS:
            self._end_block()
            if tag == "pre":
                self._pre += 1
        elif tag in _LINES:
            self._soft_break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self._end_block()
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
        elif tag in _LINES:
            self._soft_break()

    def handle_data(self, data: str) -> None:
        # Invisible and ellipsis spans carry no special meaning here: their text is kept, so a
        # shortened link reads as the whole URL.
        if self._hidden:
            return
        if self._pre:
            self._block_has_pre = True
            self._parts.append(data)
        else:
            # HTML collapses whitespace; line breaks are <br> and paragraphs.
            self._parts.append(_WS_RE.sub(" ", data))

    def _soft_break(self) -> None:
        """A line break unless the line is empty so far (list items: one per line)."""
        last = next((part for part in reversed(self._parts) if part.strip(" ")), "")
        if last and not last.endswith("\n"):
            self._parts.append("\n")

    def _end_block(self) -> None:
        text = "".join(self._parts)
        self._parts.clear()
        if self._block_has_pre:
            text = text.strip("\n").rstrip()
        else:
            text = "\n".join(line.strip(" ") for line in text.split("\n")).strip("\n")
        self._block_has_pre = False
        if text.strip():
            self.blocks.append(text)

    def finish(self) -> str:
        self.close()
        self._end_block()
        return "\n\n".join(self.blocks)


_TAG_RE = re.compile(r"<[^>]*>?")
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_PARA_RE = re.compile(r"</p\s*>\s*<p(\s[^>]*)?>", re.IGNORECASE)


def _crude_text(html_text: str) -> str:
    """Fallback for HTML that html.parser gives up on: line and paragraph breaks, tags
    dropped, entities unescaped."""
    text = _PARA_RE.sub("\n\n", _BR_RE.sub("\n", html_text))
    text = html_lib.unescape(_TAG_RE.sub("", text))
    lines = (_WS_RE.sub(" ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """Mastodon's status HTML → plain text: paragraphs separated by a blank line, <br> a line
    break, tags dropped (the text of links, mentions and hashtags kept: "@alice", "#tag"),
    entities unescaped. Never raises, whatever the input."""
    try:
        parser = _TextExtractor()
        parser.feed(html)
        text = parser.finish()
    except Exception:  # html.parser raises AssertionError on some bogus "<![" declarations
        text = _crude_text(html)
    return _SURROGATE_RE.sub("\ufffd", text)


# -- streaming messages -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One websocket message. `payload` is the parsed JSON object for update, status.update
    and notification, the status id (a string) for delete, and otherwise the payload string as
    sent (None when absent)."""

    event: str
    stream: tuple[str, ...]
    payload: object


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def parse_streaming_message(data: str | bytes) -> StreamMessage | Reject:
    """A websocket text frame → StreamMessage, or Reject("not_json" | "bad_frame", detail).
    The payload is a JSON document inside a JSON string: it is parsed here when the event
    needs it."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return Reject("not_json", f"not valid JSON: {exc}")
    if type(obj) is not dict:
        return Reject("bad_frame", f"$: must be a JSON object, got {_type_name(obj)}")

    event = obj.get("event")
    if event is None and "error" in obj:
        # The server answers a bad subscription with {"error": ..., "status": 400}.
        return Reject("bad_frame", f"$: the server sent an error, not an event: "
                      f"{str(obj['error'])[:200]!r} (status {str(obj.get('status'))[:10]})")
    if type(event) is not str:
        return Reject("bad_frame", "$.event: is required" if event is None
                      else f"$.event: must be a string, got {_type_name(event)}")
    if not event:
        return Reject("bad_frame", "$.event: must not be empty")

    raw_stream = obj.get("stream")
    if raw_stream is None:
        stream: tuple[str, ...] = ()
    elif type(raw_stream) is list and all(type(s) is str for s in raw_stream):
        stream = tuple(raw_stream)
    else:
        return Reject("bad_frame", "$.stream: must be a list of strings")

    payload = obj.get("payload")
    if payload is not None and type(payload) is not str:
        # The server always string-encodes the payload, whatever the event.
        return Reject("bad_frame", f"$.payload: must be a string, got {_type_name(payload)}")
    if event in _OBJECT_EVENTS:
        if payload is None:
            return Reject("bad_frame", f"$.payload: is required for a {event} event")
        try:
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return Reject("bad_frame", f"$.payload: not valid JSON: {exc}")
        if type(parsed) is not dict:
            return Reject("bad_frame", f"$.payload: must be a JSON object for a {event} "
                          f"event, got {_type_name(parsed)}")
        return StreamMessage(event, stream, parsed)
    if event in _ID_EVENTS:
        status_id = (payload or "").strip()
        if not status_id:
            return Reject("bad_frame", f"$.payload: a {event} event needs the status id")
        return StreamMessage(event, stream, status_id)
    return StreamMessage(event, stream, payload)


# -- entities ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StatusRef:
    """What a reply to a status needs of it: its global id (`uri`, a mention's id) and its
    author's normalized acct (a mention's author id)."""

    uri: str
    author_acct: str


def status_ref(status: Mapping[str, object], instance_domain: str) -> StatusRef | None:
    """The StatusRef of a status (e.g. a reply's parent fetched over REST); None if the status
    is malformed or its ids are too long for a mention (the reply is then produced unlinked)."""
    if not isinstance(status, Mapping):
        return None
    uri = status.get("uri")
    account = status.get("account")
    if not isinstance(uri, str) or not uri or len(uri) > MAX_ID_CHARS:
        return None
    if not isinstance(account, Mapping) or not isinstance(account.get("acct"), str):
        return None
    acct = normalize_acct(str(account["acct"]), instance_domain)
    if not acct or len(acct) > MAX_ID_CHARS:
        return None
    return StatusRef(uri=uri, author_acct=acct)


def status_of_notification(
        notification: Mapping[str, object]) -> Mapping[str, object] | Skip | Reject:
    """A notification → the status that mentions the account (type "mention"), or
    Skip("notification_<type>") for the other types (favourites, follows, boosts ...), or
    Reject("bad_notification") when malformed."""
    if not isinstance(notification, Mapping):
        return Reject("bad_notification",
                      f"$: must be a JSON object, got {_type_name(notification)}")
    kind = notification.get("type")
    if not isinstance(kind, str):
        return Reject("bad_notification", "$.type: is required" if kind is None
                      else f"$.type: must be a string, got {_type_name(kind)}")
    if kind != "mention":
        return Skip(f"notification_{kind}" if kind in _NOTIFICATION_TYPES
                    else "notification_other")
    status = notification.get("status")
    if not isinstance(status, Mapping):
        return Reject("bad_notification", "$.status: is required for a mention" if status is None
                      else f"$.status: must be an object, got {_type_name(status)}")
    return status


class _Bad(Exception):
    """A field of the status is missing or has the wrong type (internal: becomes a Reject)."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")


def _str(obj: Mapping[str, object], key: str, path: str, *, optional: bool = False,
         empty_ok: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if optional:
            return None
        raise _Bad(path, "is required" if key not in obj else "must be a string, not null")
    if not isinstance(value, str):
        raise _Bad(path, f"must be a string, got {_type_name(value)}")
    if not value and not empty_ok:
        raise _Bad(path, "must not be empty")
    return value


def _list(obj: Mapping[str, object], key: str) -> list[Any]:
    value = obj.get(key)
    if value is None:  # absent or null: none (the entity always has it, possibly empty)
        return []
    if not isinstance(value, list):
        raise _Bad(f"$.{key}", f"must be a list, got {_type_name(value)}")
    return value


def _item_str(items: list[Any], key: str, field: str) -> list[str]:
    """`items[i][field]` for every item of a list of objects (mentions, tags)."""
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise _Bad(f"$.{key}[{i}]", f"must be an object, got {_type_name(item)}")
        value = _str(item, field, f"$.{key}[{i}].{field}")
        assert value is not None
        out.append(value)
    return out


def _lang(value: object) -> str | None:
    """Mastodon gives ISO 639-1 codes, but remote servers pass through what they got: keep a
    tag that fits mention.v1 once its primary subtag is lower case ("DE" → "de"), drop others."""
    if not isinstance(value, str) or len(value) > _LANG_MAX:
        return None
    primary, sep, rest = value.partition("-")
    tag = primary.lower() + sep + rest
    return tag if _LANG_RE.fullmatch(tag) else None


def _text(content: str, spoiler: str) -> str:
    # The content warning is what readers see first and often says what the post is about.
    body = html_to_text(content)
    spoiler = _SURROGATE_RE.sub("\ufffd", spoiler.strip())
    return "\n\n".join(part for part in (spoiler, body) if part)


def status_to_outcome(status: Mapping[str, object], *, brands: BrandIndex, instance_domain: str,
                      watched_account: str | None, parent: StatusRef | None) -> Outcome:
    """A Status (from an update, a mention notification or REST) → Produce, Skip or Reject.

    `watched_account` is the normalized acct of the brand account the source streams as (None
    for hashtag streams); `parent` the StatusRef of the status this one replies to, when the
    shell could resolve it. Never raises."""
    try:
        return _status_to_outcome(status, brands=brands, instance_domain=instance_domain,
                                  watched_account=watched_account, parent=parent)
    except _Bad as bad:
        return Reject("bad_status", str(bad))


def _status_to_outcome(status: Mapping[str, object], *, brands: BrandIndex,
                       instance_domain: str, watched_account: str | None,
                       parent: StatusRef | None) -> Outcome:
    if not isinstance(status, Mapping):
        raise _Bad("$", f"must be an object, got {_type_name(status)}")
    # Visibility first: a followers-only or direct post is skipped before anything else is
    # looked at, so none of it can end up in a dead letter because another field is odd.
    visibility = _str(status, "visibility", "$.visibility")
    if visibility not in _PUBLIC_VISIBILITIES:
        return Skip("not_public")
    if status.get("reblog") is not None:
        return Skip("reblog")  # a boost: the original post is the mention, if any

    _str(status, "id", "$.id")
    uri = _str(status, "uri", "$.uri")
    created_at = _str(status, "created_at", "$.created_at")
    content = _str(status, "content", "$.content", empty_ok=True)
    spoiler = _str(status, "spoiler_text", "$.spoiler_text", optional=True, empty_ok=True) or ""
    in_reply_to_id = _str(status, "in_reply_to_id", "$.in_reply_to_id", optional=True)
    account = status.get("account")
    if not isinstance(account, Mapping):
        raise _Bad("$.account", "is required" if account is None
                   else f"must be an object, got {_type_name(account)}")
    raw_acct = _str(account, "acct", "$.account.acct")
    assert uri is not None and created_at is not None and content is not None
    assert raw_acct is not None
    acct = normalize_acct(raw_acct, instance_domain)
    if not acct:
        raise _Bad("$.account.acct", "must name an account")
    mentioned = [normalize_acct(a, instance_domain)
                 for a in _item_str(_list(status, "mentions"), "mentions", "acct")]
    tags = _item_str(_list(status, "tags"), "tags", "name")

    # A parent only means something for a reply: one given for a status that replies to
    # nothing would invent a link.
    if in_reply_to_id is None:
        parent = None

    text = _text(content, spoiler)
    own_brand = brands.brand_of_mastodon_account(acct)
    if own_brand is not None:
        # The brand's own post counts only as an answer to someone.
        if in_reply_to_id is None:
            return Skip("brand_post_not_reply")
        if parent is None:
            return Skip("parent_unknown")  # can't be matched to the mention it answers
        brand: str | None = own_brand
    else:
        brand = _customer_brand(brands, instance_domain, watched_account, parent, mentioned,
                                tags, text)
        if brand is None:
            return Skip("no_brand")

    url = status.get("url")
    followers = account.get("followers_count")
    record = {
        "schema_version": SCHEMA_VERSION,
        "id": uri,
        "platform": PLATFORM,
        "brand": brand,
        "author": {"id": acct, "handle": acct, "is_brand": own_brand is not None},
        "text": text,
        "created_at": created_at,
        "in_reply_to": parent.uri if parent else None,
        "in_reply_to_author_id": parent.author_acct if parent else None,
        # The root's uri would cost a REST call per reply (/context); tracking links replies
        # by in_reply_to.
        "conversation_id": None,
        "lang": _lang(status.get("language")),
        # An oversized or missing web link falls back to the uri rather than losing the post.
        "url": url if isinstance(url, str) and 0 < len(url) <= _URL_MAX else uri,
        # Mastodon reports -1 when an account hides its counts.
        "followers": followers if type(followers) is int and followers >= 0 else None,
    }
    try:
        return Produce(mention_from_dict(record))
    except DecodeError as error:
        return Reject(error.reason, str(error))


def _customer_brand(brands: BrandIndex, instance_domain: str, watched_account: str | None,
                    parent: StatusRef | None, mentioned: list[str], tags: list[str],
                    text: str) -> str | None:
    """Which brand a customer's post concerns, most specific evidence first."""
    if parent is not None:  # a reply to the brand's own post concerns that brand
        brand = brands.brand_of_mastodon_account(parent.author_acct)
        if brand is not None:
            return brand
    for acct in mentioned:  # addressed to a brand account
        brand = brands.brand_of_mastodon_account(acct)
        if brand is not None:
            return brand
    if watched_account is not None:
        watched = normalize_acct(watched_account, instance_domain)
        if watched in mentioned:
            brand = brands.brand_of_mastodon_account(watched)
            if brand is not None:
                return brand
    return brands.brand_of_hashtags(tags) or brands.brand_of_text(text)
