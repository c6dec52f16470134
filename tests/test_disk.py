"""Disk full in the forms it reaches the worker: OSError from our files, rocksdict's plain
Exception from RocksDB (checked on a real full file system when this machine lets us mount one)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.disk import free_bytes, is_disk_full


def test_oserror_enospc_and_edquot() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    # An errno says what it is, whatever the text says.
    assert not is_disk_full(OSError(errno.EIO, "no space left on device?"))


def test_rocksdb_message_and_chains() -> None:
    rocks = Exception("IO error: No space left on device: While appending to file: "
                      "/h/state/v1/tables/threads-0.db/000004.log: No space left on device")
    assert is_disk_full(rocks)
    assert is_disk_full(Exception("IO error: Disk quota exceeded: While fsyncing"))
    assert not is_disk_full(Exception("IO error: lock hold by current process"))
    assert not is_disk_full(ValueError("bad record"))
    try:
        try:
            raise rocks
        except Exception as inner:
            raise RuntimeError("table write failed") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise KeyError("while handling") from None  # suppressed context: still chained
    except KeyError as during:
        assert during.__context__ is not None
        assert is_disk_full(during)
    cyclic = RuntimeError("a")
    cyclic.__context__ = RuntimeError("b")
    cyclic.__context__.__context__ = cyclic
    assert not is_disk_full(cyclic)


def test_free_bytes(tmp_path: Path) -> None:
    assert free_bytes(tmp_path) == shutil.disk_usage(tmp_path).free
    assert free_bytes(tmp_path / "not" / "yet") == free_bytes(tmp_path)


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.fail("can't mount a small tmpfs here (needs root, as CI and the sessions run): "
                    f"{done.stderr.decode(errors='replace')}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_real_full_file_system(tiny_fs: Path) -> None:
    import rocksdict

    db = rocksdict.Rdict(str(tiny_fs / "db"))
    with pytest.raises(Exception) as rocks:  # rocksdict raises a plain Exception
        for i in range(10_000):
            db[b"k%d" % i] = os.urandom(1000)
        db.flush()
    assert is_disk_full(rocks.value), repr(rocks.value)
    with contextlib.suppress(Exception):  # closing flushes again, into the full disk
        db.close()
    with pytest.raises(OSError) as ours, open(tiny_fs / "file", "wb") as handle:
        handle.write(b"x" * 1_000_000)
        handle.flush()
    assert is_disk_full(ours.value)
    assert free_bytes(tiny_fs) < 64 * 1024
