"""Local stand-ins for the platforms the sources read, for tests that must not reach the
internet: a Bluesky Jetstream (``FakeJetstream``) and a Mastodon instance (``FakeMastodon``,
REST and streaming). Each is an aiohttp server on 127.0.0.1 and a free port, run in a
background thread with its own asyncio loop; the test thread drives it through thread-safe
methods (append frames, post statuses, drop connections) and reads what it saw (the cursors
asked for, the requests made).

Every frame, status and account is written here by hand from the formats' documentation
(Jetstream's README, the atproto lexicons app.bsky.feed.post and app.bsky.richtext.facet,
docs.joinmastodon.org's entities and streaming API); nothing is captured data.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import WSMsgType, web

__all__ = [
    "FakeJetstream",
    "FakeMastodon",
    "JetConnection",
    "account_frame",
    "delete_frame",
    "did",
    "identity_frame",
    "iso",
    "like_frame",
    "mention_facet",
    "post_frame",
    "post_uri",
    "quote_embed",
    "reply_ref",
    "tag_facet",
    "update_frame",
]

POST = "app.bsky.feed.post"
_CID = "bafyreih4fakefakefakefakefakefakefakefakefakefakefakefake4"


def iso(ms: int) -> str:
    """Epoch ms → RFC 3339 UTC with milliseconds, as Bluesky's and Mastodon's clients write."""
    return (datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"))


# -- Jetstream frames ------------------------------------------------------------------------

def did(name: str) -> str:
    """A did:plc made up from a name (24 base32 characters, as the method requires)."""
    digest = base64.b32encode(hashlib.sha256(name.encode()).digest()).decode().lower()
    return f"did:plc:{digest[:24]}"


def post_uri(author: str, rkey: str) -> str:
    return f"at://{author}/{POST}/{rkey}"


def reply_ref(parent: str, root: str | None = None) -> dict[str, Any]:
    """A post record's `reply` (strong refs to the parent and the thread's root)."""
    return {"root": {"uri": root or parent, "cid": _CID}, "parent": {"uri": parent, "cid": _CID}}


def _byte_range(text: str, span: str) -> tuple[int, int]:
    data, part = text.encode(), span.encode()
    start = data.index(part)
    return start, start + len(part)


def mention_facet(text: str, span: str, mentioned: str) -> dict[str, Any]:
    """A mention facet over the first occurrence of `span` in `text` (UTF-8 byte offsets)."""
    start, end = _byte_range(text, span)
    return {"$type": "app.bsky.richtext.facet", "index": {"byteStart": start, "byteEnd": end},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": mentioned}]}


def tag_facet(text: str, span: str, tag: str) -> dict[str, Any]:
    start, end = _byte_range(text, span)
    return {"$type": "app.bsky.richtext.facet", "index": {"byteStart": start, "byteEnd": end},
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}]}


def quote_embed(uri: str) -> dict[str, Any]:
    return {"$type": "app.bsky.embed.record", "record": {"uri": uri, "cid": _CID}}


def _commit(author: str, time_us: int, operation: str, collection: str, rkey: str,
            record: dict[str, Any] | None) -> dict[str, Any]:
    commit: dict[str, Any] = {"rev": f"3l{time_us % 10**11:011d}", "operation": operation,
                              "collection": collection, "rkey": rkey}
    if record is not None:
        commit["record"] = record
        commit["cid"] = _CID
    return {"did": author, "time_us": time_us, "kind": "commit", "commit": commit}


def post_frame(author: str, rkey: str, time_us: int, text: str, *, created_ms: int | None = None,
               reply: dict[str, Any] | None = None, facets: list[dict[str, Any]] | None = None,
               embed: dict[str, Any] | None = None, langs: list[str] | None = None,
               tags: list[str] | None = None) -> dict[str, Any]:
    """A commit creating an app.bsky.feed.post; createdAt defaults to the frame's time."""
    record: dict[str, Any] = {"$type": POST, "text": text,
                              "createdAt": iso(created_ms if created_ms is not None
                                               else time_us // 1000)}
    for key, value in (("reply", reply), ("facets", facets), ("embed", embed),
                       ("langs", langs), ("tags", tags)):
        if value is not None:
            record[key] = value
    return _commit(author, time_us, "create", POST, rkey, record)


def delete_frame(author: str, rkey: str, time_us: int) -> dict[str, Any]:
    return _commit(author, time_us, "delete", POST, rkey, None)


def update_frame(author: str, rkey: str, time_us: int, text: str) -> dict[str, Any]:
    return _commit(author, time_us, "update", POST, rkey,
                   {"$type": POST, "text": text, "createdAt": iso(time_us // 1000)})


def like_frame(author: str, rkey: str, time_us: int, subject: str) -> dict[str, Any]:
    return _commit(author, time_us, "create", "app.bsky.feed.like", rkey,
                   {"$type": "app.bsky.feed.like", "subject": {"uri": subject, "cid": _CID},
                    "createdAt": iso(time_us // 1000)})


def identity_frame(author: str, time_us: int, handle: str) -> dict[str, Any]:
    return {"did": author, "time_us": time_us, "kind": "identity",
            "identity": {"did": author, "handle": handle, "seq": time_us % 10**9,
                         "time": iso(time_us // 1000)}}


def account_frame(author: str, time_us: int, active: bool = True) -> dict[str, Any]:
    return {"did": author, "time_us": time_us, "kind": "account",
            "account": {"active": active, "did": author, "seq": time_us % 10**9,
                        "time": iso(time_us // 1000)}}


# -- the server thread -----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _ServerThread:
    """An aiohttp application served on 127.0.0.1 by a thread running its own event loop."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = _free_port()
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, name=f"fake-{self.port}", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._cleanup())
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    async def _start(self) -> None:
        # shutdown_timeout: live websockets are cut at stop, not waited for.
        self._runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError(f"fake server did not start: {self._error!r}")

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(15)

    def call(self, fn: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
        """Run a coroutine in the server's loop from the test thread; its result."""
        async def runner() -> Any:
            return await fn()

        return asyncio.run_coroutine_threadsafe(runner(), self.loop).result(timeout)


async def _read_until_closed(ws: web.WebSocketResponse,
                             on_text: Callable[[str], None] | None = None) -> None:
    """Reads what the client sends (answering its pings and its close) until it goes."""
    with contextlib.suppress(Exception):
        async for message in ws:
            if message.type is WSMsgType.TEXT and on_text is not None:
                on_text(message.data)


def _abort(request: web.Request) -> None:
    """Cut the TCP connection without a websocket close: a network fault, as the client sees
    it when a server or a proxy in between goes away."""
    transport = request.transport
    if transport is not None:
        transport.abort()


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")


# -- Jetstream -------------------------------------------------------------------------------

@dataclass
class JetConnection:
    """One client connection to the fake Jetstream: the cursor it asked for (None: live) and
    the time_us of every frame sent to it, in order."""

    number: int
    cursor: int | None
    query: dict[str, list[str]]
    sent: list[int] = field(default_factory=list)
    dropped: bool = False  # cut by the fake (drop_after)
    closed: bool = False


class FakeJetstream:
    """Jetstream's ``/subscribe`` websocket: frames (JSON text) in the order of their time_us.

    A connection with ``?cursor=T`` gets every frame whose time_us >= T, then whatever is
    appended later; one without a cursor starts at ``live_index`` (default: the end at the
    time of connecting, i.e. only what is appended from then on). ``pace_s`` is the pause
    between frames. ``drop_after[n] = k`` cuts connection number n (0-based, in connecting
    order) after it was sent k frames. A frame that is not JSON is stored with a time_us of the
    test's choosing, so cursors treat it like the frames around it."""

    def __init__(self, *, pace_s: float = 0.01, live_index: int | None = None) -> None:
        self.pace_s = pace_s
        self.live_index = live_index
        self.drop_after: dict[int, int] = {}
        self.connections: list[JetConnection] = []
        self._frames: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        app = web.Application()
        app.router.add_get("/subscribe", self._subscribe)
        self._server = _ServerThread(app)

    # the test's side

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.port}"

    def start(self) -> FakeJetstream:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeJetstream:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def append(self, *frames: Mapping[str, Any]) -> None:
        """Frames as JSON objects (each with its time_us), in time order."""
        with self._lock:
            for frame in frames:
                time_us = frame["time_us"]
                assert not self._frames or time_us >= self._frames[-1][0], "out of order"
                self._frames.append((time_us, orjson.dumps(frame).decode()))

    def append_raw(self, text: str, time_us: int) -> None:
        """A frame sent as given (malformed JSON, say), placed at `time_us` for cursors."""
        with self._lock:
            assert not self._frames or time_us >= self._frames[-1][0], "out of order"
            self._frames.append((time_us, text))

    def trim(self, before_us: int) -> int:
        """Forget the frames older than `before_us` (Jetstream keeps only so much): a cursor
        before the oldest kept frame starts there. Returns how many were dropped."""
        with self._lock:
            kept = [f for f in self._frames if f[0] >= before_us]
            dropped = len(self._frames) - len(kept)
            self._frames = kept
            return dropped

    @property
    def frame_count(self) -> int:
        with self._lock:
            return len(self._frames)

    def snapshot(self) -> list[JetConnection]:
        with self._lock:
            return [JetConnection(c.number, c.cursor, c.query, list(c.sent), c.dropped,
                                  c.closed) for c in self.connections]

    def wait_connections(self, n: int, timeout_s: float = 30) -> None:
        _wait(lambda: len(self.snapshot()) >= n, timeout_s, f"{n} connections")

    def wait_sent(self, connection: int, count: int, timeout_s: float = 30) -> None:
        def enough() -> bool:
            snap = self.snapshot()
            return len(snap) > connection and len(snap[connection].sent) >= count

        _wait(enough, timeout_s, f"{count} frames sent on connection {connection}")

    # the server's side

    async def _subscribe(self, request: web.Request) -> web.StreamResponse:
        raw_cursor = request.query.get("cursor")
        cursor = int(raw_cursor) if raw_cursor and raw_cursor.isdigit() else None
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self._lock:
            conn = JetConnection(len(self.connections), cursor,
                                 {k: request.query.getall(k) for k in request.query})
            self.connections.append(conn)
            if cursor is None:
                index = len(self._frames) if self.live_index is None else self.live_index
            else:
                index = next((i for i, (t, _) in enumerate(self._frames) if t >= cursor),
                             len(self._frames))
            limit = self.drop_after.get(conn.number)
        reader = asyncio.ensure_future(_read_until_closed(ws))
        try:
            while not reader.done():
                with self._lock:
                    frame = self._frames[index] if index < len(self._frames) else None
                if frame is None:
                    await asyncio.sleep(0.01)
                    continue
                try:
                    await ws.send_str(frame[1])
                except (ConnectionError, RuntimeError):
                    break
                index += 1
                with self._lock:
                    conn.sent.append(frame[0])
                if limit is not None and len(conn.sent) >= limit:
                    with self._lock:
                        conn.dropped = True
                    _abort(request)
                    break
                if self.pace_s:
                    await asyncio.sleep(self.pace_s)
        finally:
            with self._lock:
                conn.closed = True
            reader.cancel()
        return ws


# -- Mastodon --------------------------------------------------------------------------------

@dataclass
class Request:
    """A REST request as the fake saw it, and the status it answered."""

    number: int  # 1-based, in arrival order
    path: str
    query: list[tuple[str, str]]
    status: int
    authorization: str | None


class _Stream:
    """One streaming websocket: its subscriptions and the queue of messages to send."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.subscriptions: set[tuple[str, ...]] = set()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: list[str] = []


class FakeMastodon:
    """A Mastodon instance: the REST endpoints a source needs and the streaming API.

    Statuses get snowflake ids (created_at in ms << 16, as Mastodon's timestamp_id), ordered
    like their creation; notifications get a plain increasing sequence, as on a real instance
    (``notification_ids="snowflake"`` gives them time-based ids instead). Lists follow
    Mastodon's paging: ``min_id`` gives the items just above it, ``max_id`` those just below,
    neither the newest; always newest first, at most ``limit``.

    Every request but /api/v2/instance needs ``Authorization: Bearer <token>`` (401
    otherwise); responses carry
    X-RateLimit-Limit/Remaining/Reset; ``fail_429_on`` holds REST request numbers answered with
    429 and Retry-After: 1. ``post`` pushes a status to the live streams (notification for a
    mention of the brand, update to the author's own user stream and to hashtag subscribers)
    unless ``stream=False`` (made while nobody listened); ``drop_streams`` cuts them."""

    def __init__(self, token: str, *, username: str = "acme", notification_ids: str = "sequential",
                 rate_remaining: int = 280) -> None:
        self.token = token
        self.notification_ids = notification_ids
        self.rate_remaining = rate_remaining
        self.fail_429_on: set[int] = set()
        self.requests: list[Request] = []
        self.stream_connections = 0
        self.stream_refusals = 0
        self._sent_closed = 0  # messages sent on streams that are gone
        self._lock = threading.Lock()
        self._accounts: dict[str, dict[str, Any]] = {}
        self._statuses: dict[str, dict[str, Any]] = {}
        self._deleted: set[str] = set()
        self._notifications: list[dict[str, Any]] = []
        self._streams: list[_Stream] = []
        self._ids = itertools.count(1)
        self._notification_seq = itertools.count(4711)
        app = web.Application()
        app.router.add_get("/api/v1/accounts/verify_credentials", self._verify_credentials)
        app.router.add_get("/api/v2/instance", self._instance)
        app.router.add_get("/api/v1/notifications", self._notifications_list)
        app.router.add_get("/api/v1/accounts/{id}/statuses", self._account_statuses)
        app.router.add_get("/api/v1/timelines/tag/{tag}", self._tag_timeline)
        app.router.add_get("/api/v1/statuses/{id}", self._status)
        app.router.add_get("/api/v1/streaming", self._streaming)
        app.router.add_get("/api/v1/streaming/", self._streaming)
        self._server = _ServerThread(app)
        self.brand = self.account(username)

    # the test's side

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def domain(self) -> str:
        return "127.0.0.1"

    def start(self) -> FakeMastodon:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeMastodon:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def account(self, username: str, domain: str | None = None, *,
                followers: int = 12) -> dict[str, Any]:
        """A local account (domain None: acct is the bare username) or a remote one."""
        with self._lock:
            n = next(self._ids)
        host = domain or "127.0.0.1"
        acct = username if domain is None else f"{username}@{domain}"
        account: dict[str, Any] = {"id": str(100_000 + n), "username": username, "acct": acct,
            "display_name": username.title(), "url": f"https://{host}/@{username}",
            "followers_count": followers, "following_count": 3, "statuses_count": 0,
            "bot": False, "locked": False}
        with self._lock:
            self._accounts[account["id"]] = account
        return account

    def post(self, author: Mapping[str, Any], text: str, *, created_ms: int,
             mentions: Iterable[Mapping[str, Any]] = (), tags: Iterable[str] = (),
             in_reply_to: Mapping[str, Any] | None = None, visibility: str = "public",
             language: str | None = "de", spoiler: str = "", stream: bool = True
             ) -> dict[str, Any]:
        """A status by `author`; its HTML is the text with mentions and hashtags as links."""
        mentions = list(mentions)
        if in_reply_to is not None and all(m["id"] != in_reply_to["account"]["id"]
                                           for m in mentions):
            mentions.insert(0, dict(in_reply_to["account"]))  # a reply mentions its parent
        tag_list = list(tags)
        parts = [f'<span class="h-card"><a href="{m["url"]}" class="u-url mention">@<span>'
                 f'{m["username"]}</span></a></span>' for m in mentions]
        parts.append(_html_escape(text))
        parts += [f'<a href="https://127.0.0.1/tags/{t}" class="mention hashtag" rel="tag">#'
                  f'<span>{t}</span></a>' for t in tag_list]
        with self._lock:
            status_id = str((created_ms << 16) | (next(self._ids) & 0xFFFF))
        host = author["url"].split("/")[2]
        status = {
            "id": status_id,
            "uri": f"https://{host}/users/{author['username']}/statuses/{status_id}",
            "url": f"https://{host}/@{author['username']}/{status_id}",
            "created_at": iso(created_ms),
            "account": dict(author),
            "content": "<p>" + " ".join(parts) + "</p>",
            "spoiler_text": spoiler,
            "visibility": visibility,
            "sensitive": False,
            "language": language,
            "in_reply_to_id": in_reply_to["id"] if in_reply_to else None,
            "in_reply_to_account_id": in_reply_to["account"]["id"] if in_reply_to else None,
            "reblog": None,
            "mentions": [{"id": m["id"], "username": m["username"], "acct": m["acct"],
                          "url": m["url"]} for m in mentions],
            "tags": [{"name": t.lower(), "url": f"https://127.0.0.1/tags/{t.lower()}"}
                     for t in tag_list],
            "emojis": [], "media_attachments": [], "replies_count": 0, "reblogs_count": 0,
            "favourites_count": 0,
        }
        with self._lock:
            self._statuses[status_id] = status
        if any(m["id"] == self.brand["id"] for m in mentions) and \
                author["id"] != self.brand["id"]:
            self._notify("mention", author, status, created_ms, stream)
        if stream:
            if author["id"] == self.brand["id"]:
                self._push(("user",), "update", orjson.dumps(status).decode())
            if visibility == "public":
                for tag in tag_list:
                    self._push(("hashtag", tag.lower()), "update", orjson.dumps(status).decode())
        return status

    def favourite(self, by: Mapping[str, Any], status: Mapping[str, Any], *, created_ms: int,
                  stream: bool = True) -> dict[str, Any]:
        return self._notify("favourite", by, status, created_ms, stream)

    def delete(self, status: Mapping[str, Any], *, stream: bool = True) -> None:
        with self._lock:
            self._deleted.add(status["id"])
        if stream:
            self._push(("user",), "delete", status["id"])

    def drop_streams(self) -> int:
        """Cut every streaming websocket (TCP abort); how many there were."""
        with self._lock:
            streams = list(self._streams)
        for s in streams:
            self._server.loop.call_soon_threadsafe(_abort, s.request)
        return len(streams)

    def live_streams(self) -> int:
        with self._lock:
            return sum(1 for s in self._streams if s.subscriptions)

    def wait_streams(self, n: int = 1, timeout_s: float = 30) -> None:
        _wait(lambda: self.live_streams() >= n, timeout_s, f"{n} subscribed streams")

    def sent_events(self) -> int:
        with self._lock:
            return sum(len(s.sent) for s in self._streams) + self._sent_closed

    def notifications(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._notifications)

    def statuses(self) -> list[dict[str, Any]]:
        """Every status not deleted."""
        with self._lock:
            return [s for i, s in self._statuses.items() if i not in self._deleted]

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def all_requests(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    # internals

    def _notify(self, kind: str, by: Mapping[str, Any], status: Mapping[str, Any],
                created_ms: int, stream: bool) -> dict[str, Any]:
        with self._lock:
            if self.notification_ids == "snowflake":
                nid = str((created_ms << 16) | (next(self._ids) & 0xFFFF))
            else:
                nid = str(next(self._notification_seq))
            notification = {"id": nid, "type": kind, "created_at": iso(created_ms),
                            "group_key": f"ungrouped-{nid}", "account": dict(by),
                            "status": dict(status)}
            self._notifications.append(notification)
        if stream:
            self._push(("user",), "notification", orjson.dumps(notification).decode())
        return notification

    def _push(self, stream: tuple[str, ...], event: str, payload: str) -> None:
        message = orjson.dumps({"stream": list(stream), "event": event,
                                "payload": payload}).decode()
        with self._lock:
            targets = [s for s in self._streams if stream in s.subscriptions
                       or (stream[0] == "user" and ("user",) in s.subscriptions)]
        for s in targets:
            self._server.loop.call_soon_threadsafe(s.queue.put_nowait, message)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    def _rate_headers(self, remaining: int, reset_s: float) -> dict[str, str]:
        reset = datetime.now(UTC) + timedelta(seconds=reset_s)
        return {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": reset.isoformat(timespec="microseconds")
                .replace("+00:00", "Z")}

    def _answer(self, request: web.Request, body: Callable[[], Any], *,
                public: bool = False) -> web.Response:
        with self._lock:
            number = len(self.requests) + 1
            record = Request(number, request.path, list(request.query.items()), 0,
                             request.headers.get("Authorization"))
            self.requests.append(record)
        if not public and not self._authorized(request):
            record.status = 401
            return web.json_response({"error": "The access token is invalid"}, status=401)
        if number in self.fail_429_on:
            record.status = 429
            return web.json_response({"error": "Too many requests"}, status=429, headers={
                "Retry-After": "1", **self._rate_headers(0, 1.0)})
        value = body()
        if value is None:
            record.status = 404
            return web.json_response({"error": "Record not found"}, status=404,
                                     headers=self._rate_headers(self.rate_remaining, 300))
        record.status = 200
        return web.Response(body=orjson.dumps(value), content_type="application/json",
                            headers=self._rate_headers(self.rate_remaining, 300))

    async def _verify_credentials(self, request: web.Request) -> web.Response:
        return self._answer(request, lambda: {**self.brand, "source": {"privacy": "public"}})

    async def _instance(self, request: web.Request) -> web.Response:
        # Public, as on a real instance (a wrong token is refused by the other endpoints).
        return self._answer(request, lambda: {
            "domain": self.domain, "title": "Fake", "version": "4.3.0",
            "configuration": {"urls": {"streaming": f"ws://127.0.0.1:{self._server.port}"}}},
            public=True)

    def _page(self, request: web.Request, items: list[dict[str, Any]],
              default_limit: int) -> list[dict[str, Any]]:
        """Mastodon's paging over items sorted by id (ascending)."""
        q = request.query
        limit = min(int(q.get("limit", default_limit)), 2 * default_limit)
        key = _id_key
        items = sorted(items, key=lambda i: key(i["id"]))
        if q.get("max_id"):
            items = [i for i in items if key(i["id"]) < key(q["max_id"])]
        if q.get("since_id"):
            items = [i for i in items if key(i["id"]) > key(q["since_id"])]
        if q.get("min_id"):
            items = [i for i in items if key(i["id"]) > key(q["min_id"])][:limit]
        else:
            items = items[-limit:]
        return list(reversed(items))

    async def _notifications_list(self, request: web.Request) -> web.Response:
        def body() -> list[dict[str, Any]]:
            types = request.query.getall("types[]", [])
            with self._lock:
                items = [n for n in self._notifications if (not types or n["type"] in types)
                         and n["status"]["id"] not in self._deleted]
            return self._page(request, items, 40)

        return self._answer(request, body)

    async def _account_statuses(self, request: web.Request) -> web.Response:
        def body() -> list[dict[str, Any]] | None:
            account_id = request.match_info["id"]
            with self._lock:
                if account_id not in self._accounts:
                    return None
                items = [s for s in self._statuses.values() if s["account"]["id"] == account_id
                         and s["id"] not in self._deleted]
            return self._page(request, items, 20)

        return self._answer(request, body)

    async def _tag_timeline(self, request: web.Request) -> web.Response:
        def body() -> list[dict[str, Any]]:
            tag = request.match_info["tag"].lower()
            with self._lock:
                items = [s for s in self._statuses.values() if s["visibility"] == "public"
                         and s["id"] not in self._deleted
                         and any(t["name"] == tag for t in s["tags"])]
            return self._page(request, items, 20)

        return self._answer(request, body)

    async def _status(self, request: web.Request) -> web.Response:
        def body() -> dict[str, Any] | None:
            status_id = request.match_info["id"]
            with self._lock:
                if status_id in self._deleted:
                    return None
                return self._statuses.get(status_id)

        return self._answer(request, body)

    async def _streaming(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            with self._lock:
                self.stream_refusals += 1
            return web.json_response({"error": "Missing access token"}, status=401)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        stream = _Stream(request)
        with self._lock:
            self._streams.append(stream)
            self.stream_connections += 1

        def on_text(text: str) -> None:
            try:
                message = orjson.loads(text)
            except orjson.JSONDecodeError:
                return
            if not isinstance(message, dict) or message.get("type") != "subscribe":
                return
            name = message.get("stream")
            with self._lock:
                if name in ("user", "user:notification"):
                    stream.subscriptions.add(("user",))
                elif name == "hashtag" and isinstance(message.get("tag"), str):
                    stream.subscriptions.add(("hashtag", message["tag"].lower()))

        reader = asyncio.ensure_future(_read_until_closed(ws, on_text))
        getter: asyncio.Future[str | None] | None = None
        try:
            while not reader.done():
                getter = asyncio.ensure_future(stream.queue.get())
                waiting: set[asyncio.Future[Any]] = {getter, reader}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    break
                message = getter.result()
                getter = None
                if message is None:
                    break
                try:
                    await ws.send_str(message)
                except (ConnectionError, RuntimeError):
                    break
                with self._lock:
                    stream.sent.append(message)
        finally:
            with self._lock:
                self._streams.remove(stream)
                self._sent_closed += len(stream.sent)
            reader.cancel()
            if getter is not None:
                getter.cancel()
        return ws


def _id_key(value: str) -> tuple[int, str]:
    return (len(value), value)


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
