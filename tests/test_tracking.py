"""Complaint ↔ answer tracking: one test per rule, with the examples of SEMANTICS.md."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from schemas.codec import complaint_event_to_dict, encode_complaint_event
from schemas.models import Author, Mention
from schemas.state_codec import from_json, to_json
from streams.brands import BrandConfig, BrandPolicy, BusinessCalendar, default_brand_config
from streams.tracking import (
    ItemStatus,
    Post,
    ThreadState,
    Transition,
    advance,
    apply_post,
    compact,
    item_statuses,
    next_due_ms,
    post_from_mention,
    routing_key,
)

MIN = 60_000
HOUR = 60 * MIN
T0 = 1_762_000_000_000  # 2025-11-01T12:26:40Z
CONFIG = default_brand_config()


def inbound(pid: str, at: int, reply_to: str | None = None, *, author: str = "c1",
            brand: str = "acme", conv: str | None = None, complaint: bool = True,
            reply_author: str | None = None) -> Post:
    return Post(id=pid, platform="twitter", brand=brand, author_id=author, author_handle=author,
                is_brand=False, created_at_ms=at, in_reply_to=reply_to,
                in_reply_to_author_id=reply_author, conversation_id=conv, complaint=complaint)


def reply(pid: str, at: int, reply_to: str | None, *, to: str | None = "c1",
          brand: str = "acme", conv: str | None = None) -> Post:
    return Post(id=pid, platform="twitter", brand=brand, author_id=f"{brand}_help",
                author_handle=f"{brand}_help", is_brand=True, created_at_ms=at,
                in_reply_to=reply_to, in_reply_to_author_id=to, conversation_id=conv,
                complaint=False)


def feed(posts: Iterable[Post], now: int, config: BrandConfig = CONFIG,
         state: ThreadState | None = None) -> tuple[ThreadState, list[Transition]]:
    out: list[Transition] = []
    for p in posts:
        state, ts = apply_post(state, p, config, now)
        out += ts
    assert state is not None
    return state, out


def by_id(statuses: list[ItemStatus]) -> dict[str, ItemStatus]:
    return {s.mention_id: s for s in statuses}


def kinds(transitions: list[Transition]) -> list[tuple[str, str]]:
    return [(t.kind, t.mention_id) for t in transitions]


# -- routing ---------------------------------------------------------------------------------

def test_routing_key_joins_a_customer_and_the_replies_to_them() -> None:
    assert routing_key(inbound("1", T0)) == "twitter:c1"
    assert routing_key(reply("2", T0, "1")) == "twitter:c1"
    assert routing_key(reply("3", T0, None, to=None)) is None  # answers nothing
    assert routing_key(reply("4", T0, "1", to=None)) is None  # unroutable: dead-lettered


def test_post_from_mention_recognises_configured_accounts() -> None:
    config = BrandConfig(brands={"db": BrandPolicy("db", "DB", frozenset({"DB_Bahn"}))})
    m = Mention(id="9", platform="twitter", brand="db",
                author=Author(id="42", handle="db_bahn", is_brand=False), text="Sorry!",
                created_at="2026-11-01T10:00:00Z", created_at_ms=T0, in_reply_to="8",
                in_reply_to_author_id="c1")
    post = post_from_mention(m, True, config)
    assert post.is_brand and not post.complaint  # brand posts are never complaints
    assert routing_key(post) == "twitter:c1"
    customer = post_from_mention(
        Mention(id="8", platform="twitter", brand="db",
                author=Author(id="c1", handle="anna", is_brand=False), text="late again",
                created_at="2026-11-01T09:00:00Z", created_at_ms=T0 - HOUR), True, config)
    assert not customer.is_brand and customer.complaint
    assert routing_key(customer) == "twitter:c1"


def test_state_of_another_key_is_refused() -> None:
    state, _ = feed([inbound("1", T0)], T0)
    with pytest.raises(ValueError, match="belongs to key"):
        apply_post(state, inbound("2", T0, author="c2"), CONFIG, T0)


# -- answering ---------------------------------------------------------------------------------

def test_one_reply_answers_all_earlier_waiting_mentions_in_the_thread() -> None:
    posts = [
        inbound("1", T0),
        inbound("2", T0 + 10 * MIN, "1"),
        reply("3", T0 + 30 * MIN, "2"),
        inbound("4", T0 + 40 * MIN, "3"),  # after the answer: waits for the next one
    ]
    state, _ = feed(posts, T0 + 45 * MIN)
    st = by_id(item_statuses(state, CONFIG, T0 + 45 * MIN))
    assert st["1"].status == "answered" and st["1"].first_response_ms == 30 * MIN
    assert st["2"].status == "answered" and st["2"].first_response_ms == 20 * MIN
    assert st["4"].status == "open" and st["4"].first_response_ms is None
    assert "3" not in st  # the brand's own posts are never items


def test_reply_to_an_earlier_mention_does_not_answer_later_ones() -> None:
    posts = [inbound("1", T0), inbound("2", T0 + 10 * MIN, "1"),
             reply("3", T0 + 30 * MIN, "1")]
    state, _ = feed(posts, T0 + HOUR)
    st = by_id(item_statuses(state, CONFIG, T0 + HOUR))
    assert st["1"].status == "answered"
    assert st["2"].status == "open"


def test_reply_in_another_conversation_answers_nothing_here() -> None:
    posts = [inbound("1", T0), inbound("2", T0 + 5 * MIN), reply("3", T0 + 10 * MIN, "2")]
    state, _ = feed(posts, T0 + 20 * MIN)
    st = by_id(item_statuses(state, CONFIG, T0 + 20 * MIN))
    assert st["1"].status == "open"
    assert st["2"].status == "answered"


def test_conversation_id_links_posts_without_reply_links() -> None:
    # The customer's second tweet replies to a third party's post (not in this state); the
    # platform's conversation_id still puts both in one conversation.
    posts = [inbound("1", T0, conv="1"), inbound("2", T0 + 5 * MIN, "x9", conv="1"),
             reply("3", T0 + 10 * MIN, "2", conv="1")]
    state, _ = feed(posts, T0 + 20 * MIN)
    assert by_id(item_statuses(state, CONFIG, T0 + 20 * MIN))["1"].status == "answered"
    # Without it, the branch through the third party's post is not linked (documented limit).
    posts = [inbound("1", T0), inbound("2", T0 + 5 * MIN, "x9"), reply("3", T0 + 10 * MIN, "2")]
    state, _ = feed(posts, T0 + 20 * MIN)
    assert by_id(item_statuses(state, CONFIG, T0 + 20 * MIN))["1"].status == "open"


def test_only_the_mentions_brand_answers() -> None:
    posts = [inbound("1", T0, brand="acme"), reply("2", T0 + 5 * MIN, "1", brand="other")]
    state, _ = feed(posts, T0 + 10 * MIN)
    assert by_id(item_statuses(state, CONFIG, T0 + 10 * MIN))["1"].status == "open"


def test_an_answer_before_the_mention_was_made_does_not_count() -> None:
    # Clock skew: the brand's reply to the later mention carries an earlier time than M.
    posts = [inbound("1", T0), inbound("2", T0 + 10 * MIN, "1"), reply("3", T0 - MIN, "2")]
    state, _ = feed(posts, T0 + 20 * MIN)
    st = by_id(item_statuses(state, CONFIG, T0 + 20 * MIN))
    assert st["1"].status == "open"
    assert st["2"].status == "open"


def test_first_response_is_the_earliest_answer() -> None:
    posts = [inbound("1", T0), reply("3", T0 + 50 * MIN, "1"), reply("2", T0 + 20 * MIN, "1")]
    # Records arrive within the allowed lateness (the clock trails their event times) ...
    state, ts = feed(posts, T0)
    state, ts2 = advance(state, CONFIG, T0 + HOUR)
    assert by_id(item_statuses(state, CONFIG, T0 + HOUR))["1"].first_response_ms == 20 * MIN
    assert [(t.kind, t.first_response_ms) for t in ts + ts2] == [("opened", None),
                                                                 ("answered", 20 * MIN)]
    # ... or later: the announcement was made with what was known, the status is exact.
    state, ts = feed(posts, T0 + HOUR)
    # Due soon (45 min: the 1 h SLA less the 15 min lead) before the 50-min answer was known;
    # the 20-min answer withdraws the warning.
    assert [(t.kind, t.first_response_ms, t.retracts) for t in ts] == [
        ("opened", None, ()), ("due_soon", None, ()), ("answered", 50 * MIN, ()),
        ("corrected", 20 * MIN, ("due_soon",))]
    assert by_id(item_statuses(state, CONFIG, T0 + HOUR))["1"].first_response_ms == 20 * MIN


# -- order, duplicates -------------------------------------------------------------------------

def test_reply_may_arrive_before_the_post_it_answers() -> None:
    state, ts = feed([reply("2", T0 + 10 * MIN, "1")], T0 + 15 * MIN)
    assert ts == [] and item_statuses(state, CONFIG, T0 + 15 * MIN) == []
    state, ts = feed([inbound("1", T0)], T0 + 15 * MIN, state=state)
    assert kinds(ts) == [("opened", "1"), ("answered", "1")]
    assert ts[1].first_response_ms == 10 * MIN and ts[1].at_ms == T0 + 10 * MIN
    st = item_statuses(state, CONFIG, T0 + 15 * MIN)[0]
    assert st.status == "answered" and not st.overdue


def test_the_same_post_twice_changes_nothing() -> None:
    state, ts = feed([inbound("1", T0), reply("2", T0 + 5 * MIN, "1")], T0 + 10 * MIN)
    assert len(ts) == 2
    again, ts2 = apply_post(state, inbound("1", T0), CONFIG, T0 + 10 * MIN)
    assert ts2 == [] and again is state
    again, ts2 = apply_post(state, reply("2", T0 + 5 * MIN, "1"), CONFIG, T0 + 10 * MIN)
    assert ts2 == [] and again is state


def test_conflicting_duplicates_keep_one_version_whatever_the_order() -> None:
    a = inbound("1", T0, complaint=True)
    b = inbound("1", T0, complaint=False)
    s1, _ = feed([a, b], T0)
    s2, _ = feed([b, a], T0)
    assert item_statuses(s1, CONFIG, T0) == item_statuses(s2, CONFIG, T0)
    assert s1.posts == s2.posts


# -- the clock: overdue, ignored, answered late -------------------------------------------------

def test_overdue_boundary_exactly_at_sla_is_not_overdue() -> None:
    state, ts = feed([inbound("1", T0)], T0)
    assert kinds(ts) == [("opened", "1")]
    # The warning first: the SLA less the 15-minute lead, exactly at it not yet.
    assert next_due_ms(state, CONFIG) == T0 + 45 * MIN + 1
    state, ts = advance(state, CONFIG, T0 + 45 * MIN)
    assert ts == []
    state, ts = advance(state, CONFIG, T0 + 45 * MIN + 1)
    assert kinds(ts) == [("due_soon", "1")]
    assert ts[0].at_ms == T0 + 45 * MIN and ts[0].unanswered_age_ms == 45 * MIN
    st = item_statuses(state, CONFIG, T0 + 45 * MIN + 1)[0]
    assert st.due_soon and not st.overdue and not st.ignore_soon
    assert next_due_ms(state, CONFIG) == T0 + HOUR + 1
    state, ts = advance(state, CONFIG, T0 + HOUR)
    assert ts == [] and not item_statuses(state, CONFIG, T0 + HOUR)[0].overdue
    state, ts = advance(state, CONFIG, T0 + HOUR + 1)
    assert kinds(ts) == [("overdue", "1")]
    assert ts[0].at_ms == T0 + HOUR and ts[0].unanswered_age_ms == HOUR
    assert item_statuses(state, CONFIG, T0 + HOUR + 1)[0].overdue
    # Then the warning before the ignore deadline (24 h less the 1 h lead), then ignored.
    assert next_due_ms(state, CONFIG) == T0 + 23 * HOUR + 1
    state, ts = advance(state, CONFIG, T0 + 23 * HOUR + 1)
    assert kinds(ts) == [("ignore_soon", "1")] and ts[0].at_ms == T0 + 23 * HOUR
    assert next_due_ms(state, CONFIG) == T0 + 24 * HOUR + 1


def test_answer_exactly_at_the_limits_is_in_time() -> None:
    state, _ = feed([inbound("1", T0), reply("2", T0 + HOUR, "1")], T0 + 2 * HOUR)
    st = item_statuses(state, CONFIG, T0 + 2 * HOUR)[0]
    assert st.status == "answered" and not st.overdue
    state, _ = feed([inbound("1", T0), reply("2", T0 + 24 * HOUR, "1")], T0 + 25 * HOUR)
    st = item_statuses(state, CONFIG, T0 + 25 * HOUR)[0]
    assert st.status == "answered" and st.overdue and not st.answered_late
    state, _ = feed([inbound("1", T0), reply("2", T0 + 24 * HOUR + 1, "1")], T0 + 25 * HOUR)
    st = item_statuses(state, CONFIG, T0 + 25 * HOUR)[0]
    assert st.status == "ignored" and st.answered_late


def test_ignored_then_answered_late() -> None:
    state, _ = feed([inbound("1", T0)], T0)
    state, ts = advance(state, CONFIG, T0 + 25 * HOUR)
    assert kinds(ts) == [("due_soon", "1"), ("overdue", "1"), ("ignore_soon", "1"),
                         ("ignored", "1")]
    assert ts[3].at_ms == T0 + 24 * HOUR and ts[3].unanswered_age_ms == 24 * HOUR
    st = item_statuses(state, CONFIG, T0 + 25 * HOUR)[0]
    assert (st.status, st.decided_at_ms, st.first_response_ms) == ("ignored", T0 + 24 * HOUR,
                                                                   None)
    state, ts = apply_post(state, reply("2", T0 + 26 * HOUR, "1"), CONFIG, T0 + 26 * HOUR)
    assert kinds(ts) == [("answered_late", "1")]
    assert ts[0].first_response_ms == 26 * HOUR
    st = item_statuses(state, CONFIG, T0 + 26 * HOUR)[0]
    assert st.status == "ignored" and st.answered_late and st.first_response_ms == 26 * HOUR
    assert next_due_ms(state, CONFIG) is None


def test_late_answer_already_known_when_the_deadline_passes() -> None:
    state, ts = feed([inbound("1", T0), reply("2", T0 + 30 * HOUR, "1")], T0)
    assert kinds(ts) == [("opened", "1")]
    state, ts = advance(state, CONFIG, T0 + 31 * HOUR)
    assert kinds(ts) == [("due_soon", "1"), ("overdue", "1"), ("ignore_soon", "1"),
                         ("ignored", "1"), ("answered_late", "1")]


def test_event_time_rules_a_late_arriving_early_answer_corrects() -> None:
    # The clock passed the deadline before the reply (event time 10 min) arrived: it was
    # announced ignored; the reply proves it was answered in time → corrected + answered.
    state, _ = feed([inbound("1", T0)], T0)
    state, ts = advance(state, CONFIG, T0 + 30 * HOUR)
    assert kinds(ts) == [("due_soon", "1"), ("overdue", "1"), ("ignore_soon", "1"),
                         ("ignored", "1")]
    state, ts = apply_post(state, reply("2", T0 + 10 * MIN, "1"), CONFIG, T0 + 30 * HOUR)
    assert [(t.kind, t.retracts) for t in ts] == [
        ("corrected", ("due_soon", "overdue", "ignore_soon", "ignored")), ("answered", ())]
    st = item_statuses(state, CONFIG, T0 + 30 * HOUR)[0]
    assert st.status == "answered" and not st.overdue and st.first_response_ms == 10 * MIN
    # Within the allowed lateness (clock not yet past the deadline) nothing needs correcting.
    state, _ = feed([inbound("1", T0)], T0)
    state, ts = apply_post(state, reply("2", T0 + 10 * MIN, "1"), CONFIG, T0 + 5 * MIN)
    assert ts == []  # the answer's event time is still ahead of the clock
    state, ts = advance(state, CONFIG, T0 + 30 * HOUR)
    assert kinds(ts) == [("answered", "1")]


def test_answer_after_sla_is_overdue_then_answered() -> None:
    state, ts = feed([inbound("1", T0), reply("2", T0 + 2 * HOUR, "1")], T0 + 3 * HOUR)
    assert kinds(ts) == [("opened", "1"), ("due_soon", "1"), ("overdue", "1"),
                         ("answered", "1")]
    st = item_statuses(state, CONFIG, T0 + 3 * HOUR)[0]
    assert st.status == "answered" and st.overdue


def test_statuses_are_as_of_now() -> None:
    state, _ = feed([inbound("1", T0), reply("2", T0 + 2 * HOUR, "1")], T0 + 3 * HOUR)
    early = item_statuses(state, CONFIG, T0 + 30 * MIN)[0]
    assert early.status == "open" and not early.overdue
    mid = item_statuses(state, CONFIG, T0 + 90 * MIN)[0]
    assert mid.status == "open" and mid.overdue
    late = item_statuses(state, CONFIG, T0 + 3 * HOUR)[0]
    assert late.status == "answered" and late.decided_at_ms == T0 + 2 * HOUR


def test_business_hours_deadlines() -> None:
    berlin = ZoneInfo("Europe/Berlin")

    def at(y: int, mo: int, d: int, h: int, mi: int) -> int:
        return int(datetime(y, mo, d, h, mi, tzinfo=berlin).timestamp() * 1000)

    cal = BusinessCalendar.weekly("Europe/Berlin", {d: [("09:00", "17:00")] for d in range(5)})
    config = BrandConfig(brands={"db": BrandPolicy("db", "DB", sla_ms=HOUR,
                                                   ignore_after_ms=8 * HOUR, calendar=cal)})
    friday = at(2026, 11, 6, 16, 30)
    state, _ = feed([inbound("1", friday, brand="db")], friday, config)
    # Due soon after 45 business minutes: 30 on Friday, 15 on Monday.
    assert next_due_ms(state, config) == at(2026, 11, 9, 9, 15) + 1
    state, ts = advance(state, config, at(2026, 11, 8, 23, 0))  # weekend: no time passes
    assert ts == []
    state, ts = advance(state, config, at(2026, 11, 9, 9, 16))
    assert kinds(ts) == [("due_soon", "1")] and ts[0].at_ms == at(2026, 11, 9, 9, 15)
    assert next_due_ms(state, config) == at(2026, 11, 9, 9, 30) + 1
    state, ts = advance(state, config, at(2026, 11, 9, 9, 30))
    assert ts == []  # exactly the SLA: not overdue
    state, ts = advance(state, config, at(2026, 11, 9, 9, 31))
    assert kinds(ts) == [("overdue", "1")] and ts[0].at_ms == at(2026, 11, 9, 9, 30)
    # 8 business hours: 30 min Friday + Monday 09:00-16:30 (ignore soon one hour before).
    state, ts = advance(state, config, at(2026, 11, 9, 16, 31))
    assert kinds(ts) == [("ignore_soon", "1"), ("ignored", "1")]
    assert [t.at_ms for t in ts] == [at(2026, 11, 9, 15, 30), at(2026, 11, 9, 16, 30)]


def test_budget_ending_at_closing_time_an_overnight_answer_is_in_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")

    def at(y: int, mo: int, d: int, h: int, mi: int) -> int:
        return int(datetime(y, mo, d, h, mi, tzinfo=berlin).timestamp() * 1000)

    cal = BusinessCalendar.weekly("Europe/Berlin", {d: [("09:00", "17:00")] for d in range(5)})
    config = BrandConfig(brands={"db": BrandPolicy("db", "DB", sla_ms=HOUR,
                                                   ignore_after_ms=8 * HOUR, calendar=cal)})
    # Posted Monday 07:00: the clock starts at 09:00, the 8 h run out at 17:00 exactly. An
    # answer at 22:00 comes while the business age is still == 8 h: not past the deadline.
    posted = at(2026, 11, 9, 7, 0)
    posts = [inbound("1", posted, brand="db"),
             reply("2", at(2026, 11, 9, 22, 0), "1", brand="db")]
    state, _ = feed(posts, posted, config)
    state, ts = advance(state, config, at(2026, 11, 10, 12, 0))
    assert kinds(ts) == [("due_soon", "1"), ("overdue", "1"), ("ignore_soon", "1"),
                         ("answered", "1")]
    st = item_statuses(state, config, at(2026, 11, 10, 12, 0))[0]
    assert st.status == "answered" and st.overdue and not st.answered_late
    # The same answer Tuesday 09:00:00.001 is one business millisecond too late.
    posts[1] = reply("2", at(2026, 11, 10, 9, 0) + 1, "1", brand="db")
    state, _ = feed(posts, posted, config)
    st = item_statuses(state, config, at(2026, 11, 10, 12, 0))[0]
    assert st.status == "ignored" and st.answered_late
    assert st.decided_at_ms == at(2026, 11, 9, 17, 0)


# -- unroutable posts, serialisation, compaction ------------------------------------------------

def test_a_brand_post_answering_nobody_is_not_stored() -> None:
    broadcast = reply("b1", T0, None, to=None)
    state, ts = apply_post(None, broadcast, CONFIG, T0)
    assert ts == [] and state.posts == {} and state.key == "twitter:acme_help"
    assert state.max_event_ms() == T0


def test_json_round_trip_and_size() -> None:
    # Realistic ids: 19-digit tweet ids, a brand key, a reply by the brand to another item.
    tid = 1_987_654_321_098_765_432
    posts = [inbound(str(tid), T0, conv=str(tid), author="1234567890"),
             inbound(str(tid + 1), T0 + MIN, str(tid), conv=str(tid), author="1234567890")]
    state, _ = feed(posts, T0 + 2 * HOUR)
    data = to_json(state)
    assert from_json(data) == state
    assert len(data) / 2 <= 300  # bytes per open complaint (the budget)
    with pytest.raises(ValueError, match="malformed tracking state"):
        from_json(b'{"v":1,"k":"x","p":{"1":["a"]}}')
    with pytest.raises(ValueError):
        from_json(b"[]")


def test_compaction_forgets_finished_conversations_but_stays_idempotent() -> None:
    state, _ = feed([inbound("1", T0), reply("2", T0 + 5 * MIN, "1"),
                     inbound("3", T0 + 2 * HOUR)], T0 + 3 * HOUR)
    retention = 24 * HOUR
    # Too recent: nothing to drop.
    assert compact(state, T0 + 3 * HOUR, retention) is state
    state, _ = advance(state, CONFIG, T0 + 30 * HOUR)  # item 3 gets ignored at T0 + 26 h
    later = T0 + 5 * MIN + retention + 1
    compacted = compact(state, later, retention)
    assert compacted is not None
    assert sorted(compacted.posts) == ["3"] and sorted(compacted.compacted) == ["1", "2"]
    # A redelivery of a compacted post changes nothing.
    again, ts = apply_post(compacted, inbound("1", T0), CONFIG, later)
    assert ts == [] and again.posts == compacted.posts
    # Once everything is old, nothing is left but the remembered ids; then nothing at all.
    end = T0 + 26 * HOUR + retention + 1
    compacted = compact(compacted, end, retention)
    assert compacted is not None and compacted.posts == {}
    assert compact(compacted, end + retention + 1, retention) is None


def test_complaint_event_record() -> None:
    _, ts = feed([inbound("1", T0), reply("2", T0 + 5 * MIN, "1")], T0 + 10 * MIN)
    assert orjson.loads(encode_complaint_event(ts[1])) == complaint_event_to_dict(ts[1]) == {
        "schema_version": 1, "event_id": "twitter:1:answered", "kind": "answered",
        "mention_id": "1", "brand": "acme",
        "platform": "twitter", "author_key": "twitter:c1", "complaint": True,
        "mention_created_at_ms": T0, "at_ms": T0 + 5 * MIN, "first_response_ms": 5 * MIN,
        "unanswered_age_ms": None,
    }


def test_hot_paths_build_every_field_in_its_place() -> None:
    """Post, PostRec, the items and ItemStatus are built with tuple.__new__ (fields by
    position, nothing checks the count): each must equal the tuple built by keyword. Posts are
    built by make_post alone, whose parameters are Post's fields in their order; the live path
    and the replay both call it."""
    import inspect

    from agents.replay import post_from_enriched
    from schemas.codec import encode_enriched
    from schemas.models import EnrichedMention, Enrichment
    from streams.tracking import PostRec, StatesBuilder, _items, make_post

    assert list(inspect.signature(make_post).parameters) == [*Post._fields, "config"]

    m = Mention(id="9", platform="twitter", brand="db",
                author=Author(id="c1", handle="anna", is_brand=False), text="late again",
                created_at="2025-11-01T12:26:40Z", created_at_ms=T0, in_reply_to="8",
                in_reply_to_author_id="c0", conversation_id="7")
    expected = Post(id="9", platform="twitter", brand="db", author_id="c1",
                    author_handle="anna", is_brand=False, created_at_ms=T0, in_reply_to="8",
                    in_reply_to_author_id="c0", conversation_id="7", complaint=True)
    live = post_from_mention(m, True, CONFIG)
    enriched = encode_enriched(EnrichedMention(
        m, Enrichment("de", "negative", -0.5, True, 0.9, "lexicon")))
    # The live path carries the queue's details; the replay none (it shows no queue).
    assert live == expected._replace(details=("anna", "late again", None, None))
    assert len(live) == len(Post._fields)
    for post in (post_from_enriched(enriched, CONFIG),
                 make_post(**expected._asdict(), config=CONFIG)):
        assert post == expected and len(post) == len(Post._fields)

    rec = PostRec(brand="db", created_ms=T0, is_brand=False, complaint=True, in_reply_to="8",
                  conversation_id="7")
    state, _ = apply_post(None, live, CONFIG, T0)
    builder = StatesBuilder()
    builder.add([live])
    for stored in (state.posts["9"], builder.states()["twitter:c1"].posts["9"]):
        assert stored == rec and len(stored) == len(PostRec._fields)

    (item,) = _items(state, CONFIG)
    assert (item.id, item.rec, item.answer_ms) == ("9", rec, None)
    assert item.sla_deadline_ms == T0 + CONFIG.default_sla_ms
    assert item.overdue_from_ms == T0 + CONFIG.default_sla_ms + 1
    assert item.ignore_deadline_ms == T0 + CONFIG.default_ignore_after_ms
    assert item.ignored_from_ms == T0 + CONFIG.default_ignore_after_ms + 1
    due_soon, ignore_soon = CONFIG.warning_budgets("db")
    assert (item.due_soon_at_ms, item.due_soon_from_ms) == (T0 + due_soon, T0 + due_soon + 1)
    assert (item.ignore_soon_at_ms, item.ignore_soon_from_ms) == (T0 + ignore_soon,
                                                                  T0 + ignore_soon + 1)
    assert len(item) == len(type(item)._fields)

    (status,) = item_statuses(state, CONFIG, item.overdue_from_ms)
    assert status == ItemStatus(
        mention_id="9", brand="db", platform="twitter", complaint=True, created_at_ms=T0,
        status="open", overdue=True, answered_late=False,
        first_response_ms=None, decided_at_ms=None, author_key="twitter:c1", due_soon=True,
        ignore_soon=False)
    assert len(status) == len(ItemStatus._fields)


def test_a_rerouted_record_is_judged_by_its_raw_records_timestamp() -> None:
    from types import SimpleNamespace

    from agents.tracking import PRODUCED_MS_HEADER, produced_ms_header, record_produced_ms

    raw = SimpleNamespace(timestamp=1_790_000_000.5, headers=[])
    assert record_produced_ms(raw) == 1_790_000_000_500
    rerouted = SimpleNamespace(timestamp=1_800_000_000.0,
                               headers=produced_ms_header(1_790_000_000_500))
    assert record_produced_ms(rerouted) == 1_790_000_000_500
    damaged = SimpleNamespace(timestamp=1_800_000_000.0, headers=[(PRODUCED_MS_HEADER, b"x")])
    assert record_produced_ms(damaged) == 1_800_000_000_000
    assert record_produced_ms(SimpleNamespace(timestamp=None, headers=None)) is None
