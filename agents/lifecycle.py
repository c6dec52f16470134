"""How a worker stops: SIGTERM, SIGINT and SIGHUP all stop it gracefully, and a watchdog ends
the process if the graceful stop takes longer than MENTIONWATCH_STOP_TIMEOUT_SECONDS.

mode's Worker (mode-streaming 0.7.1, the version agents/faust_compat.py checks) installs loop
handlers for SIGINT and SIGTERM only, once the worker starts; SIGHUP (a closed terminal) killed
the process with no shutdown at all. And with the broker down, the graceful stop waits for it
forever. The watchdog's forced exit keeps the state directory's RUNNING marker, so the next
start restores the tables from the changelog: at least once still holds.

Three phases:
1. before the faust worker runs (topics, pipeline): a stop signal raises StopRequested, and
   run_worker returns without starting faust;
2. the faust worker is starting, its handlers not installed yet: the signal is remembered and
   handed to the worker once they are;
3. the worker's loop handles SIGINT, SIGTERM and SIGHUP alike.
The watchdog is armed by the first stop signal of any phase, and when the worker begins to
stop for any other reason (a crash).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import faust

log = logging.getLogger("mentionwatch")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# Like coreutils' timeout(1): the process was ended because it did not finish in time.
EXIT_STOP_TIMEOUT = 124


class StopRequested(BaseException):
    """A stop signal arrived before the faust worker ran. A BaseException, like
    KeyboardInterrupt, so that `except Exception` in a client library can't swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        return f"stopped by {signal.Signals(self.signum).name} before the worker started"


def _write_fd2(text: str) -> None:
    # Not through logging: the main thread may hold a handler's lock (blocked in a write) while
    # we end the process, and the terminal may be gone (SIGHUP).
    with contextlib.suppress(OSError):
        os.write(2, text.encode(errors="replace"))


class StopWatchdog:
    """Ends the process (os._exit, no cleanup that could hang) if it is still running
    timeout_s after arm()."""

    def __init__(self, timeout_s: float, *,
                 exit_process: Callable[[int], Any] = os._exit,
                 write: Callable[[str], None] = _write_fd2) -> None:
        self.timeout_s = timeout_s
        self._exit = exit_process
        self._write = write
        self._armed_at: float | None = None
        self._reason = ""
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None

    @property
    def armed(self) -> bool:
        return self._armed_at is not None

    def arm(self, reason: str) -> None:
        """Start the countdown (the first call counts; later ones change nothing)."""
        with self._lock:
            if self._armed_at is not None:
                return
            self._armed_at = time.monotonic()
            self._reason = reason
            self.thread = threading.Thread(target=self._run, name="mentionwatch-stop-watchdog",
                                           daemon=True)
            self.thread.start()

    def cancel(self) -> None:
        """For tests: the process is not going to end."""
        self._cancel.set()

    def _run(self) -> None:
        if self._cancel.wait(self.timeout_s):
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._write(
            f"[{stamp}] [{os.getpid()}] [CRITICAL] mentionwatch: the worker did not stop within "
            f"{self.timeout_s:g}s after {self._reason}: exiting now (code {EXIT_STOP_TIMEOUT}). "
            "Records not yet acknowledged by the broker were not sent; the next start restores "
            "the tables from the changelog and reprocesses what was not committed.\n")
        self._exit(EXIT_STOP_TIMEOUT)


class SignalGate:
    """Phases 1 and 2 (see the module docstring): Python-level handlers for STOP_SIGNALS."""

    def __init__(self, watchdog: StopWatchdog) -> None:
        self.watchdog = watchdog
        self.pending: int | None = None
        self._in_worker = False

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)

    def enter_worker(self) -> None:
        """From now on a signal is remembered for the worker instead of raising."""
        self._in_worker = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.pending is None
        if first:
            self.pending = signum
        self.watchdog.arm(signal.Signals(signum).name)
        if first and not self._in_worker:
            raise StopRequested(signum)

    @staticmethod
    def ignore_from_now() -> None:
        """After the worker's loop closed (which restored the default actions): the last steps
        must not be cut short, and the watchdog bounds them."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


class _StopErrorCounter(logging.Handler):
    """Counts errors logged once the worker began to stop: a stop that logged one (a failed
    flush or commit) is not trusted to have left the changelog in step with the tables."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.counting = False
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.counting:
            self.count += 1
            if self.first is None:
                self.first = f"{record.name}: {record.msg}"


class GracefulWorker(faust.Worker):
    """faust's Worker, stopping on SIGHUP too, with the stop watchdog and the log limiter.

    Overrides private methods of mode-streaming 0.7.1's Worker (_install_signal_handlers_unix,
    _schedule_shutdown) and faust's (_flag_as_shutdown_by_signal), checked by
    agents.faust_compat.check_versions before the app is built."""

    def __init__(self, app: Any, *, gate: SignalGate,
                 log_filters: tuple[logging.Filter, ...] = (), **kwargs: Any) -> None:
        self._gate = gate
        self._log_filters = log_filters
        self._stop_errors = _StopErrorCounter()
        self.stop_signal: int | None = None
        super().__init__(app, **kwargs)

    # -- signals ----------------------------------------------------------------------------
    def _install_signal_handlers_unix(self) -> None:
        super()._install_signal_handlers_unix()
        self.loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        if self._gate.pending is not None:  # arrived while the worker was starting
            self._flag_as_shutdown_by_signal()
            self._schedule_shutdown(signal.Signals(self._gate.pending))

    def _on_sighup(self) -> None:
        self._flag_as_shutdown_by_signal()
        self._schedule_shutdown(signal.SIGHUP)

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        if self.stop_signal is None:
            self.stop_signal = int(signal)
            self._stop_errors.counting = True
            self._gate.watchdog.arm(signal.name)
        super()._schedule_shutdown(signal)

    def on_worker_shutdown(self) -> None:
        # Also when the worker stops without a signal (a crash): its stop may hang as well.
        self._stop_errors.counting = True
        self._gate.watchdog.arm("the worker began to stop")
        super().on_worker_shutdown()

    # -- logging ----------------------------------------------------------------------------
    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        for handler in logger.handlers:
            for log_filter in self._log_filters:
                if log_filter not in handler.filters:
                    handler.addFilter(log_filter)
        logger.addHandler(self._stop_errors)

    # -- outcome ----------------------------------------------------------------------------
    def stopped_cleanly(self, exit_code: object) -> tuple[bool, str]:
        """Whether local state can be trusted after execute_from_commandline ended with
        exit_code, and if not, why."""
        if exit_code not in (0, None):
            return False, f"exit code {exit_code}"
        if self.crash_reason is not None:
            return False, f"the worker crashed: {self.crash_reason!r}"
        if self._stop_errors.count:
            return False, (f"{self._stop_errors.count} errors logged while stopping, the first "
                           f"from {self._stop_errors.first}")
        return True, "stopped normally"

