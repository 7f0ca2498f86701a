"""Two windows on one folder: `ProjectLock` lets exactly one process write a project."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gui_app.core import lock as lock_module
from gui_app.core.lock import LockHolder, ProjectLock, ProjectLocked, read_holder
from gui_app.core.project import Project, ProjectError
from tests.reliability.conftest import scaled
from tests.reliability.helpers import REPO, child_env

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")

HOLD = r"""
import sys, time
from pathlib import Path
from gui_app.core.project import Project
project = Project(Path(sys.argv[1]))
project.acquire_lock()
print("held", flush=True)
time.sleep(600)
"""

TRY = r"""
import sys
from pathlib import Path
from gui_app.core.lock import ProjectLocked
from gui_app.core.project import Project, ProjectError
try:
    Project(Path(sys.argv[1])).acquire_lock()
except ProjectLocked as exc:
    assert isinstance(exc, ProjectError)
    print("refused:", exc, flush=True)
else:
    print("acquired", flush=True)
"""

WORKER = r"""
import os, random, sys, time
from pathlib import Path
from gui_app.core.lock import ProjectLocked, pid_alive
from gui_app.core.project import Project

root, seconds = Path(sys.argv[1]), float(sys.argv[2])
marker = root / ".loupe" / "writer"
rng = random.Random(os.getpid())
held = refused = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    project = Project(root)
    try:
        project.acquire_lock()
    except ProjectLocked:
        refused += 1
        time.sleep(rng.uniform(0, 0.003))
        continue
    try:  # the critical section: we must be the only writer
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        other = int(marker.read_text() or 0)
        if pid_alive(other):
            print(f"VIOLATION: {other} still writing", flush=True)
        marker.unlink()  # left by a writer that was killed inside its critical section
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    held += 1
    time.sleep(rng.uniform(0, 0.004))
    marker.unlink()
    project.release_lock()
print(f"held {held} refused {refused}", flush=True)
"""


def _python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _try_from_another_process(root: Path) -> str:
    proc = _python(TRY, str(root))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out.strip()


def _message_pattern(pid: int) -> str:
    host = re.escape(socket.gethostname())
    return rf"^refused: this project is open in another Loupe window \(pid {pid} on host {host} since \d\d:\d\d\)$"  # noqa: E501


def test_second_window_in_another_process_is_refused_with_who_holds_it(tmp_path: Path) -> None:
    project = Project(tmp_path)
    lock = project.acquire_lock()
    assert project.locked and lock.os_lock
    data = json.loads(project.lock_path.read_text())
    assert data["pid"] == os.getpid() and data["host"] == socket.gethostname()
    assert datetime.fromisoformat(data["time"]).tzinfo is not None
    assert not list(project.dir.glob(".lock-*"))  # written atomically: no temp file left
    assert re.match(_message_pattern(os.getpid()), _try_from_another_process(tmp_path))
    project.release_lock()
    assert not project.locked and not project.lock_path.exists()
    assert _try_from_another_process(tmp_path) == "acquired"  # and it released at exit


def test_second_window_in_the_same_process_is_refused(tmp_path: Path) -> None:
    first, second = Project(tmp_path), Project(tmp_path)
    first.acquire_lock()
    assert first.acquire_lock() is first.acquire_lock()  # idempotent for its holder
    with pytest.raises(ProjectLocked, match=rf"\(pid {os.getpid()} on host "):
        second.acquire_lock()
    first.release_lock()
    first.release_lock()  # idempotent
    second.acquire_lock()
    second.release_lock()


@posix_only
def test_lock_of_a_killed_window_is_recovered_automatically(tmp_path: Path) -> None:
    holder = _python(HOLD, str(tmp_path))
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    assert re.match(_message_pattern(holder.pid), _try_from_another_process(tmp_path))
    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=30)
    stale = read_holder(tmp_path / ".loupe" / "lock")
    assert stale is not None and stale.pid == holder.pid  # the crash left its JSON behind
    project = Project(tmp_path)
    lock = project.acquire_lock()  # no manual clean-up needed
    assert lock.recovered == stale and lock.holder.pid == os.getpid()
    assert read_holder(project.lock_path) == lock.holder
    project.release_lock()


@posix_only
def test_never_two_writers(tmp_path: Path) -> None:
    """Workers race for the lock while some are killed -9 inside their critical section."""
    Project(tmp_path)
    seconds = 2.0 * scaled(1)
    workers = [_python(WORKER, str(tmp_path), str(seconds)) for _ in range(4)]
    time.sleep(seconds / 3)
    killed = workers.pop(0)
    killed.send_signal(signal.SIGKILL)  # maybe while holding the lock: must not wedge the rest
    killed.communicate(timeout=30)
    workers.append(_python(WORKER, str(tmp_path), str(seconds / 2)))
    outputs = []
    for proc in workers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(out)
    joined = "".join(outputs)
    assert "VIOLATION" not in joined, joined
    held = [int(m) for m in re.findall(r"held (\d+)", joined)]
    refused = [int(m) for m in re.findall(r"refused (\d+)", joined)]
    assert len(held) == 4 and sum(held) >= 20 and sum(refused) >= 20, joined


def test_context_manager_and_repr(tmp_path: Path) -> None:
    with ProjectLock(tmp_path) as lock:
        assert lock.held and "held=True" in repr(lock)
        with pytest.raises(ProjectLocked), ProjectLock(tmp_path):
            pass
    assert not lock.held and not (tmp_path / "lock").exists()


def test_holder_message_formats() -> None:
    earlier = (datetime.now() - timedelta(days=3)).astimezone().isoformat(timespec="seconds")
    holder = LockHolder(1234, "X", earlier)
    assert re.fullmatch(r"pid 1234 on host X since \d{4}-\d\d-\d\d \d\d:\d\d", holder.describe())
    assert LockHolder(1, "X", "yesterday-ish").since() == "yesterday-ish"
    now = LockHolder.current()
    assert re.fullmatch(r"\d\d:\d\d", now.since())


def test_unreadable_lock_file_still_refuses_with_a_generic_message(tmp_path: Path) -> None:
    with ProjectLock(Project(tmp_path).dir) as lock:
        with open(lock.path, "r+b") as fh:  # another handle: closing it keeps the flock
            fh.truncate(0)
            fh.write(b"\x00garbage{")
        assert read_holder(lock.path) is None
        refused = _try_from_another_process(tmp_path)
        assert refused == "refused: this project is open in another Loupe window"


# ----------------------------------------------------------------------------- no OS locks


@pytest.fixture
def json_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system without advisory locks: the JSON alone is the lock."""
    monkeypatch.setattr(lock_module, "_try_os_lock", lambda fd: None)


def _plant(directory: Path, pid: int, host: str | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    holder = LockHolder(pid, host or socket.gethostname(), "2024-05-01T10:32:00+00:00")
    (directory / "lock").write_text(json.dumps(holder.__dict__))


@posix_only
def test_without_os_locks_a_dead_holder_is_recovered(tmp_path: Path, json_only) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    pid = int(dead.stdout)  # this process has exited: its pid is not alive
    _plant(tmp_path, pid)
    with ProjectLock(tmp_path) as lock:
        assert not lock.os_lock and lock.recovered is not None and lock.recovered.pid == pid
        assert read_holder(lock.path) == lock.holder
    assert not (tmp_path / "lock").exists()


def test_without_os_locks_a_live_holder_refuses(tmp_path: Path, json_only) -> None:
    _plant(tmp_path, os.getppid())
    with pytest.raises(ProjectLocked, match=rf"\(pid {os.getppid()} on host .* since "):
        ProjectLock(tmp_path).acquire()
    _plant(tmp_path, 99, host="elsewhere")
    with pytest.raises(ProjectLocked, match=r"on host elsewhere since .*; if that window is clo"):
        ProjectLock(tmp_path).acquire()


# ----------------------------------------------------------------------------- bad locations


def test_lock_on_a_read_only_location_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    real_open = os.open

    def read_only(path, flags, *args):
        if str(path).endswith("lock"):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(ProjectError) as info:
        ProjectLock(tmp_path).acquire()
    assert not isinstance(info.value, ProjectLocked)
    assert "(the folder is read-only)" in str(info.value) and "--project-dir" in str(info.value)


def test_lock_is_taken_even_when_no_temp_file_fits(tmp_path: Path, monkeypatch) -> None:
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    project = Project(tmp_path)
    monkeypatch.setattr(tempfile, "mkstemp", full)
    with ProjectLock(project.dir) as lock:
        assert lock.held and read_holder(lock.path) == lock.holder  # written in place
        assert re.match(_message_pattern(os.getpid()), _try_from_another_process(tmp_path))
