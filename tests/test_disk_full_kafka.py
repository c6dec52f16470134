"""A full disk under MENTIONWATCH_HOME (issue 12, 5): the worker used to crash-loop, one
record per 5 s, with /healthz saying ok. Now it pauses with a clear error and /readyz says why,
loses and dead-letters nothing, and starts again by itself once space is back (RocksDB refuses
every write after a full disk, so the worker restores its tables from the changelog).

The home is a small tmpfs the test mounts (CI runs as root, like every session here)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Stack, consume_all
from test_faults_kafka import _replay, _wait_for_live_equal_replay
from test_tracking_kafka import LIVE_ENV, _produce, _stream


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", str(mount)],
                   check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _readyz(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=3) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(b"\0" * 2**20)
                out.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_pauses_the_worker_which_resumes_once_space_is_back(
        stack: Stack, tmp_path: Path, small_disk: Path) -> None:
    worker = stack.start_worker("w1", MENTIONWATCH_HOME=str(small_disk / "home"), **LIVE_ENV)
    mentions = _stream(600, seed=61, partitions=stack.partitions)
    _produce(stack, mentions[:100], keyed_by_customer=True)
    consume_all(stack.bootstrap, stack.topic("complaints.events"), expected=50, timeout_s=60)
    filler = _fill(small_disk)
    _produce(stack, mentions[100:], keyed_by_customer=True)
    deadline = time.monotonic() + 90
    status, body = _readyz(worker.url)
    while time.monotonic() < deadline and status == 200:
        time.sleep(1)
        status, body = _readyz(worker.url)
    assert status == 503, body
    assert any("is full" in str(r) for r in body["reasons"]), body  # type: ignore[attr-defined]
    # The clear error (faust's own callback that stores changelog offsets may still log its
    # failed RocksDB write: that is faust's, and harmless here).
    log = worker.log_path.read_text(errors="replace")
    assert "is full" in log and "processing paused" in log
    filler.unlink()
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        try:
            status, body = _readyz(worker.url)
        except OSError:  # the worker is starting again
            status = 0
        if status == 200:
            break
        time.sleep(1)
    assert status == 200, worker.log()
    assert worker.alive(), "the worker restarts in its own process"
    assert "restarting the worker" in worker.log_path.read_text(errors="replace")
    _wait_for_live_equal_replay(stack, _replay(stack, tmp_path), worker)
    letters = consume_all(stack.bootstrap, stack.topic("mentions.dlq"), expected=0, timeout_s=5)
    assert letters == []
