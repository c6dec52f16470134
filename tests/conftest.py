"""Shared fixtures: the real Kafka broker (started once per session if not already up), worker
subprocesses on their own ports, and helpers to produce and consume for real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MENTIONWATCH_SHARED_DATA", REPO.parent / "shared" / "data"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    """Bootstrap address of a real Apache Kafka broker (./dev test starts one; so does this)."""
    from agents import broker
    from agents.config import load_settings

    settings = load_settings()
    started = False
    if not broker.accepts_clients(settings.bootstrap_servers):
        broker.start(settings)
        started = True
    yield settings.bootstrap_servers
    if started:
        broker.stop(settings)


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    web_port: int
    metrics_port: int
    log_path: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Stack:
    """One isolated set of topics and a consumer group per test, on the session's broker."""

    bootstrap: str
    prefix: str
    home: Path
    partitions: int = 6

    @property
    def env(self) -> dict[str, str]:
        return {
            "MENTIONWATCH_BOOTSTRAP_SERVERS": self.bootstrap,
            "MENTIONWATCH_HOME": str(self.home),
            "MENTIONWATCH_APP_ID": f"{self.prefix}app",
            "MENTIONWATCH_TOPIC_PREFIX": self.prefix,
            "MENTIONWATCH_PARTITIONS": str(self.partitions),
        }

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def settings(self, **extra: str) -> Any:
        from agents.config import load_settings

        return load_settings({**self.env, **extra})

    def start_worker(self, name: str = "w1", **extra_env: str) -> Worker:
        """A worker subprocess; MENTIONWATCH_WEB_PORT/METRICS_PORT in extra_env reuse ports
        (and so the state directory of an earlier worker)."""
        web_port = int(extra_env.get("MENTIONWATCH_WEB_PORT") or free_port())
        metrics_port = int(extra_env.get("MENTIONWATCH_METRICS_PORT") or free_port())
        env = dict(os.environ)
        env.update(self.env)
        env.update({"MENTIONWATCH_WEB_PORT": str(web_port),
                    "MENTIONWATCH_METRICS_PORT": str(metrics_port),
                    "MENTIONWATCH_LOG_LEVEL": "info"})
        env.update(extra_env)
        log_path = self.home / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "worker"], env=env,
                                    stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                    start_new_session=True)
        worker = Worker(proc, web_port, metrics_port, log_path, env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not worker.alive():
                raise AssertionError(f"worker {name} exited:\n{worker.log()}")
            try:
                with urllib.request.urlopen(f"{worker.url}/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return worker
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"worker {name} did not become healthy:\n{worker.log()}")


def _track_workers(stack: Stack) -> list[Worker]:
    """Every worker stack.start_worker starts from now on, to stop at the fixture's end."""
    workers: list[Worker] = []
    original = stack.start_worker

    def start_and_track(name: str = "w1", **extra_env: str) -> Worker:
        w = original(name, **extra_env)
        workers.append(w)
        return w

    stack.start_worker = start_and_track  # type: ignore[method-assign]
    return workers


def _stop_workers(workers: list[Worker]) -> None:
    from agents.demo import stop_process

    for w in workers:
        stop_process(w.proc, timeout_s=20)


@pytest.fixture
def stack(kafka: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(bootstrap=kafka, prefix=f"t{uuid.uuid4().hex[:8]}.", home=tmp_path / "home")
    from agents.topics import ensure_topics

    ensure_topics(s.settings())
    workers = _track_workers(s)
    yield s
    _stop_workers(workers)


def consume_all(bootstrap: str, topic: str, *, expected: int, timeout_s: float = 90.0
                ) -> list[Any]:
    """Read a topic from the beginning until `expected` records arrived and everything the
    topic held when the call began was read (or time runs out), then keep reading briefly to
    catch extras that should not be there. Reading to the starting end offsets matters for
    small `expected` (0 above all): a slow metadata fetch must not pass for an empty topic."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    settle_until: float | None = None
    try:
        partitions: set[int] | None = None
        while partitions is None and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                time.sleep(0.2)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions or ())]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        ends = consumer.end_offsets(assigned) if assigned else {}
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
            caught_up = all(consumer.position(tp) >= end for tp, end in ends.items())
            if caught_up and len(records) >= expected:
                if settle_until is None:
                    settle_until = time.monotonic() + 3.0
                elif time.monotonic() > settle_until:
                    break
    finally:
        consumer.close()
    return records


@pytest.fixture
def own_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A broker of this test's own, on free ports, to stop under a worker (never the shared
    one)."""
    from agents import broker
    from agents.topics import ensure_topics

    monkeypatch.setenv("MENTIONWATCH_KAFKA_CONTROLLER_PORT", str(free_port()))
    monkeypatch.setenv("MENTIONWATCH_KAFKA_HEAP", "384m")
    stack = Stack(bootstrap=f"127.0.0.1:{free_port()}", prefix=f"o{uuid.uuid4().hex[:6]}.",
                  home=tmp_path / "own", partitions=2)
    settings = stack.settings()
    # Every worker the test started is stopped with the broker: one left running (its broker
    # gone) retried for as long as the machine ran, costing the rest of the suite CPU.
    workers = _track_workers(stack)
    broker.start(settings)
    try:
        ensure_topics(settings)
        yield stack
    finally:
        _stop_workers(workers)
        broker.stop(settings)
