"""The worker's HTTP views: ingest (POST /mentions), liveness and readiness.

- ``POST /mentions``: one mention.v1 object or a list (docs/reference/http-api.md, "POST
  /mentions"). In order: the Origin must be the server's own (403, no CORS); the bearer token
  when one is set (401); ``Content-Type: application/json`` (415); a body of at most
  ``MAX_BODY_BYTES`` (413) read within ``BODY_TIMEOUT_S`` (408); at most
  ``MAX_CONCURRENT_INGESTS`` requests at once (503). Then all or nothing: every item is checked
  for everything the worker would dead-letter (streams.admission, against the time the request
  was received, which is also the records' timestamp) before anything is written; a batch
  with any refusal writes nothing (400). The broker gets ``BROKER_WAIT_S`` to acknowledge;
  otherwise 503 with Retry-After and the ids written and not written. Limits: agents/web_policy.
- ``GET /livez`` (and ``/healthz``, kept for existing probes): 200 while the process's event loop
  answers; it says nothing about the broker, so a liveness probe never restarts a worker that
  is merely waiting for Kafka. Open without a token, like ``/readyz``.
- ``GET /readyz``: 200 when the worker can do its work (``Pipeline.not_ready_reasons()`` is
  empty), else 503 with the reasons.
- ``GET /queue``, ``/queue.json``, ``/queue/local.json``: the care team's queue
  (agents/queue_web.py).

Every error answer, aiohttp's own (404, 405, 413) included, is JSON ``{"error", "detail", ...}``.
Responses and logs carry no mention text, no token and no settings beyond the app id: a client
sees the field and reason of its own invalid items only.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import orjson
from aiohttp import web
from faust.exceptions import AlreadyConfiguredWarning
from faust.web import Request, Response, View

from agents.config import ConfigError, Settings
from agents.kafka_clients import aiokafka_security
from agents.partitioning import partition_for
from agents.web_policy import (
    BODY_TIMEOUT_S,
    BROKER_WAIT_S,
    HANDOVER_BUDGET_S,
    HEADER_TIMEOUT_S,
    LINGER_S,
    MAX_BODY_BYTES,
    MAX_CONCURRENT_INGESTS,
    MAX_MENTIONS_PER_REQUEST,
    PRODUCER_TIMEOUT_S,
    RETRY_AFTER_BROKER_S,
    RETRY_AFTER_BUSY_S,
    TOKEN_REALM,
    bearer_token_matches,
    exposure_problem,
    is_json_content_type,
    origin_refusal,
)
from schemas.models import Mention
from streams.admission import Admitted, admit_batch
from streams.brands import BrandConfig, default_brand_config

if TYPE_CHECKING:
    from agents.app import Pipeline

log = logging.getLogger("mentionwatch")

JSON_TYPE = "application/json"


def validate_items(items: list[Any], *, received_ms: int, max_record_bytes: int,
                   max_future_ms: int, brands: BrandConfig | None = None
                   ) -> tuple[list[tuple[Mention, bytes]], list[dict[str, Any]]]:
    """Each item → (mention, its encoded record), or an error
    ``{"index", "reason", "field", "detail"}`` (streams.admission). Pure: the time of receipt
    is passed in."""
    admitted, refusals = admit_batch(items, produced_ms=received_ms,
                                     max_record_bytes=max_record_bytes,
                                     max_future_ms=max_future_ms,
                                     brands=brands or default_brand_config())
    return [(a.mention, a.value) for a in admitted], [r.as_json() for r in refusals]


def error_body(error: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": error, "detail": detail, **extra}


def json_response(status: int, body: dict[str, Any],
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=JSON_TYPE,
                        headers=headers)


# aiohttp's own refusals (no route, wrong method, body over client_max_size), as JSON.
_HTTP_ERROR_NAMES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 408: "request_timeout", 413: "body_too_large",
    415: "unsupported_media_type", 500: "internal_error", 503: "unavailable",
}


def _too_large_body() -> dict[str, Any]:
    return error_body("body_too_large",
                      f"the request body is over {MAX_BODY_BYTES} bytes (1 MiB), the limit of "
                      "POST /mentions: send fewer mentions per request",
                      limit_bytes=MAX_BODY_BYTES)


@web.middleware
async def json_errors(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    """Every error answer as JSON, whoever raised it; an unexpected exception is a JSON 500
    whose log line names the exception's type only (its message may quote a request)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items()
                   if k.lower() not in ("content-type", "content-length")}
        if exc.status == 413:
            return json_response(413, _too_large_body(), headers)
        name = _HTTP_ERROR_NAMES.get(exc.status, "http_error")
        return json_response(exc.status, error_body(name, exc.reason), headers)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("HTTP %s on %s failed with %s", request.method,
                  request.match_info.route.name or "an unnamed route", type(exc).__name__)
        return json_response(500, error_body("internal_error", "the server failed to answer "
                                             "this request; it was logged"))


class IngestProducer:
    """The Kafka producer of POST /mentions: its own, not faust's. faust's producer is
    idempotent, and an idempotent aiokafka producer retries a batch until the broker is back —
    so a request answered 503 in an outage was written minutes later. This one is not
    idempotent, so it gives a batch up ``PRODUCER_TIMEOUT_S`` after the batch was made
    (expired, never sent) or after a last attempt: by the time a request is answered, each of
    its mentions is acknowledged or given up. acks=all, like every producer of the project."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: Any = None
        self._lock = asyncio.Lock()

    async def get(self) -> Any:
        async with self._lock:
            if self._producer is None:
                from aiokafka import AIOKafkaProducer

                producer = AIOKafkaProducer(
                    bootstrap_servers=self.settings.bootstrap_servers,
                    client_id="mentionwatch-http-ingest",
                    acks="all",
                    enable_idempotence=False,
                    request_timeout_ms=int(PRODUCER_TIMEOUT_S * 1000),
                    retry_backoff_ms=100,
                    linger_ms=5,
                    max_batch_size=256 * 1024,
                    **aiokafka_security(self.settings),
                )
                try:
                    await asyncio.wait_for(producer.start(), PRODUCER_TIMEOUT_S)
                except BaseException:
                    await asyncio.shield(producer.stop())
                    raise
                self._producer = producer
            return self._producer

    async def stop(self) -> None:
        async with self._lock:
            if self._producer is not None:
                producer, self._producer = self._producer, None
                await producer.stop()


class MentionsIngest:
    """POST /mentions for one pipeline: the checks in the documented order, then the write."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.settings = pipeline.settings
        self.brands = pipeline.brands
        self.producer = IngestProducer(pipeline.settings)
        self.in_flight = 0

    def _refusal_before_body(self, request: web.Request) -> web.Response | None:
        headers = request.headers
        why = origin_refusal(headers.get("Origin"), host=headers.get("Host"),
                             scheme=request.scheme,
                             token_required=self.settings.ingest_token is not None)
        if why is not None:
            return json_response(403, error_body("forbidden_origin", why))
        token = self.settings.ingest_token
        if token is not None and not bearer_token_matches(headers.get("Authorization"), token):
            challenge = TOKEN_REALM + (', error="invalid_token"'
                                       if headers.get("Authorization") else "")
            return json_response(401, error_body(
                "unauthorized", "POST /mentions needs Authorization: Bearer <token> "
                "(MENTIONWATCH_INGEST_TOKEN)"), {"WWW-Authenticate": challenge})
        if not is_json_content_type(headers.get("Content-Type")):
            return json_response(415, error_body(
                "unsupported_media_type", "send the mentions as Content-Type: "
                "application/json (UTF-8)"))
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return json_response(413, _too_large_body())
        return None

    async def handle(self, request: web.Request) -> web.Response:
        # One instant for the check and the records' timestamp, in the milliseconds the worker
        # reads back from the record: it sees exactly the produced time checked here.
        received_ms = int(time.time() * 1000)
        started = time.monotonic()
        refusal = self._refusal_before_body(request)
        if refusal is not None:
            return refusal
        if self.in_flight >= MAX_CONCURRENT_INGESTS:
            return json_response(503, error_body(
                "busy", f"{MAX_CONCURRENT_INGESTS} ingest requests are being served; retry "
                "shortly"), {"Retry-After": str(RETRY_AFTER_BUSY_S)})
        self.in_flight += 1
        try:
            return await self._ingest(request, received_ms, started)
        finally:
            self.in_flight -= 1

    async def _ingest(self, request: web.Request, received_ms: int, started: float
                      ) -> web.Response:
        try:
            body = await asyncio.wait_for(request.read(), BODY_TIMEOUT_S)
        except TimeoutError:
            response = json_response(408, error_body(
                "request_timeout", f"the body was not received within {BODY_TIMEOUT_S:g}s"))
            response.force_close()
            return response
        except web.HTTPRequestEntityTooLarge:
            return json_response(413, _too_large_body())
        if len(body) > MAX_BODY_BYTES:
            return json_response(413, _too_large_body())
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return json_response(400, error_body(
                "not_json", f"not valid JSON: {exc}", accepted=0, rejected=1,
                errors=[{"index": None, "reason": "not_json", "field": None,
                         "detail": f"not valid JSON: {exc}"}]))
        items = payload if isinstance(payload, list) else [payload]
        if not items:
            return json_response(400, error_body("empty", "the list holds no mention",
                                                 accepted=0, rejected=0, errors=[]))
        if len(items) > MAX_MENTIONS_PER_REQUEST:
            return json_response(413, error_body(
                "too_many_mentions", f"{len(items)} mentions in one request, at most "
                f"{MAX_MENTIONS_PER_REQUEST} allowed", limit_mentions=MAX_MENTIONS_PER_REQUEST))
        settings = self.settings
        admitted, refusals = admit_batch(items, produced_ms=received_ms,
                                         max_record_bytes=settings.max_record_bytes,
                                         max_future_ms=int(settings.max_future_s * 1000),
                                         brands=self.brands)
        if refusals:
            # All or nothing: the client fixes the batch and resends it whole.
            return json_response(400, error_body(
                "invalid_mentions", f"{len(refusals)} of {len(items)} mentions would be "
                "refused; nothing was written", accepted=0, rejected=len(refusals),
                errors=[r.as_json() for r in refusals]))
        transport = request.transport
        if transport is None or transport.is_closing():
            log.info("POST /mentions: the client left before its %d mentions were written; "
                     "none were", len(admitted))
            return json_response(400, error_body("client_gone", "nothing was written"))
        return await self._write(admitted, received_ms, started)

    async def _write(self, admitted: list[Admitted], received_ms: int, started: float
                     ) -> web.Response:
        """Hand the batch to the producer and wait, at most until BROKER_WAIT_S after receipt,
        for each mention to be acknowledged or given up."""
        settings = self.settings
        pending: list[tuple[str, asyncio.Future[Any]]] = []
        not_handed: list[str] = []
        failure: str | None = None
        try:
            producer = await self.producer.get()
        except Exception as exc:
            producer, failure = None, type(exc).__name__
        for item in admitted:
            if producer is None or failure is not None or (
                    time.monotonic() - started > HANDOVER_BUDGET_S):
                not_handed.append(item.mention.id)
                continue
            try:
                future = await producer.send(
                    settings.topic_raw, value=item.value, key=item.key,
                    partition=partition_for(item.key, settings.partitions),
                    timestamp_ms=received_ms)
            except Exception as exc:  # no metadata or no buffer space in time: not handed
                failure = type(exc).__name__
                not_handed.append(item.mention.id)
                continue
            pending.append((item.mention.id, future))
        remaining = max(0.0, BROKER_WAIT_S - (time.monotonic() - started))
        if pending:
            await asyncio.wait([f for _, f in pending], timeout=remaining)
        written = [i for i, f in pending if f.done() and not f.cancelled()
                   and f.exception() is None]
        given_up = [i for i, f in pending if f.done() and (f.cancelled()
                                                           or f.exception() is not None)]
        unsettled = [i for i, f in pending if not f.done()]
        for _, f in pending:
            if f.done() and not f.cancelled() and f.exception() is not None:
                failure = failure or type(f.exception()).__name__
        if not not_handed and not given_up and not unsettled:
            return json_response(202, {"accepted": len(written), "rejected": 0})
        log.warning("POST /mentions: the broker acknowledged %d of %d mentions within %gs "
                    "(%s); %d not written%s", len(written), len(admitted), BROKER_WAIT_S,
                    failure or "no answer", len(not_handed) + len(given_up),
                    f", {len(unsettled)} unsettled" if unsettled else "")
        body = error_body(
            "broker_unavailable",
            "the broker did not acknowledge every mention in time. `written` are stored; "
            "`not_written` were given up before this answer and are not written later; resend "
            "them (complaint tracking counts an id once)."
            + (" `unsettled` were still on their way: they may yet be stored." if unsettled
               else ""),
            accepted=len(written), rejected=0, written=written,
            not_written=not_handed + given_up)
        if unsettled:
            body["unsettled"] = unsettled
        return json_response(503, body, {"Retry-After": str(RETRY_AFTER_BROKER_S)})


async def post_mentions(pipeline: Pipeline, view: View, request: Request) -> Response:
    """POST /mentions for a pipeline (kept for Pipeline.post_mentions)."""
    ingest = getattr(pipeline, "_mentions_ingest", None)
    if ingest is None:
        ingest = MentionsIngest(pipeline)
        pipeline._mentions_ingest = ingest  # type: ignore[attr-defined]
    return cast(Response, await ingest.handle(cast(web.Request, request)))


def readiness(pipeline: Pipeline) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /readyz."""
    try:
        reasons = pipeline.not_ready_reasons()
    except Exception as exc:  # a probe must answer, not fail with a 500
        log.exception("readiness check failed")
        reasons = [f"the readiness check failed: {type(exc).__name__}"]
    if reasons:
        return 503, {"status": "not_ready", "reasons": reasons}
    return 200, {"status": "ready"}


def _harden_server(pipeline: Pipeline) -> web.Application:
    """Body limit, JSON errors and connection timeouts on faust's aiohttp server. faust offers
    the Application's options (web_application_options) but not the server's: the keep-alive
    timer (which also closes a connection that never completes a request head) and the
    lingering time go into its AppRunner's handler arguments, checked here so a faust upgrade
    that moves them stops the worker instead of dropping the timeouts."""
    app = pipeline.app
    with warnings.catch_warnings():
        # faust warns that settings changed after the app was made may not reach what was
        # built already; the web server is built only below, and checked.
        warnings.simplefilter("ignore", AlreadyConfiguredWarning)
        app.conf.web_application_options = {
            **(app.conf.web_application_options or {}), "client_max_size": MAX_BODY_BYTES}
    web_app = cast(web.Application, cast(Any, app.web).web_app)
    if getattr(web_app, "_client_max_size", None) != MAX_BODY_BYTES:
        raise RuntimeError("faust did not pass client_max_size to aiohttp")
    runner_kwargs = getattr(getattr(app.web, "_runner", None), "_kwargs", None)
    if not isinstance(runner_kwargs, dict):
        raise RuntimeError("faust's aiohttp runner has no handler arguments to set timeouts in")
    runner_kwargs.update(keepalive_timeout=HEADER_TIMEOUT_S, lingering_time=LINGER_S)
    web_app.middlewares.append(json_errors)
    return web_app


def register_web(pipeline: Pipeline) -> None:
    """Add the views to the pipeline's faust app. Raises ConfigError for settings that would
    expose an unauthenticated ingest or queue (agents/web_policy.exposure_problem)."""
    problem = exposure_problem(pipeline.settings)
    if problem is not None:
        raise ConfigError(problem)
    app = pipeline.app
    app_id = pipeline.settings.app_id
    web_app = _harden_server(pipeline)
    ingest = MentionsIngest(pipeline)
    pipeline._mentions_ingest = ingest  # type: ignore[attr-defined]

    async def stop_producer(_app: web.Application) -> None:
        await ingest.producer.stop()

    web_app.on_shutdown.append(stop_producer)

    class MentionsView(View):
        async def post(self, request: Request) -> Response:
            return cast(Response, await ingest.handle(cast(web.Request, request)))

    class LiveView(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    class HealthView(View):
        """The liveness answer under its first name, with the app id (unchanged)."""

        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok", "app": app_id})

    class ReadyView(View):
        async def get(self, request: Request) -> Response:
            status, body = readiness(pipeline)
            return self.json(body, status=status)

    app.page("/mentions")(MentionsView)
    app.page("/livez")(LiveView)
    app.page("/healthz")(HealthView)
    app.page("/readyz")(ReadyView)
    from agents.queue_web import register_queue

    pipeline._queue = register_queue(pipeline, web_app)  # type: ignore[attr-defined]
