"""The grid's list model: every image of the project, filtered and sorted, with badges.

The model owns no facts. Its image list, labels and marks are the session's own live
containers (one image index for the whole app: a row of the session's vector table is an
image's number here too); predictions are arrays the re-scorer hands over; colours come from
the presenter, unreadable reasons from the feature worker. Rows are a numpy index into the
image list, so filters and sorts over 100,000 images are array operations, and ``data()`` is
O(1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import PurePosixPath

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from gui_app.qt.viewstate import GridFilter

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
    MARKS = Qt.ItemDataRole.UserRole + 8  # tuple of mark names ('unsure', 'reviewed')


FILTERS = ("all", "unlabeled", "labeled", "class", "prediction", "unreadable", "unsure", "rows")
SORTS = ("name", "confidence", "predicted")


@dataclass
class ImageSource:
    """The live containers the model reads (owned by the session and the project host)."""

    paths: list[str]
    row_of_path: dict[str, int]
    labels: dict[str, str]
    marks: dict[str, set[str]]
    reasons: dict[str, str]

    @classmethod
    def empty(cls) -> ImageSource:
        return cls([], {}, {}, {"unsure": set(), "reviewed": set()}, {})


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
        self._src = ImageSource.empty()
        self.colors: dict[str, str] = {}
        self.pred_classes: list[str] = []  # column order of the prediction arrays
        self._pred = np.zeros(0, np.int32)  # class column per image, -1 none
        self._conf = np.zeros(0, np.float32)
        self._view = np.zeros(0, np.int64)  # image indexes in view order
        self._filter = GridFilter("all")
        self._sort = "name"
        self._known = 0  # images of the source the model has taken in

    # -- the facts it reads ---------------------------------------------------------------
    @property
    def paths(self) -> list[str]:
        return self._src.paths

    @property
    def row_of_path(self) -> dict[str, int]:
        return self._src.row_of_path

    @property
    def labels(self) -> dict[str, str]:
        return self._src.labels

    @property
    def reasons(self) -> dict[str, str]:
        return self._src.reasons

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
        if role == Roles.MARKS:
            return tuple(m for m, paths in self._src.marks.items() if path in paths)
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
            lines.append(self.tr("Unreadable: {reason}").format(reason=self.reasons[path]))
        if path in self.labels:
            lines.append(self.tr("Your label: {name}").format(name=self.labels[path]))
        if path in self._src.marks.get("unsure", ()):
            lines.append(self.tr("Marked unsure"))
        column = int(self._pred[i]) if i < len(self._pred) else -1
        if 0 <= column < len(self.pred_classes):
            name, pct = self.pred_classes[column], f"{self._conf[i] * 100:.1f}"
            lines.append(self.tr("Predicted: {name} ({pct} %)").format(name=name, pct=pct))
        return "\n".join(lines)

    def set_source(self, source: ImageSource | None) -> None:
        """Read another project's containers (None: nothing open)."""
        self.beginResetModel()
        self._src = source or ImageSource.empty()
        self._known = len(self.paths)
        self._pred = np.full(self._known, -1, np.int32)
        self._conf = np.zeros(self._known, np.float32)
        self.pred_classes = []
        self._filter = GridFilter("all") if self._filter.kind == "rows" else self._filter
        self._view = self._compute_view()
        self.endResetModel()

    def images_added(self) -> None:
        """The source's image list grew (scan): show the new images at the end."""
        start, stop = self._known, len(self.paths)
        if stop <= start:
            return
        self._known = stop
        grow = stop - len(self._pred)
        if grow > 0:
            self._pred = np.concatenate([self._pred, np.full(grow, -1, np.int32)])
            self._conf = np.concatenate([self._conf, np.zeros(grow, np.float32)])
        added = np.arange(start, stop)
        added = added[self._mask(added)]
        if len(added):
            first = len(self._view)
            self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
            self._view = np.concatenate([self._view, added])
            self.endInsertRows()

    def set_colors(self, colors: dict[str, str]) -> None:
        if colors != self.colors:  # repainting every visible cell costs a key press dearly
            self.colors = dict(colors)
            self._changed_all()

    def labels_changed(self, paths: list[str] | None = None) -> None:
        """Labels of ``paths`` (None: possibly all) changed in the source."""
        if self._filter.kind in ("labeled", "unlabeled", "class", "unsure"):
            self.refresh_view()
        elif paths is None or len(paths) > 64:
            self._changed_all()
        else:
            for path in paths:
                self._changed_path(path)

    def reasons_changed(self) -> None:
        if self._filter.kind == "unreadable":
            self.refresh_view()
        else:
            self._changed_all()

    def set_predictions(self, probs: np.ndarray, classes: list[str], present: np.ndarray) -> None:
        """Top class and confidence of every image from ``(images, C)`` probabilities.

        Rows where ``present`` is False (no features yet) get no prediction.
        """
        n = min(len(self._pred), len(probs), len(present))
        self.pred_classes = list(classes)
        self._pred[:] = -1
        self._conf[:] = 0
        if probs.size and n:
            top = probs[:n].argmax(axis=1).astype(np.int32)
            conf = probs[:n].max(axis=1)
            keep = present[:n]
            self._pred[:n] = np.where(keep, top, -1)
            self._conf[:n] = np.where(keep, conf, 0)
        if self._filter.kind == "prediction" or self._sort != "name":
            self.refresh_view()
        else:
            self._changed_all()

    def clear_predictions(self) -> None:
        self.set_predictions(np.zeros((0, 0), np.float32), [], np.zeros(0, bool))

    # -- filter / sort --------------------------------------------------------------------
    def set_filter(self, grid_filter: GridFilter) -> None:
        if grid_filter.kind not in FILTERS:
            raise ValueError(f"unknown filter {grid_filter.kind!r}")
        self._filter = grid_filter
        self.refresh_view()

    def set_sort(self, kind: str) -> None:
        if kind not in SORTS:
            raise ValueError(f"unknown sort {kind!r}")
        self._sort = kind
        self.refresh_view()

    @property
    def filter(self) -> GridFilter:
        return self._filter

    @property
    def sort(self) -> str:
        return self._sort

    def refresh_view(self) -> None:
        view = self._compute_view()
        if np.array_equal(view, self._view):
            self._changed_all()
            return
        self.beginResetModel()
        self._view = view
        self.endResetModel()

    def _mask(self, idx: np.ndarray) -> np.ndarray:
        kind, value = self._filter.kind, self._filter.value
        if kind in ("all", "rows"):
            return np.ones(len(idx), bool)
        paths, labels = self.paths, self.labels
        if kind == "unlabeled":
            return np.array([paths[i] not in labels for i in idx], bool)
        if kind == "labeled":
            return np.array([paths[i] in labels for i in idx], bool)
        if kind == "class":
            return np.array([labels.get(paths[i]) == value for i in idx], bool)
        if kind == "unreadable":
            return np.array([paths[i] in self.reasons for i in idx], bool)
        if kind == "unsure":
            unsure = self._src.marks.get("unsure", set())
            return np.array([paths[i] in unsure for i in idx], bool)
        column = self.pred_classes.index(value) if value in self.pred_classes else -2
        return self._pred[idx] == column

    def _compute_view(self) -> np.ndarray:
        if self._filter.kind == "rows":  # an explicit, ordered list (neighbours, suspects ...)
            rows = np.asarray(self._filter.rows, np.int64)
            return rows[(rows >= 0) & (rows < self._known)]
        idx = np.arange(self._known)
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

    def image_at(self, row: int) -> int:
        """Image index (session row) of view ``row``, -1 when out of range."""
        return int(self._view[row]) if 0 <= row < len(self._view) else -1

    def row_of(self, path: str) -> int:
        """View row of ``path``, -1 when filtered out or unknown."""
        i = self.row_of_path.get(path)
        if i is None or i >= self._known:
            return -1
        hits = np.flatnonzero(self._view == i)
        return int(hits[0]) if len(hits) else -1

    def view_paths(self, first: int, last: int) -> list[str]:
        first, last = max(0, first), min(len(self._view) - 1, last)
        return [self.paths[int(i)] for i in self._view[first : last + 1]]

    def view_images(self) -> np.ndarray:
        """Image indexes in view order (a copy)."""
        return self._view.copy()

    def _changed_all(self) -> None:
        # A dataChanged over 100,000 rows makes QListView walk every row; views repaint instead.
        self.badges_changed.emit()

    def _changed_path(self, path: str) -> None:
        row = self.row_of(path)
        if row >= 0:
            self.dataChanged.emit(self.index(row), self.index(row))

    def thumbnail_ready(self, path: str) -> None:
        self._changed_path(path)
