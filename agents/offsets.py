"""A guard against faust skipping records around a rebalance.

faust can hand a stream a record prefetched before a rebalance, with an offset past records not
yet processed, and then commit past them (faust-streaming issues #216, #221, #312); we saw it
in our two-worker test as complaints that were never tracked. Our topics have contiguous
offsets, so a jump is detectable: the guard seeks the partition back to the first offset not
yet seen... except that seeking under faust's fetcher turned out to make things worse (faust
records the jump of the buffered records after a seek as a "gap" and treats it as acknowledged),
so for now the guard only detects, logs and counts (mentionwatch_offset_gaps_total): an operator
who sees it compares live numbers with `mentionwatch replay` (docs/operations.md).
"""

from __future__ import annotations

import logging
from typing import Any, cast

log = logging.getLogger("mentionwatch.offsets")


class GapGuard:
    def __init__(self, app: Any, agent: str, on_gap: Any = None) -> None:
        self.app = app
        self.agent = agent
        self.on_gap = on_gap
        self.generation: int | None = None
        self.expected: dict[Any, int] = {}

    async def check(self, message: Any) -> None:
        generation = self.app.consumer_generation_id
        if generation != self.generation:  # a rebalance: start from the committed offsets
            self.generation = generation
            self.expected.clear()
        tp = message.tp
        offset: int = message.offset
        expected = self.expected.get(tp)
        if expected is None:
            committed = cast(Any, self.app.consumer)._committed_offset.get(tp)
            expected = committed if committed is not None else offset
        if offset > expected:
            log.warning("%s: %s jumped from offset %d to %d: records may have been skipped; "
                        "compare with `mentionwatch replay`", self.agent, tp, expected, offset)
            if self.on_gap is not None:
                self.on_gap()
        if offset >= expected:
            self.expected[tp] = offset + 1
