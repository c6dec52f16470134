"""The partition tracker (streams/partition.py) under crashes: a model of one worker, its
producer buffer and Kafka, driven by generated posts, ticks, flushes, commits and crashes at
any point, each crash delivering an arbitrary part of what the producer held (in order per
partition, as Kafka does). After the run settles, every number and every announcement must be
what the run without crashes gives:

- nothing lost: the posts of the durable state equal the posts of the crash-free run, so every
  status at any instant is the same;
- every announcement durable: complaints.events, folded by event_id (a correction withdraws
  what it retracts), says exactly what the durable state says it announced — the bug this
  replaces stored "ignored" while the event was lost with the producer's buffer;
- a repeat is a repeat: events sharing an event_id describe the same change of the same item.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from test_tracking_properties import CONFIGS, HOUR, T0, threads

from schemas.codec import encode_complaint_event
from schemas.state_codec import from_json, from_json_with_outbox
from streams.brands import BrandConfig
from streams.partition import Marker, PartitionTracker, Step, marker_key
from streams.tracking import Post, item_statuses, state_key

EVENT_SCHEMA = Draft202012Validator(json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "complaint_event.v1.json").read_text()))
LATENESS = 60_000
GRACE = 60_000
MIN = 60_000
RETENTION = 30 * 24 * HOUR


def new_tracker(config: BrandConfig) -> PartitionTracker:
    return PartitionTracker(0, config, lateness_ms=LATENESS, idle_grace_ms=GRACE,
                            retention_ms=RETENTION)


@dataclass
class Kafka:
    changelog: dict[bytes, bytes] = field(default_factory=dict)  # compacted, acknowledged
    events: list[dict[str, object]] = field(default_factory=list)
    committed: int = 0  # the group's offset in the source list


@dataclass
class Worker:
    """faust's behaviour as it matters here: a table write lands in the local store at once and
    its changelog record waits in the producer's buffer with our events."""

    tracker: PartitionTracker
    local: dict[bytes, bytes]
    table_buffer: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    event_buffer: list[dict[str, object]] = field(default_factory=list)
    event_seqs: list[int] = field(default_factory=list)  # the step of each buffered event
    position: int = 0

    def carry_out(self, step: Step) -> None:
        for entry in step.resend:
            self.event_buffer.append(orjson.loads(encode_complaint_event(entry.transition)))
            self.event_seqs.append(entry.seq)
        for t in step.send:
            self.event_buffer.append(orjson.loads(encode_complaint_event(t)))
            assert step.seq is not None
            self.event_seqs.append(step.seq)
        for key, value in step.store:
            if value is None:
                self.local.pop(key, None)
            else:
                self.local[key] = value
            self.table_buffer.append((key, value))

    def deliver(self, kafka: Kafka, tables: int | None = None, events: int | None = None
                ) -> None:
        """The broker acknowledges a prefix of each partition's records (all by default)."""
        nt = len(self.table_buffer) if tables is None else tables
        ne = len(self.event_buffer) if events is None else events
        for key, value in self.table_buffer[:nt]:
            if value is None:
                kafka.changelog.pop(key, None)
            else:
                kafka.changelog[key] = value
        kafka.events.extend(self.event_buffer[:ne])
        del self.table_buffer[:nt]
        del self.event_buffer[:ne]
        del self.event_seqs[:ne]

    def confirm_delivered(self) -> None:
        """The shell's confirmation from delivery acknowledgements: every step below the first
        one with an event still in the buffer."""
        point = min(self.event_seqs) if self.event_seqs else self.tracker.flush_point()
        self.carry_out(self.tracker.confirm(point))


def start(kafka: Kafka, config: BrandConfig, wall: int) -> Worker:
    """A (re)start after a crash: the local store is discarded (agents/state_dir.py) and the
    table restored from the changelog; the group resumes at the committed offset."""
    worker = Worker(new_tracker(config), dict(kafka.changelog), position=kafka.committed)
    worker.carry_out(worker.tracker.recover(list(worker.local.items()), wall))
    return worker


def process(worker: Worker, post: Post, wall: int) -> None:
    key = state_key(post).encode()
    worker.carry_out(worker.tracker.on_post(key, worker.local.get(key), post,
                                            post.created_at_ms, wall))


def tick(worker: Worker, kafka: Kafka, wall: int, flush: bool) -> None:
    """The agent's tick: age, then flush and store the marker."""
    while True:
        step = worker.tracker.on_tick(worker.local.get, wall, 3)
        worker.carry_out(step)
        if not step.more_due:
            break
    if flush:
        point = worker.tracker.flush_point()
        worker.deliver(kafka)
        worker.carry_out(worker.tracker.confirm(point))


OPS = st.lists(st.one_of(
    st.tuples(st.just("post"), st.integers(1, 3)),
    st.tuples(st.just("wait"), st.sampled_from([MIN, 30 * MIN, 2 * HOUR, 9 * HOUR,
                                                 30 * HOUR])),
    st.tuples(st.just("tick"), st.booleans()),
    st.tuples(st.just("commit"), st.just(0)),
    st.tuples(st.just("deliver"), st.integers(0, 5)),
    st.tuples(st.just("confirm"), st.just(0)),
    st.tuples(st.just("crash"), st.tuples(st.integers(0, 8), st.integers(0, 8))),
), max_size=40)


def run(posts: list[Post], ops: list[tuple[str, object]], config: BrandConfig,
        crashes: bool) -> tuple[Kafka, Worker, int]:
    kafka = Kafka()
    wall = T0
    worker = start(kafka, config, wall)
    for op, arg in ops:
        if op == "post":
            for _ in range(int(str(arg))):
                if worker.position < len(posts):
                    process(worker, posts[worker.position], wall)
                    worker.position += 1
        elif op == "wait":
            wall += int(str(arg))
        elif op == "tick":
            tick(worker, kafka, wall, flush=bool(arg))
        elif op == "commit":
            worker.deliver(kafka)  # faust flushes the producer before it commits
            kafka.committed = worker.position
        elif op == "deliver":
            n = int(str(arg))
            worker.deliver(kafka, tables=min(n, len(worker.table_buffer)),
                           events=min(n, len(worker.event_buffer)))
        elif op == "confirm":
            worker.confirm_delivered()
        elif op == "crash" and crashes:
            nt, ne = arg  # type: ignore[misc]
            worker.deliver(kafka, tables=min(nt, len(worker.table_buffer)),
                           events=min(ne, len(worker.event_buffer)))
            worker = start(kafka, config, wall)
    # Settle: everything processed, time far past every deadline, all flushed.
    while worker.position < len(posts):
        process(worker, posts[worker.position], wall)
        worker.position += 1
    wall += 40 * 24 * HOUR
    tick(worker, kafka, wall, flush=True)
    worker.deliver(kafka)
    kafka.committed = worker.position
    return kafka, worker, wall


def folded(events: list[dict[str, object]]) -> dict[str, set[str]]:
    """mention id → kinds announced, after dropping repeats and applying corrections."""
    out: dict[str, set[str]] = {}
    seen: set[object] = set()
    for e in events:
        if e["event_id"] in seen:
            continue
        seen.add(e["event_id"])
        kinds = out.setdefault(str(e["mention_id"]), set())
        if e["kind"] == "corrected":
            kinds.difference_update(str(k) for k in e["retracts"])  # type: ignore[attr-defined]
        else:
            kinds.add(str(e["kind"]))
    return out


BITS = {1: "opened", 2: "answered", 4: "overdue", 8: "ignored", 16: "answered_late",
        32: "due_soon", 64: "ignore_soon"}


def announced(changelog: dict[bytes, bytes]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for key, value in changelog.items():
        if key == marker_key(0):
            continue
        for mid, (bits, _) in from_json(value).announced.items():
            out[mid] = {kind for bit, kind in BITS.items() if bits & bit}
    return out


def posts_of(changelog: dict[bytes, bytes]) -> dict[str, object]:
    return {pid: rec for key, value in changelog.items() if key != marker_key(0)
            for pid, rec in from_json(value).posts.items()}


@settings(max_examples=int(os.environ.get("MENTIONWATCH_PROPERTY_EXAMPLES", "300")),
          deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(posts=threads(causal=True), ops=OPS, config=st.sampled_from(CONFIGS))
def test_crashes_at_any_point_change_no_number_and_lose_no_announcement(
        posts: list[Post], ops: list[tuple[str, object]], config: BrandConfig) -> None:
    calm, _, wall = run(posts, ops, config, crashes=False)
    crashed, worker, _ = run(posts, ops, config, crashes=True)
    # Nothing lost: the same posts, so the same statuses at any instant.
    assert posts_of(crashed.changelog) == posts_of(calm.changelog)
    for kafka in (calm, crashed):
        # Every announcement the state claims is on complaints.events, and nothing else is.
        assert folded(kafka.events) == announced(kafka.changelog)
        # A repeat describes the same change of the same item.
        by_id: dict[object, tuple[object, ...]] = {}
        for e in kafka.events:
            EVENT_SCHEMA.validate(e)  # the wire contract (schemas/complaint_event.v1.json)
            what = (e["kind"], e["mention_id"], e["mention_created_at_ms"], e["complaint"])
            assert by_id.setdefault(e["event_id"], what) == what
    # The decisions at the end are the same, and the same as the crash-free run's.
    at = wall
    for key, value in crashed.changelog.items():
        if key == marker_key(0):
            continue
        state = from_json(value)
        assert item_statuses(state, config, at) == item_statuses(
            from_json(calm.changelog[key]), config, at)
    # After settling, the outboxes hold nothing the marker hasn't confirmed.
    marker = Marker.decode(crashed.changelog[marker_key(0)])
    for key, value in crashed.changelog.items():
        if key != marker_key(0):
            assert all(row[0] < marker.confirmed_seq for row in from_json_with_outbox(value)[1])
    assert worker.tracker.confirmed_seq == marker.confirmed_seq


# -- the same argument, by example ---------------------------------------------------------------

def _complaint(pid: str, at: int) -> Post:
    return Post(id=pid, platform="twitter", brand="acme", author_id="c1", author_handle="c1",
                is_brand=False, created_at_ms=at, in_reply_to=None, in_reply_to_author_id=None,
                conversation_id=None, complaint=True)


def test_an_announcement_lost_with_the_buffer_is_sent_again_after_the_restart() -> None:
    config = CONFIGS[0]
    kafka = Kafka()
    worker = start(kafka, config, T0)
    process(worker, _complaint("m1", T0), T0)
    # The changelog record arrives, the "opened" event dies with the process.
    worker.deliver(kafka, tables=1, events=0)
    restarted = start(kafka, config, T0 + 1000)
    assert [e["kind"] for e in restarted.event_buffer] == ["opened"]
    restarted.deliver(kafka)
    assert folded(kafka.events) == {"m1": {"opened"}}


def test_a_confirmed_announcement_is_not_sent_again() -> None:
    config = CONFIGS[0]
    kafka = Kafka()
    worker = start(kafka, config, T0)
    process(worker, _complaint("m1", T0), T0)
    tick(worker, kafka, T0 + 1000, flush=True)
    worker.deliver(kafka)
    restarted = start(kafka, config, T0 + 2000)
    assert restarted.event_buffer == []


@pytest.mark.parametrize("marker", ["kept", "lost"])
def test_decided_complaints_stay_decided_after_a_restart(marker: str) -> None:
    """Issue 12, 2: ignored before a SIGTERM, exported as open after it (the restarted clock
    was behind the one that had decided them). Without the marker (state written by an older
    version) the thread's own clock still says what it announced."""
    config = CONFIGS[0]
    kafka = Kafka()
    worker = start(kafka, config, T0)
    process(worker, _complaint("m1", T0), T0)
    wall = T0 + 30 * HOUR
    tick(worker, kafka, wall, flush=True)
    worker.deliver(kafka)
    events = [e["kind"] for e in kafka.events]
    assert events == ["opened", "due_soon", "overdue", "ignore_soon", "ignored"]
    if marker == "lost":
        del kafka.changelog[marker_key(0)]
    restarted = start(kafka, config, T0 + 100)  # a wall clock behind (a new host, a reset)
    statuses = [st for sts in restarted.tracker.all_statuses() for st in sts]
    assert [(st.mention_id, st.status) for st in statuses] == [("m1", "ignored")]
    # Without a marker nothing is known to be confirmed: the outbox goes out again, as
    # repeats of events already on the topic.
    durable_ids = {e["event_id"] for e in kafka.events}
    resent_ids = {e["event_id"] for e in restarted.event_buffer}
    assert resent_ids == (set() if marker == "kept" else resent_ids & durable_ids)


def test_the_marker_keeps_the_clock_across_a_restart() -> None:
    config = CONFIGS[0]
    kafka = Kafka()
    worker = start(kafka, config, T0)
    process(worker, _complaint("m1", T0), T0)
    tick(worker, kafka, T0 + 5 * HOUR, flush=True)
    worker.deliver(kafka)
    floor = worker.tracker.clock.floor_ms
    assert floor is not None and floor > T0
    restarted = start(kafka, config, T0 + 1)
    assert restarted.tracker.now_ms(T0 + 1) == floor


def test_outbox_entries_leave_the_state_once_confirmed() -> None:
    config = CONFIGS[0]
    kafka = Kafka()
    worker = start(kafka, config, T0)
    process(worker, _complaint("m1", T0), T0)
    key = b"twitter:c1"
    assert [row[1] for row in from_json_with_outbox(worker.local[key])[1]] == ["opened"]
    tick(worker, kafka, T0 + 1000, flush=True)
    process(worker, _complaint("m2", T0 + 2000), T0 + 2000)
    outbox = from_json_with_outbox(worker.local[key])[1]
    assert [(row[2], row[1]) for row in outbox] == [("m2", "opened")]
    assert orjson.loads(worker.local[key])["o"][0][0] >= worker.tracker.confirmed_seq


def test_a_resent_announcement_stays_unconfirmed_until_it_is_delivered() -> None:
    """After a restart the outbox entries go out again; confirming the partition before their
    delivery was acknowledged would drop them for good at the next crash."""
    config = CONFIGS[0]
    kafka = Kafka()
    worker = start(kafka, config, T0)
    process(worker, _complaint("m1", T0), T0)
    worker.deliver(kafka, tables=1, events=0)  # the state arrives, its event doesn't
    restarted = start(kafka, config, T0 + 1000)
    assert [e["kind"] for e in restarted.event_buffer] == ["opened"]
    restarted.confirm_delivered()  # nothing delivered yet
    restarted.deliver(kafka, tables=len(restarted.table_buffer), events=0)  # crash again
    again = start(kafka, config, T0 + 2000)
    again.deliver(kafka)
    assert folded(kafka.events) == {"m1": {"opened"}}
