"""The Bluesky source's pure part: Jetstream frames (hand-written here) → produce, delete, skip
or reject, and the mention.v1 each brand-concerning post becomes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.models import Author, Mention
from streams.brands import parse_brand_config
from streams.sources.bluesky import (
    PLATFORM,
    did_of_uri,
    facet_span,
    parse_jetstream_frame,
    post_uri,
    post_url,
)
from streams.sources.matching import BrandIndex
from streams.sources.outcome import Deleted, Outcome, Produce, Reject, Skip

ACME = "did:plc:acmeacmeacmeacmeacmeacme"
ACME_WEB = "did:web:acme.example.com"
BAHN = "did:plc:bahnbahnbahnbahnbahnbahn"
USER = "did:plc:useruseruseruseruseruser"
OTHER = "did:plc:otherotherotherotherothe"

BRANDS_TOML = f"""
[brands.acme]
name = "Acme"
hashtags = ["#AcmeHilft"]
keywords = ["Acme"]
[brands.acme.bluesky]
dids = ["{ACME}", "{ACME_WEB}"]
handles = ["support.acme.example", "@Acme.bsky.social"]

[brands.bahn]
name = "Deutsche Bahn"
hashtags = ["bahnchaos"]
keywords = ["Deutsche Bahn"]
[brands.bahn.bluesky]
dids = ["{BAHN}"]
"""
BRANDS = BrandIndex.from_config(parse_brand_config(BRANDS_TOML, source="test"))

T_US = 1_767_261_600_123_456  # 2026-01-01T10:00:00.123456Z
RKEY = "3lbxyzpostaa2"
CREATED = "2026-01-01T10:00:00.000Z"
CREATED_MS = 1_767_261_600_000
ID = f"at://{USER}/app.bsky.feed.post/{RKEY}"
URL = f"https://bsky.app/profile/{USER}/post/{RKEY}"
ACME_POST = f"at://{ACME}/app.bsky.feed.post/3lbacmepost22"
BAHN_POST = f"at://{BAHN}/app.bsky.feed.post/3lbbahnpost22"
USER_POST = f"at://{OTHER}/app.bsky.feed.post/3lbuserpost22"
CID = "bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxgf5sqvzrhmfw3jc4e"

# A top-level post naming acme by keyword: the base every expectation below varies.
BASE = Mention(
    id=ID,
    platform="bluesky",
    brand="acme",
    author=Author(id=USER, handle=USER, is_brand=False),
    text="Acme hat mein Paket verloren",
    created_at=CREATED,
    created_at_ms=CREATED_MS,
    in_reply_to=None,
    in_reply_to_author_id=None,
    conversation_id=None,
    lang=None,
    url=URL,
    followers=None,
)


def post(text: str = "Acme hat mein Paket verloren", **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text, "createdAt": CREATED}
    record.update(fields)
    return record


def frame(record: object = None, *, did: str = USER, rkey: str = RKEY,
          operation: str = "create", collection: str = "app.bsky.feed.post",
          time_us: object = T_US, **top: Any) -> bytes:
    commit: dict[str, Any] = {"rev": "3lbxyzrev2222", "operation": operation,
                              "collection": collection, "rkey": rkey}
    if operation != "delete":
        commit["record"] = post() if record is None else record
        commit["cid"] = CID
    doc: dict[str, Any] = {"did": did, "time_us": time_us, "kind": "commit", "commit": commit}
    doc.update(top)
    return orjson.dumps(doc)


def ref(uri: str) -> dict[str, str]:
    return {"uri": uri, "cid": CID}


def reply(parent: str, root: str) -> dict[str, Any]:
    return {"root": ref(root), "parent": ref(parent)}


def mention_facet(start: int, end: int, did: str) -> dict[str, Any]:
    return {"$type": "app.bsky.richtext.facet", "index": {"byteStart": start, "byteEnd": end},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}]}


def tag_facet(start: int, end: int, tag: str) -> dict[str, Any]:
    return {"index": {"byteStart": start, "byteEnd": end},
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}]}


def parse(data: bytes | str) -> Outcome:
    time_us, outcome = parse_jetstream_frame(data, BRANDS)
    assert time_us == T_US
    return outcome


# ---------------------------------------------------------------- helpers of the API


def test_uri_and_url_helpers() -> None:
    assert PLATFORM == "bluesky"
    assert post_uri(USER, RKEY) == ID
    assert post_url(USER, RKEY) == URL
    assert did_of_uri(ACME_POST) == ACME
    assert did_of_uri(f"at://{ACME_WEB}/app.bsky.feed.post/3lb") == ACME_WEB
    assert did_of_uri(f"at://{ACME}") == ACME
    assert did_of_uri("at://acme.bsky.social/app.bsky.feed.post/3lb") is None  # a handle
    assert did_of_uri(f"https://bsky.app/profile/{ACME}") is None
    assert did_of_uri("at://did:plc:/x") is None
    assert did_of_uri("") is None


def test_facet_span_counts_utf8_bytes() -> None:
    text = "Schöne Grüße 🎉 @acme.bsky.social bitte helfen"
    # ö ü ß take 2 bytes each, the emoji 4: the '@' is character 15 but byte 21.
    assert len("Schöne Grüße 🎉 ") == 15
    assert facet_span(text, 21, 38) == "@acme.bsky.social"
    assert facet_span(text, 3, 5) == "ö"
    assert facet_span(text, 16, 20) == "🎉"
    assert facet_span(text, 4, 8) is None  # starts inside ö
    assert facet_span(text, 16, 18) is None  # ends inside the emoji
    assert facet_span(text, 21, 999) is None
    assert facet_span(text, -1, 5) is None
    assert facet_span(text, 21, 21) is None
    assert facet_span(text, 38, 21) is None
    assert facet_span("\ud800", 0, 1) is None  # no UTF-8 offsets for a lone surrogate


# ---------------------------------------------------------------- which brand a post concerns


def test_keyword_post() -> None:
    assert parse(frame()) == Produce(BASE)


def test_frame_given_as_str() -> None:
    assert parse(frame().decode()) == Produce(BASE)


def test_reply_into_brand_thread() -> None:
    record = post("Mein Paket ist immer noch nicht da", reply=reply(ACME_POST, ACME_POST))
    assert parse(frame(record)) == Produce(replace(
        BASE, text="Mein Paket ist immer noch nicht da", in_reply_to=ACME_POST,
        in_reply_to_author_id=ACME, conversation_id=ACME_POST))


def test_reply_to_reply_under_brand_root() -> None:
    record = post("Bei mir auch", reply=reply(USER_POST, BAHN_POST))
    assert parse(frame(record)) == Produce(replace(
        BASE, brand="bahn", text="Bei mir auch", in_reply_to=USER_POST,
        in_reply_to_author_id=OTHER, conversation_id=BAHN_POST))


def test_reply_parent_brand_wins_over_root_brand() -> None:
    record = post("Bei mir auch", reply=reply(BAHN_POST, ACME_POST))
    outcome = parse(frame(record))
    assert isinstance(outcome, Produce) and outcome.mention.brand == "bahn"


def test_reply_whose_parent_uri_has_a_handle() -> None:
    parent = "at://someone.bsky.social/app.bsky.feed.post/3lbparent222"
    record = post("Acme antwortet nie", reply=reply(parent, parent))
    assert parse(frame(record)) == Produce(replace(
        BASE, text="Acme antwortet nie", in_reply_to=parent, in_reply_to_author_id=None,
        conversation_id=parent))


def test_mention_facet() -> None:
    # The handle shown is no keyword ("acmeservice" is not "Acme"): the facet alone decides.
    text = "@acmeservice.bsky.social wo ist mein Paket?"
    record = post(text, facets=[mention_facet(0, 24, ACME)])
    assert parse(frame(record)) == Produce(replace(BASE, text=text))


def test_mention_counts_whatever_its_span_says() -> None:
    text = "@jemand wo ist mein Paket?"  # the handle shown is stale; the DID is what counts
    record = post(text, facets=[mention_facet(0, 7, BAHN)])
    assert parse(frame(record)) == Produce(replace(BASE, brand="bahn", text=text))


def test_first_brand_mention_in_facet_order() -> None:
    text = "@bahn @acme beide kaputt"
    record = post(text, facets=[mention_facet(0, 5, OTHER), mention_facet(6, 11, BAHN),
                                mention_facet(0, 5, ACME)])
    assert parse(frame(record)) == Produce(replace(BASE, brand="bahn", text=text))


def test_quote_post() -> None:
    text = "Das glaubt ihr nicht"
    embed = {"$type": "app.bsky.embed.record", "record": ref(ACME_POST)}
    assert parse(frame(post(text, embed=embed))) == Produce(replace(BASE, text=text))


def test_quote_with_media() -> None:
    text = "Das glaubt ihr nicht"
    embed = {"$type": "app.bsky.embed.recordWithMedia",
             "record": {"$type": "app.bsky.embed.record", "record": ref(BAHN_POST)},
             "media": {"$type": "app.bsky.embed.images", "images": []}}
    assert parse(frame(post(text, embed=embed))) == Produce(replace(BASE, brand="bahn",
                                                                    text=text))


def test_embeds_that_are_not_quotes_name_no_brand() -> None:
    text = "Das glaubt ihr nicht"
    for embed in ({"$type": "app.bsky.embed.external",
                   "external": {"uri": ACME_POST, "title": "", "description": ""}},
                  {"record": ref(ACME_POST)},  # no $type: not a union member
                  {"$type": "app.bsky.embed.record", "record": {"uri": 5}},
                  {"$type": "app.bsky.embed.recordWithMedia", "record": ref(ACME_POST)},
                  "app.bsky.embed.record"):
        assert parse(frame(post(text, embed=embed))) == Skip("no_brand"), embed


def test_hashtag_facet() -> None:
    text = "Wieder mal #BahnChaos"
    record = post(text, facets=[tag_facet(11, 21, "BahnChaos")])
    assert parse(frame(record)) == Produce(replace(BASE, brand="bahn", text=text))


def test_record_tags() -> None:
    text = "Wieder mal Verspätung"
    record = post(text, tags=["zug", "acmehilft"])
    assert parse(frame(record)) == Produce(replace(BASE, text=text))


def test_hashtags_of_two_brands_go_to_the_first_in_config_order() -> None:
    text = "#bahnchaos #AcmeHilft"
    record = post(text, facets=[tag_facet(0, 10, "bahnchaos"), tag_facet(11, 21, "AcmeHilft")])
    assert parse(frame(record)) == Produce(replace(BASE, text=text))


def test_keywords_of_two_brands_go_to_the_first_in_config_order() -> None:
    for text in ("Deutsche Bahn und Acme", "Acme und Deutsche Bahn"):
        assert parse(frame(post(text))) == Produce(replace(BASE, text=text))


def test_priority_reply_then_mention_then_quote_then_hashtag_then_keyword() -> None:
    text = "@bahn Acme #AcmeHilft"
    quote = {"$type": "app.bsky.embed.record", "record": ref(ACME_POST)}
    mention = mention_facet(0, 5, BAHN)
    tag = tag_facet(11, 21, "AcmeHilft")
    in_bahn_thread = reply(BAHN_POST, BAHN_POST)

    def brand(record: dict[str, Any]) -> str:
        outcome = parse(frame(record))
        assert isinstance(outcome, Produce)
        return outcome.mention.brand

    # Each stronger sign names bahn; the weaker ones acme.
    assert brand(post(text, reply=in_bahn_thread, facets=[tag],
                      embed={"$type": "app.bsky.embed.record", "record": ref(ACME_POST)})) == \
        "bahn"
    assert brand(post(text, facets=[tag, mention], embed=quote)) == "bahn"
    bahn_quote = {"$type": "app.bsky.embed.record", "record": ref(BAHN_POST)}
    assert brand(post(text, facets=[tag], embed=bahn_quote)) == "bahn"
    assert brand(post("Acme #bahnchaos", tags=["bahnchaos"])) == "bahn"
    # Replying in a stranger's thread says nothing: the mention decides.
    assert brand(post(text, reply=reply(USER_POST, USER_POST), facets=[mention])) == "bahn"


def test_post_naming_no_brand() -> None:
    assert parse(frame(post("Schönes Wetter heute", langs=["de"]))) == Skip("no_brand")
    # Word boundaries: "Acmeville" is not "Acme".
    assert parse(frame(post("Grüße aus Acmeville"))) == Skip("no_brand")


def test_mention_of_someone_else() -> None:
    record = post("@other hallo", facets=[mention_facet(0, 6, OTHER)])
    assert parse(frame(record)) == Skip("no_brand")


# ---------------------------------------------------------------- the brand's own posts


def test_brand_reply() -> None:
    text = "Das tut uns leid, bitte schreib uns eine DM."
    record = post(text, reply=reply(USER_POST, USER_POST), langs=["de"])
    outcome = parse(frame(record, did=ACME))
    acme_rkey = f"at://{ACME}/app.bsky.feed.post/{RKEY}"
    assert outcome == Produce(Mention(
        id=acme_rkey,
        platform="bluesky",
        brand="acme",
        # Posts carry no handle: the DID stands in (a brand's DID is among its accounts).
        author=Author(id=ACME, handle=ACME, is_brand=True),
        text=text,
        created_at=CREATED,
        created_at_ms=CREATED_MS,
        in_reply_to=USER_POST,
        in_reply_to_author_id=OTHER,
        conversation_id=USER_POST,
        lang="de",
        url=f"https://bsky.app/profile/{ACME}/post/{RKEY}",
        followers=None,
    ))


def test_brand_reply_without_configured_handle_uses_the_did() -> None:
    record = post("Wir kümmern uns", reply=reply(USER_POST, BAHN_POST))
    outcome = parse(frame(record, did=BAHN))
    assert isinstance(outcome, Produce)
    assert outcome.mention.author == Author(id=BAHN, handle=BAHN, is_brand=True)
    assert outcome.mention.brand == "bahn"
    assert outcome.mention.conversation_id == BAHN_POST


def test_brand_reply_in_another_brands_thread_is_the_authors_brand() -> None:
    record = post("Wir sind nicht Acme", reply=reply(ACME_POST, ACME_POST))
    outcome = parse(frame(record, did=BAHN))
    assert isinstance(outcome, Produce)
    assert (outcome.mention.brand, outcome.mention.author.is_brand) == ("bahn", True)


def test_brand_top_level_post_is_skipped() -> None:
    record = post("Unser neuer Fahrplan #bahnchaos", tags=["acmehilft"])
    assert parse(frame(record, did=BAHN)) == Skip("brand_post_not_reply")
    assert parse(frame(record, did=ACME_WEB)) == Skip("brand_post_not_reply")


# ---------------------------------------------------------------- other operations and kinds


def test_delete() -> None:
    assert parse(frame(operation="delete")) == Deleted(
        platform="bluesky", id=ID, author_id=USER, at_ms=1_767_261_600_123)


def test_update_is_skipped() -> None:
    assert parse(frame(operation="update")) == Skip("update")


def test_unknown_operation_is_skipped() -> None:
    assert parse(frame(operation="archive")) == Skip("unknown_operation")


@pytest.mark.parametrize("kind", ["identity", "account"])
def test_identity_and_account(kind: str) -> None:
    data = orjson.dumps({"did": USER, "time_us": T_US, "kind": kind,
                         kind: {"did": USER, "seq": 1, "time": CREATED}})
    assert parse(data) == Skip(kind)


def test_unknown_kind() -> None:
    assert parse(orjson.dumps({"did": USER, "time_us": T_US, "kind": "sync"})) == \
        Skip("unknown_kind")


def test_other_collection() -> None:
    like = {"$type": "app.bsky.feed.like", "createdAt": CREATED, "subject": ref(ACME_POST)}
    assert parse(frame(like, collection="app.bsky.feed.like")) == Skip("not_a_post")
    # Not a post: not even its rkey is looked at.
    assert parse(frame(like, collection="app.bsky.feed.like", rkey="a/b")) == Skip("not_a_post")


# ---------------------------------------------------------------- broken frames


@pytest.mark.parametrize("data", [b"", b"{", b"\xff\xfe", b"{'did': 1}", b"[1,]", "{"])
def test_not_json(data: bytes | str) -> None:
    time_us, outcome = parse_jetstream_frame(data, BRANDS)
    assert time_us is None
    assert isinstance(outcome, Reject) and outcome.reason == "not_json"
    assert outcome.detail.startswith("not valid JSON: ")


@pytest.mark.parametrize(("data", "got"), [(b"[]", "array"), (b"42", "integer"),
                                           (b'"x"', "string"), (b"null", "null")])
def test_not_an_object(data: bytes, got: str) -> None:
    assert parse_jetstream_frame(data, BRANDS) == (
        None, Reject("bad_frame", f"frame must be a JSON object, got {got}"))


@pytest.mark.parametrize("time_us", [None, 0, -5, "1767261600123456", 1.5e15, True])
def test_missing_or_bad_time_us(time_us: object) -> None:
    doc: dict[str, Any] = {"did": USER, "kind": "identity"}
    if time_us is not None:
        doc["time_us"] = time_us
    time_read, outcome = parse_jetstream_frame(orjson.dumps(doc), BRANDS)
    assert time_read is None
    assert isinstance(outcome, Reject) and outcome.reason == "bad_frame"
    assert outcome.detail.startswith("time_us: must be a positive integer, got ")


def test_bad_envelope_keeps_the_readable_time_us() -> None:
    def reject(doc: dict[str, Any]) -> Outcome:
        return parse(orjson.dumps({"time_us": T_US, **doc}))

    assert reject({"kind": "commit"}) == Reject("bad_frame",
                                                "did: must be a DID string, got null")
    assert reject({"did": "user", "kind": "commit"}) == Reject(
        "bad_frame", "did: must be a DID string, got string")
    assert reject({"did": USER, "kind": 3}) == Reject("bad_frame",
                                                      "kind: must be a string, got integer")
    assert reject({"did": USER, "kind": "commit"}) == Reject(
        "bad_frame", "commit: must be an object, got null")
    assert reject({"did": USER, "kind": "commit", "commit": {"operation": "create"}}) == \
        Reject("bad_frame", "commit.collection: must be a string, got null")


def test_bad_commit_of_a_post() -> None:
    assert parse(frame(rkey="a/b")) == Reject("bad_frame", "commit.rkey: must be a record key")
    assert parse(frame(rkey="..")) == Reject("bad_frame", "commit.rkey: must be a record key")
    assert parse(frame(did="did:Plc:x")) == Reject("bad_frame", "did: is not a DID")
    data = orjson.loads(frame())
    data["commit"]["operation"] = 1
    assert parse(orjson.dumps(data)) == Reject("bad_frame",
                                               "commit.operation: must be a string, got integer")
    del data["commit"]["rkey"]
    assert parse(orjson.dumps(data)) == Reject("bad_frame", "commit.rkey: must be a record key")


@pytest.mark.parametrize(("created_at", "detail"), [
    (None, "is required"),
    (1767261600, "must be a string, got integer"),
    ("2026-01-01T10:00:00", "is not an RFC 3339 date-time with time zone "
                            "(at most 6 fraction digits)"),
    ("2026-01-01", "is not an RFC 3339 date-time with time zone (at most 6 fraction digits)"),
    ("2026-01-01T10:00:00.1234567Z", "is not an RFC 3339 date-time with time zone "
                                     "(at most 6 fraction digits)"),
    ("2026-01-01T10:00:00.Z", "is not an RFC 3339 date-time with time zone "
                              "(at most 6 fraction digits)"),
    ("２０２６-01-01T10:00:00Z", "is not an RFC 3339 date-time with time zone "
                                "(at most 6 fraction digits)"),
    ("2026-13-01T10:00:00Z", "is not a valid date-time"),
    ("2026-02-30T10:00:00Z", "is not a valid date-time"),
])
def test_bad_created_at(created_at: object, detail: str) -> None:
    record = post()
    if created_at is None:
        del record["createdAt"]
    else:
        record["createdAt"] = created_at
    assert parse(frame(record)) == Reject("bad_post", f"commit.record.createdAt: {detail}")


@pytest.mark.parametrize(("created_at", "ms"), [
    ("2026-01-01T10:00:00+01:00", CREATED_MS - 3_600_000),
    ("2026-01-01T10:00:00.123456Z", CREATED_MS + 123),
    ("2026-01-01T10:00:00Z", CREATED_MS),
])
def test_created_at_is_kept_verbatim(created_at: str, ms: int) -> None:
    assert parse(frame(post(createdAt=created_at))) == Produce(
        replace(BASE, created_at=created_at, created_at_ms=ms))


def test_malformed_post_naming_no_brand_is_skipped_not_rejected() -> None:
    # A stranger's post is checked only once it concerns a brand: it isn't dead-lettered.
    for record in (post("Schönes Wetter", createdAt="gestern"),
                   {"createdAt": CREATED},
                   {"text": ["Acme"], "createdAt": CREATED},
                   post("Schönes Wetter", reply={"parent": ref(ACME_POST)}),
                   post("Schönes Wetter", reply="at://x")):
        assert parse(frame(record)) == Skip("no_brand"), record


def test_brand_post_with_malformed_reply_is_rejected() -> None:
    record = post("Wir helfen", reply={"parent": ref(USER_POST)})
    assert parse(frame(record, did=ACME)) == Reject("bad_post",
                                                    "commit.record.reply.root: is required")
    textless = {"createdAt": CREATED, "reply": reply(USER_POST, USER_POST)}
    assert parse(frame(textless, did=ACME)) == Reject("bad_post",
                                                      "commit.record.text: is required")
    # The brand's own top-level posts are skipped unchecked, like strangers' posts.
    assert parse(frame({"createdAt": "gestern"}, did=ACME)) == Skip("brand_post_not_reply")


@pytest.mark.parametrize(("record", "detail"), [
    ("not a record", "commit.record: must be an object, got string"),
    # Without a text only the other signs can name the brand: here the record's tags.
    ({"createdAt": CREATED, "tags": ["acmehilft"]}, "commit.record.text: is required"),
    ({"text": 42, "createdAt": CREATED, "reply": reply(ACME_POST, ACME_POST)},
     "commit.record.text: must be a string, got integer"),
    (post(reply=[]), "commit.record.reply: must be an object, got array"),
    (post(reply={"root": ref(ACME_POST)}), "commit.record.reply.parent: is required"),
    (post(reply={"parent": ref(ACME_POST)}), "commit.record.reply.root: is required"),
    (post(reply={"root": ref(ACME_POST), "parent": "x"}),
     "commit.record.reply.parent: must be an object, got string"),
    (post(reply={"root": ref(ACME_POST), "parent": {"cid": CID}}),
     "commit.record.reply.parent.uri: is required"),
    (post(reply=reply("https://bsky.app/x", ACME_POST)),
     "commit.record.reply.parent.uri: must be an at:// URI"),
])
def test_post_breaking_the_lexicon(record: object, detail: str) -> None:
    assert parse(frame(record)) == Reject("bad_post", detail)


def test_missing_record_on_create() -> None:
    data = orjson.loads(frame())
    del data["commit"]["record"]
    assert parse(orjson.dumps(data)) == Reject("bad_post", "commit.record: is required")


def test_codec_rejection_becomes_reject_with_its_reason() -> None:
    text = "Acme " + "x" * 20_000
    outcome = parse(frame(post(text)))
    assert outcome == Reject("too_large", "$.text: is 20005 characters, at most 20000 allowed")


def test_details_never_contain_the_text() -> None:
    secret = "Acme GEHEIMER-TEXT"
    for record in (post(secret, createdAt="nope"), post(secret, reply=[]),
                   post(secret, reply={"root": ref(ACME_POST)})):
        outcome = parse(frame(record))
        assert isinstance(outcome, Reject)
        assert "GEHEIM" not in outcome.detail


def test_unknown_extra_fields_are_ignored() -> None:
    record = post(
        "@acmeservice.bsky.social hilfe",
        facets=[{**mention_facet(0, 24, ACME), "future": True,
                 "index": {"byteStart": 0, "byteEnd": 24, "unit": "bytes"}}],
        via="some client", labels={"$type": "com.atproto.label.defs#selfLabels", "values": []},
        somethingNew={"nested": [1, 2, {"x": None}]},
    )
    data = orjson.loads(frame(record, cursor=12345, newTopLevel={"a": 1}))
    data["commit"]["newCommitField"] = [None]
    assert parse(orjson.dumps(data)) == Produce(replace(BASE,
                                                        text="@acmeservice.bsky.social hilfe"))


# ---------------------------------------------------------------- facets and unicode


# No keyword in it ("acmeservice" is not "Acme"): only the mention facet can name a brand.
UNICODE_TEXT = "Schöne Grüße 🎉 @acmeservice.bsky.social bitte helfen"


def test_mention_after_umlauts_and_emoji() -> None:
    record = post(UNICODE_TEXT, facets=[mention_facet(21, 45, ACME)])
    assert parse(frame(record)) == Produce(replace(BASE, text=UNICODE_TEXT))
    assert facet_span(UNICODE_TEXT, 21, 45) == "@acmeservice.bsky.social"
    # The same facet counted in characters (15..39), as a UTF-16 or code-point client would.
    assert facet_span(UNICODE_TEXT, 15, 39) != "@acmeservice.bsky.social"


@pytest.mark.parametrize(("start", "end"), [
    (4, 45),  # starts inside ö
    (21, 18),  # ends before it starts
    (16, 18),  # ends inside the emoji
    (21, 999),  # past the end
    (21, 21),  # empty
    (20, 21),  # blank: a space shows no link
    (-3, 45),
])
def test_facet_with_bad_span_is_ignored(start: int, end: int) -> None:
    record = post(UNICODE_TEXT, facets=[mention_facet(start, end, ACME)])
    assert parse(frame(record)) == Skip("no_brand")


def test_malformed_facets_are_ignored() -> None:
    good = mention_facet(21, 45, BAHN)
    broken: list[object] = [
        "facet",
        {"features": good["features"]},
        {"index": {"byteStart": 21, "byteEnd": 45}},
        {"index": {"byteStart": "21", "byteEnd": 45}, "features": good["features"]},
        {"index": {"byteStart": 21.0, "byteEnd": 45}, "features": good["features"]},
        {"index": {"byteStart": True, "byteEnd": 45}, "features": good["features"]},
        {"index": [21, 45], "features": good["features"]},
        {"index": {"byteStart": 21, "byteEnd": 45}, "features": "mention"},
        {"index": {"byteStart": 21, "byteEnd": 45}, "features": [None, 1, "x"]},
        {"index": {"byteStart": 21, "byteEnd": 45},
         "features": [{"$type": "app.bsky.richtext.facet#mention"}]},
        {"index": {"byteStart": 21, "byteEnd": 45},
         "features": [{"$type": "app.bsky.richtext.facet#mention", "did": 7}]},
        {"index": {"byteStart": 21, "byteEnd": 45}, "features": [{"did": ACME}]},  # no $type
        {"index": {"byteStart": 21, "byteEnd": 45},
         "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": ["acmehilft"]}]},
        {"index": {"byteStart": 21, "byteEnd": 45},
         "features": [{"$type": "app.bsky.richtext.facet#link", "uri": ACME_POST}]},
    ]
    assert parse(frame(post(UNICODE_TEXT, facets=broken))) == Skip("no_brand")
    assert parse(frame(post(UNICODE_TEXT, facets={"0": good}))) == Skip("no_brand")
    # A good facet after the broken ones still counts.
    assert parse(frame(post(UNICODE_TEXT, facets=[*broken, good]))) == Produce(
        replace(BASE, brand="bahn", text=UNICODE_TEXT))


def test_tag_facet_with_bad_span_is_ignored_but_record_tags_count() -> None:
    text = "Grüße #AcmeHilft"
    split = tag_facet(3, 16, "AcmeHilft")  # byte 3 is inside ü
    assert parse(frame(post(text, facets=[split]))) == Skip("no_brand")
    assert parse(frame(post(text, facets=[split], tags=[1, None, "AcmeHilft"]))) == \
        Produce(replace(BASE, text=text))


# ---------------------------------------------------------------- langs


@pytest.mark.parametrize(("langs", "lang"), [
    (["DE"], "de"),
    (["en-US"], "en-US"),
    (["EN-us", "de"], "en-us"),
    (["de", "en"], "de"),
    ([], None),
    (["english"], None),
    (["e"], None),
    (["x-klingon"], None),
    ([""], None),
    ([42, "de"], None),
    (["\u212aa"], None),  # the Kelvin sign lower-cases to "k"; not an ASCII tag
    (["de-" + "a" * 40], None),  # longer than mention.v1 allows
    ("de", None),
    (None, None),
])
def test_langs(langs: object, lang: str | None) -> None:
    record = post() if langs is None else post(langs=langs)
    assert parse(frame(record)) == Produce(replace(BASE, lang=lang))


# ---------------------------------------------------------------- never raises

_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _any_or(*valid: object) -> st.SearchStrategy[object]:
    """A valid value (7 times in 8) or any JSON value: most frames get past the envelope and
    reach deep into the parser."""
    return st.integers(0, 7).flatmap(lambda i: _json if i == 0 else st.sampled_from(valid))


def _optional(key: str, values: st.SearchStrategy[object]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), values.map(lambda v: {key: v}))


_facet = st.fixed_dictionaries({
    "index": _any_or({"byteStart": 0, "byteEnd": 5}, {"byteStart": 2, "byteEnd": 3}),
    "features": st.lists(_any_or(
        {"$type": "app.bsky.richtext.facet#mention", "did": ACME},
        {"$type": "app.bsky.richtext.facet#tag", "tag": "bahnchaos"}), max_size=2),
})
_record = st.builds(
    lambda text, created, *parts: {"text": text, "createdAt": created,
                                   **{k: v for p in parts for k, v in p.items()}},
    st.one_of(st.text(), st.sampled_from(["Acme", "Grüße 🎉 Acme"]), _json),
    _any_or(CREATED, "2026-01-01T10:00:00+01:00", "2026-13-01T10:00:00Z"),
    _optional("reply", _any_or(reply(USER_POST, ACME_POST), reply("at://x/y", USER_POST),
                               {"root": ref(ACME_POST), "parent": {"uri": None}})),
    _optional("facets", st.lists(_facet | _json, max_size=3) | _json),
    _optional("embed", _any_or({"$type": "app.bsky.embed.record", "record": ref(BAHN_POST)},
                               {"$type": "app.bsky.embed.recordWithMedia",
                                "record": {"record": ref(ACME_POST)}})),
    _optional("langs", _any_or(["de"], ["EN-us"], [])),
    _optional("tags", _any_or(["acmehilft"], [None])),
)
_commit_frame = st.builds(
    lambda did, time_us, kind, operation, collection, rkey, record: {
        "did": did, "time_us": time_us, "kind": kind,
        "commit": {"operation": operation, "collection": collection, "rkey": rkey,
                   "record": record}},
    _any_or(USER, ACME, BAHN), _any_or(T_US), _any_or("commit"),
    _any_or("create", "delete", "update"), _any_or("app.bsky.feed.post"), _any_or(RKEY),
    _record | _json,
)


def _check(time_us: int | None, outcome: object) -> None:
    assert time_us is None or (type(time_us) is int and time_us > 0)
    assert isinstance(outcome, Produce | Deleted | Skip | Reject)
    if isinstance(outcome, Reject):
        assert outcome.reason and outcome.detail


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.binary())
def test_never_raises_on_bytes(data: bytes) -> None:
    _check(*parse_jetstream_frame(data, BRANDS))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.dictionaries(st.sampled_from(["did", "time_us", "kind", "commit"]) | st.text(),
                       _json, max_size=6))
def test_never_raises_on_json_objects(doc: dict[str, Any]) -> None:
    _check(*parse_jetstream_frame(orjson.dumps(doc), BRANDS))


@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
@given(_commit_frame)
def test_never_raises_on_post_like_frames(doc: dict[str, Any]) -> None:
    time_us, outcome = parse_jetstream_frame(orjson.dumps(doc), BRANDS)
    _check(time_us, outcome)
    if isinstance(outcome, Produce):
        assert outcome.mention.id == post_uri(doc["did"], doc["commit"]["rkey"])
        assert outcome.mention.text == doc["commit"]["record"]["text"]
    text = doc["commit"]["record"].get("text") if isinstance(doc["commit"]["record"], dict) \
        else None
    if isinstance(outcome, Reject) and isinstance(text, str) and len(text) >= 8:
        assert text not in outcome.detail
