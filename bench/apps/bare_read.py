"""The replay baseline: read every record of a topic up to the end offsets taken at start, with
no processing. ``--client confluent-kafka`` uses the consumer settings of agents/replay.py's
reader (so replay's own cost is the difference); ``--client aiokafka`` is the bare consumer of
issue 6 (the client the workers use, through faust); ``--client kafka-python`` the pure-Python
one. Prints one JSON line: records, seconds, records_per_s.

    python -m bench.apps.bare_read --bootstrap H:P --topic T --client confluent-kafka
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


def read_confluent(bootstrap: str, topic: str) -> int:
    from confluent_kafka import TopicPartition

    from agents.replay import BATCH_RECORDS, _Reader

    reader = _Reader(bootstrap)
    consumer = reader.consumer
    try:
        parts = reader.partitions(topic)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1]
                for p in parts}
        remaining = {p: end for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in remaining])
        n = 0
        while remaining:
            for message in consumer.consume(num_messages=BATCH_RECORDS, timeout=1.0):
                if message.error() is not None:
                    continue
                partition, offset = message.partition(), message.offset()
                end = remaining.get(partition)
                if end is None:
                    continue
                if offset < end:
                    n += 1
                if offset >= end - 1:
                    del remaining[partition]
                    consumer.pause([TopicPartition(topic, partition)])
        return n
    finally:
        reader.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--client", choices=("kafka-python", "aiokafka", "confluent-kafka"),
                        required=True)
    args = parser.parse_args()
    started = time.monotonic()
    if args.client == "kafka-python":
        n = read_kafka_python(args.bootstrap, args.topic)
    elif args.client == "confluent-kafka":
        n = read_confluent(args.bootstrap, args.topic)
    else:
        n = asyncio.run(read_aiokafka(args.bootstrap, args.topic))
    seconds = time.monotonic() - started
    print(orjson.dumps({"records": n, "seconds": seconds,
                        "records_per_s": n / seconds if seconds else 0.0}).decode())


if __name__ == "__main__":
    main()
