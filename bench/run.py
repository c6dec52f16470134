"""One command for the whole benchmark (docs/explanation/performance.md):

    .venv/bin/python -m bench.run            # ~15 min: 100k mentions, replay over 1M
    .venv/bin/python -m bench.run --quick    # ~5 min: 20k mentions, replay over 200k

Against the real local Kafka broker (started on 127.0.0.1:29192 with its state in
.mentionwatch/bench if nothing answers there, stopped at the end if this run started it), on one
generated stream of realistic mentions (streams/demo.py: German and English, brand replies,
complaints), every system on its own topic prefix with the same records:

* bare      the limit: aiokafka consume → decode → produce, nothing else;
* faust1    the framework ceiling: an empty faust agent (consume, forward);
* faust2    the same with mentionwatch's shape (two agents chained through a topic);
* quix      the peer: the same enrichment and answered/ignored tracking with Quix Streams;
* mw1       mentionwatch: `mentionwatch worker` (enrich + complaint tracking + metrics);
* mw2       two mentionwatch workers on the same partitions (scale-out);
* replay    `mentionwatch replay` over the replay set vs bare kafka-python/aiokafka readers;
* state     bytes of table state and RSS per open complaint (mw1, after its other phases).

Prints a table and writes bench/results/<stamp>/results.json (+ logs, py-spy profiles).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from bench import kafkautil, procs, systems
from bench.kafkautil import Record
from bench.profile_summary import render, summarise
from bench.systems import Running

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
BRANDS = BENCH / "brands.toml"
# Bare readers of the replay topic: aiokafka is issue 6's "bare consumer" (the client the workers
# use), confluent-kafka the client the replay reads with, kafka-python the pure-Python one.
BARE_READERS = ("kafka-python", "aiokafka", "confluent-kafka")


def bare_key(client: str, source: str) -> str:
    """Where results.json keeps a bare reader's figures (raw under the older, shorter name)."""
    return f"bare_{client}" if source == "raw" else f"bare_{client}_{source}"
# Event time of the stream's first mention: fixed, so business hours (bench/brands.toml) fall
# the same way on every run. A Tuesday, 08:00 UTC.
STREAM_START = "2026-03-10T08:00:00Z"
EVENT_RATE_PER_S = 50.0  # event-time density of the stream: 4.3 M mentions a day
TARGETS = {
    "mentionwatch_vs_faust": 0.7,
    "p99_ms": 100.0,
    "replay_vs_bare": 0.5,
    "replay_per_s": 100_000.0,
    "scale_out": 1.6,
    "state_bytes_per_open": 1024.0,
}


def log(msg: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the stream --------------------------------------------------------------------------------

def _event_ms(value: bytes) -> int:
    return _iso_ms(orjson.loads(value)["created_at"])


def _iso_ms(value: str) -> int:
    from schemas.codec import parse_rfc3339_ms

    return parse_rfc3339_ms(value)


@dataclass
class Stream:
    records: list[Record]
    ids: list[str]
    end_ms: int
    stats: dict[str, Any] = field(default_factory=dict)


def make_stream(seed: int, start_ms: int, count: int, *, customers: int, id_prefix: str,
                rate_per_s: float = EVENT_RATE_PER_S, reply_share: float = 0.5,
                keep: Callable[[dict[str, Any]], bool] | None = None) -> Stream:
    from schemas.codec import mention_from_dict
    from streams.brands import parse_brand_config
    from streams.demo import generate
    from streams.enrich import producer_key

    # Keyed by customer, as mentionwatch's own producers (ingest, POST /mentions) key them.
    config = parse_brand_config(BRANDS.read_text(encoding="utf-8"))
    records: list[Record] = []
    ids: list[str] = []
    langs = {"de": 0, "en": 0}
    replies = chars = 0
    last = start_ms
    for m in generate(seed, start_ms, count=None if keep else count, rate_per_s=rate_per_s,
                      reply_share=reply_share, customers=customers, id_prefix=id_prefix):
        if keep is not None and not keep(m):
            continue
        records.append((producer_key(mention_from_dict(m), config).encode(), orjson.dumps(m)))
        ids.append(m["id"])
        langs[m["lang"]] += 1
        replies += m["author"]["is_brand"]
        chars += len(m["text"])
        last = m["created_at"]
        if len(records) >= count:
            break
    end_ms = _iso_ms(last) if isinstance(last, str) else last
    n = len(records)
    stats = {"count": n, "german_share": round(langs["de"] / n, 3),
             "brand_reply_share": round(replies / n, 3),
             "mean_text_chars": round(chars / n, 1),
             "mean_record_bytes": round(sum(len(v) for _, v in records) / n, 1),
             "event_time_span_s": round((end_ms - start_ms) / 1000, 1)}
    return Stream(records, ids, end_ms, stats)


def complaint_share(stream: Stream) -> float:
    from streams.classification import get_classifier

    classify = get_classifier("lexicon").classify
    n = complaints = 0
    for _, value in stream.records[:20_000]:
        m = orjson.loads(value)
        if not m["author"]["is_brand"]:
            complaints += classify(m["text"], m["lang"]).complaint
        n += 1
    return round(complaints / n, 3)


# -- measurements ------------------------------------------------------------------------------

def pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, max(0, round(q / 100 * len(s)) - 1))], 1)


def broker_process(broker_home: Path) -> Any:
    import psutil

    try:
        return psutil.Process(int((broker_home / "kafka" / "broker.pid").read_text().strip()))
    except (OSError, ValueError, psutil.Error):
        return None


def _cpu(proc: Any) -> float:
    if proc is None:
        return 0.0
    try:
        t = proc.cpu_times()
    except Exception:
        return 0.0
    return float(t.user + t.system)


def other_cpu_pct(running: Running, broker: Any, seconds: float = 2.0) -> float:
    """CPU used by processes other than the system, the broker and this harness, in % of one
    core, over `seconds`."""
    import psutil

    harness = psutil.Process()
    m0, own0 = psutil.cpu_times(), running.cpu_s() + _cpu(broker) + _cpu(harness)
    time.sleep(seconds)
    m1, own1 = psutil.cpu_times(), running.cpu_s() + _cpu(broker) + _cpu(harness)
    busy = sum(getattr(m1, f) - getattr(m0, f)
               for f in ("user", "system", "nice", "irq", "softirq", "steal"))
    return 100 * (busy - (own1 - own0)) / seconds


QUIET_WAIT_S = 600.0


def wait_for_quiet(running: Running, broker: Any, label: str) -> float:
    """Don't measure while something else (someone's test suite) loads the machine: wait until
    other processes use under 25% of a core, at most QUIET_WAIT_S. Returns the last reading."""
    deadline = time.monotonic() + QUIET_WAIT_S
    other = other_cpu_pct(running, broker)
    warned = False
    while other > 25 and time.monotonic() < deadline:
        if not warned:
            log(f"  {label}: other processes use {other:.0f}% of a core; waiting for a quiet "
                f"machine (at most {QUIET_WAIT_S:.0f}s)")
            warned = True
        time.sleep(5)
        other = other_cpu_pct(running, broker)
    return round(other, 1)


def throughput(bootstrap: str, running: Running, records: Sequence[Record], label: str,
               profile: Path | None = None, broker_home: Path | None = None) -> dict[str, Any]:
    import psutil

    n = len(records)
    base_first, base_final = running.counts()
    broker = broker_process(broker_home) if broker_home else None
    other_before = wait_for_quiet(running, broker, label)
    harness = psutil.Process()
    machine0 = psutil.cpu_times()
    broker0 = _cpu(broker)
    harness0 = _cpu(harness)
    wall0 = time.monotonic()
    cpu0 = running.cpu_s()
    prof = procs.py_spy(running.procs[0].pid, profile) if profile else None
    produce_s = kafkautil.produce_all(bootstrap, running.raw_topic, records)
    timeout_s = max(240.0, n / 250)
    started = time.monotonic()
    last_log = started
    first = final = 0
    while True:
        first, final = running.counts()
        running.rss()
        if final - base_final >= n:
            break
        if not running.alive():
            raise RuntimeError(f"{label} died:\n" + "\n".join(p.log_tail() for p in running.procs))
        stalled = first == base_first and time.monotonic() - started > 90
        if time.monotonic() - started > timeout_s or stalled:
            raise RuntimeError(f"{label}: only {final - base_final}/{n} done in {timeout_s:.0f}s")
        if time.monotonic() - last_log > 10:
            log(f"  {label}: {final - base_final:,}/{n:,} done "
                f"({first - base_first:,} through the first stage)")
            last_log = time.monotonic()
        # A worker's window comes from its own gauge: scrape once a second (scrapes cost it CPU).
        time.sleep(1.0 if running.metrics_ports else 0.25)
    cpu1 = running.cpu_s()
    broker1 = _cpu(broker)
    harness1 = _cpu(harness)
    machine1 = psutil.cpu_times()
    wall1 = time.monotonic()
    busy = sum(getattr(machine1, f) - getattr(machine0, f)
               for f in ("user", "system", "nice", "irq", "softirq", "steal"))
    idle = (machine1.idle - machine0.idle) + (machine1.iowait - machine0.iowait)
    profile_out = prof.stop() if prof else None
    t_first, t_last = running.window()
    seconds = t_last - t_first
    result = {
        "records": n, "seconds": round(seconds, 2), "per_s": round(n / seconds, 1),
        "cpu_s": round(cpu1 - cpu0, 2), "cpu_s_per_100k": round((cpu1 - cpu0) / n * 1e5, 1),
        "rss_mb": round(running.rss() / 2**20, 1), "produce_s": round(produce_s, 2),
        "broker_cpu_s_per_100k": round((broker1 - broker0) / n * 1e5, 1) if broker else None,
        "machine_cpu_busy_pct": round(100 * busy / (busy + idle), 1) if busy + idle else None,
        # CPU used by anything but this system, the broker and the harness (other people's
        # test runs on a shared machine distort the figures: keep this near 0).
        "other_processes_cpu_pct_of_a_core": round(
            100 * (busy - (cpu1 - cpu0) - (broker1 - broker0) - (harness1 - harness0))
            / (wall1 - wall0), 1),
        "other_processes_cpu_pct_before": other_before,
        "profile": str(profile_out) if profile_out else None,
    }
    log(f"  {label}: {n:,} in {seconds:.1f}s = {n / seconds:,.0f}/s, "
        f"{result['cpu_s_per_100k']} CPU s/100k (broker {result['broker_cpu_s_per_100k']}; "
        f"machine {result['machine_cpu_busy_pct']}% busy, other processes "
        f"{result['other_processes_cpu_pct_of_a_core']}% of a core)")
    return result


def latency(bootstrap: str, running: Running, records: Sequence[Record], ids: Sequence[str],
            rate: float, drain_timeout_s: float = 30.0,
            broker_home: Path | None = None) -> dict[str, Any]:
    broker = broker_process(broker_home) if broker_home else None
    other = wait_for_quiet(running, broker, "latency")
    res = kafkautil.paced_latency(bootstrap, running.raw_topic, running.enriched_topic,
                                  records, ids, rate, tick=running.rss,
                                  drain_timeout_s=drain_timeout_s)
    out: dict[str, Any] = {"offered_per_s": round(res.offered_per_s, 1), "sent": res.sent,
                           "received": res.received,
                           "seconds_offered": round(res.sent / res.offered_per_s, 1),
                           "other_processes_cpu_pct_before": other}
    if running.metrics_ports:
        out["open_complaints"] = sum(procs.metric_sum(m, "mentionwatch_complaints_open")
                                     for m in running.metrics())
    for name, values in (("arrival", res.arrival_ms), ("output_ts", res.output_ts_ms)):
        if name == "output_ts" and values and max(values) <= 0:
            out[name] = None  # the output carries the input's timestamp (Quix does)
            continue
        out[name] = {"p50_ms": pct(values, 50), "p90_ms": pct(values, 90),
                     "p99_ms": pct(values, 99), "max_ms": pct(values, 100),
                     "n": len(values)}
    a = out["arrival"]
    log(f"  latency at {res.offered_per_s:,.0f}/s offered: p50 {a['p50_ms']} ms, "
        f"p99 {a['p99_ms']} ms ({res.received}/{res.sent} arrived)")
    return out


def wait_lag_zero(bootstrap: str, running: Running, topics: Sequence[str],
                  timeout_s: float = 30.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    lag: dict[str, int] = {}
    while time.monotonic() < deadline:
        lag = kafkautil.group_lag(bootstrap, running.group, topics)
        if not any(lag.values()):
            break
        time.sleep(1.0)
    return lag


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).stat().st_size
    return total


# -- the run -----------------------------------------------------------------------------------

@dataclass
class Bench:
    args: argparse.Namespace
    bootstrap: str
    tag: str
    out: Path
    state_root: Path
    broker_home: Path
    results: dict[str, Any] = field(default_factory=dict)
    stream: Stream | None = None
    full: Stream | None = None
    lat_stream: Stream | None = None
    low_rate: float | None = None

    def prefix(self, name: str) -> str:
        return f"{self.tag}.{name}."

    def topics(self, prefix: str) -> None:
        systems.ensure_topics(self.bootstrap, prefix, self.state_root / prefix, BRANDS,
                              self.args.partitions)

    def save(self) -> None:
        (self.out / "results.json").write_bytes(
            orjson.dumps(self.results, option=orjson.OPT_INDENT_2))

    # one system: throughput on the stream, then latency at the offered rate
    def run_system(self, name: str, start: Callable[[str], Running],
                   after: Callable[[Running], None] | None = None,
                   profile: bool = False) -> None:
        assert self.stream is not None and self.lat_stream is not None
        prefix = self.prefix(name)
        log(f"{name}: topics {prefix}*")
        self.topics(prefix)
        running = start(prefix)
        try:
            ready_s = systems.wait_ready(running, members=len(running.procs))
            log(f"{name}: ready in {ready_s:.1f}s; producing {len(self.stream.records):,}")
            profile = profile or name in self.args.profile_all.split(",")
            prof = self.out / f"{name}.pyspy.txt" if profile and not self.args.no_profile else None
            res: dict[str, Any] = {"throughput": throughput(
                self.bootstrap, running, self.stream.records, name, prof, self.broker_home)}
            self.results["systems"][name] = res
            if running.metrics_ports:
                res["lag_after"] = wait_lag_zero(self.bootstrap, running,
                                                 [running.raw_topic, running.enriched_topic])
                ms = running.metrics()
                res["dead_letters"] = sum(procs.metric_sum(m, "mentionwatch_dead_letters_total")
                                          for m in ms)
                res["open_complaints_after"] = sum(
                    procs.metric_sum(m, "mentionwatch_complaints_open") for m in ms)
            if not self.args.no_latency and len(running.procs) == 1:
                self.latency_runs(name, running, res)
            if after is not None:
                after(running)
            res["peak_rss_mb"] = round(running.peak_rss() / 2**20, 1)
        finally:
            running.stop()
            self.save()

    def latency_runs(self, name: str, running: Running, res: dict[str, Any]) -> None:
        """Latency at the common below-saturation rate (the same for every system), then at
        the headline rate (--rate, 2,000/s) where the system's capacity allows it. mentionwatch
        always gets a short burst at the headline rate, so its figure is measured, not
        assumed."""
        assert self.lat_stream is not None
        capacity = res["throughput"]["per_s"]
        if self.low_rate is None:
            self.low_rate = min(self.args.rate, max(50.0, (capacity * 0.5) // 50 * 50))
        recs, ids = self.lat_stream.records, self.lat_stream.ids
        n_low = int(self.low_rate * self.args.latency_s)
        res["latency"] = latency(self.bootstrap, running, recs[:n_low], ids[:n_low],
                                 self.low_rate, broker_home=self.broker_home)
        if self.low_rate >= self.args.rate:
            return
        if capacity >= 1.25 * self.args.rate or name == "mw1":
            seconds = self.args.latency_s if name != "mw1" else min(5.0, self.args.latency_s)
            n_high = int(self.args.rate * seconds)
            backlog_s = n_high / capacity + 30
            res["latency_at_rate"] = latency(self.bootstrap, running,
                                             recs[n_low:n_low + n_high],
                                             ids[n_low:n_low + n_high], self.args.rate,
                                             drain_timeout_s=backlog_s,
                                             broker_home=self.broker_home)
        else:
            res["latency_at_rate"] = {"skipped": f"capacity {capacity:,.0f}/s is below "
                                      f"1.25 x {self.args.rate:,.0f}/s offered"}

    # mw1 only: state per open complaint, after throughput and latency
    def state_phase(self, running: Running) -> None:
        assert self.lat_stream is not None
        k = self.args.state_n
        from streams.classification import get_classifier

        classify = get_classifier("lexicon").classify

        def is_complaint(m: dict[str, Any]) -> bool:
            return bool(classify(m["text"], m["lang"]).complaint)

        state = make_stream(8, self.lat_stream.end_ms + 1000, k, customers=10**12,
                            id_prefix="state", rate_per_s=1000.0, reply_share=0.0,
                            keep=is_complaint)
        tick = 5.0 + 2.0
        time.sleep(tick)
        ms = running.metrics()[0]
        home = running.home
        assert home is not None
        worker_dir = next(home.glob(f"state/*/worker-{running.web_ports[0]}"))
        changelog = f"{running.group}-threads-changelog"
        kafka_data = self.broker_home / "kafka" / "data"

        def changelog_disk() -> int:
            return sum(dir_bytes(p) for p in kafka_data.glob(f"{changelog}-*"))

        before = {"open": procs.metric_sum(ms, "mentionwatch_complaints_open"),
                  "rss": running.procs[0].rss(), "rocksdb": dir_bytes(worker_dir),
                  "changelog_disk": changelog_disk()}
        log(f"state: {before['open']:,.0f} open complaints; adding {k:,} from new customers")
        prof = None
        if not self.args.no_profile:
            prof = procs.py_spy(running.procs[0].pid, self.out / "mw1-state.pyspy.txt")
        _, base_final = running.counts()
        started = time.time()
        kafkautil.produce_all(self.bootstrap, running.raw_topic, state.records)
        deadline = time.monotonic() + max(240.0, k / 200)
        while running.counts()[1] - base_final < k:
            running.rss()
            if time.monotonic() > deadline or not running.alive():
                raise RuntimeError("state phase did not finish:\n" + running.procs[0].log_tail())
            time.sleep(0.25)
        t_last = procs.metric_sum(running.metrics()[0],
                                  "mentionwatch_last_processed_timestamp_seconds")
        # Let the timer tick twice with the new state (gauges, ageing): part of its cost.
        time.sleep(2 * tick)
        running.rss()
        profile_out = prof.stop() if prof else None
        after = {"open": procs.metric_sum(running.metrics()[0], "mentionwatch_complaints_open"),
                 "rss": running.procs[0].rss(), "rocksdb": dir_bytes(worker_dir),
                 "changelog_disk": changelog_disk()}
        # Logical state: the latest value per key of the table's changelog.
        latest: dict[bytes, int] = {}
        for msg in kafkautil.read_topic(self.bootstrap, changelog):
            key, value = msg.key() or b"", msg.value()
            if value is None:
                latest.pop(key, None)
            else:
                latest[key] = len(key) + len(value)
        new_keys = {f"twitter:{orjson.loads(v)['author']['id']}".encode()
                    for _, v in state.records}
        new_bytes = sum(b for key, b in latest.items() if key in new_keys)
        # Every added complaint is open (no reply, far from its deadlines); count them in the
        # table itself rather than trusting the gauge, which also sees older items decided
        # meanwhile.
        d_open = sum(1 for key in new_keys if key in latest)
        res = {
            "added_complaints": k, "added_keys_in_table": d_open,
            "open_before": before["open"], "open_after": after["open"],
            "seconds_to_process": round(t_last - started, 2),
            "per_s_with_open_state": round(k / (t_last - started), 1),
            "table_keys": len(latest), "table_bytes": sum(latest.values()),
            "table_bytes_per_open_all": round(sum(latest.values()) / max(1, after["open"]), 1),
            "bytes_per_open_complaint": round(new_bytes / max(1, d_open), 1),
            "rocksdb_bytes_per_open_complaint": round(
                (after["rocksdb"] - before["rocksdb"]) / max(1, d_open), 1),
            "changelog_disk_bytes_per_open_complaint": round(
                (after["changelog_disk"] - before["changelog_disk"]) / max(1, d_open), 1),
            "rss_mb_per_100k_open": round(
                (after["rss"] - before["rss"]) / max(1, d_open) * 1e5 / 2**20, 1),
            "rss_mb_after": round(after["rss"] / 2**20, 1),
            "profile": str(profile_out) if profile_out else None,
        }
        self.results["state"] = res
        log(f"state: {res['bytes_per_open_complaint']} B/open complaint (changelog value), "
            f"{res['rocksdb_bytes_per_open_complaint']} B on RocksDB disk, "
            f"{res['rss_mb_per_100k_open']} MB RSS per 100k open; "
            f"{res['per_s_with_open_state']:,.0f}/s while adding them")

    def latency_floor(self) -> None:
        """The harness's own latency: offer to a topic and read the same topic back."""
        assert self.lat_stream is not None
        prefix = self.prefix("floor")
        self.topics(prefix)
        n = min(len(self.lat_stream.records), int(self.args.rate * 5))
        res = kafkautil.paced_latency(self.bootstrap, f"{prefix}mentions.raw",
                                      f"{prefix}mentions.raw", self.lat_stream.records[:n],
                                      self.lat_stream.ids[:n], self.args.rate)
        self.results["latency_floor"] = {"offered_per_s": round(res.offered_per_s, 1),
                                         "p50_ms": pct(res.arrival_ms, 50),
                                         "p99_ms": pct(res.arrival_ms, 99)}
        log(f"latency floor (produce → consume, no processor): {self.results['latency_floor']}")

    def scale_out(self) -> None:
        assert self.stream is not None
        name = "mw2"
        prefix = self.prefix(name)
        log(f"{name}: two workers, topics {prefix}*")
        self.topics(prefix)
        extra = dict(kv.split("=", 1) for kv in self.args.worker_env)
        running = systems.start_mentionwatch(self.bootstrap, prefix, self.state_root,
                                             self.out / "logs", BRANDS, self.args.partitions,
                                             workers=2, extra_env=extra)
        try:
            ready_s = systems.wait_ready(running, members=2)
            log(f"{name}: ready in {ready_s:.1f}s; producing {len(self.stream.records):,}")
            prof = None
            if name in self.args.profile_all.split(",") and not self.args.no_profile:
                prof = self.out / f"{name}.pyspy.txt"  # the first of the two workers
            res = {"throughput": throughput(self.bootstrap, running, self.stream.records, name,
                                            prof, broker_home=self.broker_home)}
            res["lag_after"] = wait_lag_zero(self.bootstrap, running,
                                             [running.raw_topic, running.enriched_topic])
            res["per_worker_cpu_s"] = [round(p.cpu_s(), 1) for p in running.procs]
            res["peak_rss_mb"] = round(running.peak_rss() / 2**20, 1)
            self.results["systems"][name] = res
        finally:
            running.stop()
            self.save()

    def replay(self) -> None:
        assert self.full is not None
        n = self.args.replay_n
        prefix = self.prefix("replay")
        self.topics(prefix)
        records = self.full.records[:n]
        log(f"replay: producing {len(records):,} to {prefix}mentions.raw")
        kafkautil.produce_all(self.bootstrap, f"{prefix}mentions.raw", records)
        log(f"replay: enriching them here (the core the worker runs) for {prefix}"
            "mentions.enriched")
        kafkautil.produce_all(self.bootstrap, f"{prefix}mentions.enriched", enriched(records))
        res: dict[str, Any] = {"records": len(records)}
        res["other_processes_cpu_pct_before"] = wait_for_quiet(
            Running("replay", prefix, "", []), broker_process(self.broker_home), "replay")
        # Each source against bare readers of the same records (its own topic); kafka-python
        # only on the raw topic (a minute per read, and it reads nothing faster elsewhere).
        for source in ("raw", "enriched"):
            topic = f"{prefix}mentions.{source}"
            for client in BARE_READERS:
                if client == "kafka-python" and source != "raw":
                    continue
                out = subprocess.run(procs.python_module(
                    "bench.apps.bare_read", "--bootstrap", self.bootstrap, "--topic", topic,
                    "--client", client), cwd=REPO, capture_output=True, text=True, check=True)
                name = bare_key(client, source)
                res[name] = orjson.loads(out.stdout.strip().splitlines()[-1])
                log(f"replay: bare {client} reader of {topic}: "
                    f"{res[name]['records_per_s']:,.0f} records/s")
        for source in ("raw", "enriched"):
            out = self._replay_once(prefix, source)
            for client in ("aiokafka", "confluent-kafka"):
                bare = res[bare_key(client, source)]["records_per_s"]
                out[f"vs_bare_{client.replace('-', '_')}"] = round(out["records_per_s"] / bare, 3)
            res[f"replay_{source}"] = out
            log(f"replay --source {source}: {out['records_per_s']:,.0f} records/s "
                f"({out['vs_bare_aiokafka']:.2f} x a bare aiokafka reader, "
                f"{out['vs_bare_confluent_kafka']:.2f} x a bare confluent-kafka reader of the "
                "same records)")
        self.results["replay"] = res
        self.save()

    def _replay_once(self, prefix: str, source: str) -> dict[str, Any]:
        env = systems.mentionwatch_env(self.bootstrap, prefix, self.state_root / prefix, BRANDS,
                                       self.args.partitions)
        argv = procs.python_module("agents.cli", "replay", "--from", "2026-03-01", "--to",
                                   "2026-04-01", "--format", "json", "--output",
                                   str(self.out / f"replay-{source}-report.json"),
                                   "--no-progress", "--source", source)
        proc = procs.start(f"replay-{source}", argv, env, self.out / "logs")
        prof = None
        if not self.args.no_profile:
            prof = procs.py_spy(proc.pid, self.out / f"replay-{source}.pyspy.txt",
                                subprocesses=True)
        started = time.monotonic()
        peak = 0
        while True:
            # VmHWM while it runs: wait4's ru_maxrss would count the harness's own pages,
            # shared with the child between fork and exec. Its shard processes count too.
            peak = max(peak, proc.tree_hwm())
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.5)
        wall = time.monotonic() - started
        proc.popen.returncode = os.waitstatus_to_exitcode(status)
        profile_out = prof.stop() if prof else None
        text = proc.log_path.read_text(errors="replace")
        m = re.search(r"replayed (\d+) records .* in ([\d.]+)s \(([\d,]+) records/s, "
                      r"(\d+) process", text)
        if proc.popen.returncode != 0 or not m:
            raise RuntimeError(f"replay failed:\n{proc.log_tail()}")
        return {
            "records": int(m.group(1)), "seconds": float(m.group(2)),
            "records_per_s": float(m.group(3).replace(",", "")),
            "processes": int(m.group(4)),
            "process_wall_s": round(wall, 2),
            "cpu_s": round(rusage.ru_utime + rusage.ru_stime, 2),
            "peak_rss_mb": round(peak / 2**20, 1),
            "profile": str(profile_out) if profile_out else None,
        }


def enriched(records: Sequence[Record]) -> list[Record]:
    """What the worker writes to mentions.enriched for these raw records."""
    from schemas.codec import decode_mention, encode_enriched
    from streams.brands import parse_brand_config
    from streams.classification import get_classifier
    from streams.enrich import enrich

    config = parse_brand_config(BRANDS.read_text(encoding="utf-8"))
    classify = get_classifier("lexicon").classify
    out = []
    for _key, value in records:
        result, _post, key = enrich(decode_mention(value), classify, "lexicon", config)
        out.append((key.encode(), encode_enriched(result)))
    return out


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("faust-streaming", "aiokafka", "kafka-python", "quixstreams",
                "confluent-kafka", "orjson", "rocksdict"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    from agents.broker import KAFKA_VERSION

    out["kafka_broker"] = KAFKA_VERSION
    return out


def git_info() -> dict[str, Any]:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                             check=False)
        return out.stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "uncommitted_changes_in_code": bool(git("status", "--porcelain", "--", "agents",
                                                    "streams", "schemas"))}


def machine() -> dict[str, Any]:
    import psutil

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu_model": model,
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="fewer records (20k, replay 200k, 10k open complaints): ~5 min")
    parser.add_argument("--n", type=int, help="mentions per throughput run (default 100k)")
    parser.add_argument("--replay-n", type=int, help="mentions replayed (default 1M)")
    parser.add_argument("--state-n", type=int, help="open complaints added (default 50k)")
    parser.add_argument("--rate", type=float, default=2000.0,
                        help="offered mentions/s of the latency runs (default 2000)")
    parser.add_argument("--latency-s", type=float,
                        help="seconds of offered load per latency run (default 10)")
    parser.add_argument("--only", default="bare,faust1,faust2,quix,mw1,mw2,replay",
                        help="comma-separated subset of: bare faust1 faust2 quix mw1 mw2 "
                        "replay")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--no-profile", action="store_true", help="no py-spy profiles")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--no-state", action="store_true", help="skip the state phase")
    parser.add_argument("--worker-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the mentionwatch workers (experiments, "
                        "e.g. MENTIONWATCH_LOG_LEVEL=warning)")
    parser.add_argument("--profile-all", default="",
                        help="also profile these systems (comma-separated, e.g. faust1,quix)")
    parser.add_argument("--bootstrap", default="127.0.0.1:29192")
    parser.add_argument("--broker-home", type=Path, default=REPO / ".mentionwatch" / "bench")
    parser.add_argument("--keep", action="store_true",
                        help="keep the run's topics and worker state (default: deleted)")
    parser.add_argument("--keep-broker", action="store_true",
                        help="leave the broker running if this run started it")
    args = parser.parse_args(argv)
    quick = args.quick
    args.n = args.n or (20_000 if quick else 100_000)
    args.replay_n = args.replay_n or (200_000 if quick else 1_000_000)
    args.state_n = args.state_n or (10_000 if quick else 50_000)
    args.latency_s = args.latency_s or (5.0 if quick else 10.0)
    only = {s.strip() for s in args.only.split(",") if s.strip()}

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    tag = f"b{stamp[-6:]}{secrets.token_hex(2)}"
    out = BENCH / "results" / stamp
    out.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, args.bootstrap, tag, out, args.broker_home / "runs" / tag,
                  args.broker_home)
    bench.results = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                     "mode": "quick" if quick else "default", "tag": tag,
                     "args": {k: str(v) if isinstance(v, Path) else v
                              for k, v in vars(args).items()},
                     "machine": machine(), "versions": versions(), "git": git_info(),
                     "systems": {},
                     "targets": TARGETS}
    started = time.monotonic()

    from agents import broker
    from agents.config import load_settings

    broker_settings = load_settings({"MENTIONWATCH_HOME": str(args.broker_home),
                                     "MENTIONWATCH_BOOTSTRAP_SERVERS": args.bootstrap})
    started_broker = False
    if not broker.accepts_clients(args.bootstrap):
        log(f"starting a Kafka broker on {args.bootstrap} (state in {args.broker_home})")
        log(broker.start(broker_settings))
        started_broker = True
    try:
        count = max(args.n, args.replay_n if "replay" in only else 0)
        log(f"generating {count:,} mentions (streams/demo.py, seed 6)")
        t0 = time.monotonic()
        start_ms = _iso_ms(STREAM_START)
        full = make_stream(6, start_ms, count, customers=max(30_000, count // 3),
                           id_prefix="m")
        bench.full = full
        head = full.records[:args.n]
        bench.stream = Stream(head, full.ids[:args.n],
                              max((_event_ms(value) for _, value in head), default=start_ms))
        lat_n = int(args.rate * args.latency_s * 2)
        # The latency runs continue the throughput run's stream in event time, as live traffic
        # would (starting after the whole replay stream made the clock jump hours ahead and
        # every open complaint fall due at once).
        bench.lat_stream = make_stream(7, bench.stream.end_ms + 1000, lat_n,
                                       customers=max(30_000, count // 3), id_prefix="lat")
        bench.results["stream"] = {**full.stats, "complaint_share": complaint_share(full),
                                   "throughput_records": args.n, "latency_records": lat_n,
                                   "generated_in_s": round(time.monotonic() - t0, 1)}
        log(f"stream: {bench.results['stream']}")
        b, sr, lg = args.bootstrap, bench.state_root, out / "logs"
        if not args.no_latency:
            bench.latency_floor()
        # mentionwatch first: its capacity sets the common below-saturation offered rate.
        extra = dict(kv.split("=", 1) for kv in args.worker_env)
        if "mw1" in only:
            bench.run_system("mw1", lambda p: systems.start_mentionwatch(
                b, p, sr, lg, BRANDS, args.partitions, extra_env=extra),
                after=None if args.no_state else bench.state_phase, profile=True)
        if "bare" in only:
            bench.run_system("bare", lambda p: systems.start_bare(b, p, sr, lg))
        if "faust1" in only:
            bench.run_system("faust1", lambda p: systems.start_faust(b, p, sr, lg, hops=1))
        if "faust2" in only:
            bench.run_system("faust2", lambda p: systems.start_faust(b, p, sr, lg, hops=2))
        if "quix" in only:
            bench.run_system("quix", lambda p: systems.start_quix(b, p, sr, lg, BRANDS))
        if "mw2" in only:
            bench.scale_out()
        if "replay" in only:
            bench.replay()
    finally:
        bench.results["wall_s"] = round(time.monotonic() - started, 1)
        bench.save()
        if not args.keep:
            with contextlib.suppress(Exception):
                kafkautil.delete_topics_containing(args.bootstrap, tag)
            shutil.rmtree(bench.state_root, ignore_errors=True)
        if started_broker and not args.keep_broker:
            log(broker.stop(broker_settings))
    report(bench)
    shutil.copyfile(out / "results.json", BENCH / "results" / "latest.json")
    print(f"\nresults: {out / 'results.json'}")
    return 0


# -- the report --------------------------------------------------------------------------------

def _fmt(v: Any, spec: str = ",.0f") -> str:
    return "-" if v is None else format(v, spec)


def report(bench: Bench) -> None:
    r = bench.results
    s = r["systems"]
    names = {"bare": "bare aiokafka loop (limit)", "faust1": "empty faust agent (ceiling)",
             "faust2": "empty faust, 2 agents chained", "quix": "Quix Streams peer",
             "mw1": "mentionwatch, 1 worker", "mw2": "mentionwatch, 2 workers"}

    def rate(key: str) -> float | None:
        return s.get(key, {}).get("throughput", {}).get("per_s")

    lines = [f"\nmentionwatch benchmark ({r['mode']}, {r['stream'].get('throughput_records'):,}"
             f" mentions; {r['machine']['cpus']} CPUs, {r['machine']['cpu_model']})", ""]
    low = bench.low_rate or 0
    lines.append(f"{'':<32}{'':>11}{'':>8}{'':>8}{'':>11}{'':>12}"
                 f"{f'latency @ {low:,.0f}/s':>16}{f'@ {bench.args.rate:,.0f}/s':>16}")
    lines.append(f"{'system':<32}{'mentions/s':>11}{'x bare':>8}{'x faust':>8}"
                 f"{'CPU s/100k':>11}{'peak RSS MB':>12}{'p50 ms':>8}{'p99 ms':>8}"
                 f"{'p50 ms':>8}{'p99 ms':>8}")
    for key, label in names.items():
        if key not in s:
            continue
        t = s[key]["throughput"]
        lat = (s[key].get("latency") or {}).get("arrival") or {}
        hi = (s[key].get("latency_at_rate") or {}).get("arrival") or {}
        bare, faust = rate("bare"), rate("faust1")
        lines.append(
            f"{label:<32}{_fmt(t['per_s']):>11}"
            f"{_fmt(t['per_s'] / bare if bare else None, '.2f'):>8}"
            f"{_fmt(t['per_s'] / faust if faust else None, '.2f'):>8}"
            f"{_fmt(t['cpu_s_per_100k'], '.1f'):>11}{_fmt(s[key].get('peak_rss_mb'), '.0f'):>12}"
            f"{_fmt(lat.get('p50_ms'), '.1f'):>8}{_fmt(lat.get('p99_ms'), '.1f'):>8}"
            f"{_fmt(hi.get('p50_ms'), '.1f'):>8}{_fmt(hi.get('p99_ms'), '.1f'):>8}")
    if low:
        floor = r.get("latency_floor") or {}
        lines.append(f"(latency: raw record timestamp → the enriched record read by a live "
                     f"consumer, offered at {low:,.0f}/s (half mentionwatch's capacity, the same "
                     f"for all) and at {bench.args.rate:,.0f}/s where capacity allows; '-': "
                     f"capacity < 1.25 x offered. The harness alone, produce → consume: "
                     f"p50 {floor.get('p50_ms')} ms, p99 {floor.get('p99_ms')} ms)")
    rp = r.get("replay")
    if rp:
        lines.append("")
        lines.append(f"replay over {rp['records']:,} mentions:")
        for source in ("raw", "enriched"):
            one = rp[f"replay_{source}"]
            lines.append(f"  mentionwatch replay --source {source:<9}"
                         f"{one['records_per_s']:>10,.0f}/s"
                         f"  ({one['vs_bare_aiokafka']:.2f} x bare aiokafka, "
                         f"{one.get('vs_bare_confluent_kafka', 0):.2f} x bare confluent-kafka; "
                         f"{one['cpu_s']} CPU s, peak RSS {one['peak_rss_mb']:.0f} MB)")
        lines.append("  bare readers of the same records (the ratios above are to these):")
        for source in ("raw", "enriched"):
            for client in BARE_READERS:
                one = rp.get(bare_key(client, source))
                if one is not None:  # older results lack some
                    label = f"{client} reader, mentions.{source}"
                    lines.append(f"    {label:<40}{one['records_per_s']:>10,.0f}/s")
    st = r.get("state")
    if st:
        lines.append("")
        lines.append(f"state ({st['added_complaints']:,} open complaints added to "
                     f"{st['open_before']:,.0f}):")
        lines.append(f"  table value (changelog) per open complaint: "
                     f"{st['bytes_per_open_complaint']:,.0f} B; RocksDB disk "
                     f"{st['rocksdb_bytes_per_open_complaint']:,.0f} B; changelog disk "
                     f"{st['changelog_disk_bytes_per_open_complaint']:,.0f} B")
        lines.append(f"  whole table / all open complaints: {st['table_bytes_per_open_all']:,.0f}"
                     f" B; RSS per 100k open complaints: {st['rss_mb_per_100k_open']:,.1f} MB;"
                     f" {st['per_s_with_open_state']:,.0f} mentions/s while adding them")
    lines.append("")
    lines.append("targets:")
    verdicts: dict[str, Any] = {}

    def check(name: str, value: float | None, ok: Callable[[float], bool], text: str) -> None:
        verdict = None if value is None else bool(ok(value))
        verdicts[name] = {"value": value, "met": verdict}
        mark = "n/a " if verdict is None else ("MET " if verdict else "MISS")
        lines.append(f"  [{mark}] {text}: {_fmt(value, ',.2f')}")

    mw, f1, mw2 = rate("mw1"), rate("faust1"), rate("mw2")
    check("mentionwatch_vs_faust", mw / f1 if mw and f1 else None, lambda v: v >= 0.7,
          "mentionwatch >= 0.7 x empty faust agent")
    hi_lat = s.get("mw1", {}).get("latency_at_rate") or s.get("mw1", {}).get("latency") or {}
    p99 = (hi_lat.get("arrival") or {}).get("p99_ms")
    check("p99_ms", p99, lambda v: v <= 100,
          f"e2e p99 <= 100 ms at {_fmt(hi_lat.get('offered_per_s'))}/s offered")
    lo_p99 = ((s.get("mw1", {}).get("latency") or {}).get("arrival") or {}).get("p99_ms")
    if lo_p99 is not None and hi_lat is not s.get("mw1", {}).get("latency"):
        lines.append(f"         (and {_fmt(lo_p99, ',.1f')} ms at {low:,.0f}/s offered)")
    if rp:
        best = max((rp[f"replay_{src}"] for src in ("raw", "enriched")),
                   key=lambda one: one["records_per_s"])
        check("replay_vs_bare", best["vs_bare_aiokafka"], lambda v: v >= 0.5,
              "replay (faster source) >= 0.5 x bare aiokafka consumer of the same records")
        check("replay_per_s", best["records_per_s"], lambda v: v >= 100_000,
              "replay (faster source) >= 100k mentions/s")
    check("scale_out", mw2 / mw if mw and mw2 else None, lambda v: v >= 1.6,
          "two workers >= 1.6 x one")
    if st:
        check("state_bytes_per_open", st["bytes_per_open_complaint"], lambda v: v <= 1024,
              "<= 1 KB state per open complaint")
    r["verdicts"] = verdicts
    for key, name in (("mw1", "worker (throughput run)"), ("state", "worker (open state)"),
                      ("replay_raw", "replay --source raw"),
                      ("replay_enriched", "replay --source enriched")):
        node = s.get(key, {}).get("throughput") if key == "mw1" else (
            (r.get("state") or {}) if key == "state" else (r.get("replay") or {}).get(key))
        path = (node or {}).get("profile")
        if path and Path(path).exists():
            summary = summarise(Path(path))
            r.setdefault("profiles", {})[key] = summary
            lines.append(f"\nprofile, {name} ({path}):")
            lines.append(render(summary, 12))
    bench.save()
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
