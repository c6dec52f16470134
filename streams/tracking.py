"""Complaint ↔ answer tracking (pure: no I/O, no clock; time is passed in as epoch ms).

One ``ThreadState`` per routing key (one customer on one platform) holds the customer's posts and
the brands' replies to them. Everything the state *says* (``item_statuses``) is a pure function of
the set of posts and the evaluation instant, so it doesn't depend on arrival order or duplicates.
What the state has *announced* (transitions) is the difference between that view at the state's
clock and what it announced before; see docs/explanation/semantics.md for the rules and worked
examples.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Literal, NamedTuple

from schemas.models import Mention
from streams.brands import BrandConfig
from streams.business_time import business_deadlines_ms, business_elapsed_ms

__all__ = [
    "TEXT_PREVIEW_CHARS",
    "Details",
    "ItemStatus",
    "OutboxEntry",
    "Post",
    "ThreadState",
    "Transition",
    "advance",
    "answered_within_sla",
    "apply_post",
    "compact",
    "item_statuses",
    "make_post",
    "next_due_ms",
    "pending_answers",
    "post_details",
    "post_from_mention",
    "routing_key",
    "state_key",
    "states_from_posts",
    "statuses_of",
    "unanswered_business_age_ms",
]

TransitionKind = Literal["opened", "due_soon", "answered", "overdue", "ignore_soon", "ignored",
                         "answered_late", "corrected"]
StatusName = Literal["open", "answered", "ignored"]

# The named tuples below are built for every record and every item. Their generated constructor
# is a Python function (0.31 µs a call, keywords 2.5 times that); tuple.__new__ builds the same
# object from the fields in the class's order in 0.1 µs, so the hot paths use it. It checks
# neither count nor order: test_hot_paths_build_every_field_in_its_place does.
build_tuple = tuple.__new__

# At most this many compacted ids are remembered per key (the newest win).
MAX_REMEMBERED_IDS = 2_000

_OPENED = 1
_ANSWERED = 2
_OVERDUE = 4
_IGNORED = 8
_LATE = 16
# The warnings before the breach: unanswered past the SLA (ignore deadline) less the brand's
# lead time (streams.brands: due_soon, ignore_soon).
_DUE_SOON = 32
_IGNORE_SOON = 64
_DECIDED = _ANSWERED | _IGNORED
_BIT_KINDS: tuple[tuple[int, TransitionKind], ...] = (
    (_OPENED, "opened"), (_DUE_SOON, "due_soon"), (_ANSWERED, "answered"),
    (_OVERDUE, "overdue"), (_IGNORE_SOON, "ignore_soon"), (_IGNORED, "ignored"),
    (_LATE, "answered_late"),
)
# Order of transitions that share an instant: a timeline reads naturally.
_KIND_RANK = {"opened": 0, "due_soon": 1, "overdue": 2, "ignore_soon": 3, "ignored": 4,
              "corrected": 5, "answered": 6, "answered_late": 7}


# -- input ---------------------------------------------------------------------------------------

# What the care team's queue shows of an inbound complaint besides the facts tracking needs:
# (author handle, text preview, url, followers). Kept in the state only while the complaint is
# open (ThreadState.details); the replay builds none.
Details = tuple[str, str, str | None, int | None]
# The text preview keeps at most this many characters of a mention's text.
TEXT_PREVIEW_CHARS = 500


def text_preview(text: str) -> str:
    """At most TEXT_PREVIEW_CHARS characters of a text; a cut one ends with "…"."""
    if len(text) <= TEXT_PREVIEW_CHARS:
        return text
    return text[:TEXT_PREVIEW_CHARS - 1] + "…"


def post_details(m: Mention) -> Details:
    """The queue's details of a mention: handle, text preview, url, followers."""
    return (m.author.handle, text_preview(m.text), m.url, m.followers)


class Post(NamedTuple):
    """One mention reduced to what tracking needs (a named tuple: built for every record, and a
    frozen dataclass costs three times as much to build)."""

    id: str
    platform: str
    brand: str
    author_id: str
    author_handle: str
    is_brand: bool
    created_at_ms: int
    in_reply_to: str | None
    in_reply_to_author_id: str | None
    conversation_id: str | None
    complaint: bool
    # For the queue (post_details); None from the replay, which shows no queue.
    details: Details | None = None


def make_post(id: str, platform: str, brand: str, author_id: str, author_handle: str,
              is_brand: bool, created_at_ms: int, in_reply_to: str | None,
              in_reply_to_author_id: str | None, conversation_id: str | None,
              complaint: bool, details: Details | None, config: BrandConfig) -> Post:
    """The one constructor of a Post from a record (live and replay alike): Post's fields in
    their order, then the brand config. ``is_brand`` is what the record says of its author; the
    post is the brand's also when its author is one of the brand's configured accounts, and the
    brand's own posts are never complaints (docs/explanation/semantics.md) and carry no details."""
    is_brand = is_brand or config.is_brand_account(brand, author_handle, created_at_ms)
    return build_tuple(Post, (id, platform, brand, author_id, author_handle, is_brand,
                              created_at_ms, in_reply_to, in_reply_to_author_id,
                              conversation_id, complaint and not is_brand,
                              None if is_brand else details))


def post_from_mention(m: Mention, complaint: bool, config: BrandConfig) -> Post:
    """A validated mention and its classification → its Post (make_post), with the queue's
    details (post_details)."""
    author = m.author
    return make_post(m.id, m.platform, m.brand, author.id, author.handle, author.is_brand,
                     m.created_at_ms, m.in_reply_to, m.in_reply_to_author_id, m.conversation_id,
                     complaint, post_details(m), config)


def routing_key(post: Post) -> str | None:
    """The co-partitioning key: the customer the post is by (inbound) or answers (brand reply).

    None for a brand post that replies to nobody (it answers nothing) and for a brand reply
    without in_reply_to_author_id (it can't be matched: the shell dead-letters it)."""
    if not post.is_brand:
        return f"{post.platform}:{post.author_id}"
    if post.in_reply_to is None or post.in_reply_to_author_id is None:
        return None
    return f"{post.platform}:{post.in_reply_to_author_id}"


def state_key(post: Post) -> str:
    """The key of the state a post is applied to: its routing key, or, for a post that answers
    nothing, its own author (what the enrich step keys such records by)."""
    return routing_key(post) or f"{post.platform}:{post.author_id}"


# -- state ---------------------------------------------------------------------------------------

class PostRec(NamedTuple):
    """What the state keeps of a post (platform and, for inbound posts, author are the key's)."""

    brand: str
    created_ms: int
    is_brand: bool
    complaint: bool
    in_reply_to: str | None
    conversation_id: str | None


_CREATED_MS = attrgetter("created_ms")


def _record_of(post: Post) -> PostRec:
    """What a state keeps of a post (the live path and the replay's builder alike)."""
    return build_tuple(PostRec, (post.brand, post.created_at_ms, post.is_brand, post.complaint,
                                 post.in_reply_to, post.conversation_id))


@dataclass(slots=True)
class ThreadState:
    """Tracking state of one routing key. Treat as immutable: the functions return new states.

    posts: every known post of the key; announced: per inbound item, the set of transition
    kinds announced so far (bit set) and when its announced decision happened; compacted: ids
    dropped by compaction → when, so a redelivery changes nothing; clock_ms: the largest
    ``now`` seen (the clock never goes back); latest_event_ms: the largest event time seen;
    details: the queue's details (Details) of the complaints not yet announced decided (kept
    from the stored version of the post; dropped once answered or ignored). Display only: no
    rule reads them."""

    key: str
    clock_ms: int | None = None
    latest_event_ms: int | None = None
    posts: dict[str, PostRec] = field(default_factory=dict)
    announced: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    compacted: dict[str, int] = field(default_factory=dict)
    details: dict[str, Details] = field(default_factory=dict)
    # Derived from posts and the brand config alone; memoised because the shell asks for the
    # transitions, the statuses and the next due instant of the same state in a row.
    items_memo: tuple[BrandConfig, list[_Item]] | None = field(default=None, compare=False,
                                                               repr=False)

    @property
    def platform(self) -> str:
        return self.key.split(":", 1)[0]

    def max_event_ms(self) -> int:
        """The largest event time this state has seen (0 if none: it is a max-candidate)."""
        if self.latest_event_ms is not None:
            return self.latest_event_ms
        return self.clock_ms if self.clock_ms is not None else 0


# -- output --------------------------------------------------------------------------------------

class ItemStatus(NamedTuple):
    """The view of one inbound mention at an instant. ``overdue``: its SLA was breached (the
    unanswered business age passed the SLA, before it was answered or until now); the audit's
    "overdue" count is open items with overdue=True. ``answered_late``: ignored, then answered.
    ``first_response_ms`` is calendar time (answered or answered late), ``decided_at_ms`` the
    answer's time (answered) or the ignore-deadline instant (ignored)."""

    mention_id: str
    brand: str
    platform: str
    complaint: bool
    created_at_ms: int
    status: StatusName
    overdue: bool
    answered_late: bool
    first_response_ms: int | None
    decided_at_ms: int | None
    author_key: str = ""
    # Warned: open and past the SLA (ignore deadline) less the brand's lead time, or answered
    # only after that instant.
    due_soon: bool = False
    ignore_soon: bool = False


@dataclass(frozen=True, slots=True)
class Transition:
    """One announced change of an item. ``at_ms`` is event time: the item's creation (opened),
    the answer's time (answered, answered_late, corrected), or the deadline instant, when the
    business budget ran out (overdue: SLA; ignored: ignore deadline). ``unanswered_age_ms`` is
    the calendar age at the deadline (overdue, ignored). ``corrected`` withdraws kinds announced
    earlier that late-arriving records proved wrong; they are listed in ``retracts``."""

    kind: TransitionKind
    mention_id: str
    brand: str
    platform: str
    author_key: str
    complaint: bool
    mention_created_at_ms: int
    at_ms: int
    first_response_ms: int | None = None
    unanswered_age_ms: int | None = None
    retracts: tuple[str, ...] = ()

    @property
    def event_id(self) -> str:
        """Deterministic: the same transition derived again (after a crash, on another worker)
        has the same id, so consumers of complaints.events drop repeats by it. An item takes
        each kind at most once (answers only ever get earlier as posts arrive, so a retracted
        kind never comes back); a correction is named by what it retracts."""
        base = f"{self.platform}:{self.mention_id}:{self.kind}"
        return f"{base}:{'+'.join(self.retracts)}" if self.retracts else base


class OutboxEntry(NamedTuple):
    """A transition announced by a stored state but not yet known to be durably on
    complaints.events: kept in the stored state until a producer flush confirms its sequence
    number, and sent again after a crash (see streams.partition)."""

    seq: int
    transition: Transition


# -- the rules -----------------------------------------------------------------------------------

class _Item(NamedTuple):
    """Event-time facts of one inbound item (deadlines from its brand's policy)."""

    id: str
    rec: PostRec
    answer_ms: int | None  # earliest answering post's event time
    sla_deadline_ms: int  # the SLA budget is used up here
    overdue_from_ms: int  # first instant with business age > SLA
    ignore_deadline_ms: int  # the ignore budget is used up here
    ignored_from_ms: int  # first instant with business age > ignore deadline
    due_soon_at_ms: int  # the SLA less the lead time is used up here
    due_soon_from_ms: int  # first instant with business age > that
    ignore_soon_at_ms: int  # likewise for the ignore deadline less its lead time
    ignore_soon_from_ms: int


_ITEM_ORDER = attrgetter("rec.created_ms", "id")


def _conversations(posts: dict[str, PostRec]) -> dict[str, str]:
    """Post id → conversation representative. A conversation is a connected component of the
    graph joining each post to its in_reply_to and to its conversation_id: for consistent data
    exactly the reply tree (conversation_id is the root's id), and adding posts only ever merges
    conversations, which keeps the rules order-independent even for inconsistent data.

    Each post is labelled with its conversation_id, or its own id when it has none (a root, as
    platforms without a conversation id on roots send it). When every id a post refers to
    carries the post's label (one pass: consistent data), the labels are the conversations;
    otherwise the general search (_components) finds them. Both give the same partition."""
    conv = {pid: pid if rec.conversation_id is None else rec.conversation_id
            for pid, rec in posts.items()}
    outside: dict[str, str] = {}  # ids referred to but not in posts → their conversation
    for pid, rec in posts.items():
        c = conv[pid]
        for ref in (c, rec.in_reply_to):
            if ref is None:
                continue
            group = conv.get(ref)
            if group is None:
                group = outside.setdefault(ref, c)
            if group != c:
                return _components(posts)  # the edge joins two conversations
    return conv


def _components(posts: dict[str, PostRec]) -> dict[str, str]:
    """_conversations by union-find over the whole graph."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while (p := parent.get(root, root)) != root:
            root = p
        while (p := parent.get(x, x)) != root:  # path compression
            parent[x] = root
            x = p
        return root

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra

    for pid, rec in posts.items():
        if rec.in_reply_to is not None:
            union(pid, rec.in_reply_to)
        if rec.conversation_id is not None:
            union(pid, rec.conversation_id)
    return {pid: find(pid) for pid in posts}


def _first_answers(posts: dict[str, PostRec]) -> dict[str, int]:
    """Inbound id → event time of the earliest brand post that answers it.

    Brand post B (brand b) answers inbound M (brand b) when B replies to an inbound post X of the
    key's author (M itself or another) in M's conversation with X.created >= M.created and
    B.created >= M.created. Per (conversation, brand) a sweep over items by creation time,
    newest first, keeps the running minimum of the answer times whose threshold
    min(X.created, B.created) admits the item."""
    for rec in posts.values():
        if rec.is_brand:
            break
    else:
        return {}  # nothing answers (most customers' threads, most of the time)
    conv = _conversations(posts)
    items: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    answers: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for pid, rec in posts.items():
        if rec.is_brand:
            target = posts.get(rec.in_reply_to) if rec.in_reply_to is not None else None
            if target is not None and not target.is_brand:
                assert rec.in_reply_to is not None
                threshold = min(target.created_ms, rec.created_ms)
                answers[(conv[rec.in_reply_to], rec.brand)].append((threshold, rec.created_ms))
        else:
            items[(conv[pid], rec.brand)].append((rec.created_ms, pid))
    out: dict[str, int] = {}
    for group, candidates in answers.items():
        members = items.get(group)
        if not members:
            continue
        candidates.sort(reverse=True)
        members.sort(reverse=True)
        best: int | None = None
        i = 0
        for created, pid in members:
            while i < len(candidates) and candidates[i][0] >= created:
                if best is None or candidates[i][1] < best:
                    best = candidates[i][1]
                i += 1
            if best is not None:
                out[pid] = best
    return out


def _items(state: ThreadState, config: BrandConfig) -> list[_Item]:
    memo = state.items_memo
    if memo is not None and memo[0] is config:
        return memo[1]
    answers = _first_answers(state.posts)
    out = []
    for pid, rec in state.posts.items():
        if rec.is_brand:
            continue
        sla, ignore_after, cal = config.budgets(rec.brand, rec.created_ms)
        due_soon_budget, ignore_soon_budget = config.warning_budgets(rec.brand, rec.created_ms)
        sla_deadline, overdue_from = business_deadlines_ms(rec.created_ms, sla, cal)
        ignore_deadline, ignored_from = business_deadlines_ms(rec.created_ms, ignore_after, cal)
        due_soon_at, due_soon_from = business_deadlines_ms(rec.created_ms, due_soon_budget, cal)
        ignore_soon_at, ignore_soon_from = business_deadlines_ms(rec.created_ms,
                                                                 ignore_soon_budget, cal)
        out.append(build_tuple(_Item, (pid, rec, answers.get(pid), sla_deadline,
                                       overdue_from, ignore_deadline, ignored_from,
                                       due_soon_at, due_soon_from, ignore_soon_at,
                                       ignore_soon_from)))
    out.sort(key=_ITEM_ORDER)
    state.items_memo = (config, out)
    return out


def _view(item: _Item, t: int | None) -> tuple[int, int | None]:
    """The kinds true of the item at clock t (bit set) and its decision instant.

    Everything is event time: an answer counts from its own time on; the item is overdue
    (ignored) from the first instant its business age exceeds the SLA (ignore deadline), unless
    an answer came before that instant."""
    bits = _OPENED
    if t is None:
        return bits, None
    a = item.answer_ms
    decided: int | None = None
    if a is not None and a < item.ignored_from_ms and a <= t:
        bits |= _ANSWERED
        decided = a
    if t >= item.due_soon_from_ms and (a is None or a >= item.due_soon_from_ms):
        bits |= _DUE_SOON
    if t >= item.overdue_from_ms and (a is None or a >= item.overdue_from_ms):
        bits |= _OVERDUE
    if t >= item.ignore_soon_from_ms and (a is None or a >= item.ignore_soon_from_ms):
        bits |= _IGNORE_SOON
    if t >= item.ignored_from_ms and (a is None or a >= item.ignored_from_ms):
        bits |= _IGNORED
        decided = item.ignore_deadline_ms
        if a is not None and a <= t:
            bits |= _LATE
    return bits, decided


def _transition(kind: TransitionKind, item: _Item, key: str, platform: str,
                retracts: tuple[str, ...] = ()) -> Transition:
    c = item.rec.created_ms
    a = item.answer_ms
    at, first, age = c, None, None
    if kind in ("answered", "answered_late", "corrected") and a is not None:
        at, first = a, a - c
    elif kind == "due_soon":
        at, age = item.due_soon_at_ms, item.due_soon_at_ms - c
    elif kind == "overdue":
        at, age = item.sla_deadline_ms, item.sla_deadline_ms - c
    elif kind == "ignore_soon":
        at, age = item.ignore_soon_at_ms, item.ignore_soon_at_ms - c
    elif kind == "ignored":
        at, age = item.ignore_deadline_ms, item.ignore_deadline_ms - c
    return Transition(kind=kind, mention_id=item.id, brand=item.rec.brand, platform=platform,
                      author_key=key, complaint=item.rec.complaint, mention_created_at_ms=c,
                      at_ms=at, first_response_ms=first, unanswered_age_ms=age,
                      retracts=retracts)


def _evaluate(state: ThreadState, config: BrandConfig,
              now_ms: int | None) -> tuple[ThreadState, list[Transition]]:
    clock = state.clock_ms
    if now_ms is not None and (clock is None or now_ms > clock):
        clock = now_ms
    platform = state.platform
    transitions: list[Transition] = []
    announced: dict[str, tuple[int, int | None]] = {}
    details = state.details
    for item in _items(state, config):
        bits, decided = _view(item, clock)
        before = state.announced.get(item.id, (0, None))[0]
        announced[item.id] = (bits, decided)
        if details and bits & _DECIDED and item.id in details:
            # Decided: no longer in the queue, so its text and handle leave the state.
            if details is state.details:
                details = dict(details)
            del details[item.id]
        if bits == before:
            continue
        for bit, kind in _BIT_KINDS:
            if bits & bit and not before & bit:
                transitions.append(_transition(kind, item, state.key, platform))
        withdrawn = tuple(kind for bit, kind in _BIT_KINDS if before & bit and not bits & bit)
        if withdrawn:
            transitions.append(_transition("corrected", item, state.key, platform, withdrawn))
    if clock == state.clock_ms and announced == state.announced and details is state.details:
        return state, []
    transitions.sort(key=lambda t: (t.at_ms, _KIND_RANK[t.kind], t.mention_id))
    new = ThreadState(key=state.key, clock_ms=clock, latest_event_ms=state.latest_event_ms,
                      posts=state.posts, announced=announced, compacted=state.compacted,
                      details=details, items_memo=state.items_memo)
    return new, transitions


def _rec_order(rec: PostRec) -> tuple[Any, ...]:
    return (rec.created_ms, rec.brand, rec.is_brand, rec.complaint,
            rec.in_reply_to is not None, rec.in_reply_to or "",
            rec.conversation_id is not None, rec.conversation_id or "")


def _ingest(state: ThreadState, post: Post) -> ThreadState:
    latest = state.latest_event_ms
    if latest is None or post.created_at_ms > latest:
        latest = post.created_at_ms
    stored = routing_key(post) is not None and post.id not in state.compacted
    rec = _record_of(post)
    old = state.posts.get(post.id)
    if stored and old is not None and old != rec:
        # The same id with other content (e.g. re-enriched): keep one deterministically, so
        # the outcome doesn't depend on which came first.
        stored = _rec_order(rec) < _rec_order(old)
    elif old is not None:
        stored = False
    if not stored and latest == state.latest_event_ms:
        return state
    posts = state.posts
    details = state.details
    if stored:
        posts = dict(posts)
        posts[post.id] = rec
        # The details go with the version of the post that is kept; only complaints have any.
        if post.complaint and post.details is not None:
            details = {**details, post.id: post.details}
        elif post.id in details:
            details = {pid: d for pid, d in details.items() if pid != post.id}
    return ThreadState(key=state.key, clock_ms=state.clock_ms, latest_event_ms=latest,
                       posts=posts, announced=state.announced, compacted=state.compacted,
                       details=details, items_memo=None if stored else state.items_memo)


def apply_post(state: ThreadState | None, post: Post, config: BrandConfig,
               now_ms: int) -> tuple[ThreadState, list[Transition]]:
    """Add one post (idempotent; a duplicate or compacted id changes nothing) and evaluate the
    key's items at the clock max(state clock, now_ms). Returns the new state and what changed.

    A post whose routing_key is None (a brand post replying to nobody) answers nothing: it is
    not stored, it only moves the clock. The state must be the one of state_key(post)."""
    key = state_key(post)
    if state is None:
        state = ThreadState(key=key)
    elif state.key != key:
        raise ValueError(f"post {post.id} belongs to key {key!r}, not {state.key!r}")
    return _evaluate(_ingest(state, post), config, now_ms)


class StatesBuilder:
    """The states that applying every post with apply_post would hold, in any order, built
    without evaluating anything on the way (no clock, nothing announced): for an audit, which
    only asks for item_statuses at one instant, and those depend on the set of posts alone. Keys
    that store no post (brand posts replying to nobody) are left out: they have no items.

    Builders of disjoint parts of a stream combine: hand the posts of a key from one to the
    other (take, then merge) and the result is the same as one builder of the whole."""

    __slots__ = ("_by_key", "_followers", "unattached")

    def __init__(self) -> None:
        self._by_key: dict[str, dict[str, PostRec]] = {}
        # key → inbound post id → its author's follower count, where the post's details give
        # one (display only, for the audit's reach: no rule reads it).
        self._followers: dict[str, dict[str, int]] = {}
        self.unattached = 0  # posts of no key: brand posts replying to nobody

    def add(self, posts: Iterable[Post]) -> None:
        by_key = self._by_key
        for post in posts:
            key = routing_key(post)
            if key is None:
                self.unattached += 1
                continue  # it answers nothing
            rec = _record_of(post)
            recs = by_key.get(key)
            if recs is None:
                by_key[key] = {post.id: rec}
            else:
                _keep(recs, post.id, rec)
            details = post.details
            if details is not None and details[3] is not None:
                known = self._followers.get(key)
                if known is None:
                    self._followers[key] = {post.id: details[3]}
                else:
                    # One id seen with several counts: the largest, whatever the order.
                    known[post.id] = max(details[3], known.get(post.id, 0))

    def followers(self, key: str) -> dict[str, int] | None:
        """The follower counts known of the key's inbound posts (post id → count)."""
        return self._followers.get(key)

    def take_followers(self, keys: Iterable[str]) -> dict[str, dict[str, int]]:
        """Remove these keys' follower counts and return them (for merge_followers)."""
        return {key: self._followers.pop(key) for key in keys if key in self._followers}

    def merge_followers(self, followers: dict[str, dict[str, int]]) -> None:
        for key, incoming in followers.items():
            known = self._followers.setdefault(key, {})
            for post_id, count in incoming.items():
                known[post_id] = max(count, known.get(post_id, 0))

    def keys(self) -> set[str]:
        return set(self._by_key)

    def take(self, keys: Iterable[str]) -> dict[str, dict[str, PostRec]]:
        """Remove these keys' posts and return them (for merge into another builder)."""
        return {key: self._by_key.pop(key) for key in keys if key in self._by_key}

    def merge(self, posts: dict[str, dict[str, PostRec]]) -> None:
        for key, incoming in posts.items():
            recs = self._by_key.get(key)
            if recs is None:
                self._by_key[key] = dict(incoming)
                continue
            for post_id, rec in incoming.items():
                _keep(recs, post_id, rec)

    def states(self) -> dict[str, ThreadState]:
        return {key: ThreadState(key=key, latest_event_ms=max(map(_CREATED_MS, recs.values())),
                                 posts=recs) for key, recs in self._by_key.items()}


def _keep(recs: dict[str, PostRec], post_id: str, rec: PostRec) -> None:
    old = recs.get(post_id)
    # The same rule as _ingest for one id with two contents: keep one deterministically.
    if old is None or (old != rec and _rec_order(rec) < _rec_order(old)):
        recs[post_id] = rec


def states_from_posts(posts: Iterable[Post]) -> dict[str, ThreadState]:
    """StatesBuilder over these posts."""
    builder = StatesBuilder()
    builder.add(posts)
    return builder.states()


def advance(state: ThreadState, config: BrandConfig,
            now_ms: int) -> tuple[ThreadState, list[Transition]]:
    """The clock moved on: announce what time alone changed (overdue, ignored, and answers whose
    event time the clock has now reached)."""
    return _evaluate(state, config, now_ms)


def next_due_ms(state: ThreadState, config: BrandConfig) -> int | None:
    """The earliest instant after the state's clock at which time alone changes what the state
    announces (None: nothing pending). The shell calls advance() once its clock reaches it."""
    clock = state.clock_ms
    due: int | None = None
    for item in _items(state, config):
        a = item.answer_ms
        # A threshold changes the view only when no answer came before it; the answer itself
        # changes it at its own time.
        candidates = [t for t in (item.due_soon_from_ms, item.overdue_from_ms,
                                  item.ignore_soon_from_ms, item.ignored_from_ms)
                      if a is None or a >= t]
        if a is not None:
            candidates.append(a)
        for t in candidates:
            if (clock is None or t > clock) and (due is None or t < due):
                due = t
    return due


def item_statuses(state: ThreadState, config: BrandConfig, now_ms: int) -> list[ItemStatus]:
    """Every inbound item of the state as seen at now_ms (a pure function of the set of posts
    and now_ms: arrival order, duplicates and the state's clock don't matter). Sorted by
    (created_at_ms, mention_id)."""
    platform = state.platform
    out = []
    for item in _items(state, config):
        bits, decided = _view(item, now_ms)
        a = item.answer_ms
        answered = a is not None and a <= now_ms
        status: StatusName = ("answered" if bits & _ANSWERED
                              else "ignored" if bits & _IGNORED else "open")
        rec = item.rec
        # Fields in order: mention_id, brand, platform, complaint, created_at_ms, status,
        # overdue, answered_late, first_response_ms, decided_at_ms, author_key, due_soon,
        # ignore_soon.
        out.append(build_tuple(ItemStatus, (
            item.id, rec.brand, platform, rec.complaint, rec.created_ms, status,
            bool(bits & _OVERDUE), bool(bits & _LATE),
            (a - rec.created_ms) if answered and a is not None else None,
            decided if status != "open" else None, state.key, bool(bits & _DUE_SOON),
            bool(bits & _IGNORE_SOON),
        )))
    return out


def unanswered_business_age_ms(status: ItemStatus, config: BrandConfig, now_ms: int) -> int:
    """Business age of an open item at now (0 for decided items): for alerts and dashboards."""
    if status.status != "open":
        return 0
    _, _, cal = config.budgets(status.brand, status.created_at_ms)
    return business_elapsed_ms(status.created_at_ms, now_ms, cal)


def answered_within_sla(t: Transition, config: BrandConfig) -> bool:
    """An `answered` transition whose answer came within the brand's SLA: its business age at
    the answer is at most the SLA (an answer exactly at the SLA is in time), i.e. the item was
    never overdue. The same deadline as the rules (_view); False for every other kind."""
    if t.kind != "answered":
        return False
    sla, _, cal = config.budgets(t.brand, t.mention_created_at_ms)
    _, overdue_from = business_deadlines_ms(t.mention_created_at_ms, sla, cal)
    return t.at_ms < overdue_from


def compact(state: ThreadState, now_ms: int, retention_ms: int) -> ThreadState | None:
    """Forget conversations that are over: a conversation is dropped when every inbound item in
    it has an announced decision at or before now - retention and every post in it is at least
    that old (brand posts waiting for the post they answer are kept as long). Dropped ids are
    remembered (at most MAX_REMEMBERED_IDS, for another retention) so a redelivery changes
    nothing. Returns None when nothing is left."""
    horizon = now_ms - retention_ms
    conv = _conversations(state.posts)
    members: dict[str, list[str]] = defaultdict(list)
    for pid, c in conv.items():
        members[c].append(pid)
    drop: list[str] = []
    for ids in members.values():
        done = True
        for pid in ids:
            rec = state.posts[pid]
            if rec.created_ms > horizon:
                done = False
                break
            if not rec.is_brand:
                bits, decided = state.announced.get(pid, (0, None))
                if not bits & (_ANSWERED | _IGNORED) or decided is None or decided > horizon:
                    done = False
                    break
        if done:
            drop.extend(ids)
    remembered = {pid: at for pid, at in state.compacted.items() if at > horizon}
    for pid in drop:
        remembered[pid] = now_ms
    if len(remembered) > MAX_REMEMBERED_IDS:
        newest = sorted(remembered.items(), key=lambda kv: (kv[1], kv[0]))[-MAX_REMEMBERED_IDS:]
        remembered = dict(newest)
    if not drop and remembered == state.compacted:
        return state if state.posts or state.compacted else None
    dropped = set(drop)
    posts = {pid: rec for pid, rec in state.posts.items() if pid not in dropped}
    if not posts and not remembered:
        return None
    announced = {pid: v for pid, v in state.announced.items() if pid not in dropped}
    details = {pid: d for pid, d in state.details.items() if pid not in dropped}
    return ThreadState(key=state.key, clock_ms=state.clock_ms,
                       latest_event_ms=state.latest_event_ms, posts=posts,
                       announced=announced, compacted=remembered, details=details)


def statuses_of(states: Iterable[ThreadState], config: BrandConfig,
                now_ms: int) -> list[ItemStatus]:
    """All items of many states at now_ms, sorted by (author_key, created, id)."""
    out: list[ItemStatus] = []
    for state in sorted(states, key=lambda s: s.key):
        out.extend(item_statuses(state, config, now_ms))
    return out


def pending_answers(state: ThreadState, config: BrandConfig, now_ms: int) -> dict[str, int]:
    """Items whose earliest known answer lies after now_ms: the answer is in the state but the
    clock hasn't reached its event time yet (it arrived within the allowed lateness), so the
    item still counts as open. Item id → the answer's event time. The queue shows them as
    answered, pending; nothing else reads this."""
    out: dict[str, int] = {}
    for item in _items(state, config):
        a = item.answer_ms
        if a is not None and a > now_ms:
            out[item.id] = a
    return out
