"""The parts of a source's run loop both platforms share: stop signals, reconnect backoff,
the metrics server."""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from prometheus_client import start_http_server

from agents.sources.runtime import SourceMetrics

log = logging.getLogger("mentionwatch.source")

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
# A connection that lasted this long was healthy: the next failure starts the backoff afresh.
HEALTHY_AFTER_S = 30.0


class Backoff:
    """Exponential reconnect delays with jitter (1 s, 2 s, 4 s ... 60 s), reset after a
    connection that lasted HEALTHY_AFTER_S."""

    def __init__(self, first_s: float = BACKOFF_FIRST_S, max_s: float = BACKOFF_MAX_S) -> None:
        self.first_s, self.max_s = first_s, max_s
        self.next_s = first_s
        self.connected_at: float | None = None

    def connected(self) -> None:
        self.connected_at = time.monotonic()

    def delay(self) -> float:
        if self.connected_at is not None and \
                time.monotonic() - self.connected_at >= HEALTHY_AFTER_S:
            self.next_s = self.first_s
        self.connected_at = None
        delay = self.next_s * random.uniform(0.5, 1.0)
        self.next_s = min(self.max_s, self.next_s * 2)
        return delay


def configure_logging(level: str) -> None:
    """The source's own lines (mentionwatch.*) on stderr, time-stamped, from `level`
    (MENTIONWATCH_LOG_LEVEL); other libraries' (the Kafka client's) from WARNING. Without it
    only warnings reached stderr, bare, and a healthy source said nothing at all."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] "
                                           "%(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    ours = logging.getLogger("mentionwatch")
    try:
        ours.setLevel(level.upper())
    except ValueError:
        ours.setLevel(logging.INFO)


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGTERM, SIGINT and SIGHUP (a closed terminal) stop the source cleanly: its last cursor
    is written first."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep; True when a stop was asked meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


def serve_metrics(metrics: SourceMetrics, host: str, port: int) -> None:
    """The source's /metrics (port 0: none)."""
    if port:
        start_http_server(port, addr=host, registry=metrics.registry)
        log.info("source %s: metrics on http://%s:%d/metrics", metrics.name, host, port)


async def receive_frames(ws: aiohttp.ClientWebSocketResponse, stop: asyncio.Event, *,
                         on_frame: Callable[[bytes], Awaitable[None]],
                         checkpoint: Callable[[], None], checkpoint_s: float,
                         idle_timeout_s: float) -> None:
    """Hand each text/binary frame to on_frame until a stop is asked (return) or the
    connection ends (ConnectionError) or stays silent idle_timeout_s (TimeoutError), calling
    checkpoint every checkpoint_s, also while the stream is quiet, so the cursor reaches the
    last frame handled (a pending receive is kept across the wake-ups, not lost)."""
    loop = asyncio.get_running_loop()
    next_checkpoint = loop.time() + checkpoint_s
    idle_deadline = loop.time() + idle_timeout_s
    stop_wait = asyncio.ensure_future(stop.wait())
    receive: asyncio.Future[aiohttp.WSMessage] | None = None
    try:
        while True:
            if receive is None:
                receive = asyncio.ensure_future(ws.receive())
            timeout = max(0.0, min(idle_deadline, next_checkpoint) - loop.time())
            waiting: set[asyncio.Future[Any]] = {receive, stop_wait}
            done, _ = await asyncio.wait(waiting, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if receive in done:
                message = receive.result()
                receive = None
                idle_deadline = loop.time() + idle_timeout_s
                if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    data = message.data if isinstance(message.data, bytes) \
                        else message.data.encode()
                    await on_frame(data)
                elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                      aiohttp.WSMsgType.CLOSING):
                    raise ConnectionError(f"closed by the server ({ws.close_code})")
                elif message.type is aiohttp.WSMsgType.ERROR:
                    raise ConnectionError(str(ws.exception()))
            elif stop_wait in done:
                return
            elif loop.time() >= idle_deadline:
                raise TimeoutError(f"nothing received for {idle_timeout_s:g}s")
            if loop.time() >= next_checkpoint:
                checkpoint()
                next_checkpoint = loop.time() + checkpoint_s
    finally:
        stop_wait.cancel()
        if receive is not None:
            receive.cancel()


async def keep_connected(stop: asyncio.Event, connect: Callable[[Backoff], Awaitable[None]], *,
                         metrics: SourceMetrics, where: str) -> None:
    """Run connect(backoff) until a stop is asked, reconnecting after a lost connection with
    the backoff (each loss counted, logged with its reason)."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            await connect(backoff)
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            log.warning("source %s: connection to %s lost: %s: %s", metrics.name, where,
                        type(exc).__name__, exc)
        metrics.connected.labels(metrics.name).set(0)
        if stop.is_set():
            break
        metrics.reconnects.labels(metrics.name).inc()
        if await sleep_or_stop(stop, backoff.delay()):
            break
