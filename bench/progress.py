"""Progress of a benchmark subprocess, written to a small JSON file the harness polls.

A daemon thread rewrites the file (atomically) every 0.25 s with the counts of the first and the
final stage and the wall-clock time of the first and the last record each stage handled, so the
harness measures the processing window exactly, without startup.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import orjson


class Progress:
    def __init__(self, path: str | Path, interval_s: float = 0.25) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self.first = 0
        self.final = 0
        self.t_first: float | None = None
        self.t_last_first: float | None = None
        self.t_last: float | None = None
        self.ready = False
        self._thread = threading.Thread(target=self._loop, name="bench-progress", daemon=True)

    def start(self) -> Progress:
        self._thread.start()
        return self

    def stage1(self, n: int = 1) -> None:
        now = time.time()
        if self.t_first is None:
            self.t_first = now
        self.t_last_first = now
        self.first += n

    def done(self, n: int = 1) -> None:
        self.t_last = time.time()
        self.final += n

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({
            "first": self.first, "final": self.final, "t_first": self.t_first,
            "t_last_first": self.t_last_first, "t_last": self.t_last, "ready": self.ready,
            "pid": os.getpid(),
        }))
        os.replace(tmp, self.path)

    def _loop(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                self.write()
            time.sleep(self.interval_s)
