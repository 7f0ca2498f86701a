"""The grid's list model: every image of the project, filtered and sorted, with badges.

Rows are a numpy index into the project's image list, so filters and sorts over 100,000
images are array operations, and ``data()`` is O(1).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from pathlib import PurePosixPath

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal

Index = QModelIndex | QPersistentModelIndex


class Roles(IntEnum):
    """Custom data roles the grid delegate reads."""

    PATH = Qt.ItemDataRole.UserRole + 1
    LABEL = Qt.ItemDataRole.UserRole + 2
    LABEL_COLOR = Qt.ItemDataRole.UserRole + 3
    PREDICTION = Qt.ItemDataRole.UserRole + 4
    CONFIDENCE = Qt.ItemDataRole.UserRole + 5
    PRED_COLOR = Qt.ItemDataRole.UserRole + 6
    REASON = Qt.ItemDataRole.UserRole + 7


FILTERS = ("all", "unlabeled", "labeled", "class", "prediction", "unreadable")
SORTS = ("name", "confidence", "predicted")


class ImageListModel(QAbstractListModel):
    """A filtered, sorted view over all images of the open folder.

    Parameters
    ----------
    pixmap_for
        Called with (path) for the decoration role; returns a QPixmap or None while loading.
    """

    badges_changed = Signal()  # many rows' badges changed: views repaint what they show

    def __init__(self, pixmap_for: Callable[[str], object] | None = None, parent=None) -> None:
        super().__init__(parent)
        self._pixmap_for = pixmap_for or (lambda _p: None)
        self.paths: list[str] = []
        self.row_of_path: dict[str, int] = {}  # image index (not view row)
        self.labels: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        self.colors: dict[str, str] = {}
        self.pred_classes: list[str] = []  # column order of the prediction arrays
        self._pred = np.zeros(0, np.int32)  # class column per image, -1 none
        self._conf = np.zeros(0, np.float32)
        self._view = np.zeros(0, np.int64)  # image indexes in view order
        self._filter: tuple[str, str | None] = ("all", None)
        self._sort = "name"

    # -- Qt model API ---------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._view)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._view):
            return None
        i = int(self._view[index.row()])
        path = self.paths[i]
        if role == Qt.ItemDataRole.DisplayRole:
            return PurePosixPath(path).name
        if role == Qt.ItemDataRole.DecorationRole:
            return self._pixmap_for(path)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltip(i)
        if role == Roles.PATH:
            return path
        if role == Roles.LABEL:
            return self.labels.get(path)
        if role == Roles.LABEL_COLOR:
            label = self.labels.get(path)
            return self.colors.get(label) if label else None
        if role == Roles.REASON:
            return self.reasons.get(path)
        if role in (Roles.PREDICTION, Roles.CONFIDENCE, Roles.PRED_COLOR):
            column = int(self._pred[i]) if i < len(self._pred) else -1
            if column < 0 or column >= len(self.pred_classes):
                return None
            if role == Roles.CONFIDENCE:
                return float(self._conf[i])
            name = self.pred_classes[column]
            return name if role == Roles.PREDICTION else self.colors.get(name)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # -- content --------------------------------------------------------------------------
    def tooltip(self, i: int) -> str:
        path = self.paths[i]
        lines = [path]
        if path in self.reasons:
            lines.append(f"Unreadable: {self.reasons[path]}")
        if path in self.labels:
            lines.append(f"Your label: {self.labels[path]}")
        column = int(self._pred[i]) if i < len(self._pred) else -1
        if 0 <= column < len(self.pred_classes):
            name = self.pred_classes[column]
            lines.append(f"Predicted: {name} ({self._conf[i] * 100:.1f} %)")
        return "\n".join(lines)

    def reset_images(self, paths: list[str]) -> None:
        """Replace the whole image list."""
        self.beginResetModel()
        self.paths = list(paths)
        self.row_of_path = {p: i for i, p in enumerate(self.paths)}
        self.labels, self.reasons = {}, {}
        self._pred = np.full(len(self.paths), -1, np.int32)
        self._conf = np.zeros(len(self.paths), np.float32)
        self._view = self._compute_view()
        self.endResetModel()

    def append_images(self, paths: list[str]) -> None:
        """Add newly scanned images; shown at the end until the next re-sort."""
        new = [p for p in paths if p not in self.row_of_path]
        if not new:
            return
        start = len(self.paths)
        for offset, p in enumerate(new):
            self.row_of_path[p] = start + offset
        self.paths.extend(new)
        self._pred = np.concatenate([self._pred, np.full(len(new), -1, np.int32)])
        self._conf = np.concatenate([self._conf, np.zeros(len(new), np.float32)])
        added = np.arange(start, len(self.paths))
        added = added[self._mask(added)]
        if len(added):
            first = len(self._view)
            self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
            self._view = np.concatenate([self._view, added])
            self.endInsertRows()

    def set_colors(self, colors: dict[str, str]) -> None:
        self.colors = dict(colors)
        self._changed_all()

    def set_labels(self, labels: dict[str, str]) -> None:
        self.labels = dict(labels)
        self._changed_all()

    def set_label(self, path: str, label: str | None) -> None:
        if label is None:
            self.labels.pop(path, None)
        else:
            self.labels[path] = label
        self._changed_path(path)

    def set_reasons(self, reasons: dict[str, str]) -> None:
        self.reasons.update(reasons)
        self._changed_all()

    def set_predictions(
        self, image_rows: np.ndarray, probs: np.ndarray, classes: list[str]
    ) -> None:
        """Top class and confidence for images ``image_rows`` from (N, C) ``probs``."""
        self.pred_classes = list(classes)
        self._pred[:] = -1
        self._conf[:] = 0
        if probs.size and len(image_rows):
            self._pred[image_rows] = probs.argmax(axis=1)
            self._conf[image_rows] = probs.max(axis=1)
        if self._filter[0] == "prediction" or self._sort != "name":
            self.refresh_view()
        else:
            self._changed_all()

    # -- filter / sort --------------------------------------------------------------------
    def set_filter(self, kind: str, value: str | None = None) -> None:
        if kind not in FILTERS:
            raise ValueError(f"unknown filter {kind!r}")
        self._filter = (kind, value)
        self.refresh_view()

    def set_sort(self, kind: str) -> None:
        if kind not in SORTS:
            raise ValueError(f"unknown sort {kind!r}")
        self._sort = kind
        self.refresh_view()

    @property
    def filter(self) -> tuple[str, str | None]:
        return self._filter

    def refresh_view(self) -> None:
        view = self._compute_view()
        if np.array_equal(view, self._view):
            self._changed_all()
            return
        self.beginResetModel()
        self._view = view
        self.endResetModel()

    def _mask(self, idx: np.ndarray) -> np.ndarray:
        kind, value = self._filter
        if kind == "all":
            return np.ones(len(idx), bool)
        paths = self.paths
        if kind == "unlabeled":
            return np.array([paths[i] not in self.labels for i in idx], bool)
        if kind == "labeled":
            return np.array([paths[i] in self.labels for i in idx], bool)
        if kind == "class":
            return np.array([self.labels.get(paths[i]) == value for i in idx], bool)
        if kind == "unreadable":
            return np.array([paths[i] in self.reasons for i in idx], bool)
        column = self.pred_classes.index(value) if value in self.pred_classes else -2
        return self._pred[idx] == column

    def _compute_view(self) -> np.ndarray:
        idx = np.arange(len(self.paths))
        idx = idx[self._mask(idx)]
        if self._sort == "confidence":
            conf = np.where(self._pred[idx] >= 0, self._conf[idx], np.inf)
            idx = idx[np.argsort(conf, kind="stable")]
        elif self._sort == "predicted":
            idx = idx[
                np.lexsort(
                    (-self._conf[idx], np.where(self._pred[idx] < 0, 1 << 30, self._pred[idx]))
                )
            ]
        return idx

    # -- lookups --------------------------------------------------------------------------
    def path_at(self, row: int) -> str | None:
        return self.paths[int(self._view[row])] if 0 <= row < len(self._view) else None

    def row_of(self, path: str) -> int:
        """View row of ``path``, -1 when filtered out or unknown."""
        i = self.row_of_path.get(path)
        if i is None:
            return -1
        hits = np.flatnonzero(self._view == i)
        return int(hits[0]) if len(hits) else -1

    def view_paths(self, first: int, last: int) -> list[str]:
        first, last = max(0, first), min(len(self._view) - 1, last)
        return [self.paths[int(i)] for i in self._view[first : last + 1]]

    def _changed_all(self) -> None:
        # A dataChanged over 100,000 rows makes QListView walk every row; views repaint instead.
        self.badges_changed.emit()

    def _changed_path(self, path: str) -> None:
        row = self.row_of(path)
        if row >= 0:
            self.dataChanged.emit(self.index(row), self.index(row))

    def thumbnail_ready(self, path: str) -> None:
        self._changed_path(path)
