"""Alerting end to end, for real (issue 5, item 3).

Real Kafka (the session broker) -> a real worker subprocess -> a real Prometheus (Debian's
`prometheus`) scraping the worker every second and evaluating the project's own rules file
(`deploy/prometheus/rules/mentionwatch.rules.yml`, copied unchanged) -> a real Alertmanager
(Debian's `prometheus-alertmanager`) -> a webhook receiver inside this test.

Scenario: brand `acme` (account AcmeHelp) with a 5 s SLA; three customers complain, nobody
answers, MentionwatchComplaintPastSLA must reach the webhook as *firing* (one `for: 1m` after
the breach, so about a minute); then AcmeHelp answers every complaint and the webhook must
receive the alert *resolved*. Latencies (SLA breach -> webhook, answer -> webhook) are printed.

Missing binaries fail the test (run deploy/install-debian-packages.sh); nothing is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from conftest import REPO, Stack, Worker, free_port

from streams.classification import classify

RULES = REPO / "deploy" / "prometheus" / "rules" / "mentionwatch.rules.yml"
PROM_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
# The public base URLs, as compose would pass them from .env: the external labels of the real
# prometheus.yml expand them into the alerts' links.
PUBLIC_URLS = {"MENTIONWATCH_PUBLIC_URL": "https://care.example.test/mw",
               "MENTIONWATCH_GRAFANA_URL": "https://grafana.example.test",
               "MENTIONWATCH_DOCS_URL": "https://docs.example.test/mentionwatch/v1"}
ALERT = "MentionwatchComplaintPastSLA"
WARNING_ALERT = "MentionwatchComplaintIgnoreSoon"
BRAND = "acme"
ACCOUNT = "AcmeHelp"
PLATFORM = "twitter"
SLA_S = 5.0
WARN_AFTER_S = 10.0  # ignore soon: 1 h less a lead of 59m50s
IGNORE_SOON = "59m50s"
FIRING_TIMEOUT_S = 240.0
RESOLVED_TIMEOUT_S = 180.0
INSTALL_HINT = "run deploy/install-debian-packages.sh"

BRANDS_TOML = f"""\
# Written by tests/test_alerting_e2e.py: one brand with a very short SLA.
[brands.{BRAND}]
name = "Acme Inc."
accounts = ["{ACCOUNT}"]
sla = "{int(SLA_S)}s"
ignore_after = "1h"
# The warning before the ignore deadline from {int(WARN_AFTER_S)} s on: it fires next to the
# SLA alert and must resolve with it.
ignore_soon = "{IGNORE_SOON}"
"""

COMPLAINTS = (
    "@AcmeHelp my order is broken again, nobody answers, terrible service",
    "@AcmeHelp still waiting for my refund, this is the worst support ever",
    "@AcmeHelp the app keeps crashing and nobody helps, really disappointed",
)
ANSWER = "@{handle} So sorry about this! We have fixed your order, please check your DMs."


# -- helpers ---------------------------------------------------------------------------------

def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: {INSTALL_HINT}")
    return path


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _http_get(url: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body: bytes = resp.read()
    return body.decode("utf-8", errors="replace")


def _try_get(url: str, timeout: float = 2.0) -> str:
    try:
        return _http_get(url, timeout)
    except (OSError, urllib.error.URLError) as exc:
        return f"<GET {url} failed: {exc}>"


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"<{path}: {exc}>"


_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _samples(text: str, metric: str) -> list[tuple[dict[str, str], float]]:
    """The samples of `metric` in a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        m = _SAMPLE_RE.match(line)
        if m and m.group(1) == metric:
            labels = dict(_LABEL_RE.findall(m.group(2) or ""))
            out.append((labels, float(m.group(3))))
    return out


def _acme_value(text: str, metric: str) -> float | None:
    """Sum of `metric` over the acme series, None when the worker exports none."""
    values = [v for labels, v in _samples(text, metric) if labels.get("brand") == BRAND]
    return sum(values) if values else None


# -- the webhook receiver --------------------------------------------------------------------

@dataclass
class Notification:
    wall_s: float
    payload: dict[str, Any]


@dataclass
class Webhook:
    url: str
    received: list[Notification] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> list[Notification]:
        with self.lock:
            return list(self.received)

    def find(self, status: str, alertname: str = ALERT
             ) -> tuple[Notification, dict[str, Any]] | None:
        """The first notification carrying the alert for acme with `status`."""
        for note in self.snapshot():
            for alert in note.payload.get("alerts", []):
                labels = alert.get("labels", {})
                if (labels.get("alertname") == alertname and labels.get("brand") == BRAND
                        and alert.get("status") == status):
                    return note, alert
        return None

    def dump(self) -> str:
        return json.dumps([{"wall_s": n.wall_s, "payload": n.payload} for n in self.snapshot()],
                          indent=1)[-6000:]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            try:
                payload = json.loads(body)
            except ValueError:
                payload = {"unparsable": body.decode("utf-8", errors="replace")}
            with hook.lock:
                hook.received.append(Notification(time.time(), payload))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest's output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    thread = threading.Thread(target=server.serve_forever, name="webhook", daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# -- Prometheus and Alertmanager -------------------------------------------------------------

@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return _tail(self.log_path)

    def alive(self) -> bool:
        return self.proc.poll() is None


class Services:
    """Starts the ops binaries on 127.0.0.1 and stops exactly those processes at teardown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[Service] = []

    def start(self, name: str, argv: list[str], ready_path: str, port: int,
              env: dict[str, str] | None = None) -> Service:
        log_path = self.root / f"{name}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
                                    start_new_session=True,
                                    env=None if env is None else {**os.environ, **env})
        service = Service(name, proc, f"http://127.0.0.1:{port}", log_path)
        self.started.append(service)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not service.alive():
                pytest.fail(f"{name} exited with {proc.returncode}:\n{service.log()}")
            try:
                _http_get(service.url + ready_path, timeout=1)
                return service
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        pytest.fail(f"{name} not ready at {service.url}{ready_path} within 60 s:\n"
                    f"{service.log()}")

    def stop_all(self) -> None:
        for service in reversed(self.started):
            if service.proc.poll() is None:
                service.proc.terminate()
                try:
                    service.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    service.proc.kill()
                    service.proc.wait()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    root = tmp_path / "ops"
    root.mkdir()
    svc = Services(root)
    try:
        yield svc
    finally:
        svc.stop_all()


def start_alertmanager(services: Services, webhook_url: str) -> Service:
    binary = _binary("prometheus-alertmanager")
    root = services.root / "alertmanager"
    (root / "data").mkdir(parents=True)
    config = {
        "global": {"resolve_timeout": "30s"},
        "route": {
            "receiver": "test-webhook",
            "group_by": ["alertname", "brand", "platform"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [{
            "name": "test-webhook",
            "webhook_configs": [{"url": webhook_url, "send_resolved": True}],
        }],
    }
    config_path = root / "alertmanager.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    return services.start("alertmanager", [
        binary,
        f"--config.file={config_path}",
        f"--storage.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no clustering (its default :9094 is not ours to take)
        "--log.level=debug",
    ], "/-/ready", port)


def start_prometheus(services: Services, metrics_port: int, alertmanager: Service) -> Service:
    binary = _binary("prometheus")
    root = services.root / "prometheus"
    (root / "rules").mkdir(parents=True)
    (root / "data").mkdir()
    shutil.copyfile(RULES, root / "rules" / RULES.name)  # the real rules, unchanged
    am_host = urllib.parse.urlsplit(alertmanager.url).netloc
    # The real external labels (${MENTIONWATCH_*_URL}), expanded from Prometheus' environment;
    # Debian's Prometheus 2 needs the feature flag for that (Prometheus 3 always does it).
    external_labels = yaml.safe_load(PROM_CONFIG.read_text())["global"]["external_labels"]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                   "evaluation_interval": "1s", "external_labels": external_labels},
        "rule_files": [str(root / "rules" / "*.rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am_host]}]}]},
        "scrape_configs": [{
            "job_name": "mentionwatch",  # the name the rules and dashboards select on
            "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}],
        }],
    }
    config_path = root / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    return services.start("prometheus", [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--enable-feature=expand-external-labels",
    ], "/-/ready", port, env=PUBLIC_URLS)


def prom_query(prometheus: Service, expr: str) -> list[dict[str, Any]]:
    url = f"{prometheus.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    data = json.loads(_http_get(url))
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


# -- the worker side -------------------------------------------------------------------------

def wait_for_assignment(worker: Worker, timeout_s: float = 90.0) -> None:
    """Until the worker's tracking agent owns partitions (its index was built for them)."""
    deadline = time.monotonic() + timeout_s
    pattern = re.compile(r"tracking partitions assigned: \[(\d[0-9, ]*)\]")
    while time.monotonic() < deadline:
        if not worker.alive():
            pytest.fail(f"worker exited:\n{worker.log()}")
        if pattern.search(worker.log_path.read_text(errors="replace")):
            return
        time.sleep(0.3)
    pytest.fail(f"worker got no partitions within {timeout_s:.0f} s:\n{worker.log()}")


def produce(stack: Stack, mentions: list[dict[str, Any]]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=0)
    try:
        for m in mentions:
            producer.send(stack.topic("mentions.raw"), key=f"{m['platform']}:{m['id']}".encode(),
                          value=orjson.dumps(m))
        producer.flush()
    finally:
        producer.close()


def complaint(i: int, text: str, created_ms: int) -> dict[str, Any]:
    return {"schema_version": 1, "id": f"c{i}", "platform": PLATFORM, "brand": BRAND,
            "author": {"id": f"cust{i}", "handle": f"customer_{i}", "is_brand": False},
            "text": text, "created_at": _iso(created_ms), "lang": "en"}


def answer(to: dict[str, Any], created_ms: int) -> dict[str, Any]:
    return {"schema_version": 1, "id": f"r-{to['id']}", "platform": PLATFORM, "brand": BRAND,
            "author": {"id": "acme-care", "handle": ACCOUNT, "is_brand": True},
            "text": ANSWER.format(handle=to["author"]["handle"]),
            "created_at": _iso(created_ms), "lang": "en",
            "in_reply_to": to["id"], "in_reply_to_author_id": to["author"]["id"],
            "conversation_id": to["id"]}


@dataclass
class Chain:
    """Everything to look at when a wait times out."""

    worker: Worker
    prometheus: Service
    alertmanager: Service
    webhook: Webhook

    def metrics(self) -> str:
        return _try_get(f"http://127.0.0.1:{self.worker.metrics_port}/metrics")

    def diagnostics(self) -> str:
        metrics = "\n".join(line for line in self.metrics().splitlines()
                            if line.startswith(("mentionwatch_complaints",
                                                "mentionwatch_oldest", "mentionwatch_brand",
                                                "mentionwatch_records", "mentionwatch_dead",
                                                "<GET")))
        return "\n".join([
            "== Prometheus /api/v1/alerts ==", _try_get(f"{self.prometheus.url}/api/v1/alerts"),
            "== Prometheus /api/v1/targets ==",
            _try_get(f"{self.prometheus.url}/api/v1/targets")[:3000],
            "== Alertmanager /api/v2/alerts ==",
            _try_get(f"{self.alertmanager.url}/api/v2/alerts")[:3000],
            "== webhook received ==", self.webhook.dump(),
            "== worker /metrics (mentionwatch_complaints*, oldest, brand, records) ==", metrics,
            f"== worker alive={self.worker.alive()} log tail ==", self.worker.log(),
            "== alertmanager log tail ==", self.alertmanager.log(),
            "== prometheus log tail ==", self.prometheus.log(),
        ])


def wait_until(chain: Chain, what: str, timeout_s: float,
               check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        for proc in (chain.prometheus, chain.alertmanager):
            if not proc.alive():
                pytest.fail(f"{proc.name} died while waiting for {what}\n{chain.diagnostics()}")
        if not chain.worker.alive():
            pytest.fail(f"the worker died while waiting for {what}\n{chain.diagnostics()}")
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}\n{chain.diagnostics()}")


# -- the test --------------------------------------------------------------------------------

def test_complaint_past_sla_fires_and_resolves_through_alertmanager(
        stack: Stack, tmp_path: Path, webhook: Webhook, services: Services) -> None:
    t_start = time.monotonic()
    prometheus_bin, alertmanager_bin = _binary("prometheus"), _binary("prometheus-alertmanager")
    assert prometheus_bin and alertmanager_bin
    for text in COMPLAINTS:
        c = classify(text, "en")
        assert c.complaint, f"the classifier must call this a complaint: {text!r} -> {c}"

    brands_file = tmp_path / "brands.toml"
    brands_file.write_text(BRANDS_TOML)
    worker = stack.start_worker(
        "alerting",
        MENTIONWATCH_BRANDS_FILE=str(brands_file),
        MENTIONWATCH_TICK_INTERVAL_SECONDS="0.5",
        MENTIONWATCH_ALLOWED_LATENESS_SECONDS="0",
        MENTIONWATCH_IDLE_GRACE_SECONDS="1",  # the partition clock follows wall time once idle
    )
    wait_for_assignment(worker)

    alertmanager = start_alertmanager(services, webhook.url)
    prometheus = start_prometheus(services, worker.metrics_port, alertmanager)
    chain = Chain(worker, prometheus, alertmanager, webhook)

    # Prometheus scrapes the worker, loaded the real alert, and knows the brand's SLA.
    def ready() -> bool:
        try:
            up = prom_query(prometheus, 'up{job="mentionwatch"} == 1')
            sla = prom_query(prometheus, f'mentionwatch_brand_sla_seconds{{brand="{BRAND}"}}')
            rules = json.loads(_http_get(f"{prometheus.url}/api/v1/rules?type=alert"))
            am = json.loads(_http_get(f"{prometheus.url}/api/v1/alertmanagers"))
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            return False
        names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
        return (bool(up) and bool(sla) and float(sla[0]["value"][1]) == SLA_S
                and ALERT in names and bool(am["data"]["activeAlertmanagers"]))

    wait_until(chain, "Prometheus to scrape the worker and load the rules", 60, ready)
    assert webhook.find("firing") is None, "nothing may fire before any complaint exists"

    # -- complaints nobody answers -----------------------------------------------------------
    created_ms = _now_ms()
    complaints = [complaint(i, text, created_ms) for i, text in enumerate(COMPLAINTS)]
    produce(stack, complaints)
    breach_s = (created_ms / 1000) + SLA_S  # "passes" the SLA: strictly after this instant
    print(f"\nproduced {len(complaints)} complaints created_at={_iso(created_ms)}; "
          f"SLA {SLA_S:.0f}s, breach at {_iso(int(breach_s * 1000))}")

    seen: dict[str, float] = {}

    def watch_worker() -> None:
        text = chain.metrics()
        overdue = _acme_value(text, "mentionwatch_complaints_overdue")
        open_ = _acme_value(text, "mentionwatch_complaints_open")
        if open_ and "open" not in seen:
            seen["open"] = time.time()
        if overdue and overdue > 0:
            seen.setdefault("overdue", time.time())
            seen["overdue_value"] = overdue

    def fired() -> tuple[Notification, dict[str, Any]] | None:
        watch_worker()
        if "pending" not in seen:
            try:
                alerts = json.loads(_http_get(f"{prometheus.url}/api/v1/alerts"))
                if any(a["labels"].get("alertname") == ALERT and a["labels"].get("brand") == BRAND
                       for a in alerts["data"]["alerts"]):
                    seen["pending"] = time.time()
            except (OSError, ValueError, KeyError, urllib.error.URLError):
                pass
        return webhook.find("firing")

    note, alert = wait_until(chain, f"a firing {ALERT} for brand={BRAND} at the webhook",
                             FIRING_TIMEOUT_S, fired)
    detection_s = note.wall_s - breach_s

    labels, annotations = alert["labels"], alert["annotations"]
    assert labels["alertname"] == ALERT
    assert labels["brand"] == BRAND
    assert labels["platform"] == PLATFORM
    assert labels["severity"] == "warning"
    assert labels["team"] == "care"
    for key in ("summary", "description", "runbook_url"):
        assert annotations.get(key), f"annotation {key} missing or empty: {annotations}"
    assert BRAND in annotations["summary"]
    # From the alert to the items: the links are built from the public base URLs.
    docs, queue = PUBLIC_URLS["MENTIONWATCH_DOCS_URL"], PUBLIC_URLS["MENTIONWATCH_PUBLIC_URL"]
    assert annotations["runbook_url"] == f"{docs}/how-to/runbooks.md#mentionwatchcomplaintpastsla"
    assert annotations["queue_url"] == f"{queue}/queue?brand={BRAND}"
    assert annotations["dashboard_url"] == (f"{PUBLIC_URLS['MENTIONWATCH_GRAFANA_URL']}"
                                            f"/d/mentionwatch-overview/mentionwatch?var-brand={BRAND}")
    assert note.payload["status"] == "firing"
    assert note.payload["receiver"] == "test-webhook"

    # The warning before the ignore deadline fires too (its own notification: Alertmanager
    # groups by alert name), carrying the same link to the queue.
    warned = wait_until(chain, f"a firing {WARNING_ALERT} for brand={BRAND} at the webhook",
                        FIRING_TIMEOUT_S, lambda: webhook.find("firing", WARNING_ALERT))
    warning_s = warned[0].wall_s - (created_ms / 1000 + WARN_AFTER_S)
    assert warned[1]["labels"]["severity"] == "warning" and warned[1]["labels"]["team"] == "care"
    assert warned[1]["annotations"]["queue_url"] == f"{queue}/queue?brand={BRAND}"
    assert warned[1]["annotations"]["runbook_url"] == \
        f"{docs}/how-to/runbooks.md#mentionwatchcomplaintignoresoon"
    assert _acme_value(chain.metrics(), "mentionwatch_complaints_ignore_soon") == len(COMPLAINTS)

    # Proof of the chain: the worker itself judged the complaints overdue (not only
    # Prometheus' clock via the oldest-open branch), and still does before we answer.
    watch_worker()
    assert "overdue" in seen, (f"the worker never exported mentionwatch_complaints_overdue"
                               f"{{brand={BRAND!r}}} > 0\n{chain.diagnostics()}")
    before = _acme_value(chain.metrics(), "mentionwatch_complaints_overdue")
    assert before is not None and before == len(COMPLAINTS), (
        f"expected {len(COMPLAINTS)} overdue complaints before answering, got {before}\n"
        f"{chain.diagnostics()}")

    # -- the brand answers every complaint ---------------------------------------------------
    answered_ms = _now_ms()
    produce(stack, [answer(c, answered_ms) for c in complaints])
    answered_s = answered_ms / 1000

    def cleared() -> bool:
        text = chain.metrics()
        overdue = _acme_value(text, "mentionwatch_complaints_overdue")
        oldest = _acme_value(text, "mentionwatch_oldest_open_complaint_created_timestamp_seconds")
        if not overdue and oldest is None and "cleared" not in seen:
            seen["cleared"] = time.time()
        return (webhook.find("resolved") is not None
                and webhook.find("resolved", WARNING_ALERT) is not None)

    wait_until(chain, f"the {ALERT} and {WARNING_ALERT} for brand={BRAND} resolved at the "
               "webhook", RESOLVED_TIMEOUT_S, cleared)
    found = webhook.find("resolved")
    assert found is not None
    resolved_note, resolved_alert = found
    resolution_s = resolved_note.wall_s - answered_s
    assert resolved_alert["labels"]["brand"] == BRAND
    assert resolved_alert["labels"]["alertname"] == ALERT
    assert resolved_note.payload["status"] == "resolved"
    assert "cleared" in seen, f"the worker still exports acme as overdue\n{chain.diagnostics()}"
    after = chain.metrics()
    assert not _acme_value(after, "mentionwatch_complaints_overdue")
    assert not _acme_value(after, "mentionwatch_complaints_open")
    assert not _acme_value(after, "mentionwatch_complaints_ignore_soon")
    answered_total = _acme_value(after, "mentionwatch_complaints_answered_total")
    assert answered_total == len(COMPLAINTS), chain.diagnostics()
    # Answered, but long past the 5 s SLA: none within it (the counter exists, at 0).
    within = _acme_value(after, "mentionwatch_complaints_answered_within_sla_total")
    assert within == 0, chain.diagnostics()

    def since(key: str, origin: float) -> str:
        return f"{seen[key] - origin:+.1f}s" if key in seen else "n/a"

    total_s = time.monotonic() - t_start
    print(f"FIRED: {ALERT} labels={labels}")
    print(f"  summary: {annotations['summary']}")
    print(f"  description: {annotations['description']}")
    print(f"  queue_url: {annotations['queue_url']}")
    print(f"detection latency (SLA breach -> webhook firing): {detection_s:.1f}s "
          f"[worker overdue>0 {since('overdue', breach_s)}, Prometheus alert active "
          f"{since('pending', breach_s)}, rule has for: 1m]")
    print(f"warning latency (ignore soon -> webhook firing): {warning_s:.1f}s (for: 1m)")
    print(f"resolution latency (answers produced -> webhook resolved): {resolution_s:.1f}s "
          f"[worker cleared {since('cleared', answered_s)}]")
    print(f"total test runtime: {total_s:.1f}s")


def test_an_idle_worker_restarted_after_complaints_were_decided_fires_nothing(
        stack: Stack, tmp_path: Path, webhook: Webhook, services: Services) -> None:
    """Issue 12, 2 and 4: after a restart, complaints ignored long ago came back as open
    (MentionwatchComplaintPastSLA fired for them) and faust's changelog topics counted as lag
    (MentionwatchPipelineStalled). Complaints go overdue and ignored, the worker is restarted
    on the same ports and state directory, and Prometheus, evaluating the real rules every
    second, may show no alert at all, not even pending."""
    brands_file = tmp_path / "brands.toml"
    brands_file.write_text(BRANDS_TOML.replace('ignore_after = "1h"', 'ignore_after = "10s"')
                           .replace(f'ignore_soon = "{IGNORE_SOON}"', 'ignore_soon = "2s"'))
    env = {"MENTIONWATCH_BRANDS_FILE": str(brands_file),
           "MENTIONWATCH_TICK_INTERVAL_SECONDS": "0.5",
           "MENTIONWATCH_ALLOWED_LATENESS_SECONDS": "0",
           "MENTIONWATCH_IDLE_GRACE_SECONDS": "1"}
    worker = stack.start_worker("before", **env)
    wait_for_assignment(worker)
    created_ms = _now_ms()
    produce(stack, [complaint(i, text, created_ms) for i, text in enumerate(COMPLAINTS)])
    metrics_url = f"http://127.0.0.1:{worker.metrics_port}/metrics"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        text = _try_get(metrics_url)
        if (_acme_value(text, "mentionwatch_complaints_ignored_total") == len(COMPLAINTS)
                and not _acme_value(text, "mentionwatch_complaints_open")):
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the complaints were never ignored:\n{_try_get(metrics_url)}")
    os.killpg(worker.proc.pid, signal.SIGTERM)
    assert worker.proc.wait(timeout=40) == 0, worker.log()
    restarted = stack.start_worker("after", MENTIONWATCH_WEB_PORT=str(worker.web_port),
                                   MENTIONWATCH_METRICS_PORT=str(worker.metrics_port), **env)
    wait_for_assignment(restarted)
    alertmanager = start_alertmanager(services, webhook.url)
    prometheus = start_prometheus(services, restarted.metrics_port, alertmanager)
    chain = Chain(restarted, prometheus, alertmanager, webhook)

    def scraped_a_while() -> bool:
        try:
            up = prom_query(prometheus, 'count_over_time(up{job="mentionwatch"}[30s]) >= 20')
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            return False
        return bool(up)

    wait_until(chain, "30 s of scrapes of the restarted worker", 90, scraped_a_while)
    alerts = json.loads(_http_get(f"{prometheus.url}/api/v1/alerts"))["data"]["alerts"]
    assert alerts == [], chain.diagnostics()
    text = chain.metrics()
    assert not _acme_value(text, "mentionwatch_complaints_open"), chain.diagnostics()
    assert not _acme_value(text, "mentionwatch_complaints_overdue"), chain.diagnostics()
    lag = [value for _, value in _samples(text, "mentionwatch_consumer_lag_records")]
    assert lag and sum(lag) == 0, chain.diagnostics()
    assert _acme_value(text, "mentionwatch_complaints_ignored_window") == len(COMPLAINTS)
