"""Thumbnail grid: a uniform icon-mode QListView with a painted delegate.

The delegate reads the roles of :class:`gui_app.qt.image_model.Roles` and draws everything as
plain text (a class called ``<b>x</b>`` shows those characters).
"""

from __future__ import annotations

import contextlib
import html
import math

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QKeyEvent,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
    QPixmapCache,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListView,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from gui_app.qt.image_model import Roles

DEFAULT_THUMB = 128
THUMB_STEPS = (64, 96, 128, 160, 192, 256, 320)
VISIBLE_DEBOUNCE_MS = 100

#: Keys the grid leaves to the window's shortcuts (digits, confirm, skip, remove).
PASS_THROUGH_KEYS = frozenset(
    [Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space, Qt.Key.Key_Backspace]
    + [Qt.Key.Key_Delete, Qt.Key.Key_S]
    + [getattr(Qt.Key, f"Key_{d}") for d in range(10)]
)

Index = QModelIndex | QPersistentModelIndex


def contrast_text(background: QColor) -> QColor:
    """Black or white, whichever reads better on *background* (WCAG relative luminance)."""

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    lum = (
        0.2126 * channel(background.redF())
        + 0.7152 * channel(background.greenF())
        + 0.0722 * channel(background.blueF())
    )
    # Contrast against black is (L + .05) / .05, against white 1.05 / (L + .05).
    return QColor(Qt.GlobalColor.black) if lum > 0.179 else QColor(Qt.GlobalColor.white)


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


def chip_text(index: Index) -> tuple[str, str | None, bool]:
    """(text, colour, is_user_label) of the chip under a thumbnail; text '' for none."""
    label = index.data(Roles.LABEL)
    if label:
        return str(label), index.data(Roles.LABEL_COLOR), True
    prediction = index.data(Roles.PREDICTION)
    if prediction:
        conf = index.data(Roles.CONFIDENCE)
        text = str(prediction)
        if conf is not None and math.isfinite(conf):
            text += f" {round(conf * 100)}%"
        return text, index.data(Roles.PRED_COLOR), False
    return "", None, False


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints thumbnail, elided file name and a label / prediction chip in a fixed cell."""

    def __init__(self, parent: QWidget | None = None, thumb_size: int = DEFAULT_THUMB) -> None:
        super().__init__(parent)
        self.thumb_size = thumb_size

    # ------------------------------------------------------------- geometry
    @staticmethod
    def _pad(fm: QFontMetrics) -> int:
        return max(2, fm.height() // 3)

    def cell_size(self, fm: QFontMetrics) -> QSize:
        """Grid cell: thumbnail, a file-name line and a chip line, padded by font metrics."""
        pad = self._pad(fm)
        width = max(self.thumb_size, fm.averageCharWidth() * 10) + 2 * pad
        height = self.thumb_size + fm.height() + self._chip_height(fm) + 4 * pad
        return QSize(width, height)

    def _chip_height(self, fm: QFontMetrics) -> int:
        return fm.height() + max(2, fm.height() // 4)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        return self.cell_size(option.fontMetrics)

    # --------------------------------------------------------------- painting
    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        pal: QPalette = option.palette
        fm: QFontMetrics = option.fontMetrics
        pad = self._pad(fm)
        cell = QRect(option.rect)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        has_focus = bool(option.state & QStyle.StateFlag.State_HasFocus)
        hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
        base = pal.color(QPalette.ColorRole.Base)
        text_color = pal.color(QPalette.ColorRole.Text)
        highlight = pal.color(QPalette.ColorRole.Highlight)
        line = max(1.0, fm.height() / 14)

        painter.save()
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            frame = QRectF(cell).adjusted(line, line, -line, -line)
            radius = fm.height() / 3
            if selected:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(_mix(base, highlight, 0.22))
                painter.drawRoundedRect(frame, radius, radius)
            elif hover:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(_mix(base, text_color, 0.06))
                painter.drawRoundedRect(frame, radius, radius)

            side = self.thumb_size
            thumb = QRect(cell.left() + (cell.width() - side) // 2, cell.top() + pad, side, side)
            reason = index.data(Roles.REASON)
            self._paint_thumb(painter, thumb, index, pal, bool(reason), line)

            name_rect = QRect(
                cell.left() + pad, thumb.bottom() + 1 + pad, cell.width() - 2 * pad, fm.height()
            )
            name = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
            painter.setPen(text_color)
            painter.setFont(option.font)
            painter.drawText(
                name_rect,
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextSingleLine,
                fm.elidedText(name, Qt.TextElideMode.ElideMiddle, name_rect.width()),
            )

            chip_rect = QRect(
                cell.left() + pad,
                name_rect.bottom() + 1 + pad // 2,
                cell.width() - 2 * pad,
                self._chip_height(fm),
            )
            self._paint_chip(painter, chip_rect, index, option, line)

            if selected or has_focus:
                # Strong focus ring: thick highlight outline around the whole cell.
                ring = max(2.0, fm.height() / 7) if selected else line
                half = ring / 2
                painter.setPen(QPen(highlight, ring))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(
                    QRectF(cell).adjusted(half, half, -half, -half), radius, radius
                )
        finally:
            painter.restore()

    def _paint_thumb(
        self,
        painter: QPainter,
        box: QRect,
        index: Index,
        pal: QPalette,
        unreadable: bool,
        line: float,
    ) -> None:
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        text_color = pal.color(QPalette.ColorRole.Text)
        base = pal.color(QPalette.ColorRole.Base)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            dpr = painter.device().devicePixelRatioF() if painter.device() else 1.0
            scaled = self._scaled(pixmap, box.size(), dpr)
            logical = scaled.size() / scaled.devicePixelRatio()
            x = box.left() + (box.width() - logical.width()) // 2
            y = box.top() + (box.height() - logical.height()) // 2
            painter.drawPixmap(QPoint(x, y), scaled)
        else:
            # Subtle placeholder while the thumbnail loads (or when it cannot load).
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(_mix(base, text_color, 0.07))
            r = box.width() / 16
            painter.drawRoundedRect(QRectF(box).adjusted(1, 1, -1, -1), r, r)
        if unreadable:
            red = QColor("#d32f2f")
            width = max(2.0, line * 2)
            painter.setPen(QPen(red, width))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(box).adjusted(width / 2, width / 2, -width / 2, -width / 2))
            font = QFont(painter.font())
            font.setPointSizeF(max(8.0, font.pointSizeF() * 2.2))
            painter.setFont(font)
            painter.setPen(red)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, "⚠")

    @staticmethod
    def _scaled(pixmap: QPixmap, box: QSize, dpr: float) -> QPixmap:
        """The pixmap scaled to fit *box* at *dpr*, cached so scrolling never rescales."""
        target = QSize(max(1, round(box.width() * dpr)), max(1, round(box.height() * dpr)))
        key = f"loupe-thumb:{pixmap.cacheKey()}:{target.width()}x{target.height()}"
        cached = QPixmapCache.find(key)
        if isinstance(cached, QPixmap) and not cached.isNull():
            return cached
        # Always fit the box (letterboxed): a small thumbnail at 2x is better slightly soft
        # than tiny.
        scaled = pixmap.scaled(
            target, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        scaled.setDevicePixelRatio(dpr)
        QPixmapCache.insert(key, scaled)
        return scaled

    def _paint_chip(
        self,
        painter: QPainter,
        area: QRect,
        index: Index,
        option: QStyleOptionViewItem,
        line: float,
    ) -> None:
        text, color, is_label = chip_text(index)
        if not text:
            return
        fm = option.fontMetrics
        pal = option.palette
        hpad = max(3, fm.height() // 3)
        font = QFont(option.font)
        font.setBold(is_label)
        cfm = QFontMetrics(font)
        elided = cfm.elidedText(text, Qt.TextElideMode.ElideRight, area.width() - 2 * hpad)
        width = min(area.width(), cfm.horizontalAdvance(elided) + 2 * hpad)
        chip = QRectF(area.left() + (area.width() - width) / 2, area.top(), width, area.height())
        radius = chip.height() / 2
        base = pal.color(QPalette.ColorRole.Base)
        text_color = pal.color(QPalette.ColorRole.Text)
        fill = QColor(color) if color else QColor()
        if is_label:
            if not fill.isValid():
                fill = pal.color(QPalette.ColorRole.Mid)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawRoundedRect(chip, radius, radius)
            painter.setPen(contrast_text(fill))
        else:
            muted = _mix(base, text_color, 0.6)
            outline = _mix(base, fill, 0.7) if fill.isValid() else _mix(base, text_color, 0.35)
            painter.setPen(QPen(outline, line, Qt.PenStyle.SolidLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            half = line / 2
            painter.drawRoundedRect(chip.adjusted(half, half, -half, -half), radius, radius)
            painter.setPen(muted)
        painter.setFont(font)
        painter.drawText(chip, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextSingleLine, elided)


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

    def __init__(self, parent: QWidget | None = None, thumb_size: int = DEFAULT_THUMB) -> None:
        super().__init__(parent)
        self._delegate = ThumbnailDelegate(self, thumb_size)
        self.setItemDelegate(self._delegate)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Image thumbnails")
        self._syncing = False
        self._debounce = QTimer(self, singleShot=True, interval=VISIBLE_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit_visible_range)
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
        for sig in (model.modelReset, model.rowsInserted, model.rowsRemoved, model.layoutChanged):
            sig.connect(self._schedule_visible)
        self._schedule_visible()

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not self._syncing and current.isValid():
            self.current_row_changed.emit(current.row())

    def select_row(self, row: int) -> None:
        """Make *row* current and visible without emitting :attr:`current_row_changed`."""
        model = self.model()
        if model is None:
            return
        index = model.index(row, 0) if 0 <= row < model.rowCount() else QModelIndex()
        if index == self.currentIndex():
            if index.isValid():
                self.scrollTo(index)
            return
        self._syncing = True
        try:
            if index.isValid():
                self.selectionModel().setCurrentIndex(
                    index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                )
                self.scrollTo(index)
            else:
                self.selectionModel().clear()
        finally:
            self._syncing = False

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
        self.open_button = QPushButton("Open Folder…")
        big = QFont(self.font())
        if big.pointSizeF() > 0:
            big.setPointSizeF(big.pointSizeF() * 1.4)
        self.open_button.setFont(big)
        self.open_button.setDefault(True)
        self.open_button.clicked.connect(self.open_clicked)
        hint = QLabel(
            "Choose a folder of images to start labelling (Ctrl+O).\n"
            "Its subfolders are included; your images are never modified."
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
