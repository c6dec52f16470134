"""End to end on the real broker: a scripted conversation on each platform (fakes of Jetstream
and of a Mastodon instance) → `mentionwatch source bluesky|mastodon` → a worker → one complaint
answered after 20 minutes and one ignored per platform on complaints.events, and the same
numbers from `mentionwatch replay`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from statistics import median
from typing import Any

import orjson
import pytest
from conftest import REPO, Stack
from platform_fakes import (
    FakeJetstream,
    FakeMastodon,
    did,
    iso,
    mention_facet,
    post_frame,
    post_uri,
    reply_ref,
)
from test_sources_kafka import SourceRunner, TopicReader, raw_ids, wait_for

from streams.classification import get_classifier

ACME = did("acme-brand")
BRANDS_TOML = f"""
[brands.acme]
name = "Acme"
sla = "1h"
ignore_after = "1h"
[brands.acme.bluesky]
dids = ["{ACME}"]
[brands.acme.mastodon]
accounts = ["acme@127.0.0.1"]
"""
TOKEN = "e2e-token-9b8a7c6d5e4f"
# Complaints the lexicon classifier calls complaints (checked below), German and English.
ANSWERED_DE = ("Mein Paket ist seit zwei Wochen verschwunden, der Kundenservice reagiert nicht. "
               "Totale Frechheit!")
IGNORED_DE = ("Schon wieder falsch geliefert und niemand hilft. Ich bin wirklich verärgert, das "
              "ist eine Katastrophe.")
ANSWERED_EN = "Your delivery is late again and support never answers. Terrible service!"
IGNORED_EN = "Worst customer service ever, my refund is still missing after a month. Useless."
BRAND_REPLY = "Das tut uns leid! Schreib uns bitte deine Bestellnummer, wir kümmern uns."
THANKS_DE = "Danke, das Paket ist heute angekommen. Alles gut!"
THANKS_EN = "Thanks, the parcel arrived today. All good!"
MINUTE_MS = 60_000
FIRST_RESPONSE_MS = 20 * MINUTE_MS


@pytest.fixture
def runner(stack: Stack, tmp_path: Path) -> Iterator[SourceRunner]:
    r = SourceRunner(stack, tmp_path, BRANDS_TOML)
    yield r
    r.close()


def _cli(stack: Stack, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **stack.env, **env}, cwd=REPO,
                          timeout=300)


def _same_partition(key: str, candidate: Callable[[int], str], platform: str,
                    partitions: int) -> str:
    """The first candidate author whose posts are keyed to the partition of `key`."""
    from agents.partitioning import partition_for

    target = partition_for(key.encode(), partitions)
    for i in range(1000):
        author = candidate(i)
        full = author if platform == "bluesky" else f"{author}@127.0.0.1"
        if partition_for(f"{platform}:{full}".encode(), partitions) == target:
            return author
    raise AssertionError("no candidate in that partition")


def _fates(stack: Stack) -> tuple[dict[str, set[str]], dict[str, dict[str, Any]],
                                   dict[str, tuple[str, bool]]]:
    """Per mention: the kinds announced on complaints.events (after corrections), its answered
    event, and (platform, complaint)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(stack.topic("complaints.events"), bootstrap_servers=stack.bootstrap,
                             group_id=None, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=1500)
    kinds: dict[str, set[str]] = defaultdict(set)
    answered: dict[str, dict[str, Any]] = {}
    platforms: dict[str, tuple[str, bool]] = {}
    for record in consumer:
        event = orjson.loads(record.value)
        platforms[event["mention_id"]] = (event["platform"], event["complaint"])
        if event["kind"] == "corrected":
            kinds[event["mention_id"]] -= set(event.get("retracts", []))
        else:
            kinds[event["mention_id"]].add(event["kind"])
        if event["kind"] == "answered":
            answered[event["mention_id"]] = event
    consumer.close()
    return dict(kinds), answered, platforms


def test_conversations_on_both_platforms_answered_and_ignored_live_and_in_replay(
        stack: Stack, runner: SourceRunner, tmp_path: Path) -> None:
    settings = stack.settings()
    classifier = get_classifier(settings.classifier, threshold=settings.complaint_threshold)
    for text, lang in ((ANSWERED_DE, "de"), (IGNORED_DE, "de"), (ANSWERED_EN, "en"),
                       (IGNORED_EN, "en")):
        assert classifier.classify(text, lang).complaint, text
    for text, lang in ((BRAND_REPLY, "de"), (THANKS_DE, "de"), (THANKS_EN, "en")):
        assert not classifier.classify(text, lang).complaint, text

    # Three days ago, on the minute. The workers judge by event time (the watermark of each
    # partition) like replay, so, as in test_tracking_kafka, a later post lands in the
    # partition of each complaint left alone: a customer's thanks 22 minutes after the
    # conversation, which moves that partition's clock past the 1 h ignore deadline.
    t0 = (int(time.time() * 1000) - 3 * 86_400_000) // MINUTE_MS * MINUTE_MS
    t_last = t0 + 22 * MINUTE_MS
    since = iso(t0 - 86_400_000)

    # Bluesky: two customers mention the brand's DID by facet; the brand answers the second
    # one in its thread 20 minutes later; the first is left alone.
    anna, ben = did("anna"), did("ben")
    frame_us = (int(time.time()) - 120) * 1_000_000
    ignored_text = f"@acme.example.com {IGNORED_DE}"
    answered_text = f"@acme.example.com {ANSWERED_DE}"
    b_ignored = post_uri(anna, "3lannapost222")
    b_answered = post_uri(ben, "3lbenpost2222")
    b_reply = post_uri(ACME, "3lacmereply22")
    b_closer_did = _same_partition(f"bluesky:{anna}", lambda i: did(f"closer{i}"), "bluesky",
                                   stack.partitions)
    b_closer = post_uri(b_closer_did, "3lclosepost22")
    mention_at = "@acme.example.com"
    with FakeJetstream(pace_s=0.005) as jetstream, FakeMastodon(TOKEN) as mastodon:
        jetstream.append(
            post_frame(anna, "3lannapost222", frame_us, ignored_text,
                       created_ms=t0 - 120 * MINUTE_MS, langs=["de"],
                       facets=[mention_facet(ignored_text, mention_at, ACME)]),
            post_frame(ben, "3lbenpost2222", frame_us + 1000, answered_text, created_ms=t0,
                       langs=["de"], facets=[mention_facet(answered_text, mention_at, ACME)]),
            post_frame(ACME, "3lacmereply22", frame_us + 2000, BRAND_REPLY,
                       created_ms=t0 + FIRST_RESPONSE_MS, langs=["de"],
                       reply=reply_ref(b_answered)),
            post_frame(b_closer_did, "3lclosepost22", frame_us + 3000,
                       f"{mention_at} {THANKS_DE}", created_ms=t_last, langs=["de"],
                       facets=[mention_facet(f"{mention_at} {THANKS_DE}", mention_at, ACME)]))

        # Mastodon: the same, the complaints made before the source starts (caught up over
        # REST), the brand's answer streamed.
        carla = mastodon.account("carla")
        dan = mastodon.account("dan", "other.example")
        m_ignored = mastodon.post(carla, IGNORED_EN, mentions=[mastodon.brand], language="en",
                                  created_ms=t0 - 119 * MINUTE_MS)
        m_answered = mastodon.post(dan, ANSWERED_EN, mentions=[mastodon.brand], language="en",
                                   created_ms=t0 + MINUTE_MS)
        closer_name = _same_partition("mastodon:carla@127.0.0.1", lambda i: f"closer{i}",
                                      "mastodon", stack.partitions)
        m_closer = mastodon.post(mastodon.account(closer_name), THANKS_EN,
                                 mentions=[mastodon.brand], language="en", created_ms=t_last)

        raw = TopicReader(stack.bootstrap, stack.topic("mentions.raw"))
        bluesky = runner.start("bluesky", "--endpoint", jetstream.url, "--since", since,
                               "--metrics-port", "0", log_name="bluesky")
        masto = runner.start("mastodon", "--instance", mastodon.url, "--account",
                             "acme@127.0.0.1", "--since", since, "--metrics-port", "0",
                             log_name="mastodon", MENTIONWATCH_MASTODON_TOKEN=TOKEN)
        mastodon.wait_streams(1)
        m_reply = mastodon.post(mastodon.brand, BRAND_REPLY, in_reply_to=m_answered,
                                created_ms=t0 + MINUTE_MS + FIRST_RESPONSE_MS)
        wanted = {b_ignored, b_answered, b_reply, b_closer, m_ignored["uri"],
                  m_answered["uri"], m_reply["uri"], m_closer["uri"]}
        wait_for("the eight posts on mentions.raw",
                 lambda: set(raw_ids(raw.poll())) == wanted, 60, (bluesky, masto))
        for source in (bluesky, masto):
            os.killpg(source.proc.pid, signal.SIGTERM)
            assert source.proc.wait(15) == 0, source.log()[-2000:]
    records = raw.poll()
    raw.close()
    assert len(records) == 8
    partition_of = {orjson.loads(r.value)["id"]: r.partition for r in records}
    assert partition_of[b_closer] == partition_of[b_ignored]
    assert partition_of[m_closer["uri"]] == partition_of[m_ignored["uri"]]

    env = {"MENTIONWATCH_BRANDS_FILE": str(runner.brands)}
    started = time.monotonic()
    worker = stack.start_worker("w1", MENTIONWATCH_TICK_INTERVAL_SECONDS="0.5",
                                MENTIONWATCH_ALLOWED_LATENESS_SECONDS="0",
                                # judged by event time only, like replay (test_tracking_kafka)
                                MENTIONWATCH_IDLE_GRACE_SECONDS="100000000", **env)
    answered_ids = {b_answered, m_answered["uri"]}
    ignored_ids = {b_ignored, m_ignored["uri"]}
    closers = {b_closer, m_closer["uri"]}

    def decided() -> bool:
        kinds = _fates(stack)[0]
        return all("answered" in kinds.get(i, set()) for i in answered_ids) and \
            all("ignored" in kinds.get(i, set()) for i in ignored_ids)

    deadline = time.monotonic() + 90
    while not decided():
        assert worker.alive(), worker.log()
        if time.monotonic() > deadline:
            pytest.fail(f"complaints not decided: {_fates(stack)[0]}\n{worker.log()}")
        time.sleep(1)
    decided_s = time.monotonic() - started
    kinds, answered, platforms = _fates(stack)
    # The brand's replies are not inbound; the thanks are, but no complaints, and still open.
    assert set(kinds) == answered_ids | ignored_ids | closers, kinds
    for mention_id in closers:
        assert kinds[mention_id] == {"opened"}, kinds[mention_id]
    for mention_id in answered_ids:
        assert "ignored" not in kinds[mention_id] and "answered_late" not in kinds[mention_id]
        event = answered[mention_id]
        assert event["first_response_ms"] == FIRST_RESPONSE_MS, event
        assert event["complaint"] is True and event["brand"] == "acme"
    for mention_id in ignored_ids:
        assert "answered" not in kinds[mention_id], kinds[mention_id]
    # Per platform, complaints only, as announced: (answered, ignored, first response s).
    live = {}
    for platform in ("bluesky", "mastodon"):
        mine = [e for e in answered.values() if e["platform"] == platform and e["complaint"]]
        live[platform] = (
            len(mine), sum(1 for i, k in kinds.items() if "ignored" in k
                           and platforms[i] == (platform, True)),
            median(e["first_response_ms"] / 1000 for e in mine))
    assert live == {"bluesky": (1, 1, 1200.0), "mastodon": (1, 1, 1200.0)}

    # The audit over the same records says the same.
    out = tmp_path / "replay.json"
    rep = _cli(stack, "replay", "--from", since[:10], "--to", iso(int(time.time() * 1000)
                                                                   + 86_400_000)[:10],
               "--format", "json", "--output", str(out), "--no-progress", env=env)
    assert rep.returncode == 0, rep.stderr
    report = json.loads(out.read_text())
    (acme,) = report["brands"]
    assert acme["brand"] == "acme"
    replay = {p["platform"]: (p["complaints"]["answered"], p["complaints"]["ignored"],
                              p["complaints"]["first_response_median_s"])
              for p in acme["platforms"]}
    assert replay == live
    for p in acme["platforms"]:
        assert p["complaints"]["inbound"] == 2 and p["complaints"]["open"] == 0
        assert p["all_inbound"]["inbound"] == 3 and p["all_inbound"]["open"] == 1  # the thanks
        assert p["complaints"]["ignored_ids"] == sorted(
            i for i in ignored_ids if i.startswith("at://" if p["platform"] == "bluesky"
                                                   else "https://"))
    print(f"\nlive and replay per platform (answered, ignored, first response s): {replay}; "
          f"decided {decided_s:.1f}s after the worker started")
