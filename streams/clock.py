"""The live tracking clock of one partition (pure: wall time is passed in).

docs/explanation/semantics.md: live workers judge age against wall-clock time and the event-time
watermark (the largest event time seen, less an allowed lateness). We use the watermark while
records flow, so a backlog or a historical import is judged by its own event time (never
"ignored" just because it arrives years later), and let the clock run on with wall time once the
partition has been idle for `idle_grace_ms`, so complaints still go overdue on a quiet night.
The clock never goes backwards.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class PartitionClock:
    lateness_ms: int
    idle_grace_ms: int
    max_event_ms: int | None = None
    wall_at_last_record_ms: int = 0
    floor_ms: int | None = None

    def observe(self, event_ms: int, wall_ms: int) -> int:
        """A record arrived: returns the clock to judge it by."""
        if self.max_event_ms is None or event_ms > self.max_event_ms:
            self.max_event_ms = event_ms
        self.wall_at_last_record_ms = max(self.wall_at_last_record_ms, wall_ms)
        return self.now(wall_ms) or event_ms

    def watermark(self) -> int | None:
        return None if self.max_event_ms is None else self.max_event_ms - self.lateness_ms

    def now(self, wall_ms: int) -> int | None:
        watermark = self.watermark()
        if watermark is None:
            return None
        idle = wall_ms - self.wall_at_last_record_ms - self.idle_grace_ms
        value = watermark + max(0, idle)
        if self.floor_ms is not None and value < self.floor_ms:
            value = self.floor_ms
        self.floor_ms = value
        return value
