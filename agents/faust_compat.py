"""Every private faust-streaming/aiokafka attribute mentionwatch touches, in one place, checked
against the versions it was written for (pinned in pyproject.toml).

``check_versions`` runs at worker start: another faust, mode or aiokafka is refused with a
clear error rather than misbehaving quietly (a renamed private attribute would silently turn
the offset-gap guard or the lag gauge off). Each accessor below says why it needs the private
attribute. One other place depends on these versions' internals and is covered by the same
check: agents/lifecycle.py's GracefulWorker overrides mode's signal handling
(`_install_signal_handlers_unix`, `_schedule_shutdown`) so SIGHUP stops a worker like SIGTERM.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("mentionwatch")

SUPPORTED = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1", "aiokafka": "0.14.0"}


class UnsupportedVersion(RuntimeError):
    """An installed library is not the version this module was written against."""


def installed_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in SUPPORTED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def check_versions(installed: dict[str, str] | None = None) -> None:
    """Raise UnsupportedVersion naming every library whose version differs from SUPPORTED."""
    found = installed_versions() if installed is None else installed
    wrong = [f"{name} {found.get(name, 'not installed')} (needs {want})"
             for name, want in SUPPORTED.items() if found.get(name) != want]
    if wrong:
        raise UnsupportedVersion(
            "mentionwatch relies on internals of exactly these versions: " + ", ".join(wrong)
            + ". Install the pinned versions (pip install -e .) or update agents/faust_compat.py"
            " and its tests.")


# -- the consumer's fetch wait --------------------------------------------------------------------
# faust creates its consumer with fetch_max_wait_ms=1500, hard-coded. aiokafka keeps one fetch in
# flight per broker, and partitions whose records are still buffered are left out of it; so while
# the agent works through a raw partition, the fetch in flight asks only for the partitions
# without new records (the timer's ticks, the reroute topic), and the broker holds it for up to
# 1.5 s before the busy partition can be fetched again. A worker fed a steady 500 mentions/s fell
# behind by seconds that way, although it processes 1,100/s from a backlog.

def shorten_fetch_wait(fetch_max_wait_ms: int) -> None:
    """Make faust's worker consumer wait at most fetch_max_wait_ms at the broker."""
    from faust.transport.drivers import aiokafka as driver

    thread_class: Any = driver.AIOKafkaConsumerThread
    original = getattr(thread_class._create_worker_consumer, "__wrapped__",
                       thread_class._create_worker_consumer)

    def create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read by AIOKafkaConsumer.start()
        return consumer

    create_worker_consumer.__wrapped__ = original  # type: ignore[attr-defined]
    thread_class._create_worker_consumer = create_worker_consumer


# -- offsets --------------------------------------------------------------------------------------

def committed_offset(app: Any, tp: Any) -> int | None:
    """The group's committed offset of tp as faust last saw it (public API only gives it with a
    broker round trip)."""
    value: int | None = app.consumer._committed_offset.get(tp)
    return value


def read_offset(app: Any, tp: Any) -> int | None:
    """The offset of the last record faust handed to a stream from tp (for the lag gauge)."""
    value: int | None = app.consumer._read_offset.get(tp)
    return value


async def mark_offsets_done(app: Any, tp: Any, first: int, last: int) -> None:
    """Tell faust the offsets [first, last] are acknowledged: a "gap" is a range the consumer
    counts as acknowledged when it computes the offset to commit. Without it the commit stalls
    at `first` after the offset guard (agents/offsets.py) processed skipped records itself."""
    await app.consumer._add_gap(tp, first, last)


def generation_id(app: Any) -> int | None:
    """The consumer group generation: changes with every rebalance."""
    value: int | None = app.consumer_generation_id
    return value


# -- tables ---------------------------------------------------------------------------------------

def table_get(table: Any, key: bytes) -> bytes | None:
    """A table value with one store lookup. faust's Table.get asks RocksDB twice for a stored key
    (whether it exists, then its value); the store's own get asks once. Only faust's table-read
    sensor is skipped (its web stats, which we turn off)."""
    value: bytes | None = table.data.get(key)
    return value


def is_recovering(app: Any) -> bool:
    """True while faust restores tables from their changelogs or reassigns partitions."""
    return bool(app.rebalancing or getattr(app, "in_recovery", False))


def active_partitions(app: Any, topic: str) -> frozenset[int]:
    """The partitions of topic assigned to this worker as active (not standby)."""
    return frozenset(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic)


def highwater(app: Any, tp: Any) -> int | None:
    value: int | None = app.consumer.highwater(tp)
    return value


def assigned_actives(app: Any) -> set[Any]:
    result: set[Any] = app.assignor.assigned_actives()
    return result


# -- the producer: idempotent, acks=all -----------------------------------------------------------
# faust 0.15.3 turns on aiokafka's idempotent producer only inside transactions (exactly_once,
# which we don't use: FAUST_NOTES.md). Without it, a produce retried after a broker failover
# (the leader died after writing but before answering) writes the record twice, and a retry can
# reorder records of a partition. The broker's producer-id/sequence check prevents both.

def idempotent_producer() -> None:
    """Make every producer faust creates idempotent with acks=all."""
    from faust.transport.drivers import aiokafka as driver

    producer_class: Any = driver.Producer
    original = getattr(producer_class._settings_extra, "__wrapped__",
                       producer_class._settings_extra)

    def settings_extra(self: Any) -> Any:
        return {**original(self), "acks": "all", "enable_idempotence": True}

    settings_extra.__wrapped__ = original  # type: ignore[attr-defined]
    producer_class._settings_extra = settings_extra


# -- topic configs of the tables' changelogs ------------------------------------------------------

def add_changelog_config(app: Any, config: dict[str, str]) -> None:
    """Add topic configs (min.insync.replicas) to the changelog topic of every table of app.
    faust builds a table's changelog Topic when the table is registered, from the table's
    extra_topic_configs, and creates it at worker start from Topic.config: both are set, so a
    clone (faust clones the topic for its changelog reader) carries them too."""
    for table in app.tables.values():
        table.extra_topic_configs = {**table.extra_topic_configs, **config}
        topic = table.changelog_topic
        topic.config = {**topic.config, **config}


# -- the group's workers and their web servers ----------------------------------------------------

def canonical_url(app: Any) -> str:
    """This worker's web server as the other workers reach it (faust's canonical_url: what
    every member announces to the group's assignor)."""
    return str(app.conf.canonical_url).rstrip("/")


def table_workers(app: Any, table_name: str) -> dict[str, frozenset[int]]:
    """The group's workers (their canonical URLs) and the partitions of the table each holds
    as active, from the assignment the group leader handed out at the last rebalance
    (app.router.table_metadata: {url: {changelog topic: [partitions]}}). Empty before the
    first assignment."""
    try:
        metadata = app.router.table_metadata(table_name)
    except KeyError:  # the table isn't registered (yet)
        return {}
    out: dict[str, frozenset[int]] = {}
    for url, topics in metadata.items():
        parts: set[int] = set()
        for partitions in topics.values():
            parts.update(int(p) for p in partitions)
        out[str(url).rstrip("/")] = frozenset(parts)
    return out
