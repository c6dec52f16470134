"""Our own per-record work without Kafka or faust: the exact calls the worker's agent makes for
each mention keyed by customer (agents/app.py enrich_and_track, agents/tracking.py
Tracker.track/_store/_emit) and the timer's work (Tracker.age_partition for a due thread,
Tracker._gauges), timed step by step on the benchmark's stream. Tells how much of a record's
cost is ours and which step it is.

    .venv/bin/python -m bench.hotpath [--n 100000] [--open 10000,50000,100000]
"""

from __future__ import annotations

import argparse
import heapq
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]


class Steps:
    def __init__(self) -> None:
        self.ns: dict[str, int] = defaultdict(int)
        self._t = 0

    def start(self) -> None:
        self._t = time.perf_counter_ns()

    def lap(self, name: str) -> None:
        now = time.perf_counter_ns()
        self.ns[name] += now - self._t
        self._t = now


def per_record(n: int) -> dict[str, Any]:
    from agents.metrics import Metrics
    from agents.partitioning import partition_for
    from bench.run import BRANDS, STREAM_START, _iso_ms, make_stream
    from schemas.codec import decode_mention, encode_enriched
    from streams.brands import parse_brand_config
    from streams.classification import get_classifier
    from streams.clock import PartitionClock
    from streams.enrich import enrich
    from streams.tracking import (
        apply_post,
        from_json,
        item_statuses,
        next_due_ms,
        to_json,
        transition_to_dict,
    )

    config = parse_brand_config(BRANDS.read_text(encoding="utf-8"))
    classify = get_classifier("lexicon").classify
    metrics = Metrics(config.brands.keys())
    processed = metrics.processed.labels(agent="enrich")
    tracked = metrics.processed.labels(agent="tracking")
    counters: dict[tuple[str, str, str], Any] = {}
    stream = make_stream(6, _iso_ms(STREAM_START), n, customers=max(30_000, n // 3),
                         id_prefix="m")
    table: dict[bytes, bytes] = {}
    statuses: dict[bytes, Any] = {}
    due: list[tuple[int, bytes]] = []
    due_at: dict[bytes, int] = {}
    clocks = [PartitionClock(lateness_ms=60_000, idle_grace_ms=60_000) for _ in range(6)]
    s = Steps()
    events = 0
    started = time.perf_counter()
    for _key, value in stream.records:
        s.start()
        # -- enrich
        processed.inc()
        metrics.last_processed.set(time.time())
        s.lap("enrich: metrics (processed, last_processed)")
        mention = decode_mention(value, max_bytes=64 * 1024)
        s.lap("enrich: decode_mention (orjson + validation)")
        enriched, post, key = enrich(mention, classify, "lexicon", config)
        s.lap("enrich: enrich (classify + routing)")
        encode_enriched(enriched)
        kb = key.encode()
        part = partition_for(kb, 6)
        s.lap("enrich: encode_enriched + partition")
        labels = (metrics.brand_label(mention.brand), mention.platform,
                  enriched.enrichment.sentiment)
        counter = counters.get(labels)
        if counter is None:
            counter = counters[labels] = metrics.mentions.labels(*labels)
        counter.inc()
        s.lap("enrich: metrics (mentions counter)")
        # -- track, in the same pass (the raw record was keyed by customer)
        tracked.inc()
        now_ms = clocks[part].observe(post.created_at_ms, int(time.time() * 1000))
        s.lap("tracking: metrics + clock")
        raw = table.get(kb)
        state = from_json(raw) if raw is not None else None
        s.lap("tracking: from_json (table value)")
        new_state, transitions = apply_post(state, post, config, now_ms)
        s.lap("tracking: apply_post")
        for t in transitions:
            orjson.dumps(transition_to_dict(t))
            events += 1
        s.lap("tracking: encode transitions")
        table[kb] = to_json(new_state)
        s.lap("tracking: to_json (table value)")
        statuses[kb] = item_statuses(new_state, config, now_ms)
        s.lap("tracking: _store item_statuses")
        d = next_due_ms(new_state, config)
        if d is not None and due_at.get(kb) != d:
            due_at[kb] = d
            heapq.heappush(due, (d, kb))
        s.lap("tracking: _store next_due_ms + heap")
    wall = time.perf_counter() - started
    total_ns = sum(s.ns.values())
    steps = {k: round(v / n / 1000, 1) for k, v in s.ns.items()}
    return {"records": n, "us_per_record": round(total_ns / n / 1000, 1),
            "records_per_s_one_core": round(n / wall), "events": events, "steps_us": steps,
            "table_keys": len(table)}


def per_tick(open_keys: list[int]) -> dict[str, Any]:
    """The timer's work by number of open complaints (one per customer key): aging a thread
    that fell due (Tracker.age_partition: table read, advance, transitions, compact, store) and
    the gauges over the kept statuses (Tracker._gauges)."""
    from bench.run import BRANDS
    from streams.brands import parse_brand_config
    from streams.tracking import (
        Post,
        advance,
        apply_post,
        compact,
        from_json,
        item_statuses,
        next_due_ms,
        to_json,
        transition_to_dict,
    )

    config = parse_brand_config(BRANDS.read_text(encoding="utf-8"))
    out = {}
    for k in open_keys:
        table: dict[bytes, bytes] = {}
        statuses = {}
        now = 1_773_130_000_000
        for i in range(k):
            post = Post(id=f"s{i}", platform="twitter", brand="skyways", author_id=f"c{i}",
                        author_handle=f"c{i}", is_brand=False, created_at_ms=now,
                        in_reply_to=None, in_reply_to_author_id=None, conversation_id=None,
                        complaint=True)
            state, _ = apply_post(None, post, config, now)
            key = f"twitter:c{i}".encode()
            table[key] = to_json(state)
            statuses[key] = item_statuses(state, config, now)
        started = time.perf_counter()
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for sts in statuses.values():
            for st in sts:
                if st.complaint and st.status == "open":
                    counts[(st.brand, st.platform)] += 1
        gauges = time.perf_counter() - started
        later = now + 2 * 3_600_000  # past the SLA: every thread is due once
        started = time.perf_counter()
        for key, raw in table.items():
            state, transitions = advance(from_json(raw), config, later)
            for t in transitions:
                orjson.dumps(transition_to_dict(t))
            kept = compact(state, later, 8 * 86_400_000)
            if kept is not None:
                table[key] = to_json(kept)
                statuses[key] = item_statuses(kept, config, later)
                next_due_ms(kept, config)
        aging = time.perf_counter() - started
        out[str(k)] = {"gauges_s": round(gauges, 4), "age_us_per_due_thread":
                       round(aging / k * 1e6, 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--open", default="10000,50000,100000")
    args = parser.parse_args()
    rec = per_record(args.n)
    print(f"our code per record, no Kafka/faust ({rec['records']:,} mentions, one core): "
          f"{rec['us_per_record']} µs = {rec['records_per_s_one_core']:,}/s")
    for step, us in sorted(rec["steps_us"].items(), key=lambda kv: -kv[1]):
        print(f"  {us:7.1f} µs  {step}")
    ticks = per_tick([int(x) for x in args.open.split(",") if x])
    print("timer: aging a thread that fell due (Tracker.age_partition), gauges (Tracker._gauges):")
    for k, v in ticks.items():
        print(f"  {int(k):>8,} open: {v['age_us_per_due_thread']} µs per due thread, "
              f"gauges {v['gauges_s']:.4f} s")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "hotpath.json").write_bytes(orjson.dumps({"per_record": rec, "per_tick": ticks},
                                                    option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
