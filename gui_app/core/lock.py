"""One Loupe window per project: an OS advisory lock on ``.loupe/lock`` plus who holds it.

The lock itself is an OS advisory lock (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on
Windows) on an open handle kept for the whole session, so a crashed or killed holder releases
it with its last handle. The file's content is JSON ``{"pid", "host", "time"}``, only used to
tell the user who holds the project. On POSIX it is written atomically (temp file, then
``os.replace``); whoever wins the OS lock checks that the path still names the file it locked,
so a replacement racing with an acquire can never give two holders.

On a file system without advisory locks (some network shares) the JSON alone is the lock: a
holder whose pid is no longer running on this host is stale and is taken over.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from gui_app.core.project import ProjectError, unwritable_error

LOCK_NAME = "lock"
_WINDOWS = sys.platform == "win32"
_WIN_LOCK_OFFSET = 1 << 20  # Windows locks are mandatory: lock a byte far after the JSON
_MAX_JSON = 4096
_NO_OS_LOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
_HELD_HERE: set[str] = set()  # lock files held by this process (any ProjectLock object)
_HELD_HERE_GUARD = threading.Lock()
_HELD = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK}


class ProjectLocked(ProjectError):
    """The project is open in another Loupe window; ``str(exc)`` says which one."""

    def __init__(self, message: str, holder: LockHolder | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.holder = holder


@dataclass(frozen=True)
class LockHolder:
    """Who holds a project lock: process id, host name and ISO 8601 local start time."""

    pid: int
    host: str
    time: str

    @classmethod
    def current(cls) -> LockHolder:
        now = datetime.now().astimezone().isoformat(timespec="seconds")
        return cls(os.getpid(), socket.gethostname(), now)

    def since(self) -> str:
        """``10:32`` for today, else ``2024-05-01 10:32`` (the raw text if unparsable)."""
        try:
            when = datetime.fromisoformat(self.time)
        except ValueError:
            return self.time
        if when.tzinfo is not None:
            when = when.astimezone()
        today = datetime.now().date()
        return when.strftime("%H:%M" if when.date() == today else "%Y-%m-%d %H:%M")

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host} since {self.since()}"

    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this machine (never signals it)."""
    if pid <= 0:
        return False
    if _WINDOWS:
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:  # pragma: no cover - Windows only
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # ERROR_ACCESS_DENIED: it exists
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _try_os_lock(fd: int) -> bool | None:
    """Take the OS lock without waiting: True taken, False held elsewhere, None unsupported."""
    try:
        if _WINDOWS:  # pragma: no cover - Windows only
            import msvcrt

            os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _NO_OS_LOCK:
            return None
        if exc.errno in _HELD or isinstance(exc, BlockingIOError | PermissionError):
            return False
        raise
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        there = os.stat(path)
    except OSError:
        return False
    here = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def read_holder(path: Path) -> LockHolder | None:
    """The holder recorded in a lock file, or None when missing or unreadable."""
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read(_MAX_JSON).decode("utf-8"))
        return LockHolder(int(data["pid"]), str(data["host"]), str(data["time"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def locked_message(holder: LockHolder | None) -> str:
    if holder is None:
        return "this project is open in another Loupe window"
    return f"this project is open in another Loupe window ({holder.describe()})"


class ProjectLock:
    """Exclusive lock of one project directory (``<dir>/lock``) for the session's lifetime.

    Parameters
    ----------
    directory
        The project directory (``Project.dir``, normally ``<folder>/.loupe``).

    Examples
    --------
    >>> with ProjectLock(project.dir):  # doctest: +SKIP
    ...     ...  # label safely; another window gets ProjectLocked
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.holder: LockHolder | None = None
        #: The stale holder taken over by the last `acquire` (crashed window), else None.
        self.recovered: LockHolder | None = None
        self.os_lock = False
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> ProjectLock:
        """Take the lock or raise `ProjectLocked`; idempotent while held.

        Raises
        ------
        ProjectLocked
            Another live process holds it.
        ProjectError
            The lock file cannot be created (read-only or full location).
        """
        if self._fd is not None:
            return self
        key = os.path.normcase(os.path.abspath(self.path))
        with _HELD_HERE_GUARD:
            if key in _HELD_HERE:  # another window of this very process
                holder = read_holder(self.path)
                raise ProjectLocked(locked_message(holder), holder)
            self._acquire()
            _HELD_HERE.add(key)
        return self

    def _acquire(self) -> None:
        for _ in range(20):  # retried only when another process replaced the file meanwhile
            fd = self._open()
            try:
                taken = _try_os_lock(fd)
                if taken is False:
                    holder = read_holder(self.path)
                    raise ProjectLocked(locked_message(holder), holder)
                if taken and not _WINDOWS and not _same_file(fd, self.path):
                    os.close(fd)
                    continue
                previous = read_holder(self.path)
                if taken is None:
                    self._check_json_lock(previous)
                else:
                    self._remove_leftovers()
                self._fd = self._publish(fd, taken)
            except BaseException:
                if self._fd != fd:
                    with contextlib.suppress(OSError):
                        os.close(fd)
                raise
            self.os_lock = bool(taken)
            mine = self.holder
            self.recovered = previous if previous is not None and previous != mine else None
            return
        raise ProjectError(f"cannot lock the project: {self.path} keeps being replaced")

    def _open(self) -> int:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        except OSError as exc:
            raise unwritable_error(f"cannot create the project lock {self.path}", exc) from exc

    def _remove_leftovers(self) -> None:
        """Temp files of a holder killed while publishing (only a lock holder makes them)."""
        for leftover in self.directory.glob(".lock-*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def _check_json_lock(self, previous: LockHolder | None) -> None:
        """Without OS locks: refuse a live (or unverifiable) holder, take over a dead one."""
        if previous is None or (previous.pid == os.getpid() and previous.on_this_host()):
            return  # not held by a live ProjectLock here (_HELD_HERE): left unreleased
        if not previous.on_this_host():
            raise ProjectLocked(
                locked_message(previous)
                + f"; if that window is closed, delete {self.path} and try again",
                previous,
            )
        if pid_alive(previous.pid):
            raise ProjectLocked(locked_message(previous), previous)

    def _publish(self, fd: int, taken: bool | None) -> int:
        """Record this process as the holder; returns the handle that now carries the lock."""
        self.holder = LockHolder.current()
        data = json.dumps(self.holder.__dict__).encode("utf-8")
        if _WINDOWS:  # pragma: no cover - an open file cannot be replaced on Windows
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, data)
            return fd
        try:
            tmp_fd, tmp = tempfile.mkstemp(prefix=".lock-", suffix=".tmp", dir=self.directory)
        except OSError:
            return self._publish_in_place(fd, data)
        try:
            if taken:
                _try_os_lock(tmp_fd)  # a new file nobody else can know yet: always granted
            os.write(tmp_fd, data)
            os.fsync(tmp_fd)
            os.replace(tmp, self.path)
        except OSError:
            os.close(tmp_fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return self._publish_in_place(fd, data)
        os.close(fd)  # the replaced file: whoever opened it retries on the new one
        return tmp_fd

    @staticmethod
    def _publish_in_place(fd: int, data: bytes) -> int:
        """Fallback when no temp file can be written (full disk): the OS lock is what counts."""
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        return fd

    def release(self) -> None:
        """Give the lock up (idempotent); the lock file is removed while still held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with _HELD_HERE_GUARD:
            _HELD_HERE.discard(os.path.normcase(os.path.abspath(self.path)))
        try:
            if not _WINDOWS:
                ours = (
                    _same_file(fd, self.path)
                    if self.os_lock
                    else read_holder(self.path) == self.holder
                )
                if ours:
                    with contextlib.suppress(OSError):
                        os.unlink(self.path)
        finally:
            os.close(fd)  # releases the OS lock
        if _WINDOWS:  # pragma: no cover - fails harmlessly if another window has it open
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self.holder = None

    def __enter__(self) -> ProjectLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            with contextlib.suppress(OSError):
                self.release()

    def __repr__(self) -> str:
        return f"ProjectLock({str(self.path)!r}, held={self.held})"
