"""Disk full: recognise it in whatever form it reaches us, and measure free space.

A full MENTIONWATCH_HOME shows up as an ``OSError`` (ENOSPC, or EDQUOT over a quota) from our
own files, and as a plain ``Exception`` from rocksdict, whose message is RocksDB's status, e.g.
``IO error: No space left on device: While appending to file: .../000004.log: No space left
on device`` (rocksdict 0.3.29 with a full tmpfs). The caller pauses, reports not ready and
resumes when space is back, instead of crash-looping.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# strerror(ENOSPC) and strerror(EDQUOT) as glibc words them, which RocksDB repeats.
_FULL_MESSAGES = ("no space left on device", "disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """True when exc, or an exception it was raised from or during, says the disk is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return True
        # Only OSErrors without an errno, and other exceptions (rocksdict's), go by the text:
        # an OSError with another errno is about something else, whatever its message says.
        if not (isinstance(current, OSError) and current.errno is not None):
            text = str(current).lower()
            if any(message in text for message in _FULL_MESSAGES):
                return True
        current = current.__cause__ or current.__context__
    return False


def free_bytes(path: Path | str) -> int:
    """Bytes an unprivileged process may still write on path's file system (the nearest
    existing ancestor of path, so it works before the directory is created)."""
    probe = Path(path).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    stats = os.statvfs(probe)
    return stats.f_bavail * stats.f_frsize
