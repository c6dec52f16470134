"""The peer: mentionwatch's enrichment and answered/ignored tracking written the way a user would
with Quix Streams instead (https://github.com/quixio/quix-streams), same topology as the worker:

    raw  --(JSON, classify, route by customer)-->  enriched  --(state per customer)--> events

* enrich: Quix's JSON deserializer, ``streams.classification`` (the same classifier), the brand
  account check of the same brand configuration, the routing key of docs/explanation/semantics.md
  (the customer a post is by, or the customer a brand reply answers). No schema validation (a user
  would skip it; mentionwatch validates every record).
* track: Quix's RocksDB state (changelog-backed) per customer key: a dict of open complaints;
  a brand reply answers the complaint it replies to; a complaint older than the brand's ignore
  deadline (calendar time, judged at the event time of the key's next record) is ignored.
  Transitions (opened, answered, ignored) go to the events topic.

    python -m bench.apps.quix_peer --bootstrap H:P --prefix P --group G --state-dir D \
        --brands FILE --progress F
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from quixstreams import Application, State

from bench.progress import Progress
from streams.brands import parse_brand_config
from streams.classification import get_classifier


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--brands", required=True)
    parser.add_argument("--progress", required=True)
    args = parser.parse_args()
    progress = Progress(args.progress).start()
    config = parse_brand_config(Path(args.brands).read_text(encoding="utf-8"))
    classify = get_classifier("lexicon").classify

    app = Application(broker_address=args.bootstrap, consumer_group=args.group,
                      auto_offset_reset="earliest", state_dir=args.state_dir,
                      loglevel="WARNING", processing_guarantee="at-least-once")
    raw = app.topic(f"{args.prefix}mentions.raw", key_deserializer="bytes",
                    value_deserializer="json")
    enriched = app.topic(f"{args.prefix}mentions.enriched", key_serializer="str",
                         value_serializer="json", key_deserializer="str",
                         value_deserializer="json")
    events = app.topic(f"{args.prefix}complaints.events", key_serializer="str",
                       value_serializer="json")

    def is_brand(m: dict[str, Any]) -> bool:
        return bool(m["author"]["is_brand"]) or config.is_brand_account(
            m["brand"], m["author"]["handle"])

    def enrich(m: dict[str, Any]) -> dict[str, Any]:
        progress.stage1()
        c = classify(m["text"], m.get("lang"))
        return {"mention": m, "enrichment": {
            "language": c.language, "sentiment": c.sentiment,
            "sentiment_score": round(c.sentiment_score, 4),
            "complaint": c.complaint and not is_brand(m),
            "complaint_score": round(c.complaint_score, 4), "classifier": "lexicon"}}

    def customer(e: dict[str, Any]) -> str:
        m = e["mention"]
        if is_brand(m):
            return f"{m['platform']}:{m.get('in_reply_to_author_id') or m['author']['id']}"
        return f"{m['platform']}:{m['author']['id']}"

    def track(e: dict[str, Any], state: State) -> list[dict[str, Any]]:
        m = e["mention"]
        t = int(datetime.fromisoformat(m["created_at"]).timestamp() * 1000)
        open_: dict[str, list[Any]] = state.get("open", {})
        out: list[dict[str, Any]] = []
        changed = False
        if is_brand(m):
            hit = open_.pop(m.get("in_reply_to") or "", None)
            if hit is not None:
                changed = True
                out.append({"kind": "answered", "mention_id": m["in_reply_to"],
                            "brand": hit[0], "first_response_ms": t - hit[1]})
        elif e["enrichment"]["complaint"]:
            open_[m["id"]] = [m["brand"], t]
            changed = True
            out.append({"kind": "opened", "mention_id": m["id"], "brand": m["brand"]})
        for mention_id, (brand, created) in list(open_.items()):
            if t - created > config.budgets(brand)[1]:
                del open_[mention_id]
                changed = True
                out.append({"kind": "ignored", "mention_id": mention_id, "brand": brand})
        if changed:
            state.set("open", open_)
        progress.done()
        return out

    sdf = app.dataframe(raw).apply(enrich)
    sdf.to_topic(enriched, key=customer)
    tracked = app.dataframe(enriched).apply(track, stateful=True, expand=True)
    tracked.to_topic(events, key=lambda ev: ev["brand"])
    app.run()


if __name__ == "__main__":
    main()
