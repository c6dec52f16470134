"""A small fuzz of POST /mentions on a real worker (issue 13): random bodies, headers, content
types, tokens, origins, and batches of valid and broken mentions. Every answer is JSON with a
status from the documented set; every id of an accepted request reaches mentions.enriched exactly
once; no id of a refused request reaches it (or mentions.raw); nothing is dead-lettered.
Derandomized and a fixed number of examples, so CI sees the same requests every run."""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import orjson
from conftest import Stack, consume_all
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.demo import generate

TOKEN = "fuzz-ingest-token-0123456789"
STATUSES = {202, 400, 401, 403, 413, 415}
EXAMPLES = 120

_ids = itertools.count()


def _valid(prefix: str) -> dict[str, Any]:
    start = int(time.time() * 1000) - 3_600_000
    mention = next(generate(seed=next(_ids), start_ms=start, count=1, rate_per_s=1))
    return {**mention, "id": f"{prefix}-{next(_ids)}"}


BREAKERS: dict[str, Any] = {
    "ok": lambda m: m,
    "future": lambda m: {**m, "created_at": "2099-01-01T00:00:00Z"},
    "no_text": lambda m: {k: v for k, v in m.items() if k != "text"},
    "bad_author": lambda m: {**m, "author": {"id": 7}},
    "extra": lambda m: {**m, "extra": 1},
    "version": lambda m: {**m, "schema_version": 2},
    "escaped_big": lambda m: {**m, "text": "\x01" * 12_000},  # 72 KB encoded: too_large
    "long_text": lambda m: {**m, "text": "x" * 20_001},
    "unroutable": lambda m: {**m, "author": {**m["author"], "is_brand": True},
                             "in_reply_to": "p1", "in_reply_to_author_id": None},
    "bad_date": lambda m: {**m, "created_at": "yesterday"},
    "not_object": lambda m: [m["id"]],
}

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
mention_kinds = st.one_of(st.lists(st.just("ok"), min_size=1, max_size=5),
                          st.lists(st.sampled_from(sorted(BREAKERS)), min_size=1, max_size=6))
body_kinds = st.one_of(
    mention_kinds.map(lambda kinds: ("mentions", kinds, None)),
    mention_kinds.map(lambda kinds: ("mentions", kinds, None)),
    st.binary(max_size=300).map(lambda raw: ("bytes", [], raw)),
    texts.map(lambda t: ("text", [], t)),
    st.recursive(st.none() | st.booleans() | st.integers() | texts,
                 lambda inner: st.lists(inner, max_size=4)
                 | st.dictionaries(texts, inner, max_size=4),
                 max_leaves=10).map(lambda v: ("json", [], v)),
)
content_types = st.sampled_from([
    "application/json", "application/json; charset=utf-8", "text/plain",
    "application/x-www-form-urlencoded", None])
tokens = st.sampled_from(["right", "right", "right", "wrong", "none", "basic"])
origins = st.sampled_from([None, None, "own", "http://evil.example", "null"])
methods = st.sampled_from(["POST"] * 6 + ["GET", "PUT", "OPTIONS"])
# Most requests are shaped like a real client's (POST, JSON, the token, no foreign Origin), so
# the body decides and accepted batches are common; the rest get random headers.
proper_headers = st.sampled_from([True, True, False])


def _send(port: int, method: str, body: bytes | None, headers: dict[str, str]
          ) -> tuple[int, bytes, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/mentions", data=body,
                                     method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


def test_fuzz_post_mentions(stack: Stack) -> None:
    worker = stack.start_worker(MENTIONWATCH_INGEST_TOKEN=TOKEN)
    accepted: list[str] = []
    refused: list[str] = []
    statuses: Counter[int] = Counter()

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=body_kinds, proper=proper_headers, content_type=content_types, token=tokens,
           origin=origins, method=methods)
    def one_request(body: tuple[str, list[str], Any], proper: bool, content_type: str | None,
                    token: str, origin: str | None, method: str) -> None:
        kind, mention_kinds_, value = body
        if proper:
            method, content_type, token = "POST", "application/json", "right"
            origin = origin if origin in (None, "own") else None
        ids: list[str] = []
        if kind == "mentions":
            items = []
            for breaker in mention_kinds_:
                mention = _valid("fz")
                broken = BREAKERS[breaker](mention)
                items.append(broken)
                ids.append(mention["id"])
            payload: bytes | None = orjson.dumps(items if len(items) > 1 else items[0])
        elif kind == "bytes":
            payload = value
        elif kind == "text":
            payload = value.encode()
        else:
            payload = orjson.dumps(value)
        headers: dict[str, str] = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if token == "right":
            headers["Authorization"] = f"Bearer {TOKEN}"
        elif token == "wrong":
            headers["Authorization"] = f"Bearer {TOKEN[::-1]}"
        elif token == "basic":
            headers["Authorization"] = "Basic dXNlcjpwYXNz"
        if origin == "own":
            headers["Origin"] = worker.url
        elif origin is not None:
            headers["Origin"] = origin
        status, raw, answer_type = _send(worker.web_port, method,
                                         payload if method in ("POST", "PUT") else None,
                                         headers)
        assert answer_type.startswith("application/json"), (status, raw[:200])
        answer = json.loads(raw)
        assert isinstance(answer, dict)
        statuses[status] += 1
        if method != "POST":
            assert status == 405 and answer["error"] == "method_not_allowed", answer
            refused.extend(ids)
            return
        assert status in STATUSES, (status, answer)
        if status == 202:
            assert kind == "mentions" and set(mention_kinds_) == {"ok"}, (mention_kinds_,
                                                                          answer)
            assert answer == {"accepted": len(ids), "rejected": 0}
            assert token == "right" and origin in (None, "own")
            accepted.extend(ids)
        else:
            assert "error" in answer and isinstance(answer.get("detail"), str), answer
            refused.extend(ids)
            if (kind == "mentions" and set(mention_kinds_) == {"ok"} and token == "right"
                    and origin in (None, "own") and content_type is not None
                    and content_type.startswith("application/json")):
                raise AssertionError(f"a valid request was refused: {status} {answer}")

    one_request()
    print(f"statuses: {dict(sorted(statuses.items()))}; {len(accepted)} ids accepted, "
          f"{len(refused)} refused")
    assert statuses[202] >= 3 and len(statuses) >= 5, statuses  # the fuzz reached both sides
    enriched = consume_all(stack.bootstrap, stack.topic("mentions.enriched"),
                           expected=len(accepted), timeout_s=120)
    counts = Counter(orjson.loads(r.value)["mention"]["id"] for r in enriched)
    assert counts == Counter(accepted), (counts, accepted)
    raw = consume_all(stack.bootstrap, stack.topic("mentions.raw"), expected=len(accepted))
    assert not {orjson.loads(r.value)["id"] for r in raw} & set(refused)
    assert consume_all(stack.bootstrap, stack.topic("mentions.dlq"), expected=0) == []
    assert worker.alive()
