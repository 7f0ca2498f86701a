"""Large preview of the current image, with a plain-text caption and error/empty states."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPaintEvent, QPalette, QPixmap, QTextOption
from PySide6.QtWidgets import QWidget

from gui_app.widgets.prob_bars import text_direction

EMPTY_MESSAGE = "Open a folder to start (File ▸ Open Folder…)"


def error_message(reason: str) -> str:
    """Text drawn for an image that could not be decoded."""
    return f"⚠ Unreadable: {reason}"


class ImageView(QWidget):
    """Aspect-preserving, smooth, high-DPI preview of one QImage.

    The scaled pixmap is cached for the current widget size and device pixel ratio, so repaints
    (e.g. after a key press elsewhere) never rescale.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._caption = ""
        self._error: str | None = None
        self._scaled: QPixmap | None = None
        self._scaled_key: tuple[int, int, float] | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setAccessibleName("Image preview")

    # ----------------------------------------------------------------- data
    def set_image(self, image: QImage | None, caption: str = "", error: str | None = None) -> None:
        """Show *image* with *caption* below it; *error* shows a message instead of the image.

        With neither image nor error, *caption* (or a default hint) is the centred message.
        """
        self._image = None if image is None or image.isNull() else image
        self._caption = caption
        self._error = error
        self._scaled = None
        self._scaled_key = None
        if error is not None:
            self.setAccessibleDescription(error_message(error))
        else:
            self.setAccessibleDescription(caption if self._image is not None else self.empty_text())
        self.update()

    def has_image(self) -> bool:
        """True when an image (not an error or the empty state) is shown."""
        return self._image is not None and self._error is None

    def error_text(self) -> str | None:
        """The error reason given to :meth:`set_image`, or None."""
        return self._error

    def empty_text(self) -> str:
        """Message shown when there is no image and no error: the caption, or the default."""
        return self._caption or EMPTY_MESSAGE

    def caption(self) -> str:
        """The caption under the image."""
        return self._caption

    # ------------------------------------------------------------- geometry
    def _caption_height(self) -> int:
        # Without image or error the caption is the centred message, not a bottom strip.
        if not self._caption or (self._image is None and self._error is None):
            return 0
        return round(self.fontMetrics().height() * 1.6)

    def image_area(self) -> QRect:
        """Region available to the image (the widget minus the caption strip)."""
        return self.rect().adjusted(0, 0, 0, -self._caption_height())

    def image_rect(self) -> QRectF:
        """Where the image is drawn, in logical pixels (empty when no image is shown)."""
        if not self.has_image():
            return QRectF()
        assert self._image is not None
        area = self.image_area()
        size = QSize(self._image.size()).scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x = area.left() + (area.width() - size.width()) / 2
        y = area.top() + (area.height() - size.height()) / 2
        return QRectF(x, y, size.width(), size.height())

    def _scaled_pixmap(self) -> QPixmap | None:
        if self._image is None:
            return None
        dpr = self.devicePixelRatioF()
        area = self.image_area()
        target = QSize(max(1, round(area.width() * dpr)), max(1, round(area.height() * dpr)))
        key = (target.width(), target.height(), dpr)
        if self._scaled is None or self._scaled_key != key:
            scaled = self._image.scaled(
                target,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            pixmap = QPixmap.fromImage(scaled)
            pixmap.setDevicePixelRatio(dpr)
            self._scaled, self._scaled_key = pixmap, key
        return self._scaled

    def sizeHint(self) -> QSize:
        h = self.fontMetrics().height()
        return QSize(h * 32, h * 24)

    def minimumSizeHint(self) -> QSize:
        h = self.fontMetrics().height()
        return QSize(h * 8, h * 6)

    # ----------------------------------------------------------------- events
    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.PaletteChange):
            self.update()
        super().changeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        pal = self.palette()
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), pal.color(self.backgroundRole()))
            area = self.image_area()
            margin = self.fontMetrics().height()
            if self._error is not None:
                painter.setPen(pal.color(QPalette.ColorRole.WindowText))
                self._draw_text(
                    painter,
                    area.adjusted(margin, margin, -margin, -margin),
                    error_message(self._error),
                )
            elif self._image is None:
                muted = pal.color(QPalette.ColorRole.WindowText)
                muted.setAlphaF(0.65)
                painter.setPen(muted)
                self._draw_text(
                    painter, area.adjusted(margin, margin, -margin, -margin), self.empty_text()
                )
            else:
                pixmap = self._scaled_pixmap()
                if pixmap is not None:
                    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
                    painter.drawPixmap(self.image_rect(), pixmap, QRectF(pixmap.rect()))
            if self._caption_height():
                self._draw_caption(painter)
        finally:
            painter.end()

    def _draw_text(self, painter: QPainter, rect: QRect, text: str) -> None:
        """Centred, word-wrapped plain text."""
        option = QTextOption(Qt.AlignmentFlag.AlignCenter)
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        option.setTextDirection(text_direction(text, self.layoutDirection()))
        painter.drawText(QRectF(rect), text, option)

    def _draw_caption(self, painter: QPainter) -> None:
        h = self._caption_height()
        pad = self.fontMetrics().horizontalAdvance(" ")
        rect = QRect(pad, self.height() - h, max(0, self.width() - 2 * pad), h)
        text = self.fontMetrics().elidedText(
            self._caption, Qt.TextElideMode.ElideMiddle, rect.width()
        )
        option = QTextOption(Qt.AlignmentFlag.AlignCenter)
        option.setWrapMode(QTextOption.WrapMode.NoWrap)
        option.setTextDirection(text_direction(self._caption, self.layoutDirection()))
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        painter.drawText(QRectF(rect), text, option)
