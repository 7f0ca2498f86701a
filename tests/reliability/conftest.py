"""Shared helpers for the reliability tests (scaled by ``LOUPE_RELIABILITY_SCALE``).

``LOUPE_RELIABILITY_SCALE=1`` (the default) is the CI size: the whole folder runs in well under
five minutes on two cores. Larger values multiply trial, image and action counts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reliability.helpers import REPO

__all__ = ["REPO", "SCALE", "fill_disk", "remount_read_only", "scaled"]


def _scale() -> float:
    raw = os.environ.get("LOUPE_RELIABILITY_SCALE", "1")
    try:
        value = float(raw)
    except ValueError:
        raise pytest.UsageError(f"LOUPE_RELIABILITY_SCALE must be a number, not {raw!r}") from None
    return max(value, 0.1)


SCALE = _scale()


def scaled(n: int, minimum: int = 1) -> int:
    """``n`` times the reliability scale, at least ``minimum``."""
    return max(minimum, round(n * SCALE))


# ----------------------------------------------------------------------------- tmpfs


def _can_mount() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def make_tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount small tmpfs file systems (a real full disk / read-only medium); skip if we can't."""
    mounted: list[Path] = []

    def mount(size: str = "4m", name: str = "fs", read_only: bool = False) -> Path:
        if not _can_mount() or shutil.which("mount") is None:
            pytest.skip("mounting a tmpfs needs root on Linux")
        target = tmp_path / name
        target.mkdir()
        opts = f"size={size}" + (",ro" if read_only else "")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(target)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        with contextlib.suppress(OSError):
            subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


def remount_read_only(target: Path) -> None:
    done = subprocess.run(
        ["mount", "-o", "remount,ro", str(target)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only: {done.stderr.strip()}")


def fill_disk(directory: Path, name: str = "filler") -> Path:
    """Write a file until the file system is full; returns its path (delete it to free)."""
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for block in (1 << 16, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * block)
    finally:
        os.close(fd)
    return path
