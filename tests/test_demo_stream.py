"""The generated demo/benchmark stream: replies come in event-time order, after their mention."""

from __future__ import annotations

import pytest

from schemas.codec import parse_rfc3339_ms
from streams.demo import generate


# 1795453529: a start second whose first brand reply had a long delay; it used to hold back
# every later reply, so `./dev demo` started at that second showed no answers at all.
@pytest.mark.parametrize("seed", [1, 6, 11, 1795453529])
def test_mentions_and_replies_come_in_event_time_order(seed: int) -> None:
    start = seed * 1000
    stream = list(generate(seed=seed, start_ms=start, count=700, rate_per_s=8))
    times = [parse_rfc3339_ms(m["created_at"]) for m in stream]
    assert times == sorted(times)
    seen = {m["id"]: t for m, t in zip(stream, times, strict=True)}
    replies = [(m, t) for m, t in zip(stream, times, strict=True) if m["author"]["is_brand"]]
    assert len(replies) > 40  # about half of the ~55% complaints get a reply
    for reply, t in replies:
        assert reply["in_reply_to"] in seen and seen[reply["in_reply_to"]] < t
