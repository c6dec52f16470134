"""Our own per-record work without Kafka or faust: the exact calls the worker's agent makes for
each mention keyed by customer (agents/app.py enrich_and_track, then the pure
streams.partition.PartitionTracker that agents/tracking.py drives) and the timer's work
(PartitionTracker.on_tick for due threads, streams.partition.gauges), timed step by step on the
benchmark's stream. Tells how much of a record's
cost is ours and which step it is.

    .venv/bin/python -m bench.hotpath [--n 100000] [--open 10000,50000,100000]
"""

from __future__ import annotations

import argparse
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
    from schemas.codec import decode_mention, encode_complaint_event, encode_enriched
    from streams.brands import parse_brand_config
    from streams.classification import get_classifier
    from streams.enrich import enrich
    from streams.partition import PartitionTracker

    config = parse_brand_config(BRANDS.read_text(encoding="utf-8"))
    classify = get_classifier("lexicon").classify
    metrics = Metrics(config.brands.keys())
    processed = metrics.processed.labels(agent="enrich")
    tracked = metrics.processed.labels(agent="tracking")
    stream = make_stream(6, _iso_ms(STREAM_START), n, customers=max(30_000, n // 3),
                         id_prefix="m")
    table: dict[bytes, bytes | None] = {}
    trackers = [PartitionTracker(p, config, lateness_ms=60_000, idle_grace_ms=60_000,
                                 retention_ms=8 * 86_400_000) for p in range(6)]
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
        metrics.mention_counter(mention.brand, mention.platform,
                                enriched.enrichment.sentiment).inc()
        s.lap("enrich: metrics (mentions counter)")
        # -- track, in the same pass (the raw record was keyed by customer): the worker's own
        # PartitionTracker.on_post, then the step's events encoded (agents/tracking.py)
        tracked.inc()
        raw = table.get(kb)
        s.lap("tracking: metrics + table read")
        step = trackers[part].on_post(kb, raw, post, post.created_at_ms,
                                      int(time.time() * 1000))
        s.lap("tracking: PartitionTracker.on_post")
        for t in step.send:
            encode_complaint_event(t)
            events += 1
        s.lap("tracking: encode transitions")
        for k, v in step.store:
            if v is not None:
                table[k] = v
        s.lap("tracking: table write")
    wall = time.perf_counter() - started
    total_ns = sum(s.ns.values())
    steps = {k: round(v / n / 1000, 1) for k, v in s.ns.items()}
    return {"records": n, "us_per_record": round(total_ns / n / 1000, 1),
            "records_per_s_one_core": round(n / wall), "events": events, "steps_us": steps,
            "table_keys": len(table)}


def per_tick(open_keys: list[int]) -> dict[str, Any]:
    """The timer's work by number of open complaints (one per customer key): aging a thread
    that fell due (Tracker.age_partition: table read, advance, transitions, compact, store), the
    gauges over the kept statuses (Tracker._gauges), the care team queue's capture taken with
    them (streams.queue.capture), its order (streams.queue.ordered, once per capture when the
    queue is asked for), a page's first 500 entries and all entries (business-time ages,
    deadlines, links)."""
    from bench.run import BRANDS
    from schemas.codec import encode_complaint_event
    from streams.brands import parse_brand_config
    from streams.partition import PartitionTracker, gauges
    from streams.queue import capture, entry_of, local_queue, ordered
    from streams.tracking import Post

    config = parse_brand_config(BRANDS.read_text(encoding="utf-8"))
    out = {}
    for k in open_keys:
        tracker = PartitionTracker(0, config, lateness_ms=0, idle_grace_ms=10**12,
                                   retention_ms=8 * 86_400_000)
        table: dict[bytes, bytes] = {}
        now = 1_773_130_000_000
        for i in range(k):
            post = Post(id=f"s{i}", platform="twitter", brand="skyways", author_id=f"c{i}",
                        author_handle=f"c{i}", is_brand=False, created_at_ms=now,
                        in_reply_to=None, in_reply_to_author_id=None, conversation_id=None,
                        complaint=True, details=(f"c{i}", "my flight was cancelled, no refund "
                                                 "and no answer from the hotline", None, 120))
            key = f"twitter:c{i}".encode()
            for sk, value in tracker.on_post(key, None, post, now, now).store:
                assert value is not None
                table[sk] = value
        tracker.confirm(tracker.flush_point())  # the opened events are confirmed
        started = time.perf_counter()
        gauges([tracker], now, config.share_window_ms, str)
        gauge_s = time.perf_counter() - started
        started = time.perf_counter()
        cap = capture([tracker], now)
        capture_s = time.perf_counter() - started
        started = time.perf_counter()
        order = ordered(cap, config)
        order_s = time.perf_counter() - started
        started = time.perf_counter()
        local_queue("w", cap, order, config, limit=500)
        page_s = time.perf_counter() - started
        started = time.perf_counter()
        assert len([entry_of(c, config) for c in order]) == k
        entries_s = time.perf_counter() - started
        later = now + 2 * 3_600_000  # past the SLA: every thread is due once
        tracker.clock.observe(later, now)
        started = time.perf_counter()
        step = tracker.on_tick(table.get, now, k)
        for t in step.send:
            encode_complaint_event(t)
        for sk, value in step.store:
            if value is not None:
                table[sk] = value
        aging = time.perf_counter() - started
        out[str(k)] = {"gauges_s": round(gauge_s, 4), "queue_capture_s": round(capture_s, 4),
                       "queue_order_s": round(order_s, 4), "queue_page_s": round(page_s, 4),
                       "queue_entries_s": round(entries_s, 4), "age_us_per_due_thread":
                       round(aging / k * 1e6, 1), "events": len(step.send)}
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
    print("timer: aging a thread that fell due (PartitionTracker.on_tick), gauges "
          "(streams.partition.gauges), the queue's capture (streams.queue.capture); the queue "
          "asked for: its order (once per capture), a page of 500, all entries:")
    for k, v in ticks.items():
        print(f"  {int(k):>8,} open: {v['age_us_per_due_thread']} µs per due thread, "
              f"gauges {v['gauges_s']:.4f} s, queue capture {v['queue_capture_s']:.4f} s; "
              f"order {v['queue_order_s']:.4f} s, page {v['queue_page_s']:.4f} s, "
              f"all entries {v['queue_entries_s']:.4f} s")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "hotpath.json").write_bytes(orjson.dumps({"per_record": rec, "per_tick": ticks},
                                                    option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
