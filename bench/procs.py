"""Subprocesses of the harness: start, sample CPU and memory, scrape a worker's Prometheus
endpoint, attach py-spy, stop."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    ps: psutil.Process = field(init=False)
    peak_rss: int = 0

    def __post_init__(self) -> None:
        self.ps = psutil.Process(self.popen.pid)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_s(self) -> float:
        """User + system CPU seconds of the process and its threads (children included)."""
        try:
            t = self.ps.cpu_times()
        except psutil.Error:
            return 0.0
        return t.user + t.system + t.children_user + t.children_system

    def rss(self) -> int:
        try:
            rss = int(self.ps.memory_info().rss)
        except psutil.Error:
            return 0
        self.peak_rss = max(self.peak_rss, rss)
        return rss

    def hwm(self) -> int:
        """Peak RSS as the kernel counts it (VmHWM), or the sampled peak."""
        return max(self.peak_rss, _vm_hwm(self.pid))

    def tree_hwm(self) -> int:
        """VmHWM of the process plus that of each child alive now (a replay's shard processes):
        call it while they run; the sum bounds their peak together."""
        total = self.hwm()
        try:
            children = self.ps.children(recursive=True)
        except psutil.Error:
            return total
        return total + sum(_vm_hwm(child.pid) for child in children)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def start(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    full_env = dict(os.environ)
    full_env.update(env)
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(argv, env=full_env, cwd=REPO, stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
    return Proc(name, popen, log_path)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def wait_http(proc: Proc, url: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.log_tail()}")
        if http_ok(url):
            return
        time.sleep(0.3)
    raise RuntimeError(f"{proc.name} did not answer {url}:\n{proc.log_tail()}")


def scrape(port: int) -> dict[str, float]:
    """The worker's Prometheus text → {'name{labels}': value} (empty if unreachable)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        with contextlib.suppress(ValueError):
            out[name] = float(value)
    return out


def metric_sum(metrics: dict[str, float], name: str, **labels: str) -> float:
    """Sum of a metric over the series that carry `labels`."""
    total = 0.0
    for series, value in metrics.items():
        base, _, rest = series.partition("{")
        if base != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total


@dataclass
class Profiler:
    """py-spy record attached to a running process; stop() makes it write its output."""

    popen: subprocess.Popen[bytes] | None
    output: Path

    def stop(self) -> Path | None:
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(60)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.output if self.output.exists() else None


def _vm_hwm(pid: int) -> int:
    """The process's VmHWM in bytes (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def py_spy(pid: int, output: Path, rate: int = 10, subprocesses: bool = False) -> Profiler:
    """Blocking sampling (exact stacks) at a low rate: at 100 Hz it slowed a CPU-bound target
    by ~25%; at 10 Hz the cost is within run-to-run noise; --nonblocking costs nothing but
    truncates stacks (wrong inclusive times)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        return Profiler(None, output)
    log = open(output.with_suffix(".py-spy.log"), "wb")  # noqa: SIM115 (lives with the proc)
    popen = subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", str(rate),
                              "--format", "raw", "--output", str(output),
                              *(["--subprocesses"] if subprocesses else [])],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    time.sleep(0.5)
    return Profiler(popen, output)
