"""Drawing a zoomed image cheaply: pick the right resolution, draw only what is visible.

The image exists at several resolutions (levels): the decoded full image and its half-size copy
when they have arrived, the 2048 px preview and, made on demand, halvings of it. A paint picks
the smallest level that is still at least as sharp as the screen needs, so it never shrinks by
more than 2x (bilinear filtering stays clean) and never touches the whole 24-megapixel image:
only the visible source rectangle is drawn. When the whole image is visible (fit), a smoothly
scaled copy is cached per size, as before zooming existed.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPixmap

from gui_app.qt.full_image import halve
from gui_app.widgets.zoom_geometry import ZoomGeometry

#: Above this many device pixels per image pixel, pixels are drawn as crisp squares.
PIXELATED_FROM = 4.0
#: The cached smooth copy for the fitted view is only made from levels up to this size.
EXACT_CACHE_MAX_PIXELS = 4_500_000
MIN_MIP_SIDE = 64


class LevelSet:
    """The resolutions of one image, each with its pixels per full-resolution pixel."""

    def __init__(self, preview: QImage, full_width: float) -> None:
        self.full_width = float(full_width)
        self._preview: list[QImage] = [preview]  # the preview, then its halvings
        self._full: list[QImage] = []
        self.version = 0

    @property
    def preview(self) -> QImage:
        return self._preview[0]

    def has_full(self) -> bool:
        return bool(self._full)

    def set_full(self, levels: Sequence[QImage]) -> None:
        """The full-resolution levels, largest first (an empty list drops them)."""
        self._full = [lv for lv in levels if not lv.isNull()]
        self.version += 1

    def factor(self, level: QImage) -> float:
        """Pixels of *level* per full-resolution pixel."""
        return level.width() / self.full_width

    def preview_factor(self) -> float:
        return self.factor(self.preview)

    def max_factor(self) -> float:
        return max(self.factor(lv) for lv in self._levels())

    def _levels(self) -> list[QImage]:
        return sorted([*self._full, *self._preview], key=lambda lv: -lv.width())

    def pick(self, device_scale: float, *, make_mips: bool) -> QImage:
        """Smallest level with at least *device_scale* pixels per image pixel (else the largest).

        With *make_mips*, halvings of the preview are made as needed so that the level shrinks
        by at most 2x.
        """
        if make_mips:
            while True:
                last = self._preview[-1]
                half_factor = self.factor(last) / 2
                if (
                    half_factor < device_scale
                    or max(last.width(), last.height()) < 2 * MIN_MIP_SIDE
                ):
                    break
                self._preview.append(halve(last))
        levels = self._levels()
        chosen = levels[0]
        for level in levels:
            if self.factor(level) >= device_scale * (1 - 1e-3):
                chosen = level
        return chosen


class ScaledImagePainter:
    """Draws a :class:`LevelSet` as a :class:`ZoomGeometry` says; caches the fitted copy."""

    def __init__(self) -> None:
        self._cached: QPixmap | None = None
        self._cached_key: tuple | None = None
        self.last_level_width = 0  # which level the last paint used (for tests and benchmarks)

    def clear(self) -> None:
        self._cached = None
        self._cached_key = None

    def fitted_pixmap(self, levels: LevelSet, geometry: ZoomGeometry) -> QPixmap | None:
        """The smooth copy drawn when the whole image is visible (None when too large)."""
        dpr = geometry.dpr
        rect = geometry.image_rect()
        target = QSize(max(1, round(rect.width() * dpr)), max(1, round(rect.height() * dpr)))
        level = levels.pick(geometry.device_scale(), make_mips=False)
        if level.width() * level.height() > EXACT_CACHE_MAX_PIXELS:
            return None
        key = (levels.version, level.cacheKey(), target.width(), target.height(), dpr)
        if self._cached is None or self._cached_key != key:
            scaled = level.scaled(
                target,
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            pixmap = QPixmap.fromImage(scaled)
            pixmap.setDevicePixelRatio(dpr)
            self._cached, self._cached_key = pixmap, key
        self.last_level_width = level.width()
        return self._cached

    def paint(self, painter: QPainter, levels: LevelSet, geometry: ZoomGeometry) -> None:
        """Draw the visible part of the image into ``geometry.area`` (clipped to it)."""
        painter.save()
        try:
            painter.setClipRect(geometry.area)
            if geometry.whole_visible():
                pixmap = self.fitted_pixmap(levels, geometry)
                if pixmap is not None:  # already at its device size: drawn 1:1, not resampled
                    corner = _on_device_grid(geometry.image_rect().topLeft(), geometry.dpr)
                    painter.drawPixmap(corner, pixmap)
                    return
            self._paint_visible(painter, levels, geometry)
        finally:
            painter.restore()

    def _paint_visible(self, painter: QPainter, levels: LevelSet, geometry: ZoomGeometry) -> None:
        device_scale = geometry.device_scale()
        level = levels.pick(device_scale, make_mips=True)
        self.last_level_width = level.width()
        visible = geometry.visible_image_rect()
        if visible.isEmpty():
            return
        fx = level.width() / geometry.width
        fy = level.height() / geometry.height
        # Whole source pixels around the visible part, so that edges are filtered correctly.
        left = max(0, int(visible.left() * fx) - 1)
        top = max(0, int(visible.top() * fy) - 1)
        right = min(level.width(), int(visible.right() * fx) + 2)
        bottom = min(level.height(), int(visible.bottom() * fy) + 2)
        source = QRectF(left, top, right - left, bottom - top)
        target = geometry.map_rect_to_widget(
            QRectF(left / fx, top / fy, source.width() / fx, source.height() / fy)
        )
        magnification = device_scale / fx
        whole = magnification >= 1 - 1e-6 and abs(magnification - round(magnification)) < 1e-6
        if whole:  # 100 %, 200 %...: each image pixel covers whole device pixels, crisp
            target.moveTopLeft(_on_device_grid(target.topLeft(), geometry.dpr))
        smooth = not whole and magnification < PIXELATED_FROM
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.drawImage(target, level, source)


def _on_device_grid(point: QPointF, dpr: float) -> QPointF:
    """*point* moved (by under half a device pixel) onto the device pixel grid."""
    return QPointF(round(point.x() * dpr) / dpr, round(point.y() * dpr) / dpr)
