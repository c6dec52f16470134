"""The gap guard on the real broker: when faust hands an agent a record past unprocessed ones,
the guard reads exactly the skipped records and tells faust they are done."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from conftest import Stack

from agents.offsets import GapGuard


@dataclass(frozen=True)
class FakeTP:
    topic: str
    partition: int


@dataclass
class FakeConsumer:
    """Only the two faust internals the guard touches (faust itself is tested in the live
    tests: tests/test_tracking_kafka.py kills a worker mid-stream)."""

    _committed_offset: dict[Any, int]
    gaps: list[tuple[Any, int, int]] = field(default_factory=list)

    async def _add_gap(self, tp: Any, first: int, last: int) -> None:
        self.gaps.append((tp, first, last))


@dataclass
class FakeApp:
    consumer: FakeConsumer
    consumer_generation_id: int = 1


@dataclass(frozen=True)
class FakeMessage:
    tp: FakeTP
    offset: int


def _produce(stack: Stack, topic: str, n: int) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=stack.bootstrap)
    for i in range(n):
        producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=2)
    producer.flush()
    producer.close()


def test_a_jump_is_filled_with_exactly_the_skipped_records(stack: Stack) -> None:
    topic = stack.topic("mentions.raw")
    _produce(stack, topic, 20)
    tp = FakeTP(topic, 2)
    consumer = FakeConsumer({tp: 5})
    counted: list[int] = []
    guard = GapGuard(FakeApp(consumer), "test", stack.bootstrap, counted.append)

    async def scenario() -> list[list[int]]:
        seen = []
        for offset in (5, 6, 12, 13, 13, 19):  # 7..11 and 14..18 skipped; 13 delivered twice
            records = await guard.skipped(FakeMessage(tp, offset))
            seen.append([r.offset for r in records])
            for r in records:
                assert (r.topic, r.partition) == (topic, 2)
                assert (r.key, r.value) == (f"k{r.offset}".encode(), f"v{r.offset}".encode())
        return seen

    seen = asyncio.run(scenario())
    assert seen == [[], [], [7, 8, 9, 10, 11], [], [], [14, 15, 16, 17, 18]]
    assert counted == [5, 5]
    assert consumer.gaps == [(tp, 7, 11), (tp, 14, 18)]


def test_the_first_record_after_a_rebalance_is_checked_against_the_committed_offset(
        stack: Stack) -> None:
    topic = stack.topic("mentions.raw")
    _produce(stack, topic, 10)
    tp = FakeTP(topic, 2)
    app = FakeApp(FakeConsumer({tp: 0}))
    guard = GapGuard(app, "test", stack.bootstrap)

    async def scenario() -> list[list[int]]:
        first = await guard.skipped(FakeMessage(tp, 0))
        app.consumer_generation_id = 2  # a rebalance; another worker committed up to 6
        app.consumer._committed_offset[tp] = 6
        second = await guard.skipped(FakeMessage(tp, 8))
        return [[r.offset for r in first], [r.offset for r in second]]

    assert asyncio.run(scenario()) == [[], [6, 7]]


def test_records_it_could_not_read_are_not_marked_done(stack: Stack, monkeypatch: Any) -> None:
    import agents.offsets

    topic = stack.topic("mentions.raw")
    _produce(stack, topic, 10)
    tp = FakeTP(topic, 2)
    consumer = FakeConsumer({tp: 0})
    guard = GapGuard(FakeApp(consumer), "test", stack.bootstrap)
    monkeypatch.setattr(agents.offsets, "REREAD_TIMEOUT_S", 0.0)  # no time to read anything
    assert asyncio.run(guard.skipped(FakeMessage(tp, 5))) == []
    assert consumer.gaps == []  # faust's commit stays at the gap
