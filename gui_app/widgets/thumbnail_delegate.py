"""How one grid cell is drawn: thumbnail, label chip or predicted badge, marks, selection.

Everything is plain text (a class called ``<b>x</b>`` shows those characters).
"""

from __future__ import annotations

import math

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
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
    QPalette,
    QPen,
    QPixmap,
    QPixmapCache,
)
from PySide6.QtWidgets import (
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from gui_app.qt.image_model import Roles

DEFAULT_THUMB = 128
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
            self._paint_marks(painter, thumb, index.data(Roles.MARKS) or (), fm)

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

    @staticmethod
    def _paint_marks(painter: QPainter, thumb: QRect, marks: tuple, fm: QFontMetrics) -> None:
        """A small badge in the thumbnail's corner: "?" unsure, "✓" a reviewed label."""
        text = "?" if "unsure" in marks else "✓" if "reviewed" in marks else ""
        if not text:
            return
        side = fm.height() + 2
        badge = QRectF(thumb.right() - side - 1, thumb.top() + 1, side, side)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(40, 40, 40, 200))
        painter.drawEllipse(badge)
        painter.setPen(QColor("white"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)

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
