"""The care team's queue over HTTP without a broker: the worker's own aiohttp application served
in this process, its snapshot filled by hand. Escaping, headers, tokens, refusals, the fan-out to
other workers (fakes on loopback: one answers, one is too slow, one answers nonsense), and the
worker refusing to start exposed without a queue token."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import free_port
from test_web_security import _run_worker_cli, serve

from agents import faust_compat
from agents.config import load_settings
from schemas.models import Author, Mention
from schemas.queue_codec import local_to_json
from streams.brands import default_brand_config
from streams.queue import LocalQueue, capture_states, entries
from streams.tracking import apply_post, post_from_mention, state_key

INGEST_TOKEN = "s3cret-ingest-token-0123456789"
QUEUE_TOKEN = "s3cret-queue-token-9876543210"
XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
       '"><svg onload=alert(1)>', "javascript:alert(1)"]
T0 = int(time.time() * 1000) - 2 * 3_600_000


def _pipeline(home: Path, **env: str) -> Any:
    from agents.worker import build_pipeline

    settings = load_settings({"MENTIONWATCH_HOME": str(home), "MENTIONWATCH_STORE": "memory://",
                              "MENTIONWATCH_PARTITIONS": "2",
                              "MENTIONWATCH_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
                              **env})
    pipeline = build_pipeline(settings)
    config = default_brand_config()
    posts = [post_from_mention(Mention(
        id=f"{1000 + i}", platform="x", brand="acme",
        author=Author(id=f"c{i}", handle=f"<b>h{i}</b>", is_brand=False), text=text,
        created_at="", created_at_ms=T0 + i * 60_000,
        url="javascript:alert(2)" if i == 1 else None, followers=i), True, config)
        for i, text in enumerate(XSS)]
    states = []
    for p in posts:
        state, _ = apply_post(None, p, config, T0 + 10 * 60_000)
        states.append(state)
    assert {state_key(p) for p in posts} == {s.key for s in states}
    cap = capture_states(states, config, T0 + 10 * 60_000, partition=0)
    pipeline.tracker.queue_capture = type(cap)(cap.wall_ms, frozenset({0, 1}), cap.complaints)
    return pipeline


@pytest.fixture(scope="module")
def open_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield _pipeline(tmp_path_factory.mktemp("queue-open"))


@pytest.fixture(scope="module")
def token_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield _pipeline(tmp_path_factory.mktemp("queue-token"), MENTIONWATCH_QUEUE_TOKEN=QUEUE_TOKEN,
                    MENTIONWATCH_INGEST_TOKEN=INGEST_TOKEN)


async def _get(session: aiohttp.ClientSession, server: TestServer, path: str,
               headers: dict[str, str] | None = None, method: str = "GET"
               ) -> tuple[int, bytes, Any]:
    async with session.request(method, server.make_url(path), headers=headers or {},
                               allow_redirects=False) as resp:
        return resp.status, await resp.read(), resp.headers


def test_customer_text_is_escaped_and_the_page_allows_only_its_own_script(
        open_pipeline: Any) -> None:
    async def scenario(session: aiohttp.ClientSession, server: TestServer) -> None:
        status, body, headers = await _get(session, server, "/queue")
        assert status == 200, body
        page = body.decode()
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Frame-Options"] == "DENY"
        csp = headers["Content-Security-Policy"]
        nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]{16,})'", csp)
        assert nonce is not None and "unsafe-inline" not in csp and "default-src 'none'" in csp
        assert "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
        # Every script and style element carries the nonce; nothing else can run.
        assert re.findall(r"<script\b[^>]*>", page) == [f'<script nonce="{nonce.group(1)}">']
        assert re.findall(r"<style\b[^>]*>", page) == [f'<style nonce="{nonce.group(1)}">']
        # No markup from customer text: every payload appears escaped, never raw.
        for text in XSS[:3]:
            assert text not in page
            assert text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
                .replace('"', "&quot;") in page
        assert "<b>h0</b>" not in page and "&lt;b&gt;h0&lt;/b&gt;" in page
        tags = re.findall(r"<[a-zA-Z][^>]*>", page)
        assert not [t for t in tags if re.search(r"\son[a-z]+\s*=", t)]
        # Links: http(s) only, opened without referrer or opener. The javascript: url of
        # mention 1001 falls back to the link built from its id.
        links = re.findall(r'<a href="([^"]*)" rel="noopener noreferrer" target="_blank">',
                           page)
        assert links and all(href.startswith("https://x.com/") for href in links)
        assert "javascript:" not in re.sub(r"&lt;.*?&gt;|[^<>]*javascript:alert\(1\)", "", page)
        assert "4 complaints waiting" in page
        # A second page gets another nonce.
        _, _, again = await _get(session, server, "/queue")
        assert again["Content-Security-Policy"] != csp

    serve(open_pipeline, scenario)


def test_the_json_lists_the_snapshot_and_filters_it(open_pipeline: Any) -> None:
    async def scenario(session: aiohttp.ClientSession, server: TestServer) -> None:
        status, body, headers = await _get(session, server, "/queue.json")
        assert status == 200 and headers["X-Content-Type-Options"] == "nosniff"
        answer = orjson.loads(body)
        assert answer["count"] == 4 and [e["text"] for e in answer["entries"]] == XSS
        assert answer["complete"] is True and answer["partitions"] == {
            "total": 2, "covered": [0, 1], "missing": []}
        (worker,) = answer["workers"]
        assert worker["answered"] and worker["url"] == faust_compat.canonical_url(
            open_pipeline.app)
        assert answer["stale_since"] is None
        e = answer["entries"][1]
        assert e["link"] == "https://x.com/i/status/1001"  # not the javascript: url
        assert e["followers"] == 1 and e["author_handle"] == "<b>h1</b>"
        # Created 9 min before the snapshot, SLA 1 h: 51 min left.
        assert (e["age_s"], e["sla_remaining_s"], e["overdue"]) == (540, 3060, False)
        for query, n in (("?brand=acme", 4), ("?brand=other", 0), ("?platform=x", 4),
                         ("?platform=_other", 0), ("?brand=_unconfigured", 4),
                         ("?limit=2", 4)):
            status, body, _ = await _get(session, server, "/queue.json" + query)
            got = orjson.loads(body)
            assert (status, got["count"]) == (200, n), query
        assert len(orjson.loads((await _get(session, server, "/queue.json?limit=2"))[1])[
            "entries"]) == 2
        for bad in ("?limit=0", "?limit=x", "?brand=" + "b" * 65):
            status, body, _ = await _get(session, server, "/queue.json" + bad)
            assert (status, orjson.loads(body)["error"]) == (400, "bad_query"), bad
        status, body, _ = await _get(session, server, "/queue/local.json")
        local = orjson.loads(body)
        assert status == 200 and local["partitions"] == [0, 1] and len(local["entries"]) == 4

    serve(open_pipeline, scenario)


def test_read_only_and_loopback_names_only_without_a_token(open_pipeline: Any) -> None:
    async def scenario(session: aiohttp.ClientSession, server: TestServer) -> None:
        for path in ("/queue", "/queue.json", "/queue/local.json"):
            for method in ("POST", "PUT", "DELETE", "PATCH"):
                status, body, _ = await _get(session, server, path, method=method)
                assert status == 405, (path, method, body)
            # DNS rebinding: a page of evil.example resolving to 127.0.0.1.
            status, body, _ = await _get(session, server, path,
                                         {"Host": f"evil.example:{server.port}"})
            assert status == 403 and b"loopback" in body and b"alert" not in body
            status, _, _ = await _get(session, server, path, {"Host": f"localhost:{server.port}"})
            assert status == 200
            status, _, _ = await _get(session, server, path,
                                      {"Origin": "http://evil.example"})
            assert status == 403

    serve(open_pipeline, scenario)


def test_with_a_token_basic_or_bearer_is_required(token_pipeline: Any) -> None:
    def basic(user: str, password: str) -> dict[str, str]:
        raw = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    async def scenario(session: aiohttp.ClientSession, server: TestServer) -> None:
        for path in ("/queue", "/queue.json", "/queue/local.json"):
            status, body, headers = await _get(session, server, path)
            assert status == 401 and QUEUE_TOKEN.encode() not in body
            assert headers["WWW-Authenticate"].startswith('Basic realm="mentionwatch queue"')
            for wrong in (basic("care", QUEUE_TOKEN[:-1]), basic("admin", QUEUE_TOKEN),
                          basic("care", INGEST_TOKEN), {"Authorization": f"Bearer {INGEST_TOKEN}"},
                          {"Authorization": "Basic not-base64!"}):
                status, _, _ = await _get(session, server, path, wrong)
                assert status == 401, wrong
            for right in (basic("care", QUEUE_TOKEN), {"Authorization": f"Bearer {QUEUE_TOKEN}"}):
                status, body, _ = await _get(session, server, path, right)
                assert status == 200, body
                assert QUEUE_TOKEN.encode() not in body
                # With the token, other host names are fine (behind a proxy, in containers).
                status, _, _ = await _get(session, server, path,
                                          {**right, "Host": "queue.example"})
                assert status == 200

    serve(token_pipeline, scenario)


@pytest.mark.parametrize("with_token", [False, True])
def test_the_whole_queue_asks_every_worker_and_says_who_did_not_answer(
        open_pipeline: Any, token_pipeline: Any, with_token: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker B (partition 1) answers with its part; C is silent past the 2 s; D answers
    something that isn't a queue. The answer lists B's entries, names C and D, and is not
    complete while they hold partitions nobody else covers. With a queue token, the workers
    send it to each other."""
    pipeline = token_pipeline if with_token else open_pipeline
    auth = {"Authorization": f"Bearer {QUEUE_TOKEN}"} if with_token else {}
    own = faust_compat.canonical_url(pipeline.app)
    mine = pipeline.tracker.queue_capture  # this worker holds partition 0 only
    monkeypatch.setattr(pipeline.tracker, "queue_capture",
                        type(mine)(mine.wall_ms, frozenset({0}), mine.complaints))
    config = default_brand_config()
    other = post_from_mention(Mention(
        id="2001", platform="bluesky", brand="acme",
        author=Author(id="b1", handle="bee", is_brand=False), text="from worker B",
        created_at="", created_at_ms=T0 - 3_600_000), True, config)
    state, _ = apply_post(None, other, config, T0)
    cap = capture_states([state], config, T0, partition=1)
    part_b = LocalQueue("http://ignored", cap.wall_ms, frozenset({1}),
                        tuple(entries(cap, config)), {1: 1})
    assert [e.mention_id for e in part_b.entries] == ["2001"]
    seen: dict[str, Any] = {}

    async def b_view(request: web.Request) -> web.Response:
        seen["auth"] = request.headers.get("Authorization")
        seen["query"] = dict(request.query)
        return web.Response(body=local_to_json(part_b), content_type="application/json")

    async def c_view(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(text="late")

    async def d_view(request: web.Request) -> web.Response:
        return web.Response(text="<html>not a queue</html>", content_type="text/html")

    async def scenario(session: aiohttp.ClientSession, server: TestServer) -> None:
        fakes = []
        for view in (b_view, c_view, d_view):
            fake = web.Application()
            fake.router.add_get("/queue/local.json", view)
            fake_server = TestServer(fake)
            await fake_server.start_server()
            fakes.append(fake_server)
        b, c, d = (str(f.make_url("")).rstrip("/") for f in fakes)
        monkeypatch.setattr(faust_compat, "table_workers", lambda app, table: {
            own: frozenset({0}), b: frozenset({1}), c: frozenset({1}), d: frozenset()})
        try:
            started = time.monotonic()
            status, body, _ = await _get(session, server, "/queue.json?brand=acme", auth)
            elapsed = time.monotonic() - started
        finally:
            for f in fakes:
                await f.close()
        answer = orjson.loads(body)
        assert status == 200 and elapsed < 2.9, elapsed
        assert answer["count"] == 5
        assert "from worker B" in [e["text"] for e in answer["entries"]]
        workers = {w["url"]: w for w in answer["workers"]}
        assert workers[b]["answered"] and workers[b]["partitions"] == [1]
        assert (workers[c]["answered"], workers[c]["error"]) == (False, "no answer within 2s")
        assert (workers[d]["answered"], workers[d]["error"]) == (False,
                                                                 "its answer is not a queue")
        assert answer["complete"] is False  # C and D did not answer
        assert seen["query"] == {"brand": "acme"}
        assert seen["auth"] == (f"Bearer {QUEUE_TOKEN}" if with_token else None)

    serve(pipeline, scenario)


def test_a_worker_exposed_without_a_queue_token_refuses_to_start(tmp_path: Path) -> None:
    done = _run_worker_cli(tmp_path, MENTIONWATCH_WEB_HOST="0.0.0.0",
                           MENTIONWATCH_INGEST_TOKEN=INGEST_TOKEN)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "no queue token is set" in done.stderr and "MENTIONWATCH_QUEUE_TOKEN" in done.stderr
    assert INGEST_TOKEN not in done.stderr + done.stdout
    short = _run_worker_cli(tmp_path, MENTIONWATCH_QUEUE_TOKEN="short-queue")
    assert short.returncode != 0 and "at least 16" in short.stderr
    assert "short-queue" not in short.stderr


def test_the_canonical_url_other_workers_reach() -> None:
    import socket

    from agents.app import canonical_url
    from agents.config import ConfigError

    assert canonical_url(load_settings({})) == "http://127.0.0.1:6066"
    assert canonical_url(load_settings({"MENTIONWATCH_WEB_HOST": "::1",
                                        "MENTIONWATCH_WEB_PORT": "7000"})) == "http://[::1]:7000"
    wildcard = load_settings({"MENTIONWATCH_WEB_HOST": "0.0.0.0"})
    assert canonical_url(wildcard) == f"http://{socket.gethostname()}:6066"
    set_ = load_settings({"MENTIONWATCH_WEB_HOST": "0.0.0.0",
                          "MENTIONWATCH_WEB_CANONICAL_URL": "http://worker-1:6066/"})
    assert canonical_url(set_) == "http://worker-1:6066"
    for bad in ("worker-1:6066", "http://worker-1:6066/queue", "ftp://w:1",
                "http://user:pw@worker-1:6066"):
        with pytest.raises(ConfigError, match="MENTIONWATCH_WEB_CANONICAL_URL"):
            load_settings({"MENTIONWATCH_WEB_CANONICAL_URL": bad})
    with pytest.raises(ConfigError, match="MENTIONWATCH_QUEUE_TOKEN"):
        load_settings({"MENTIONWATCH_QUEUE_TOKEN": "x" * 15})
    assert "queue_token" not in repr(load_settings({"MENTIONWATCH_QUEUE_TOKEN": QUEUE_TOKEN}))
