"""The framework ceiling: an empty faust agent (consume, forward), configured like
mentionwatch's app (agents/app.py: raw serializers, acks=all, 5 ms linger, at least once,
stream_wait_empty) but with no processing, no table, no metrics.

--hops 1: one agent, raw → sink (the brief's "empty faust agent").
--hops 2: the shape of mentionwatch: agent A forwards raw → sink, agent B consumes sink and
          does nothing (mentionwatch's tracking agent consumes mentions.enriched the same way).

    python -m bench.apps.faust_empty --bootstrap H:P --source T --sink T --app-id A \
        --datadir D --web-port P --progress F [--hops 2]
"""

from __future__ import annotations

import argparse
import sys

import faust

from bench.progress import Progress


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--datadir", required=True)
    parser.add_argument("--web-port", type=int, required=True)
    parser.add_argument("--progress", required=True)
    parser.add_argument("--hops", type=int, choices=(1, 2), default=1)
    # mentionwatch's default (MENTIONWATCH_LOG_LEVEL=info). Note: at warning or above faust's
    # Worker installs its terminal spinner and sets the root logger to DEBUG for good, so
    # every debug call in faust/aiokafka builds a LogRecord (measurably slower).
    parser.add_argument("--loglevel", default="info")
    args = parser.parse_args()
    sys.argv = sys.argv[:1]
    progress = Progress(args.progress).start()
    app = faust.App(
        args.app_id, broker=f"kafka://{args.bootstrap}", store="memory://",
        datadir=args.datadir, autodiscover=False, topic_replication_factor=1,
        topic_allow_declare=True, web_enabled=True, web_host="127.0.0.1",
        web_bind="127.0.0.1", web_port=args.web_port, key_serializer="raw",
        value_serializer="raw", consumer_auto_offset_reset="earliest", producer_acks=-1,
        producer_linger=0.005, stream_wait_empty=True, processing_guarantee="at_least_once",
    )
    source = app.topic(args.source, key_type=bytes, value_type=bytes, key_serializer="raw",
                       value_serializer="raw")
    sink = app.topic(args.sink, key_type=bytes, value_type=bytes, key_serializer="raw",
                     value_serializer="raw")
    one_hop = args.hops == 1

    async def forward(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            progress.stage1()
            await sink.send(key=event.message.key, value=event.value)
            if one_hop:
                progress.done()

    app.agent(source, name="bench.forward")(forward)

    if not one_hop:
        async def consume(stream: faust.StreamT[bytes]) -> None:
            async for _event in stream.events():
                progress.done()

        app.agent(sink, name="bench.consume")(consume)

    @app.on_rebalance_complete.connect
    async def _ready(sender: object, **kwargs: object) -> None:
        progress.ready = True

    faust.Worker(app, loglevel=args.loglevel).execute_from_commandline()


if __name__ == "__main__":
    main()
