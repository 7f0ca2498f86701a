"""Bulk review (F11): "more like this", accept above a threshold, and splitting a class.

Everything here is a pure function over arrays the session already has (the ``(images, D)``
float32 matrix of :meth:`LabelingSession.feature_snapshot`, :meth:`~LabelingSession.score_all`'s
probabilities), so the window can run any of it on a worker thread: the functions read what
they are given and change nothing. Rows are the session's image rows. Suspect labels live in
:mod:`gui_app.core.suspects`, the cross-validated re-check in :mod:`gui_app.core.recheck`.

Cosine similarity uses :class:`CosineIndex`, one inverse norm per row kept in step with the
vector table, instead of a normalised copy of the matrix: the same exact result (``(X @ q) *
inv_norm``) for one float per image rather than a second copy of every vector (1 GB at
200,000 x 1280).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from gui_app.core.errors import LoupeError

NEIGHBOUR_CHUNK = 65536  # rows per matrix-vector product (a stop check between chunks)
SPLIT_CHUNK = 2048  # rows per similarity block in rank_split (bounded temporary memory)
SPLIT_REFERENCES = 1000  # old-class rows an old row is compared with (a seeded sample beyond)
SPLIT_NEIGHBOURS = 5  # similarities averaged per side in rank_split


class ReviewError(LoupeError):
    """A review query that cannot be answered (no vectors for the query images, bad input)."""


class CosineIndex:
    """Inverse L2 norm of every feature row; 0 where a row has no usable vector.

    Keep it in step with the vector table: :meth:`update` with the rows and vectors that
    arrive, :meth:`clear` when every vector is dropped (another backbone). :meth:`sync` catches
    up rows that have a vector but no norm yet.
    """

    def __init__(self) -> None:
        self._inv = np.zeros(0, np.float32)
        self._done = np.zeros(0, bool)

    def _grow(self, size: int) -> None:
        if size > len(self._inv):
            new = max(size, len(self._inv) * 3 // 2)
            self._inv = np.concatenate([self._inv, np.zeros(new - len(self._inv), np.float32)])
            self._done = np.concatenate([self._done, np.zeros(new - len(self._done), bool)])

    def update(self, rows: np.ndarray | Sequence[int], vectors: np.ndarray) -> None:
        """Record the norms of ``vectors`` (``(n, D)``) stored at ``rows``; O(n D)."""
        rows = np.asarray(rows, np.int64)
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or len(vectors) != len(rows):
            raise ReviewError(f"expected ({len(rows)}, D) vectors, got shape {vectors.shape}")
        if not len(rows):
            return
        self._grow(int(rows.max()) + 1)
        norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64))
        inv = np.zeros(len(rows), np.float32)
        np.divide(1.0, norms, out=inv, where=(norms > 0) & np.isfinite(norms), casting="unsafe")
        self._inv[rows] = inv
        self._done[rows] = True

    def sync(self, matrix: np.ndarray, present: np.ndarray, block: int = 16384) -> int:
        """Compute the norms of present rows not seen yet; returns how many were added."""
        size = len(present)
        self._grow(size)
        todo = np.flatnonzero(present & ~self._done[:size])
        for start in range(0, len(todo), block):
            rows = todo[start : start + block]
            self.update(rows, matrix[rows])
        return len(todo)

    def clear(self) -> None:
        """Forget every norm (the vectors were dropped)."""
        self._inv[:] = 0.0
        self._done[:] = False

    def inv_norms(self, size: int) -> np.ndarray:
        """``(size,)`` float32 copy: 1 / norm of each row, 0 where a row has no vector.

        A copy, so a worker thread can use it while vectors keep arriving.
        """
        out = np.zeros(size, np.float32)
        n = min(size, len(self._inv))
        out[:n] = self._inv[:n]
        return out


@dataclass(frozen=True)
class Ranked:
    """Image rows in ranking order, best first, with their scores (same length)."""

    rows: np.ndarray  # int64
    scores: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class SplitRanking(Ranked):
    """:func:`rank_split`'s ranking plus ``suggested``: how many of the top rows to offer."""

    suggested: int = 0


def two_group_cut(scores: np.ndarray) -> int:
    """Where decreasing ``scores`` split best into a high and a low group (Otsu's criterion).

    Returns the size of the high group: the cut maximising the between-group variance
    ``w_high * w_low * (mean_high - mean_low) ** 2``; 0 when fewer than two distinct values.
    """
    s = np.asarray(scores, np.float64)
    n = len(s)
    if n < 2 or s[0] == s[-1]:
        return 0
    sizes = np.arange(1, n)
    high = np.cumsum(s)[:-1] / sizes
    low = (s.sum() - np.cumsum(s)[:-1]) / (n - sizes)
    between = sizes * (n - sizes) * (high - low) ** 2
    between[s[:-1] == s[1:]] = -1.0  # never cut between equal scores
    return int(sizes[np.argmax(between)])


def _check_rows(rows: Sequence[int] | np.ndarray, size: int, what: str) -> np.ndarray:
    rows = np.unique(np.asarray(rows, np.int64))
    if len(rows) and (rows[0] < 0 or rows[-1] >= size):
        raise ReviewError(f"{what} rows out of range 0..{size - 1}")
    return rows


def query_vector(matrix: np.ndarray, inv_norms: np.ndarray, rows: Sequence[int]) -> np.ndarray:
    """Unit ``(D,)`` float32 query for ``rows``: the mean of their normalised vectors.

    The mean (rather than each candidate's best similarity to any selected image) finds what
    the selected images have in common: one stray image in a selection pulls in little, and the
    search stays one matrix-vector product whatever the selection size.

    Raises
    ------
    ReviewError
        None of ``rows`` has a vector.
    """
    rows = _check_rows(rows, len(inv_norms), "query")
    rows = rows[inv_norms[rows] > 0]
    if not len(rows):
        raise ReviewError("none of the chosen images has features yet")
    units = matrix[rows].astype(np.float64) * inv_norms[rows, None]
    mean = units.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0 or not np.isfinite(norm):
        raise ReviewError("the chosen images cancel out: no common direction to search along")
    return (mean / norm).astype(np.float32)


def _top(scores: np.ndarray, rows: np.ndarray, k: int | None) -> Ranked:
    """The ``k`` highest ``scores`` (all if None), highest first, ties by row."""
    if k is not None and k < len(scores):
        keep = np.argpartition(-scores, k - 1)[:k] if k > 0 else np.zeros(0, np.int64)
        scores, rows = scores[keep], rows[keep]
    order = np.lexsort((rows, -scores))
    return Ranked(rows[order].astype(np.int64), scores[order].astype(np.float32))


def nearest(
    matrix: np.ndarray,
    inv_norms: np.ndarray,
    query_rows: Sequence[int],
    *,
    k: int | None = 500,
    candidates: np.ndarray | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Ranked | None:
    """Exact cosine nearest neighbours of one image or a selection ("more like this").

    Parameters
    ----------
    matrix
        ``(images, D)`` float32 feature rows (the vector table's matrix, no copy needed).
    inv_norms
        ``(images,)`` from :meth:`CosineIndex.inv_norms`; rows at 0 are never returned.
    query_rows
        The image(s) to search from (see :func:`query_vector`); they are never returned.
    k
        How many to return (None: every row with a vector, sorted).
    candidates
        Optional ``(images,)`` bool mask of rows that may be returned (e.g. unlabelled only).
    should_stop
        Polled between chunks of :data:`NEIGHBOUR_CHUNK` rows; returns None when it says stop.

    Returns
    -------
    Ranked or None
        Rows by decreasing cosine similarity (``scores``), None if stopped.

    Notes
    -----
    One float32 matrix-vector product over the matrix (memory-bound: about 1 GB read at
    200,000 x 1280), then a partial sort; see ``benchmarks/bench_review.py``.
    """
    size = len(inv_norms)
    if matrix.shape[0] < size:
        raise ReviewError(f"matrix has {matrix.shape[0]} rows but {size} norms were given")
    query = query_vector(matrix, inv_norms, query_rows)
    sims = np.empty(size, np.float32)
    for start in range(0, size, NEIGHBOUR_CHUNK):
        if should_stop is not None and should_stop():
            return None
        stop = min(size, start + NEIGHBOUR_CHUNK)
        np.matmul(matrix[start:stop], query, out=sims[start:stop])
    sims *= inv_norms
    allowed = inv_norms > 0
    if candidates is not None:
        allowed &= np.asarray(candidates, bool)[:size]
    allowed[_check_rows(query_rows, size, "query")] = False
    rows = np.flatnonzero(allowed)
    return _top(sims[rows], rows, k)


@dataclass(frozen=True)
class ThresholdRanking:
    """Candidates for one class sorted by its predicted probability, for a threshold slider.

    ``rows`` and ``probabilities`` are in decreasing probability order (ties by row).
    :meth:`count_at` answers "how many at or above t" in O(log n) from the sorted array.
    """

    label: str
    rows: np.ndarray  # int64, most probable first
    probabilities: np.ndarray  # float32, decreasing
    _ascending: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A contiguous ascending copy: searchsorted would copy a reversed view on every call.
        object.__setattr__(self, "_ascending", np.ascontiguousarray(self.probabilities[::-1]))

    def __len__(self) -> int:
        return len(self.rows)

    def count_at(self, threshold: float) -> int:
        """Number of candidates with probability >= ``threshold`` (compared in float32)."""
        ascending = self._ascending
        return len(ascending) - int(np.searchsorted(ascending, np.float32(threshold), "left"))

    def counts_at(self, thresholds: Sequence[float] | np.ndarray) -> np.ndarray:
        """:meth:`count_at` of many thresholds at once (e.g. every slider step)."""
        ascending = self._ascending
        t = np.asarray(thresholds, np.float32)
        return (len(ascending) - np.searchsorted(ascending, t, "left")).astype(np.int64)

    def rows_at(self, threshold: float) -> np.ndarray:
        """Rows with probability >= ``threshold``, most probable first."""
        return self.rows[: self.count_at(threshold)]


def rank_for_threshold(
    scores: np.ndarray, classes: Sequence[str], label: str, candidates: np.ndarray
) -> ThresholdRanking:
    """Rank the candidate images by their predicted probability of ``label``.

    Parameters
    ----------
    scores
        ``(images, C)`` probabilities (:meth:`LabelingSession.score_all`).
    classes
        Column names of ``scores`` (:meth:`LabelingSession.model_classes`).
    label
        The class to accept.
    candidates
        ``(images,)`` bool: rows that may be accepted (unlabelled, with a vector, readable).

    Raises
    ------
    ReviewError
        ``label`` is not a column of ``scores`` (the model has not learned it yet).
    """
    classes = list(classes)
    if label not in classes or scores.ndim != 2 or scores.shape[1] != len(classes):
        raise ReviewError(f'the model has no predictions for "{label}" yet')
    mask = np.asarray(candidates, bool)[: scores.shape[0]]
    rows = np.flatnonzero(mask)
    probs = scores[rows, classes.index(label)].astype(np.float32)
    order = np.lexsort((rows, -probs))
    return ThresholdRanking(label, rows[order].astype(np.int64), probs[order])


def _topk_mean(block: np.ndarray, k: int) -> np.ndarray:
    """Mean of the ``k`` largest values of each row (all of them when a row has fewer)."""
    if block.shape[1] == 0:
        return np.zeros(block.shape[0], np.float32)
    k = min(k, block.shape[1])
    part = np.partition(block, block.shape[1] - k, axis=1)[:, block.shape[1] - k :]
    return part.mean(axis=1)


def rank_split(
    matrix: np.ndarray,
    inv_norms: np.ndarray,
    new_rows: Sequence[int],
    old_rows: Sequence[int],
    *,
    neighbours: int = SPLIT_NEIGHBOURS,
    max_references: int = SPLIT_REFERENCES,
    seed: int = 0,
) -> SplitRanking:
    """Rank the rest of an old class by how much more it resembles a new class split off it.

    Each remaining old row scores ``mean of its k best cosine similarities to the new examples
    - mean of its k best to the other old rows`` (itself excluded). Local (k-nearest) similarity
    rather than class centroids, because a class worth splitting is usually made of several
    groups. The old rows still hold the new class's other members, so the score has no natural
    zero: the offer is the high group of a two-group split of the scores (:func:`two_group_cut`).

    Parameters
    ----------
    new_rows
        The images the user put in the new class (rows without vectors are ignored).
    old_rows
        The old class's images; the new examples among them are left out.
    neighbours
        ``k`` above.
    max_references
        Old rows compared with beyond this many: a seeded random sample of them.

    Returns
    -------
    SplitRanking
        The remaining old rows with vectors, highest score first, and the suggested count.

    Raises
    ------
    ReviewError
        No new example has a vector.

    Notes
    -----
    Cost ``O(len(old) * (len(new) + min(len(old), max_references)) * D)``: about 25 GFLOP for
    10,000 old images at D = 1280, so the window runs it off the GUI thread.
    """
    size = len(inv_norms)
    new = _check_rows(new_rows, size, "new class")
    new = new[inv_norms[new] > 0]
    if not len(new):
        raise ReviewError("none of the new class's images has features yet")
    old = _check_rows(old_rows, size, "old class")
    old = old[(inv_norms[old] > 0) & ~np.isin(old, new)]
    if not len(old):
        return SplitRanking(np.zeros(0, np.int64), np.zeros(0, np.float32))
    refs = old
    if len(refs) > max_references:
        refs = np.sort(np.random.default_rng(seed).choice(old, max_references, replace=False))
    new_units = (matrix[new] * inv_norms[new, None]).astype(np.float32)
    ref_units = (matrix[refs] * inv_norms[refs, None]).astype(np.float32)
    # k - 1 at most, so a row that is one of the references still has k others (none -inf).
    k_old = min(neighbours, len(refs) - 1)
    scores = np.empty(len(old), np.float32)
    for start in range(0, len(old), SPLIT_CHUNK):
        part = old[start : start + SPLIT_CHUNK]
        units = (matrix[part] * inv_norms[part, None]).astype(np.float32)
        to_new = _topk_mean(units @ new_units.T, neighbours)
        if k_old:
            to_old = units @ ref_units.T
            to_old[part[:, None] == refs[None, :]] = -np.inf  # never compare a row with itself
            scores[start : start + len(part)] = to_new - _topk_mean(to_old, k_old)
        else:  # one old image left: nothing to compare it with
            scores[start : start + len(part)] = to_new
    ranked = _top(scores, old, None)
    return SplitRanking(ranked.rows, ranked.scores, two_group_cut(ranked.scores))
