"""A guard against faust skipping records: detect an offset jump and process what was skipped.

faust can hand a stream a record with an offset past records not yet processed (faust-streaming
issues #216, #221, #312). We saw it after a kill -9: the restarted worker's first fetch started a
few records past the committed offsets. Our topics are neither compacted nor transactional, so
offsets are contiguous and a jump is detectable. Seeking faust's own consumer back made things
worse (faust records the jump of the buffered records after a seek as a "gap" and treats it as
acknowledged), so the guard reads the skipped records itself, with a separate group-less
consumer, and the agent processes them before the record in hand: the partition's order is
kept, and the table writes belong to the partition of the record being processed, as faust
requires. Processing a record twice is harmless (the core is idempotent per mention id, and
delivery is at least once anyway); losing one is not.

Then it tells faust the skipped offsets are done, or faust would never commit past them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agents import faust_compat

log = logging.getLogger("mentionwatch.offsets")

REREAD_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Record:
    """The parts of a faust Message the agents use, for records the guard read itself."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None  # seconds, like faust's Message.timestamp


async def read_range(bootstrap_servers: str, topic: str, partition: int, start: int, end: int,
                     timeout_s: float | None = None,
                     client_options: Mapping[str, Any] | None = None
                     ) -> tuple[list[Record], bool]:
    """Records [start, end) of one partition (fewer if retention deleted some), read without a
    consumer group, so no group offsets move; and whether the read reached `end` in time.
    client_options: aiokafka's security options (agents.kafka_clients.aiokafka_security)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                client_id="mentionwatch-gap-reader",
                                **(client_options or {}))
    await consumer.start()
    records: list[Record] = []
    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        deadline = time.monotonic() + (REREAD_TIMEOUT_S if timeout_s is None else timeout_s)
        while time.monotonic() < deadline and await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=500)
            for rec in batch.get(tp, []):
                if rec.offset >= end:
                    break
                records.append(Record(rec.topic, rec.partition, rec.offset, rec.key, rec.value,
                                      rec.timestamp / 1000 if rec.timestamp else None))
        complete = await consumer.position(tp) >= end
    finally:
        await stop_consumer(consumer)
    return records, complete


async def stop_consumer(consumer: Any) -> None:
    """consumer.stop(), minus an aiokafka 0.14 wart: stopping a group-less consumer soon after
    start re-raises the cancellation of its own internal routine. A cancellation of *our* task
    still propagates."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


class GapGuard:
    def __init__(self, app: Any, agent: str, bootstrap_servers: str,
                 on_gap: Callable[[int], None] | None = None,
                 on_short: Callable[[int], None] | None = None,
                 client_options: Mapping[str, Any] | None = None) -> None:
        self.app = app
        self.client_options = client_options
        self.agent = agent
        self.bootstrap_servers = bootstrap_servers
        self.on_gap = on_gap
        self.on_short = on_short  # called with the number of skipped records not read
        self.generation: int | None = None
        self.expected: dict[Any, int] = {}

    async def skipped(self, message: Any) -> list[Record]:
        """The records of message's partition that faust skipped before handing us message
        (usually none). The caller processes them, in order, before message."""
        generation = faust_compat.generation_id(self.app)
        if generation != self.generation:  # a rebalance: start from the committed offsets
            self.generation = generation
            self.expected.clear()
        tp = message.tp
        offset: int = message.offset
        expected = self.expected.get(tp)
        if expected is None:
            committed = faust_compat.committed_offset(self.app, tp)
            expected = committed if committed is not None else offset
        if offset >= expected:
            self.expected[tp] = offset + 1
        if offset <= expected:
            return []
        log.warning("%s: %s jumped from offset %d to %d: reading the %d skipped records",
                    self.agent, tp, expected, offset, offset - expected)
        records, complete = await read_range(self.bootstrap_servers, tp.topic, tp.partition,
                                             expected, offset,
                                             client_options=self.client_options)
        if self.on_gap is not None:
            self.on_gap(len(records))
        if not complete:
            # Don't let faust commit past what we couldn't read: after a restart the group
            # starts at the gap again and the records are processed then.
            log.error("%s: %s could read only %d of the skipped records [%d, %d) in time",
                      self.agent, tp, len(records), expected, offset)
            if self.on_short is not None:
                self.on_short(offset - expected - len(records))
            return records
        await self._mark_done(tp, expected, offset - 1)
        log.warning("%s: %s read %d skipped records [%d, %d)", self.agent, tp, len(records),
                    expected, offset)
        return records

    async def _mark_done(self, tp: Any, first: int, last: int) -> None:
        # faust-streaming 0.15.3 (pinned): a "gap" is a range the consumer counts as acknowledged
        # when it computes the offset to commit. Without it the commit stalls at `first`.
        try:
            await faust_compat.mark_offsets_done(self.app, tp, first, last)
        except Exception:  # never stop the stream over bookkeeping
            log.exception("could not mark %s [%d, %d] done", tp, first, last)
        await asyncio.sleep(0)
