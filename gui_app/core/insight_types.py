"""The frozen results of the insight computation (F13): curves, confusion counts, pace.

Plain dataclasses over numpy arrays, built by :mod:`gui_app.core.insight` and drawn by the
widgets (which receive them through :mod:`gui_app.qt.viewstate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The z of a two-sided 95 % interval (Wilson bands of the accuracy curves).
WILSON_Z = 1.959963984540054


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class AccuracySeries:
    """Predict-then-learn accuracy of one stream of scored labels (overall, audits, a class).

    Every array has one entry per scored label of the stream, in journal order. ``x`` is that
    label's 1-based number among all scored labels, so every stream shares one axis;
    ``cumulative`` is the stream's accuracy so far, ``lower``/``upper`` its Wilson 95 %
    interval and ``window`` the accuracy of the stream's last ``window_size`` labels.
    """

    name: str
    x: np.ndarray
    cumulative: np.ndarray
    window: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    correct: int = 0

    @property
    def total(self) -> int:
        """Scored labels in the stream."""
        return len(self.x)

    @property
    def accuracy(self) -> float | None:
        """Accuracy over the whole stream, None when it is empty."""
        return self.correct / self.total if self.total else None

    @staticmethod
    def empty(name: str) -> AccuracySeries:
        """A stream without labels."""
        none = _frozen(np.zeros(0))
        return AccuracySeries(name, _frozen(np.zeros(0, np.int64)), none, none, none, none)


@dataclass(frozen=True)
class ScoredLabels:
    """The scored labels, one entry each in journal order (the data of the accuracy curves).

    ``true`` and ``predicted`` are indices into :attr:`InsightView.classes` (``predicted`` is
    -1 where the suggested class has since been deleted); ``audit`` marks labels of images
    that "Next" showed as an audit.
    """

    x: np.ndarray
    seq: np.ndarray
    time: np.ndarray
    paths: np.ndarray  # object array of relative paths
    true: np.ndarray
    predicted: np.ndarray
    audit: np.ndarray


@dataclass(frozen=True)
class PaceSession:
    """One working session: journal activity without a pause longer than the gap.

    ``labels`` counts the labels given one by one (still in force), ``bulk`` those given by
    bulk actions and imports; ``labels_per_hour`` is ``labels`` over the session's span and
    ``seconds_per_label`` the median time between two labels (None when undefined).
    """

    start: float  # unix seconds
    end: float
    labels: int
    bulk: int
    labels_per_hour: float | None
    seconds_per_label: float | None

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class InsightView:
    """Everything the Insight panel and ``loupe report`` draw, computed from the journal.

    Classes are today's (after renames, merges and deletes), in display order; ``overall``
    and ``per_class`` cover the labels not given as audits, ``audits`` the others.
    ``confusion[i, j]`` counts scored labels of class ``i`` whose suggestion was class ``j``;
    ``labelled`` the images labelled with each class now and ``predicted`` (None until the
    model scores images) the unlabelled images each class is the top prediction of.
    """

    classes: tuple[str, ...]
    colors: tuple[str, ...]
    window_size: int
    overall: AccuracySeries
    audits: AccuracySeries
    per_class: tuple[AccuracySeries, ...]
    scored: ScoredLabels
    confusion: np.ndarray
    deleted_predictions: int  # scored labels whose suggested class was deleted since
    labelled: np.ndarray
    predicted: np.ndarray | None
    sessions: tuple[PaceSession, ...]
    journal_seq: int = 0

    def class_series(self, name: str) -> AccuracySeries | None:
        """The accuracy stream of class ``name`` (None for an unknown class)."""
        try:
            return self.per_class[self.classes.index(name)]
        except ValueError:
            return None

    def cell_paths(self, true: str, predicted: str) -> list[str]:
        """Images whose label ``true`` was given while ``predicted`` was suggested (unique)."""
        if true not in self.classes or predicted not in self.classes:
            return []
        mask = (self.scored.true == self.classes.index(true)) & (
            self.scored.predicted == self.classes.index(predicted)
        )
        return list(dict.fromkeys(self.scored.paths[mask].tolist()))

    @property
    def labels_total(self) -> int:
        """Labels given one by one over every session."""
        return sum(s.labels for s in self.sessions)

    @property
    def labels_per_hour(self) -> float | None:
        """Labels given one by one per hour of working sessions (None without any span)."""
        hours = sum(s.duration for s in self.sessions) / 3600
        return self.labels_total / hours if hours > 0 and self.labels_total else None
