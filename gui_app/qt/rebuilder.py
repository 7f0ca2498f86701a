"""Model replays on a background task: the window stays usable while the journal replays.

One replay at a time, never nested: a request while one runs stops it and plans again once it
has ended. The live model is swapped only by :meth:`LabelingSession.finish_rebuild` on the GUI
thread, which also learns the labels given meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from gui_app.core.rebuild import RebuildPlan
from gui_app.core.session import LabelingSession
from gui_app.qt.interpreter import settle_heap
from gui_app.qt.tasks import TaskRunner, TaskState

SHOW_PROGRESS_FROM = 200  # events; shorter replays finish before anyone could read a bar
# A replay of (events x classes) up to this runs inline: about 15 ms of river updates, less
# than a task's round trip costs the user in flicker ("updating the model" for one frame).
INLINE_WORK = 60


class ModelRebuilder(QObject):
    """Runs :meth:`LabelingSession.plan_rebuild` plans on a :class:`TaskRunner`."""

    progress = Signal(str, int, int)  # text, done, total (total 0: finished)
    model_replaced = Signal()
    failed = Signal(str)

    def __init__(
        self, session: Callable[[], LabelingSession | None], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._tasks = TaskRunner(1, self)
        self._running: TaskState | None = None
        self._plan: RebuildPlan | None = None
        self._again = False
        self.replays = 0  # finished replays (tests, benchmarks)

    @property
    def running(self) -> bool:
        return self._running is not None

    def request(self) -> None:
        """Replay if the session needs it and can (every labelled image has its vector)."""
        session = self._session()
        if session is None or not session.ready_to_rebuild:
            return
        if self._running is not None:  # never nest
            if not session.can_catch_up(self._plan):  # its result would be thrown away
                self._again = True
                self._running.cancel()
            return
        plan = session.plan_rebuild()
        if len(plan) * max(1, len(plan.classes)) <= INLINE_WORK:
            self._finish(session, plan, plan.run())
            if self._again:
                self._again = False
                self.request()
            return
        show = len(plan) >= SHOW_PROGRESS_FROM

        def report(done: int, total: int) -> None:
            if show:
                self.progress.emit(self.tr("Updating the model from your labels…"), done, total)

        self._plan = plan
        self._running = self._tasks.submit(
            lambda state: plan.run(state.progress, state.should_stop),
            on_done=lambda learner: self._finish(session, plan, learner, settle=True),
            on_error=self.failed.emit,
            on_progress=report,
            on_finished=self._ended,
            group="rebuild",
        )
        if show:
            self.progress.emit(self.tr("Updating the model from your labels…"), 0, len(plan))

    def _finish(
        self, session: LabelingSession, plan: RebuildPlan, learner, *, settle: bool = False
    ) -> None:
        if learner is None or session is not self._session():
            return
        if session.finish_rebuild(plan, learner):
            self.replays += 1
            if settle:  # a large model now lives as long as the project
                settle_heap()
            self.model_replaced.emit()
        self._again = self._again or session.ready_to_rebuild

    def _ended(self) -> None:
        self._running = None
        self._plan = None
        self.progress.emit("", 0, 0)
        if self._again:
            self._again = False
            self.request()

    def cancel(self) -> None:
        """Stop a running replay (project closing); its result is dropped."""
        self._again = False
        self._tasks.cancel_all()

    def shutdown(self) -> None:
        self.cancel()
        self._tasks.shutdown()
