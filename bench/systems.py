"""The systems under test, each started as subprocess(es) on its own set of topics (one topic
prefix per system and run) and observed from outside: counts of the first and the final stage,
and the wall-clock window between the first record processed and the last one done."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench import kafkautil, procs
from bench.procs import Proc


@dataclass
class Running:
    name: str
    prefix: str
    group: str
    procs: list[Proc]
    progress_files: list[Path] = field(default_factory=list)
    metrics_ports: list[int] = field(default_factory=list)
    web_ports: list[int] = field(default_factory=list)
    home: Path | None = None
    bootstrap: str = ""

    @property
    def raw_topic(self) -> str:
        return f"{self.prefix}mentions.raw"

    @property
    def enriched_topic(self) -> str:
        return f"{self.prefix}mentions.enriched"

    def alive(self) -> bool:
        return all(p.alive() for p in self.procs)

    def cpu_s(self) -> float:
        return sum(p.cpu_s() for p in self.procs)

    def rss(self) -> int:
        return sum(p.rss() for p in self.procs)

    def peak_rss(self) -> int:
        return sum(p.hwm() for p in self.procs)

    def metrics(self) -> list[dict[str, float]]:
        return [procs.scrape(port) for port in self.metrics_ports]

    def counts(self) -> tuple[int, int]:
        """(records through the first stage, records through the final stage)."""
        if self.metrics_ports:
            ms = self.metrics()
            first = sum(procs.metric_sum(m, "mentionwatch_records_processed_total",
                                         agent="enrich") for m in ms)
            final = sum(procs.metric_sum(m, "mentionwatch_records_processed_total",
                                         agent="tracking") for m in ms)
            return int(first), int(final)
        first = final = 0
        for path in self.progress_files:
            p = _read_progress(path)
            first += int(p.get("first") or 0)
            final += int(p.get("final") or 0)
        return first, final

    def window(self) -> tuple[float, float]:
        """Wall-clock time of the first record processed and of the last one done."""
        if self.metrics_ports:
            t_first = min(kafkautil.first_timestamps(self.bootstrap, self.enriched_topic))
            t_last = max(procs.metric_sum(m, "mentionwatch_last_processed_timestamp_seconds")
                         for m in self.metrics())
            return t_first, t_last
        ps = [_read_progress(path) for path in self.progress_files]
        return (min(p["t_first"] for p in ps if p.get("t_first")),
                max(p["t_last"] for p in ps if p.get("t_last")))

    def stop(self) -> None:
        for p in self.procs:
            p.stop()


def _read_progress(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def mentionwatch_env(bootstrap: str, prefix: str, home: Path, brands: Path,
                     partitions: int) -> dict[str, str]:
    return {
        "MENTIONWATCH_BOOTSTRAP_SERVERS": bootstrap,
        "MENTIONWATCH_HOME": str(home),
        "MENTIONWATCH_APP_ID": f"{prefix}app",
        "MENTIONWATCH_TOPIC_PREFIX": prefix,
        "MENTIONWATCH_PARTITIONS": str(partitions),
        "MENTIONWATCH_BRANDS_FILE": str(brands),
    }


def ensure_topics(bootstrap: str, prefix: str, home: Path, brands: Path,
                  partitions: int) -> None:
    from agents.config import load_settings
    from agents.topics import ensure_topics as create

    create(load_settings(mentionwatch_env(bootstrap, prefix, home, brands, partitions)))


def start_bare(bootstrap: str, prefix: str, run_dir: Path, logs: Path) -> Running:
    group = f"{prefix}bare"
    run_dir.mkdir(parents=True, exist_ok=True)
    progress = run_dir / f"{prefix}progress.json"
    proc = procs.start(f"{prefix}bare", procs.python_module(
        "bench.apps.bare_aiokafka", "--bootstrap", bootstrap, "--source",
        f"{prefix}mentions.raw", "--sink", f"{prefix}mentions.enriched", "--group", group,
        "--progress", str(progress)), {}, logs)
    return Running("bare", prefix, group, [proc], [progress], bootstrap=bootstrap)


def start_faust(bootstrap: str, prefix: str, run_dir: Path, logs: Path, hops: int) -> Running:
    app_id = f"{prefix}faust"
    (run_dir / prefix).mkdir(parents=True, exist_ok=True)
    progress = run_dir / f"{prefix}progress.json"
    proc = procs.start(f"{prefix}faust", procs.python_module(
        "bench.apps.faust_empty", "--bootstrap", bootstrap, "--source",
        f"{prefix}mentions.raw", "--sink", f"{prefix}mentions.enriched", "--app-id", app_id,
        "--datadir", str(run_dir / prefix), "--web-port", str(procs.free_port()),
        "--progress", str(progress), "--hops", str(hops)), {}, logs)
    return Running(f"faust{hops}", prefix, app_id, [proc], [progress], bootstrap=bootstrap)


def start_quix(bootstrap: str, prefix: str, run_dir: Path, logs: Path, brands: Path) -> Running:
    group = f"{prefix}quix"
    (run_dir / prefix).mkdir(parents=True, exist_ok=True)
    progress = run_dir / f"{prefix}progress.json"
    proc = procs.start(f"{prefix}quix", procs.python_module(
        "bench.apps.quix_peer", "--bootstrap", bootstrap, "--prefix", prefix, "--group", group,
        "--state-dir", str(run_dir / prefix), "--brands", str(brands),
        "--progress", str(progress)), {}, logs)
    return Running("quix", prefix, group, [proc], [progress], bootstrap=bootstrap)


def start_mentionwatch(bootstrap: str, prefix: str, run_dir: Path, logs: Path, brands: Path,
                       partitions: int, workers: int = 1,
                       extra_env: dict[str, str] | None = None) -> Running:
    home = run_dir / prefix
    home.mkdir(parents=True, exist_ok=True)
    env = {**mentionwatch_env(bootstrap, prefix, home, brands, partitions), **(extra_env or {})}
    running = Running(f"mentionwatch x{workers}", prefix, f"{prefix}app", [], home=home,
                      bootstrap=bootstrap)
    for i in range(workers):
        web, metrics = procs.free_port(), procs.free_port()
        proc = procs.start(f"{prefix}worker{i + 1}", procs.python_module("agents.cli", "worker"),
                           {**env, "MENTIONWATCH_WEB_PORT": str(web),
                            "MENTIONWATCH_METRICS_PORT": str(metrics)}, logs)
        running.procs.append(proc)
        running.web_ports.append(web)
        running.metrics_ports.append(metrics)
    for proc, web in zip(running.procs, running.web_ports, strict=True):
        procs.wait_http(proc, f"http://127.0.0.1:{web}/healthz")
    return running


def wait_ready(running: Running, members: int = 1, timeout_s: float = 120.0) -> float:
    """Until the consumer group is Stable with every member assigned, plus a short settle (faust
    recovers its tables and starts its agents right after the assignment)."""
    started = time.monotonic()
    kafkautil.wait_group_stable(running.bootstrap, running.group, members, timeout_s,
                                alive=running.alive)
    time.sleep(2.0)
    return time.monotonic() - started
