"""The care team's queue (pure): which complaints wait, per brand, overdue first.

The queue is the open complaints exactly as the gauges count them (``mentionwatch_complaints_open``,
streams.partition.gauges): items of the partition trackers' index with ``complaint`` and status
``open``, of partitions whose clock has started. The shell captures them from the index in the
same timer step that computes the gauges (``capture``), so a worker's queue and its gauges
describe the same instant; the entries (ages, remaining business time, deadlines, links) are
derived from that capture on demand (``entries``). Across workers, ``merge`` joins the workers'
answers into one and says what it covers.

Times are epoch milliseconds; "business" durations follow the brand's calendar
(streams.business_time), as the SLA and the ignore deadline do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

from streams.brands import BrandConfig
from streams.business_time import business_deadlines_ms, business_elapsed_ms
from streams.partition import PartitionTracker
from streams.tracking import Details, ItemStatus, ThreadState, item_statuses, pending_answers

__all__ = [
    "Capture",
    "LocalQueue",
    "MergedQueue",
    "OpenComplaint",
    "QueueEntry",
    "WorkerReport",
    "capture",
    "capture_states",
    "entries",
    "entry_of",
    "local_queue",
    "matches",
    "merge",
    "ordered",
    "post_link",
    "safe_http_url",
    "sort_key",
]


class OpenComplaint(NamedTuple):
    """One open complaint as the index held it at the capture: its status (evaluated by the
    index at the partition's clock), its details (None: not known, e.g. opened before the
    state kept details), its partition, the partition's clock at the capture, and the event
    time of an answer already received that the clock hasn't reached yet (None: none)."""

    status: ItemStatus
    details: Details | None
    partition: int
    now_ms: int
    answer_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Capture:
    """The open complaints of a worker's partitions at one instant (wall_ms), and the
    partitions it covers (every partition with a tracker, open complaints or not)."""

    wall_ms: int
    partitions: frozenset[int]
    complaints: tuple[OpenComplaint, ...]


EMPTY_CAPTURE = Capture(0, frozenset(), ())


def capture(trackers: Iterable[PartitionTracker], wall_ms: int) -> Capture:
    """The open complaints of these partitions' index, with the filter of
    streams.partition.gauges (so their number equals the open gauge's sum at wall_ms)."""
    out: list[OpenComplaint] = []
    partitions: set[int] = set()
    for tracker in trackers:
        partitions.add(tracker.partition)
        now_ms = tracker.now_ms(wall_ms)
        if now_ms is None:
            continue
        for key, statuses in tracker.statuses.items():
            details: dict[str, Details] | None = None
            pending: dict[str, int] = {}
            for st in statuses:
                if st.complaint and st.status == "open":
                    if details is None:
                        details = tracker.details_of(key)
                        pending = tracker.answers_pending_of(key)
                    out.append(OpenComplaint(st, details.get(st.mention_id), tracker.partition,
                                             now_ms, pending.get(st.mention_id)))
    return Capture(wall_ms, frozenset(partitions), tuple(out))


def capture_states(states: Iterable[ThreadState], config: BrandConfig, now_ms: int,
                   partition: int = 0) -> Capture:
    """The open complaints of these states at now_ms (for tests and tools; the live workers
    capture their index)."""
    out: list[OpenComplaint] = []
    for state in states:
        pending = pending_answers(state, config, now_ms)
        for st in item_statuses(state, config, now_ms):
            if st.complaint and st.status == "open":
                out.append(OpenComplaint(st, state.details.get(st.mention_id), partition,
                                         now_ms, pending.get(st.mention_id)))
    return Capture(now_ms, frozenset((partition,)), tuple(out))


class QueueEntry(NamedTuple):
    """One complaint in the queue. Ages and remaining times are business time (the brand's
    calendar) at ``as_of_ms`` (the clock of the complaint's partition: the event-time watermark,
    or wall time when idle, as for the gauges); a remaining time below 0 is how far past the
    deadline. Deadlines are the instants the budget is used up (as in complaints.events);
    ``overdue`` (and the warnings ``due_soon``, ``ignore_soon``) are the index's verdicts, the
    ones the gauges count. ``answered_at_ms``: an answer was received, with this event time,
    but the partition's clock hasn't reached it (the allowed lateness): the complaint leaves
    the queue, and the open gauge, once it does."""

    mention_id: str
    brand: str
    platform: str
    partition: int
    author_handle: str | None
    text: str | None
    link: str | None
    followers: int | None
    created_at_ms: int
    as_of_ms: int
    age_ms: int
    waiting_ms: int  # calendar time since creation
    sla_deadline_ms: int
    sla_remaining_ms: int
    ignore_deadline_ms: int
    ignore_remaining_ms: int
    overdue: bool
    due_soon: bool = False
    ignore_soon: bool = False
    answered_at_ms: int | None = None


# -- links ----------------------------------------------------------------------------------------

_X_HANDLE = re.compile(r"@?([A-Za-z0-9_]{1,15})")
_DIGITS = re.compile(r"[0-9]{1,25}")
_AT_POST = re.compile(r"at://(did:[a-z]+:[A-Za-z0-9._:%-]{1,2000})/app\.bsky\.feed\.post/"
                      r"([A-Za-z0-9._:~-]{1,512})")


def safe_http_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL with a host and no whitespace or control
    characters, else None (a link never gets javascript:, data: or the like)."""
    if not url or len(url) > 2048 or any(c.isspace() or ord(c) < 32 or ord(c) == 127
                                         for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def post_link(platform: str, mention_id: str, handle: str | None, url: str | None) -> str | None:
    """Where the post can be opened: the record's url (http or https only), else built from
    the platform's id: x/twitter https://x.com/<handle>/status/<id>; bluesky's at:// URI →
    https://bsky.app/profile/<did>/post/<rkey>; mastodon's id is the status's URI; else none."""
    own = safe_http_url(url)
    if own is not None:
        return own
    if platform in ("x", "twitter"):
        if not _DIGITS.fullmatch(mention_id):
            return None
        name = _X_HANDLE.fullmatch(handle or "")
        return f"https://x.com/{name.group(1) if name else 'i'}/status/{mention_id}"
    if platform == "bluesky":
        m = _AT_POST.fullmatch(mention_id)
        return f"https://bsky.app/profile/{m.group(1)}/post/{m.group(2)}" if m else None
    if platform == "mastodon":
        return safe_http_url(mention_id)
    return None


# -- entries --------------------------------------------------------------------------------------

_build = tuple.__new__
_NO_DETAILS: tuple[None, None, None, None] = (None, None, None, None)


def entry_of(c: OpenComplaint, config: BrandConfig) -> QueueEntry:
    st = c.status
    sla, ignore_after, cal = config.budgets(st.brand, st.created_at_ms)
    created, now = st.created_at_ms, c.now_ms
    age = business_elapsed_ms(created, now, cal) if now > created else 0
    sla_deadline, _ = business_deadlines_ms(created, sla, cal)
    ignore_deadline, _ = business_deadlines_ms(created, ignore_after, cal)
    handle, text, url, followers = c.details if c.details is not None else _NO_DETAILS
    # QueueEntry's fields in their order (a keyword-built named tuple costs three times as
    # much; test_queue checks every field's place).
    return _build(QueueEntry, (
        st.mention_id, st.brand, st.platform, c.partition, handle, text,
        post_link(st.platform, st.mention_id, handle, url), followers, created, now, age,
        max(0, now - created), sla_deadline, sla - age, ignore_deadline, ignore_after - age,
        st.overdue, st.due_soon, st.ignore_soon, c.answer_ms))


def sort_key(e: QueueEntry) -> tuple[bool, int, str, str]:
    """Overdue first, then by SLA deadline, then by id (and platform)."""
    return (not e.overdue, e.sla_deadline_ms, e.mention_id, e.platform)


def ordered(cap: Capture, config: BrandConfig) -> list[OpenComplaint]:
    """The capture's complaints in queue order (sort_key's, without building the entries: a
    request for the first few builds only those)."""
    def key(c: OpenComplaint) -> tuple[bool, int, str, str]:
        st = c.status
        sla, _, cal = config.budgets(st.brand, st.created_at_ms)
        deadline, _ = business_deadlines_ms(st.created_at_ms, sla, cal)
        return (not st.overdue, deadline, st.mention_id, st.platform)

    return sorted(cap.complaints, key=key)


def entries(cap: Capture, config: BrandConfig) -> list[QueueEntry]:
    """The capture's queue entries, sorted (sort_key)."""
    return [entry_of(c, config) for c in ordered(cap, config)]


def _identity(value: str) -> str:
    return value


def matches(e: QueueEntry | ItemStatus, brand: str | None, platform: str | None,
            brand_label: Callable[[str], str] = _identity,
            platform_label: Callable[[str], str] = _identity) -> bool:
    """The filters: a brand (or platform) matches its own name and its metric label, so a link
    from an alert on brand="_unconfigured" (platform="_other") lists what that label counts."""
    if brand and brand not in (e.brand, brand_label(e.brand)):
        return False
    return not platform or platform in (e.platform, platform_label(e.platform))


# -- across workers -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LocalQueue:
    """One worker's answer: its queue at its snapshot (as_of_ms, wall time) — the entries a
    filter matched, the first `limit` of them — and per partition the snapshot covers how many
    entries matched there (counts); since when it can't confirm writes to the broker (None: it
    can), and whether a rebalance was under way (its snapshot may predate the assignment)."""

    worker: str
    as_of_ms: int
    partitions: frozenset[int]
    entries: tuple[QueueEntry, ...]
    counts: dict[int, int]
    stale_since_ms: int | None = None
    rebalancing: bool = False


def local_queue(worker: str, cap: Capture, order: Sequence[OpenComplaint],
                config: BrandConfig, *, stale_since_ms: int | None = None,
                rebalancing: bool = False, brand: str | None = None,
                platform: str | None = None, limit: int | None = None,
                brand_label: Callable[[str], str] = _identity,
                platform_label: Callable[[str], str] = _identity) -> LocalQueue:
    """A worker's answer from its capture and the capture's complaints in order (ordered):
    the entries of the first `limit` that the filters match, and the counts of all."""
    matched = [c for c in order
               if matches(c.status, brand, platform, brand_label, platform_label)]
    counts = dict.fromkeys(cap.partitions, 0)
    for c in matched:
        counts[c.partition] = counts.get(c.partition, 0) + 1
    shown = matched if limit is None else matched[:limit]
    return LocalQueue(worker, cap.wall_ms, cap.partitions,
                      tuple(entry_of(c, config) for c in shown), counts, stale_since_ms,
                      rebalancing)


@dataclass(frozen=True, slots=True)
class WorkerReport:
    worker: str
    answered: bool
    as_of_ms: int | None = None
    partitions: tuple[int, ...] = ()
    stale_since_ms: int | None = None
    rebalancing: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MergedQueue:
    """The whole queue: entries sorted (sort_key); ``complete`` when every partition is
    covered, every worker answered and none was rebalancing; ``stale_since_ms`` the earliest
    instant since which a worker could not confirm writes (None: all fresh)."""

    entries: tuple[QueueEntry, ...]
    count: int  # entries in the whole queue (more than listed when a limit cut the list)
    partitions_total: int
    covered: tuple[int, ...]
    missing: tuple[int, ...]
    workers: tuple[WorkerReport, ...]
    complete: bool
    stale_since_ms: int | None


def merge(answers: Iterable[LocalQueue], failures: dict[str, str], partitions_total: int,
          limit: int | None = None) -> MergedQueue:
    """Join the workers' answers: each partition's entries come from one answer (the newest
    snapshot that covers it: during a handover two workers may both still list it); failures
    (worker → why) are workers that did not answer. With a limit, the first `limit` entries
    (each worker's first `limit` hold them all)."""
    answers = sorted(answers, key=lambda a: a.worker)
    owner: dict[int, LocalQueue] = {}
    for a in answers:
        for p in a.partitions:
            current = owner.get(p)
            if current is None or a.as_of_ms > current.as_of_ms:
                owner[p] = a
    chosen = [e for a in answers for e in a.entries if owner.get(e.partition) is a]
    chosen.sort(key=sort_key)
    count = sum(a.counts.get(p, 0) for p, a in owner.items())
    if limit is not None:
        del chosen[limit:]
    covered = tuple(sorted(p for p in owner if 0 <= p < partitions_total))
    missing = tuple(p for p in range(partitions_total) if p not in owner)
    reports = [WorkerReport(a.worker, True, a.as_of_ms, tuple(sorted(a.partitions)),
                            a.stale_since_ms, a.rebalancing) for a in answers]
    reports += [WorkerReport(url, False, error=why) for url, why in sorted(failures.items())]
    stale = [a.stale_since_ms for a in answers if a.stale_since_ms is not None]
    complete = not missing and not failures and not any(a.rebalancing for a in answers)
    return MergedQueue(tuple(chosen), count, partitions_total, covered, missing,
                       tuple(reports), complete, min(stale) if stale else None)
