"""The care team's queue over HTTP (docs/reference/http-api.md, "The care team's queue"):

- ``GET /queue``: the page (agents/queue_page.py), optional ``?brand=&platform=``;
- ``GET /queue.json``: the whole queue, this worker's part plus every other worker's, fetched
  from their ``/queue/local.json`` (the group's workers and their URLs from faust's assignor,
  agents/faust_compat.table_workers), each within FETCH_TIMEOUT_S; the answer says which
  partitions it covers, which workers answered and since when a worker is stale;
- ``GET /queue/local.json``: this worker's part, from the snapshot its timer takes together
  with the gauges (agents/tracking.Tracker.queue_capture).

Read-only: GET (and HEAD) only. When MENTIONWATCH_QUEUE_TOKEN is set every request needs it
(bearer, or basic auth with user "care"); without it the worker is bound to loopback and answers
loopback host names only (agents/web_policy.queue_refusal). Nothing here logs customer text or
a token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any, cast

import aiohttp
import orjson
from aiohttp import web
from faust.web import Request, Response, View

from agents import faust_compat
from agents.queue_page import PAGE_ROWS, content_security_policy, new_nonce, render_page
from agents.web_policy import QUEUE_REALM, queue_credentials_match, queue_refusal
from schemas.queue_codec import local_from_json, local_to_json, merged_json
from streams.queue import LocalQueue, MergedQueue, local_queue, merge, safe_http_url

if TYPE_CHECKING:
    from agents.app import Pipeline

log = logging.getLogger("mentionwatch.queue")

# How long /queue.json waits for another worker's part.
FETCH_TIMEOUT_S = 2.0
# The largest part of another worker read (bytes).
MAX_LOCAL_BYTES = 64 * 2**20
MAX_LIMIT = 100_000
MAX_FILTER_CHARS = 64
# A worker that doesn't answer is logged at most this often.
WARN_INTERVAL_S = 60.0
TABLE = "threads"

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class BadQuery(ValueError):
    pass


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body if isinstance(body, bytes) else orjson.dumps(body),
                        status=status, content_type="application/json",
                        headers={**SECURITY_HEADERS,
                                 "Content-Security-Policy": "default-src 'none'; "
                                                            "frame-ancestors 'none'",
                                 **(headers or {})})


def _filters(request: web.Request, default_limit: int | None
             ) -> tuple[str | None, str | None, int | None]:
    query = request.query
    brand = query.get("brand") or None
    platform = query.get("platform") or None
    for name, value in (("brand", brand), ("platform", platform)):
        if value is not None and len(value) > MAX_FILTER_CHARS:
            raise BadQuery(f"{name} is longer than {MAX_FILTER_CHARS} characters")
    raw = query.get("limit")
    limit = default_limit
    if raw:
        try:
            limit = int(raw)
        except ValueError:
            raise BadQuery("limit must be an integer") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise BadQuery(f"limit must be between 1 and {MAX_LIMIT}")
    return brand, platform, limit


class QueueService:
    """The queue of one worker's pipeline: its own part and the fan-out to the others."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings
        self.token = pipeline.settings.queue_token
        self._session: aiohttp.ClientSession | None = None
        self._warned: dict[str, float] = {}

    # -- access ---------------------------------------------------------------------------------
    def refusal(self, request: web.Request) -> web.Response | None:
        headers = request.headers
        why = queue_refusal(host=headers.get("Host"), origin=headers.get("Origin"),
                            scheme=request.scheme, token_required=self.token is not None)
        if why is not None:
            return _json(403, {"error": "forbidden", "detail": why})
        if self.token is not None and not queue_credentials_match(
                headers.get("Authorization"), self.token):
            return _json(401, {"error": "unauthorized",
                               "detail": "the queue needs the queue token "
                                         "(MENTIONWATCH_QUEUE_TOKEN): HTTP basic auth with user "
                                         "care, or Authorization: Bearer <token>"},
                         {"WWW-Authenticate": QUEUE_REALM})
        return None

    # -- this worker's part ---------------------------------------------------------------------
    def local(self, brand: str | None, platform: str | None, limit: int | None) -> LocalQueue:
        pipeline = self.pipeline
        tracker = pipeline.tracker
        cap, order = tracker.queue_order()
        metrics = pipeline.metrics
        return local_queue(
            faust_compat.canonical_url(pipeline.app), cap, order, pipeline.brands,
            stale_since_ms=tracker.stale_since_ms(),
            rebalancing=faust_compat.is_recovering(pipeline.app), brand=brand,
            platform=platform, limit=limit, brand_label=metrics.brand_label,
            platform_label=metrics.platform_label)

    # -- the whole queue ------------------------------------------------------------------------
    async def whole(self, brand: str | None, platform: str | None,
                    limit: int | None) -> MergedQueue:
        app = self.pipeline.app
        own = faust_compat.canonical_url(app)
        mine = self.local(brand, platform, limit)
        others = sorted(url for url in faust_compat.table_workers(app, TABLE) if url != own)
        results = await asyncio.gather(*(self._fetch(url, brand, platform, limit)
                                         for url in others))
        answers = [mine]
        failures: dict[str, str] = {}
        for url, result in zip(others, results, strict=True):
            if isinstance(result, LocalQueue):
                answers.append(result)
            else:
                failures[url] = result
        return merge(answers, failures, self.settings.partitions, limit)

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S),
                headers={"Accept": "application/json", "User-Agent": "mentionwatch-queue"})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _fetch(self, url: str, brand: str | None, platform: str | None,
                     limit: int | None) -> LocalQueue | str:
        """Another worker's part, or why it isn't here."""
        if safe_http_url(url) is None:
            return "its URL is not http(s)"
        params = {k: v for k, v in (("brand", brand), ("platform", platform),
                                    ("limit", str(limit) if limit else None)) if v}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        why: str
        try:
            session = await self._client()
            async with asyncio.timeout(FETCH_TIMEOUT_S), session.get(
                    f"{url}/queue/local.json", params=params, headers=headers,
                    allow_redirects=False) as resp:
                if resp.status != 200:
                    why = f"HTTP {resp.status}"
                else:
                    body = await resp.content.read(MAX_LOCAL_BYTES + 1)
                    if len(body) > MAX_LOCAL_BYTES:
                        why = "its answer is too large"
                    else:
                        return dataclasses.replace(local_from_json(body), worker=url)
        except TimeoutError:
            why = f"no answer within {FETCH_TIMEOUT_S:g}s"
        except aiohttp.ClientError as exc:
            why = f"unreachable ({type(exc).__name__})"
        except ValueError:
            why = "its answer is not a queue"
        now = time.monotonic()
        if now - self._warned.get(url, -WARN_INTERVAL_S) >= WARN_INTERVAL_S:
            self._warned[url] = now
            log.warning("queue: worker %s did not give its part: %s", url, why)
        return why

    # -- views ----------------------------------------------------------------------------------
    def _admitted(self, request: web.Request, default_limit: int | None
                  ) -> tuple[str | None, str | None, int | None] | web.Response:
        """The request's filters (brand, platform, limit), or the response refusing it (no or
        a wrong token, a bad query)."""
        refusal = self.refusal(request)
        if refusal is not None:
            return refusal
        try:
            return _filters(request, default_limit)
        except BadQuery as exc:
            return _json(400, {"error": "bad_query", "detail": str(exc)})

    async def page(self, request: web.Request) -> web.Response:
        admitted = self._admitted(request, PAGE_ROWS)
        if isinstance(admitted, web.Response):
            return admitted
        brand, platform, _ = admitted
        queue = await self.whole(brand, platform, PAGE_ROWS)
        nonce = new_nonce()
        return web.Response(
            text=render_page(queue, brand=brand, platform=platform, nonce=nonce),
            content_type="text/html", charset="utf-8",
            headers={**SECURITY_HEADERS,
                     "Content-Security-Policy": content_security_policy(nonce)})

    async def whole_json(self, request: web.Request) -> web.Response:
        admitted = self._admitted(request, None)
        if isinstance(admitted, web.Response):
            return admitted
        brand, platform, limit = admitted
        queue = await self.whole(brand, platform, limit)
        return _json(200, merged_json(queue, brand=brand, platform=platform,
                                      now_ms=int(time.time() * 1000)))

    async def local_json(self, request: web.Request) -> web.Response:
        admitted = self._admitted(request, None)
        if isinstance(admitted, web.Response):
            return admitted
        brand, platform, limit = admitted
        return _json(200, local_to_json(self.local(brand, platform, limit)))


def register_queue(pipeline: Pipeline, web_app: web.Application) -> QueueService:
    """GET /queue, /queue.json and /queue/local.json on the pipeline's faust app."""
    service = QueueService(pipeline)
    app = pipeline.app

    async def close(_app: web.Application) -> None:
        await service.close()

    web_app.on_shutdown.append(close)

    class QueuePage(View):
        async def get(self, request: Request) -> Response:
            return cast(Response, await service.page(cast(web.Request, request)))

    class QueueJson(View):
        async def get(self, request: Request) -> Response:
            return cast(Response, await service.whole_json(cast(web.Request, request)))

    class QueueLocalJson(View):
        async def get(self, request: Request) -> Response:
            return cast(Response, await service.local_json(cast(web.Request, request)))

    app.page("/queue")(QueuePage)
    app.page("/queue.json")(QueueJson)
    app.page("/queue/local.json")(QueueLocalJson)
    return service
