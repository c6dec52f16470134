"""The worker's local state directory (faust's ``datadir``): whose it is, and whether it can be
trusted.

faust writes a table update to RocksDB at once, while its changelog record (and our output
records) wait in the producer's buffer; a kill -9 then leaves the local state *ahead* of the
changelog and of the output topics. So local state is trusted only after a clean stop: a
``RUNNING`` marker is written at start and removed only when the faust worker stopped normally
(producer flushed, offsets committed, tables closed). Finding the marker at start means the
previous run ended some other way: the local tables are deleted and faust restores them from
the changelog, which only holds what the broker acknowledged.

``installation.json`` names the installation the state belongs to; a worker of another
installation refuses it instead of restoring, or exporting, someone else's state.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.config import ConfigError, Settings

log = logging.getLogger("mentionwatch")

MARKER = "RUNNING"
IDENTITY = "installation.json"
LOCK = "worker.lock"
IDENTITY_FORMAT = 1


class StateDirError(ConfigError):
    """The state directory can't be used by this worker; the message says why and what to do."""


class ForeignStateError(StateDirError):
    """The state directory belongs to another installation."""


class StateDirInUse(StateDirError):
    """Another running worker holds the state directory."""


def identity(settings: Settings) -> dict[str, Any]:
    """What makes state belong to one installation: the app id (consumer group, changelog
    topics) and the topics the state was derived from."""
    return {
        "format": IDENTITY_FORMAT,
        "installation_id": settings.installation_id,
        "topics": {
            "raw": settings.topic_raw,
            "enriched": settings.topic_enriched,
            "dlq": settings.topic_dlq,
            "events": settings.topic_events,
            "ticks": settings.topic_ticks,
            "rerouted": settings.topic_rerouted,
        },
    }


def _describe(ident: dict[str, Any]) -> str:
    topics = ident.get("topics") or {}
    raw = topics.get("raw", "?") if isinstance(topics, dict) else "?"
    return f"installation {ident.get('installation_id', '?')!r} (topics {raw!r}, ...)"


def table_dirs(state_dir: Path) -> list[Path]:
    """faust 0.15.3's local table state under ``datadir``: its app directory
    ``datadir/v<app version>`` (Settings.appdir), which holds ``tables/`` (Settings.tabledir,
    relative) with one ``<table>-<partition>.db`` RocksDB per partition (RocksDBStore's
    partition_path). Other versions' directories are stale state of the same tables."""
    if not state_dir.is_dir():
        return []
    return sorted(p for p in state_dir.iterdir()
                  if p.is_dir() and p.name.startswith("v") and p.name[1:].isdigit())


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    # The marker must be on disk before faust writes the first table update.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@dataclass
class StateDir:
    """An opened state directory, locked for this process until it exits."""

    path: Path
    was_dirty: bool
    _lock_fd: int | None

    @property
    def marker(self) -> Path:
        return self.path / MARKER

    def mark_clean_stop(self) -> None:
        """The worker stopped normally: its local state agrees with the changelog."""
        self.marker.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            dir_fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None


def _lock(path: Path) -> int:
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise StateDirInUse(
            f"the state directory {path} is in use by another running worker (pid {holder}); "
            "two workers on one host need two MENTIONWATCH_WEB_PORTs") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _check_identity(path: Path, mine: dict[str, Any]) -> bool:
    """True when the directory already names this installation; False when it names none.
    Raises ForeignStateError when it names another one."""
    file = path / IDENTITY
    try:
        theirs = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as exc:
        raise StateDirError(
            f"{file} can't be read ({exc}): it says which installation the state in {path} "
            "belongs to. Move the directory away if it is not needed; the worker then restores "
            "its state from the changelog.") from None
    if not isinstance(theirs, dict):
        raise StateDirError(f"{file} is not a JSON object; move {path} away")
    if (theirs.get("installation_id") == mine["installation_id"]
            and theirs.get("topics") == mine["topics"]):
        return True
    raise ForeignStateError(
        f"the state directory {path} belongs to {_describe(theirs)}, not to this worker's "
        f"{_describe(mine)}: refusing to use another installation's state. Check "
        "MENTIONWATCH_HOME, MENTIONWATCH_APP_ID and MENTIONWATCH_TOPIC_PREFIX, or move the "
        "directory away.")


def open_state_dir(settings: Settings) -> StateDir:
    """Lock the worker's state directory, check it belongs to this installation, discard table
    state a previous run left without a clean stop, then mark the directory as in use.

    Raises StateDirError (a ConfigError) when the directory can't be used."""
    path = settings.state_dir
    path.mkdir(parents=True, exist_ok=True)
    lock_fd = _lock(path)
    try:
        mine = identity(settings)
        known = _check_identity(path, mine)
        marker = path / MARKER
        dirty = marker.exists()
        if dirty:
            try:
                previous = marker.read_text(encoding="utf-8").strip() or "unknown"
            except OSError:
                previous = "unknown"
            removed = table_dirs(path)
            for directory in removed:
                shutil.rmtree(directory)
            log.warning(
                "the previous worker on %s (%s) did not stop cleanly: its local table state "
                "may be ahead of the changelog, so it was deleted (%s) and will be restored "
                "from the changelog", path, previous,
                ", ".join(d.name for d in removed) or "nothing on disk yet")
        if not known:
            _write_atomically(path / IDENTITY, json.dumps(mine, indent=2, sort_keys=True) + "\n")
        _write_atomically(marker, f"pid {os.getpid()}, started "
                          f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
    except BaseException:
        os.close(lock_fd)
        raise
    return StateDir(path=path, was_dirty=dirty, _lock_fd=lock_fd)
