"""The one setting of faust-streaming 0.15.3 (pinned in pyproject.toml) that mentionwatch changes
from outside, and why.

faust creates its consumer with ``fetch_max_wait_ms=1500``, hard-coded. aiokafka keeps one fetch
in flight per broker, and partitions whose records are still buffered are left out of it; so while
the agent works through a raw partition, the fetch in flight asks only for the partitions without
new records (the timer's ticks, the reroute topic), and the broker holds it for up to 1.5 s before
the busy partition can be fetched again. A worker fed a steady 500 mentions/s fell behind by
seconds that way, although it processes 1,100/s from a backlog. A short wait costs the broker an
empty fetch every few tens of milliseconds when the worker is idle.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("mentionwatch")

PINNED_FAUST = "0.15.3"


def shorten_fetch_wait(fetch_max_wait_ms: int) -> bool:
    """Make faust's worker consumer wait at most fetch_max_wait_ms at the broker. Returns False
    (and logs) if the installed faust isn't the version this was written against."""
    import faust
    from faust.transport.drivers import aiokafka as driver

    if faust.__version__ != PINNED_FAUST:
        log.warning("faust %s is not %s: fetch wait left at faust's default", faust.__version__,
                    PINNED_FAUST)
        return False
    thread_class: Any = driver.AIOKafkaConsumerThread
    original = getattr(thread_class._create_worker_consumer, "__wrapped__",
                       thread_class._create_worker_consumer)

    def create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read by AIOKafkaConsumer.start()
        return consumer

    create_worker_consumer.__wrapped__ = original  # type: ignore[attr-defined]
    thread_class._create_worker_consumer = create_worker_consumer
    return True
