"""Thumbnail grid: a uniform icon-mode QListView with a painted delegate.

The delegate reads the roles of :class:`gui_app.qt.image_model.Roles` and draws everything as
plain text (a class called ``<b>x</b>`` shows those characters).
"""

from __future__ import annotations

import contextlib
import html
import math

import numpy as np
from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QFont,
    QHelpEvent,
    QKeyEvent,
    QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListView,
    QPushButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from gui_app.widgets.thumbnail_delegate import (  # noqa: F401  (chip_text: tests)
    DEFAULT_THUMB,
    ThumbnailDelegate,
    chip_text,
    contrast_text,
)

THUMB_STEPS = (64, 96, 128, 160, 192, 256, 320)
VISIBLE_DEBOUNCE_MS = 100
FOLLOW_RETRY_MS = 50  # while the batched layout has not reached the current row
FOLLOW_RETRIES = 100

#: Keys the grid leaves to the window's shortcuts (digits, confirm, skip, remove).
PASS_THROUGH_KEYS = frozenset(
    [Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space, Qt.Key.Key_Backspace]
    + [Qt.Key.Key_Delete, Qt.Key.Key_S]
    + [getattr(Qt.Key, f"Key_{d}") for d in range(10)]
)

Index = QModelIndex | QPersistentModelIndex


class ImageGrid(QListView):
    """Uniform thumbnail grid; keyboard navigation only, label keys go to the window.

    Signals
    -------
    current_row_changed(int)
        The user (or code other than :meth:`select_row`) moved the current item.
    visible_range_changed(int, int)
        First and last visible rows, debounced, after scrolling / resizing / model changes.
    """

    current_row_changed = Signal(int)
    visible_range_changed = Signal(int, int)
    selection_changed = Signal(object)  # numpy int64 array of the selected view rows

    def __init__(self, parent: QWidget | None = None, thumb_size: int = DEFAULT_THUMB) -> None:
        super().__init__(parent)
        self._delegate = ThumbnailDelegate(self, thumb_size)
        self.setItemDelegate(self._delegate)
        # Icon mode creates an item for every row before its first batch (about 0.3 s at
        # 100,000 rows); list mode would not, but scrolls wrongly to rows not yet laid out.
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        # Click, Shift/Ctrl-click, Ctrl+A (the current filter) and a rubber band select many.
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(self.tr("Image thumbnails"))
        self._syncing = False
        self._debounce = QTimer(self, singleShot=True, interval=VISIBLE_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit_visible_range)
        self._selection_debounce = QTimer(self, singleShot=True, interval=0)
        self._selection_debounce.timeout.connect(self._emit_selection)
        # The grid scrolls to a new current image one event-loop turn after it is selected, so
        # the bars and the preview are painted first (a scrolled grid repaints every cell).
        self._scroll_target = QPersistentModelIndex()
        self._follow_retries = 0
        self._follow_timer = QTimer(self, singleShot=True, interval=0)
        self._follow_timer.timeout.connect(self._scroll_to_target)
        self.verticalScrollBar().valueChanged.connect(self._schedule_visible)
        self._update_grid()

    # -------------------------------------------------------------- model
    def setModel(self, model: QAbstractItemModel | None) -> None:
        old = self.model()
        if old is not None:
            for sig in (old.modelReset, old.rowsInserted, old.rowsRemoved, old.layoutChanged):
                with contextlib.suppress(RuntimeError, TypeError):
                    sig.disconnect(self._schedule_visible)
        super().setModel(model)
        if model is None:
            return
        self.selectionModel().currentChanged.connect(self._on_current_changed)
        self.selectionModel().selectionChanged.connect(self._selection_debounce.start)
        for sig in (model.modelReset, model.rowsInserted, model.rowsRemoved, model.layoutChanged):
            sig.connect(self._schedule_visible)
        self._schedule_visible()

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not self._syncing and current.isValid():
            self.current_row_changed.emit(current.row())

    def selected_rows(self) -> np.ndarray:
        """The selected view rows, ascending (from the selection's ranges: cheap at 100k)."""
        model = self.selectionModel()
        if model is None:
            return np.zeros(0, np.int64)
        parts = [np.arange(r.top(), r.bottom() + 1) for r in model.selection()]
        return np.unique(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, np.int64)

    def select_rows(self, rows) -> None:
        """Select exactly ``rows`` (view rows), without moving the current image."""
        model, sel = self.model(), self.selectionModel()
        if model is None or sel is None:
            return
        selection = QItemSelection()
        rows = np.unique(np.asarray(rows, np.int64))
        if len(rows):
            cuts = np.flatnonzero(np.diff(rows) != 1) + 1
            for run in np.split(rows, cuts):
                selection.select(model.index(int(run[0]), 0), model.index(int(run[-1]), 0))
        sel.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _emit_selection(self) -> None:
        self.selection_changed.emit(self.selected_rows())

    def select_row(self, row: int) -> None:
        """Make *row* current and visible without emitting :attr:`current_row_changed`."""
        model = self.model()
        if model is None:
            return
        index = model.index(row, 0) if 0 <= row < model.rowCount() else QModelIndex()
        if index == self.currentIndex():
            if index.isValid():
                self._follow(index)
            return
        self._syncing = True
        try:
            if index.isValid():
                self.setAutoScroll(False)  # setCurrentIndex would scroll at once
                try:
                    self.selectionModel().setCurrentIndex(
                        index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                    )
                finally:
                    self.setAutoScroll(True)
                self._follow(index)
            else:
                self.selectionModel().clear()
        finally:
            self._syncing = False

    def _follow(self, index: QModelIndex) -> None:
        """Scroll to ``index`` on the next event-loop turn, unless it is plainly in view."""
        if self._in_view(index.row()):
            self._follow_timer.stop()
            return
        self._scroll_target = QPersistentModelIndex(index)
        self._follow_retries = 0
        self._follow_timer.start(0)

    def _scroll_to_target(self) -> None:
        target = QModelIndex(self._scroll_target)
        if not target.isValid() or target != self.currentIndex():
            return
        self.scrollTo(target)
        if not self._in_view(target.row()) and self._follow_retries < FOLLOW_RETRIES:
            # The batched layout has not placed the row yet: try again once it has gone on.
            self._follow_retries += 1
            self._follow_timer.start(FOLLOW_RETRY_MS)

    def _in_view(self, row: int) -> bool:
        """Whether view row ``row`` is wholly visible, by the grid's arithmetic alone.

        ``scrollTo`` and ``visualRect`` first lay out every item up to the row (half a second
        for 100,000 while the batched layout is still running); cells have one size and flow
        left to right, so the position follows from the row. Errs towards False.
        """
        cell, viewport = self.gridSize(), self.viewport().size()
        if cell.width() <= 0 or cell.height() <= 0 or self.spacing():
            return False
        columns = max(1, viewport.width() // cell.width())
        top = (row // columns) * cell.height() - self.verticalScrollBar().value()
        return top >= 0 and top + cell.height() <= viewport.height()

    # ----------------------------------------------------------- thumbnails
    def thumbnail_size(self) -> int:
        """Thumbnail side in logical pixels."""
        return self._delegate.thumb_size

    def set_thumbnail_size(self, size: int) -> None:
        """Set the thumbnail side (clamped to the zoom steps' range)."""
        size = int(min(max(size, THUMB_STEPS[0]), THUMB_STEPS[-1]))
        if size == self._delegate.thumb_size:
            return
        self._delegate.thumb_size = size
        self._update_grid()
        current = self.currentIndex()
        if current.isValid():
            self.scrollTo(current, QAbstractItemView.ScrollHint.PositionAtCenter)

    def zoom(self, steps: int) -> None:
        """Step the thumbnail size up (+1) or down (-1) through :data:`THUMB_STEPS`."""
        size = self.thumbnail_size()
        bigger = [s for s in THUMB_STEPS if s > size]
        smaller = [s for s in THUMB_STEPS if s < size]
        if steps > 0 and bigger:
            self.set_thumbnail_size(bigger[0])
        elif steps < 0 and smaller:
            self.set_thumbnail_size(smaller[-1])

    def _update_grid(self) -> None:
        cell = self._delegate.cell_size(self.fontMetrics())
        self.setGridSize(cell)
        self.setIconSize(QSize(self._delegate.thumb_size, self._delegate.thumb_size))
        self.scheduleDelayedItemsLayout()
        self._schedule_visible()

    # ------------------------------------------------------- visible range
    def _schedule_visible(self, *_args: object) -> None:
        self._debounce.start()

    def visible_range(self) -> tuple[int, int] | None:
        """(first, last) rows intersecting the viewport, None for an empty model."""
        model = self.model()
        count = model.rowCount() if model is not None else 0
        if count == 0:
            return None
        vp = self.viewport().rect()
        first_index = self.indexAt(vp.topLeft() + QPoint(1, 1))
        last_index = self.indexAt(vp.bottomRight() - QPoint(1, 1))
        grid = self.gridSize()
        per_row = max(1, vp.width() // max(1, grid.width()))
        rows_visible = math.ceil(vp.height() / max(1, grid.height())) + 1
        first = first_index.row() if first_index.isValid() else -1
        if first < 0:
            first = (self.verticalScrollBar().value() // max(1, grid.height())) * per_row
        # An invalid bottom-right corner lies past the last item or in a partial row.
        last = last_index.row() if last_index.isValid() else first + per_row * rows_visible - 1
        first = min(max(0, first), count - 1)
        return first, min(max(first, last), count - 1)

    def _emit_visible_range(self) -> None:
        visible = self.visible_range()
        if visible is not None:
            self.visible_range_changed.emit(*visible)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._schedule_visible()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._update_grid()

    # ---------------------------------------------------------------- keys
    def keyPressEvent(self, event: QKeyEvent) -> None:
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if event.key() in PASS_THROUGH_KEYS and mods in (
            Qt.KeyboardModifier.NoModifier,
            Qt.KeyboardModifier.ShiftModifier,
        ):
            event.ignore()  # let the window's shortcuts / parent handle it
            return
        super().keyPressEvent(event)

    def keyboardSearch(self, search: str) -> None:
        # Type-ahead would jump between images on letter keys; labelling is keyboard-first.
        return

    # ------------------------------------------------------------- tooltips
    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            index = self.indexAt(event.pos())
            text = index.data(Qt.ItemDataRole.ToolTipRole) if index.isValid() else None
            if not text:
                QToolTip.hideText()
                event.ignore()
                return True
            # The model's tooltip is plain text; escape it so QToolTip never guesses rich text.
            markup = "<p style='white-space:pre'>" + html.escape(str(text)) + "</p>"
            QToolTip.showText(event.globalPos(), markup, self.viewport(), self.visualRect(index))
            return True
        return super().viewportEvent(event)


class EmptyGridState(QWidget):
    """What the grid area shows when no folder is open: a big 'Open Folder…' button."""

    open_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.open_button = QPushButton(self.tr("Open Folder…"))
        big = QFont(self.font())
        if big.pointSizeF() > 0:
            big.setPointSizeF(big.pointSizeF() * 1.4)
        self.open_button.setFont(big)
        self.open_button.setDefault(True)
        self.open_button.clicked.connect(self.open_clicked)
        hint = QLabel(
            self.tr(
                "Choose a folder of images to start labelling (Ctrl+O).\n"
                "Its subfolders are included; your images are never modified."
            )
        )
        hint.setTextFormat(Qt.TextFormat.PlainText)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        box = QVBoxLayout(self)
        box.addStretch(1)
        box.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignHCenter)
        box.addSpacing(self.fontMetrics().height())
        box.addWidget(hint, 0, Qt.AlignmentFlag.AlignHCenter)
        box.addStretch(1)
