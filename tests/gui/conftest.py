"""GUI test setup: offscreen Qt and a check that no test leaves a thread running."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
import time
import weakref
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QCoreApplication, QThread, QThreadPool

#: How long a thread may take to finish after the test before it counts as leaked.
LEAK_WAIT_MS = 2000


class ThreadWatch:
    """Records threads and thread pools started during one test."""

    def __init__(self) -> None:
        self.threads_before = set(threading.enumerate())
        self.qthreads: weakref.WeakSet[QThread] = weakref.WeakSet()
        self.pools: weakref.WeakSet[QThreadPool] = weakref.WeakSet()

    def leaked(self, wait_ms: int = LEAK_WAIT_MS) -> list[str]:
        """Describe threads still running after waiting up to *wait_ms* in total."""
        deadline = time.monotonic() + wait_ms / 1000

        def left() -> int:
            return max(0, round((deadline - time.monotonic()) * 1000))

        found: list[str] = []
        for pool in [QThreadPool.globalInstance(), *self.pools]:
            try:
                if pool.activeThreadCount() and not pool.waitForDone(left()):
                    owner = pool.parent()
                    where = f" owned by {type(owner).__name__}" if owner is not None else ""
                    found.append(
                        f"QThreadPool{where} with {pool.activeThreadCount()} active thread(s)"
                    )
            except RuntimeError:  # C++ object already deleted: nothing runs there
                continue
        for thread in list(self.qthreads):
            try:
                if thread.isRunning() and not thread.wait(left()):
                    name = thread.objectName() or "<unnamed>"
                    found.append(f"QThread {name!r} ({type(thread).__name__})")
            except RuntimeError:
                continue
        for thread in threading.enumerate():
            if thread in self.threads_before or thread.daemon:
                continue
            thread.join(left() / 1000)
            if thread.is_alive():
                found.append(f"threading.Thread {thread.name!r}")
        return found


@pytest.fixture(autouse=True)
def _dangling_threads() -> Iterator[ThreadWatch]:
    """Fail a test that leaves a QThread, QThreadPool job or non-daemon thread running."""
    watch = ThreadWatch()
    original_thread_start = QThread.start
    original_pool_start = QThreadPool.start

    def thread_start(self: QThread, *args: object, **kwargs: object) -> None:
        watch.qthreads.add(self)
        original_thread_start(self, *args, **kwargs)

    def pool_start(self: QThreadPool, *args: object, **kwargs: object) -> None:
        watch.pools.add(self)
        original_pool_start(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(QThread, "start", thread_start)
        patch.setattr(QThreadPool, "start", pool_start)
        yield watch
    if QCoreApplication.instance() is not None:
        QCoreApplication.processEvents()
    leaked = watch.leaked()
    if leaked:
        pytest.fail("test left threads running: " + "; ".join(leaked), pytrace=False)


@pytest.fixture
def thread_watch(_dangling_threads: ThreadWatch) -> ThreadWatch:
    """The running test's :class:`ThreadWatch` (to assert on leaks directly)."""
    return _dangling_threads


@pytest.fixture
def errors(monkeypatch):
    """Collect the window's error dialogs instead of blocking on them."""
    from PySide6.QtWidgets import QMessageBox

    seen: list[str] = []

    def warning(parent, title, text, *args, **kwargs):
        seen.append(f"{title}: {text}")
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "warning", staticmethod(warning))
    return seen
