"""Full-resolution images for the zoomed preview, decoded off the GUI thread and cached (LRU).

A zoomed preview needs more pixels than the 2048 px preview holds. :class:`FullImageLoader`
decodes the whole image on its own single-thread :class:`~gui_app.qt.tasks.TaskRunner` (so a
slow 24-megapixel decode never delays the next preview) together with a half-size copy, and
keeps the last few in a small cache bounded by a byte budget.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QImage, QImageReader

from gui_app.qt.i18n import image_io
from gui_app.qt.tasks import TaskRunner, TaskState
from gui_app.qt.thumbnails import DEFAULT_MAX_PIXELS, decode_image

#: Larger images are decoded down to this many pixels (the view then shows them a little soft).
FULL_MAX_PIXELS = 64_000_000
#: Cache budget: about three 24-megapixel photos with their half-size copies.
CACHE_BYTES = 400 * 2**20
CACHE_ITEMS = 3
#: Requests queued or decoding at once (the preview and the side-by-side reference).
MAX_IN_FLIGHT = 2
#: Levels smaller than this (longest side) are not made: the preview is sharper there anyway.
MIN_LEVEL_SIDE = 1024


@dataclass(frozen=True)
class ImagePyramid:
    """An image at full resolution and at halved sizes, largest first."""

    levels: tuple[QImage, ...]

    @property
    def full(self) -> QImage:
        """The largest level (the whole image, capped at :data:`FULL_MAX_PIXELS`)."""
        return self.levels[0]

    @property
    def nbytes(self) -> int:
        return sum(int(level.sizeInBytes()) for level in self.levels)


def halve(image: QImage) -> QImage:
    """A half-size copy (each pixel the mean of a 2 x 2 block).

    32-bit images are shrunk by OpenCV straight into the new QImage's memory: OpenCV lets go
    of Python's GIL while it works and nothing large is copied under it, so a worker thread
    halving a 24-megapixel image never stalls the GUI thread (``QImage.scaled`` holds the GIL).
    """
    w, h = image.width() // 2, image.height() // 2
    if w < 1 or h < 1:
        return image.copy()
    if image.depth() != 32:
        return image.scaled(
            QSize(w, h),
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    import cv2

    src = _pixels(image.constBits(), image.bytesPerLine(), image.width(), image.height())
    out = QImage(w, h, image.format())
    dst = _pixels(out.bits(), out.bytesPerLine(), w, h)
    result = cv2.resize(src[: 2 * h, : 2 * w], (w, h), dst=dst, interpolation=cv2.INTER_AREA)
    if result.__array_interface__["data"][0] != dst.__array_interface__["data"][0]:
        dst[...] = result  # OpenCV allocated its own output after all
    return out


def _pixels(buffer, bytes_per_line: int, width: int, height: int):
    """A (height, width, 4) uint8 numpy view of a 32-bit QImage's memory."""
    import numpy as np

    rows = np.frombuffer(buffer, np.uint8, count=bytes_per_line * height)
    return rows.reshape(height, bytes_per_line)[:, : width * 4].reshape(height, width, 4)


def full_decode_side(path: Path, max_pixels: int = FULL_MAX_PIXELS) -> int:
    """Longest side to decode *path* at so that it holds at most *max_pixels* pixels."""
    with image_io():
        raw = QImageReader(str(path)).size()
    if not raw.isValid():
        return 1 << 16
    pixels = raw.width() * raw.height()
    longest = max(raw.width(), raw.height())
    if pixels <= max_pixels:
        return longest
    return max(1, math.floor(longest * math.sqrt(max_pixels / pixels)))


def decode_pyramid(path: Path, state: TaskState | None = None) -> ImagePyramid:
    """Decode *path* at full resolution plus halvings down to :data:`MIN_LEVEL_SIDE`.

    Safe to call from any thread. Raises :class:`~gui_app.qt.thumbnails.DecodeError`.
    """
    image = decode_image(Path(path), full_decode_side(Path(path)), DEFAULT_MAX_PIXELS)
    levels = [image]
    while max(levels[-1].width(), levels[-1].height()) // 2 >= MIN_LEVEL_SIDE:
        if state is not None and state.should_stop():
            break
        levels.append(halve(levels[-1]))
    return ImagePyramid(tuple(levels))


def _file_id(path: Path) -> tuple[str, int, int] | None:
    """What identifies a file's content for the cache: path, size and mtime."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path), st.st_size, st.st_mtime_ns)


class FullImageLoader(QObject):
    """Decode full-resolution images off the GUI thread; create and use it on the GUI thread.

    Signals
    -------
    full_ready(key, ImagePyramid | None, error)
        The answer to :meth:`request_full` (``error`` is '' when it worked).
    """

    full_ready = Signal(str, object, str)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        cache_bytes: int = CACHE_BYTES,
        cache_items: int = CACHE_ITEMS,
    ) -> None:
        super().__init__(parent)
        self._tasks = TaskRunner(1, self)
        self._cache: OrderedDict[tuple[str, int, int], ImagePyramid] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cache_items = max(1, cache_items)
        self._in_flight: OrderedDict[str, tuple[tuple[str, int, int], TaskState]] = OrderedDict()
        self._closed = False

    def request_full(self, key: str, path: str | Path) -> None:
        """Decode *path* at full resolution and answer with ``full_ready(key, ...)``.

        A cached image is answered at once; a request already queued for *key* is not
        repeated; beyond :data:`MAX_IN_FLIGHT` requests the oldest is dropped unanswered.
        """
        if self._closed:
            return
        path = Path(path)
        file_id = _file_id(path)
        if file_id is None:
            self.full_ready.emit(key, None, self.tr("file not found"))
            return
        cached = self._cache.get(file_id)
        if cached is not None:
            self._cache.move_to_end(file_id)
            self.full_ready.emit(key, cached, "")
            return
        pending = self._in_flight.get(key)
        if pending is not None and pending[0] == file_id:
            return
        self._forget(key)
        while len(self._in_flight) >= MAX_IN_FLIGHT:
            self._forget(next(iter(self._in_flight)))
        state = self._tasks.submit(
            lambda state: decode_pyramid(path, state),
            on_done=lambda result: self._on_done(key, file_id, result),
            on_error=lambda reason: self._on_error(key, file_id, reason),
        )
        self._in_flight[key] = (file_id, state)

    def cached(self, path: str | Path) -> ImagePyramid | None:
        """The cached pyramid of *path* (unchanged on disk), or None."""
        file_id = _file_id(Path(path))
        return None if file_id is None else self._cache.get(file_id)

    def cache_bytes(self) -> int:
        """Bytes held by the cache."""
        return sum(p.nbytes for p in self._cache.values())

    def pending(self) -> list[str]:
        """Keys queued or decoding, oldest first."""
        return list(self._in_flight)

    def clear(self) -> None:
        """Drop queued requests and cached images (e.g. when the folder closes)."""
        for key in list(self._in_flight):
            self._forget(key)
        self._tasks.drop_queued()
        self._cache.clear()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop accepting work and wait for a running decode; True if it ended in time."""
        self._closed = True
        self._in_flight.clear()
        self._cache.clear()
        return self._tasks.shutdown(timeout_ms)

    # ------------------------------------------------------------------ private
    def _forget(self, key: str) -> None:
        entry = self._in_flight.pop(key, None)
        if entry is not None:
            entry[1].cancel()

    def _take(self, key: str, file_id: tuple[str, int, int]) -> bool:
        entry = self._in_flight.get(key)
        if entry is None or entry[0] != file_id:
            return False
        del self._in_flight[key]
        return True

    def _on_done(self, key: str, file_id: tuple[str, int, int], result: object) -> None:
        if not self._take(key, file_id) or not isinstance(result, ImagePyramid):
            return
        self._cache[file_id] = result
        self._cache.move_to_end(file_id)
        total = sum(p.nbytes for p in self._cache.values())
        while len(self._cache) > 1 and (
            len(self._cache) > self._cache_items or total > self._cache_bytes
        ):
            _old, dropped = self._cache.popitem(last=False)
            total -= dropped.nbytes
        self.full_ready.emit(key, result, "")

    def _on_error(self, key: str, file_id: tuple[str, int, int], reason: str) -> None:
        if self._take(key, file_id):
            self.full_ready.emit(key, None, reason or self.tr("unreadable image"))
