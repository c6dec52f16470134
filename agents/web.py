"""The worker's HTTP views: ingest (POST /mentions), liveness and readiness.

- ``POST /mentions``: one mention.v1 object or a list; all or nothing: every item is validated
  (schema, size, not future-dated: streams.event_time) before anything is sent; records are
  stamped with the time the request was received, the time the worker checks created_at
  against.
- ``GET /livez`` (and ``/healthz``, kept for existing probes): 200 while the process's event loop
  answers; it says nothing about the broker, so a liveness probe never restarts a worker that
  is merely waiting for Kafka.
- ``GET /readyz``: 200 when the worker can do its work (``Pipeline.not_ready_reasons()`` is
  empty), else 503 with the reasons.

Responses and logs carry no mention text and no settings beyond the app id: a client sees the
field and reason of its own invalid items only.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from faust.web import Request, Response, View

from schemas.codec import DecodeError, encode_mention, mention_from_dict
from schemas.models import Mention
from streams.enrich import producer_key
from streams.event_time import future_dated_detail, future_excess_ms

if TYPE_CHECKING:
    from agents.app import Pipeline

log = logging.getLogger("mentionwatch")

MAX_BODY_BYTES = 16 * 1024 * 1024


def validate_items(items: list[Any], *, received_ms: int, max_record_bytes: int,
                   max_future_ms: int) -> tuple[list[tuple[Mention, bytes]], list[dict[str, Any]]]:
    """Each item → (mention, its encoded record), or an error
    ``{"index", "reason", "field", "detail"}``. Pure: the time of receipt is passed in."""
    accepted: list[tuple[Mention, bytes]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            mention = mention_from_dict(item)
            value = encode_mention(mention)
            if len(value) > max_record_bytes:
                raise DecodeError("too_large", f"encoded mention is over {max_record_bytes} "
                                  "bytes")
            if future_excess_ms(mention.created_at_ms, received_ms, max_future_ms) is not None:
                raise DecodeError("future_dated", future_dated_detail(
                    mention.created_at_ms, received_ms, max_future_ms,
                    produced_as="the time it was received"), field="$.created_at")
            accepted.append((mention, value))
        except DecodeError as error:
            errors.append({"index": index, "reason": error.reason, "field": error.field,
                           "detail": error.detail})
    return accepted, errors


async def post_mentions(pipeline: Pipeline, view: View, request: Request) -> Response:
    # One instant for the check and the records' timestamp, computed as faust converts it
    # (int(seconds * 1000)): the worker then sees exactly the produced time checked here.
    received_s = time.time()
    received_ms = int(received_s * 1000.0)
    body = await request.read()
    if len(body) > MAX_BODY_BYTES:
        return view.json({"error": "request body over 16 MiB"}, status=413)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return view.json({"accepted": 0, "rejected": 1,
                          "errors": [{"index": None, "reason": "not_json",
                                      "detail": f"not valid JSON: {exc}"}]}, status=400)
    items = payload if isinstance(payload, list) else [payload]
    settings = pipeline.settings
    accepted, errors = validate_items(items, received_ms=received_ms,
                                      max_record_bytes=settings.max_record_bytes,
                                      max_future_ms=int(settings.max_future_s * 1000))
    if errors:
        # All or nothing: the client fixes the batch and resends it whole.
        return view.json({"accepted": 0, "rejected": len(errors), "errors": errors},
                         status=400)
    try:
        futures = [
            await pipeline.raw_topic.send(key=producer_key(m, pipeline.brands).encode(),
                                          value=value, timestamp=received_s)
            for m, value in accepted
        ]
        for fut in futures:
            await fut
    except Exception as exc:  # the broker refused or is unreachable: say so, retry is safe
        log.warning("POST /mentions: %d mentions not confirmed by the broker: %s",
                    len(accepted), type(exc).__name__)
        return view.json({"accepted": 0, "rejected": 0, "error": "the broker did not confirm "
                          "the batch; resend it (the same ids are counted once)"},
                         status=503)
    return view.json({"accepted": len(accepted), "rejected": 0}, status=202)


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


def register_web(pipeline: Pipeline) -> None:
    """Add the views to the pipeline's faust app."""
    app = pipeline.app
    app_id = pipeline.settings.app_id

    class MentionsView(View):
        async def post(self, request: Request) -> Response:
            return await post_mentions(pipeline, self, request)

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
