"""`mentionwatch source mastodon`: the brand's account on its instance. The streaming websocket
(notifications, the home timeline with the brand's own statuses, hashtag streams) and, on every
(re)connect, a REST catch-up by `min_id`, through streams.sources.mastodon to mentions.raw;
the newest id read per feed is the durable cursor (agents.sources.runtime)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
import orjson

from agents.config import ConfigError, Settings
from agents.kafka_clients import keep_out_of_logs
from agents.sources.loop import (
    Backoff,
    configure_logging,
    install_stop_signals,
    keep_connected,
    receive_frames,
    serve_metrics,
)
from agents.sources.runtime import SourceError, SourceMetrics, SourceRuntime
from schemas.codec import parse_rfc3339_ms
from streams.brands import BrandConfig
from streams.sources.mastodon import (
    StatusRef,
    StreamMessage,
    normalize_acct,
    parse_streaming_message,
    status_of_notification,
    status_ref,
    status_to_outcome,
)
from streams.sources.matching import BrandIndex
from streams.sources.outcome import Deleted, Produce, Reject, Skip

log = logging.getLogger("mentionwatch.source")

PLATFORM = "mastodon"
# Statuses remembered by local id (parents of replies, and what a delete event names).
MAX_CACHED_STATUSES = 100_000
PAGE_NOTIFICATIONS = 80
PAGE_STATUSES = 40
REQUEST_TIMEOUT_S = 30.0
# Waiting for a rate-limit reset longer than this is a fault of the clock or the server.
MAX_RATE_WAIT_S = 300.0
# A first start looks back this many pages of notifications at most for where --since begins.
MAX_START_PAGES = 25


@dataclass(frozen=True)
class MastodonOptions:
    instance: str  # https://social.example
    account: str  # the brand's account, user@instance
    token: str = field(repr=False)
    name: str = PLATFORM
    streaming_url: str | None = None  # default: the instance's (from /api/v2/instance)
    hashtags: tuple[str, ...] | None = None  # default: the brand's (brands file)
    checkpoint_s: float = 1.0
    idle_timeout_s: float = 120.0
    since_ms: int | None = None  # first start only: catch up from here (default: now)
    metrics_port: int = 9111


def id_after(a: str | None, b: str) -> bool:
    """Whether Mastodon id `b` is newer than `a` (ids are decimal strings; compare as such)."""
    if a is None:
        return True
    if a.isdigit() and b.isdigit():
        return int(b) > int(a)
    return (len(b), b) > (len(a), a)


def snowflake_min_id(ms: int) -> str:
    """The smallest Mastodon id of a status made at `ms` (a status id is its creation time in
    milliseconds shifted left 16 bits): a min_id that starts there. Not for notifications:
    their ids are a plain sequence (see MastodonSource._notifications_start)."""
    return str(ms << 16)


def _created_ms(item: Mapping[str, Any]) -> int | None:
    value = item.get("created_at")
    if not isinstance(value, str):
        return None
    try:
        return parse_rfc3339_ms(value)
    except ValueError:
        return None


def _parse_reset(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class RateLimiter:
    """Mastodon allows 300 requests per 5 minutes per token; it says what is left in
    X-RateLimit-Remaining and when the window resets in X-RateLimit-Reset. Waits before a
    request when nothing is left, and after a 429 until the reset."""

    def __init__(self) -> None:
        self.remaining: int | None = None
        self.reset_at: float | None = None

    def update(self, headers: Mapping[str, str]) -> None:
        remaining = headers.get("X-RateLimit-Remaining")
        if remaining is not None and remaining.isdigit():
            self.remaining = int(remaining)
        reset_at = _parse_reset(headers.get("X-RateLimit-Reset"))
        if reset_at is not None:
            self.reset_at = reset_at

    def wait_s(self, now: float) -> float:
        if self.remaining is not None and self.remaining <= 1 and self.reset_at is not None:
            return min(MAX_RATE_WAIT_S, max(0.0, self.reset_at - now))
        return 0.0

    def after_429(self, headers: Mapping[str, str], now: float) -> float:
        self.update(headers)
        retry_after = headers.get("Retry-After")
        if retry_after is not None and retry_after.isdigit():
            return min(MAX_RATE_WAIT_S, float(retry_after))
        if self.reset_at is not None and self.reset_at > now:
            return min(MAX_RATE_WAIT_S, self.reset_at - now)
        return 60.0


class MastodonSource:
    def __init__(self, settings: Settings, config: BrandConfig, options: MastodonOptions,
                 runtime: SourceRuntime | None = None) -> None:
        self.settings, self.options = settings, options
        self.index = BrandIndex.from_config(config)
        self.domain = urlsplit(options.instance).hostname or ""
        self.account = normalize_acct(options.account, self.domain)
        keep_out_of_logs(options.token)  # it is sent only in a header; this is the backstop
        brand = self.index.brand_of_mastodon_account(self.account)
        if brand is None:
            raise ConfigError(f"{self.account} is no brand's Mastodon account: add it to the "
                              "brand's [brands.<key>.mastodon] accounts in the brands file")
        # The brand's own hashtags: another brand's account streams its own.
        self.hashtags = options.hashtags if options.hashtags is not None \
            else tuple(sorted(config.brands[brand].hashtags))
        self.metrics = SourceMetrics(options.name, sorted(config.brands))
        self.runtime = runtime or SourceRuntime(settings, config, name=options.name,
                                                platform=PLATFORM, metrics=self.metrics)
        self.limiter = RateLimiter()
        self.account_id: str | None = None
        self.instance_streaming: str | None = None
        self.position: dict[str, str] = {}
        self.saved: dict[str, str] = {}
        self.statuses: OrderedDict[str, StatusRef] = OrderedDict()  # local id → ref

    # -- REST ------------------------------------------------------------------------------------

    async def _get(self, session: aiohttp.ClientSession, path: str,
                   params: list[tuple[str, str]] | None = None) -> Any:
        """GET a JSON document; None on 404. Honours the rate limit; raises SourceError when
        the token is refused, aiohttp's errors when the server can't be reached."""
        url = self.options.instance.rstrip("/") + path
        headers = {"Authorization": f"Bearer {self.options.token}",
                   "Accept": "application/json"}
        for _attempt in range(5):
            wait = self.limiter.wait_s(time.time())
            if wait > 0:
                log.warning("source %s: rate limit reached; waiting %.0f s for its reset",
                            self.options.name, wait)
                await asyncio.sleep(wait)
            async with session.get(url, params=params, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as r:
                if r.status == 429:
                    wait = self.limiter.after_429(r.headers, time.time())
                    log.warning("source %s: 429 Too Many Requests; waiting %.0f s",
                                self.options.name, wait)
                    await asyncio.sleep(wait)
                    continue
                self.limiter.update(r.headers)
                if r.status in (401, 403):
                    raise SourceError(f"{self.options.instance} refused the token ({r.status} "
                                      f"on {path}): check MENTIONWATCH_MASTODON_TOKEN and its "
                                      "scopes (read)")
                if r.status == 404:
                    return None
                if r.status >= 400:
                    raise aiohttp.ClientResponseError(r.request_info, (), status=r.status,
                                                      message=f"GET {path}")
                return orjson.loads(await r.read())
        raise aiohttp.ClientResponseError(None, (), status=429,  # type: ignore[arg-type]
                                          message=f"GET {path}: still rate-limited")

    async def _verify(self, session: aiohttp.ClientSession) -> None:
        # Accounts are user@<the instance's account domain>, which can differ from the host
        # the API is served on (WEB_DOMAIN vs LOCAL_DOMAIN): the instance says which.
        instance = await self._get(session, "/api/v2/instance")
        if isinstance(instance, dict):
            if isinstance(instance.get("domain"), str) and instance["domain"]:
                self.domain = instance["domain"].lower()
            urls = (instance.get("configuration") or {}).get("urls") or {}
            if isinstance(urls, dict) and isinstance(urls.get("streaming"), str):
                self.instance_streaming = urls["streaming"]
        self.account = normalize_acct(self.options.account, self.domain)
        me = await self._get(session, "/api/v1/accounts/verify_credentials")
        if not isinstance(me, dict) or not isinstance(me.get("id"), str):
            raise SourceError(f"{self.options.instance}: verify_credentials gave no account")
        acct = normalize_acct(str(me.get("acct", "")), self.domain)
        if acct != self.account:
            raise SourceError(f"the token is {acct}'s, not {self.account}'s")
        self.account_id = me["id"]

    def _streaming_url(self) -> str:
        base = self.options.streaming_url or self.instance_streaming
        if not base:
            parts = urlsplit(self.options.instance)
            base = urlunsplit(("wss" if parts.scheme == "https" else "ws", parts.netloc,
                               "", "", ""))
        return base.rstrip("/") + "/api/v1/streaming"

    async def _parent(self, session: aiohttp.ClientSession, status: Mapping[str, Any],
                      fetch: bool) -> StatusRef | None:
        """The status a reply answers: remembered, or (with `fetch`) looked up over REST. Never
        fetched for a status that can't become a mention (not public, a reblog)."""
        parent_id = status.get("in_reply_to_id")
        if not isinstance(parent_id, str):
            return None
        ref = self.statuses.get(parent_id)
        public = status.get("visibility") in ("public", "unlisted") and not status.get("reblog")
        if ref is None and fetch and public:
            parent = await self._get(session, f"/api/v1/statuses/{quote(parent_id)}")
            if isinstance(parent, dict):
                ref = self._remember(parent)
        return ref

    def _remember(self, status: Mapping[str, Any]) -> StatusRef | None:
        ref = status_ref(status, self.domain)
        local_id = status.get("id")
        if ref is not None and isinstance(local_id, str):
            self.statuses[local_id] = ref
            self.statuses.move_to_end(local_id)
            if len(self.statuses) > MAX_CACHED_STATUSES:
                self.statuses.popitem(last=False)
        return ref

    # -- events ----------------------------------------------------------------------------------

    async def _status(self, session: aiohttp.ClientSession, status: Mapping[str, Any],
                      raw: bytes, fetch_parent: bool = True) -> None:
        parent = await self._parent(session, status, fetch_parent)
        self._remember(status)
        outcome = status_to_outcome(status, brands=self.index, instance_domain=self.domain,
                                    watched_account=self.account, parent=parent)
        if isinstance(outcome, Produce):
            self.runtime.produce(outcome.mention)
        elif isinstance(outcome, Skip):
            self.metrics.skipped.labels(self.options.name, outcome.reason).inc()
        elif isinstance(outcome, Reject):
            self.runtime.dead_letter(raw, outcome.reason, outcome.detail)

    def _advance(self, feed: str, item_id: object) -> None:
        if isinstance(item_id, str) and id_after(self.position.get(feed), item_id):
            self.position[feed] = item_id

    async def _notification(self, session: aiohttp.ClientSession, notification: Any,
                            raw: bytes) -> None:
        got = status_of_notification(notification) if isinstance(notification, dict) \
            else Reject("bad_frame", "a notification is not an object")
        if isinstance(got, Skip):
            self.metrics.skipped.labels(self.options.name, got.reason).inc()
        elif isinstance(got, Reject):
            self.runtime.dead_letter(raw, got.reason, got.detail)
        else:
            await self._status(session, got, raw)
        if isinstance(notification, dict):
            self._advance("notifications", notification.get("id"))

    async def _message(self, session: aiohttp.ClientSession, data: bytes) -> None:
        self.metrics.events.labels(self.options.name).inc()
        message = parse_streaming_message(data)
        if isinstance(message, Reject):
            self.runtime.dead_letter(data, message.reason, message.detail)
            return
        await self._event(session, message, data)

    async def _event(self, session: aiohttp.ClientSession, message: StreamMessage,
                     raw: bytes) -> None:
        event, payload = message.event, message.payload
        if event == "notification":
            await self._notification(session, payload, raw)
        elif event == "update" and isinstance(payload, dict):
            feed = self._feed_of(message, payload)
            # The home timeline carries everyone the brand follows: their replies' parents are
            # looked up only if already seen (the rate limit is for what concerns the brand).
            await self._status(session, payload, raw, fetch_parent=feed is not None)
            if feed is not None:
                self._advance(feed, payload.get("id"))
        elif event == "delete" and isinstance(payload, str):
            ref = self.statuses.get(payload)
            if ref is not None:
                self.runtime.deleted(Deleted(PLATFORM, ref.uri, ref.author_acct,
                                             int(time.time() * 1000)))
        elif event == "status.update":
            self.metrics.skipped.labels(self.options.name, "update").inc()
        else:
            self.metrics.skipped.labels(self.options.name, "other_event").inc()

    def _feed_of(self, message: StreamMessage, status: Mapping[str, Any]) -> str | None:
        """The catch-up feed a streamed status belongs to (its id moves that feed's cursor)."""
        if len(message.stream) >= 2 and message.stream[0] == "hashtag":
            return f"tag:{message.stream[1].casefold()}"
        account = status.get("account")
        if isinstance(account, dict) and account.get("id") == self.account_id:
            return "statuses"
        return None

    # -- catch-up --------------------------------------------------------------------------------

    def _feeds(self) -> list[tuple[str, str, list[tuple[str, str]], int]]:
        """(feed, path, extra params, page size) of every feed caught up by min_id."""
        feeds = [("notifications", "/api/v1/notifications", [("types[]", "mention")],
                  PAGE_NOTIFICATIONS),
                 ("statuses", f"/api/v1/accounts/{quote(self.account_id or '')}/statuses", [],
                  PAGE_STATUSES)]
        for tag in self.hashtags:
            feeds.append((f"tag:{tag.casefold()}", f"/api/v1/timelines/tag/{quote(tag)}", [],
                          PAGE_STATUSES))
        return feeds

    async def _catch_up(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        for feed, path, extra, limit in self._feeds():
            while not stop.is_set():
                min_id = self.position[feed]
                page = await self._get(session, path, [*extra, ("min_id", min_id),
                                                       ("limit", str(limit))])
                if not isinstance(page, list) or not page:
                    break
                # A min_id page holds the items just after min_id, newest first: handle them
                # oldest first so the cursor only ever passes what was handled.
                items = sorted((i for i in page if isinstance(i, dict)
                                and isinstance(i.get("id"), str)),
                               key=lambda i: (len(i["id"]), i["id"]))
                for item in items:
                    raw = orjson.dumps(item)
                    self.metrics.events.labels(self.options.name).inc()
                    if feed == "notifications":
                        await self._notification(session, item, raw)
                    else:
                        await self._status(session, item, raw)
                        self._advance(feed, item["id"])
                if self.position[feed] == min_id:  # nothing newer with a usable id
                    break
                self._checkpoint()

    async def _notifications_start(self, session: aiohttp.ClientSession, since_ms: int) -> str:
        """Where a first start's catch-up of notifications begins. Notification ids are not
        time-based like status ids (Mastodon numbers them from a plain sequence), so a min_id
        made from a time lies above every one of them: nothing would be caught up and the
        cursor would never move, losing every mention made while the stream was down. The
        start is the newest mention notification made before `since_ms` ("0": none)."""
        max_id: str | None = None
        for _page in range(MAX_START_PAGES):
            params = [("types[]", "mention"), ("limit", str(PAGE_NOTIFICATIONS))]
            if max_id is not None:
                params.append(("max_id", max_id))
            page = await self._get(session, "/api/v1/notifications", params)
            items = sorted((i for i in page if isinstance(i, dict)
                            and isinstance(i.get("id"), str)) if isinstance(page, list) else (),
                           key=lambda i: (len(i["id"]), i["id"]), reverse=True)
            if not items:
                return "0"
            for item in items:  # newest first
                created_ms = _created_ms(item)
                if created_ms is not None and created_ms < since_ms:
                    return str(item["id"])
            max_id = str(items[-1]["id"])
        log.warning("source %s: more than %d pages of notifications since the start time; "
                    "catching up from the oldest of them", self.options.name, MAX_START_PAGES)
        return str(int(max_id) - 1) if max_id is not None and max_id.isdigit() else "0"

    # -- run -------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        cursor = await asyncio.to_thread(self.runtime.open)
        since_ms = self.options.since_ms if self.options.since_ms is not None \
            else int(time.time() * 1000)
        start = snowflake_min_id(since_ms)
        saved = dict(cursor.position) if cursor is not None else {}
        serve_metrics(self.metrics, self.settings.metrics_host, self.options.metrics_port)
        try:
            async with aiohttp.ClientSession() as session:

                async def connect(backoff: Backoff) -> None:
                    if not self.position:  # set once, all feeds at a time
                        if self.account_id is None:
                            await self._verify(session)
                        position: dict[str, str] = {}
                        for feed, *_ in self._feeds():
                            value = saved.get(feed)
                            if isinstance(value, str):
                                position[feed] = value
                            elif feed == "notifications":
                                position[feed] = await self._notifications_start(
                                    session, since_ms)
                            else:
                                position[feed] = start
                        self.position, self.saved = position, dict(position)
                    await self._connection(session, stop, backoff)

                await keep_connected(stop, connect, metrics=self.metrics,
                                     where=self.options.instance)
            self._checkpoint()
        finally:
            self.runtime.close()

    async def _connection(self, session: aiohttp.ClientSession, stop: asyncio.Event,
                          backoff: Backoff) -> None:
        url = self._streaming_url()
        headers = {"Authorization": f"Bearer {self.options.token}"}
        async with session.ws_connect(url, headers=headers, heartbeat=30,
                                      max_msg_size=4 * 1024 * 1024) as ws:
            await ws.send_str(orjson.dumps({"type": "subscribe", "stream": "user"}).decode())
            for tag in self.hashtags:
                await ws.send_str(orjson.dumps({"type": "subscribe", "stream": "hashtag",
                                                "tag": tag}).decode())
            backoff.connected()
            self.metrics.connected.labels(self.options.name).set(1)
            log.info("source %s: streaming from %s as %s", self.options.name,
                     self.options.instance, self.account)
            # Subscribed first, then caught up: what the stream delivers meanwhile waits in
            # the socket's queue and is handled after (a repeat is dropped by id), so nothing
            # falls between the catch-up and the stream, and the cursor never passes an
            # unhandled item.
            await self._catch_up(session, stop)
            self._checkpoint()

            async def on_frame(data: bytes) -> None:
                await self._message(session, data)

            # A brand's stream is quiet for long stretches: the cursor still reaches the last
            # item handled (receive_frames checkpoints while waiting too).
            await receive_frames(ws, stop, on_frame=on_frame, checkpoint=self._checkpoint,
                                 checkpoint_s=self.options.checkpoint_s,
                                 idle_timeout_s=self.options.idle_timeout_s)

    def _checkpoint(self) -> None:
        if not self.position or self.position == self.saved:
            return
        # Status ids are their creation time shifted 16 bits; notification ids are a plain
        # sequence and say nothing of time.
        newest = max((int(v) for feed, v in self.position.items()
                      if feed != "notifications" and v.isdigit()), default=None)
        self.runtime.checkpoint(dict(self.position),
                                position_ms=(newest >> 16) if newest is not None else None)
        self.saved = dict(self.position)


def run_mastodon(settings: Settings, config: BrandConfig, options: MastodonOptions) -> None:
    """Run until SIGTERM/SIGINT/SIGHUP; raises SourceError when it can't go on safely."""
    configure_logging(settings.log_level)
    source = MastodonSource(settings, config, options)

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        await source.run(stop)

    asyncio.run(main())
