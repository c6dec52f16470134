"""The worker's HTTP views (agents/web.py): liveness, readiness and ingest, against a real
worker on the real broker; the pure parts (validation, readiness answer) directly."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import orjson
import pytest
from conftest import Stack, consume_all

from agents.web import readiness, validate_items
from streams.audit import iso_ms
from streams.demo import generate

NOW = 1_790_000_000_000
TOL = 300_000


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _mentions(n: int, start_ms: int) -> list[dict[str, Any]]:
    return list(generate(seed=11, start_ms=start_ms, count=n, rate_per_s=1, id_prefix="web"))


# -- pure parts ---------------------------------------------------------------------------------

def test_validation_rejects_future_dated_items_like_other_errors() -> None:
    good = _mentions(3, NOW - 60_000)
    items = [good[0], {**good[1], "created_at": iso_ms(NOW + TOL + 1)},
             {**good[2], "created_at": iso_ms(NOW + TOL)}, {**good[0], "author": {"id": "x"}}]
    accepted, errors = validate_items(items, received_ms=NOW, max_record_bytes=64 * 1024,
                                      max_future_ms=TOL)
    assert [m.id for m, _ in accepted] == [good[0]["id"], good[2]["id"]]  # at the limit: fine
    assert [(e["index"], e["reason"], e["field"]) for e in errors] == [
        (1, "future_dated", "$.created_at"), (3, "schema_violation", "$.author.handle")]
    assert errors[0]["detail"] == (
        "created_at 2026-09-21T14:18:20.001Z is more than 300s ahead of the time it was "
        "received, 2026-09-21T14:13:20.000Z, by 0.001s (MENTIONWATCH_MAX_FUTURE_SECONDS)")


class _FakePipeline:
    def __init__(self, reasons: list[str] | Exception) -> None:
        self.reasons = reasons

    def not_ready_reasons(self) -> list[str]:
        if isinstance(self.reasons, Exception):
            raise self.reasons
        return self.reasons


@pytest.mark.parametrize(("reasons", "expected"), [
    ([], (200, {"status": "ready"})),
    (["no partition of the work topics is assigned to this worker"],
     (503, {"status": "not_ready",
            "reasons": ["no partition of the work topics is assigned to this worker"]})),
    (RuntimeError("secret=hunter2"),
     (503, {"status": "not_ready", "reasons": ["the readiness check failed: RuntimeError"]})),
])
def test_readiness_answer(reasons: list[str] | Exception,
                          expected: tuple[int, dict[str, Any]]) -> None:
    assert readiness(_FakePipeline(reasons)) == expected  # type: ignore[arg-type]


# -- a real worker --------------------------------------------------------------------------------

def test_livez_healthz_and_readyz_of_a_running_worker(stack: Stack) -> None:
    worker = stack.start_worker()
    assert _get(f"{worker.url}/livez") == (200, {"status": "ok"})
    assert _get(f"{worker.url}/healthz") == (200, {"status": "ok",
                                                   "app": stack.env["MENTIONWATCH_APP_ID"]})
    deadline = time.monotonic() + 90
    seen: list[tuple[int, dict[str, Any]]] = []
    while time.monotonic() < deadline:
        seen.append(_get(f"{worker.url}/readyz"))
        if seen[-1][0] == 200:
            break
        status, body = seen[-1]
        assert status == 503 and body["status"] == "not_ready" and body["reasons"], body
        time.sleep(0.5)
    assert seen[-1] == (200, {"status": "ready"}), (seen[-3:], worker.log())


def test_a_future_dated_post_is_rejected_and_nothing_of_its_batch_written(stack: Stack) -> None:
    worker = stack.start_worker()
    now_ms = int(time.time() * 1000)
    good = _mentions(3, now_ms - 600_000)
    far = {**good[1], "id": "far", "created_at": "2099-01-01T00:00:00Z"}
    status, body = _post(f"{worker.url}/mentions", orjson.dumps(far))
    assert status == 400, body
    assert body["accepted"] == 0 and body["rejected"] == 1
    error = body["errors"][0]
    assert (error["index"], error["reason"], error["field"]) == (0, "future_dated",
                                                                 "$.created_at")
    assert error["detail"].startswith("created_at 2099-01-01T00:00:00.000Z is more than 300s "
                                      "ahead of the time it was received, ")
    assert far["text"] not in json.dumps(body)  # no customer text in the answer
    # All or nothing: one future-dated item stops the valid ones with it.
    status, body = _post(f"{worker.url}/mentions", orjson.dumps([good[0], far]))
    assert status == 400 and (body["accepted"], body["rejected"]) == (0, 1)
    assert body["errors"][0]["index"] == 1
    # A valid batch goes through, stamped with the time it was received.
    before = int(time.time() * 1000)
    status, body = _post(f"{worker.url}/mentions", orjson.dumps(good))
    after = int(time.time() * 1000)
    assert (status, body) == (202, {"accepted": 3, "rejected": 0})
    raw = consume_all(stack.bootstrap, stack.topic("mentions.raw"), expected=3, timeout_s=30)
    assert sorted(orjson.loads(r.value)["id"] for r in raw) == sorted(m["id"] for m in good)
    assert all(before <= r.timestamp <= after for r in raw), [r.timestamp for r in raw]
    assert len({r.timestamp for r in raw}) == 1  # one instant per request
    assert worker.alive()
