"""The fetch-wait setting reaches the consumer faust builds (agents/faust_compat.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from agents.config import load_settings
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
