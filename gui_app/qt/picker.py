"""Next (F10): which image to show after an action, chosen by the model or in grid order.

Orders: ``teach`` (the model picks the image that teaches it most; typical, diverse images of
unlabelled clusters before it can rank), ``audit`` (random and confident images, an unbiased
check of the model), ``in-order`` and ``in-order-unlabeled`` (the grid's order). The choice
itself is :func:`gui_app.core.sampling.next_pick` over the latest complete re-score of every
image; the clusters of the cold start are computed on a background task.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from gui_app.core.clustering import ColdStart, cold_start
from gui_app.core.sampling import Pick, available_rows, next_pick
from gui_app.core.session import LabelingSession
from gui_app.qt.image_model import ImageListModel
from gui_app.qt.rescoring import Rescorer
from gui_app.qt.tasks import TaskRunner

RECLUSTER_GROWTH = 1.25  # cluster again when the images with features grew by a quarter


class NextPicker(QObject):
    """Chooses the next image for the model orders and keeps the cold start's clusters."""

    clusters_ready = Signal()

    def __init__(
        self,
        session: Callable[[], LabelingSession | None],
        model: ImageListModel,
        rescorer: Rescorer,
        unreadable: Callable[[], dict[str, str]],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._model = model
        self._rescorer = rescorer
        self._unreadable = unreadable
        self._tasks = TaskRunner(1, self)
        self._cold: ColdStart | None = None
        self._clustered = 0  # images with features when the clusters were made
        self._clustering = False

    def reset(self) -> None:
        self._tasks.cancel_all()
        self._cold, self._clustered, self._clustering = None, 0, False

    def shutdown(self) -> None:
        self._tasks.shutdown()

    def pick(self, order: str, current: str) -> tuple[str, Pick] | None:
        """The next image (path) and why, for a model order; None when none is left."""
        session = self._session()
        if session is None:
            return None
        self._maybe_cluster(session)
        present = session.present_rows()
        labelled = session.labelled_mask()
        unsure = session.marked_mask("unsure")
        available = available_rows(present, labelled, unsure)
        bad = session.rows_of(self._unreadable())
        available[bad[bad < len(available)]] = False
        here = session.row_of(current) if current else None
        if here is not None and here < len(available):
            available[here] = False
        scores = self._rescorer.latest
        fresh = len(scores.probs) == len(available) and len(scores.classes) >= 2
        found = next_pick(
            order,
            available,
            probs=scores.probs if fresh else None,
            classes=scores.classes if fresh else None,
            labelled=labelled,
            cold=self._fitted_cold(len(available)),
            step=session.journal_head(),
        )
        if found is None:
            return None
        paths, _index = session.image_index()
        return paths[found.row], found

    def _maybe_cluster(self, session: LabelingSession) -> None:
        """Cluster the features for the cold start (again when many more have arrived)."""
        have = session.vector_count
        if self._clustering or have < 2 or have < self._clustered * RECLUSTER_GROWTH:
            return
        self._clustering = True
        matrix, present = session.feature_snapshot()

        def done(result: ColdStart | None) -> None:
            if result is not None and self._session() is session:
                self._cold, self._clustered = result, int(present.sum())
                self.clusters_ready.emit()

        self._tasks.submit(
            lambda state: cold_start(matrix, present, should_stop=state.should_stop),
            on_done=done,
            on_finished=lambda: setattr(self, "_clustering", False),
            group="cluster",
        )

    def cold_ready(self) -> bool:
        return self._cold is not None

    def _fitted_cold(self, n: int) -> ColdStart | None:
        """The clusters for ``n`` images: rows that came after the clustering get none."""
        cold = self._cold
        if cold is None or len(cold.cluster) == n:
            return cold
        extra = n - len(cold.cluster)
        if extra < 0:
            return None
        self._cold = ColdStart(
            np.concatenate([cold.cluster, np.full(extra, -1, cold.cluster.dtype)]),
            np.concatenate([cold.typicality, np.zeros(extra, cold.typicality.dtype)]),
            np.concatenate(
                [cold.embedding, np.zeros((extra, cold.embedding.shape[1]), cold.embedding.dtype)]
            ),
            cold.spread,
        )
        return self._cold
