"""Atomic file writes: a temp file beside the target, fsync, ``os.replace``, fsync the folder.

A reader (or a restart after a crash) sees either the old file or the complete new one, never
a torn one; a failed write leaves no temp file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


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
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        mode = "wb" if binary else "w"
        kwargs = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as fh:
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
