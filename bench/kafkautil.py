"""Kafka helpers of the harness: fast bulk produce (confluent-kafka, murmur2 like the Java and
aiokafka clients), paced produce with live arrival measurement, reading topics, group state and
lag (kafka-python admin), topic clean-up."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

Record = tuple[bytes, bytes]  # key, value


def _producer(bootstrap: str, **extra: Any) -> Producer:
    conf = {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "acks": "all",
            "linger.ms": 20, "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 2_000_000,
            "queue.buffering.max.kbytes": 1_048_576, "client.id": "bench-producer"}
    conf.update(extra)
    return Producer(conf)


def produce_all(bootstrap: str, topic: str, records: Sequence[Record]) -> float:
    """Produce every record (CreateTime = now) and wait for delivery; returns seconds."""
    started = time.monotonic()
    producer = _producer(bootstrap)
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for key, value in records:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(120)
    if errors:
        raise RuntimeError(f"{len(errors)} records not delivered to {topic}: {errors[0]}")
    return time.monotonic() - started


def _consumer(bootstrap: str, **extra: Any) -> Consumer:
    conf = {"bootstrap.servers": bootstrap, "group.id": f"bench-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": True, "client.id": "bench-reader"}
    conf.update(extra)
    return Consumer(conf)


def partitions(bootstrap: str, topic: str) -> list[int]:
    consumer = _consumer(bootstrap)
    try:
        meta = consumer.list_topics(topic, timeout=10)
        return sorted(meta.topics[topic].partitions)
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = _consumer(bootstrap)
    try:
        meta = consumer.list_topics(topic, timeout=10)
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in meta.topics[topic].partitions}
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str, start: dict[int, int] | None = None,
               timeout_s: float = 120.0) -> Iterator[Any]:
    """Every record from `start` (default: the beginning) up to the end offsets taken now."""
    ends = end_offsets(bootstrap, topic)
    consumer = _consumer(bootstrap, **{"fetch.wait.max.ms": 50})
    try:
        todo = {p: e for p, e in ends.items() if e > (start or {}).get(p, 0)}
        if not todo:
            return
        consumer.assign([TopicPartition(topic, p, (start or {}).get(p, OFFSET_BEGINNING))
                         for p in todo])
        deadline = time.monotonic() + timeout_s
        while todo and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10_000, timeout=0.5):
                if msg.error():
                    continue
                p = msg.partition()
                end = todo.get(p)
                if end is None or msg.offset() >= end:
                    continue
                yield msg
                if msg.offset() + 1 >= end:
                    del todo[p]
    finally:
        consumer.close()


def first_timestamps(bootstrap: str, topic: str) -> list[float]:
    """CreateTime (s) of the first record of each non-empty partition."""
    out: dict[int, float] = {}
    consumer = _consumer(bootstrap)
    try:
        ends = end_offsets(bootstrap, topic)
        parts = [p for p, e in ends.items() if e > 0]
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        deadline = time.monotonic() + 30
        while len(out) < len(parts) and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=100, timeout=0.5):
                if msg.error() or msg.partition() in out:
                    continue
                out[msg.partition()] = msg.timestamp()[1] / 1000
    finally:
        consumer.close()
    return list(out.values())


def mention_id_of(value: bytes) -> str | None:
    """The mention id of a raw (mention.v1) or enriched record."""
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if "mention" in obj and isinstance(obj["mention"], dict):
        obj = obj["mention"]
    mid = obj.get("id")
    return mid if isinstance(mid, str) else None


@dataclass
class LatencyResult:
    offered_per_s: float
    sent: int
    received: int
    arrival_ms: list[float] = field(default_factory=list)
    output_ts_ms: list[float] = field(default_factory=list)


def paced_latency(bootstrap: str, source: str, sink: str, records: Sequence[Record],
                  ids: Sequence[str], rate_per_s: float, warmup_s: float = 1.0,
                  drain_timeout_s: float = 30.0,
                  tick: Callable[[], None] | None = None) -> LatencyResult:
    """Offer `records` to `source` at `rate_per_s` (record timestamp = send time), read `sink`
    live and measure, per mention id, arrival time − send time and the output record's own
    timestamp − send time. Records of the first `warmup_s` are not counted."""
    sent_ms: dict[str, int] = {}
    arrival: dict[str, float] = {}
    out_ts: dict[str, float] = {}
    ends = end_offsets(bootstrap, sink)
    consumer = _consumer(bootstrap, **{"fetch.wait.max.ms": 5, "fetch.min.bytes": 1,
                                       "enable.partition.eof": False})
    consumer.assign([TopicPartition(sink, p, o) for p, o in ends.items()])
    wanted = set(ids)
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            # poll(), not consume(n, timeout): consume waits for n messages or the timeout.
            msg = consumer.poll(0.05)
            now = time.time() * 1000
            if msg is None or msg.error():
                continue
            mid = mention_id_of(msg.value())
            if mid in wanted and mid not in arrival:
                arrival[mid] = now
                out_ts[mid] = msg.timestamp()[1]

    reader = threading.Thread(target=read, name="bench-latency-reader", daemon=True)
    reader.start()
    time.sleep(1.0)  # the reader's assignment and first fetch
    producer = _producer(bootstrap, **{"linger.ms": 1})
    started = time.perf_counter()
    n = len(records)
    i = 0
    while i < n:
        due = min(n, int((time.perf_counter() - started) * rate_per_s) + 1)
        while i < due:
            key, value = records[i]
            now_ms = int(time.time() * 1000)
            sent_ms[ids[i]] = now_ms
            producer.produce(source, value=value, key=key, timestamp=now_ms)
            i += 1
        producer.poll(0)
        time.sleep(0.002)
    send_s = time.perf_counter() - started
    producer.flush(30)
    deadline = time.monotonic() + drain_timeout_s
    while len(arrival) < n and time.monotonic() < deadline:
        if tick is not None:
            tick()
        time.sleep(0.2)
    stop.set()
    reader.join(5)
    consumer.close()
    skip = int(warmup_s * rate_per_s)
    result = LatencyResult(offered_per_s=n / send_s, sent=n, received=len(arrival))
    for mid in ids[skip:]:
        if mid in arrival:
            result.arrival_ms.append(arrival[mid] - sent_ms[mid])
            result.output_ts_ms.append(out_ts[mid] - sent_ms[mid])
    return result


def admin(bootstrap: str) -> Any:
    from kafka import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-admin",
                            request_timeout_ms=30_000)


def group_members(bootstrap: str, group: str) -> tuple[str, list[list[int]]]:
    """(state, per member: the partitions assigned) of a consumer group."""
    client = admin(bootstrap)
    try:
        info = client.describe_groups([group]).get(group) or {}
    except Exception:  # the group may not exist yet
        return "Unknown", []
    finally:
        client.close()
    members = []
    for member in info.get("members") or []:
        assigned = (member.get("member_assignment") or {}).get("assigned_partitions") or []
        members.append([p for t in assigned for p in t.get("partitions", [])])
    return str(info.get("group_state")), members


def wait_group_stable(bootstrap: str, group: str, members: int, timeout_s: float = 90.0,
                      alive: Callable[[], bool] | None = None) -> float:
    """Wait until the group is Stable with `members` members that all have partitions."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if alive is not None and not alive():
            raise RuntimeError(f"a process of group {group} exited while joining")
        state, assigned = group_members(bootstrap, group)
        if state == "Stable" and len(assigned) == members and all(assigned):
            return time.monotonic() - started
        time.sleep(0.5)
    raise RuntimeError(f"group {group} not stable with {members} members in {timeout_s:.0f}s")


def group_lag(bootstrap: str, group: str, topics: Sequence[str]) -> dict[str, int]:
    """Committed offsets vs end offsets: records of each topic the group has not committed."""
    client = admin(bootstrap)
    try:
        committed = client.list_group_offsets(group).get(group) or {}
    finally:
        client.close()
    out = {}
    for topic in topics:
        ends = end_offsets(bootstrap, topic)
        done = {tp.partition: om.offset for tp, om in committed.items() if tp.topic == topic}
        out[topic] = sum(max(0, end - max(0, done.get(p, 0))) for p, end in ends.items())
    return out


def delete_topics_containing(bootstrap: str, tag: str) -> int:
    """Delete every topic whose name contains `tag` (faust's and Quix's internal topics are
    named after the app id / consumer group, which carry the run's tag too)."""
    client = admin(bootstrap)
    try:
        names = [t for t in client.list_topics() if tag in t]
        if names:
            client.delete_topics(names, raise_errors=False)
        return len(names)
    finally:
        client.close()
