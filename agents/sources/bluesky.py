"""`mentionwatch source bluesky`: Jetstream's websocket → streams.sources.bluesky → mentions.raw,
resumable from the cursor kept in Kafka (agents.sources.runtime)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp

from agents.config import Settings
from agents.sources.loop import (
    Backoff,
    configure_logging,
    install_stop_signals,
    keep_connected,
    receive_frames,
    serve_metrics,
)
from agents.sources.runtime import SourceError, SourceMetrics, SourceRuntime
from streams.brands import BrandConfig
from streams.sources.bluesky import parse_jetstream_frame
from streams.sources.matching import BrandIndex
from streams.sources.outcome import Deleted, Produce, Reject, Skip

log = logging.getLogger("mentionwatch.source")

PLATFORM = "bluesky"
DEFAULT_ENDPOINT = "wss://jetstream2.us-east.bsky.network"


@dataclass(frozen=True)
class BlueskyOptions:
    name: str = PLATFORM
    endpoint: str = DEFAULT_ENDPOINT
    # A restart or reconnect resumes this much before the cursor (Jetstream's advice for a
    # gapless resume); what is read again is dropped by id.
    overlap_s: float = 5.0
    checkpoint_s: float = 1.0
    # A connection silent this long is considered dead (the firehose is never quiet).
    idle_timeout_s: float = 60.0
    # The first event after a resume more than this after the cursor: the service no longer
    # keeps the cursor (about 36 h), events in between were missed: reported.
    gap_tolerance_s: float = 60.0
    since_us: int | None = None  # first start only: begin here (backfill) instead of live
    metrics_port: int = 9110


def subscribe_url(endpoint: str, cursor_us: int | None) -> str:
    query = [("wantedCollections", "app.bsky.feed.post")]
    if cursor_us is not None:
        query.append(("cursor", str(cursor_us)))
    return f"{endpoint.rstrip('/')}/subscribe?{urlencode(query)}"


class BlueskySource:
    def __init__(self, settings: Settings, config: BrandConfig, options: BlueskyOptions,
                 runtime: SourceRuntime | None = None) -> None:
        self.settings, self.options = settings, options
        self.index = BrandIndex.from_config(config)
        self.metrics = SourceMetrics(options.name, sorted(config.brands))
        self.runtime = runtime or SourceRuntime(settings, config, name=options.name,
                                                platform=PLATFORM, metrics=self.metrics)
        self.last_us: int | None = None  # time_us of the newest event handled
        self.saved_us: int | None = None  # ... and of the durable cursor

    async def run(self, stop: asyncio.Event) -> None:
        cursor = await asyncio.to_thread(self.runtime.open)
        if cursor is not None:
            time_us = cursor.position.get("time_us")
            if not isinstance(time_us, int):
                raise SourceError(f"source {self.options.name!r}: its cursor has no time_us")
            self.last_us = self.saved_us = time_us
        elif self.options.since_us is not None:
            self.last_us = self.options.since_us
        serve_metrics(self.metrics, self.settings.metrics_host, self.options.metrics_port)
        try:
            async with aiohttp.ClientSession() as session:
                await keep_connected(
                    stop, lambda backoff: self._connection(session, stop, backoff),
                    metrics=self.metrics, where=self.options.endpoint)
            # Only on a clean stop: after an error the last durable cursor stands (what came
            # after it is read again and dropped by id).
            self._checkpoint()
        finally:
            self.runtime.close()

    async def _connection(self, session: aiohttp.ClientSession, stop: asyncio.Event,
                          backoff: Backoff) -> None:
        overlap_us = int(self.options.overlap_s * 1_000_000)
        resume_us = None if self.last_us is None else max(0, self.last_us - overlap_us)
        url = subscribe_url(self.options.endpoint, resume_us)
        async with session.ws_connect(url, heartbeat=30, max_msg_size=4 * 1024 * 1024) as ws:
            backoff.connected()
            self.metrics.connected.labels(self.options.name).set(1)
            log.info("source %s: connected to %s (cursor %s)", self.options.name,
                     self.options.endpoint, resume_us)
            first = True

            async def on_frame(data: bytes) -> None:
                nonlocal first
                time_us = self._handle(data)
                if first and time_us is not None:
                    first = False
                    self._check_gap(resume_us, time_us)

            await receive_frames(ws, stop, on_frame=on_frame, checkpoint=self._checkpoint,
                                 checkpoint_s=self.options.checkpoint_s,
                                 idle_timeout_s=self.options.idle_timeout_s)

    def _check_gap(self, resume_us: int | None, first_us: int) -> None:
        if resume_us is None:
            return
        missed_s = (first_us - resume_us) / 1_000_000
        if missed_s > self.options.gap_tolerance_s:
            self.metrics.gaps.labels(self.options.name).inc()
            log.error("source %s: asked to resume at cursor %d but the first event is %.0f s "
                      "later: the service no longer keeps that cursor (Jetstream keeps about "
                      "36 h); mentions in between were MISSED (backfill them from another "
                      "source, see docs/how-to/connect-sources.md)", self.options.name, resume_us,
                      missed_s)

    def _handle(self, frame: bytes) -> int | None:
        """One frame through the parser and to Kafka; returns its time_us when readable."""
        self.metrics.events.labels(self.options.name).inc()
        time_us, outcome = parse_jetstream_frame(frame, self.index)
        if isinstance(outcome, Produce):
            self.runtime.produce(outcome.mention, order=time_us or 0)
        elif isinstance(outcome, Deleted):
            self.runtime.deleted(outcome)
        elif isinstance(outcome, Skip):
            self.metrics.skipped.labels(self.options.name, outcome.reason).inc()
        elif isinstance(outcome, Reject):
            self.runtime.dead_letter(frame, outcome.reason, outcome.detail)
        if time_us is not None:
            # Jetstream's time_us only grows on one connection; after a resume it repeats the
            # overlap: the cursor never moves back.
            if self.last_us is None or time_us > self.last_us:
                self.last_us = time_us
            self.metrics.last_event.labels(self.options.name).set(time_us / 1_000_000)
        return time_us

    def _checkpoint(self) -> None:
        if self.last_us is None or self.last_us == self.saved_us:
            return
        overlap_us = int(self.options.overlap_s * 1_000_000)
        self.runtime.checkpoint({"time_us": self.last_us},
                                keep_from=self.last_us - overlap_us,
                                position_ms=self.last_us // 1000)
        self.saved_us = self.last_us


def run_bluesky(settings: Settings, config: BrandConfig, options: BlueskyOptions) -> None:
    """Run until SIGTERM/SIGINT/SIGHUP; raises SourceError when it can't go on safely."""
    configure_logging(settings.log_level)
    source = BlueskySource(settings, config, options)

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        await source.run(stop)

    asyncio.run(main())
