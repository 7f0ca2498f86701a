"""Atomic file writes: a temp file beside the target, fsync, ``os.replace``, fsync the folder.

A reader (or a restart after a crash) sees either the old file or the complete new one, never
a torn one; a failed write leaves no temp file behind. The new file gets the mode a plain
``open(out, "w")`` would give it: the existing file's mode when it is replaced, else
``0o666`` minus the user's umask (``0644`` under umask 022), not ``mkstemp``'s private ``0600``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the platform allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # os.umask can only be read by setting it: restore it at once
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def new_file_mode(out: Path) -> int:
    """Permission bits for a file written at ``out``: kept if it exists, else 0o666 & ~umask."""
    try:
        return stat.S_IMODE(os.stat(out).st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def fsync_dir(directory: Path) -> None:
    """Make a rename durable where the platform allows syncing a directory (POSIX)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return  # e.g. permission quirks on network file systems: the rename itself is done
    try:
        with contextlib.suppress(OSError):  # some file systems cannot fsync a directory
            os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(out: Path, write: Callable[[IO[Any]], None], *, binary: bool = False) -> None:
    """Run ``write(fh)`` on a temp file ``.<name>.*.tmp`` beside ``out``, then replace ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    mode = new_file_mode(out)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        open_mode = "wb" if binary else "w"
        kwargs = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, open_mode, **kwargs) as fh:
            if hasattr(os, "fchmod"):  # POSIX; on Windows the file takes the folder's ACL
                os.fchmod(fh.fileno(), mode)
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(out.parent)


def atomic_write_bytes(out: Path, data: bytes) -> None:
    """Atomically replace ``out`` with ``data``."""
    atomic_write(out, lambda fh: fh.write(data), binary=True)
