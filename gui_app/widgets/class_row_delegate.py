"""How one class row of the label panel is drawn: swatch, shortcut badge, name, count."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from gui_app.qt.viewstate import ClassRow, format_count

ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the ClassRow of an item


class ClassRowDelegate(QStyledItemDelegate):
    """One class row: colour swatch, shortcut badge, elided name, right-aligned count."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        fm = option.fontMetrics
        return QSize(fm.averageCharWidth() * 20, round(fm.height() * 1.7))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        row: ClassRow | None = index.data(ROW_ROLE)
        if row is None:
            return
        pal = option.palette
        fm: QFontMetrics = option.fontMetrics
        r = QRect(option.rect)
        pad = max(2, fm.height() // 3)
        painter.save()
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            selected = bool(option.state & QStyle.StateFlag.State_Selected)
            hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
            text_color = pal.color(QPalette.ColorRole.Text)
            if selected or hover:
                fill = pal.color(QPalette.ColorRole.Highlight)
                fill.setAlphaF(0.25 if selected else 0.10)
                painter.fillRect(r, fill)
            x = r.left() + pad
            # Swatch.
            side = fm.height() * 0.9
            swatch = QRectF(x, r.center().y() - side / 2 + 0.5, side, side)
            color = QColor(row.color)
            painter.setPen(QColor(0, 0, 0, 60))
            painter.setBrush(color if color.isValid() else pal.color(QPalette.ColorRole.Mid))
            painter.drawRoundedRect(swatch, side / 4, side / 4)
            x += round(side) + pad
            # Shortcut badge.
            badge_w = fm.horizontalAdvance("9") + pad * 2
            badge = QRectF(x, r.center().y() - fm.height() / 2 + 0.5, badge_w, fm.height())
            if row.shortcut is not None:
                outline = pal.color(QPalette.ColorRole.PlaceholderText)
                painter.setPen(outline)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                corner = fm.height() / 5
                painter.drawRoundedRect(badge.adjusted(0.5, 0.5, -0.5, -0.5), corner, corner)
                painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, str(row.shortcut))
            x += round(badge_w) + pad
            # Count (right) and name (elided, plain text).
            count_text = format_count(row.count)
            count_w = fm.horizontalAdvance(count_text)
            count_rect = QRect(r.right() - pad - count_w, r.top(), count_w, r.height())
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            right = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
            painter.drawText(count_rect, right, count_text)
            name_rect = QRect(x, r.top(), max(0, count_rect.left() - pad - x), r.height())
            font = QFont(option.font)
            font.setBold(selected)
            painter.setFont(font)
            painter.setPen(text_color)
            elided = QFontMetrics(font).elidedText(
                row.name, Qt.TextElideMode.ElideRight, name_rect.width()
            )
            painter.drawText(
                name_rect, Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextSingleLine, elided
            )
        finally:
            painter.restore()
