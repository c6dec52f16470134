"""The replay baseline: read every record of a topic up to the end offsets taken at start, with
no processing. ``--client kafka-python`` uses exactly the consumer settings of
agents/replay.py:read_raw (so replay's own cost is the difference); ``--client aiokafka`` is
the other client the project ships. Prints one JSON line: records, seconds, records_per_s.

    python -m bench.apps.bare_read --bootstrap H:P --topic T --client kafka-python
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import orjson


def _before(records: Any, end: int) -> int:
    """How many of a partition's records (in offset order) lie before the end offset."""
    n = 0
    for rec in records:
        if rec.offset >= end:
            break
        n += 1
    return n


def read_kafka_python(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024, max_poll_records=20_000,
        client_id="bench-bare-read",
    )
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        remaining = {tp: end for tp, end in ends.items() if end > 0}
        n = 0
        while remaining:
            for tp, records in consumer.poll(timeout_ms=1000).items():
                end = remaining.get(tp)
                if end is None:
                    continue
                n += _before(records, end)
                if consumer.position(tp) >= end:
                    del remaining[tp]
                    consumer.pause(tp)
        return n
    finally:
        consumer.close()


async def read_aiokafka(bootstrap: str, topic: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_bytes=64 * 1024 * 1024,
                                max_partition_fetch_bytes=16 * 1024 * 1024,
                                client_id="bench-bare-read")
    await consumer.start()
    try:
        # No subscription, so no metadata of our own: ask for it.
        cluster = await consumer._client.fetch_all_metadata()
        parts = cluster.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp: end for tp, end in ends.items() if end > 0}
        n = 0
        while remaining:
            batches = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            for tp, records in batches.items():
                end = remaining.get(tp)
                if end is None:
                    continue
                n += _before(records, end)
                if await consumer.position(tp) >= end:
                    del remaining[tp]
                    consumer.pause(tp)
        return n
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--client", choices=("kafka-python", "aiokafka"), required=True)
    args = parser.parse_args()
    started = time.monotonic()
    if args.client == "kafka-python":
        n = read_kafka_python(args.bootstrap, args.topic)
    else:
        n = asyncio.run(read_aiokafka(args.bootstrap, args.topic))
    seconds = time.monotonic() - started
    print(orjson.dumps({"records": n, "seconds": seconds,
                        "records_per_s": n / seconds if seconds else 0.0}).decode())


if __name__ == "__main__":
    main()
