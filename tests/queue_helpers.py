"""Helpers of the care team's queue tests on the real broker: mentions, HTTP, metrics."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from conftest import Worker

from streams.audit import iso_ms

T = TypeVar("T")
COMPLAINTS = [
    "my internet is down again, terrible service",
    "Mein Zug fällt schon wieder aus, seit 40 Minuten keine Info. Unverschämt!",
    "my package never arrived, this is unacceptable",
    "still broken after three calls, worst support ever",
]
PRAISE = "thanks, great job"


def mention(mid: str, customer: str, text: str, *, brand: str = "acme",
            created_ms: int | None = None, **extra: Any) -> dict[str, Any]:
    created = created_ms if created_ms is not None else int(time.time() * 1000) - 30_000
    return {"schema_version": 1, "id": mid, "platform": "x", "brand": brand,
            "author": {"id": customer, "handle": f"{customer}_h", "is_brand": False},
            "text": text, "created_at": iso_ms(created), **extra}


def brand_reply(mid: str, to: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": 1, "id": mid, "platform": to["platform"], "brand": to["brand"],
            "author": {"id": "acme_help", "handle": "acme_help", "is_brand": True},
            "text": "Sorry! We are on it.", "created_at": iso_ms(int(time.time() * 1000)),
            "lang": "en", "in_reply_to": to["id"], "in_reply_to_author_id": to["author"]["id"]}


def request(url: str, body: Any = None, headers: dict[str, str] | None = None,
            timeout: float = 30) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def post_mentions(worker: Worker, items: list[dict[str, Any]]) -> None:
    status, body = request(f"{worker.url}/mentions", items)
    assert status == 202, body


def queue(worker: Worker, path: str = "/queue.json") -> dict[str, Any]:
    status, body = request(f"{worker.url}{path}", timeout=10)
    assert status == 200, body
    answer: dict[str, Any] = json.loads(body)
    return answer


def metric_sum(worker: Worker, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics_port}/metrics",
                                timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{"))


def local_count(worker: Worker) -> int:
    return sum(queue(worker, "/queue/local.json")["counts"].values())


def same_instant_counts(worker: Worker, tries: int = 20) -> tuple[int, float]:
    """The worker's local queue count and its mentionwatch_complaints_open sum, read between
    two equal scrapes (nothing changed meanwhile): they must be equal."""
    for _ in range(tries):
        before = metric_sum(worker, "mentionwatch_complaints_open")
        count = local_count(worker)
        after = metric_sum(worker, "mentionwatch_complaints_open")
        if before == after:
            return count, after
        time.sleep(0.2)
    raise AssertionError("the gauges never held still")


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 30,
             every_s: float = 0.25, explain: Callable[[], str] | None = None) -> T:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (OSError, AssertionError) as exc:
            last = exc
        else:
            if last:
                return last  # type: ignore[no-any-return]
        time.sleep(every_s)
    raise AssertionError(f"{what}: not within {timeout_s}s (last: {last!r})"
                         + (f"; {explain()}" if explain else ""))
