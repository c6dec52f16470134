"""How fast the sources' parsers take frames, without network or Kafka: Jetstream frames (most
name no brand: the firehose carries every post of the network) and Mastodon statuses, built
here (no captured data). Bluesky's whole post firehose is tens of posts a second; this says how
much headroom one source process has.

    .venv/bin/python -m bench.sources [--n 200000]
"""

from __future__ import annotations

import argparse
import time

import orjson

from streams.brands import parse_brand_config
from streams.sources.bluesky import parse_jetstream_frame
from streams.sources.mastodon import status_to_outcome
from streams.sources.matching import BrandIndex
from streams.sources.outcome import Produce

BRAND_DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
BRANDS = parse_brand_config(f"""
[brands.db]
hashtags = ["DBhilft", "Bahnchaos"]
keywords = ["Deutsche Bahn", "DB Navigator"]
[brands.db.bluesky]
dids = ["{BRAND_DID}"]
[brands.db.mastodon]
accounts = ["bahn@social.example"]
[brands.telekom]
keywords = ["Telekom"]
""")


def jetstream_frames(n: int, brand_every: int) -> list[bytes]:
    frames = []
    for i in range(n):
        text = ("@bahn mein Zug fällt schon wieder aus, seit einer Stunde keine Info"
                if i % brand_every == 0 else "Schönes Wetter heute, ich gehe spazieren und "
                "trinke einen Kaffee am See")
        record: dict[str, object] = {"$type": "app.bsky.feed.post", "text": text,
                                     "createdAt": "2026-12-03T10:00:00.000Z", "langs": ["de"]}
        if i % brand_every == 0:
            record["facets"] = [{"index": {"byteStart": 0, "byteEnd": 5}, "features": [
                {"$type": "app.bsky.richtext.facet#mention", "did": BRAND_DID}]}]
        frames.append(orjson.dumps({
            "did": f"did:plc:{i:024d}".replace("0", "a")[:32], "time_us": 1764750000000000 + i,
            "kind": "commit", "commit": {"rev": "3l", "operation": "create",
                                         "collection": "app.bsky.feed.post",
                                         "rkey": f"3l{i:011d}", "cid": "bafy", "record": record}}))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    n = parser.parse_args().n
    index = BrandIndex.from_config(BRANDS)
    for brand_every in (1_000, 1):
        frames = jetstream_frames(n, brand_every)
        started = time.perf_counter()
        produced = sum(isinstance(parse_jetstream_frame(f, index)[1], Produce) for f in frames)
        seconds = time.perf_counter() - started
        print(f"bluesky, 1 in {brand_every} frames names a brand: {n / seconds:,.0f} frames/s "
              f"({seconds / n * 1e6:.1f} µs each; {produced} mentions)")
    status = {"id": "1", "uri": "https://other.example/users/anna/statuses/1",
              "url": "https://other.example/@anna/1", "created_at": "2026-12-03T10:00:00.000Z",
              "content": "<p><span class=\"h-card\"><a href=\"https://social.example/@bahn\">"
                         "@<span>bahn</span></a></span> Der Zug ist schon wieder zu spät!</p>",
              "spoiler_text": "", "visibility": "public", "language": "de", "reblog": None,
              "in_reply_to_id": None, "account": {"acct": "anna@other.example",
                                                  "followers_count": 12},
              "mentions": [{"acct": "bahn"}], "tags": []}
    started = time.perf_counter()
    count = n // 4
    for _ in range(count):
        status_to_outcome(status, brands=index, instance_domain="social.example",
                          watched_account="bahn@social.example", parent=None)
    seconds = time.perf_counter() - started
    print(f"mastodon status → mention: {count / seconds:,.0f} statuses/s "
          f"({seconds / count * 1e6:.1f} µs each)")


if __name__ == "__main__":
    main()
