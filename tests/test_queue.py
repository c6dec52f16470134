"""The care team's queue, pure parts (streams/queue.py, the details in the state and its codec,
schemas/queue_codec.py): which complaints, in which order, with which times and links."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from schemas.models import Author, Mention
from schemas.queue_codec import local_from_json, local_to_json, merged_json
from schemas.state_codec import from_json, from_json_with_outbox, to_json
from streams.brands import parse_brand_config
from streams.partition import PartitionTracker, gauges
from streams.queue import (
    LocalQueue,
    QueueEntry,
    capture,
    capture_states,
    entries,
    entry_of,
    local_queue,
    matches,
    merge,
    ordered,
    post_link,
    safe_http_url,
    sort_key,
)
from streams.tracking import (
    TEXT_PREVIEW_CHARS,
    Post,
    PostRec,
    ThreadState,
    apply_post,
    post_from_mention,
    state_key,
)

MIN = 60_000
HOUR = 60 * MIN
BERLIN = ZoneInfo("Europe/Berlin")
CONFIG = parse_brand_config("""
[defaults]
sla = "1h"
ignore_after = "24h"

[brands.fernbahn]
accounts = ["DB_Bahn"]
sla = "1h"
ignore_after = "8h"
timezone = "Europe/Berlin"

[brands.fernbahn.business_hours]
mon = "09:00-17:00"
tue = "09:00-17:00"
wed = "09:00-17:00"
thu = "09:00-17:00"
fri = "09:00-17:00"
sat = "closed"
sun = "closed"

[brands.telekom]
accounts = ["Telekom_hilft"]
sla = "30m"
ignore_after = "24h"
""")


def berlin(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=BERLIN).timestamp() * 1000)


def mention(mid: str, at: int, *, brand: str = "telekom", platform: str = "x",
            author: str = "c1", handle: str | None = None, text: str = "still no internet",
            url: str | None = None, followers: int | None = None,
            in_reply_to: str | None = None, reply_author: str | None = None,
            is_brand: bool = False) -> Mention:
    return Mention(id=mid, platform=platform, brand=brand,
                   author=Author(id=author, handle=handle or author, is_brand=is_brand),
                   text=text, created_at="", created_at_ms=at, in_reply_to=in_reply_to,
                   in_reply_to_author_id=reply_author, url=url, followers=followers)


def post(m: Mention, complaint: bool = True) -> Post:
    return post_from_mention(m, complaint, CONFIG)


def states(posts: list[Post], now: int) -> list[ThreadState]:
    out: dict[str, ThreadState] = {}
    for p in posts:
        out[state_key(p)], _ = apply_post(out.get(state_key(p)), p, CONFIG, now)
    return list(out.values())


def queue_at(posts: list[Post], now: int) -> list[QueueEntry]:
    return entries(capture_states(states(posts, now), CONFIG, now), CONFIG)


# -- which complaints, in which order --------------------------------------------------------

def test_only_open_complaints_overdue_first_then_by_sla_deadline_then_id() -> None:
    t0 = 1_790_000_000_000
    posts = [
        post(mention("20", t0, author="a")),                          # overdue at t0 + 40 min
        post(mention("30", t0 + 5 * MIN, author="b")),                # overdue
        post(mention("11", t0 + 20 * MIN, author="c")),               # open, deadline t0+50min
        post(mention("10", t0 + 20 * MIN, author="d")),               # same deadline: id order
        post(mention("12", t0 + 25 * MIN, author="e")),
        post(mention("40", t0, author="f"), complaint=False),         # not a complaint
        post(mention("50", t0, author="g")),                          # answered below
        post(mention("51", t0 + MIN, author="DB_x", handle="Telekom_hilft", in_reply_to="50",
                     reply_author="g", is_brand=True)),
    ]
    q = queue_at(posts, t0 + 40 * MIN)
    assert [e.mention_id for e in q] == ["20", "30", "10", "11", "12"]
    assert q == sorted(q, key=sort_key)  # ordered() sorts the captures the same way
    assert [e.overdue for e in q] == [True, True, False, False, False]
    assert q[0].sla_remaining_ms == -10 * MIN and q[2].sla_remaining_ms == 10 * MIN
    assert q[0].author_handle == "a" and q[0].text == "still no internet"


def test_queue_count_equals_the_open_gauge_of_the_same_index_and_instant() -> None:
    t0 = 1_790_000_000_000
    tracker = PartitionTracker(0, CONFIG, lateness_ms=0, idle_grace_ms=60_000,
                               retention_ms=8 * 24 * HOUR)
    table: dict[bytes, bytes | None] = {}
    posts = [post(mention(str(i), t0 + i * MIN, author=f"c{i % 7}", brand=brand,
                          platform=platform), complaint=i % 3 != 0)
             for i, (brand, platform) in enumerate(
                 [("telekom", "x"), ("fernbahn", "bluesky"), ("acme", "mastodon")] * 10)]
    posts.append(post(mention("r1", t0 + 40 * MIN, author="DB_Bahn", brand="fernbahn",
                              platform="bluesky", in_reply_to="1", reply_author="c1")))
    for p in posts:
        key = state_key(p).encode()
        step = tracker.on_post(key, table.get(key), p, p.created_at_ms, t0 + 41 * MIN)
        for k, v in step.store:
            table[k] = v
    wall = t0 + 90 * MIN
    cap = capture([tracker], wall)
    g = gauges([tracker], wall, 7 * 24 * HOUR, str)
    assert len(cap.complaints) == sum(g.open.values()) > 0
    assert cap.partitions == frozenset({0})
    # Per label too: the queue filtered by brand counts what the gauge of that brand counts.
    q = entries(cap, CONFIG)
    for (brand, platform), n in g.open.items():
        assert sum(1 for e in q if matches(e, brand, platform)) == n
    assert "1" not in {e.mention_id for e in q}  # answered


def test_business_time_remaining_and_deadlines_follow_the_brand_calendar() -> None:
    # Friday 16:30, hours 09:00-17:00, SLA 1 h, ignore after 8 h: at 16:45 15 min are used;
    # the SLA deadline is Monday 09:30, the ignore deadline Monday 16:30 (30 min + 7 h 30).
    created = berlin(2026, 3, 13, 16, 30)  # a Friday
    p = post(mention("7", created, brand="fernbahn", platform="bluesky"))
    (e,) = queue_at([p], berlin(2026, 3, 13, 16, 45))
    assert (e.age_ms, e.sla_remaining_ms) == (15 * MIN, 45 * MIN)
    assert e.sla_deadline_ms == berlin(2026, 3, 16, 9, 30)
    assert e.ignore_deadline_ms == berlin(2026, 3, 16, 16, 30)
    assert e.ignore_remaining_ms == 8 * HOUR - 15 * MIN
    # Over the weekend the clock stands still; calendar time runs on.
    (e,) = queue_at([p], berlin(2026, 3, 15, 12, 0))
    assert (e.age_ms, e.sla_remaining_ms, e.overdue) == (30 * MIN, 30 * MIN, False)
    assert e.waiting_ms == berlin(2026, 3, 15, 12, 0) - created
    # Monday 09:45: 15 min past the SLA, in business time.
    (e,) = queue_at([p], berlin(2026, 3, 16, 9, 45))
    assert (e.sla_remaining_ms, e.overdue) == (-15 * MIN, True)


def test_filters_by_brand_and_platform_and_their_metric_labels() -> None:
    t0 = 1_790_000_000_000
    posts = [post(mention("1", t0, brand="telekom", platform="x", author="a")),
             post(mention("2", t0, brand="fernbahn", platform="bluesky", author="b")),
             post(mention("3", t0, brand="nobody", platform="myspace", author="c"))]
    q = queue_at(posts, t0 + MIN)

    def label(brand: str) -> str:
        return brand if brand in CONFIG.brands else "_unconfigured"

    def plabel(platform: str) -> str:
        return platform if platform in ("x", "bluesky") else "_other"

    def ids(brand: str | None, platform: str | None) -> list[str]:
        return sorted(e.mention_id for e in q if matches(e, brand, platform, label, plabel))

    assert ids(None, None) == ["1", "2", "3"]
    assert ids("telekom", None) == ["1"]
    assert ids(None, "bluesky") == ["2"]
    assert ids("telekom", "bluesky") == []
    assert ids("_unconfigured", None) == ["3"] and ids("nobody", None) == ["3"]
    assert ids(None, "_other") == ["3"]


@pytest.mark.parametrize(("platform", "mid", "handle", "url", "link"), [
    ("x", "1790000000000000001", "anna_k", None,
     "https://x.com/anna_k/status/1790000000000000001"),
    ("twitter", "42", "@Anna", None, "https://x.com/Anna/status/42"),
    ("x", "42", "not a handle!", None, "https://x.com/i/status/42"),
    ("x", "not-numeric", "anna", None, None),
    ("bluesky", "at://did:plc:abc123/app.bsky.feed.post/3kxyz", "a.bsky.social", None,
     "https://bsky.app/profile/did:plc:abc123/post/3kxyz"),
    ("bluesky", "at://did:plc:abc/app.bsky.feed.like/3k", "a", None, None),
    ("mastodon", "https://social.example/users/a/statuses/1", "a@social.example", None,
     "https://social.example/users/a/statuses/1"),
    ("mastodon", "javascript:alert(1)", "a", None, None),
    ("facebook", "123", "a", None, None),
    # The record's url wins, if it is http(s).
    ("facebook", "123", "a", "https://facebook.com/p/123", "https://facebook.com/p/123"),
    ("x", "42", "anna", "https://t.co/x", "https://t.co/x"),
    ("x", "42", "anna", "javascript:alert(1)", "https://x.com/anna/status/42"),
    ("web", "1", "a", "data:text/html,<script>alert(1)</script>", None),
    ("web", "1", "a", "https://ok.example/a b", None),
    ("web", "1", "a", "http://ok.example/\u0000", None),
])
def test_links_per_platform(platform: str, mid: str, handle: str, url: str | None,
                            link: str | None) -> None:
    assert post_link(platform, mid, handle, url) == link
    assert link is None or safe_http_url(link) == link


def test_text_is_cut_to_the_preview_and_only_complaints_keep_details() -> None:
    t0 = 1_790_000_000_000
    long = "ä" * 600
    p = post(mention("1", t0, text=long, url="https://x.com/c1/status/1", followers=12))
    assert p.details is not None
    handle, text, url, followers = p.details
    assert len(text) == TEXT_PREVIEW_CHARS and text.endswith("…") and text[:499] == long[:499]
    assert (handle, url, followers) == ("c1", "https://x.com/c1/status/1", 12)
    exact = post(mention("2", t0, text="x" * TEXT_PREVIEW_CHARS))
    assert exact.details is not None and exact.details[1] == "x" * TEXT_PREVIEW_CHARS
    # The brand's own posts carry no details; a non-complaint keeps none in the state.
    brand_post = post(mention("3", t0, handle="Telekom_hilft"))
    assert brand_post.is_brand and brand_post.details is None
    (state,) = states([post(mention("4", t0, author="z"), complaint=False)], t0)
    assert state.details == {}
    (e,) = queue_at([p], t0 + MIN)
    assert e.text == text and e.followers == 12 and e.link == "https://x.com/c1/status/1"


def test_details_leave_the_state_when_the_complaint_is_decided() -> None:
    t0 = 1_790_000_000_000
    m1 = post(mention("1", t0))
    m2 = post(mention("2", t0 + MIN, in_reply_to="1"))
    (state,) = states([m1, m2], t0 + MIN)
    assert set(state.details) == {"1", "2"}
    answer = post(mention("b", t0 + 2 * MIN, author="T", handle="Telekom_hilft",
                          in_reply_to="1", reply_author="c1", is_brand=True))
    state, _ = apply_post(state, answer, CONFIG, t0 + 2 * MIN)
    assert set(state.details) == {"2"}  # "1" is answered; "2" is later than the post replied to
    # Ignored (24 h later): gone too. A redelivery of the decided post brings nothing back.
    state, _ = apply_post(state, m2, CONFIG, t0 + 25 * HOUR)
    assert state.details == {}
    assert queue_at([m1, m2, answer], t0 + 25 * HOUR) == []


def test_an_answer_the_clock_has_not_reached_shows_as_pending_and_still_counts() -> None:
    """Within the allowed lateness the clock trails the newest records: an answer already
    received counts once the clock reaches its event time. Until then the complaint is open
    (the gauge counts it) and the queue says the answer is there."""
    t0 = 1_790_000_000_000
    m = post(mention("1", t0))
    answer = post(mention("b", t0 + 10 * MIN, author="T", handle="Telekom_hilft",
                          in_reply_to="1", reply_author="c1", is_brand=True))
    clock = t0 + 9 * MIN  # the watermark: newest event time less the lateness
    (e,) = queue_at([m, answer], clock)
    assert e.answered_at_ms == t0 + 10 * MIN and e.text == "still no internet"
    assert queue_at([m], clock)[0].answered_at_ms is None
    assert queue_at([m, answer], t0 + 10 * MIN) == []
    # The partition tracker's index says the same.
    tracker = PartitionTracker(0, CONFIG, lateness_ms=MIN, idle_grace_ms=HOUR,
                               retention_ms=8 * 24 * HOUR)
    table: dict[bytes, bytes | None] = {}
    for p in (m, answer):
        key = state_key(p).encode()
        for k, v in tracker.on_post(key, table.get(key), p, p.created_at_ms, t0).store:
            table[k] = v
    (c,) = capture([tracker], t0 + 10 * MIN).complaints
    assert (c.now_ms, c.answer_ms) == (t0 + 9 * MIN, t0 + 10 * MIN)
    assert sum(gauges([tracker], t0 + 10 * MIN, HOUR, str).open.values()) == 1


def test_the_replay_keeps_no_details() -> None:
    t0 = 1_790_000_000_000
    p = post(mention("1", t0))._replace(details=None)
    (state,) = states([p], t0)
    assert state.details == {}
    (e,) = queue_at([p], t0)
    # Listed all the same; the link is built from the id alone.
    assert (e.author_handle, e.text, e.link) == (None, None, "https://x.com/i/status/1")


# -- the stored state ----------------------------------------------------------------------------

# A state as the workers wrote it before the details existed (this exact text).
OLD_STATE = (b'{"v":1,"k":"x:c1","c":1790000060000,"l":1790000000000,'
             b'"p":{"1":["telekom",1790000000000,2,null,null]},"a":{"1":[1,null]},'
             b'"o":[[3,"opened","1","telekom",true,1790000000000,1790000000000,null,null,[]]]}')


def _reader_before_details(data: bytes) -> dict[str, Any]:
    """The state reader as it was before the details (schemas/state_codec.py at 10399b8),
    reduced to what it checked: a v1 object, 5-element posts, the maps it knew; it ignored
    every other key."""
    obj = orjson.loads(data)
    assert type(obj) is dict and obj.get("v") == 1
    posts = {pid: PostRec(brand, created, bool(flags & 1), bool(flags & 2), irt, conv)
             for pid, (brand, created, flags, irt, conv) in obj.get("p", {}).items()}
    return {"key": obj["k"], "posts": posts, "announced": obj.get("a", {}),
            "compacted": obj.get("x", {}), "outbox": obj.get("o", [])}


def test_states_written_before_the_details_still_decode() -> None:
    state, outbox = from_json_with_outbox(OLD_STATE)
    assert state.details == {} and state.posts["1"].complaint and len(outbox) == 1
    assert to_json(state, outbox) == OLD_STATE  # and encode exactly as before
    # No details, no text: the queue still lists the complaint (count stays right).
    cap = capture_states([state], CONFIG, 1_790_000_060_000)
    (e,) = entries(cap, CONFIG)
    assert (e.mention_id, e.text, e.author_handle) == ("1", None, None)


def test_details_round_trip_and_a_reader_from_before_ignores_them() -> None:
    t0 = 1_790_000_000_000
    (state,) = states([post(mention("1", t0, text='<img src=x onerror="alert(1)"> "ü"',
                                    url="https://x.com/c1/status/1", followers=0)),
                       post(mention("2", t0 + 1, in_reply_to="1"))], t0 + 1)
    data = to_json(state)
    back = from_json(data)
    assert back.details == state.details and back.posts == state.posts
    assert back.details["1"] == ("c1", '<img src=x onerror="alert(1)"> "ü"',
                                 "https://x.com/c1/status/1", 0)
    assert back.details["2"] == ("c1", "still no internet", None, None)
    old = _reader_before_details(data)  # a worker rolled back reads it
    assert old["posts"] == state.posts and old["key"] == state.key
    with pytest.raises(ValueError, match="details"):
        from_json(data.replace(b'"c1","still', b'7,"still'))


def test_state_size_per_open_complaint() -> None:
    """What an open complaint adds to the stored state with its details: the handle, the text
    preview (at most 500 characters) and the url, plus about 20 bytes of structure."""
    t0 = 1_790_000_000_000
    text = "Zug fällt schon wieder aus, seit 40 Minuten keine Info am Bahnsteig @DB_Bahn"
    with_details = post(mention("1790000000000000001", t0, text=text, handle="anna_k",
                                url="https://x.com/anna_k/status/1790000000000000001",
                                followers=120))
    (s1,) = states([with_details], t0)
    (s0,) = states([with_details._replace(details=None)], t0)
    extra = len(to_json(s1)) - len(to_json(s0))
    # ',"d":{...}' added to the object: the map's JSON less its braces, plus a comma.
    assert extra == len(orjson.dumps({"d": {with_details.id: with_details.details}})) - 1
    assert extra < len(text.encode()) + 120


# -- across workers --------------------------------------------------------------------------

def _entry(mid: str, partition: int, deadline: int, overdue: bool = False) -> QueueEntry:
    return QueueEntry(mid, "telekom", "x", partition, "h", "t", None, None, 0, 0, 0, 0,
                      deadline, 0, deadline, 0, overdue)


def test_merge_takes_each_partition_from_one_worker_and_says_what_is_missing() -> None:
    a = LocalQueue("http://a", 2_000, frozenset({0, 1}),
                   (_entry("1", 0, 50), _entry("2", 1, 10)), {0: 1, 1: 1})
    # b still lists partition 1 from an older snapshot (a handover): a's newer one wins.
    b = LocalQueue("http://b", 1_000, frozenset({1, 2}),
                   (_entry("3", 2, 5, overdue=True), _entry("2-old", 1, 1)), {1: 1, 2: 1},
                   stale_since_ms=900)
    m = merge([b, a], {"http://c": "no answer within 2s"}, 4)
    assert [e.mention_id for e in m.entries] == ["3", "2", "1"]
    assert (m.count, m.covered, m.missing, m.complete) == (3, (0, 1, 2), (3,), False)
    assert m.stale_since_ms == 900
    assert [(w.worker, w.answered, w.error) for w in m.workers] == [
        ("http://a", True, None), ("http://b", True, None),
        ("http://c", False, "no answer within 2s")]
    whole = merge([a, LocalQueue("http://d", 3_000, frozenset({2, 3}), (), {2: 0, 3: 0})],
                  {}, 4)
    assert whole.complete and whole.missing == () and whole.stale_since_ms is None
    assert not merge([LocalQueue("http://e", 1, frozenset({0}), (), {0: 0},
                                 rebalancing=True)], {}, 1).complete


def test_a_limit_keeps_the_first_entries_and_the_whole_count() -> None:
    t0 = 1_790_000_000_000
    posts = [post(mention(str(i), t0 + i * MIN, author=f"c{i}")) for i in range(10)]
    cap_states = states(posts, t0 + 45 * MIN)
    left = capture_states(cap_states[:5], CONFIG, t0 + 45 * MIN, partition=0)
    right = capture_states(cap_states[5:], CONFIG, t0 + 45 * MIN, partition=1)
    parts = [local_queue(f"http://w{i}", cap, ordered(cap, CONFIG), CONFIG, limit=3)
             for i, cap in enumerate((left, right))]
    assert [len(p.entries) for p in parts] == [3, 3] and parts[1].counts == {1: 5}
    m = merge(parts, {}, 2, limit=3)
    assert m.count == 10 and [e.mention_id for e in m.entries] == ["0", "1", "2"]
    body = merged_json(m, brand=None, platform=None, now_ms=t0)
    assert body["count"] == 10 and body["truncated"] and len(body["entries"]) == 3


def test_a_workers_part_survives_the_trip_between_workers() -> None:
    t0 = 1_790_000_000_000
    posts = [post(mention("1", t0, text="<script>alert(1)</script>", followers=3)),
             post(mention("2", t0 - 2 * HOUR, author="b"))]
    cap = capture_states(states(posts, t0), CONFIG, t0, partition=4)
    q = local_queue("http://w", cap, ordered(cap, CONFIG), CONFIG, stale_since_ms=t0 - 5_000)
    back = local_from_json(local_to_json(q))
    assert back == q
    with pytest.raises(ValueError, match="malformed local queue"):
        local_from_json(local_to_json(q).replace(b'"overdue":true', b'"overdue":"yes"'))
    with pytest.raises(ValueError):
        local_from_json(b"[]")


def test_entries_are_built_with_every_field_in_its_place() -> None:
    """entry_of builds QueueEntry with tuple.__new__ (by position, nothing checks the count):
    it must equal the entry built by keyword."""
    t0 = 1_790_000_000_000
    m = post(mention("42", t0, handle="anna", url=None, followers=7))
    answer = post(mention("b", t0 + 20 * MIN, author="T", handle="Telekom_hilft",
                          in_reply_to="42", reply_author="c1", is_brand=True))
    (c,) = capture_states(states([m, answer], t0 + 10 * MIN), CONFIG, t0 + 10 * MIN,
                          partition=3).complaints
    e = entry_of(c, CONFIG)
    assert len(e) == len(QueueEntry._fields)
    assert e == QueueEntry(
        mention_id="42", brand="telekom", platform="x", partition=3, author_handle="anna",
        text="still no internet", link="https://x.com/anna/status/42", followers=7,
        created_at_ms=t0, as_of_ms=t0 + 10 * MIN, age_ms=10 * MIN, waiting_ms=10 * MIN,
        sla_deadline_ms=t0 + 30 * MIN, sla_remaining_ms=20 * MIN,
        ignore_deadline_ms=t0 + 24 * HOUR, ignore_remaining_ms=24 * HOUR - 10 * MIN,
        overdue=False, due_soon=c.status.due_soon, ignore_soon=False,
        answered_at_ms=t0 + 20 * MIN)
