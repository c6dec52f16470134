"""Properties of tracking over generated threads: the statuses equal a direct reading of
SEMANTICS.md (an oracle written here), whatever the arrival order and duplicates; transitions
are announced once each; the state survives JSON; next_due_ms is exact; compaction and
redelivery change nothing that is still kept."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.state_codec import from_json, to_json
from streams.brands import BrandConfig, BrandPolicy, BusinessCalendar, default_brand_config
from streams.business_time import business_elapsed_ms
from streams.tracking import (
    ItemStatus,
    Post,
    PostRec,
    StatesBuilder,
    ThreadState,
    Transition,
    _components,
    _conversations,
    advance,
    apply_post,
    compact,
    item_statuses,
    next_due_ms,
    states_from_posts,
)

MIN = 60_000
HOUR = 60 * MIN
# Friday 2026-03-27 12:00 Berlin: generated threads run across the weekend and the DST change.
T0 = int(datetime(2026, 3, 27, 12, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp() * 1000)
SPAN = 3 * 24 * HOUR

PLAIN = default_brand_config()
OFFICE = BrandConfig(brands={
    "acme": BrandPolicy("acme", "Acme", sla_ms=HOUR, ignore_after_ms=8 * HOUR,
                        calendar=BusinessCalendar.weekly(
                            "Europe/Berlin", {d: [("09:00", "17:00")] for d in range(6)})),
})
CONFIGS = [PLAIN, OFFICE]


# -- generated threads ---------------------------------------------------------------------------

@st.composite
def threads(draw: st.DrawFn, causal: bool = False) -> list[Post]:
    """Posts of customer c1 and brand replies to them, joined in a reply forest (parents are
    earlier-generated posts, unknown ids, or none); conversation_id, when given, is the true
    root, as platforms give it. Times are arbitrary (clock skew: a reply may be older than its
    parent) unless causal."""
    n = draw(st.integers(1, 12))
    specs: list[dict[str, object]] = []
    inbound_times: list[int] = []
    times: dict[str, int] = {}
    for i in range(n):
        is_brand = bool(specs) and draw(st.booleans()) and bool(inbound_times)
        choices = [str(s["id"]) for s in specs]
        inbound_ids = [str(s["id"]) for s in specs if not s["brand"]]
        parent: str | None = None
        if is_brand:
            # Brand posts mostly reply to a customer post, some time after it.
            parent_kind = draw(st.sampled_from(["inbound", "inbound", "inbound", "post",
                                                "unknown"]))
            if parent_kind == "inbound":
                parent = draw(st.sampled_from(inbound_ids))
            elif parent_kind == "post":
                parent = draw(st.sampled_from(choices))
            else:
                parent = draw(st.sampled_from(["ext1", "ext2"]))
        else:
            parent_kind = draw(st.sampled_from(["none", "post", "post", "unknown"]))
            if parent_kind == "post" and choices:
                parent = draw(st.sampled_from(choices))
            elif parent_kind == "unknown":
                parent = draw(st.sampled_from(["ext1", "ext2"]))
        if is_brand:
            base = (times[parent] if parent in inbound_ids and draw(st.booleans())
                    else draw(st.sampled_from(inbound_times)))
            gap = draw(st.one_of(
                st.sampled_from([0, HOUR, HOUR + 1, 8 * HOUR, 8 * HOUR + 1, 24 * HOUR,
                                 24 * HOUR + 1]),
                st.integers(-HOUR, 40 * HOUR)))
            at = base + gap
        else:
            at = T0 + draw(st.one_of(st.integers(0, SPAN // MIN).map(lambda m: m * MIN),
                                     st.integers(0, SPAN)))
            inbound_times.append(at)
        if causal and parent is not None and parent in times:
            at = max(at, times[parent])
        times[f"{'b' if is_brand else 'm'}{i}"] = at
        specs.append({"id": f"{'b' if is_brand else 'm'}{i}", "brand": is_brand, "at": at,
                      "parent": parent,
                      "name": draw(st.sampled_from(["acme", "acme", "other"]))})
    parents = {str(s["id"]): s["parent"] for s in specs}

    def root(pid: str) -> str:
        while pid in parents and parents[pid] is not None:
            pid = str(parents[pid])
        return pid

    with_conv = draw(st.booleans())
    posts = []
    for i, s in enumerate(specs):
        pid = str(s["id"])
        brand = bool(s["brand"])
        name = str(s["name"])
        parent = s["parent"] if s["parent"] is None else str(s["parent"])
        conv = root(pid) if with_conv and draw(st.booleans()) else None
        if (conv is not None and not brand and parent in parents
                and draw(st.integers(0, 3)) > 0):
            # The customer replied via a third party's post, which lives in another key's
            # state: only the platform's conversation_id still links the thread.
            parent = f"tp{i}"
        posts.append(Post(
            id=pid, platform="twitter", brand=name,
            author_id=f"{name}_help" if brand else "c1",
            author_handle=f"{name}_help" if brand else "c1", is_brand=brand,
            created_at_ms=int(str(s["at"])), in_reply_to=parent,
            in_reply_to_author_id="c1" if brand else None,
            conversation_id=conv,
            complaint=not brand and draw(st.booleans())))
    return posts


def oracle(posts: list[Post], config: BrandConfig, now: int) -> dict[str, tuple[object, ...]]:
    """SEMANTICS.md read directly: O(n²) loops; the conversation is the conversation_id where
    given, else the root reached following the reply links upward."""
    by_id = {p.id: p for p in posts}

    def root(pid: str) -> str:
        while pid in by_id:
            post = by_id[pid]
            if post.conversation_id is not None:
                return post.conversation_id
            if post.in_reply_to is None:
                return pid
            pid = post.in_reply_to
        return pid

    out: dict[str, tuple[object, ...]] = {}
    for m in posts:
        if m.is_brand:
            continue
        answer = None
        for b in posts:
            if not b.is_brand or b.brand != m.brand or b.in_reply_to not in by_id:
                continue
            x = by_id[b.in_reply_to]
            if x.is_brand or x.author_id != m.author_id or root(x.id) != root(m.id):
                continue
            if x.created_at_ms < m.created_at_ms or b.created_at_ms < m.created_at_ms:
                continue
            if answer is None or b.created_at_ms < answer:
                answer = b.created_at_ms
        policy = config.policy_for(m.brand)
        sla, ignore_after, cal = policy.sla_ms, policy.ignore_after_ms, policy.calendar
        # The warnings: unanswered past the budget less the brand's lead time.
        due_soon, ignore_soon = sla - policy.due_soon_ms, ignore_after - policy.ignore_soon_ms
        c = m.created_at_ms
        if answer is not None and answer <= now:
            age = business_elapsed_ms(c, answer, cal)
            warned = (age > due_soon, age > ignore_soon)
            if age <= ignore_after:
                out[m.id] = ("answered", age > sla, False, answer - c, *warned)
            else:
                out[m.id] = ("ignored", True, True, answer - c, *warned)
        else:
            age = business_elapsed_ms(c, now, cal)
            status = "ignored" if age > ignore_after else "open"
            out[m.id] = (status, age > sla, False, None, age > due_soon, age > ignore_soon)
    return out


def view(statuses: list[ItemStatus]) -> dict[str, tuple[object, ...]]:
    return {s.mention_id: (s.status, s.overdue, s.answered_late, s.first_response_ms,
                           s.due_soon, s.ignore_soon)
            for s in statuses}


def expected_kinds(statuses: list[ItemStatus]) -> Counter[tuple[str, str]]:
    out: Counter[tuple[str, str]] = Counter()
    for s in statuses:
        out[("opened", s.mention_id)] += 1
        if s.status == "answered":
            out[("answered", s.mention_id)] += 1
        if s.overdue:
            out[("overdue", s.mention_id)] += 1
        if s.due_soon:
            out[("due_soon", s.mention_id)] += 1
        if s.ignore_soon:
            out[("ignore_soon", s.mention_id)] += 1
        if s.status == "ignored":
            out[("ignored", s.mention_id)] += 1
        if s.answered_late:
            out[("answered_late", s.mention_id)] += 1
    return out


@dataclass
class Run:
    state: ThreadState
    transitions: list[Transition]


def run(arrivals: list[tuple[Post, int]], config: BrandConfig, final_now: int,
        check_json: bool = False) -> Run:
    state: ThreadState | None = None
    out: list[Transition] = []
    for post, now in arrivals:
        state, ts = apply_post(state, post, config, now)
        out += ts
        if check_json:
            assert from_json(to_json(state)) == state
    assert state is not None
    state, ts = advance(state, config, final_now)
    return Run(state, out + ts)


@st.composite
def arrival_orders(draw: st.DrawFn, posts: list[Post]) -> list[Post]:
    """A permutation with some posts delivered again (at-least-once)."""
    order = draw(st.permutations(posts))
    dups = draw(st.lists(st.sampled_from(posts), max_size=4))
    for d in dups:
        order.insert(draw(st.integers(0, len(order))), d)
    return order


NOWS = st.integers(T0 - HOUR, T0 + SPAN + 60 * HOUR)


# -- properties ----------------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(posts=threads(), data=st.data(), now=NOWS, cfg=st.sampled_from(CONFIGS))
def test_statuses_follow_semantics_in_any_order(posts: list[Post], data: st.DataObject,
                                                now: int, cfg: BrandConfig) -> None:
    expected = oracle(posts, cfg, now)
    for _ in range(2):
        order = data.draw(arrival_orders(posts))
        clocks = data.draw(st.lists(NOWS, min_size=len(order), max_size=len(order)))
        result = run(list(zip(order, clocks, strict=True)), cfg, now)
        assert view(item_statuses(result.state, cfg, now)) == expected


@settings(max_examples=150, deadline=None)
@given(threads_=st.lists(threads(), min_size=1, max_size=4), data=st.data())
def test_builders_of_parts_combine_into_the_builder_of_the_whole(
        threads_: list[list[Post]], data: st.DataObject) -> None:
    """A sharded replay: posts (duplicates included) spread over several builders, keys found
    by several gathered in one with the replay's own hand-over plan, give the same states."""
    from agents.replay import _handovers

    posts = [p for thread in threads_ for p in thread]
    posts += data.draw(st.lists(st.sampled_from(posts), max_size=5))  # redeliveries
    parts = data.draw(st.integers(1, 4))
    builders = [StatesBuilder() for _ in range(parts)]
    for post in posts:
        builders[data.draw(st.integers(0, parts - 1))].add([post])
    plan = _handovers([b.keys() for b in builders])
    for giver, give in enumerate(plan):
        for owner, keys in give.items():
            builders[owner].merge(builders[giver].take(keys))
    found = [b.keys() for b in builders]
    assert sum(map(len, found)) == len(set().union(*found))  # each key in one builder now
    combined = {k: v for b in builders for k, v in b.states().items()}
    assert combined == states_from_posts(posts)


@settings(max_examples=150, deadline=None)
@given(posts=threads(), data=st.data(), now=NOWS, cfg=st.sampled_from(CONFIGS))
def test_the_audit_shortcut_gives_the_statuses_of_the_live_path(
        posts: list[Post], data: st.DataObject, now: int, cfg: BrandConfig) -> None:
    """states_from_posts (replay: no evaluation per record) == apply_post record by record."""
    order = data.draw(arrival_orders(posts))
    states = states_from_posts(order)
    assert len(states) == 1
    (state,) = states.values()
    assert view(item_statuses(state, cfg, now)) == oracle(posts, cfg, now)
    clocks = data.draw(st.lists(NOWS, min_size=len(order), max_size=len(order)))
    live = run(list(zip(order, clocks, strict=True)), cfg, now).state
    assert state.posts == live.posts


@settings(max_examples=150, deadline=None)
@given(posts=threads(), data=st.data(), now=NOWS, cfg=st.sampled_from(CONFIGS))
def test_transitions_are_announced_once_in_any_order(posts: list[Post], data: st.DataObject,
                                                     now: int, cfg: BrandConfig) -> None:
    # Records arrive before the clock passes any deadline (the replay does exactly this: the
    # clock stays at the range's start, the watermark is applied at the end).
    start = min(p.created_at_ms for p in posts)
    now = max(now, start)
    want = expected_kinds(item_statuses(run([(p, start) for p in posts], cfg, now).state,
                                        cfg, now))
    for _ in range(3):
        order = data.draw(arrival_orders(posts))
        result = run([(p, start) for p in order], cfg, now, check_json=True)
        got = Counter((t.kind, t.mention_id) for t in result.transitions)
        assert got == want
        assert all(t.kind != "corrected" for t in result.transitions)


@settings(max_examples=150, deadline=None)
@given(posts=threads(causal=True), data=st.data(), cfg=st.sampled_from(CONFIGS),
       lateness=st.integers(0, 6 * HOUR))
def test_within_the_allowed_lateness_nothing_needs_correcting(
        posts: list[Post], data: st.DataObject, cfg: BrandConfig, lateness: int) -> None:
    """Records arrive out of order but at most `lateness` behind the newest one; the clock is
    the watermark (newest event time - lateness): announcements are final. (Replies are made
    after what they reply to: with clock skew, a reply older than its parent can link
    conversations "after the fact", and the correction path handles it.)"""
    jitter = data.draw(st.lists(st.integers(0, lateness), min_size=len(posts),
                                max_size=len(posts)))
    order = [p for _, _, p in sorted(
        (p.created_at_ms + j, i, p) for i, (p, j) in enumerate(zip(posts, jitter, strict=True)))]
    arrivals = []
    newest = None
    for p in order:
        newest = p.created_at_ms if newest is None else max(newest, p.created_at_ms)
        arrivals.append((p, newest - lateness))
    final = max(p.created_at_ms for p in posts) + 60 * HOUR
    result = run(arrivals, cfg, final)
    statuses = item_statuses(result.state, cfg, final)
    assert Counter((t.kind, t.mention_id) for t in result.transitions) == \
        expected_kinds(statuses)
    assert all(t.kind != "corrected" for t in result.transitions)
    # Announced first-response times are final too.
    answered = {t.mention_id: t.first_response_ms for t in result.transitions
                if t.kind in ("answered", "answered_late")}
    assert answered == {s.mention_id: s.first_response_ms for s in statuses
                        if s.first_response_ms is not None}


@settings(max_examples=150, deadline=None)
@given(posts=threads(), data=st.data(), now=NOWS, cfg=st.sampled_from(CONFIGS))
def test_late_records_are_corrected_to_the_same_net_result(
        posts: list[Post], data: st.DataObject, now: int, cfg: BrandConfig) -> None:
    """Any clock sequence (records arbitrarily late): each kind is announced at most once per
    item, and announcements minus corrections equal the statuses."""
    order = data.draw(arrival_orders(posts))
    clocks = sorted(data.draw(st.lists(st.integers(T0 - HOUR, now), min_size=len(order),
                                       max_size=len(order))))
    result = run(list(zip(order, clocks, strict=True)), cfg, now)
    announced: Counter[tuple[str, str]] = Counter()
    per_kind: Counter[tuple[str, str]] = Counter()
    for t in result.transitions:
        if t.kind == "corrected":
            for k in t.retracts:
                announced[(k, t.mention_id)] -= 1
        else:
            announced[(t.kind, t.mention_id)] += 1
            per_kind[(t.kind, t.mention_id)] += 1
    assert max(per_kind.values(), default=1) == 1
    assert +announced == expected_kinds(item_statuses(result.state, cfg, now))
    assert -announced == Counter()


@settings(max_examples=150, deadline=None)
@given(posts=threads(), now=NOWS, cfg=st.sampled_from(CONFIGS))
def test_applying_a_known_post_again_changes_nothing(posts: list[Post], now: int,
                                                      cfg: BrandConfig) -> None:
    result = run([(p, now) for p in posts], cfg, now)
    for p in posts:
        again, ts = apply_post(result.state, p, cfg, now)
        assert ts == [] and again == result.state


@settings(max_examples=150, deadline=None)
@given(posts=threads(), start=NOWS, cfg=st.sampled_from(CONFIGS))
def test_next_due_is_exactly_when_time_changes_something(posts: list[Post], start: int,
                                                         cfg: BrandConfig) -> None:
    state = run([(p, start) for p in posts], cfg, start).state
    for _ in range(8):
        due = next_due_ms(state, cfg)
        if due is None:
            # Nothing pending: even the far future changes nothing.
            assert advance(state, cfg, start + 365 * 24 * HOUR)[1] == []
            return
        assert state.clock_ms is not None and due > state.clock_ms
        quiet, ts = advance(state, cfg, due - 1)
        assert ts == []
        state, ts = advance(quiet, cfg, due)
        assert ts != []


@settings(max_examples=100, deadline=None)
@given(posts=threads(), cfg=st.sampled_from(CONFIGS), retention=st.integers(0, 48 * HOUR),
       extra=st.integers(0, 80 * HOUR))
def test_compaction_keeps_what_is_kept_and_ignores_redeliveries(
        posts: list[Post], cfg: BrandConfig, retention: int, extra: int) -> None:
    now = max(p.created_at_ms for p in posts) + extra
    state = run([(p, now) for p in posts], cfg, now).state
    before = {s.mention_id: s for s in item_statuses(state, cfg, now)}
    compacted = compact(state, now, retention)
    if compacted is None:
        assert all(s.status != "open" for s in before.values())
        return
    after = item_statuses(compacted, cfg, now)
    assert all(before[s.mention_id] == s for s in after)
    for s in before.values():
        if s.mention_id not in compacted.posts:
            assert s.status != "open" and s.decided_at_ms is not None
            assert s.decided_at_ms <= now - retention
    for p in posts:  # redelivered within the retention
        again, ts = apply_post(compacted, p, cfg, now)
        assert ts == []
        assert item_statuses(again, cfg, now) == after


@st.composite
def reply_graphs(draw: st.DrawFn) -> dict[str, PostRec]:
    """Posts of one key joined by in_reply_to and conversation_id: a reply forest whose posts
    name their root as platforms do (the one-pass grouping applies), then, often, one field
    changed so the data no longer agrees with itself (the general search applies)."""
    n = draw(st.integers(1, 8))
    parents: dict[str, str | None] = {}
    for i in range(n):
        parent = draw(st.one_of(st.none(), st.sampled_from(["x1", "x2"]),
                                st.sampled_from(sorted(parents) or ["x1"])))
        parents[f"p{i}"] = parent

    def root(pid: str) -> str:
        while parents.get(pid) is not None:
            pid = str(parents[pid])
        return pid

    # A root names itself as its conversation, or nothing (both are consistent).
    fields = {pid: [parent, None if parent is None and draw(st.booleans()) else root(pid)]
              for pid, parent in parents.items()}
    if draw(st.booleans()):
        pid = draw(st.sampled_from(sorted(fields)))
        which = draw(st.integers(0, 1))
        fields[pid][which] = draw(st.one_of(st.none(), st.sampled_from(
            [*sorted(fields), "x1", "x2", "x3"])))
    return {pid: PostRec("acme", 0, False, False, reply_to, conv)
            for pid, (reply_to, conv) in fields.items()}


def _partition(groups: dict[str, str]) -> set[frozenset[str]]:
    members: dict[str, set[str]] = {}
    for pid, group in groups.items():
        members.setdefault(group, set()).add(pid)
    return {frozenset(ids) for ids in members.values()}


@settings(max_examples=400, deadline=None)
@given(posts=reply_graphs())
def test_grouping_by_conversation_id_finds_the_same_conversations(
        posts: dict[str, PostRec]) -> None:
    assert _partition(_conversations(posts)) == _partition(_components(posts))


def test_a_consistent_thread_is_grouped_without_the_general_search(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import streams.tracking as tracking

    def no_search(posts: dict[str, PostRec]) -> dict[str, str]:
        raise AssertionError("the general search ran")

    monkeypatch.setattr(tracking, "_components", no_search)
    posts = {"m1": PostRec("acme", 0, False, True, None, None),
             "b1": PostRec("acme", 1, True, False, "m1", "m1"),
             "m2": PostRec("acme", 2, False, True, "b1", "m1"),
             "m3": PostRec("acme", 3, False, True, "elsewhere", "elsewhere"),
             "m4": PostRec("acme", 4, False, True, None, "m4")}
    assert _partition(tracking._conversations(posts)) == {
        frozenset({"m1", "b1", "m2"}), frozenset({"m3"}), frozenset({"m4"})}
