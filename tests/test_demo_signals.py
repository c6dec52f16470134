"""`mentionwatch demo` stops its worker and broker on SIGTERM and SIGHUP as on Ctrl-C, and
refuses to start when a port its worker needs is taken (instead of taking that process for its
worker)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents.demo import listening_pids
from tests.conftest import REPO, free_port


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"  # exited, not yet reaped by whoever inherited it


def demo_env(home: Path) -> dict[str, str]:
    return {**os.environ,
            "MENTIONWATCH_HOME": str(home),
            "MENTIONWATCH_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "MENTIONWATCH_KAFKA_CONTROLLER_PORT": str(free_port()),
            "MENTIONWATCH_KAFKA_HEAP": "384m",
            "MENTIONWATCH_WEB_PORT": str(free_port()),
            "MENTIONWATCH_METRICS_PORT": str(free_port()),
            "MENTIONWATCH_PARTITIONS": "2"}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP],
                         ids=lambda s: signal.Signals(s).name)
def test_demo_stops_worker_and_broker(tmp_path: Path, signum: int) -> None:
    env = demo_env(tmp_path / "home")
    out_path = tmp_path / "demo.out"
    with open(out_path, "wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "agents.cli", "demo", "--rate", "5"],
                                env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while "feeding the demo stream" not in out_path.read_text(errors="replace"):
            assert demo.poll() is None, out_path.read_text(errors="replace")
            assert time.monotonic() < deadline, out_path.read_text(errors="replace")
            time.sleep(0.5)
        broker_pid = int((tmp_path / "home" / "kafka" / "broker.pid").read_text())
        [worker_pid] = listening_pids(int(env["MENTIONWATCH_WEB_PORT"]))
        assert not gone(broker_pid) and not gone(worker_pid)
        time.sleep(2)  # a few mentions through
        demo.send_signal(signum)
        code = demo.wait(120)
        text = out_path.read_text(errors="replace")
        assert code == 0, text
        assert "stopping ..." in text and "broker stopped" in text and "demo summary" in text
        assert gone(worker_pid), text
        assert gone(broker_pid), text
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()


def test_demo_refuses_a_port_in_use(tmp_path: Path) -> None:
    env = demo_env(tmp_path / "home")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env["MENTIONWATCH_METRICS_PORT"] = str(port)
        done = subprocess.run([sys.executable, "-m", "agents.cli", "demo"], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 (MENTIONWATCH_METRICS_PORT) is already in use" in (
        done.stderr), done.stderr
    assert f"pid {os.getpid()}" in done.stderr  # the process holding it: this test
    assert not (tmp_path / "home" / "kafka").exists()  # nothing started
