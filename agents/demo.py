"""`mentionwatch demo`: the whole local stack on an embedded default, printing what it sees."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from agents.config import Settings
from schemas.codec import mention_from_dict
from streams.brands import parse_brand_config
from streams.demo import generate
from streams.enrich import producer_key

DEMO_BRANDS_FILE = Path(__file__).with_name("demo_brands.toml")
COLOURS = {"negative": "\033[31m", "positive": "\033[32m", "neutral": "\033[37m"}
RESET = "\033[0m"


class DemoError(RuntimeError):
    """The demo can't start; the message says why and what to do."""


class DemoStopped(BaseException):  # a stop request, like KeyboardInterrupt
    """SIGTERM or SIGHUP: stop like Ctrl-C does."""


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    raise DemoStopped(signum)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def listening_pids(port: int) -> set[int]:
    """Processes listening on TCP port (Linux /proc; empty where it can't tell)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            listening = len(fields) > 9 and fields[3] == "0A"  # TCP_LISTEN
            if listening and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    pids: set[int] = set()
    if not inodes:
        return pids
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            for fd in (proc_dir / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    pids.add(int(proc_dir.name))
                    break
        except OSError:
            continue
    return pids


def _describe_owner(host: str, port: int) -> str:
    pids = sorted(listening_pids(port))
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "agents.cli worker" in cmdline or "mentionwatch worker" in cmdline:
            return (f"by a mentionwatch worker (pid {pid}), perhaps left by an earlier demo: "
                    f"stop it with `kill {pid}`")
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=1) as response:
            if response.status == 200:
                return ("by something answering /healthz like a mentionwatch worker"
                        + (f" (pid {pids[0]}): stop it with `kill {pids[0]}`" if pids else
                           ": stop it"))
    except OSError:
        pass
    return f"by another process (pid {pids[0]})" if pids else "by another process"


def check_ports_free(settings: Settings) -> None:
    """Fail before starting anything when a port the worker needs is taken: the demo must
    not take someone else's process for its worker."""
    ports = [("MENTIONWATCH_WEB_PORT", settings.web_host, settings.web_port)]
    if settings.metrics_port:
        ports.append(("MENTIONWATCH_METRICS_PORT", settings.metrics_host, settings.metrics_port))
    for variable, host, port in ports:
        if port_in_use(host, port):
            raise DemoError(
                f"port {port} on {host} ({variable}) is already in use "
                f"{_describe_owner(host, port)}; or set {variable} to a free port")


def wait_healthy(settings: Settings, proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """True once our worker answers /healthz. Its port was free before we started it; the
    answer counts only while it is alive and, where /proc tells, it is the one listening."""
    url = f"http://{settings.web_host}:{settings.web_port}/healthz"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                listeners = listening_pids(settings.web_port)
                if (response.status == 200 and proc.poll() is None
                        and (not listeners or listeners == {proc.pid})):
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def start_worker(settings: Settings, log_path: Path, extra_env: dict[str, str] | None = None
                 ) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(extra_env or {})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "agents.cli", "worker"], env=env, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # we stop it ourselves, in order, on Ctrl-C
        )


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _line(record: dict[str, object], colour: bool) -> str:
    mention = record["mention"]
    en = record["enrichment"]
    assert isinstance(mention, dict) and isinstance(en, dict)
    who = mention["author"]["handle"]
    tag = "REPLY" if mention["author"]["is_brand"] else (
        "COMPLAINT" if en["complaint"] else "mention")
    text = str(mention["text"]).replace("\n", " ")
    if len(text) > 90:
        text = text[:87] + "..."
    sentiment = str(en["sentiment"])
    if colour:
        sentiment = COLOURS.get(sentiment, "") + sentiment + RESET
    return (f"{mention['brand']:<11} [{en['language']}] {sentiment:<8} "
            f"{tag:<9} @{who}: {text}")


def run_demo(settings: Settings, *, rate: float, count: int | None) -> int:
    from kafka import KafkaConsumer, KafkaProducer

    from agents import broker
    from agents.kafka_clients import kafka_python_security
    from agents.topics import ensure_topics

    colour = sys.stdout.isatty()
    try:
        check_ports_free(settings)
    except DemoError as exc:
        print(f"mentionwatch demo: {exc}", file=sys.stderr)
        return 1
    # SIGTERM and SIGHUP (a closed terminal) stop the demo like Ctrl-C: worker, then broker.
    previous = {signum: signal.signal(signum, _on_stop_signal)
                for signum in (signal.SIGTERM, signal.SIGHUP)}
    print("mentionwatch demo: starting the local Kafka broker ...", flush=True)
    was_running = broker.status(settings)[0]
    worker: subprocess.Popen[bytes] | None = None
    counts: Counter[str] = Counter()
    producer = None
    consumer = None
    try:
        print(broker.start(settings), flush=True)
        for line in ensure_topics(settings):
            print("topic", line)
        env = {}
        if not os.environ.get("MENTIONWATCH_BRANDS_FILE"):
            env["MENTIONWATCH_BRANDS_FILE"] = str(DEMO_BRANDS_FILE)
        brands_file = Path(env.get("MENTIONWATCH_BRANDS_FILE")
                           or os.environ["MENTIONWATCH_BRANDS_FILE"])
        config = parse_brand_config(brands_file.read_text(encoding="utf-8"),
                                    source=str(brands_file))
        # The demo's mentions are generated live: a short lateness shows answers within seconds.
        for name, value in (("MENTIONWATCH_ALLOWED_LATENESS_SECONDS", "2"),
                            ("MENTIONWATCH_IDLE_GRACE_SECONDS", "5"),
                            ("MENTIONWATCH_TICK_INTERVAL_SECONDS", "1")):
            if not os.environ.get(name):
                env[name] = value
        log_path = settings.home / "logs" / "demo-worker.log"
        worker = start_worker(settings, log_path, env)
        print(f"starting a worker (log: {log_path}) ...", flush=True)
        if not wait_healthy(settings, worker, 120):
            print(f"the worker did not come up; see {log_path}", file=sys.stderr)
            return 1
        print(f"worker up: HTTP ingest on http://{settings.web_host}:{settings.web_port}"
              f"/mentions, metrics on http://{settings.metrics_host}:{settings.metrics_port}"
              "/metrics, the care team's queue on "
              f"http://{settings.web_host}:{settings.web_port}/queue", flush=True)
        print("feeding the demo stream; Ctrl-C stops everything.\n", flush=True)
        # The same security settings as the worker it started (which inherits the env).
        security = kafka_python_security(settings)
        producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5,
                                 **security)
        consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers,
                                 enable_auto_commit=False, group_id=None,
                                 auto_offset_reset="latest", **security)
        consumer.subscribe([settings.topic_enriched, settings.topic_events])
        consumer.poll(timeout_ms=1000)  # join before we produce, so we see everything
        start_wall = time.time()
        stream = generate(seed=int(start_wall), start_ms=int(start_wall * 1000),
                          count=count, rate_per_s=rate, id_prefix=f"demo{int(start_wall)}")
        pending = next(stream, None)
        while pending is not None or counts["enriched"] < counts["sent"]:
            now_ms = int(time.time() * 1000)
            while pending is not None and _event_ms(pending) <= now_ms:
                key = producer_key(mention_from_dict(pending), config).encode()
                # Stamped when sent: the worker checks created_at against it (event_time).
                producer.send(settings.topic_raw, key=key, value=orjson.dumps(pending),
                              timestamp_ms=int(time.time() * 1000))
                counts["sent"] += 1
                pending = next(stream, None)
            for records in consumer.poll(timeout_ms=100).values():
                for rec in records:
                    data = orjson.loads(rec.value)
                    if rec.topic == settings.topic_enriched:
                        counts["enriched"] += 1
                        counts["complaints"] += bool(data["enrichment"]["complaint"])
                        print(_line(data, colour), flush=True)
                    elif data.get("complaint") and data.get("kind") != "opened":
                        counts[data["kind"]] += 1
                        print(_transition_line(data, colour), flush=True)
            if worker.poll() is not None:
                print(f"the worker stopped unexpectedly; see {log_path}", file=sys.stderr)
                return 1
        return 0
    except (KeyboardInterrupt, DemoStopped):
        _say("\nstopping ...")
        return 0
    finally:
        # A second Ctrl-C, SIGTERM or hang-up must not skip the cleanup.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        for client in (producer, consumer):
            if client is not None:
                with contextlib.suppress(Exception):  # the broker may be gone already
                    client.close()
        if worker is not None:
            stop_process(worker)
        if not was_running:
            _say(broker.stop(settings))
        _say("demo summary: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _say(text: str) -> None:
    """print() that a closed terminal (SIGHUP) can't turn into a skipped cleanup."""
    with contextlib.suppress(OSError, ValueError):
        print(text, flush=True)


def _transition_line(event: dict[str, Any], colour: bool) -> str:
    kind = str(event["kind"]).upper()
    if colour:
        kind = ("\033[32m" if kind == "ANSWERED" else "\033[33m" if kind == "OVERDUE"
                else "\033[31m") + kind + RESET
    if event.get("first_response_ms") is not None:
        detail = f"first response after {event['first_response_ms'] / 1000:.0f}s"
    elif event.get("unanswered_age_ms") is not None:
        detail = f"unanswered for {event['unanswered_age_ms'] / 1000:.0f}s"
    else:
        detail = ""
    return f"{event['brand']:<11} {'':4} >>> {kind} complaint {event['mention_id']} {detail}"


def _event_ms(mention: dict[str, object]) -> int:
    from schemas.codec import parse_rfc3339_ms

    return parse_rfc3339_ms(str(mention["created_at"]))
