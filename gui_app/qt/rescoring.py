"""Re-scoring every image after the model changed, in short steps on the GUI thread.

Each step scores :data:`RESCORE_CHUNK` rows (a few milliseconds), so 100,000 images are
re-scored without an event-loop stall; a new request restarts the pass. While only new
features arrive (the model unchanged) just the new rows are scored. The finished
probabilities go to the grid and stay available (:attr:`Rescorer.latest`) for Next, bulk
actions and the insight panel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from gui_app.core.errors import LoupeError
from gui_app.core.session import LabelingSession
from gui_app.qt.image_model import ImageListModel

RESCORE_DELAY_MS = 30
# An action while a pass is still pending or running: the user is labelling fast, and each
# pass of 100,000 rows costs ~90 ms of CPU that feature extraction needs; wait for a pause.
RESCORE_BURST_DELAY_MS = 300
RESCORE_MAX_WAIT_MS = 1000  # ...but never longer than this after the first request
RESCORE_CHUNK = 4096  # rows scored per event-loop turn (a few ms each)


@dataclass(frozen=True)
class Scores:
    """Probabilities of every image row: ``probs`` (images, C), columns ``classes``."""

    probs: np.ndarray
    classes: list[str]
    present: np.ndarray  # rows that had a feature vector

    @classmethod
    def empty(cls) -> Scores:
        return cls(np.zeros((0, 0), np.float32), [], np.zeros(0, bool))


class Rescorer(QObject):
    """Debounced, chunked re-score of every image of the open session."""

    scored = Signal()  # :attr:`latest` holds a complete pass

    def __init__(
        self,
        session: Callable[[], LabelingSession | None],
        model: ImageListModel,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._model = model
        self.latest = Scores.empty()
        self._pass: tuple[list[str], np.ndarray, int, tuple] | None = None
        self._token: tuple | None = None  # the model the latest scores came from
        self._delay = QTimer(self, singleShot=True, interval=RESCORE_DELAY_MS)
        self._delay.timeout.connect(self._start)
        self._step = QTimer(self, singleShot=True, interval=0)
        self._step.timeout.connect(self._chunk)
        self._waiting_since: float | None = None  # first request not yet served by a pass

    def schedule(self) -> None:
        """Re-score soon (debounced: a burst of actions costs one pass, after it).

        Requests keep coming while features stream in, so the wait is capped: a pass starts
        at most :data:`RESCORE_MAX_WAIT_MS` after the first request it serves.
        """
        now = time.monotonic()
        if self._waiting_since is None:
            self._waiting_since = now
        burst = self._delay.isActive() or self._pass is not None
        delay = RESCORE_BURST_DELAY_MS if burst else RESCORE_DELAY_MS
        left = RESCORE_MAX_WAIT_MS - 1000 * (now - self._waiting_since)
        self._delay.start(max(0, int(min(delay, left))))

    def stop(self) -> None:
        self._delay.stop()
        self._step.stop()
        self._pass = None
        self._waiting_since = None
        self._token = None
        self.latest = Scores.empty()

    @property
    def idle(self) -> bool:
        return self._pass is None and not self._delay.isActive() and not self._step.isActive()

    def rescore_now(self) -> None:
        """Start a pass at once (benchmarks; tests)."""
        self._delay.stop()
        self._start()

    def _start(self) -> None:
        session = self._session()
        self._pass = None
        self._waiting_since = None
        if session is None:
            return
        if not session.can_predict() or session.vector_count == 0:
            self.latest = Scores.empty()
            self._token = None
            self._model.clear_predictions()
            return
        n = session.image_count
        classes = session.model_classes()
        token = session.model_token()
        if token == self._token and self._score_new_rows(session, n):
            return
        self._token = None  # until this pass completes
        self._pass = (classes, np.zeros((n, len(classes)), np.float32), 0, token)
        self._step.start()

    def _score_new_rows(self, session: LabelingSession, n: int) -> bool:
        """Same model as the latest pass: score only rows whose features came since."""
        latest = self.latest
        present = session.present_rows()
        known = np.zeros(n, bool)
        known[: len(latest.present)] = latest.present[:n]
        new = np.flatnonzero(present[:n] & ~known)
        if len(new) > RESCORE_CHUNK:
            return False  # many at once: a full pass in steps keeps the event loop free
        probs = np.zeros((n, len(latest.classes)), np.float32)
        probs[: len(latest.probs)] = latest.probs[:n]
        if len(new):
            probs[new] = session.score_at(new)
        self.latest = Scores(probs, latest.classes, present[:n])
        self._model.set_predictions(probs, latest.classes, present[:n])
        self.scored.emit()
        return True

    def _chunk(self) -> None:
        session = self._session()
        if self._pass is None or session is None:
            return
        classes, probs, start, token = self._pass
        stop = min(start + RESCORE_CHUNK, len(probs))
        try:
            part = session.score_rows(start, stop)
        except LoupeError:  # the model changed under this pass; a fresh one is queued
            self._pass = None
            return
        if part.shape[1] != len(classes):  # classes changed: start over
            self._pass = None
            self.schedule()
            return
        probs[start:stop] = part
        if stop < len(probs):
            self._pass = (classes, probs, stop, token)
            self._step.start()
            return
        self._pass = None
        present = session.present_rows()[: len(probs)]
        self.latest = Scores(probs, classes, present)
        self._token = token  # the latest scores are complete for this model
        self._model.set_predictions(probs, classes, present)
        self.scored.emit()
