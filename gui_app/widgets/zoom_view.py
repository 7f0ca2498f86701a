"""One zoomable image pane: wheel, drag, arrow keys, caption strip, error and empty states."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QWidget

from gui_app.qt.preview import PreviewSource, preview_source
from gui_app.widgets.pane_text import (
    EMPTY_MESSAGE,
    LOADING_MESSAGE,
    draw_badge,
    draw_caption,
    draw_message,
    error_message,
    pane_text,
    zoom_percent,
)
from gui_app.widgets.zoom_geometry import ZoomGeometry
from gui_app.widgets.zoom_paint import LevelSet, ScaledImagePainter

HUD_MS = 1200  # how long the zoom percentage stays after a zoom
ARROW_KEYS = (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down)


class ZoomView(QWidget):
    """A QImage shown fitted, at 100 % or filling the pane, zoomed and panned by the user.

    Signals
    -------
    view_changed(mode, scale)
        The mode ('fit', '100', 'fill', 'custom') or the scale (widget px per image px) changed.
    full_resolution_wanted(key, path)
        The zoom needs more pixels than the preview holds; answer with :meth:`set_full_image`.
    """

    view_changed = Signal(str, float)
    full_resolution_wanted = Signal(str, str)

    def __init__(self, parent: QWidget | None = None, empty_message: str | None = None) -> None:
        """``empty_message``: shown without an image (translated; default :data:`EMPTY_MESSAGE`)."""
        super().__init__(parent)
        self._image: QImage | None = None
        self._caption = ""
        self._error: str | None = None
        self._empty_message = empty_message or pane_text(EMPTY_MESSAGE)
        self._source: PreviewSource | None = None
        self._levels: LevelSet | None = None
        self._full_state = "none"  # 'none' | 'pending' | 'ready' | 'failed'
        self._full_error = ""
        self.geometry_ = ZoomGeometry()
        self._painter = ScaledImagePainter()
        self._emitted: tuple[str, float] | None = None
        self._drag_from: QPointF | None = None
        self._key_fallback: QWidget | None = None
        self._hud = QTimer(self, singleShot=True, interval=HUD_MS)
        self._hud.timeout.connect(self.update)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # clicks take focus only when pannable
        self.setAccessibleName(self.tr("Image preview"))

    # ----------------------------------------------------------------- data
    def set_image(self, image: QImage | None, caption: str = "", error: str | None = None) -> None:
        """Show *image* with *caption* below it; *error* shows a message instead of the image.

        With neither image nor error, *caption* (or the empty message) is the centred message.
        """
        image = None if image is None or image.isNull() or error is not None else image
        # The same QImage again (e.g. a new caption) keeps the zoom and the full image.
        same = (
            image is not None
            and self._image is not None
            and image.cacheKey() == self._image.cacheKey()
        )
        self._caption = caption
        self._error = error
        if not same:
            self._image = image
            self._source = preview_source(image)
            self._levels = None
            self._full_state, self._full_error = "none", ""
            self._painter.clear()
        self._sync_area()
        if not same:
            if image is None:
                self.geometry_.clear_image()
            else:
                full = self._source.full_size if self._source else image.size()
                self._levels = LevelSet(image, full.width())
                self.geometry_.set_image_size(full.width(), full.height())
        if error is not None:
            self.setAccessibleDescription(error_message(error))
        else:
            self.setAccessibleDescription(caption if self._image is not None else self.empty_text())
        self._changed(user=False)

    def set_full_image(self, key: str, image: object, error: str = "") -> bool:
        """Swap in the full-resolution image of *key* (an ImagePyramid or a QImage).

        The view does not move. Returns False when *key* is not the image shown.
        """
        if self._source is None or key != self._source.key or self._levels is None:
            return False
        levels = getattr(image, "levels", None)
        if levels is None and isinstance(image, QImage):
            levels = (image,)
        if error or not levels or levels[0].isNull():
            self._full_state, self._full_error = "failed", error or self.tr("not decoded")
        else:
            self._levels.set_full(list(levels))
            self._full_state, self._full_error = "ready", ""
        self.update()
        return True

    def set_key_fallback(self, widget: QWidget | None) -> None:
        """Arrow keys the view does not use (nothing to pan) and Escape go to *widget*."""
        self._key_fallback = widget

    def has_image(self) -> bool:
        """True when an image (not an error or the empty state) is shown."""
        return self._image is not None and self._error is None

    def image(self) -> QImage | None:
        return self._image

    def source(self) -> PreviewSource | None:
        """Key, file and full size of the shown preview, when the loader recorded them."""
        return self._source

    def full_state(self) -> str:
        """'none', 'pending' (requested), 'ready' (drawn from it) or 'failed'."""
        return self._full_state

    def fitted_pixmap(self) -> QPixmap | None:
        """The cached smooth copy drawn while the whole image is visible (None otherwise)."""
        if self._levels is None or not self.has_image() or not self.geometry_.whole_visible():
            return None
        return self._painter.fitted_pixmap(self._levels, self.geometry_)

    def painted_level_width(self) -> int:
        """Width of the resolution level the last paint drew from (0 before any paint)."""
        return self._painter.last_level_width

    def error_text(self) -> str | None:
        """The error reason given to :meth:`set_image`, or None."""
        return self._error

    def empty_text(self) -> str:
        """Message shown when there is no image and no error: the caption, or the default."""
        return self._caption or self._empty_message

    def caption(self) -> str:
        """The caption under the image."""
        return self._caption

    # ----------------------------------------------------------- zoom API
    def mode(self) -> str:
        return self.geometry_.mode()

    def scale(self) -> float:
        """Logical widget pixels per full-resolution image pixel."""
        return self.geometry_.scale()

    def zoom_by(self, steps: float, anchor: QPointF | None = None) -> None:
        """Zoom in (steps > 0) or out around *anchor* (widget point; default: the centre)."""
        self.geometry_.zoom_by(steps, anchor)
        self._changed(user=True)

    def set_mode(self, mode: str, anchor: QPointF | None = None) -> None:
        """'fit' (whole image), '100' (1 image px = 1 device px) or 'fill' (cover the pane)."""
        self.geometry_.set_mode(mode, anchor)
        self._changed(user=True)

    def center_on(self, image_point: QPointF) -> None:
        self.geometry_.center_on(image_point)
        self._changed(user=False)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the image by (dx, dy) widget pixels."""
        self.geometry_.pan_by(dx, dy)
        self._changed(user=False)

    def map_to_widget(self, image_point: QPointF) -> QPointF:
        return self.geometry_.map_to_widget(image_point)

    def map_to_image(self, widget_point: QPointF) -> QPointF:
        return self.geometry_.map_to_image(widget_point)

    def view_state(self) -> dict:
        return self.geometry_.view_state()

    def restore_view_state(self, state: dict) -> None:
        self.geometry_.restore_view_state(state)
        self._changed(user=False)

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
        """Where the whole image lies, in logical pixels (empty when no image is shown)."""
        return self.geometry_.image_rect() if self.has_image() else QRectF()

    def _sync_area(self) -> None:
        self.geometry_.set_area(QRectF(self.image_area()), self.devicePixelRatioF())

    def _changed(self, *, user: bool) -> None:
        g = self.geometry_
        if user and self.has_image():
            self._hud.start()
        self._want_full()
        self._update_cursor()
        self.update()
        now = (g.mode(), g.scale())
        if self.has_image() and now != self._emitted:
            self._emitted = now
            self.view_changed.emit(*now)

    def needs_full(self) -> bool:
        """True when the zoom asks for more pixels than the preview has."""
        levels, source = self._levels, self._source
        if levels is None or source is None or not self.has_image():
            return False
        return self.geometry_.device_scale() > levels.preview_factor() * 1.001 and (
            levels.preview_factor() < 1.0
        )

    def _want_full(self) -> None:
        if self._full_state == "none" and self.needs_full():
            assert self._source is not None
            self._full_state = "pending"
            self.full_resolution_wanted.emit(self._source.key, self._source.path)

    def _update_cursor(self) -> None:
        if self._drag_from is not None:
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self.has_image() and self.geometry_.pannable():
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self.unsetCursor()

    def sizeHint(self) -> QSize:
        h = self.fontMetrics().height()
        return QSize(h * 32, h * 24)

    def minimumSizeHint(self) -> QSize:
        h = self.fontMetrics().height()
        return QSize(h * 8, h * 6)

    # ----------------------------------------------------------------- input
    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if not self.has_image() or steps == 0:
            event.ignore()
            return
        self.zoom_by(steps, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.geometry_.pannable():
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            self._drag_from = event.position()
            self._update_cursor()
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is not None:
            delta = event.position() - self._drag_from
            self._drag_from = event.position()
            self.pan_by(delta.x(), delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is not None and event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = None
            self._update_cursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """Double-click: 100 % around the clicked point, or back to fit."""
        if event.button() != Qt.MouseButton.LeftButton or not self.has_image():
            super().mouseDoubleClickEvent(event)
            return
        if self.mode() == "fit":
            self.set_mode("100", event.position())
        else:
            self.set_mode("fit")
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in ARROW_KEYS and self.has_image() and self.geometry_.pannable():
            area = self.image_area()
            step = (0.5 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 0.15) * min(
                area.width(), area.height()
            )
            dx = {Qt.Key.Key_Left: step, Qt.Key.Key_Right: -step}.get(key, 0.0)
            dy = {Qt.Key.Key_Up: step, Qt.Key.Key_Down: -step}.get(key, 0.0)
            self.pan_by(dx, dy)
            event.accept()
            return
        target = self._key_fallback
        if target is not None and (key in ARROW_KEYS or key == Qt.Key.Key_Escape):
            target.setFocus(Qt.FocusReason.OtherFocusReason)
            if key != Qt.Key.Key_Escape:
                QApplication.sendEvent(
                    target, QKeyEvent(event.type(), key, event.modifiers(), event.text())
                )
            event.accept()
            return
        super().keyPressEvent(event)

    # ----------------------------------------------------------------- events
    def resizeEvent(self, event: QResizeEvent) -> None:
        self._sync_area()
        self._changed(user=False)
        super().resizeEvent(event)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.PaletteChange):
            self._sync_area()
            self._changed(user=False)
        super().changeEvent(event)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.DevicePixelRatioChange:
            self._painter.clear()
            self._sync_area()
            self._changed(user=False)
        return super().event(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        pal = self.palette()
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), pal.color(self.backgroundRole()))
            area = self.image_area()
            margin = self.fontMetrics().height()
            inner = area.adjusted(margin, margin, -margin, -margin)
            if self._error is not None:
                painter.setPen(pal.color(QPalette.ColorRole.WindowText))
                draw_message(painter, inner, error_message(self._error), self.layoutDirection())
            elif self._image is None or self._levels is None:
                muted = pal.color(QPalette.ColorRole.WindowText)
                muted.setAlphaF(0.65)
                painter.setPen(muted)
                draw_message(painter, inner, self.empty_text(), self.layoutDirection())
            else:
                self._painter.paint(painter, self._levels, self.geometry_)
                self._draw_badges(painter, area)
            if self._caption_height():
                self._draw_caption(painter)
        finally:
            painter.end()

    def _draw_badges(self, painter: QPainter, area: QRect) -> None:
        """The zoom percentage just after a zoom; a note while the full image decodes."""
        fm = self.fontMetrics()
        if self._hud.isActive():
            draw_badge(painter, area, zoom_percent(self.geometry_.device_scale()), fm, top=True)
        if self._full_state == "pending" and self.needs_full():
            draw_badge(painter, area, pane_text(LOADING_MESSAGE), fm, top=False)
        elif self._full_state == "failed" and self.needs_full():
            text = self.tr("Full resolution unavailable: {reason}").format(reason=self._full_error)
            draw_badge(painter, area, text, fm, top=False)

    def _draw_caption(self, painter: QPainter) -> None:
        h = self._caption_height()
        pad = self.fontMetrics().horizontalAdvance(" ")
        rect = QRect(pad, self.height() - h, max(0, self.width() - 2 * pad), h)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        draw_caption(painter, rect, self._caption, self.fontMetrics(), self.layoutDirection())
