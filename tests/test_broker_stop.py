"""`broker stop` of a broker this very process started (the demo, the test fixture, the
benchmark): the exited broker is a zombie until reaped, and must count as stopped (before, stop
waited its full minute for it and then sent SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from agents import broker
from agents.broker import BrokerPaths
from agents.config import Settings


def _java_stand_in(paths: BrokerPaths) -> subprocess.Popen[bytes]:
    # A child whose command line says java, like the broker's; SIGTERM ends it.
    paths.root.mkdir(parents=True)
    child = subprocess.Popen(["bash", "-c", "exec -a java sleep 60"])
    paths.pid.write_text(str(child.pid))
    return child


def test_an_exited_unreaped_broker_is_not_running(tmp_path: Path) -> None:
    paths = BrokerPaths(Settings(home=tmp_path).kafka_dir)
    child = _java_stand_in(paths)
    assert broker._read_pid(paths) == child.pid
    os.kill(child.pid, signal.SIGTERM)
    stat = Path(f"/proc/{child.pid}/stat")
    for _ in range(100):  # until it has exited; not reaped (no wait()), so a zombie
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    assert broker._read_pid(paths) is None
    child.wait()


def test_stop_ends_and_reaps_a_child_broker(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    paths = BrokerPaths(settings.kafka_dir)
    child = _java_stand_in(paths)
    assert broker.stop(settings, wait_s=10) == f"broker stopped (pid {child.pid})"
    assert child.poll() is not None
    assert not paths.pid.exists()


def test_cluster_ids_never_look_like_an_option() -> None:
    # A random id starting with "-" made `kafka-storage format -t <id>` fail (1 in 64 starts).
    from agents.broker import _cluster_id

    ids = [_cluster_id() for _ in range(3000)]
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 22 for i in ids) and len(set(ids)) == len(ids)
