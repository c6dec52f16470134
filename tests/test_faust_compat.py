"""agents/faust_compat.py against the installed faust, mode and aiokafka, without a broker: the
version check, the fetch-wait setting reaching the consumer faust builds, and every private
attribute the accessors (and agents/lifecycle.py's overrides) rely on existing on the real
objects, so an upgrade that renames one fails here rather than quietly turning off the offset
guard, the lag gauge or SIGHUP handling."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest

from agents import faust_compat
from agents.config import load_settings
from agents.faust_compat import SUPPORTED, UnsupportedVersion, check_versions
from agents.worker import build_pipeline


def _worker_consumer(env: dict[str, str]) -> Any:
    pipeline = build_pipeline(load_settings(env))

    async def create() -> Any:
        app = pipeline.app
        return app.consumer._thread._create_worker_consumer(app.transport)

    return asyncio.run(create())


def test_the_worker_consumer_gets_the_configured_fetch_wait(tmp_path: Path) -> None:
    consumer = _worker_consumer({"MENTIONWATCH_HOME": str(tmp_path),
                                 "MENTIONWATCH_FETCH_MAX_WAIT_MS": "77"})
    assert consumer._fetch_max_wait_ms == 77


def test_the_default_is_short_not_fausts_1500_ms(tmp_path: Path) -> None:
    consumer = _worker_consumer({"MENTIONWATCH_HOME": str(tmp_path)})
    assert consumer._fetch_max_wait_ms == 100


# -- the version check ----------------------------------------------------------------------------

def test_the_pinned_versions_pass_and_are_the_installed_ones() -> None:
    check_versions(dict(SUPPORTED))
    assert faust_compat.installed_versions() == SUPPORTED
    check_versions()


@pytest.mark.parametrize(("name", "found", "named"), [
    ("aiokafka", "0.15.0", "aiokafka 0.15.0 (needs 0.14.0)"),
    ("faust-streaming", "0.15.4", "faust-streaming 0.15.4 (needs 0.15.3)"),
    ("mode-streaming", None, "mode-streaming not installed (needs 0.7.1)"),
])
def test_a_wrong_or_missing_version_is_refused_by_name(name: str, found: str | None,
                                                       named: str) -> None:
    installed = {k: v for k, v in SUPPORTED.items() if k != name}
    if found is not None:
        installed[name] = found
    with pytest.raises(UnsupportedVersion) as info:
        check_versions(installed)
    message = str(info.value)
    assert named in message
    assert all(other not in message for other in SUPPORTED if other != name)


# -- the private attributes, on the real objects --------------------------------------------------

def test_every_private_attribute_the_accessors_use_exists(tmp_path: Path) -> None:
    from faust.types import TP

    settings = load_settings({"MENTIONWATCH_HOME": str(tmp_path)})
    pipeline = build_pipeline(settings)
    app = pipeline.app
    consumer = app.consumer
    table = pipeline.tracker.table
    tp = TP(settings.topic_raw, 0)

    # Offsets (committed_offset, read_offset, mark_offsets_done) and the generation.
    assert isinstance(consumer._committed_offset, dict)
    assert isinstance(consumer._read_offset, dict)
    assert inspect.iscoroutinefunction(consumer._add_gap)
    assert list(inspect.signature(consumer._add_gap).parameters) == [
        "tp", "offset_from", "offset_to"]
    assert isinstance(app.consumer_generation_id, int)
    # Tables: the store's own get (table_get), the recovery flags (is_recovering).
    assert callable(table.data.get)
    assert isinstance(app.rebalancing, bool)
    assert hasattr(app, "in_recovery")  # read with a default: a rename would go unnoticed
    # Assignment and lag (active_partitions, assigned_actives, highwater).
    assert callable(app.assignor.assigned_actives)
    assert callable(consumer.highwater)

    # The accessors themselves, on a worker that was never started.
    assert faust_compat.committed_offset(app, tp) is None
    assert faust_compat.read_offset(app, tp) is None
    assert faust_compat.generation_id(app) == 0
    assert faust_compat.table_get(table, b"twitter:nobody") is None
    assert faust_compat.is_recovering(app) is False
    assert faust_compat.assigned_actives(app) == set()
    assert faust_compat.active_partitions(app, settings.topic_raw) == frozenset()

    async def skip() -> None:
        await faust_compat.mark_offsets_done(app, tp, 3, 6)

    asyncio.run(skip())
    assert consumer._gap[tp]  # faust counts the range as acknowledged when it commits


def test_the_worker_overrides_methods_the_base_classes_still_have() -> None:
    """agents/lifecycle.py's GracefulWorker overrides these: an override of a method the base
    no longer has (or calls) is never called, and SIGHUP would kill a worker without a stop."""
    import faust

    from agents.lifecycle import GracefulWorker

    overridden = ("_install_signal_handlers_unix", "_schedule_shutdown", "on_worker_shutdown",
                  "on_setup_root_logger")
    called = ("_flag_as_shutdown_by_signal",)
    for name in overridden:
        assert name in vars(GracefulWorker), name
    for name in overridden + called:
        assert any(name in vars(cls) for cls in faust.Worker.__mro__), name
