"""Text drawn on an image pane: centred messages, the caption strip and small badges."""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QTextOption

from gui_app.widgets.prob_bars import text_direction

# English messages of an image pane (ZoomView), shown through pane_text().
EMPTY_MESSAGE = QT_TRANSLATE_NOOP("ZoomView", "Open a folder to start (File ▸ Open Folder…)")
LOADING_MESSAGE = QT_TRANSLATE_NOOP("ZoomView", "Loading full resolution…")
UNREADABLE_MESSAGE = QT_TRANSLATE_NOOP("ZoomView", "⚠ Unreadable: {reason}")


def pane_text(text: str) -> str:
    """One of the messages above, translated."""
    return QCoreApplication.translate("ZoomView", text)


def error_message(reason: str) -> str:
    """Text drawn for an image that could not be decoded."""
    return pane_text(UNREADABLE_MESSAGE).format(reason=reason)


def zoom_percent(device_scale: float) -> str:
    """'250 %' for 2.5 device pixels per image pixel."""
    value = device_scale * 100
    return f"{value:.0f} %" if value >= 10 else f"{value:.1f} %"


def draw_message(painter: QPainter, rect: QRect, text: str, layout: Qt.LayoutDirection) -> None:
    """Centred, word-wrapped plain text (the pen is the caller's)."""
    option = QTextOption(Qt.AlignmentFlag.AlignCenter)
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    option.setTextDirection(text_direction(text, layout))
    painter.drawText(QRectF(rect), text, option)


def draw_caption(
    painter: QPainter, rect: QRect, caption: str, fm: QFontMetrics, layout: Qt.LayoutDirection
) -> None:
    """One centred line, elided in the middle to fit *rect* (the pen is the caller's)."""
    text = fm.elidedText(caption, Qt.TextElideMode.ElideMiddle, rect.width())
    option = QTextOption(Qt.AlignmentFlag.AlignCenter)
    option.setWrapMode(QTextOption.WrapMode.NoWrap)
    option.setTextDirection(text_direction(caption, layout))
    painter.drawText(QRectF(rect), text, option)


def draw_badge(painter: QPainter, area: QRect, text: str, fm: QFontMetrics, *, top: bool) -> None:
    """White text on a dark rounded box in the top-left or bottom-left corner of *area*."""
    pad = fm.height() // 3
    text = fm.elidedText(text, Qt.TextElideMode.ElideRight, max(0, area.width() - 4 * pad))
    width = fm.horizontalAdvance(text) + 2 * pad
    height = fm.height() + pad
    y = area.top() + pad if top else area.bottom() - height - pad
    box = QRectF(area.left() + pad, y, width, height)
    painter.save()
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 150))
    painter.drawRoundedRect(box, pad, pad)
    painter.setPen(QColor("white"))
    painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter), text)
    painter.restore()
