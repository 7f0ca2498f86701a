"""The one background-task helper: results, errors, progress, supersede, cancel, shutdown."""

from __future__ import annotations

import threading
import time

import pytest

from gui_app.core.errors import LoupeError
from gui_app.qt.tasks import TaskRunner, TaskState


def test_result_progress_and_finished_arrive_on_the_gui_thread(qtbot) -> None:
    runner = TaskRunner(1)
    main = threading.get_ident()
    seen: dict = {"progress": []}

    def work(state: TaskState) -> int:
        for i in range(1, 4):
            state.progress(i, 3)
            time.sleep(0.06)  # progress is throttled to 20 reports a second
        return threading.get_ident()

    runner.submit(
        work,
        on_done=lambda worker: seen.update(done=(worker, threading.get_ident())),
        on_progress=lambda d, t: seen["progress"].append((d, t, threading.get_ident())),
        on_finished=lambda: seen.update(finished=True),
    )
    qtbot.waitUntil(lambda: "finished" in seen, timeout=5000)
    worker, delivered_on = seen["done"]
    assert worker != main and delivered_on == main
    assert [p[:2] for p in seen["progress"]][-1] == (3, 3)
    assert all(p[2] == main for p in seen["progress"])
    assert not runner.busy()
    assert runner.shutdown()


def test_user_errors_come_back_as_their_reason(qtbot) -> None:
    runner = TaskRunner(1)
    errors: list[str] = []

    def fail(_state: TaskState) -> None:
        raise LoupeError("the disk is full")

    runner.submit(fail, on_error=errors.append, on_done=lambda _r: errors.append("done?"))
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors == ["the disk is full"]
    assert runner.shutdown()


def test_a_newer_task_of_the_group_supersedes_the_older(qtbot) -> None:
    runner = TaskRunner(1)
    release = threading.Event()
    results: list[str] = []
    finished: list[str] = []

    def slow(state: TaskState) -> str:
        release.wait(5)
        return "old" if state.should_stop() else "old-not-stopped"

    runner.submit(slow, on_done=results.append, on_finished=lambda: finished.append("a"),
                  group="preview")  # fmt: skip
    runner.submit(lambda _s: "queued", on_done=results.append,
                  on_finished=lambda: finished.append("b"), group="preview")  # fmt: skip
    runner.submit(lambda _s: "newest", on_done=results.append,
                  on_finished=lambda: finished.append("c"), group="preview")  # fmt: skip
    release.set()
    qtbot.waitUntil(lambda: len(finished) == 3, timeout=5000)
    assert results == ["newest"]  # older results are never delivered
    assert runner.shutdown()


def test_drop_queued_forgets_tasks_that_have_not_started(qtbot) -> None:
    runner = TaskRunner(1)
    release = threading.Event()
    ran: list[int] = []
    finished: list[int] = []
    started = threading.Event()
    runner.submit(
        lambda _s: started.set() or release.wait(5), on_finished=lambda: finished.append(0)
    )
    assert started.wait(5)
    for n in range(1, 20):
        runner.submit(lambda _s, n=n: ran.append(n), on_finished=lambda n=n: finished.append(n))
    runner.drop_queued()
    assert sorted(finished) == list(range(1, 20))  # told at once, none of them ran
    release.set()
    qtbot.waitUntil(lambda: 0 in finished, timeout=5000)
    assert ran == []
    assert runner.shutdown()


def test_shutdown_waits_and_refuses_new_work(qtbot) -> None:
    runner = TaskRunner(2)
    done: list[str] = []
    runner.submit(lambda s: time.sleep(0.05) or "slow", on_done=done.append)
    assert runner.shutdown()
    state = runner.submit(lambda _s: "late", on_done=done.append)
    assert state.should_stop()
    qtbot.wait(50)
    assert "late" not in done


@pytest.mark.skipif(not hasattr(__import__("os"), "getpriority"), reason="POSIX nice values")
def test_background_threads_are_niced_below_the_gui(qtbot) -> None:
    import os
    import sys

    runner = TaskRunner(1)
    seen: list[int] = []
    runner.submit(lambda _s: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
                  on_done=seen.append)  # fmt: skip
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    if sys.platform.startswith("linux"):
        assert seen[0] >= os.getpriority(os.PRIO_PROCESS, 0) + 1
    assert runner.shutdown()
