"""Zoom and pan arithmetic of one image in a pane (no painting, no events).

Image coordinates are pixels of the *full-resolution* image, whatever resolution is drawn, so
swapping the 2048 px preview for the full image never moves the view. The state is a scale
(logical widget pixels per image pixel) and the image point shown at the pane's centre.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from PySide6.QtCore import QPointF, QRectF, QSizeF

#: 'custom' is any zoom reached with the wheel or +/- that is none of the three named modes.
MODES = ("fit", "100", "fill", "custom")
ZOOM_STEP = 2**0.25  # four wheel notches double the size
MAX_DEVICE_ZOOM = 32.0  # device pixels per image pixel at the largest zoom
_EPS = 1e-6


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _EPS * max(abs(a), abs(b), 1e-12)


class ZoomGeometry:
    """Scale, centre and mode of one image in a pane, and the mappings between them."""

    def __init__(self) -> None:
        self.width = 0.0  # full-resolution image size
        self.height = 0.0
        self.area = QRectF()  # the pane's image area, logical pixels
        self.dpr = 1.0
        self._mode = "fit"
        self._scale = 1.0
        self._cx = 0.0
        self._cy = 0.0
        self._pending: dict | None = None  # a restored state waiting for an image

    # ------------------------------------------------------------------ queries
    def has_image(self) -> bool:
        return self.width > 0 and self.height > 0

    def mode(self) -> str:
        return self._mode

    def scale(self) -> float:
        """Logical widget pixels per full-resolution image pixel."""
        return self._scale

    def device_scale(self) -> float:
        """Device pixels per image pixel (1.0 is 100 %)."""
        return self._scale * self.dpr

    def center(self) -> QPointF:
        """The image point at the centre of the pane."""
        return QPointF(self._cx, self._cy)

    def mode_scale(self, mode: str) -> float:
        """The scale *mode* gives in the current pane ('custom' keeps the current one)."""
        if not self.has_image() or self.area.isEmpty():
            return self._scale
        fit = min(self.area.width() / self.width, self.area.height() / self.height)
        if mode == "fit":
            return fit
        if mode == "fill":
            return max(self.area.width() / self.width, self.area.height() / self.height)
        if mode == "100":
            return 1.0 / self.dpr
        return self._scale

    def min_scale(self) -> float:
        return min(self.mode_scale("fit"), self.mode_scale("100"))

    def max_scale(self) -> float:
        return max(self.mode_scale("fill"), MAX_DEVICE_ZOOM / self.dpr)

    def map_to_widget(self, point: QPointF) -> QPointF:
        """Image point -> widget point (logical pixels)."""
        c = self.area.center()
        return QPointF(
            c.x() + (point.x() - self._cx) * self._scale,
            c.y() + (point.y() - self._cy) * self._scale,
        )

    def map_to_image(self, point: QPointF) -> QPointF:
        """Widget point -> image point (full-resolution pixels)."""
        c = self.area.center()
        return QPointF(
            self._cx + (point.x() - c.x()) / self._scale,
            self._cy + (point.y() - c.y()) / self._scale,
        )

    def map_rect_to_widget(self, rect: QRectF) -> QRectF:
        top_left = self.map_to_widget(rect.topLeft())
        return QRectF(top_left, QSizeF(rect.width() * self._scale, rect.height() * self._scale))

    def image_rect(self) -> QRectF:
        """Where the whole image lies in widget coordinates (may exceed the pane)."""
        if not self.has_image():
            return QRectF()
        return self.map_rect_to_widget(QRectF(0, 0, self.width, self.height))

    def visible_image_rect(self) -> QRectF:
        """The part of the image inside the pane, in image coordinates."""
        if not self.has_image() or self.area.isEmpty():
            return QRectF()
        corner = self.map_to_image(self.area.topLeft())
        size = QSizeF(self.area.width() / self._scale, self.area.height() / self._scale)
        return QRectF(corner, size).intersected(QRectF(0, 0, self.width, self.height))

    def pannable(self) -> bool:
        """True when the image is larger than the pane in some direction."""
        if not self.has_image():
            return False
        return (
            self.width * self._scale > self.area.width() + 0.5
            or self.height * self._scale > self.area.height() + 0.5
        )

    def whole_visible(self) -> bool:
        return self.has_image() and not self.pannable()

    # ------------------------------------------------------------------ changes
    def set_area(self, area: QRectF, dpr: float) -> None:
        """The pane was resized (named modes follow it; a custom zoom keeps its scale)."""
        self.area = QRectF(area)
        self.dpr = dpr if dpr > 0 else 1.0
        if self._mode != "custom":
            self._scale = self.mode_scale(self._mode)
        self._clamp()

    def set_image_size(self, width: float, height: float) -> None:
        """A new image: the mode, the zoom relative to fit and the relative centre carry over."""
        if self.has_image() and _close(width, self.width) and _close(height, self.height):
            return
        if self._pending is not None or not self.has_image():
            state = self._pending or {}
            self._pending = None
        else:
            state = self.view_state()
        self.width, self.height = float(width), float(height)
        if self.has_image():
            self._apply(state)

    def clear_image(self) -> None:
        """No image: the next one keeps the current mode and relative view."""
        if self.has_image():
            self._pending = self.view_state()
        self.width = self.height = 0.0

    def set_mode(self, mode: str, anchor: QPointF | None = None) -> None:
        """Switch to 'fit', '100' or 'fill'; *anchor* (widget point) stays put if possible."""
        if mode not in MODES or mode == "custom":
            raise ValueError(f"unknown zoom mode {mode!r}")
        self._rescale(self.mode_scale(mode), anchor)
        self._mode = mode

    def zoom_by(self, steps: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``ZOOM_STEP ** steps`` keeping the image point under *anchor* fixed.

        A zoom that passes 100 % stops there; at the limits the named mode is kept.
        """
        if not self.has_image() or steps == 0:
            return
        old = self._scale
        new = old * ZOOM_STEP**steps
        native = self.mode_scale("100")
        if (old - native) * (new - native) < 0:
            new = native
        new = min(max(new, self.min_scale()), self.max_scale())
        self._rescale(new, anchor)
        self._mode = self._named_mode(new)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the image by (dx, dy) widget pixels."""
        if self.has_image():
            self._cx -= dx / self._scale
            self._cy -= dy / self._scale
            self._clamp()

    def center_on(self, point: QPointF) -> None:
        """Show image *point* at the pane's centre (as far as the image edges allow)."""
        if self.has_image():
            self._cx, self._cy = point.x(), point.y()
            self._clamp()

    # ------------------------------------------------------------ persistence
    def view_state(self) -> dict:
        """Mode, zoom relative to fit and relative centre: plain numbers for QSettings."""
        if self._pending is not None and not self.has_image():
            return dict(self._pending)
        fit = self.mode_scale("fit")
        return {
            "mode": self._mode,
            "zoom": self._scale / fit if self.has_image() and fit > 0 else 1.0,
            "center_x": self._cx / self.width if self.has_image() else 0.5,
            "center_y": self._cy / self.height if self.has_image() else 0.5,
        }

    def restore_view_state(self, state: Mapping) -> None:
        """Apply :meth:`view_state` output (now, or to the next image); bad values are ignored."""
        clean = _clean_state(state)
        if self.has_image():
            self._apply(clean)
        else:
            self._pending = clean

    # ------------------------------------------------------------------ private
    def _apply(self, state: Mapping) -> None:
        mode = state.get("mode", self._mode if self._mode in MODES else "fit")
        fit = self.mode_scale("fit")
        if mode == "custom":
            zoom = state.get("zoom", 1.0)
            self._scale = min(max(fit * zoom, self.min_scale()), self.max_scale())
        else:
            self._scale = self.mode_scale(mode)
        self._mode = mode
        self._cx = state.get("center_x", 0.5) * self.width
        self._cy = state.get("center_y", 0.5) * self.height
        self._clamp()

    def _named_mode(self, scale: float) -> str:
        for mode in ("fit", "100", "fill"):
            if _close(scale, self.mode_scale(mode)):
                return mode
        return "custom"

    def _rescale(self, scale: float, anchor: QPointF | None) -> None:
        if not self.has_image() or scale <= 0:
            self._scale = scale if scale > 0 else self._scale
            return
        anchor = self.area.center() if anchor is None else QPointF(anchor)
        fixed = self.map_to_image(anchor)
        self._scale = scale
        c = self.area.center()
        self._cx = fixed.x() - (anchor.x() - c.x()) / scale
        self._cy = fixed.y() - (anchor.y() - c.y()) / scale
        self._clamp()

    def _clamp(self) -> None:
        if not self.has_image():
            return
        self._cx = _clamp_axis(self._cx, self.width, self.area.width() / self._scale)
        self._cy = _clamp_axis(self._cy, self.height, self.area.height() / self._scale)


def _clamp_axis(center: float, length: float, visible: float) -> float:
    """Centre an axis that fits; otherwise keep the image edges outside the pane."""
    if length <= visible + 1e-9 or not math.isfinite(center):
        return length / 2
    half = visible / 2
    return min(max(center, half), length - half)


def _clean_state(state: Mapping) -> dict:
    """The valid entries of a stored view state (QSettings may hand back strings)."""
    clean: dict = {}
    if not isinstance(state, Mapping):
        return clean
    mode = state.get("mode")
    if isinstance(mode, str) and mode in MODES:
        clean["mode"] = mode
    for key, low, high in (("zoom", 1e-3, 1e4), ("center_x", 0.0, 1.0), ("center_y", 0.0, 1.0)):
        try:
            value = float(state.get(key))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if math.isfinite(value) and low <= value <= high:
            clean[key] = value
    return clean
