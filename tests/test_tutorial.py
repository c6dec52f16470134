"""The tutorial (docs/tutorial/first-brand.md) works verbatim: every ```sh block is run, in
order, in one bash session from the repository's root, and what the blocks print is checked:
the demo ran, the complaint was accepted, the queue listed it, Prometheus fired
MentionwatchComplaintPastSLA for the brand on the project's own rules, the answer emptied the
queue, and the audit counts the complaint as answered.

The only change to the text: the tutorial's ports (Kafka 9092/9093, the worker's 6066 and 9108,
Prometheus' 9090) and its working directory (.mentionwatch/tutorial) are replaced by this
test's own, so that it runs beside ./dev test's broker and anyone's demo. The broker is its own
too (its own MENTIONWATCH_HOME), started and stopped by the tutorial's commands."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import free_port

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / "docs" / "tutorial" / "first-brand.md"
BLOCK_RE = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
MARK = "### tutorial block"

pytestmark = pytest.mark.kafka


def tutorial_blocks() -> list[str]:
    return BLOCK_RE.findall(TUTORIAL.read_text(encoding="utf-8"))


def listening(bootstrap: str) -> bool:
    host, _, port = bootstrap.rpartition(":")
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host or "127.0.0.1", int(port))) == 0


def test_the_tutorial_has_the_steps_it_promises() -> None:
    script = "\n".join(tutorial_blocks())
    for needle in ("./dev demo", "brands.toml", "/mentions", "/queue", "ALERTS",
                   "mentionwatch replay", "broker stop"):
        assert needle in script, needle


@pytest.mark.timeout(600)
def test_the_tutorial_runs_verbatim(tmp_path: Path) -> None:
    for binary in ("prometheus", "promtool", "curl", "java"):
        assert shutil.which(binary), f"{binary} is missing: ./dev setup installs it"
    # Our own broker: the env's (MENTIONWATCH_BOOTSTRAP_SERVERS) unless one already runs there
    # (./dev test's shared broker), which the tutorial's `broker stop` must not stop.
    env_bootstrap = os.environ.get("MENTIONWATCH_BOOTSTRAP_SERVERS", "")
    if env_bootstrap and not listening(env_bootstrap):
        kafka_port = int(env_bootstrap.rsplit(":", 1)[1])
        controller = int(os.environ.get("MENTIONWATCH_KAFKA_CONTROLLER_PORT") or kafka_port + 1)
    else:
        kafka_port, controller = free_port(), free_port()
    web, metrics, prometheus = free_port(), free_port(), free_port()
    workdir = tmp_path / "tutorial"
    home = Path(os.environ["MENTIONWATCH_HOME"]).resolve() / "tutorial" \
        if os.environ.get("MENTIONWATCH_HOME") else tmp_path / "home"
    replacements = {
        "127.0.0.1:6066": f"127.0.0.1:{web}", "127.0.0.1:9108": f"127.0.0.1:{metrics}",
        "127.0.0.1:9090": f"127.0.0.1:{prometheus}", ".mentionwatch/tutorial": str(workdir),
    }
    script = ["set -euo pipefail"]
    for number, block in enumerate(tutorial_blocks(), 1):
        for old, new in replacements.items():
            block = block.replace(old, new)
        script += [f"echo '{MARK} {number}'", block]
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("MENTIONWATCH_")}
    env.update({
        "MENTIONWATCH_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
        "MENTIONWATCH_KAFKA_CONTROLLER_PORT": str(controller),
        "MENTIONWATCH_HOME": str(home), "MENTIONWATCH_WEB_PORT": str(web),
        "MENTIONWATCH_METRICS_PORT": str(metrics), "MENTIONWATCH_KAFKA_HEAP": "512m",
    })
    shutil.rmtree(home / "kafka" / "data", ignore_errors=True)
    proc = subprocess.Popen(["bash", "-c", "\n".join(script)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=540)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        _cleanup(workdir, env)
    print(out[-6000:])
    assert proc.returncode == 0, f"the tutorial failed (exit {proc.returncode}):\n{out[-6000:]}"
    blocks = {int(m.group(1)): text for m, text in _split(out)}
    demo, _brand, start, send, queue, _prom, alert, answer, audit, _stop = (
        blocks[n] for n in range(1, 11))
    assert re.search(r"demo summary: .*enriched 40, sent 40", demo), demo[-2000:]
    assert '{"status":"ready"}' in start, start
    assert '{"accepted":1,"rejected":0} HTTP 202' in send, send
    assert '"count": 1,' in queue and '"author_handle": "anna_k"' in queue, queue
    assert re.search(r'ALERTS\{alertname="MentionwatchComplaintPastSLA", alertstate="firing", '
                     r'brand="acme", platform="x"', alert), alert
    assert "HTTP 202" in answer and "the queue is empty" in answer, answer
    assert re.search(r"replayed \d+ records", audit), audit
    # One complaint, answered (after its 20 s SLA), nothing ignored or open: in every table of
    # the report (all brands, ACME, ACME on x), by the columns' names.
    tables = audit_tables(audit)
    assert tables, audit
    for row in tables:
        if row["view"] == "complaints":
            assert (row["inbound"], row["answered"], row["ignored"], row["open"]) == \
                ("1", "1", "0", "0"), (row, audit)


def audit_tables(report: str) -> list[dict[str, str]]:
    """The rows of the Markdown report's tables, as {column name: cell}."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for line in report.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(line) <= set("|-: "):
            rows.append(dict(zip(header, cells, strict=False)))
    return rows


def _split(out: str) -> list[tuple[re.Match[str], str]]:
    marks = list(re.finditer(rf"^{MARK} (\d+)$", out, re.MULTILINE))
    return [(m, out[m.end(): marks[i + 1].start() if i + 1 < len(marks) else len(out)])
            for i, m in enumerate(marks)]


def _cleanup(workdir: Path, env: dict[str, str]) -> None:
    """Whatever the tutorial started and didn't stop (a failed step): by pid, then the broker."""
    for name in ("prometheus.pid", "worker.pid"):
        pid_file = workdir / name
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
    subprocess.run([str(REPO / ".venv" / "bin" / "mentionwatch"), "broker", "stop"], env=env,
                   capture_output=True, timeout=120, check=False)
