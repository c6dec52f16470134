"""Repeated log messages, once per interval with a count.

With the broker stopped for two minutes a worker wrote 704,324 log lines (75 MB): aiokafka and
faust log every reconnect attempt. ``RepeatLimiter`` lets the first occurrence of a message
through, drops its repeats for ``interval_s`` and then logs one line saying how many there were.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# Messages formatted before logging (f-strings) differ only in numbers: offsets, ports, ms.
_NUMBERS = re.compile(r"\d+")
MAX_KEYS = 2048
_DECISION = "_mentionwatch_repeat_pass"


@dataclass
class _Window:
    start: float
    suppressed: int = 0
    last: logging.LogRecord | None = None


class RepeatLimiter(logging.Filter):
    """A filter for handlers (a handler filter sees every record, a logger filter only those
    logged on that very logger, not on its children such as aiokafka.conn).

    Keyed on logger name, level and message template (numbers ignored). The summary of a window
    is logged when the next record of any kind arrives after the window ended, or by flush()."""

    def __init__(self, interval_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, *,
                 min_level: int = logging.WARNING,
                 chatty: tuple[str, ...] = ("aiokafka", "kafka")) -> None:
        super().__init__()
        self.interval_s = interval_s
        # Limited: warnings and errors of any logger, and everything the Kafka clients say
        # (their reconnect chatter is INFO). Our own INFO lines with different arguments
        # (one per topic, say) are different news and all pass.
        self.min_level = min_level
        self.chatty = chatty
        self._clock = clock
        self._windows: dict[tuple[str, int, str], _Window] = {}
        self._next_due = float("inf")
        # aiokafka's consumer runs in its own thread and logs from there too.
        self._lock = threading.Lock()

    @staticmethod
    def key(record: logging.LogRecord) -> tuple[str, int, str]:
        return record.name, record.levelno, _NUMBERS.sub("#", str(record.msg))

    def filter(self, record: logging.LogRecord) -> bool:
        # One record passes through every handler the filter is attached to: decide once. Our
        # own summaries carry a decision too.
        decided = record.__dict__.get(_DECISION)
        if decided is not None:
            return bool(decided)
        if record.levelno < self.min_level and record.name.split(".", 1)[0] not in self.chatty:
            return True
        summaries: list[logging.LogRecord] = []
        with self._lock:
            now = self._clock()
            if now >= self._next_due:
                summaries = self._take_due(now)
            key = self.key(record)
            window = self._windows.get(key)
            if window is None:
                if len(self._windows) >= MAX_KEYS:
                    summaries += self._take_due(now, force=True)
                self._windows[key] = _Window(start=now)
                self._next_due = min(self._next_due, now + self.interval_s)
                decision = True
            else:
                window.suppressed += 1
                window.last = record
                decision = False
            record.__dict__[_DECISION] = decision
        self._emit(summaries)
        return decision

    def _take_due(self, now: float, *, force: bool = False) -> list[logging.LogRecord]:
        summaries: list[logging.LogRecord] = []
        next_due = float("inf")
        for key, window in list(self._windows.items()):
            if force or now - window.start >= self.interval_s:
                if window.suppressed and window.last is not None and not force:
                    # It keeps coming: its next summary an interval from now, and nothing
                    # else in between (one line per interval).
                    summaries.append(self._summary(window, now))
                    self._windows[key] = _Window(start=now)
                    next_due = min(next_due, now + self.interval_s)
                    continue
                if window.suppressed and window.last is not None:
                    summaries.append(self._summary(window, now))
                # A whole interval without a repeat: forgotten, it passes when it comes back.
                del self._windows[key]
            else:
                next_due = min(next_due, window.start + self.interval_s)
        self._next_due = next_due
        return summaries

    def _summary(self, window: _Window, now: float) -> logging.LogRecord:
        last = window.last
        assert last is not None
        try:
            text = last.getMessage()
        except Exception:  # a malformed record: its template will do
            text = str(last.msg)
        summary = logging.LogRecord(
            last.name, last.levelno, last.pathname, last.lineno,
            "%s (repeated %d %s in the last %.0fs)",
            (text, window.suppressed, "time" if window.suppressed == 1 else "times",
             now - window.start), None, last.funcName)
        summary.__dict__[_DECISION] = True
        return summary

    @staticmethod
    def _emit(records: Iterable[logging.LogRecord]) -> None:
        # Outside the lock: the handlers call filter() again for these.
        for record in records:
            logging.getLogger(record.name).handle(record)

    def flush(self) -> None:
        """Log the summaries of every window with suppressed repeats (at shutdown)."""
        with self._lock:
            summaries = self._take_due(self._clock(), force=True)
        self._emit(summaries)


def install(limiter: RepeatLimiter, handlers: Iterable[logging.Handler]) -> None:
    for handler in handlers:
        if limiter not in handler.filters:
            handler.addFilter(limiter)
