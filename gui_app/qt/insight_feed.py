"""Feeds the Insight panel (F13) from the journal: the one source of its figures.

On open (and when the panel is first shown) the whole journal is read and summarised on a
background task; from then on the GUI thread feeds the tracker the rows written since, after
the bars are painted (when a re-score completes, or a moment after an action), and only while
the panel is visible.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from gui_app.core.insight import InsightTracker, compute_insight
from gui_app.core.insight_stats import predicted_counts
from gui_app.core.journal_reader import iter_journal
from gui_app.core.session import LabelingSession
from gui_app.qt.rescoring import Rescorer
from gui_app.qt.tasks import TaskRunner
from gui_app.qt.viewstate import GridFilter

AFTER_ACTION_MS = 120  # after the bars and the grid are painted


class InsightFeed(QObject):
    """Keeps an :class:`InsightTracker` current and emits its view while it is watched."""

    changed = Signal(object)  # InsightView | None

    def __init__(
        self,
        session: Callable[[], LabelingSession | None],
        rescorer: Rescorer,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._rescorer = rescorer
        self._tasks = TaskRunner(1, self)
        self._tracker: InsightTracker | None = None
        self._loading = False
        self.visible = False
        self.view = None
        self._timer = QTimer(self, singleShot=True, interval=AFTER_ACTION_MS)
        self._timer.timeout.connect(self.refresh)
        rescorer.scored.connect(self.refresh)

    def set_visible(self, visible: bool) -> None:
        """The panel is shown or hidden; nothing is computed for a hidden panel."""
        self.visible = visible
        if visible:
            self.refresh()

    def reset(self) -> None:
        """Another project (or none): forget the tracker."""
        self._tasks.cancel_all()
        self._tracker, self._loading, self.view = None, False, None
        self.changed.emit(None)

    def action_done(self) -> None:
        """Something was journaled: update a moment later, off the key path."""
        if self.visible:
            self._timer.start()

    def refresh(self) -> None:
        session = self._session()
        if not self.visible or session is None:
            return
        if self._tracker is None:
            self._load(session)
            return
        self._tracker.update(session.journal(since=self._tracker.last_seq))
        view = self._tracker.view(session.classes(), session.counts(), self._predicted(session))
        if view is not self.view:
            self.view = view
            self.changed.emit(view)

    def _load(self, session: LabelingSession) -> None:
        if self._loading:
            return
        self._loading = True
        path, classes, counts = session.project.labels_path, session.classes(), session.counts()

        def done(result) -> None:
            if self._session() is session:
                self._tracker, self.view = result
                self.changed.emit(self.view)
                self.refresh()  # rows written while it read

        self._tasks.submit(
            lambda _state: compute_insight(iter_journal(path), classes, counts),
            on_done=done,
            on_finished=lambda: setattr(self, "_loading", False),
            group="insight",
        )

    def _predicted(self, session: LabelingSession) -> dict[str, int] | None:
        scores = self._rescorer.latest
        if not scores.classes or len(scores.probs) == 0:
            return None
        paths, _index = session.image_index()
        labelled = session.labels_by_path()
        unlabelled = np.fromiter(
            (p not in labelled for p in paths[: len(scores.probs)]), bool, len(scores.probs)
        )
        return predicted_counts(scores.probs, scores.classes, scores.present & unlabelled)

    def cell_filter(self, label: str, suggested: str) -> GridFilter | None:
        """The grid filter of a confusion-matrix cell: the images labelled so, suggested so."""
        session = self._session()
        if self.view is None or session is None:
            return None
        rows = []
        for path in self.view.cell_paths(label, suggested):
            row = session.row_of(path)
            if row is not None:
                rows.append(row)
        title = self.tr("Labelled {label}, suggested {suggested} ({n})").format(
            label=label, suggested=suggested, n=len(rows)
        )
        return GridFilter("rows", rows=tuple(rows), title=title)

    def shutdown(self) -> None:
        self._tasks.shutdown()
