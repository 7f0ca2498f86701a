"""Labelling many at once and catching mistakes (F11, F12): the controller's review part.

- More like this: cosine neighbours of the current image or the selection, as a grid list.
- Accept above a threshold: the unlabelled images predicted above a threshold for a class,
  listed and selected in the grid for review; the rest is accepted as one undoable action.
- Suspect labels: labelled images whose out-of-sample probability for their label is low
  (the journaled pre-learn prediction plus a cross-validated re-check on a task).
- Split a class: the rest of a class ranked by similarity to the examples chosen for a new one.

The numpy work is in :mod:`gui_app.core.review`, :mod:`~gui_app.core.suspects` and
:mod:`~gui_app.core.recheck`; what scans every image runs on a background task.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

import numpy as np
from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QObject, QTimer, Signal

from gui_app.core.errors import LoupeError
from gui_app.core.recheck import Recheck, cross_check_snapshot
from gui_app.core.review import (
    CosineIndex,
    ThresholdRanking,
    nearest,
    rank_for_threshold,
    rank_split,
)
from gui_app.core.session import LabelingSession
from gui_app.core.suspects import JournalPriors, Suspect, find_suspects
from gui_app.qt.image_model import ImageListModel
from gui_app.qt.rescoring import Rescorer
from gui_app.qt.tasks import TaskRunner
from gui_app.qt.viewstate import (
    THRESHOLD_STEPS,
    GridFilter,
    SplitView,
    SuspectView,
    ThresholdView,
)

NEIGHBOURS = 500
THRESHOLD_DEBOUNCE_MS = 120
SUSPECTS_TITLE = QT_TRANSLATE_NOOP("ReviewActions", "Suspect labels")


def file_name(path: str) -> str:
    return PurePosixPath(path).name


class ReviewActions(QObject):
    """Neighbours, threshold accept, suspects and class split for the open session."""

    show_rows = Signal(object, bool)  # GridFilter to show, select all its images?
    threshold_view = Signal(object)  # ThresholdView | None (None: close the bar)
    suspect_view = Signal(object)  # SuspectView | None
    split_view = Signal(object)  # SplitView to offer in the split dialog
    message = Signal(str, int)
    error = Signal(str, str)

    def __init__(
        self,
        session: Callable[[], LabelingSession | None],
        model: ImageListModel,
        rescorer: Rescorer,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._model = model
        self._rescorer = rescorer
        self._tasks = TaskRunner(1, self)
        self._index = CosineIndex()  # used only on the task thread
        self._threshold: ThresholdRanking | None = None
        self._threshold_at = 0.9
        self._threshold_timer = QTimer(self, singleShot=True, interval=THRESHOLD_DEBOUNCE_MS)
        self._threshold_timer.timeout.connect(self._show_threshold_rows)
        self._priors = JournalPriors()
        self._recheck: Recheck | None = None
        self.suspects: list[Suspect] = []
        self._suspects_open = False
        self._checking = False  # the re-check of the suspects runs
        self._split: tuple[str, list[str], list[str]] | None = None  # source, examples, ranked

    def reset(self) -> None:
        """Another project, or another backbone: forget every vector-based result."""
        self._tasks.cancel_all()
        self._index = CosineIndex()
        self._threshold, self._recheck, self.suspects = None, None, []
        self._priors = JournalPriors()
        self._suspects_open = False
        self.threshold_view.emit(None)
        self.suspect_view.emit(None)

    def shutdown(self) -> None:
        self._tasks.shutdown()

    def _snapshot(self, session: LabelingSession):
        """Feature matrix, presence, and the norms caught up on the task thread."""
        matrix, present = session.feature_snapshot()
        index = self._index

        def norms() -> np.ndarray:
            index.sync(matrix, present)
            return index.inv_norms(len(present))

        return matrix, present, norms

    # -- more like this -----------------------------------------------------------------------
    def more_like(self, paths: list[str]) -> None:
        """The unlabelled images most like ``paths`` (cosine), as a list in the grid."""
        session = self._session()
        if session is None or not paths:
            return
        rows = session.rows_of(paths)
        matrix, present, norms = self._snapshot(session)
        candidates = present & ~session.labelled_mask()
        n = len(paths)
        what = file_name(paths[0]) if n == 1 else self.tr("{n} images", "", n).format(n=n)

        def work(state):
            return nearest(matrix, norms(), rows, k=NEIGHBOURS, candidates=candidates,
                           should_stop=state.should_stop)  # fmt: skip

        def done(ranked) -> None:
            if ranked is None or session is not self._session():
                return
            title = self.tr("More like {what} ({n})").format(what=what, n=len(ranked))
            self.show_rows.emit(GridFilter("rows", rows=tuple(ranked.rows.tolist()), title=title),
                                False)  # fmt: skip

        self.message.emit(self.tr("Looking for images like {what}…").format(what=what), 2000)
        self._tasks.submit(work, on_done=done, on_error=self._failed, group="neighbours")

    # -- accept above a threshold -------------------------------------------------------------
    def start_threshold(self, label: str | None = None) -> None:
        """Open the threshold bar for ``label`` (default: the first class the model knows)."""
        session = self._session()
        scores = self._rescorer.latest
        if session is None or len(scores.classes) < 2:
            self.message.emit(
                self.tr("Label images of two classes first: the model has no predictions"), 5000
            )
            return
        names = [c for c in session.class_names() if c in scores.classes]
        label = label if label in names else names[0]
        candidates = scores.present & ~session.labelled_mask()[: len(scores.present)]
        candidates &= ~session.marked_mask("unsure")[: len(scores.present)]
        try:
            self._threshold = rank_for_threshold(scores.probs, scores.classes, label, candidates)
        except LoupeError as exc:
            self.error.emit(self.tr("Cannot rank the images"), exc.reason)
            return
        counts = self._threshold.counts_at(np.arange(THRESHOLD_STEPS + 1) / THRESHOLD_STEPS)
        view = ThresholdView(tuple(names), label, self._threshold_at, tuple(counts.tolist()))
        self.threshold_view.emit(view)
        self._show_threshold_rows()

    def set_threshold(self, threshold: float) -> None:
        """The slider moved: the grid follows a moment later (the bar's count is live)."""
        self._threshold_at = float(threshold)
        self._threshold_timer.start()

    def _show_threshold_rows(self) -> None:
        ranking = self._threshold
        if ranking is None:
            return
        rows = ranking.rows_at(self._threshold_at)
        title = f"{ranking.label} ≥ {self._threshold_at:.2f} ({len(rows)})"  # no words
        self.show_rows.emit(GridFilter("rows", rows=tuple(rows.tolist()), title=title), True)

    def threshold_label(self) -> str | None:
        return self._threshold.label if self._threshold is not None else None

    def close_threshold(self) -> None:
        self._threshold_timer.stop()
        self._threshold = None
        self.threshold_view.emit(None)

    # -- suspect labels -------------------------------------------------------------------------
    def show_suspects(self) -> None:
        """List suspect labels (journal evidence now; the re-check refines it when done)."""
        session = self._session()
        if session is None:
            return
        self._suspects_open = True
        self._list_suspects(checking=True)
        labels, head = dict(session.labels_by_path()), session.journal_head()
        _paths, index = session.image_index()
        matrix, present = session.feature_snapshot()

        def done(recheck: Recheck) -> None:
            if session is self._session():
                self._recheck = recheck
                if self._suspects_open:
                    self._list_suspects(checking=False)

        self._tasks.submit(
            lambda _s: cross_check_snapshot(labels, index, matrix, present, head=head),
            on_done=done,
            on_error=self._failed,
            group="recheck",
        )

    def _list_suspects(self, checking: bool) -> None:
        session = self._session()
        if session is None:
            return
        self._priors.refresh(lambda since: session.journal(since))
        self.suspects = find_suspects(
            session.labels_by_path(), self._priors.priors(), self._recheck,
            session.marked("reviewed"),
        )  # fmt: skip
        rows = session.rows_of([s.path for s in self.suspects])
        title = f"{QCoreApplication.translate('ReviewActions', SUSPECTS_TITLE)} ({len(rows)})"
        self.show_rows.emit(GridFilter("rows", rows=tuple(rows.tolist()), title=title), False)
        self._checking = checking

    def suspect_for(self, path: str) -> SuspectView | None:
        """The suspects bar for the current image (None when it is not listed)."""
        if not self._suspects_open:
            return None
        for position, suspect in enumerate(self.suspects, start=1):
            if suspect.path == path:
                return SuspectView(position, len(self.suspects), file_name(path), suspect.label,
                                   suspect.reason, self._checking)  # fmt: skip
        return SuspectView(0, len(self.suspects), file_name(path), "", "", False)

    def close_suspects(self) -> None:
        self._suspects_open = False
        self.suspect_view.emit(None)

    @property
    def suspects_open(self) -> bool:
        return self._suspects_open

    # -- split a class --------------------------------------------------------------------------
    def start_split(self, source: str, examples: list[str]) -> None:
        """Rank the rest of ``source`` by similarity to ``examples`` (its images chosen)."""
        session = self._session()
        if session is None:
            return
        labels = session.labels_by_path()
        chosen = [p for p in examples if labels.get(p) == source]
        if not chosen:
            self.message.emit(
                self.tr("Select some images of {name} first: they start the new class").format(
                    name=source
                ),
                6000,
            )
            return
        rest = [p for p, lab in labels.items() if lab == source and p not in set(chosen)]
        matrix, _present, norms = self._snapshot(session)
        new_rows, old_rows = session.rows_of(chosen), session.rows_of(rest)
        existing = tuple(session.class_names())

        def done(ranking) -> None:
            paths, _index = session.image_index()
            ranked = [paths[r] for r in ranking.rows]
            self._split = (source, chosen, ranked)
            self.show_rows.emit(
                GridFilter("rows", rows=tuple(ranking.rows.tolist()),
                           title=self.tr("Rest of {name}, most like the new class first").format(
                               name=source)),
                False,
            )  # fmt: skip
            self.split_view.emit(
                SplitView(source, len(chosen), len(ranked), int(ranking.suggested), existing)
            )

        self._tasks.submit(
            lambda _s: rank_split(matrix, norms(), new_rows, old_rows),
            on_done=done,
            on_error=self._failed,
            group="split",
        )

    def split_items(self, count: int) -> list[str]:
        """Images that move to the new class: the examples and the ``count`` most alike."""
        if self._split is None:
            return []
        _source, chosen, ranked = self._split
        return chosen + list(ranked[: max(0, count)])

    def _failed(self, reason: str) -> None:
        self.error.emit(self.tr("Cannot review"), reason)
