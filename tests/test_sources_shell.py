"""The sources' shell pieces that need no broker or server: cursor codec, Mastodon ids and rate
limits, reconnect backoff, the Jetstream URL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agents.sources.bluesky import subscribe_url
from agents.sources.loop import Backoff
from agents.sources.mastodon import RateLimiter, id_after, snowflake_min_id
from schemas.codec import DecodeError, SourceCursor, decode_source_cursor, encode_source_cursor


def test_cursor_round_trips_and_damage_is_named() -> None:
    cursor = SourceCursor("bluesky", "bluesky", {"time_us": 1764750000123456}, {0: 5, 3: 17},
                          ("at://did:plc:x/app.bsky.feed.post/1",), "2026-12-03T10:00:00.000Z")
    assert decode_source_cursor(encode_source_cursor(cursor)) == cursor
    with pytest.raises(DecodeError, match=r"\$\.raw_offsets"):
        decode_source_cursor(b'{"schema_version":1,"source":"b","platform":"bluesky",'
                             b'"position":{},"raw_offsets":{"x":1},"recent_ids":[],'
                             b'"saved_at":"2026-12-03T10:00:00Z"}')
    with pytest.raises(DecodeError) as info:
        decode_source_cursor(b'{"schema_version":2}')
    assert info.value.reason == "unknown_schema_version"
    with pytest.raises(DecodeError) as info:
        decode_source_cursor(b"{")
    assert info.value.reason == "not_json"


def test_mastodon_ids_compare_as_numbers() -> None:
    assert id_after(None, "1")
    assert id_after("99", "100")  # as strings "100" < "99"
    assert not id_after("100", "99")
    assert not id_after("100", "100")


def test_snowflake_min_id_is_the_time_shifted_16_bits() -> None:
    ms = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)
    assert snowflake_min_id(ms) == str(ms << 16)
    assert int(snowflake_min_id(ms)) >> 16 == ms


def test_rate_limiter_waits_for_the_reset_only_when_used_up() -> None:
    limiter = RateLimiter()
    now = 1_000_000.0
    reset = datetime.fromtimestamp(now + 42, UTC).isoformat().replace("+00:00", "Z")
    limiter.update({"X-RateLimit-Remaining": "12", "X-RateLimit-Reset": reset})
    assert limiter.wait_s(now) == 0.0
    limiter.update({"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": reset})
    assert limiter.wait_s(now) == pytest.approx(42)
    assert limiter.after_429({"Retry-After": "3"}, now) == 3.0
    assert limiter.after_429({}, now) == pytest.approx(42)
    assert RateLimiter().after_429({}, now) == 60.0  # nothing said: a minute
    far = datetime.fromtimestamp(now + 86_400, UTC).isoformat()
    limiter.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": far})
    assert limiter.wait_s(now) == 300.0  # a clock or server fault: never a day


def test_backoff_doubles_to_a_minute_and_resets_after_a_healthy_connection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agents.sources.loop.random.uniform", lambda a, b: b)
    backoff = Backoff()
    assert [backoff.delay() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    clock = [1000.0]
    monkeypatch.setattr("agents.sources.loop.time.monotonic", lambda: clock[0])
    backoff.connected()
    clock[0] += 5  # a short connection: keep backing off
    assert backoff.delay() == 60
    backoff.connected()
    clock[0] += 31
    assert backoff.delay() == 1


def test_jetstream_url_asks_for_posts_from_the_cursor() -> None:
    assert subscribe_url("wss://j.example/", None) == \
        "wss://j.example/subscribe?wantedCollections=app.bsky.feed.post"
    assert subscribe_url("ws://127.0.0.1:1", 17) == \
        "ws://127.0.0.1:1/subscribe?wantedCollections=app.bsky.feed.post&cursor=17"
