"""The partition tracker: everything a worker decides for one partition of the thread table, as
a state machine without I/O (in the style of h11's Connection). Bytes in, bytes out: the shell
(agents/tracking.py) reads a thread's stored value, hands it in with the post or the tick, and
carries out the returned Step — send these events, then store these values. Time is passed in.

Durability (docs/explanation/processing.md, "Crash safety"). A worker can die between any two of its
writes, and faust writes a table value to local RocksDB at once while its changelog record and
our events wait in the producer's buffer. Two rules make every crash equivalent to a redelivery:

1. Local state is trusted only after a clean stop (agents/state_dir.py): after a crash the
   worker restores its table from the changelog, so the state it resumes from is one that
   Kafka acknowledged, and the source records after the last committed offset are processed
   again (faust commits offsets only after flushing the producer).
2. A stored state never claims an announcement that might be lost: every transition it
   announces is also kept in the state's *outbox*, with the partition's sequence number of the
   step that made it (Step.seq), until the shell confirms that sequence: when the deliveries
   of every step below it were acknowledged, or a producer flush succeeded (flush_point before
   the flush). confirm's Step stores the partition's marker. On recovery the tracker sends
   again every outbox entry at or past the marker's confirmed sequence. Events carry
   deterministic ids (Transition.event_id), so a repeat is recognisable as one; a redelivered
   record re-derives the same transitions with the same ids.

A confirmed entry leaves the outbox the next time its thread is written; the marker makes sure
it is not sent again meanwhile.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from schemas.state_codec import (
    OutboxRow,
    from_json_with_outbox,
    outbox_entries,
    outbox_row,
    to_json,
)
from streams.brands import BrandConfig
from streams.clock import PartitionClock
from streams.tracking import (
    Details,
    ItemStatus,
    OutboxEntry,
    Post,
    ThreadState,
    Transition,
    advance,
    apply_post,
    compact,
    item_statuses,
    next_due_ms,
    pending_answers,
)

MARKER_PREFIX = b"\x00partition:"
_NO_DETAILS: dict[str, Details] = {}
_NO_PENDING: dict[str, int] = {}
MARKER_VERSION = 1


def marker_key(partition: int) -> bytes:
    """The table key of a partition's marker. Thread keys are "platform:author" and never start
    with a NUL byte. The shell writes it while processing a record of that partition, so it
    lands in that partition's changelog."""
    return MARKER_PREFIX + str(partition).encode()


def marker_partition(key: bytes) -> int | None:
    """The partition a marker key belongs to; None for a thread key."""
    if not key.startswith(MARKER_PREFIX):
        return None
    return int(key[len(MARKER_PREFIX):])


@dataclass(frozen=True, slots=True)
class Marker:
    """What a partition keeps besides its threads: the sequence below which every outbox entry
    is durably on complaints.events, and its clock (so a restart neither rewinds it nor
    judges decided complaints open again)."""

    confirmed_seq: int
    max_event_ms: int | None
    clock_floor_ms: int | None

    def encode(self) -> bytes:
        return orjson.dumps({"v": MARKER_VERSION, "confirmed": self.confirmed_seq,
                             "max_event": self.max_event_ms, "floor": self.clock_floor_ms})

    @staticmethod
    def decode(data: bytes) -> Marker:
        try:
            obj = orjson.loads(data)
            if type(obj) is not dict or obj.get("v") != MARKER_VERSION:
                raise ValueError("not a partition marker (v1)")
            confirmed, max_event, floor = obj["confirmed"], obj["max_event"], obj["floor"]
            for value in (max_event, floor):
                if value is not None and type(value) is not int:
                    raise ValueError("marker times must be integers or null")
            if type(confirmed) is not int:
                raise ValueError("confirmed must be an integer")
            return Marker(confirmed, max_event, floor)
        except (orjson.JSONDecodeError, KeyError) as exc:
            raise ValueError(f"malformed partition marker: {exc}") from None


@dataclass(slots=True)
class Step:
    """What the shell does, in this order: send `resend` (outbox entries of a recovered state,
    with their own sequences: not counted again) and `send` (new transitions of sequence
    `seq`, counted in metrics), then write `store` (table key → value; None deletes the key).
    `more_due`: aging stopped at its budget, come back after the records already waiting.
    A sequence may be confirmed only once every event sent with a smaller one is delivered."""

    store: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    send: list[Transition] = field(default_factory=list)
    resend: list[OutboxEntry] = field(default_factory=list)
    more_due: bool = False
    seq: int | None = None  # the outbox sequence of `send` (None: nothing new to send)


@dataclass(slots=True)
class PartitionTracker:
    """One partition's threads as the worker that owns it sees them. Holds no thread state
    itself (the table does) — only what the timer, the gauges and the queue need without
    reading the table: each thread's item statuses, its open complaints' details and next due
    instant, the clock, and the sequences."""

    partition: int
    config: BrandConfig
    lateness_ms: int
    idle_grace_ms: int
    retention_ms: int
    clock: PartitionClock = field(init=False)
    statuses: dict[bytes, list[ItemStatus]] = field(default_factory=dict)
    details: dict[bytes, dict[str, Details]] = field(default_factory=dict)  # threads with any
    # Items answered after the clock (tracking.pending_answers), threads with any: the queue's.
    answers_pending: dict[bytes, dict[str, int]] = field(default_factory=dict)
    due: list[tuple[int, bytes]] = field(default_factory=list)  # heap, lazily invalidated
    due_at: dict[bytes, int] = field(default_factory=dict)
    next_seq: int = 1
    confirmed_seq: int = 0  # outbox entries with seq < this are durably sent
    stored_marker: Marker | None = None
    undecodable: list[bytes] = field(default_factory=list)  # keys recover() couldn't read

    def __post_init__(self) -> None:
        self.clock = PartitionClock(lateness_ms=self.lateness_ms,
                                    idle_grace_ms=self.idle_grace_ms)

    # -- recovery -----------------------------------------------------------------------------
    def recover(self, values: Iterable[tuple[bytes, bytes]], wall_ms: int) -> Step:
        """The partition was (re)assigned and its table restored: rebuild the index from the
        stored values (threads and the marker) and send again what might not have been sent.
        Values that aren't a tracking state are skipped and listed in `undecodable`."""
        self.statuses.clear()
        self.details.clear()
        self.answers_pending.clear()
        self.due.clear()
        self.due_at.clear()
        self.undecodable = []
        marker: Marker | None = None
        threads: list[tuple[bytes, ThreadState, list[OutboxRow]]] = []
        for key, raw in values:
            try:
                if marker_partition(key) is not None:
                    marker = Marker.decode(raw)
                    continue
                state, outbox = from_json_with_outbox(raw)
                outbox_entries(outbox, state.key)  # every row must be a transition
            except ValueError:
                self.undecodable.append(key)
                continue
            threads.append((key, state, outbox))
        self.stored_marker = marker
        confirmed = marker.confirmed_seq if marker is not None else 0
        self.clock = PartitionClock(lateness_ms=self.lateness_ms,
                                    idle_grace_ms=self.idle_grace_ms)
        latest = max((s.max_event_ms() for _, s, _ in threads), default=None)
        max_event = marker.max_event_ms if marker is not None else None
        if latest is not None and (max_event is None or latest > max_event):
            max_event = latest
        if max_event is not None:
            self.clock.observe(max_event, wall_ms)
        if marker is not None and marker.clock_floor_ms is not None:
            floor = self.clock.floor_ms
            if floor is None or marker.clock_floor_ms > floor:
                self.clock.floor_ms = marker.clock_floor_ms
        step = Step()
        top = confirmed
        now_ms = self.clock.now(wall_ms)
        for key, state, outbox in threads:
            for entry in outbox_entries(outbox, state.key):
                top = max(top, entry.seq + 1)
                if entry.seq >= confirmed:
                    step.resend.append(entry)
            self._index(key, state, now_ms)
        self.confirmed_seq = confirmed
        self.next_seq = max(self.next_seq, top, confirmed)  # above every stored entry
        return step

    # -- records ------------------------------------------------------------------------------
    def on_post(self, key: bytes, stored: bytes | None, post: Post, observed_event_ms: int,
                wall_ms: int) -> Step:
        """One post of thread `key` (stored: its table value). observed_event_ms is the time
        the clock may see of it (streams.event_time.observed_event_ms). Raises ValueError for
        a stored value that isn't a tracking state."""
        now_ms = self.clock.observe(observed_event_ms, wall_ms)
        state: ThreadState | None = None
        outbox: list[OutboxRow] = []
        if stored is not None:
            state, outbox = from_json_with_outbox(stored)
        new_state, transitions = apply_post(state, post, self.config, now_ms)
        step = Step()
        self._write(step, key, state, outbox, new_state, transitions, now_ms)
        return self._sequenced(step)

    # -- time ---------------------------------------------------------------------------------
    def on_tick(self, load: Callable[[bytes], bytes | None], wall_ms: int,
                budget: int) -> Step:
        """Decide what time alone decides for up to `budget` due threads, and compact them.
        load(key) reads a thread's stored value (the shell's table)."""
        step = Step()
        now_ms = self.clock.now(wall_ms)
        if now_ms is None:
            return step
        while self.due and self.due[0][0] <= now_ms:
            if budget == 0:
                step.more_due = True
                return self._sequenced(step)
            budget -= 1
            due, key = heapq.heappop(self.due)
            if self.due_at.get(key) != due:
                continue  # superseded by a newer due time
            del self.due_at[key]
            raw = load(key)
            if raw is None:
                self.statuses.pop(key, None)
                self.details.pop(key, None)
                self.answers_pending.pop(key, None)
                continue
            state, outbox = from_json_with_outbox(raw)
            new_state, transitions = advance(state, self.config, now_ms)
            # Never drop a state in the step that announces something: its outbox goes too.
            kept = new_state if transitions else compact(new_state, now_ms, self.retention_ms)
            self._write(step, key, state, outbox, kept, transitions, now_ms,
                        force=kept is not new_state)
        return self._sequenced(step)

    def flush_point(self) -> int:
        """The sequence of the next step: every entry made so far has a smaller one. Take it
        right before flushing the producer and pass it to confirm once the flush succeeded."""
        return self.next_seq

    def confirm(self, point: int) -> Step:
        """Every event of the steps with a sequence below `point` is durably on
        complaints.events (a flush succeeded, or each send's delivery was acknowledged): store
        the marker (if it says anything new)."""
        if point > self.confirmed_seq:
            self.confirmed_seq = point
        marker = Marker(self.confirmed_seq, self.clock.max_event_ms, self.clock.floor_ms)
        if marker == self.stored_marker:
            return Step()
        self.stored_marker = marker
        return Step(store=[(marker_key(self.partition), marker.encode())])

    # -- views --------------------------------------------------------------------------------
    def now_ms(self, wall_ms: int) -> int | None:
        return self.clock.now(wall_ms)

    def all_statuses(self) -> Iterable[list[ItemStatus]]:
        return self.statuses.values()

    def details_of(self, key: bytes) -> dict[str, Details]:
        """The queue's details of a thread's open complaints (empty if none are known)."""
        return self.details.get(key, _NO_DETAILS)

    def answers_pending_of(self, key: bytes) -> dict[str, int]:
        """A thread's items answered after the clock (item id → the answer's event time)."""
        return self.answers_pending.get(key, _NO_PENDING)

    # -- internals ----------------------------------------------------------------------------
    def _sequenced(self, step: Step) -> Step:
        """A step that sends anything takes the next sequence (its outbox rows carry it)."""
        if step.send:
            step.seq = self.next_seq
            self.next_seq += 1
        return step

    def _write(self, step: Step, key: bytes, old: ThreadState | None,
               outbox: list[OutboxRow], new: ThreadState | None,
               transitions: list[Transition], now_ms: int, force: bool = False) -> None:
        """Add one thread's write to `step`, whose sequence (next_seq) _sequenced assigns."""
        confirmed = self.confirmed_seq
        kept = [row for row in outbox if row[0] >= confirmed]
        changed = len(kept) != len(outbox)
        if transitions:
            seq = self.next_seq
            kept.extend(outbox_row(seq, t) for t in transitions)
            changed = True
            step.send.extend(transitions)
        if new is None:
            if old is not None or outbox:
                step.store.append((key, None))
            self.statuses.pop(key, None)
            self.details.pop(key, None)
            self.answers_pending.pop(key, None)
            self.due_at.pop(key, None)
            return
        if new is not old or changed or force:
            step.store.append((key, to_json(new, kept)))
        self._index(key, new, now_ms)

    def _index(self, key: bytes, state: ThreadState, now_ms: int | None) -> None:
        # Judged no earlier than the state's own clock: what it announced (an item ignored
        # before a restart) stays announced, whatever the partition clock restarts at.
        clock = state.clock_ms
        at = now_ms if clock is None or (now_ms is not None and now_ms > clock) else clock
        if at is not None:
            self.statuses[key] = item_statuses(state, self.config, at)
            pending = pending_answers(state, self.config, at)
            if pending:
                self.answers_pending[key] = pending
            else:
                self.answers_pending.pop(key, None)
        if state.details:
            self.details[key] = state.details
        else:
            self.details.pop(key, None)
        due = next_due_ms(state, self.config)
        if due is None:
            self.due_at.pop(key, None)
        elif self.due_at.get(key) != due:
            self.due_at[key] = due
            heapq.heappush(self.due, (due, key))


@dataclass(frozen=True, slots=True)
class Gauges:
    """The tracking gauges of a worker's partitions, by (brand label, platform)."""

    open: dict[tuple[str, str], int]
    overdue: dict[tuple[str, str], int]
    oldest_open_s: dict[tuple[str, str], float]
    decided_window: dict[tuple[str, str], int]
    ignored_window: dict[tuple[str, str], int]
    # Open complaints warned of: past the SLA less the lead time but not overdue yet, and past
    # the ignore deadline less its lead time (not ignored yet: they are open).
    due_soon: dict[tuple[str, str], int] = field(default_factory=dict)
    ignore_soon: dict[tuple[str, str], int] = field(default_factory=dict)


EMPTY_GAUGES = Gauges({}, {}, {}, {}, {})


def gauges(trackers: Iterable[PartitionTracker], wall_ms: int, share_window_ms: int,
           brand_label: Callable[[str], str],
           platform_label: Callable[[str], str] = str) -> Gauges:
    """Complaints open, overdue, the oldest open one, and decided/ignored ones whose event time
    lies in the share window, over these partitions. brand_label and platform_label bound the
    label values (folded items add up in their folded label)."""
    open_: dict[tuple[str, str], int] = {}
    overdue: dict[tuple[str, str], int] = {}
    oldest: dict[tuple[str, str], float] = {}
    decided: dict[tuple[str, str], int] = {}
    ignored: dict[tuple[str, str], int] = {}
    due_soon: dict[tuple[str, str], int] = {}
    ignore_soon: dict[tuple[str, str], int] = {}
    for tracker in trackers:
        now_ms = tracker.now_ms(wall_ms)
        if now_ms is None:
            continue
        since = now_ms - share_window_ms
        for statuses in tracker.all_statuses():
            for st in statuses:
                if not st.complaint:
                    continue
                label = (brand_label(st.brand), platform_label(st.platform))
                if st.status == "open":
                    open_[label] = open_.get(label, 0) + 1
                    overdue[label] = overdue.get(label, 0) + st.overdue
                    due_soon[label] = due_soon.get(label, 0) + (st.due_soon and not st.overdue)
                    ignore_soon[label] = ignore_soon.get(label, 0) + st.ignore_soon
                    created_s = st.created_at_ms / 1000
                    if label not in oldest or created_s < oldest[label]:
                        oldest[label] = created_s
                elif st.created_at_ms > since:
                    decided[label] = decided.get(label, 0) + 1
                    ignored[label] = ignored.get(label, 0) + (st.status == "ignored")
    return Gauges(open_, overdue, oldest, decided, ignored, due_soon, ignore_soon)
