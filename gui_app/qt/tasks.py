"""One helper for background work: replays, exports, previews and thumbnails.

A task is a plain function of a :class:`TaskState` (progress reports and a stop flag), run on
a private thread pool at a lower priority than the GUI thread. Its result, error and progress
come back as queued signals on the GUI thread and are handed to the callbacks given at submit
time; ``on_finished`` always runs, whatever happened. A newer task of the same *group*
supersedes older ones: queued ones are dropped, running ones are asked to stop and their
results are discarded. Nothing here calls ``processEvents``.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

from gui_app.core.errors import LoupeError

PROGRESS_INTERVAL_S = 0.2  # at most 5 progress signals a second per task (a bar repaints)
BACKGROUND_NICE = 10  # Linux niceness of background threads (the GUI thread keeps 0)

_niced: set[int] = set()
_niced_lock = threading.Lock()


def lower_current_thread_priority() -> None:
    """Make the calling thread (and the threads it starts later) yield to the GUI thread.

    Qt's thread priorities do nothing for ordinary Linux threads, so on Linux the thread's own
    nice value is raised too (threads inherit it from their creator: LiteRT's and the decode
    pool's workers started from this thread follow it).
    """
    thread = QThread.currentThread()
    if thread is not None:
        thread.setPriority(QThread.Priority.LowPriority)
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    with _niced_lock:
        if tid in _niced:
            return
        _niced.add(tid)
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, max(current, BACKGROUND_NICE))
    except OSError:  # not permitted in some sandboxes: the Qt priority is all we have
        pass


class TaskState:
    """What a running task sees: ``should_stop()`` and ``progress(done, total)``."""

    def __init__(self, task_id: int, relay: _Relay) -> None:
        self.id = task_id
        self._relay = relay
        self._stop = threading.Event()
        self._last = 0.0
        self.started = False

    def should_stop(self) -> bool:
        """True once the task was cancelled or superseded."""
        return self._stop.is_set()

    def cancel(self) -> None:
        """Ask the task to stop at its next check; its result will not be delivered."""
        self._stop.set()

    def progress(self, done: int, total: int) -> None:
        """Report progress (throttled; the last report, ``done == total``, always goes)."""
        now = time.monotonic()
        if done < total and now - self._last < PROGRESS_INTERVAL_S:
            return
        self._last = now
        self._relay.progress.emit(self.id, done, total)


class _Relay(QObject):
    """Created on the GUI thread: signals emitted by pool threads arrive there queued."""

    done = Signal(int, object, str)  # task id, result, error ('' when it succeeded)
    progress = Signal(int, int, int)  # task id, done, total


@dataclass
class _Callbacks:
    state: TaskState
    group: str | None
    on_done: Callable[[Any], None] | None
    on_error: Callable[[str], None] | None
    on_progress: Callable[[int, int], None] | None
    on_finished: Callable[[], None] | None


class _Job(QRunnable):
    def __init__(self, work: Callable[[TaskState], Any], state: TaskState, relay: _Relay) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._work, self._state, self._relay = work, state, relay

    def run(self) -> None:
        self._state.started = True
        lower_current_thread_priority()
        if self._state.should_stop():
            self._relay.done.emit(self._state.id, None, "")
            return
        try:
            result = self._work(self._state)
        except LoupeError as exc:
            self._relay.done.emit(self._state.id, None, exc.reason)
        except (OSError, ValueError) as exc:
            self._relay.done.emit(self._state.id, None, str(exc) or type(exc).__name__)
        except Exception as exc:  # a thread boundary: report it or the caller waits forever
            traceback.print_exc()
            self._relay.done.emit(self._state.id, None, f"{type(exc).__name__}: {exc}")
        else:
            self._relay.done.emit(self._state.id, result, "")


class TaskRunner(QObject):
    """Runs tasks on its own thread pool; create and use it on the GUI thread.

    Parameters
    ----------
    threads
        Pool size (1 runs tasks one after another, in priority order).
    """

    def __init__(self, threads: int = 1, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, threads))
        self._relay = _Relay()  # no parent: running jobs keep a reference
        self._relay.done.connect(self._on_done)
        self._relay.progress.connect(self._on_progress)
        self._ids = itertools.count(1)
        self._tasks: dict[int, _Callbacks] = {}
        self._closed = False

    def submit(
        self,
        work: Callable[[TaskState], Any],
        *,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        group: str | None = None,
        priority: int = 0,
    ) -> TaskState:
        """Queue ``work(state)``; returns its state (``cancel()`` it to stop it)."""
        if group is not None:
            self.cancel_group(group)
        state = TaskState(next(self._ids), self._relay)
        if self._closed:
            state.cancel()
        callbacks = _Callbacks(state, group, on_done, on_error, on_progress, on_finished)
        self._tasks[state.id] = callbacks
        self._pool.start(_Job(work, state, self._relay), priority)
        return state

    def cancel_group(self, group: str) -> None:
        """Ask every task of ``group`` to stop; their results will not be delivered."""
        for entry in self._tasks.values():
            if entry.group == group:
                entry.state.cancel()

    def drop_queued(self) -> None:
        """Cancel every task, and forget at once those that have not started.

        Their ``on_finished`` runs now; running ones finish (undelivered) on their own.
        """
        self.cancel_all()
        self._pool.clear()
        for task_id in [i for i, e in self._tasks.items() if not e.state.started]:
            entry = self._tasks.pop(task_id)
            if entry.on_finished is not None:
                entry.on_finished()

    def cancel_all(self) -> None:
        for entry in self._tasks.values():
            entry.state.cancel()

    def running(self, group: str | None = None) -> int:
        """Tasks submitted and not yet finished (of ``group``, or all)."""
        return sum(1 for e in self._tasks.values() if group is None or e.group == group)

    def busy(self) -> bool:
        return bool(self._tasks)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything, wait for running tasks; True when all ended in time."""
        self._closed = True
        self.drop_queued()
        ended = self._pool.waitForDone(timeout_ms)
        if ended:  # results still queued for the GUI thread will find nobody waiting
            for entry in self._tasks.values():
                if entry.on_finished is not None:
                    entry.on_finished()
            self._tasks.clear()
        return ended

    def _on_done(self, task_id: int, result: object, error: str) -> None:
        entry = self._tasks.pop(task_id, None)
        if entry is None:
            return
        try:
            if not entry.state.should_stop():
                if error:
                    if entry.on_error is not None:
                        entry.on_error(error)
                elif entry.on_done is not None:
                    entry.on_done(result)
        finally:
            if entry.on_finished is not None:
                entry.on_finished()

    def _on_progress(self, task_id: int, done: int, total: int) -> None:
        entry = self._tasks.get(task_id)
        if entry is not None and entry.on_progress is not None and not entry.state.should_stop():
            entry.on_progress(done, total)
