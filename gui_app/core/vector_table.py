"""The images of an open project and their feature vectors, in one growable float32 matrix.

Every image has one row, in the order it became known (the folder scan, or the first vector
that named it); the row number is the image's index everywhere in the app: the grid, scores,
neighbours and sampling all speak in these rows. A row without a vector yet is all zeros and
is flagged absent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class VectorTable:
    """Image index plus an ``(images, D)`` float32 matrix with a presence mask.

    Parameters
    ----------
    dim
        Vector length, when known in advance.
    capacity
        Rows allocated up front.
    """

    def __init__(self, dim: int | None = None, capacity: int = 1024) -> None:
        self.index: dict[str, int] = {}
        self.paths: list[str] = []
        self._dim = dim or 0
        self._matrix = np.zeros((capacity, dim), np.float32) if dim else None
        self._present = np.zeros(capacity, bool)
        self._count = 0

    def __len__(self) -> int:
        """Number of images that have a vector."""
        return self._count

    @property
    def size(self) -> int:
        """Number of images known (with or without a vector)."""
        return len(self.paths)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def matrix(self) -> np.ndarray:
        """``(size, D)`` view of every image's row (absent rows are zeros; no copy)."""
        if self._matrix is None:
            return np.zeros((len(self.paths), 0), np.float32)
        return self._matrix[: len(self.paths)]

    @property
    def present(self) -> np.ndarray:
        """``(size,)`` bool view: which rows hold a vector."""
        return self._present[: len(self.paths)]

    def row(self, path: str) -> int | None:
        """Row of ``path``, or None when unknown."""
        return self.index.get(path)

    def get(self, path: str) -> np.ndarray | None:
        """The vector of ``path`` (a view), or None when it has none yet."""
        row = self.index.get(path)
        if row is None or not self._present[row]:
            return None
        return self._matrix[row]

    def rows_with_vectors(self, paths: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """``(paths that have a vector, their rows)`` in the given order."""
        found = [(p, r) for p in paths if (r := self.index.get(p)) is not None and self._present[r]]
        return [p for p, _ in found], np.array([r for _, r in found], np.int64)

    def reserve(self, rows: int, dim: int | None = None) -> None:
        """Make room for ``rows`` images up front (one allocation instead of regrowth).

        ``np.zeros`` maps untouched pages lazily, so reserving costs no memory until written.
        """
        dim = dim or self._dim
        if rows > len(self._present):
            grown = np.zeros(rows, bool)
            grown[: len(self._present)] = self._present
            self._present = grown
        if not dim:
            return
        if self._matrix is not None and self._matrix.shape[1] == dim:
            if self._matrix.shape[0] >= rows:
                return
            grown_m = np.zeros((max(rows, len(self._present)), dim), np.float32)
            kept = min(len(self.paths), self._matrix.shape[0])
            grown_m[:kept] = self._matrix[:kept]
            self._matrix = grown_m
        else:  # first vectors, or another backbone: every vector so far is void
            self._matrix = np.zeros((max(rows, len(self._present)), dim), np.float32)
            self._present[:] = False
            self._count = 0
        self._dim = dim

    def add_images(self, paths: Sequence[str]) -> np.ndarray:
        """Rows of ``paths``, appending those not yet known (without vectors)."""
        rows = np.empty(len(paths), np.int64)
        for i, path in enumerate(paths):
            row = self.index.get(path)
            if row is None:
                row = len(self.paths)
                self.index[path] = row
                self.paths.append(path)
            rows[i] = row
        if len(self.paths) > len(self._present):
            self.reserve(max(len(self.paths), len(self._present) * 3 // 2))
        return rows

    def add(self, paths: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """Store vectors (inserting or overwriting rows); returns their rows."""
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or len(vectors) != len(paths):
            raise ValueError(f"expected ({len(paths)}, D) vectors, got {vectors.shape}")
        if self._matrix is None or self._matrix.shape[1] != vectors.shape[1]:
            self.reserve(max(len(self._present), len(self.paths) + len(paths)), vectors.shape[1])
        rows = self.add_images(paths)
        if len(self.paths) > self._matrix.shape[0]:
            self.reserve(max(len(self.paths), self._matrix.shape[0] * 3 // 2))
        self._count += int(np.count_nonzero(~self._present[np.unique(rows)]))
        self._present[rows] = True
        self._matrix[rows] = vectors
        return rows

    def clear_vectors(self) -> None:
        """Forget every vector (another backbone) but keep the image index."""
        self._matrix = None
        self._dim = 0
        self._present[:] = False
        self._count = 0
