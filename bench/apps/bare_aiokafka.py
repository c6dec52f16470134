"""The limit: a bare aiokafka consume → decode → produce loop, no processing.

At least once like the workers: offsets are committed once a second (faust: every 2.8 s), after
everything consumed before has been delivered (acks=all). Same producer settings as
mentionwatch's faust app (acks=all, 5 ms linger). Stops on SIGTERM.

    python -m bench.apps.bare_aiokafka --bootstrap H:P --source T --sink T --group G --progress F
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.progress import Progress


async def run(args: argparse.Namespace) -> None:
    progress = Progress(args.progress).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    consumer = AIOKafkaConsumer(args.source, bootstrap_servers=args.bootstrap,
                                group_id=args.group, enable_auto_commit=False,
                                auto_offset_reset="earliest", client_id="bench-bare")
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all", linger_ms=5,
                                client_id="bench-bare")
    await consumer.start()
    await producer.start()
    pending: list[asyncio.Future[object]] = []
    consumed: dict[object, int] = {}
    last_commit = loop.time()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=50)
            if consumer.assignment():
                progress.ready = True
            for tp, records in batches.items():
                if records:
                    consumed[tp] = records[-1].offset + 1
                for record in records:
                    value = orjson.dumps(orjson.loads(record.value))  # decode, re-encode
                    fut = await producer.send(args.sink, value=value, key=record.key)
                    fut.add_done_callback(lambda _f: progress.done())
                    pending.append(fut)
                    progress.stage1()
            if pending and loop.time() - last_commit >= 1.0:
                offsets = dict(consumed)
                await asyncio.gather(*pending)
                pending.clear()
                if offsets:
                    await consumer.commit(offsets)
                last_commit = loop.time()
    finally:
        progress.write()
        await consumer.stop()
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--progress", required=True)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
