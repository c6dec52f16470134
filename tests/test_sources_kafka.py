"""The platform sources on the real broker, against local fakes of the platforms
(tests/platform_fakes.py): `mentionwatch source bluesky|mastodon` as subprocesses, cut off by
the server, killed with -9 (also before their first checkpoint) and restarted, and stopped with
SIGTERM. Every mention must reach mentions.raw exactly once; the cursor, dead letters and
deletions are checked on their topics, the resumes on what the fake servers were asked. Also:
a resume the service can't serve any more is counted as a gap, and a wrong token or a brands
file without identities ends the source with one line."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import REPO, Stack, consume_all, free_port
from platform_fakes import (
    FakeJetstream,
    FakeMastodon,
    account_frame,
    delete_frame,
    did,
    identity_frame,
    iso,
    like_frame,
    mention_facet,
    post_frame,
    post_uri,
    quote_embed,
    reply_ref,
    tag_facet,
    update_frame,
)

from schemas.codec import SourceCursor, decode_source_cursor

ACME = did("acme-brand")
BAHN = did("bahn-brand")
BAHN_POST = post_uri(BAHN, "3lbahnthread22")
MASTODON_TOKEN = "tok-3f9c2a7d41e84b0f9a6c5d2e1b7a8c90"

BRANDS_TOML = f"""
[brands.acme]
name = "Acme"
hashtags = ["AcmeHilft"]
keywords = ["Acme"]
[brands.acme.bluesky]
dids = ["{ACME}"]
handles = ["acme.example.com"]
[brands.acme.mastodon]
accounts = ["acme@127.0.0.1"]

[brands.bahn]
name = "Bahn"
[brands.bahn.bluesky]
dids = ["{BAHN}"]
handles = ["bahn.example.org"]
"""


# -- running a source ------------------------------------------------------------------------

@dataclass
class Source:
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        # A request it sent just before may still be on its way into the broker's log.
        time.sleep(0.5)


class SourceRunner:
    """Starts `mentionwatch source ...` subprocesses (own session, log to a file) with the
    stack's settings and a brands file; `close` kills whatever still runs."""

    def __init__(self, stack: Stack, directory: Path, brands_toml: str) -> None:
        self.stack, self.directory = stack, directory
        self.brands = directory / "brands.toml"
        self.brands.write_text(brands_toml)
        self.started: list[Source] = []

    def start(self, *args: str, log_name: str = "source", **env: str) -> Source:
        full_env = {**os.environ, **self.stack.env, "MENTIONWATCH_BRANDS_FILE": str(self.brands),
                    "MENTIONWATCH_LOG_LEVEL": "info", **env}
        log_path = self.directory / f"{log_name}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "source", *args],
                                    env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=REPO, start_new_session=True)
        source = Source(proc, log_path)
        self.started.append(source)
        return source

    def close(self) -> None:
        for source in self.started:
            if source.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(source.proc.pid, signal.SIGKILL)
                source.proc.wait(10)


@pytest.fixture
def run_source(stack: Stack, tmp_path: Path) -> Iterator[Callable[..., Source]]:
    runner = SourceRunner(stack, tmp_path, BRANDS_TOML)
    yield runner.start
    runner.close()


def wait_for(what: str, check: Callable[[], Any], timeout_s: float,
             sources: tuple[Source, ...] = (), detail: Callable[[], str] | None = None) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        for s in sources:
            if not s.alive():
                pytest.fail(f"the source exited ({s.proc.returncode}) while waiting for "
                            f"{what}:\n{s.log()[-4000:]}")
        time.sleep(0.1)
    logs = "\n".join(s.log()[-3000:] for s in sources)
    pytest.fail(f"timed out after {timeout_s:g}s waiting for {what}"
                f"{': ' + detail() if detail else ''}\n{logs}")


class TopicReader:
    """Reads a topic from the beginning, and on every call what was added since."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                      enable_auto_commit=False)
        partitions = None
        deadline = time.monotonic() + 30
        while partitions is None and time.monotonic() < deadline:
            partitions = self.consumer.partitions_for_topic(topic)
            if partitions is None:
                time.sleep(0.2)
        assert partitions, f"no topic {topic}"
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(assigned)
        self.consumer.seek_to_beginning(*assigned)
        self.records: list[Any] = []

    def poll(self, timeout_s: float = 0.2) -> list[Any]:
        for _ in range(3):
            batches = self.consumer.poll(timeout_ms=int(timeout_s * 1000))
            if not batches:
                break
            for batch in batches.values():
                self.records.extend(batch)
        return self.records

    def close(self) -> None:
        self.consumer.close()


def scrape(port: int) -> dict[str, float]:
    """A source's /metrics: sample (name and labels as exposed) → value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def raw_ids(records: list[Any]) -> list[str]:
    return [orjson.loads(r.value)["id"] for r in records]


def read_to_end(bootstrap: str, topic: str, timeout_s: float = 20) -> list[Any]:
    """Every record the topic holds now (no waiting for more: consume_all does that)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False)
    try:
        deadline = time.monotonic() + timeout_s
        partitions = None
        while partitions is None and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                time.sleep(0.1)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions or ())]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        ends = consumer.end_offsets(assigned)
        records: list[Any] = []
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def latest_cursor(stack: Stack, name: str) -> SourceCursor | None:
    records = read_to_end(stack.bootstrap, stack.topic("mentionwatch.sources"))
    values = [r.value for r in records if r.key == name.encode()]
    return decode_source_cursor(values[-1]) if values else None


# -- Bluesky ---------------------------------------------------------------------------------

@dataclass
class Script:
    frames: list[tuple[int, dict[str, Any] | str]]  # (time_us, frame or raw text)
    expected: dict[str, str]  # mention id → brand
    malformed: dict[str, str]  # raw text → expected dead-letter reason
    future_dated: str  # the id of the post dated too far ahead (dead-lettered)
    deleted: str  # the id of a produced post whose deletion follows


def bluesky_script(n: int, base_us: int, step_us: int) -> Script:
    """n frames, step_us apart: every kind of post a brand is named in, brand replies, posts
    naming nobody, other kinds of frames, two malformed frames, a post dated a day ahead, and
    the deletion of a produced post."""
    frames: list[tuple[int, dict[str, Any] | str]] = []
    expected: dict[str, str] = {}
    malformed: dict[str, str] = {}
    future = deleted = ""
    for i in range(n):
        t = base_us + i * step_us
        user = did(f"user{i % 37}")
        rkey = f"3lpost{i:07d}"
        uri = post_uri(user, rkey)
        kind = i % 12
        frame: dict[str, Any] | str
        if i == 5:
            frame = '{"did": "' + user + '", "time_us": ' + str(t) + ', "kind": "comm'
            malformed[frame] = "not_json"
        elif i == 15:
            frame = {"did": user, "time_us": t, "kind": "commit",
                     "commit": {"rev": "3lrev", "operation": "create", "rkey": rkey}}
            malformed[orjson.dumps(frame).decode()] = "bad_frame"
        elif i == 37:
            frame = delete_frame(did("user24"), "3lpost0000024", t)
            deleted = post_uri(did("user24"), "3lpost0000024")
        elif i == 41:
            frame = post_frame(user, rkey, t, "Acme, wo bleibt mein Paket?",
                               created_ms=t // 1000 + 86_400_000)
            future = uri
        elif i == 53:
            frame = update_frame(user, "3lpost0000048", t, "Acme: korrigiert")
        elif i == 65:
            frame = account_frame(user, t, active=False)
        elif kind == 0:
            text = f"@bahn.example.org mein Zug {i} fällt schon wieder aus"
            frame = post_frame(user, rkey, t, text, langs=["de"],
                               facets=[mention_facet(text, "@bahn.example.org", BAHN)])
            expected[uri] = "bahn"
        elif kind == 1:
            frame = post_frame(user, rkey, t, f"Bei mir auch, Nummer {i}",
                               reply=reply_ref(BAHN_POST))
            expected[uri] = "bahn"
        elif kind == 2:
            frame = post_frame(user, rkey, t, f"Das glaubt ihr nicht ({i})",
                               embed=quote_embed(BAHN_POST))
            expected[uri] = "bahn"
        elif kind == 3:
            text = f"Paket {i} verschwunden #AcmeHilft"
            frame = post_frame(user, rkey, t, text,
                               facets=[tag_facet(text, "#AcmeHilft", "AcmeHilft")])
            expected[uri] = "acme"
        elif kind == 4:
            frame = post_frame(user, rkey, t, f"Acme hat Bestellung {i} storniert",
                               langs=["de-DE"])
            expected[uri] = "acme"
        elif kind == 5:
            customer = post_uri(did(f"user{(i - 5) % 37}"), f"3lpost{i - 5:07d}")
            frame = post_frame(BAHN, f"3lbahn{i:07d}", t, "Das tut uns leid, wir kümmern uns",
                               reply=reply_ref(customer, customer))
            expected[post_uri(BAHN, f"3lbahn{i:07d}")] = "bahn"
        elif kind == 6:
            frame = post_frame(user, rkey, t, f"Schönes Wetter heute ({i})")
        elif kind == 7:
            frame = like_frame(user, f"3llike{i:07d}", t, BAHN_POST)
        elif kind == 8:
            frame = identity_frame(user, t, f"user{i}.bsky.social")
        elif kind == 9:
            frame = post_frame(BAHN, f"3lbahn{i:07d}", t, "Neue Fahrpläne ab Montag")
        elif kind == 10:
            frame = post_frame(user, rkey, t, f"Warte seit Tagen ({i})", tags=["acmehilft"])
            expected[uri] = "acme"
        else:
            other = post_uri(did("someone"), "3lsomeone222")
            frame = post_frame(user, rkey, t, f"Stimmt ({i})", reply=reply_ref(other))
        frames.append((t, frame))
    assert deleted in expected and future and len(malformed) == 2
    return Script(frames, expected, malformed, future, deleted)


def feed(server: FakeJetstream, frames: list[tuple[int, dict[str, Any] | str]]) -> None:
    for t, frame in frames:
        if isinstance(frame, str):
            server.append_raw(frame, t)
        else:
            server.append(frame)


def test_bluesky_drop_kill9_restart_and_sigterm_exactly_once(
        stack: Stack, run_source: Callable[..., Source]) -> None:
    step_us = 100_000  # frames 0.1 s apart on the platform's clock: a 5 s overlap is 50 frames
    base_us = (int(time.time()) - 3600) * 1_000_000
    n = 300
    script = bluesky_script(n, base_us, step_us)
    since = iso(base_us // 1000)
    with FakeJetstream(pace_s=0.01) as server:
        feed(server, script.frames)
        server.drop_after[0] = 100  # the server cuts the first connection after 100 frames
        raw = TopicReader(stack.bootstrap, stack.topic("mentions.raw"))
        args = ("bluesky", "--endpoint", server.url, "--since", since)
        metrics_port = free_port()
        first = run_source(*args, "--metrics-port", str(metrics_port), log_name="bluesky-1")

        # The cut, then a resume 5 s (platform time) before the last frame it handled.
        server.wait_connections(2, timeout_s=60)
        server.wait_sent(1, 100, timeout_s=30)
        metrics = scrape(metrics_port)
        first.kill9()  # in the middle of the rest, no clean stop
        assert metrics['mentionwatch_source_reconnects_total{source="bluesky"}'] == 1
        assert metrics['mentionwatch_source_connected{source="bluesky"}'] == 1
        # The frames read again after the cut were not produced again.
        assert metrics['mentionwatch_source_duplicates_total{source="bluesky"}'] >= 10
        assert metrics['mentionwatch_source_frames_rejected_total'
                       '{reason="not_json",source="bluesky"}'] == 1
        assert metrics['mentionwatch_source_gaps_total{source="bluesky"}'] == 0
        conns = server.snapshot()
        assert conns[0].cursor == base_us - 5_000_000, "--since, less the overlap"
        assert conns[0].dropped and len(conns[0].sent) == 100
        last_sent_0, resumed_at = conns[0].sent[-1], conns[1].cursor
        assert resumed_at is not None
        # ... up to the last frame handled: the last ones sent may have been lost in the cut.
        assert last_sent_0 - 5_000_000 - 50 * step_us <= resumed_at <= \
            last_sent_0 - 5_000_000, (resumed_at, last_sent_0)
        killed_at = len(conns[1].sent)
        saved = latest_cursor(stack, "bluesky")
        assert saved is not None, first.log()
        saved_us = saved.position["time_us"]
        assert base_us < saved_us <= conns[1].sent[-1]
        produced_before_kill = len(raw.poll())
        print(f"\nfirst process: cut after 100 frames, resumed at frame "
              f"{(resumed_at - base_us) // step_us}, killed after {killed_at} more; "
              f"cursor at frame {(saved_us - base_us) // step_us}; "
              f"{produced_before_kill} mentions produced")

        second = run_source(*args, "--metrics-port", "0", log_name="bluesky-2")
        server.wait_connections(3, timeout_s=60)
        assert server.snapshot()[2].cursor == saved_us - 5_000_000, \
            "a restart resumes 5 s before the durable cursor"

        expected = script.expected
        wanted = set(expected) - {script.future_dated}
        wait_for("every expected mention on mentions.raw",
                 lambda: set(raw_ids(raw.poll())) >= wanted, 60, (second,))
        # Quiet now: the cursor still reaches the last frame (no later frame to trigger it).
        last_us = script.frames[-1][0]
        wait_for("the cursor at the last frame", lambda: (
            (c := latest_cursor(stack, "bluesky")) is not None
            and c.position["time_us"] == last_us), 20, (second,))

        # SIGTERM right after one more frame: the clean stop saves the cursor at it.
        server.append(identity_frame(did("late"), last_us + step_us, "late.bsky.social"))
        server.wait_sent(2, len(server.snapshot()[2].sent) + 1, timeout_s=10)
        stopped_at = time.monotonic()
        os.killpg(second.proc.pid, signal.SIGTERM)
        rc = second.proc.wait(15)
        stop_s = time.monotonic() - stopped_at
        assert rc == 0, second.log()[-3000:]
        assert stop_s < 5, f"SIGTERM took {stop_s:.1f}s"
        final = latest_cursor(stack, "bluesky")
        assert final is not None and final.position["time_us"] == last_us + step_us
        assert final.platform == "bluesky" and final.source == "bluesky"

    # Every source has exited: what the topics hold now is all there will be.
    records = read_to_end(stack.bootstrap, stack.topic("mentions.raw"))
    ids = raw_ids(records)
    duplicates = [i for i, c in Counter(ids).items() if c > 1]
    assert duplicates == [], f"{len(duplicates)} mentions produced twice, e.g. {duplicates[:3]}"
    assert set(ids) == wanted, (sorted(wanted - set(ids))[:5], sorted(set(ids) - wanted)[:5])
    assert len(ids) == len(wanted)
    for record in records:
        mention = orjson.loads(record.value)
        assert mention["brand"] == expected[mention["id"]]
        assert mention["platform"] == "bluesky"
        assert mention["author"]["is_brand"] == mention["id"].startswith(f"at://{BAHN}/")
    # Keyed like the worker's own producers: the customer a post is by or answers.
    for record in records[:20]:
        mention = orjson.loads(record.value)
        customer = mention["in_reply_to_author_id"] if mention["author"]["is_brand"] \
            else mention["author"]["id"]
        assert record.key == f"bluesky:{customer}".encode()

    dead = [orjson.loads(r.value) for r in read_to_end(stack.bootstrap,
                                                        stack.topic("mentions.dlq"))]
    by_original = {base64.b64decode(d["original_value_b64"]).decode(): d for d in dead}
    assert len(dead) == 3, [d["reason"] for d in dead]
    for text, reason in script.malformed.items():
        assert by_original[text]["reason"] == reason, by_original[text]
        assert by_original[text]["source"]["topic"] == "source:bluesky"
    future = [d for d in dead if d["reason"] == "future_dated"]
    assert len(future) == 1 and orjson.loads(base64.b64decode(
        future[0]["original_value_b64"]))["id"] == script.future_dated

    deletions = [orjson.loads(r.value) for r in read_to_end(
        stack.bootstrap, stack.topic("mentions.deletions"))]
    assert [(d["platform"], d["id"]) for d in deletions] == [("bluesky", script.deleted)]
    assert deletions[0]["author_id"] == did("user24")
    raw.close()
    print(f"bluesky: {n + 1} frames, {len(ids)} mentions exactly once "
          f"({produced_before_kill} before the kill), {len(dead)} dead letters, "
          f"{len(deletions)} deletion; SIGTERM stop {stop_s:.2f}s")


# -- Mastodon --------------------------------------------------------------------------------

ACME_ACCT = "acme@127.0.0.1"


def _id(value: str) -> int:
    return int(value)


def full_acct(account: dict[str, Any]) -> str:
    """user@domain, as the source names authors (a local account's acct is the bare user)."""
    acct = str(account["acct"])
    return acct if "@" in acct else f"{acct}@127.0.0.1"


def all_records(stack: Stack) -> list[Any]:
    out = []
    for name in ("mentions.raw", "mentions.dlq", "mentions.deletions", "mentionwatch.sources"):
        out += read_to_end(stack.bootstrap, stack.topic(name))
    return out


def test_mastodon_catch_up_stream_drop_kill9_restart_exactly_once(
        stack: Stack, run_source: Callable[..., Source]) -> None:
    now_ms = int(time.time() * 1000)
    since_ms = now_ms - 3_600_000
    expected: dict[str, str] = {}  # uri → how it must arrive
    with FakeMastodon(MASTODON_TOKEN) as server:
        brand = server.brand
        customers = [server.account(f"kunde{i}") for i in range(6)] + \
            [server.account(f"fan{i}", "other.example") for i in range(4)]

        def mention(i: int, created_ms: int, how: str, stream: bool = True) -> dict[str, Any]:
            status = server.post(customers[i % len(customers)],
                                 f"Meine Bestellung {i} ist immer noch nicht da",
                                 mentions=[brand], created_ms=created_ms, stream=stream)
            expected[status["uri"]] = how
            return status

        def tagged(i: int, created_ms: int, how: str, stream: bool = True) -> dict[str, Any]:
            status = server.post(customers[(i + 3) % len(customers)], f"Paket {i} beschädigt",
                                 tags=["AcmeHilft"], created_ms=created_ms, stream=stream)
            expected[status["uri"]] = how
            return status

        def answer(to: dict[str, Any], created_ms: int, how: str,
                   stream: bool = True) -> dict[str, Any]:
            status = server.post(brand, "Das tut uns leid, bitte schreib uns deine Nummer",
                                 in_reply_to=to, created_ms=created_ms, stream=stream)
            expected[status["uri"]] = how
            return status

        # Before --since: never read.
        server.post(customers[0], "Schon wieder zu spät", mentions=[brand],
                    created_ms=since_ms - 600_000)
        server.post(customers[1], "Kaputt angekommen", tags=["AcmeHilft"],
                    created_ms=since_ms - 500_000)
        # After --since, before the start: over REST, several pages per feed.
        t = since_ms + 60_000
        first_mentions = [mention(i, t + i * 1000, "catch-up") for i in range(90)]
        for i in range(45):
            tagged(i, t + 100_000 + i * 1000, "catch-up")
        for i in (3, 40, 77):
            answer(first_mentions[i], t + 200_000 + i * 1000, "catch-up")
        both = server.post(customers[2], "Acme? Hallo?", mentions=[brand], tags=["AcmeHilft"],
                           created_ms=t + 300_000)
        expected[both["uri"]] = "catch-up"  # in two feeds, produced once
        server.post(brand, "Unsere Filialen sind am Feiertag geschlossen",
                    created_ms=t + 301_000)  # the brand's own post answers nobody
        server.post(customers[4], "privat: meine Adresse ist ...", mentions=[brand],
                    visibility="direct", created_ms=t + 302_000)  # never public
        server.favourite(customers[5], first_mentions[0], created_ms=t + 303_000)
        server.fail_429_on = {4}  # one REST request is refused; the source waits it out

        raw = TopicReader(stack.bootstrap, stack.topic("mentions.raw"))

        def arrived(how: str | None = None) -> set[str]:
            want = {u for u, h in expected.items() if how is None or h == how}
            return want & set(raw_ids(raw.poll()))

        def all_arrived() -> bool:
            return arrived() == set(expected)

        def missing() -> str:
            got = arrived()
            return str(Counter(h for u, h in expected.items() if u not in got)) + " missing"

        args = ("mastodon", "--instance", server.url, "--account", ACME_ACCT, "--since",
                iso(since_ms), "--metrics-port", "0")
        env = {"MENTIONWATCH_MASTODON_TOKEN": MASTODON_TOKEN}
        first = run_source(*args, log_name="mastodon-1", **env)
        wait_for("the catch-up", all_arrived, 30, (first,), missing)
        n_catch_up = len(expected)
        refused = [r for r in server.all_requests() if r.status == 429]
        assert [r.number for r in refused] == [4]
        retried = [r for r in server.all_requests() if r.number > 4 and r.status == 200
                   and (r.path, r.query) == (refused[0].path, refused[0].query)]
        assert retried, "the refused request was not made again"
        assert "429 Too Many Requests; waiting 1 s" in first.log()

        # Streamed: mentions, hashtags, the brand's replies, a deletion.
        server.wait_streams(1)
        now = int(time.time() * 1000)
        live = [mention(100 + i, now + i, "stream") for i in range(5)]
        for i in range(3):
            tagged(100 + i, now + 10 + i, "stream")
        answer(live[1], now + 20, "stream")
        answer(first_mentions[10], now + 21, "stream")  # its parent read long ago
        server.favourite(customers[5], live[0], created_ms=now + 22)
        server.delete(first_mentions[7])
        wait_for("the streamed statuses", all_arrived, 30, (first,), missing)

        # The websocket is cut; what is posted meanwhile comes over REST after the reconnect.
        assert server.drop_streams() == 1
        now = int(time.time() * 1000)
        offline = [mention(200 + i, now + i, "offline", stream=False) for i in range(4)]
        tagged(200, now + 10, "offline", stream=False)
        answer(offline[2], now + 20, "offline", stream=False)
        answer(live[3], now + 21, "offline", stream=False)
        wait_for("what was posted while the stream was down", all_arrived, 30, (first,), missing)
        assert server.stream_connections == 2

        # kill -9 while statuses stream in (posted by a thread, 0.1 s apart), more posted
        # while it is down, then a restart.
        stream_before_kill = len(arrived())
        burst: list[dict[str, Any]] = []

        def post_burst() -> None:
            for i in range(20):
                burst.append(mention(300 + i, int(time.time() * 1000), "burst"))
                if i % 4 == 3:
                    answer(burst[-2], int(time.time() * 1000), "burst")
                time.sleep(0.1)

        poster = threading.Thread(target=post_burst)
        poster.start()
        try:
            wait_for("part of the burst", lambda: len(arrived("burst")) >= 6, 20, (first,))
            first.kill9()
            kill_request = len(server.all_requests())
        finally:
            poster.join()
        produced_before_restart = set(raw_ids(raw.poll()))
        produced_by_first = len(produced_before_restart)
        killed_cursor = latest_cursor(stack, "mastodon")
        assert killed_cursor is not None
        burst_by_first = len(arrived("burst"))
        assert 6 <= burst_by_first < 25, "the kill must fall in the middle of the burst"
        now = int(time.time() * 1000)
        for i in range(4):
            mention(400 + i, now + i, "while down", stream=False)
        tagged(400, now + 10, "while down", stream=False)
        second = run_source(*args, log_name="mastodon-2", **env)
        wait_for("everything after the restart", all_arrived, 60, (second,), missing)
        # The restart caught up from the cursor the first process left; what the first had
        # produced after it was read again (and dropped).
        resumed = [dict(r.query) for r in server.requests_for("/api/v1/notifications")
                   if r.number > kill_request]
        assert resumed and resumed[0]["min_id"] == killed_cursor.position["notifications"]
        reread = sum(1 for n in server.notifications() if n["type"] == "mention"
                     and _id(n["id"]) > _id(killed_cursor.position["notifications"])
                     and n["status"]["uri"] in produced_before_restart)
        # One more of each, streamed; then quiet: the cursor still reaches the newest ids.
        server.wait_streams(1)
        last = mention(500, int(time.time() * 1000), "last")
        answer(last, int(time.time() * 1000), "last")
        tagged(500, int(time.time() * 1000), "last")
        wait_for("the last statuses", all_arrived, 20, (second,), missing)
        statuses = server.statuses()
        newest = {
            "notifications": max((n["id"] for n in server.notifications()), key=_id),
            "statuses": max((s["id"] for s in statuses if s["account"]["id"] == brand["id"]),
                            key=_id),
            "tag:acmehilft": max((s["id"] for s in statuses if s["tags"]), key=_id)}
        wait_for("the cursor at the newest ids", lambda: (
            (c := latest_cursor(stack, "mastodon")) is not None and c.position == newest),
            15, (second,))

        os.killpg(second.proc.pid, signal.SIGTERM)
        assert second.proc.wait(15) == 0, second.log()[-3000:]

    # Both processes have exited: what the topics hold now is all there will be.
    records = read_to_end(stack.bootstrap, stack.topic("mentions.raw"))
    ids = raw_ids(records)
    duplicates = [i for i, c in Counter(ids).items() if c > 1]
    assert duplicates == [], f"{len(duplicates)} produced twice, e.g. {duplicates[:3]}"
    assert set(ids) == set(expected), (sorted(set(expected) - set(ids))[:5],
                                       sorted(set(ids) - set(expected))[:5])
    mentions = [orjson.loads(r.value) for r in records]
    replies = [m for m in mentions if m["author"]["is_brand"]]
    assert len(replies) == sum(1 for u in expected if "/users/acme/" in u) == 13
    for reply in replies:
        assert reply["author"]["id"] == ACME_ACCT
        assert reply["in_reply_to"] in expected
        assert reply["in_reply_to_author_id"].endswith(("@127.0.0.1", "@other.example"))
    assert {m["brand"] for m in mentions} == {"acme"}
    assert all(m["platform"] == "mastodon" for m in mentions)

    deletions = [orjson.loads(r.value) for r in read_to_end(
        stack.bootstrap, stack.topic("mentions.deletions"))]
    assert [(d["id"], d["author_id"]) for d in deletions] == [
        (first_mentions[7]["uri"], full_acct(first_mentions[7]["account"]))]

    cursor = latest_cursor(stack, "mastodon")
    assert cursor is not None and cursor.platform == "mastodon"
    assert set(cursor.position) == {"notifications", "statuses", "tag:acmehilft"}

    # The token: only in the Authorization header, never in a log or a record.
    token = MASTODON_TOKEN.encode()
    for source in (first, second):
        assert MASTODON_TOKEN not in source.log()
    for record in all_records(stack):
        assert token not in (record.value or b"") and token not in (record.key or b"")
    assert {r.authorization for r in server.all_requests()} == {f"Bearer {MASTODON_TOKEN}"}
    assert all(MASTODON_TOKEN not in str(r.query) for r in server.all_requests())
    counts = Counter(expected.values())
    print(f"\nmastodon: {len(ids)} mentions exactly once ({n_catch_up} caught up at start, "
          f"{stream_before_kill} before the burst, {produced_by_first} by the first process); "
          f"by path: {dict(counts)}; {len(server.all_requests())} REST requests, "
          f"{server.stream_connections} stream connections; the restart read {reread} "
          f"notifications again (dropped)")


# -- refusals --------------------------------------------------------------------------------

def _finished(source: Source, timeout_s: float = 60) -> tuple[int, str]:
    try:
        rc = source.proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the source did not exit:\n{source.log()[-3000:]}")
    return rc, source.log()


def _one_error_line(out: str) -> str:
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, out
    return errors[0]


def test_sources_refuse_a_wrong_token_and_a_brands_file_without_identities(
        stack: Stack, run_source: Callable[..., Source], tmp_path: Path) -> None:
    wrong = "wrong-token-5d1e0c77b2"
    with FakeMastodon("the-right-token") as server:
        rc, out = _finished(run_source(
            "mastodon", "--instance", server.url, "--account", ACME_ACCT, "--metrics-port",
            "0", log_name="wrong-token", MENTIONWATCH_MASTODON_TOKEN=wrong))
        assert rc == 1, out
        line = _one_error_line(out)
        assert f"{server.url} refused the token (401 on /api/v1/accounts/verify_credentials)" \
            in line, line
        assert wrong not in out
        assert [(r.path, r.status) for r in server.all_requests()] == [
            ("/api/v2/instance", 200), ("/api/v1/accounts/verify_credentials", 401)]
        assert server.stream_connections == 0

        rc, out = _finished(run_source(
            "mastodon", "--instance", server.url, "--account", "someone@127.0.0.1",
            "--metrics-port", "0", log_name="not-a-brand", MENTIONWATCH_MASTODON_TOKEN=wrong))
        assert rc == 2, out  # configuration errors exit 2, as a worker's
        assert "someone@127.0.0.1 is no brand's Mastodon account" in _one_error_line(out)

        rc, out = _finished(run_source(
            "mastodon", "--instance", server.url, "--account", ACME_ACCT, "--metrics-port",
            "0", log_name="no-token"))
        assert rc == 2, out
        assert "set MENTIONWATCH_MASTODON_TOKEN" in _one_error_line(out)

    mastodon_only = tmp_path / "mastodon-only.toml"
    mastodon_only.write_text('[brands.acme]\nname = "Acme"\n'
                             '[brands.acme.mastodon]\naccounts = ["acme@127.0.0.1"]\n')
    with FakeJetstream() as jetstream:
        rc, out = _finished(run_source(
            "bluesky", "--endpoint", jetstream.url, "--metrics-port", "0",
            log_name="no-identities", MENTIONWATCH_BRANDS_FILE=str(mastodon_only)))
        assert rc == 2, out
        assert "no brand has Bluesky DIDs, hashtags or keywords in the brands file" in \
            _one_error_line(out)
        assert jetstream.snapshot() == []  # refused before connecting


def test_bluesky_kill9_before_its_first_cursor_repeats_nothing(
        stack: Stack, run_source: Callable[..., Source]) -> None:
    """Killed within its first second, before any periodic checkpoint: the restart must still
    know what was produced (a first start writes its cursor before producing anything)."""
    base_us = (int(time.time()) - 600) * 1_000_000
    frames = []
    for i in range(40):
        text = f"@bahn.example.org Zug {i} fällt aus"
        frames.append(post_frame(did(f"early{i}"), f"3learly{i:06d}", base_us + i * 1000, text,
                                 facets=[mention_facet(text, "@bahn.example.org", BAHN)]))
    wanted = {post_uri(f["did"], f["commit"]["rkey"]) for f in frames}
    with FakeJetstream(pace_s=0.001) as server:
        server.append(*frames)
        raw = TopicReader(stack.bootstrap, stack.topic("mentions.raw"))
        args = ("bluesky", "--endpoint", server.url, "--since", iso(base_us // 1000),
                "--metrics-port", "0")
        first = run_source(*args, log_name="early-1")
        server.wait_connections(1, timeout_s=60)
        connected = time.monotonic()
        wait_for("the 40 mentions", lambda: set(raw_ids(raw.poll(0.05))) == wanted, 30,
                 (first,))
        first.kill9()
        killed_after_s = time.monotonic() - connected - 0.5  # kill9 waits 0.5 s after
        killed = latest_cursor(stack, "bluesky")
        # Killed before its first checkpoint (due 1 s after connecting): only the cursor of
        # its start, without a position, is there.
        assert killed is not None and killed.position == {}, (killed, killed_after_s)
        second = run_source(*args, log_name="early-2")
        server.wait_connections(2, timeout_s=60)
        # Its cursor at the last frame: every frame read again was handled (and anything
        # produced again acknowledged) before.
        last_us = frames[-1]["time_us"]
        wait_for("the restart's cursor at the last frame", lambda: (
            (c := latest_cursor(stack, "bluesky")) is not None
            and c.position.get("time_us") == last_us), 30, (second,))
        assert server.snapshot()[1].cursor == base_us - 5_000_000  # from --since again
        assert "40 ids already produced are dropped" in second.log()
    ids = raw_ids(consume_all(stack.bootstrap, stack.topic("mentions.raw"), expected=40,
                              timeout_s=20))
    raw.close()
    assert len(ids) == 40 and set(ids) == wanted, f"{len(ids) - len(set(ids))} repeated"
    print(f"\nkilled {killed_after_s:.2f}s after connecting, before its first checkpoint; "
          "the restart read all 40 again and produced none")


def test_bluesky_resume_the_service_no_longer_keeps_is_reported_as_a_gap(
        stack: Stack, run_source: Callable[..., Source]) -> None:
    base_us = (int(time.time()) - 7200) * 1_000_000

    def mentions(start_us: int, tag: str) -> list[dict[str, Any]]:
        out = []
        for i in range(5):
            text = f"@bahn.example.org Verspätung {tag}{i}"
            out.append(post_frame(did(f"{tag}{i}"), f"3l{tag}{i:06d}", start_us + i * 1_000_000,
                                  text, facets=[mention_facet(text, "@bahn.example.org", BAHN)]))
        return out

    before, after = mentions(base_us, "before"), mentions(base_us + 1800 * 1_000_000, "after")
    with FakeJetstream(pace_s=0.001) as server:
        server.append(*before)
        raw = TopicReader(stack.bootstrap, stack.topic("mentions.raw"))
        first = run_source("bluesky", "--endpoint", server.url, "--since",
                           iso(base_us // 1000), "--metrics-port", "0", log_name="gap-1")
        wait_for("the first five", lambda: len(raw_ids(raw.poll())) == 5, 60, (first,))
        os.killpg(first.proc.pid, signal.SIGTERM)
        assert first.proc.wait(15) == 0, first.log()
        saved = latest_cursor(stack, "bluesky")
        assert saved is not None and saved.position["time_us"] == before[-1]["time_us"]
        # Half an hour later the service keeps nothing from before: the resume starts there.
        assert server.trim(base_us + 600 * 1_000_000) == 5
        server.append(*after)
        port = free_port()
        second = run_source("bluesky", "--endpoint", server.url, "--metrics-port", str(port),
                            log_name="gap-2")
        wait_for("the next five", lambda: len(raw_ids(raw.poll())) == 10, 60, (second,))
        assert server.snapshot()[1].cursor == before[-1]["time_us"] - 5_000_000
        assert scrape(port)['mentionwatch_source_gaps_total{source="bluesky"}'] == 1
        assert "mentions in between were MISSED" in second.log()
    raw.close()
