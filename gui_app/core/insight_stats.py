"""The arithmetic of :mod:`gui_app.core.insight`: accuracy streams, Wilson bounds, pace.

Pure numpy. Streams grow by appending into buffers that already published views never cover,
so every :class:`~gui_app.core.insight_types.InsightView` handed out stays unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gui_app.core.insight_types import WILSON_Z, AccuracySeries, PaceSession


def wilson_interval(
    correct: np.ndarray, total: np.ndarray, z: float = WILSON_Z
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``correct`` successes in ``total`` trials (element-wise).

    >>> lo, hi = wilson_interval(np.array([8]), np.array([10]))
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)
    (0.4902, 0.9433)
    """
    n = np.maximum(np.asarray(total, np.float64), 1.0)
    p = np.asarray(correct, np.float64) / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def running_accuracy(
    correct: np.ndarray, group: np.ndarray | None, window: int
) -> tuple[np.ndarray, ...]:
    """Per label: hits so far, cumulative and window accuracy, Wilson bounds of the cumulative.

    With ``group`` (sorted group ids, one per label) each group is its own stream.
    """
    m = len(correct)
    index = np.arange(m)
    if group is None or m == 0:
        start = np.zeros(m, np.int64)
    else:
        first = np.r_[True, group[1:] != group[:-1]]
        start = np.maximum.accumulate(np.where(first, index, 0))
    prefix = np.r_[0, np.cumsum(correct, dtype=np.int64)]  # prefix[i]: hits among first i
    n = index - start + 1
    hits = prefix[index + 1] - prefix[start]
    since = start + np.maximum(n - window, 0)
    window_acc = (prefix[index + 1] - prefix[since]) / (index + 1 - since)
    lower, upper = wilson_interval(hits, n)
    return hits, hits / np.maximum(n, 1), window_acc, lower, upper


class Growing:
    """A 1-d numpy array that grows by appending (amortised O(1)).

    ``view`` is read-only; appends only write past every view handed out before.
    """

    def __init__(self, dtype, initial: np.ndarray | None = None) -> None:
        values = np.zeros(0, dtype) if initial is None else np.asarray(initial, dtype)
        self.data = np.empty(max(64, 2 * len(values)), dtype)
        self.data[: len(values)] = values
        self.n = len(values)

    def append(self, value) -> None:
        if self.n == len(self.data):
            bigger = np.empty(2 * len(self.data), self.data.dtype)
            bigger[: self.n] = self.data
            self.data = bigger
        self.data[self.n] = value
        self.n += 1

    @property
    def view(self) -> np.ndarray:
        out = self.data[: self.n]
        out.flags.writeable = False
        return out

    def __len__(self) -> int:
        return self.n


class Stream:
    """One accuracy stream (overall, audits or a class), grown label by label."""

    def __init__(self, name: str, window: int) -> None:
        self.name = name
        self.window = window
        self.hits = Growing(np.int64)  # hits after each label
        self.arrays = {k: Growing(np.float64) for k in ("cumulative", "window", "lower", "upper")}
        self.x = Growing(np.int64)
        self._series: AccuracySeries | None = None

    @classmethod
    def from_arrays(
        cls, name: str, window: int, x: np.ndarray, stats: Sequence[np.ndarray]
    ) -> Stream:
        """A stream from :func:`running_accuracy` output (``stats``) at positions ``x``."""
        stream = cls(name, window)
        stream.x = Growing(np.int64, x)
        stream.hits = Growing(np.int64, stats[0])
        for key, values in zip(stream.arrays, stats[1:], strict=True):
            stream.arrays[key] = Growing(np.float64, values)
        return stream

    def append(self, x: int, correct: bool) -> None:
        n = self.hits.n + 1
        hits = (self.hits.data[n - 2] if n > 1 else 0) + int(correct)
        back = n - 1 - self.window  # hits before the window, at index back (or 0 before it)
        before = self.hits.data[back] if back >= 0 else 0
        lower, upper = wilson_interval(np.array([hits]), np.array([n]))
        self.x.append(x)
        self.hits.append(hits)
        self.arrays["cumulative"].append(hits / n)
        self.arrays["window"].append((hits - before) / min(n, self.window))
        self.arrays["lower"].append(lower[0])
        self.arrays["upper"].append(upper[0])
        self._series = None

    def series(self) -> AccuracySeries:
        """The stream as it is now (the same object until the next append)."""
        if self._series is None:
            correct = int(self.hits.data[self.hits.n - 1]) if self.hits.n else 0
            values = {k: g.view for k, g in self.arrays.items()}
            self._series = AccuracySeries(self.name, self.x.view, correct=correct, **values)
        return self._series


class Derived:
    """Figures for one class list, grown label by label until a full recomputation."""

    def __init__(self, names: tuple[str, ...], window: int) -> None:
        self.names = names
        self.overall = Stream("overall", window)
        self.audits = Stream("audits", window)
        self.per_class = [Stream(name, window) for name in names]
        self.scored = {k: Growing(t) for k, t in SCORED_COLUMNS.items()}
        self.confusion = np.zeros((len(names), len(names)), np.int64)
        self.deleted = 0
        self.labels = 0  # label events taken into account
        self.sessions: list[PaceSession] = []
        self.session_rows: list[int] = []


SCORED_COLUMNS = {
    "x": np.int64,
    "seq": np.int64,
    "time": np.float64,
    "paths": object,
    "true": np.int32,
    "predicted": np.int32,
    "audit": np.bool_,
}


def pace_sessions(
    row_times: np.ndarray,
    label_rows: np.ndarray,
    bulk: np.ndarray,
    gap: float,
    offset: int = 0,
) -> tuple[list[PaceSession], list[int]]:
    """Split journal activity into working sessions and measure the labelling pace of each.

    Parameters
    ----------
    row_times
        Time of every journal row (from row ``offset`` on), in journal order.
    label_rows
        Row numbers (increasing, ``>= offset``) of the labels in force.
    bulk
        Per entry of ``label_rows``: given by a bulk action or an import.
    gap
        A pause longer than this (seconds) starts a new session.

    Returns
    -------
    sessions, first_rows
        The sessions and the row number each starts at.
    """
    if len(row_times) == 0:
        return [], []
    session_of_row = np.r_[0, np.cumsum(np.diff(row_times) > gap)]
    bounds = np.flatnonzero(np.r_[True, np.diff(session_of_row) > 0, True])
    label_session = session_of_row[label_rows - offset]
    sessions = []
    for s in range(len(bounds) - 1):
        times = row_times[bounds[s] : bounds[s + 1]]
        start, end = float(times.min()), float(times.max())
        mine = label_session == s
        hand = row_times[label_rows[mine & ~bulk] - offset]
        span = end - start
        rate = len(hand) * 3600.0 / span if span > 0 and len(hand) else None
        gaps = np.diff(hand)
        per_label = float(np.median(gaps)) if len(gaps) else None
        bulk_n = int(np.count_nonzero(mine & bulk))
        sessions.append(PaceSession(start, end, len(hand), bulk_n, rate, per_label))
    return sessions, [int(b) + offset for b in bounds[:-1]]


def predicted_counts(
    scores: np.ndarray, model_classes: Sequence[str], rows: np.ndarray | None = None
) -> dict[str, int]:
    """How many images each class is the top prediction of.

    Parameters
    ----------
    scores
        ``(images, C)`` probabilities (:meth:`LabelingSession.score_all`); ``(n, 0)`` gives {}.
    model_classes
        Their column names (:meth:`LabelingSession.model_classes`).
    rows
        Boolean mask or indices of the rows to count (the unlabelled images with features).
    """
    if scores.ndim != 2 or scores.shape[1] == 0 or scores.shape[1] != len(model_classes):
        return {}
    chosen = scores if rows is None else scores[rows]
    counts = np.bincount(chosen.argmax(axis=1), minlength=len(model_classes))
    return {name: int(n) for name, n in zip(model_classes, counts, strict=True)}
