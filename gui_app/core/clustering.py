"""Cold start for Next: clusters and typicality of the feature vectors (TypiClust-style).

:func:`cold_start` is a pure numpy function meant for a background thread (about a second per
10,000 images): rows are L2-normalised, projected on their main principal directions,
clustered by k-means, and each image gets a *typicality*, the inverse of its mean distance to
its nearest neighbours in its cluster (Hacohen et al., "Active learning on a budget", 2022).
Before the model can rank, Next shows the most typical image of the cluster with the fewest
labels, away from the images already labelled there: typical and diverse, never a run of
near-duplicates or of one cluster. Afterwards the typicality down-weights outliers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FIT_SAMPLE = 20_000  # rows the projection and k-means are fitted on
DENSITY_SAMPLE = 3_000  # neighbours compared per cluster for typicality
NEIGHBOURS = 20
_CHUNK = 8192


@dataclass
class ColdStart:
    """Clusters and typicality of every image row.

    Attributes
    ----------
    cluster
        ``(N,)`` int32 cluster of each row (-1: no features when computed).
    typicality
        ``(N,)`` float32 in [0, 1] (1: the densest image of its cluster; 0 without features).
    embedding
        ``(N, d)`` float32 projection used for distances.
    spread
        ``(K,)`` median neighbour distance in each cluster (the near-duplicate scale).
    """

    cluster: np.ndarray
    typicality: np.ndarray
    embedding: np.ndarray
    spread: np.ndarray

    @property
    def clusters(self) -> int:
        return len(self.spread)

    def next_row(self, available: np.ndarray, labelled: np.ndarray | None) -> tuple[int, bool]:
        """The most typical available row of the cluster with the fewest labels.

        Ties go to the cluster farthest from the labelled images (see :meth:`_next_cluster`).
        Within a cluster that already has labels, typicality is weighted by the distance to
        them, so the pick is not a near-duplicate. Returns the row and whether its cluster
        had no label yet. ``available`` must have a free row.
        """
        k = self.clusters
        ok = available & (self.cluster >= 0)
        if not ok.any():  # rows that got features after the clustering: any free one
            return int(np.flatnonzero(available)[0]), False
        free_per = np.bincount(self.cluster[ok], minlength=k)
        sizes = np.bincount(self.cluster[self.cluster >= 0], minlength=k)
        done = np.zeros(k, np.int64)
        if labelled is not None:
            hit = labelled & (self.cluster >= 0)
            done = np.bincount(self.cluster[hit], minlength=k)
        c = self._next_cluster(ok, labelled, free_per, sizes, done)
        rows = np.flatnonzero(ok & (self.cluster == c))
        score = self.typicality[rows].astype(np.float64)
        if labelled is not None and done[c]:
            seen = self.embedding[np.flatnonzero(labelled & (self.cluster == c))]
            d2 = _sq_dist(self.embedding[rows], seen).min(axis=1)
            scale = max(float(self.spread[c]), 1e-12) ** 2
            score *= 1.0 - np.exp(-d2 / scale)
        return int(rows[int(score.argmax())]), bool(done[c] == 0)

    def _next_cluster(self, ok, labelled, free_per, sizes, done) -> int:
        """Among the clusters with the fewest labels (and a free row), the one whose most
        typical free row is farthest from every labelled row, weighted by sqrt(size): the
        first picks then span the feature space (other classes first) instead of following
        cluster sizes. Without labels, the largest cluster."""
        fewest = done[free_per > 0].min()
        candidates = np.flatnonzero((free_per > 0) & (done == fewest))
        seen = np.flatnonzero(labelled & (self.cluster >= 0)) if labelled is not None else []
        if len(seen) == 0 or len(candidates) == 1:
            return int(candidates[int(sizes[candidates].argmax())])
        rows = np.flatnonzero(ok & np.isin(self.cluster, candidates))
        order = np.lexsort((-self.typicality[rows], self.cluster[rows]))
        first = np.unique(self.cluster[rows[order]], return_index=True)[1]
        reps = rows[order[first]]  # most typical free row of each candidate, cluster order
        far = np.sqrt(_sq_dist(self.embedding[reps], self.embedding[seen]).min(axis=1))
        weight = far * np.sqrt(sizes[self.cluster[reps]] / sizes.max())
        return int(self.cluster[reps[int(weight.argmax())]])


def default_clusters(n: int) -> int:
    """Clusters for ``n`` images: about sqrt(n), between 8 and 64."""
    return int(np.clip(round(np.sqrt(max(n, 1))), 8, 64))


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] - 2.0 * (a @ b.T) + (b * b).sum(1)[None, :]
    return np.maximum(d, 0.0)


def _project(X: np.ndarray, rows: np.ndarray, fit: np.ndarray, dims: int, rng) -> np.ndarray:
    """L2-normalised rows projected on the ``dims`` main directions of the ``fit`` rows."""

    def normalised(part: np.ndarray) -> np.ndarray:  # ``part`` is a fresh copy: in place
        part = part.astype(np.float32, copy=False)
        part /= np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-12)
        return part

    sample = normalised(X[fit])
    mean = sample.mean(axis=0)
    sample -= mean
    dims = max(1, min(dims, sample.shape[0], sample.shape[1]))
    # Randomised subspace iteration (Halko et al.) with only matrix products and eigen-
    # decompositions of (dims + 8)^2 matrices: LAPACK QR/SVD of the tall matrices takes 100x
    # longer when another process keeps the cores busy (OpenBLAS threads contend).
    q = sample @ rng.standard_normal((sample.shape[1], dims + 8)).astype(np.float32)
    for _ in range(3):
        q = _orthonormal(q)
        q = sample @ (sample.T @ q)
    b = _orthonormal(q).T.astype(np.float64) @ sample  # (dims + 8, D)
    evals, evecs = np.linalg.eigh(b @ b.T)
    top = np.argsort(evals)[::-1][:dims]
    basis = (b.T @ evecs[:, top]) / np.sqrt(np.maximum(evals[top], 1e-30))
    basis = np.ascontiguousarray(basis, dtype=np.float32)
    out = np.empty((len(rows), dims), np.float32)
    for start in range(0, len(rows), _CHUNK):
        part = rows[start : start + _CHUNK]
        chunk = normalised(X[part])
        chunk -= mean
        out[start : start + len(part)] = chunk @ basis
    return out


def _orthonormal(q: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning ``q`` (via the eigenvectors of the small Gram matrix)."""
    q = q.astype(np.float64)
    evals, evecs = np.linalg.eigh(q.T @ q)
    keep = evals > evals.max() * 1e-10
    return q @ (evecs[:, keep] / np.sqrt(evals[keep]))


def _kmeans(Z: np.ndarray, k: int, rng, iterations: int = 30) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding; returns the ``(k, d)`` centres."""
    centres = [Z[rng.integers(len(Z))]]
    d2 = _sq_dist(Z, centres[0][None, :])[:, 0]
    for _ in range(1, k):
        total = d2.sum()
        pick = rng.choice(len(Z), p=d2 / total) if total > 0 else rng.integers(len(Z))
        centres.append(Z[pick])
        d2 = np.minimum(d2, _sq_dist(Z, Z[pick][None, :])[:, 0])
    C = np.stack(centres).astype(np.float64)
    for _ in range(iterations):
        assign = _sq_dist(Z, C).argmin(axis=1)
        moved = C.copy()
        for c in range(k):
            members = Z[assign == c]
            if len(members):
                moved[c] = members.mean(axis=0)
        if np.allclose(moved, C):
            break
        C = moved
    return C


def cold_start(
    matrix: np.ndarray,
    present: np.ndarray,
    *,
    clusters: int | None = None,
    dims: int = 32,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
) -> ColdStart | None:
    """Cluster the rows that have features and rate how typical each one is.

    Parameters
    ----------
    matrix, present
        ``(N, D)`` feature rows and which of them hold a vector (the session's vector table;
        read only, so it may run on a worker thread on a snapshot of ``present``).
    clusters
        Number of clusters (default :func:`default_clusters` of the rows with features).
    dims
        Dimensions of the projection the distances are measured in.
    seed
        Seed of the sample, the projection and the k-means seeding (deterministic).
    should_stop
        Checked between stages; ``None`` is returned when it says stop.

    Returns
    -------
    ColdStart or None
        None when stopped or when no row has features.
    """
    stop = should_stop or (lambda: False)
    present = np.array(present, bool)
    rows = np.flatnonzero(present)
    n = len(present)
    if not len(rows) or stop():
        return None
    rng = np.random.default_rng(seed)
    fit_pos = np.arange(len(rows))
    if len(rows) > FIT_SAMPLE:
        fit_pos = np.sort(rng.choice(len(rows), FIT_SAMPLE, replace=False))
    Z = _project(matrix, rows, rows[fit_pos], dims, rng)
    if stop():
        return None
    k = min(clusters or default_clusters(len(rows)), len(rows))
    centres = _kmeans(Z[fit_pos].astype(np.float64), k, rng)
    assign = np.empty(len(rows), np.int32)
    for start in range(0, len(rows), _CHUNK):
        assign[start : start + _CHUNK] = _sq_dist(Z[start : start + _CHUNK], centres).argmin(1)
    if stop():
        return None
    density = np.zeros(len(rows))
    spread = np.zeros(k)
    for c in range(k):
        members = np.flatnonzero(assign == c)
        if not len(members):
            continue
        ref = members
        if len(ref) > DENSITY_SAMPLE:
            ref = np.sort(rng.choice(members, DENSITY_SAMPLE, replace=False))
        nn = min(NEIGHBOURS, len(ref) - 1)
        if nn < 1:
            density[members] = 1.0
            continue
        for start in range(0, len(members), 1024):
            part = members[start : start + 1024]
            d = np.sqrt(_sq_dist(Z[part], Z[ref]))
            d.sort(axis=1)
            # the nearest is the row itself when it is among the references
            mean = d[:, 1 : nn + 1].mean(axis=1)
            density[part] = 1.0 / (mean + 1e-12)
            if start == 0:
                spread[c] = float(np.median(d[:, 1]))
        if stop():
            return None
    cluster = np.full(n, -1, np.int32)
    cluster[rows] = assign
    # Typicality compares an image with its own cluster only: a cluster of near-identical
    # images (sea, sky) must not make every other cluster look atypical.
    peak = np.zeros(k)
    np.maximum.at(peak, assign, density)
    typicality = np.zeros(n, np.float32)
    typicality[rows] = density / np.maximum(peak[assign], 1e-300)
    embedding = np.zeros((n, Z.shape[1]), np.float32)
    embedding[rows] = Z
    return ColdStart(cluster, typicality, embedding, spread)
