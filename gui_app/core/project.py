"""A Loupe project: an image folder plus its ``.loupe/`` directory of labels, cache and model."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from gui_app.core.atomic import atomic_write
from gui_app.core.errors import LoupeError

if TYPE_CHECKING:
    from gui_app.core.lock import ProjectLock

PROJECT_DIRNAME = ".loupe"


class ProjectError(LoupeError):
    """The project cannot be opened where asked, with the reason and what to do instead."""


def _check_writable(directory: Path) -> None:
    """Create ``directory`` if needed and prove we can write a file in it."""
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        if created:  # leave no empty .loupe/ behind
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise unwritable_error(f"cannot write the project files to {directory}", exc) from exc


def unwritable_error(what: str, exc: OSError) -> ProjectError:
    """``what`` failed with ``exc``: a ProjectError that says why and points to --project-dir."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        reason = f"{reason} (the folder is read-only)"
    return ProjectError(
        f"{what}: {reason}. Choose another location for the project files with --project-dir DIR."
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "project"


class Project:
    """Paths of one project; the stores are opened by their owners (threads differ).

    The owner of a labeling session calls :meth:`acquire_lock` right after opening (and
    :meth:`release_lock` when closing) so that a second window on the same project is refused
    with `gui_app.core.lock.ProjectLocked` instead of writing labels concurrently.

    Parameters
    ----------
    root
        The image folder.
    project_dir
        Where to keep the project files instead of ``root/.loupe`` (read-only folders).
    """

    def __init__(self, root: Path, project_dir: Path | None = None) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise ProjectError(f"not a folder: {self.root}")
        self.dir = (
            Path(project_dir).expanduser().resolve()
            if project_dir is not None
            else self.root / PROJECT_DIRNAME
        )
        _check_writable(self.dir)
        self._lock: ProjectLock | None = None

    @property
    def labels_path(self) -> Path:
        return self.dir / "labels.sqlite"

    @property
    def features_path(self) -> Path:
        return self.dir / "features.h5"

    @property
    def model_path(self) -> Path:
        return self.dir / "model.pkl"

    @property
    def engines_dir(self) -> Path:
        """Converted inference models (LiteRT) cached per backbone."""
        return self.dir / "engines"

    @property
    def unreadable_csv(self) -> Path:
        return self.dir / "unreadable.csv"

    @property
    def lock_path(self) -> Path:
        """``<dir>/lock``: JSON naming the window that holds the project (see lock.py)."""
        return self.dir / "lock"

    def acquire_lock(self) -> ProjectLock:
        """Take this project's exclusive lock for the session (idempotent).

        Raises
        ------
        gui_app.core.lock.ProjectLocked
            Another live Loupe process has the project open (a `ProjectError`).
        ProjectError
            The lock file cannot be written.
        """
        from gui_app.core.lock import ProjectLock

        if self._lock is None:
            self._lock = ProjectLock(self.dir)
        return self._lock.acquire()

    def release_lock(self) -> None:
        """Release the lock taken by :meth:`acquire_lock` (no-op when not held)."""
        if self._lock is not None:
            self._lock.release()

    @property
    def locked(self) -> bool:
        """Whether this object currently holds the project lock."""
        return self._lock is not None and self._lock.held

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r}, dir={str(self.dir)!r})"


def default_project_dir_for(root: Path, base: Path) -> Path:
    """A per-folder project location under ``base`` (for read-only image folders)."""
    digest = hashlib.sha1(str(Path(root).resolve()).encode("utf-8")).hexdigest()[:10]
    return base / f"{_slug(Path(root).name)}-{digest}"


def write_unreadable_csv(path: Path, unreadable: dict[str, str]) -> None:
    """Write ``path,reason`` rows atomically."""
    import csv

    from gui_app.core.export import safe_csv_cell

    def write(fh) -> None:
        writer = csv.writer(fh)
        writer.writerow(["path", "reason"])
        for rel, reason in sorted(unreadable.items()):
            writer.writerow([safe_csv_cell(rel), safe_csv_cell(reason)])

    atomic_write(path, write)
