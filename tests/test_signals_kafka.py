"""A worker's stops, on the real broker: SIGHUP, SIGTERM and SIGINT stop it cleanly (its local
state is then trusted); after kill -9 the next start deletes the local tables and restores them
from the changelog; another installation's state is refused; with the broker gone, a stop still
ends within MENTIONWATCH_STOP_TIMEOUT_SECONDS, keeping the marker (restore at the next start)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from agents.lifecycle import EXIT_STOP_TIMEOUT
from agents.state_dir import IDENTITY, MARKER
from tests.conftest import REPO, Stack, Worker, free_port


def wait_exit(worker: Worker, timeout_s: float) -> tuple[int | None, float]:
    started = time.monotonic()
    try:
        code = worker.proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        code = None
    return code, time.monotonic() - started


def restart(worker: Worker, name: str) -> Worker:
    """The same worker again: same ports, so the same state directory."""
    log_path = worker.log_path.with_name(f"{name}.log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "worker"], env=worker.env,
                                stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                start_new_session=True)
    again = Worker(proc, worker.web_port, worker.metrics_port, log_path, worker.env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert again.alive(), again.log()
        try:
            with urllib.request.urlopen(f"{again.url}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return again
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"not healthy again:\n{again.log()}")


def wait_ready(worker: Worker, timeout_s: float = 90) -> None:
    """/healthz answers once the web server runs; faust's "Ready" comes after the tables and
    the consumer group are up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert worker.alive(), worker.log()
        if "]: Ready" in worker.log_path.read_text(errors="replace"):
            return
        time.sleep(0.3)
    raise AssertionError(f"worker not ready:\n{worker.log()}")


def state_dir(stack: Stack, worker: Worker) -> Path:
    return Path(stack.settings(MENTIONWATCH_WEB_PORT=str(worker.web_port)).state_dir)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT],
                         ids=lambda s: signal.Signals(s).name)
def test_a_stop_signal_stops_cleanly(stack: Stack, signum: int) -> None:
    worker = stack.start_worker()
    marker = state_dir(stack, worker) / MARKER
    assert marker.exists()
    wait_ready(worker)
    worker.proc.send_signal(signum)
    code, took = wait_exit(worker, 30)
    assert code == 0, f"exit {code} after {took:.1f}s:\n{worker.log()}"
    assert took < 30
    assert not marker.exists(), worker.log()
    assert "worker stopped cleanly" in worker.log()


def test_after_kill_9_the_next_start_restores_from_the_changelog(stack: Stack) -> None:
    worker = stack.start_worker()
    directory = state_dir(stack, worker)
    tables = directory / "v1" / "tables"
    assert tables.is_dir()
    # Stands for table state written locally whose changelog record never left the process.
    sentinel = tables / "threads-0.db" / "written-locally-only"
    sentinel.parent.mkdir(parents=True, exist_ok=True)
    sentinel.write_text("ahead of the changelog")
    worker.proc.send_signal(signal.SIGKILL)
    worker.proc.wait(10)
    assert (directory / MARKER).exists()

    again = restart(worker, "w2")
    try:
        log = again.log()
        assert "did not stop cleanly" in log and "restored from the changelog" in log, log
        assert not sentinel.exists()
        assert tables.is_dir()  # faust opened its tables afresh
        assert (directory / MARKER).exists()
        again.proc.send_signal(signal.SIGTERM)
        code, _ = wait_exit(again, 30)
        assert code == 0 and not (directory / MARKER).exists(), again.log()
    finally:
        if again.alive():
            again.proc.kill()
            again.proc.wait()


def _foreign_run(stack: Stack, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    web_port = free_port()
    directory = Path(stack.settings(MENTIONWATCH_WEB_PORT=str(web_port)).state_dir)
    directory.mkdir(parents=True)
    (directory / IDENTITY).write_text(json.dumps(
        {"format": 1, "installation_id": "acme.mentionwatch",
         "topics": {"raw": "acme.mentions.raw"}}))
    env = {**os.environ, **stack.env, "MENTIONWATCH_WEB_PORT": str(web_port),
           "MENTIONWATCH_METRICS_PORT": str(free_port())}
    return subprocess.run([sys.executable, "-m", "agents.cli", "worker"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=90, check=False)


def test_another_installations_state_is_refused(stack: Stack, tmp_path: Path) -> None:
    done = _foreign_run(stack, tmp_path)
    assert done.returncode != 0
    assert "acme.mentionwatch" in done.stderr and stack.prefix in done.stderr, done.stderr
    assert "refusing to use another installation's state" in done.stderr


def test_another_installations_state_exits_2_without_a_traceback(stack: Stack,
                                                                  tmp_path: Path) -> None:
    done = _foreign_run(stack, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr


# -- the broker gone ----------------------------------------------------------------------------

def test_a_stop_with_the_broker_gone_ends_within_the_stop_timeout(own_broker: Stack) -> None:
    from agents import broker

    timeout_s = 10
    worker = own_broker.start_worker(MENTIONWATCH_STOP_TIMEOUT_SECONDS=str(timeout_s))
    marker = state_dir(own_broker, worker) / MARKER
    try:
        wait_ready(worker)
        broker.stop(own_broker.settings())
        lines_before = len(worker.log_path.read_text(errors="replace").splitlines())
        time.sleep(15)  # the outage: clients reconnect in a loop
        outage_lines = (len(worker.log_path.read_text(errors="replace").splitlines())
                        - lines_before)
        assert worker.alive(), worker.log()
        worker.proc.send_signal(signal.SIGTERM)
        code, took = wait_exit(worker, timeout_s + 10)
        assert code is not None, f"still running {took:.0f}s after SIGTERM:\n{worker.log()}"
        assert took < timeout_s + 5
        if code == 0:  # it managed to stop on its own: only then is local state trusted
            assert not marker.exists()
        else:
            assert code == EXIT_STOP_TIMEOUT, worker.log()
            assert f"did not stop within {timeout_s}s after SIGTERM" in worker.log()
            assert marker.exists()
        # Before: thousands of lines a second.
        assert outage_lines < 300, worker.log()
    finally:
        if worker.alive():
            worker.proc.kill()
            worker.proc.wait()
