"""Replays of the label journal into a learner, runnable on any thread.

Every event is learned through :func:`gui_app.core.teaching.teach`, the same function the live
session uses, so a replay gives the live model exactly.

A :class:`RebuildPlan` copies everything a replay needs (labels, vectors, classes, a starting
learner) at the moment it is made, so running it touches no live state: the window runs it on
a background thread while the user keeps labelling, and the session swaps the result in only
if the journal has not changed in a way the plan cannot catch up with.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gui_app.core.learner import OnlineLearner
from gui_app.core.teaching import KeyedVectors, teach

Progress = Callable[[int, int], None]
StopCheck = Callable[[], bool]
PROGRESS_EVERY = 64  # events between progress reports and stop checks


@dataclass(frozen=True)
class RowsOf:
    """Rows of a feature matrix, gathered when the replay runs (on its thread).

    Copying 10,000 x 1280 rows takes ~30 ms: planning on the window's thread only keeps a
    reference. Rows that hold a vector are never rewritten in place (new images fill other
    rows; growth allocates a new matrix), so the gathered rows are those at planning time.
    """

    matrix: np.ndarray
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def gather(self) -> np.ndarray:
        return self.matrix[self.rows]


@dataclass
class RebuildPlan:
    """A replay to run: ``events`` learned in order on top of ``base`` (or a fresh learner).

    Attributes
    ----------
    learner_name, classes
        What a fresh learner is built as (``classes`` in display order).
    labels, vectors
        One class name and one ``(D,)`` row of ``vectors`` per event, in journal order
        (:class:`RowsOf`: gathered when the plan runs).
    head
        Journal position the result reflects once every event is learned.
    base
        A pickled learner to continue from (an incremental plan), or None (from scratch).
    missing
        Labelled images without features: left out now, learned by a later full replay.
    keys
        The journal seq of each event (the replay memory remembers them).
    known
        Vectors of earlier events that ``base``'s replay memory refers to.
    """

    learner_name: str
    classes: list[str]
    labels: list[str]
    vectors: np.ndarray | RowsOf
    head: int
    base: bytes | None = None
    missing: set[str] = field(default_factory=set)
    keys: np.ndarray | None = None
    known: KeyedVectors | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def incremental(self) -> bool:
        return self.base is not None

    def run(
        self, progress: Progress | None = None, should_stop: StopCheck | None = None
    ) -> OnlineLearner | None:
        """Learn every event; ``None`` when ``should_stop`` asked to stop (nothing was touched).

        ``progress(done, total)`` is called every few events and once at the end.
        """
        if self.base is not None:
            learner: OnlineLearner = pickle.loads(self.base)
            learner.set_classes(self.classes)
        else:
            learner = OnlineLearner(self.learner_name)
            learner.set_classes(self.classes)
        total = len(self.labels)
        if should_stop is not None and should_stop():
            return None
        keys = self.keys if self.keys is not None else np.arange(1, total + 1, dtype=np.int64)
        vectors = self.vectors.gather() if isinstance(self.vectors, RowsOf) else self.vectors
        vectors_of = self.known or KeyedVectors()
        for key, vector in zip(keys.tolist(), vectors, strict=True):
            vectors_of.add(key, vector)
        for done, (label, vector, key) in enumerate(
            zip(self.labels, vectors, keys.tolist(), strict=True), 1
        ):
            teach(learner, vector, label, key, vectors_of)
            if done % PROGRESS_EVERY == 0:
                if should_stop is not None and should_stop():
                    return None
                if progress is not None:
                    progress(done, total)
        if progress is not None:
            progress(total, total)
        return learner
