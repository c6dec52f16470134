"""What POST /mentions and the care team's queue let in, as pure decisions on header values (no
aiohttp, no clock), and their documented limits. agents/web.py and agents/queue_web.py apply
them; docs/reference/http-api.md documents them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from urllib.parse import urlsplit

from agents.config import Settings

# -- limits (docs/reference/http-api.md, "POST /mentions") ---------------------------------------
# The largest request body; aiohttp's client_max_size is set to the same value, so a larger body
# gets our JSON 413 whichever of the two notices it first.
MAX_BODY_BYTES = 1024 * 1024
# Mentions in one request (a 1 MiB body of typical mentions holds about 2,000-3,000).
MAX_MENTIONS_PER_REQUEST = 1000
# From the connection's start (or the end of the previous response) to a complete request head:
# a client that hasn't sent its headers by then is disconnected (aiohttp's keep-alive timer).
HEADER_TIMEOUT_S = 10.0
# Reading the whole body, once the head is in: else 408 and the connection is closed.
BODY_TIMEOUT_S = 10.0
# After an early answer (401, 403, 413, 415, 408) aiohttp reads and discards the rest of the body
# for at most this long, so the client sees the answer, then closes the connection.
LINGER_S = 2.0
# Ingest requests served at once (from the head to the answer); more get 503 at once.
MAX_CONCURRENT_INGESTS = 32
# How long a request waits for the broker to acknowledge its mentions before the answer (503 with
# the ids written and not written).
BROKER_WAIT_S = 10.0
# The ingest producer's request timeout, also how long it keeps an unsent batch: a batch is
# either acknowledged or given up within 2 x this (a last attempt may start just before it
# expires) plus a retry backoff, well inside BROKER_WAIT_S, so nothing of a request is written
# after its answer.
PRODUCER_TIMEOUT_S = 3.0
# A request stops handing mentions to the producer this long after it was received; the rest are
# answered as not written (never handed over).
HANDOVER_BUDGET_S = 1.5
RETRY_AFTER_BUSY_S = 1
RETRY_AFTER_BROKER_S = 10

TOKEN_REALM = 'Bearer realm="mentionwatch"'
# The queue asks for HTTP basic auth (user QUEUE_USER, the queue token as password), so a
# browser prompts for it; programs may send the token as a bearer token instead.
QUEUE_USER = "care"
QUEUE_REALM = 'Basic realm="mentionwatch queue", charset="UTF-8"'


def is_loopback_host(host: str) -> bool:
    """Whether a bind address or host name only reaches this machine (127.0.0.0/8, ::1,
    localhost). 0.0.0.0, :: and every other name count as exposed."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exposure_problem(settings: Settings) -> str | None:
    """Why a worker must not start with these settings (None: it may): an HTTP ingest reachable
    from other machines without a token would let anyone write mentions."""
    if settings.ingest_token is None and not is_loopback_host(settings.web_host):
        return (f"MENTIONWATCH_WEB_HOST={settings.web_host} is not a loopback address and no "
                "ingest token is set: POST /mentions would accept anyone's writes. Set "
                "MENTIONWATCH_INGEST_TOKEN (or MENTIONWATCH_INGEST_TOKEN_FILE, at least 16 "
                "characters) or bind to 127.0.0.1")
    if settings.queue_token is None and not is_loopback_host(settings.web_host):
        return (f"MENTIONWATCH_WEB_HOST={settings.web_host} is not a loopback address and no "
                "queue token is set: the care team's queue (GET /queue) would show customers' "
                "complaints to anyone. Set MENTIONWATCH_QUEUE_TOKEN (or "
                "MENTIONWATCH_QUEUE_TOKEN_FILE, at least 16 characters) or bind to 127.0.0.1")
    return None


def bearer_token_matches(authorization: str | None, token: str) -> bool:
    """`Authorization: Bearer <token>` with exactly this token (scheme case-insensitive),
    compared in constant time."""
    if not authorization:
        return False
    scheme, _, presented = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode("utf-8", "surrogateescape"),
                               token.encode("utf-8"))


def queue_credentials_match(authorization: str | None, token: str) -> bool:
    """The queue's credentials: `Authorization: Bearer <token>`, or `Basic` with user
    QUEUE_USER and the token as password; compared in constant time."""
    if bearer_token_matches(authorization, token):
        return True
    if not authorization:
        return False
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, sep, password = decoded.partition(b":")
    user_ok = hmac.compare_digest(user, QUEUE_USER.encode())
    password_ok = hmac.compare_digest(password, token.encode("utf-8"))
    return bool(sep) and user_ok and password_ok


def queue_refusal(*, host: str | None, origin: str | None, scheme: str,
                  token_required: bool) -> str | None:
    """Why a request to the queue is refused before its credentials are looked at (None:
    go on). Without a token the queue is served to loopback names only: a page on a domain
    that resolves to 127.0.0.1 (DNS rebinding) would otherwise read customers' complaints
    from a local worker. An Origin, when sent, must be the server's own (no CORS)."""
    own = _origin_of(f"{scheme}://{host}") if host else None
    if not token_required and (own is None or not is_loopback_host(own[1])):
        return ("the queue without a token answers requests to a loopback host name only "
                "(localhost, 127.0.0.1, [::1]): set MENTIONWATCH_QUEUE_TOKEN to serve it by "
                "other names")
    if origin is not None and (own is None or _origin_of(origin) != own):
        return "cross-origin requests are refused (no CORS): the Origin is not this server's"
    return None


def _origin_of(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), parts.hostname.lower(), port if port is not None else default


def origin_refusal(origin: str | None, *, host: str | None, scheme: str,
                   token_required: bool) -> str | None:
    """Why a request is refused for its Origin (None: allowed). No Origin header: a non-browser
    client, allowed. Otherwise the Origin must be this server's own (the scheme and Host the
    request came in by): a page elsewhere can't post here, there is no CORS. Without a token
    the server's own origin must also be a loopback name, so a page on a domain that resolves to
    127.0.0.1 (DNS rebinding) can't post either."""
    if origin is None:
        return None
    own = _origin_of(f"{scheme}://{host}") if host else None
    theirs = _origin_of(origin)
    if own is None or theirs is None or theirs != own:
        return "cross-origin requests are refused (no CORS): the Origin is not this server's"
    if not token_required and not is_loopback_host(own[1]):
        return ("a browser request by a host name that is not loopback is refused without an "
                "ingest token")
    return None


def is_json_content_type(content_type: str | None) -> bool:
    """application/json, optionally with charset=utf-8 (JSON is UTF-8, RFC 8259)."""
    if not content_type:
        return False
    media, *params = (part.strip() for part in content_type.split(";"))
    if media.lower() != "application/json":
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
                "utf-8", "utf8"):
            return False
    return True
