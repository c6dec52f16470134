"""The state directory: trusted only after a clean stop, and only by its own installation."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from agents.config import ConfigError, load_settings
from agents.state_dir import (
    IDENTITY,
    MARKER,
    ForeignStateError,
    StateDirError,
    StateDirInUse,
    open_state_dir,
    table_dirs,
)


def settings_for(home: Path, **env: str):  # type: ignore[no-untyped-def]
    return load_settings({"MENTIONWATCH_HOME": str(home), "MENTIONWATCH_WEB_PORT": "7001", **env})


def fake_tables(state: Path) -> Path:
    # The layout faust 0.15.3 gives a rocksdb:// table under datadir: v1/tables/<table>-<n>.db
    db = state / "v1" / "tables" / "threads-0.db"
    db.mkdir(parents=True)
    (db / "CURRENT").write_text("MANIFEST-000001\n")
    return db


def test_clean_stop_keeps_tables(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_for(tmp_path)
    first = open_state_dir(settings)
    assert first.path == settings.state_dir and not first.was_dirty
    assert (first.path / MARKER).read_text().startswith("pid ")
    ident = json.loads((first.path / IDENTITY).read_text())
    assert ident["installation_id"] == "mentionwatch"
    assert ident["topics"]["raw"] == "mentions.raw"
    db = fake_tables(first.path)
    first.mark_clean_stop()
    first.release()
    assert not (first.path / MARKER).exists()
    with caplog.at_level(logging.WARNING, logger="mentionwatch"):
        second = open_state_dir(settings)
    assert not second.was_dirty and db.exists()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    second.release()


def test_dirty_start_deletes_the_tables(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                        ) -> None:
    settings = settings_for(tmp_path)
    first = open_state_dir(settings)
    db = fake_tables(first.path)
    (first.path / "v0" / "tables").mkdir(parents=True)  # an older app version's tables
    assert [p.name for p in table_dirs(first.path)] == ["v0", "v1"]
    first.release()  # the process died: no clean stop
    with caplog.at_level(logging.WARNING, logger="mentionwatch"):
        second = open_state_dir(settings)
    assert second.was_dirty
    assert not db.exists() and table_dirs(second.path) == []
    assert (second.path / IDENTITY).exists() and (second.path / MARKER).exists()
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "did not stop cleanly" in warning.getMessage()
    assert "restored from the changelog" in warning.getMessage()
    assert "v0, v1" in warning.getMessage()
    second.release()


def test_another_installation_is_refused(tmp_path: Path) -> None:
    open_state_dir(settings_for(tmp_path, MENTIONWATCH_APP_ID="shop.mw")).release()
    # Same directory (the installation id is the same), other topics: other state.
    other = settings_for(tmp_path, MENTIONWATCH_APP_ID="shop.mw",
                         MENTIONWATCH_TOPIC_PREFIX="shop.")
    assert other.state_dir == settings_for(tmp_path, MENTIONWATCH_APP_ID="shop.mw").state_dir
    with pytest.raises(ForeignStateError) as refused:
        open_state_dir(other)
    message = str(refused.value)
    assert str(other.state_dir) in message
    assert "'mentions.raw'" in message and "'shop.mentions.raw'" in message
    assert isinstance(refused.value, ConfigError)
    # Refused without touching it: the marker of the previous (dirty) run is still there.
    assert (other.state_dir / MARKER).exists()


def test_a_copied_directory_of_another_installation(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    settings.state_dir.mkdir(parents=True)
    (settings.state_dir / IDENTITY).write_text(json.dumps(
        {"format": 1, "installation_id": "acme", "topics": {"raw": "acme.mentions.raw"}}))
    db = fake_tables(settings.state_dir)
    with pytest.raises(ForeignStateError, match=r"'acme'.*'mentionwatch'"):
        open_state_dir(settings)
    assert db.exists()
    (settings.state_dir / IDENTITY).write_text("{not json")
    with pytest.raises(StateDirError, match="can't be read"):
        open_state_dir(settings)


def test_a_running_worker_holds_the_directory(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    running = open_state_dir(settings)
    db = fake_tables(running.path)
    with pytest.raises(StateDirInUse, match="in use by another running worker"):
        open_state_dir(settings)  # it must not take the live marker for a dirty stop
    assert db.exists()
    running.release()
