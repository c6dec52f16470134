"""The Mastodon source's pure part (streams.sources.mastodon): websocket messages, notifications
and Status entities → mentions, skips and rejects. Every entity here is hand-made, shaped like
the examples in Mastodon's API documentation."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from schemas.models import Author, Mention
from streams.brands import parse_brand_config
from streams.sources.mastodon import (
    PLATFORM,
    StatusRef,
    StreamMessage,
    html_to_text,
    normalize_acct,
    parse_streaming_message,
    status_of_notification,
    status_ref,
    status_to_outcome,
)
from streams.sources.matching import BrandIndex
from streams.sources.outcome import Produce, Reject, Skip

INSTANCE = "social.example"
CREATED = "2026-03-02T08:15:30.250Z"
CREATED_MS = 1_772_439_330_250

BRANDS = BrandIndex.from_config(parse_brand_config("""
[brands.bahn]
name = "Deutsche Bahn"
hashtags = ["DBhilft"]
keywords = ["Deutsche Bahn"]

[brands.bahn.mastodon]
accounts = ["bahn@social.example", "@DB_Presse@Presse.Example"]

[brands.oebb]
name = "ÖBB"
hashtags = ["oebb"]
keywords = ["ÖBB"]

[brands.oebb.mastodon]
accounts = ["oebb@other.example"]
""", source="test"))

BAHN_POST = StatusRef(uri="https://social.example/users/bahn/statuses/900",
                      author_acct="bahn@social.example")
ALICE_POST = StatusRef(uri="https://social.example/users/alice/statuses/800",
                       author_acct="alice@social.example")


def account(acct: str = "alice", **fields: Any) -> dict[str, Any]:
    username = acct.split("@")[0]
    out: dict[str, Any] = {
        "id": "1001", "username": username, "acct": acct, "display_name": username.title(),
        "locked": False, "bot": False, "created_at": "2020-01-01T00:00:00.000Z", "note": "",
        "url": f"https://{INSTANCE}/@{username}", "followers_count": 42, "following_count": 7,
        "statuses_count": 120, "emojis": [], "fields": [],
    }
    out.update(fields)
    return out


def mention_of(acct: str) -> dict[str, str]:
    username = acct.split("@")[0]
    return {"id": "2002", "username": username, "url": f"https://{INSTANCE}/@{username}",
            "acct": acct}


def status(content: str = "<p>Hallo</p>", *, author: dict[str, Any] | None = None,
           number: int = 1, **fields: Any) -> dict[str, Any]:
    """A Status entity by the local account alice unless told otherwise."""
    author = author or account()
    username = author["username"]
    out: dict[str, Any] = {
        "id": f"11{number:04d}", "created_at": CREATED, "in_reply_to_id": None,
        "in_reply_to_account_id": None, "sensitive": False, "spoiler_text": "",
        "visibility": "public", "language": "de",
        "uri": f"https://{INSTANCE}/users/{username}/statuses/11{number:04d}",
        "url": f"https://{INSTANCE}/@{username}/11{number:04d}",
        "replies_count": 0, "reblogs_count": 0, "favourites_count": 0, "edited_at": None,
        "content": content, "reblog": None, "account": author, "media_attachments": [],
        "mentions": [], "tags": [], "emojis": [], "card": None, "poll": None,
    }
    out.update(fields)
    return out


def outcome(st_: dict[str, Any], *, parent: StatusRef | None = None,
            watched: str | None = "bahn@social.example") -> Any:
    return status_to_outcome(st_, brands=BRANDS, instance_domain=INSTANCE,
                             watched_account=watched, parent=parent)


def produced(st_: dict[str, Any], **kwargs: Any) -> Mention:
    result = outcome(st_, **kwargs)
    assert isinstance(result, Produce), result
    return result.mention


ALICE_URI = f"https://{INSTANCE}/users/alice/statuses/110001"
ALICE_URL = f"https://{INSTANCE}/@alice/110001"


def alice_mention(brand: str = "bahn", text: str = "@bahn Mein Zug fällt aus", **fields: Any
                  ) -> Mention:
    base: dict[str, Any] = {
        "id": ALICE_URI, "platform": "mastodon", "brand": brand,
        "author": Author(id="alice@social.example", handle="alice@social.example",
                         is_brand=False),
        "text": text, "created_at": CREATED, "created_at_ms": CREATED_MS, "in_reply_to": None,
        "in_reply_to_author_id": None, "conversation_id": None, "lang": "de",
        "url": ALICE_URL, "followers": 42,
    }
    base.update(fields)
    return Mention(**base)


MENTION_HTML = ('<p><span class="h-card" translate="no"><a href="https://social.example/@bahn" '
                'class="u-url mention">@<span>bahn</span></a></span> Mein Zug fällt aus</p>')


# -- accounts ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("acct", "expected"), [
    ("alice", "alice@social.example"),
    ("@alice", "alice@social.example"),
    ("Alice", "alice@social.example"),
    ("Alice@Other.Example", "alice@other.example"),
    ("@Alice@Other.Example", "alice@other.example"),
    ("bahn@social.example", "bahn@social.example"),
    ("", ""),
])
def test_normalize_acct(acct: str, expected: str) -> None:
    assert normalize_acct(acct, INSTANCE) == expected


def test_normalize_acct_normalizes_the_instance_domain_too() -> None:
    assert normalize_acct("Alice", "Social.Example") == "alice@social.example"


# -- HTML -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("html", "expected"), [
    ("<p>Eins</p><p>Zwei</p>", "Eins\n\nZwei"),
    ("<p>Zeile eins<br />Zeile zwei<br>Zeile drei</p>", "Zeile eins\nZeile zwei\nZeile drei"),
    ("<p>a<br><br>b</p>", "a\n\nb"),
    ("Vorwort<p>Absatz</p>", "Vorwort\n\nAbsatz"),
    ("<p>a</p>\n<p>b</p>\n", "a\n\nb"),
    # A shortened link: the invisible and ellipsis spans together are the whole URL.
    ('<p>Siehe <a href="https://www.bahn.example/reise/auskunft/verbindung" rel="nofollow '
     'noopener" target="_blank"><span class="invisible">https://www.</span><span '
     'class="ellipsis">bahn.example/reise/auskunf</span><span class="invisible">t/verbindung'
     '</span></a></p>', "Siehe https://www.bahn.example/reise/auskunft/verbindung"),
    (MENTION_HTML, "@bahn Mein Zug fällt aus"),
    ('<p><a href="https://social.example/tags/DBhilft" class="mention hashtag" rel="tag">#<span>'
     'DBhilft</span></a> kaputt</p>', "#DBhilft kaputt"),
    ("<p>Preis &lt; 10 &amp; &quot;billig&quot; &#39;ok&#39; &gt;</p>",
     "Preis < 10 & \"billig\" 'ok' >"),
    ("<p>&amp;lt;</p>", "&lt;"),  # unescaped once, as the HTML means
    ("<p>Grüße aus Köln, Straße gesperrt 😤🚆</p>", "Grüße aus Köln, Straße gesperrt 😤🚆"),
    ("<p>viel    Platz\n  hier</p>", "viel Platz hier"),
    ("<ul><li>eins</li><li>zwei</li></ul><p>danach</p>", "eins\nzwei\n\ndanach"),
    ("<blockquote><p>zitiert</p></blockquote><p>Antwort</p>", "zitiert\n\nAntwort"),
    ("<pre>  code\n    eingerückt</pre>", "  code\n    eingerückt"),
    ("<p>a<script>alert(1)</script>b</p>", "ab"),
    ("", ""),
    ("   ", ""),
    ("nur Text", "nur Text"),
])
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


@pytest.mark.parametrize(("html", "expected"), [
    ("<p>offen <span>und <a href='x'>nie zu", "offen und nie zu"),
    ("<p>eins<p>zwei", "eins\n\nzwei"),
    ("</p></span>verwaist</a>", "verwaist"),
    ("a < b und c > d", "a < b und c > d"),
    ('<a href="', '<a href="'),
    ("x &unbekannt; y & z", "x &unbekannt; y & z"),
    # html.parser raises AssertionError on these; the fallback still gives the text.
    ("<![foo[bar]]><p>Text danach</p>", "Text danach"),
    ("<p>vorher</p><![ b", "vorher"),
])
def test_html_to_text_malformed(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_html_to_text_replaces_lone_surrogates() -> None:
    # Unencodable in UTF-8: encoding the mention would fail later.
    assert html_to_text("<p>a\ud800b</p>") == "a\ufffdb"


# -- streaming messages -----------------------------------------------------------------------

def frame(event: str, payload: Any = None, stream: Any = ("user",), *,
          raw_payload: bool = False) -> bytes:
    obj: dict[str, Any] = {"stream": list(stream), "event": event}
    if payload is not None:
        obj["payload"] = payload if raw_payload or isinstance(payload, str) else (
            orjson.dumps(payload).decode())
    return orjson.dumps(obj)


def test_update_message_parses_the_payload_string() -> None:
    st_ = status(MENTION_HTML)
    msg = parse_streaming_message(frame("update", st_, ["hashtag", "DBhilft"]))
    assert msg == StreamMessage(event="update", stream=("hashtag", "DBhilft"), payload=st_)


def test_message_as_str_and_bytes() -> None:
    data = frame("update", status())
    assert parse_streaming_message(data) == parse_streaming_message(data.decode())


def test_notification_message() -> None:
    notification = {"id": "5", "type": "mention", "created_at": CREATED,
                    "account": account(), "status": status(MENTION_HTML)}
    msg = parse_streaming_message(frame("notification", notification))
    assert msg == StreamMessage("notification", ("user",), notification)


def test_status_update_message() -> None:
    st_ = status("<p>bearbeitet</p>", edited_at="2026-03-02T08:20:00.000Z")
    msg = parse_streaming_message(frame("status.update", st_))
    assert msg == StreamMessage("status.update", ("user",), st_)


def test_delete_message_carries_the_bare_status_id() -> None:
    data = b'{"stream":["public"],"event":"delete","payload":"106692867363994015"}'
    assert parse_streaming_message(data) == StreamMessage("delete", ("public",),
                                                          "106692867363994015")


def test_filters_changed_has_no_payload() -> None:
    data = b'{"stream":["user"],"event":"filters_changed"}'
    assert parse_streaming_message(data) == StreamMessage("filters_changed", ("user",), None)


def test_unknown_event_keeps_its_payload_unparsed() -> None:
    data = frame("announcement.reaction", '{"name":"x","count":1,"announcement_id":"1"}')
    assert parse_streaming_message(data) == StreamMessage(
        "announcement.reaction", ("user",), '{"name":"x","count":1,"announcement_id":"1"}')
    assert parse_streaming_message(b'{"event":"something.new"}') == StreamMessage(
        "something.new", (), None)


@pytest.mark.parametrize(("data", "reason", "detail"), [
    (b"", "not_json", "not valid JSON"),
    (b"{not json", "not_json", "not valid JSON"),
    (b'{"event":"update","payload":"\xff"}', "not_json", "not valid JSON"),
    (b'["update"]', "bad_frame", "$: must be a JSON object, got list"),
    (b'"update"', "bad_frame", "$: must be a JSON object, got str"),
    (b"null", "bad_frame", "$: must be a JSON object, got null"),
    (b'{"stream":["user"],"payload":"{}"}', "bad_frame", "$.event: is required"),
    (b'{"event":5,"payload":"{}"}', "bad_frame", "$.event: must be a string, got int"),
    (b'{"event":"","payload":"{}"}', "bad_frame", "$.event: must not be empty"),
    (b'{"event":"update","stream":"user","payload":"{}"}', "bad_frame",
     "$.stream: must be a list of strings"),
    (b'{"event":"update","payload":{"id":"1"}}', "bad_frame",
     "$.payload: must be a string, got dict"),
    (b'{"event":"delete","payload":106692867363994015}', "bad_frame",
     "$.payload: must be a string, got int"),
    (b'{"event":"update"}', "bad_frame", "$.payload: is required for a update event"),
    (b'{"event":"update","payload":"{\\"id\\": "}', "bad_frame", "$.payload: not valid JSON"),
    (b'{"event":"notification","payload":"[1,2]"}', "bad_frame",
     "$.payload: must be a JSON object for a notification event, got list"),
    (b'{"event":"status.update","payload":"null"}', "bad_frame",
     "$.payload: must be a JSON object for a status.update event, got null"),
    (b'{"event":"delete","payload":" "}', "bad_frame", "$.payload: a delete event needs"),
    (b'{"event":"delete"}', "bad_frame", "$.payload: a delete event needs"),
    (b'{"error":"Unknown stream type","status":400}', "bad_frame",
     "$: the server sent an error, not an event: 'Unknown stream type' (status 400)"),
])
def test_malformed_messages_are_rejected(data: bytes, reason: str, detail: str) -> None:
    result = parse_streaming_message(data)
    assert isinstance(result, Reject), result
    assert result.reason == reason
    assert result.detail.startswith(detail), result.detail


# -- notifications ----------------------------------------------------------------------------

def notification(kind: Any, st_: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": "68739215", "type": kind, "created_at": CREATED,
                           "account": account()}
    if st_ is not None:
        out["status"] = st_
    return out


def test_mention_notification_gives_its_status() -> None:
    st_ = status(MENTION_HTML)
    assert status_of_notification(notification("mention", st_)) is st_


@pytest.mark.parametrize(("kind", "reason"), [
    ("favourite", "notification_favourite"),
    ("reblog", "notification_reblog"),
    ("follow", "notification_follow"),
    ("follow_request", "notification_follow_request"),
    ("status", "notification_status"),
    ("quote", "notification_quote"),
    ("admin.sign_up", "notification_admin.sign_up"),
    ("brand_new_type_from_the_future", "notification_other"),  # the label set stays bounded
])
def test_other_notifications_are_skipped(kind: str, reason: str) -> None:
    assert status_of_notification(notification(kind, status())) == Skip(reason)


@pytest.mark.parametrize(("notif", "detail"), [
    (notification(None), "$.type: is required"),
    (notification(7), "$.type: must be a string, got int"),
    (notification("mention"), "$.status: is required for a mention"),
    (notification("mention", ["x"]), "$.status: must be an object, got list"),
])
def test_malformed_notifications_are_rejected(notif: dict[str, Any], detail: str) -> None:
    assert status_of_notification(notif) == Reject("bad_notification", detail)


# -- status refs ------------------------------------------------------------------------------

def test_status_ref_of_a_local_and_a_remote_status() -> None:
    assert status_ref(status(author=account("bahn")), INSTANCE) == StatusRef(
        uri="https://social.example/users/bahn/statuses/110001",
        author_acct="bahn@social.example")
    remote = status(author=account("Alice@Other.Example"),
                    uri="https://other.example/users/Alice/statuses/1")
    assert status_ref(remote, INSTANCE) == StatusRef(
        "https://other.example/users/Alice/statuses/1", "alice@other.example")


@pytest.mark.parametrize("broken", [
    {"uri": None}, {"uri": ""}, {"uri": 5}, {"uri": "https://x.example/" + "a" * 300},
    {"account": None}, {"account": {**account(), "acct": None}},
    {"account": {**account(), "acct": ""}},
])
def test_status_ref_of_a_malformed_status_is_none(broken: dict[str, Any]) -> None:
    assert status_ref(status(**broken), INSTANCE) is None


# -- statuses → mentions ----------------------------------------------------------------------

def test_customer_mention_of_the_brand_account() -> None:
    st_ = status(MENTION_HTML, mentions=[mention_of("bahn")])
    assert produced(st_) == alice_mention()


def test_customer_mention_from_a_hashtag_stream() -> None:
    # No watched account: the mention of a brand account is enough.
    st_ = status(MENTION_HTML, mentions=[mention_of("bahn")])
    assert produced(st_, watched=None) == alice_mention()


def test_remote_author_and_remote_brand_account_are_normalized() -> None:
    st_ = status("<p>@DB_Presse hallo</p>",
                 author=account("Alice@Other.Example", followers_count=3),
                 uri="https://other.example/users/Alice/statuses/77",
                 url="https://other.example/@Alice/77",
                 mentions=[mention_of("DB_Presse@PRESSE.example")])
    assert produced(st_) == Mention(
        id="https://other.example/users/Alice/statuses/77", platform="mastodon", brand="bahn",
        author=Author(id="alice@other.example", handle="alice@other.example", is_brand=False),
        text="@DB_Presse hallo", created_at=CREATED, created_at_ms=CREATED_MS, lang="de",
        url="https://other.example/@Alice/77", followers=3)


def test_customer_reply_to_a_brand_status() -> None:
    # Mastodon adds the parent's author as a mention, but the parent alone decides here.
    st_ = status("<p>Immer noch kein Zug</p>", in_reply_to_id="900",
                 in_reply_to_account_id="3")
    assert produced(st_, parent=BAHN_POST) == alice_mention(
        text="Immer noch kein Zug", in_reply_to=BAHN_POST.uri,
        in_reply_to_author_id="bahn@social.example")


def test_parent_brand_beats_a_mentioned_brand() -> None:
    st_ = status("<p>@oebb ihr auch?</p>", in_reply_to_id="900",
                 mentions=[mention_of("oebb@other.example")])
    assert produced(st_, parent=BAHN_POST).brand == "bahn"


def test_customer_reply_to_a_customer_is_linked_to_it() -> None:
    st_ = status("<p>Same, #DBhilft</p>", in_reply_to_id="800",
                 tags=[{"name": "dbhilft", "url": "https://social.example/tags/dbhilft"}])
    assert produced(st_, parent=ALICE_POST) == alice_mention(
        text="Same, #DBhilft", in_reply_to=ALICE_POST.uri,
        in_reply_to_author_id="alice@social.example")


def test_customer_reply_with_unknown_parent_is_produced_unlinked() -> None:
    st_ = status(MENTION_HTML, in_reply_to_id="900", mentions=[mention_of("bahn")])
    assert produced(st_, parent=None) == alice_mention()


def test_parent_of_a_status_that_replies_to_nothing_is_ignored() -> None:
    st_ = status(MENTION_HTML, mentions=[mention_of("bahn")])
    assert produced(st_, parent=BAHN_POST) == alice_mention()


def test_brand_reply_with_parent_is_linked() -> None:
    reply = status('<p><span class="h-card"><a href="https://social.example/@alice" '
                   'class="u-url mention">@<span>alice</span></a></span> Das tut uns leid!</p>',
                   author=account("bahn", followers_count=120_000), in_reply_to_id="800",
                   mentions=[mention_of("alice")])
    assert produced(reply, parent=ALICE_POST) == Mention(
        id="https://social.example/users/bahn/statuses/110001", platform="mastodon",
        brand="bahn",
        author=Author(id="bahn@social.example", handle="bahn@social.example", is_brand=True),
        text="@alice Das tut uns leid!", created_at=CREATED, created_at_ms=CREATED_MS,
        in_reply_to=ALICE_POST.uri, in_reply_to_author_id="alice@social.example", lang="de",
        url="https://social.example/@bahn/110001", followers=120_000)


def test_remote_brand_account_reply_is_the_brand() -> None:
    reply = status("<p>Wir kümmern uns</p>", author=account("DB_Presse@presse.example"),
                   in_reply_to_id="800")
    mention = produced(reply, parent=ALICE_POST)
    assert (mention.brand, mention.author) == ("bahn", Author(
        "db_presse@presse.example", "db_presse@presse.example", is_brand=True))


def test_brand_reply_with_unknown_parent_is_skipped() -> None:
    reply = status("<p>Das tut uns leid</p>", author=account("bahn"), in_reply_to_id="800")
    assert outcome(reply, parent=None) == Skip("parent_unknown")


def test_brand_top_level_post_is_skipped() -> None:
    post = status("<p>Neuer Fahrplan ab Sonntag #DBhilft</p>", author=account("bahn"),
                  tags=[{"name": "DBhilft"}])
    assert outcome(post) == Skip("brand_post_not_reply")


def test_reblog_is_skipped() -> None:
    original = status(MENTION_HTML, mentions=[mention_of("bahn")], number=2)
    boost = status("", author=account("carol"), reblog=original)
    assert outcome(boost) == Skip("reblog")


@pytest.mark.parametrize("visibility", ["private", "direct", "limited", "mutual"])
def test_non_public_statuses_are_never_produced(visibility: str) -> None:
    st_ = status(MENTION_HTML, visibility=visibility, mentions=[mention_of("bahn")])
    assert outcome(st_) == Skip("not_public")
    # Not even when otherwise malformed: nothing of a private post reaches a dead letter.
    del st_["uri"]
    assert outcome(st_) == Skip("not_public")


def test_unlisted_is_public() -> None:
    st_ = status(MENTION_HTML, visibility="unlisted", mentions=[mention_of("bahn")])
    assert produced(st_) == alice_mention()


def test_hashtag_match() -> None:
    st_ = status('<p>Wieder 40 Minuten <a href="https://social.example/tags/dbhilft" '
                 'class="mention hashtag" rel="tag">#<span>DBHilft</span></a></p>',
                 tags=[{"name": "dbhilft", "url": "https://social.example/tags/dbhilft"}])
    assert produced(st_, watched=None) == alice_mention(text="Wieder 40 Minuten #DBHilft")


def test_mentioned_brand_beats_another_brands_hashtag() -> None:
    st_ = status("<p>@oebb #DBhilft</p>", mentions=[mention_of("oebb@other.example")],
                 tags=[{"name": "DBhilft"}])
    assert produced(st_).brand == "oebb"


def test_hashtag_beats_another_brands_keyword() -> None:
    st_ = status("<p>Die ÖBB ist pünktlich #DBhilft</p>", tags=[{"name": "DBhilft"}])
    assert produced(st_).brand == "bahn"


def test_keyword_match() -> None:
    st_ = status("<p>Die deutsche bahn hat wieder Verspätung</p>")
    assert produced(st_, watched=None) == alice_mention(
        text="Die deutsche bahn hat wieder Verspätung")


def test_keyword_in_the_spoiler_text() -> None:
    st_ = status("<p>40 Minuten!</p>", spoiler_text="ÖBB Ärger")
    assert produced(st_).brand == "oebb"


def test_watched_account_mentioned() -> None:
    st_ = status(MENTION_HTML, mentions=[mention_of("carol@elsewhere.example"),
                                         mention_of("bahn")])
    assert produced(st_, watched="@Bahn@Social.Example").brand == "bahn"


def test_no_brand_is_skipped() -> None:
    st_ = status("<p>Schönes Wetter heute ☀️</p>", mentions=[mention_of("carol")],
                 tags=[{"name": "wetter"}])
    assert outcome(st_) == Skip("no_brand")
    assert outcome(st_, watched=None) == Skip("no_brand")


def test_spoiler_text_comes_first() -> None:
    st_ = status(MENTION_HTML, spoiler_text=" Ärger mit der Bahn ", mentions=[mention_of("bahn")])
    assert produced(st_) == alice_mention(text="Ärger mit der Bahn\n\n@bahn Mein Zug fällt aus")


def test_spoiler_only_post() -> None:
    st_ = status("", spoiler_text="Deutsche Bahn, Foto anbei")
    assert produced(st_).text == "Deutsche Bahn, Foto anbei"


def test_html_body_is_converted() -> None:
    content = ('<p><span class="h-card"><a href="https://social.example/@bahn" class="u-url '
               'mention">@<span>bahn</span></a></span> ICE 123 &amp; RE 5 &lt;3 Stunden zu spät'
               '<br>Grüße 😤</p><p><a href="https://bahn.example/x/y/z"><span class="invisible">'
               'https://</span><span class="ellipsis">bahn.example/x/</span><span class="invisi'
               'ble">y/z</span></a></p>')
    st_ = status(content, mentions=[mention_of("bahn")])
    assert produced(st_).text == ("@bahn ICE 123 & RE 5 <3 Stunden zu spät\nGrüße 😤\n\n"
                                  "https://bahn.example/x/y/z")


def test_malformed_html_is_still_produced() -> None:
    st_ = status("<p>Deutsche Bahn <span>kaputt<p>wirklich", mentions=[])
    assert produced(st_).text == "Deutsche Bahn kaputt\n\nwirklich"


@pytest.mark.parametrize(("language", "lang"), [
    ("de", "de"), ("DE", "de"), ("en-US", "en-US"), ("EN-us", "en-us"),
    ("zh-Hant-TW", "zh-Hant-TW"),
    (None, None), ("xx_YY", None), ("", None), ("e", None), ("english", None), (42, None),
    ("de-" + "x" * 40, None),
])
def test_language(language: Any, lang: str | None) -> None:
    st_ = status(MENTION_HTML, language=language, mentions=[mention_of("bahn")])
    assert produced(st_) == alice_mention(lang=lang)


@pytest.mark.parametrize(("fields", "url"), [
    ({"url": None}, ALICE_URI),
    ({"url": ""}, ALICE_URI),
    ({"url": "https://x.example/" + "a" * 2100}, ALICE_URI),
    ({}, ALICE_URL),
])
def test_url_falls_back_to_the_uri(fields: dict[str, Any], url: str) -> None:
    st_ = status(MENTION_HTML, mentions=[mention_of("bahn")], **fields)
    assert produced(st_).url == url


@pytest.mark.parametrize(("count", "followers"), [
    (0, 0), (42, 42), (-1, None), (None, None), ("42", None), (True, None), (4.0, None),
])
def test_followers(count: Any, followers: int | None) -> None:
    st_ = status(MENTION_HTML, author=account(followers_count=count),
                 mentions=[mention_of("bahn")])
    assert produced(st_).followers == followers


def test_followers_count_missing() -> None:
    author = account()
    del author["followers_count"]
    assert produced(status(MENTION_HTML, author=author, mentions=[mention_of("bahn")])
                    ).followers is None


def _without(st_: dict[str, Any], *path: str) -> dict[str, Any]:
    out = copy.deepcopy(st_)
    target = out
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return out


def _with(st_: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    out = copy.deepcopy(st_)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


GOOD = status(MENTION_HTML, mentions=[mention_of("bahn")], tags=[{"name": "DBhilft"}])


@pytest.mark.parametrize(("broken", "detail"), [
    (_without(GOOD, "uri"), "$.uri: is required"),
    (_with(GOOD, None, "uri"), "$.uri: must be a string, not null"),
    (_with(GOOD, "", "uri"), "$.uri: must not be empty"),
    (_without(GOOD, "id"), "$.id: is required"),
    (_with(GOOD, 110001, "id"), "$.id: must be a string, got int"),
    (_without(GOOD, "created_at"), "$.created_at: is required"),
    (_with(GOOD, 1772439330, "created_at"), "$.created_at: must be a string, got int"),
    (_without(GOOD, "content"), "$.content: is required"),
    (_with(GOOD, ["<p>x</p>"], "content"), "$.content: must be a string, got list"),
    (_without(GOOD, "visibility"), "$.visibility: is required"),
    (_with(GOOD, 0, "visibility"), "$.visibility: must be a string, got int"),
    (_without(GOOD, "account"), "$.account: is required"),
    (_with(GOOD, "alice", "account"), "$.account: must be an object, got str"),
    (_without(GOOD, "account", "acct"), "$.account.acct: is required"),
    (_with(GOOD, 5, "account", "acct"), "$.account.acct: must be a string, got int"),
    (_with(GOOD, "@", "account", "acct"), "$.account.acct: must name an account"),
    (_with(GOOD, 900, "in_reply_to_id"), "$.in_reply_to_id: must be a string, got int"),
    (_with(GOOD, {"x": 1}, "spoiler_text"), "$.spoiler_text: must be a string, got dict"),
    (_with(GOOD, "bahn", "mentions"), "$.mentions: must be a list, got str"),
    (_with(GOOD, ["bahn"], "mentions"), "$.mentions[0]: must be an object, got str"),
    (_with(GOOD, [mention_of("x"), {"id": "1"}], "mentions"), "$.mentions[1].acct: is required"),
    (_with(GOOD, [{"name": None}], "tags"), "$.tags[0].name: must be a string, not null"),
])
def test_malformed_status_is_rejected(broken: dict[str, Any], detail: str) -> None:
    result = outcome(broken)
    assert result == Reject("bad_status", detail)
    assert "Zug" not in result.detail  # never the post's text


def test_status_that_is_not_an_object_is_rejected() -> None:
    assert outcome(["x"]) == Reject("bad_status", "$: must be an object, got list")  # type: ignore[arg-type]


def test_codec_errors_become_rejects() -> None:
    bad_time = _with(GOOD, "08.03.2026 10:00", "created_at")
    assert outcome(bad_time) == Reject(
        "schema_violation",
        "$.created_at: '08.03.2026 10:00' is not an RFC 3339 date-time with offset")
    huge = _with(GOOD, "<p>" + "Deutsche Bahn " * 2000 + "</p>", "content")
    result = outcome(huge)
    assert isinstance(result, Reject) and result.reason == "too_large"
    assert result.detail.startswith("$.text: is ")
    long_uri = _with(GOOD, "https://social.example/" + "u" * 300, "uri")
    assert outcome(long_uri) == Reject("schema_violation",
                                       "$.id: is 323 characters, at most 256 allowed")


def test_from_the_frame_to_the_mention() -> None:
    """The path the shell takes for a mention notification on the user stream."""
    st_ = status(MENTION_HTML, mentions=[mention_of("bahn")])
    data = frame("notification", notification("mention", st_))
    msg = parse_streaming_message(data)
    assert isinstance(msg, StreamMessage) and isinstance(msg.payload, dict)
    found = status_of_notification(msg.payload)
    assert isinstance(found, dict)
    assert outcome(found) == Produce(alice_mention())
    assert PLATFORM == "mastodon"


# -- never raises -----------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
HTMLISH = st.text(
    alphabet=st.sampled_from(list("<>/!&#;[]-=\"' apbrsnl\n\tü😀x")) | st.characters(),
    max_size=200)
# Fragments of the markup statuses carry, and of markup that breaks html.parser, shuffled.
MARKUP = st.lists(st.sampled_from([
    "<p>", "</p>", "<br>", "<br />", '<a href="https://x.example/a">', "</a>", "<span>",
    '<span class="invisible">', '<span class="ellipsis">', "</span>", "<pre>", "</pre>",
    "<ul>", "<li>", "</li>", "</ul>", "<blockquote>", "<script>", "</script>", "<![", "<!--",
    "-->", "<!DOCTYPE", "&amp;", "&lt;", "&#", "&#x", "&not", ";", "<", ">", '"', "'", " ",
    "\n", "Deutsche Bahn", "Grüße 😤", "\ud800",
]) | HTMLISH, max_size=30).map("".join)
STATUS_KEYS = ["id", "uri", "created_at", "content", "visibility", "account", "reblog",
               "in_reply_to_id", "spoiler_text", "mentions", "tags", "language", "url"]


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200), HTMLISH, MARKUP))
def test_parse_streaming_message_never_raises(data: bytes | str) -> None:
    result = parse_streaming_message(data)
    assert isinstance(result, StreamMessage | Reject)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(event=st.sampled_from(["update", "notification", "delete", "status.update",
                              "filters_changed", "x"]) | JSON, payload=JSON | HTMLISH,
       stream=JSON, encode=st.booleans())
def test_parse_streaming_message_never_raises_on_frames(event: Any, payload: Any, stream: Any,
                                                        encode: bool) -> None:
    # A websocket text frame is UTF-8: lone surrogates can't be in one (orjson refuses them).
    try:
        if encode:
            payload = orjson.dumps(payload).decode()
        frame = orjson.dumps({"event": event, "payload": payload, "stream": stream})
    except TypeError:
        assume(False)
    result = parse_streaming_message(frame)
    assert isinstance(result, StreamMessage | Reject)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(HTMLISH | MARKUP)
def test_html_to_text_never_raises(html: str) -> None:
    assert isinstance(html_to_text(html), str)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(STATUS_KEYS) | st.text(max_size=5), JSON, max_size=8),
       st.sampled_from([None, BAHN_POST, ALICE_POST]))
def test_status_to_outcome_never_raises_on_any_dict(obj: dict[str, Any],
                                                    parent: StatusRef | None) -> None:
    result = outcome(obj, parent=parent)
    assert isinstance(result, Produce | Skip | Reject)
    assert status_ref(obj, INSTANCE) is None or isinstance(status_ref(obj, INSTANCE), StatusRef)
    assert isinstance(status_of_notification(obj), dict | Skip | Reject)


@settings(max_examples=500, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from(STATUS_KEYS), JSON | MARKUP, max_size=4),
       account_changes=st.dictionaries(st.sampled_from(["acct", "followers_count"]),
                                       JSON | HTMLISH, max_size=2),
       parent=st.sampled_from([None, BAHN_POST, ALICE_POST]),
       watched=st.sampled_from([None, "bahn@social.example", "bahn"]))
def test_status_to_outcome_never_raises_on_damaged_statuses(
        changes: dict[str, Any], account_changes: dict[str, Any], parent: StatusRef | None,
        watched: str | None) -> None:
    st_ = copy.deepcopy(GOOD)
    st_.update(changes)
    if isinstance(st_.get("account"), dict):
        st_["account"].update(account_changes)
    result = outcome(st_, parent=parent, watched=watched)
    assert isinstance(result, Produce | Skip | Reject)
    if isinstance(result, Produce):
        # What is produced is what mention.v1 accepts, and encodable.
        assert result.mention.platform == "mastodon"
        assert result.mention.id == st_["uri"]
