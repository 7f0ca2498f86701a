"""Custom-painted probability bars: one row per class, sorted by probability.

The widget only displays what it is given (:class:`BarItem`); it holds no model logic.
All text is drawn as plain text with :meth:`QPainter.drawText`, so a class called ``<b>x</b>``
shows those characters. Sizes derive from font metrics, colours from the palette.
"""

from __future__ import annotations

import html
import math
import unicodedata

from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QCoreApplication,
    QEvent,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QTextOption,
)
from PySide6.QtWidgets import QStyle, QToolTip, QWidget

from gui_app.qt.viewstate import BarItem

DEFAULT_MESSAGE = QT_TRANSLATE_NOOP("ProbabilityBars", "Label two classes to see predictions")

#: Row height as a multiple of the font's line height.
ROW_FACTOR = 1.8


def format_percent(probability: float) -> str:
    """Format a probability as ``'73.2 %'``; tiny values as ``'<0.1 %'``.

    Parameters
    ----------
    probability : float
        Value in [0, 1]; values outside are clamped, NaN gives ``'– %'``.
    """
    if not math.isfinite(probability):
        return "– %"
    pct = min(max(probability, 0.0), 1.0) * 100.0
    if pct <= 0.0:
        return "0 %"
    if pct < 0.1:
        return "<0.1 %"
    if pct >= 100.0:
        return "100 %"
    if pct > 99.9:
        return ">99.9 %"
    return f"{pct:.1f} %"


def tooltip_text(item: BarItem, is_user_label: bool) -> str:
    """Plain-text tooltip for a row, e.g. ``'cat — 73.2 % (your label)'``."""
    text = f"{item.name} — {format_percent(item.probability)}"
    if is_user_label:
        text = ProbabilityBars.tr("{bar} (your label)").format(bar=text)
    return text


def tooltip_markup(item: BarItem, is_user_label: bool) -> str:
    """Tooltip as escaped markup, because QToolTip would guess rich text from the name."""
    return "<p style='white-space:pre'>" + html.escape(tooltip_text(item, is_user_label)) + "</p>"


def text_direction(text: str, default: Qt.LayoutDirection) -> Qt.LayoutDirection:
    """Base direction of *text* from its first strong character (Unicode bidi rule P2)."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind == "L":
            return Qt.LayoutDirection.LeftToRight
        if kind in ("R", "AL"):
            return Qt.LayoutDirection.RightToLeft
    return default


def sort_bars(bars: list[BarItem]) -> list[BarItem]:
    """Sort by probability descending, ties by name; NaN sorts last."""

    def key(item: BarItem) -> tuple[float, str]:
        p = item.probability if math.isfinite(item.probability) else -1.0
        return (-p, item.name)

    return sorted(bars, key=key)


def _clamped(probability: float) -> float:
    return min(max(probability, 0.0), 1.0) if math.isfinite(probability) else 0.0


def _blend(a: QColor, b: QColor, t: float) -> QColor:
    """Mix colour *b* into *a* by fraction *t* (opaque result, so the paint stays opaque)."""
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


class ProbabilityBars(QWidget):
    """Rows of class name + coloured bar + percentage, top class highlighted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bars: list[BarItem] = []
        self._user_label: str | None = None
        self._message: str | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setAccessibleName(self.tr("Class probabilities"))

    # ----------------------------------------------------------------- data
    def set_bars(
        self, bars: list[BarItem], user_label: str | None, message: str | None = None
    ) -> None:
        """Show *bars* (sorted here), mark *user_label*'s row; *message* replaces the bars."""
        sorted_bars = sort_bars(list(bars))
        if (sorted_bars, user_label, message) == (self._bars, self._user_label, self._message):
            return
        rows_changed = len(sorted_bars) != len(self._bars)
        self._bars = sorted_bars
        self._user_label = user_label
        self._message = message
        self.setAccessibleDescription(self._summary())
        if rows_changed:
            self.updateGeometry()
        self.update()

    def bars(self) -> list[BarItem]:
        """Bars in display order (probability descending)."""
        return list(self._bars)

    def user_label(self) -> str | None:
        """The class the user assigned to the current image, if any."""
        return self._user_label

    def message(self) -> str | None:
        """The message drawn instead of bars, or None when bars are drawn."""
        if self._message is not None:
            return self._message
        if self._bars:
            return None
        return QCoreApplication.translate("ProbabilityBars", DEFAULT_MESSAGE)

    def _summary(self) -> str:
        if self.message() is not None:
            return self.message() or ""
        return "; ".join(f"{b.name} {format_percent(b.probability)}" for b in self._bars)

    # ------------------------------------------------------------- geometry
    def _row_height(self) -> int:
        return max(1, round(ROW_FACTOR * self.fontMetrics().height()))

    def _margin(self) -> int:
        return max(1, self.fontMetrics().height() // 4)

    def _columns(self, width: int) -> tuple[int, int, int, int, int]:
        """Left-to-right column widths: shortcut, marker, name, bar, percent."""
        fm = self.fontMetrics()
        bold = QFont(self.font())
        bold.setBold(True)
        bfm = QFontMetrics(bold)
        pad = fm.horizontalAdvance(" ")
        shortcut = fm.horizontalAdvance("9") + pad
        marker = fm.height() + pad
        pct = fm.horizontalAdvance(">99.9 %") + pad
        inner = width - 2 * self._margin()
        rest = max(0, inner - shortcut - marker - pct)
        name = min(bfm.horizontalAdvance("M" * 14), max(fm.averageCharWidth() * 6, rest * 2 // 5))
        name = min(name, rest)
        return shortcut, marker, name, rest - name, pct

    def row_rect(self, row: int) -> QRect:
        """Rectangle of display row *row* in widget coordinates."""
        h = self._row_height()
        m = self._margin()
        return QRect(m, m + row * h, max(0, self.width() - 2 * m), h)

    def _column_rects(self, row: int) -> tuple[QRect, QRect, QRect, QRect, QRect]:
        """Logical (left-to-right) rects for the columns of *row*, not yet mirrored."""
        r = self.row_rect(row)
        widths = self._columns(self.width())
        rects = []
        x = r.left()
        for w in widths:
            rects.append(QRect(x, r.top(), w, r.height()))
            x += w
        return tuple(rects)  # type: ignore[return-value]

    def _visual(self, rect: QRect) -> QRect:
        return QStyle.visualRect(self.layoutDirection(), self.rect(), rect)

    def bar_rect(self, row: int) -> QRect:
        """Full-width track of the bar in *row* (the coloured part starts at its leading edge)."""
        col = self._column_rects(row)[3]
        h = max(2, round(col.height() * 0.5))
        pad = self.fontMetrics().horizontalAdvance(" ") // 2
        track = QRect(col.left() + pad, col.top() + (col.height() - h) // 2, col.width() - pad, h)
        return self._visual(track)

    def row_at(self, pos: QPoint) -> int | None:
        """Display row under *pos*, or None."""
        if self.message() is not None:
            return None
        for i in range(len(self._bars)):
            if self.row_rect(i).contains(pos):
                return i
        return None

    def tooltip_for_row(self, row: int) -> str:
        """Plain tooltip text for display row *row*."""
        item = self._bars[row]
        return tooltip_text(item, item.name == self._user_label)

    def sizeHint(self) -> QSize:
        fm = self.fontMetrics()
        rows = max(len(self._bars), 2) if self.message() is None else 2
        shortcut, marker, _, _, pct = self._columns(0)
        width = (
            shortcut + marker + pct + fm.horizontalAdvance("M" * 12) + fm.averageCharWidth() * 24
        )
        return QSize(width + 2 * self._margin(), rows * self._row_height() + 2 * self._margin())

    def minimumSizeHint(self) -> QSize:
        # Full height so a parent QScrollArea scrolls instead of squashing rows.
        fm = self.fontMetrics()
        shortcut, marker, _, _, pct = self._columns(0)
        width = shortcut + marker + pct + fm.averageCharWidth() * 12
        return QSize(width + 2 * self._margin(), self.sizeHint().height())

    # ----------------------------------------------------------------- events
    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            row = self.row_at(event.pos())
            if row is None:
                QToolTip.hideText()
                event.ignore()
            else:
                item = self._bars[row]
                markup = tooltip_markup(item, item.name == self._user_label)
                QToolTip.showText(event.globalPos(), markup, self, self.row_rect(row))
            return True
        return super().event(event)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.LayoutDirectionChange):
            self.updateGeometry()
            self.update()
        elif event.type() == QEvent.Type.PaletteChange:
            self.update()
        super().changeEvent(event)

    # --------------------------------------------------------------- painting
    def paintEvent(self, event: QPaintEvent) -> None:
        pal = self.palette()
        background = pal.color(self.backgroundRole())
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), background)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            message = self.message()
            if message is not None:
                painter.setPen(_blend(background, pal.color(QPalette.ColorRole.WindowText), 0.6))
                m = self._margin()
                painter.drawText(
                    self.rect().adjusted(m, m, -m, -m),
                    Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                    message,
                )
                return
            clip = event.rect()
            for row, item in enumerate(self._bars):
                if self.row_rect(row).intersects(clip):
                    self._paint_row(painter, row, item, background)
        finally:
            painter.end()

    def _paint_row(self, painter: QPainter, row: int, item: BarItem, background: QColor) -> None:
        pal = self.palette()
        text_color = pal.color(QPalette.ColorRole.WindowText)
        highlight = pal.color(QPalette.ColorRole.Highlight)
        fm = self.fontMetrics()
        radius = fm.height() / 6
        line = max(1.0, fm.height() / 14)
        row_rect = self.row_rect(row)
        shortcut_r, marker_r, name_r, _, pct_r = (self._visual(r) for r in self._column_rects(row))
        is_top = row == 0
        is_user = item.name == self._user_label

        if is_top:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(_blend(background, highlight, 0.18))
            painter.drawRoundedRect(QRectF(row_rect).adjusted(0, 1, 0, -1), radius, radius)
        if is_user:
            painter.setPen(QPen(_blend(background, text_color, 0.55), line))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            inset = line / 2
            rect = QRectF(row_rect).adjusted(inset, 1 + inset, -inset, -1 - inset)
            painter.drawRoundedRect(rect, radius, radius)
            self._paint_check(painter, marker_r, text_color, line)

        if item.shortcut is not None:
            painter.setPen(_blend(background, text_color, 0.6))
            painter.drawText(shortcut_r, Qt.AlignmentFlag.AlignCenter, str(item.shortcut))

        font = QFont(self.font())
        font.setBold(is_top)
        painter.setFont(font)
        painter.setPen(text_color)
        pad = fm.horizontalAdvance(" ") // 2
        name_box = name_r.adjusted(pad, 0, -pad, 0)
        elided = QFontMetrics(font).elidedText(
            item.name, Qt.TextElideMode.ElideRight, name_box.width()
        )
        # The name's own direction drives bidi; its alignment follows the UI, not the name.
        ui_side = (
            Qt.AlignmentFlag.AlignRight
            if self.layoutDirection() == Qt.LayoutDirection.RightToLeft
            else Qt.AlignmentFlag.AlignLeft
        )
        option = QTextOption(
            ui_side | Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignAbsolute
        )
        option.setTextDirection(text_direction(item.name, self.layoutDirection()))
        option.setWrapMode(QTextOption.WrapMode.NoWrap)
        painter.drawText(QRectF(name_box), elided, option)
        painter.setFont(self.font())

        track = self.bar_rect(row)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_blend(background, text_color, 0.08))
        painter.drawRoundedRect(QRectF(track), radius, radius)
        fraction = _clamped(item.probability)
        if fraction > 0:
            width = max(line, track.width() * fraction)
            fill = QRectF(track.left(), track.top(), width, track.height())
            if self.layoutDirection() == Qt.LayoutDirection.RightToLeft:
                fill.moveRight(track.left() + track.width())
            color = QColor(item.color)
            painter.setBrush(color if color.isValid() else pal.color(QPalette.ColorRole.Mid))
            painter.drawRoundedRect(fill, radius, radius)

        painter.setPen(text_color)
        align = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignTrailing
        painter.drawText(pct_r.adjusted(0, 0, -pad, 0), align, format_percent(item.probability))

    @staticmethod
    def _paint_check(painter: QPainter, box: QRect, color: QColor, line: float) -> None:
        """Check mark drawn as a path (no dependency on a glyph being in the font)."""
        side = min(box.width(), box.height()) * 0.5
        c = QPointF(box.center())
        path = QPainterPath(QPointF(c.x() - side * 0.45, c.y()))
        path.lineTo(QPointF(c.x() - side * 0.1, c.y() + side * 0.35))
        path.lineTo(QPointF(c.x() + side * 0.5, c.y() - side * 0.4))
        pen = QPen(color, line * 1.6)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
