"""Thumbnail and preview decoding off the GUI thread (QtCore/QtGui only, no widgets).

Decoding uses :class:`QImageReader` with EXIF auto-rotation and scaled decoding (fast for JPEG);
when Qt cannot read a file, :func:`gui_app.core.images.load_rgb` (OpenCV/Pillow) is tried.
Results travel to the GUI thread as ``QImage`` through queued signals; ``QPixmap`` objects are
made only on the GUI thread, lazily, in :meth:`ThumbnailLoader.pixmap`.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QObject, QSize, Qt, Signal
from PySide6.QtGui import QImage, QImageReader, QPixmap

from gui_app.core.errors import LoupeError
from gui_app.qt.i18n import image_io
from gui_app.qt.tasks import TaskRunner

#: Images with more pixels than this are not decoded at all (decompression bombs, scans).
DEFAULT_MAX_PIXELS = 100_000_000
TOO_LARGE = QT_TRANSLATE_NOOP("ThumbnailLoader", "too large to preview")


class DecodeError(LoupeError):
    """An image could not be decoded; ``str(exc)`` is a human-readable reason."""


def _fit(size: QSize, box: int) -> QSize:
    """*size* shrunk to fit a *box* x *box* square (never enlarged, never below 1 px)."""
    if size.width() <= box and size.height() <= box:
        return QSize(size)
    fitted = size.scaled(box, box, Qt.AspectRatioMode.KeepAspectRatio)
    return QSize(max(1, fitted.width()), max(1, fitted.height()))


def _display_format(image: QImage) -> QImage:
    """Convert to the format QPixmap.fromImage handles without another conversion."""
    fmt = (
        QImage.Format.Format_ARGB32_Premultiplied
        if image.hasAlphaChannel()
        else QImage.Format.Format_RGB32
    )
    return image if image.format() == fmt else image.convertToFormat(fmt)


def _fallback(path: Path, max_pixels: int, qt_reason: str) -> QImage:
    """Decode with the core loader (OpenCV/Pillow); raises DecodeError."""
    try:
        from gui_app.core.images import ImageError, load_rgb
    except ImportError:
        raise DecodeError(qt_reason) from None
    try:
        array = load_rgb(path, max_pixels)
    except ImageError as exc:
        raise DecodeError(str(exc) or qt_reason) from exc
    except (OSError, ValueError, MemoryError) as exc:
        raise DecodeError(f"{qt_reason} ({exc})") from exc
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype.name != "uint8":
        raise DecodeError(qt_reason)
    height, width = int(array.shape[0]), int(array.shape[1])
    if height == 0 or width == 0:
        raise DecodeError(ThumbnailLoader.tr("empty image"))
    if not array.flags["C_CONTIGUOUS"]:
        array = array.copy()
    view = QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return view.copy()  # detach from the numpy buffer before it goes away


def decode_image(path: Path, max_side: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> QImage:
    """Decode *path* to a QImage fitting a *max_side* square; safe to call from any thread.

    Raises
    ------
    DecodeError
        With a reason such as ``'too large to preview'`` or Qt's/OpenCV's message.
    """
    with image_io():
        return _decode_image(path, max_side, max_pixels)


def _decode_image(path: Path, max_side: int, max_pixels: int) -> QImage:
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    reader.setDecideFormatFromContent(True)
    raw = reader.size()
    if raw.isValid():
        if raw.width() * raw.height() > max_pixels:
            raise DecodeError(QCoreApplication.translate("ThumbnailLoader", TOO_LARGE))
        # Scaled size is in stored (pre-EXIF-rotation) coordinates; the box is square.
        scaled = _fit(raw, max_side)
        if scaled != raw:
            reader.setScaledSize(scaled)
    image = reader.read()
    if image.isNull():
        if not path.is_file():
            raise DecodeError(ThumbnailLoader.tr("file not found"))
        reason = reader.errorString() or ThumbnailLoader.tr("unreadable image")
        image = _fallback(path, max_pixels, reason)
    if image.width() > max_side or image.height() > max_side:
        image = image.scaled(
            _fit(image.size(), max_side),
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    return _display_format(image)


def load_preview(
    path: Path, max_side: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[QImage | None, str | None]:
    """Synchronously decode a preview; returns ``(image, None)`` or ``(None, reason)``."""
    try:
        return decode_image(Path(path), max_side, max_pixels), None
    except DecodeError as exc:
        return None, str(exc)


def _decode_task(path: Path, size: int, max_pixels: int, generation: int, current) -> QImage:
    """The work of one thumbnail request (run by the task pool; checks staleness first)."""
    if generation != current():
        raise _Stale
    return decode_image(path, size, max_pixels)


class _Stale(LoupeError):
    """A request of an older generation reached the pool: skipped without decoding."""


class ThumbnailLoader(QObject):
    """Decode thumbnails on a private thread pool; cache them as QPixmaps (LRU).

    Create and use it on the GUI thread. Keys are opaque strings (e.g. relative paths); a new
    *generation* (e.g. another folder) drops queued work, late results and, by default, the
    cache of the old one. Failures are remembered, so repainting never re-decodes a bad file.

    Signals
    -------
    thumbnail_ready(key, generation, image)
        Decoded; :meth:`pixmap` now returns it.
    thumbnail_failed(key, generation, reason)
        Not decodable; :meth:`failure` now returns the reason.
    """

    thumbnail_ready = Signal(str, int, QImage)
    thumbnail_failed = Signal(str, int, str)

    def __init__(
        self,
        size: int = 128,
        cache_items: int = 2000,
        parent: QObject | None = None,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_threads: int = 2,
    ) -> None:
        super().__init__(parent)
        if size < 1 or cache_items < 1:
            raise ValueError("size and cache_items must be positive")
        self._size = size
        self._cache_items = cache_items
        self._max_pixels = max_pixels
        self._generation = 0
        self._closed = False
        self._cache: OrderedDict[str, QImage | QPixmap] = OrderedDict()
        self._failed: OrderedDict[str, str] = OrderedDict()
        self._in_flight: dict[str, int] = {}
        self._tasks = TaskRunner(max_threads, self)

    # ------------------------------------------------------------ properties
    def thumbnail_size(self) -> int:
        """Longest side of a thumbnail, in device pixels."""
        return self._size

    def generation(self) -> int:
        """The current generation; results of other generations are dropped."""
        return self._generation

    def pending_count(self) -> int:
        """Requests queued or decoding for the current generation."""
        return len(self._in_flight)

    def is_pending(self, key: str) -> bool:
        """True while *key* is queued or decoding."""
        return key in self._in_flight

    def cached_count(self) -> int:
        """Number of thumbnails held in the LRU cache."""
        return len(self._cache)

    def cached_keys(self) -> list[str]:
        """Cached keys, least recently used first."""
        return list(self._cache)

    def failure(self, key: str) -> str | None:
        """Reason *key* could not be decoded, if it failed."""
        return self._failed.get(key)

    # -------------------------------------------------------------- requests
    def request(self, key: str, path: Path, generation: int, priority: int = 0) -> None:
        """Queue decoding of *path* unless cached, failed or already in flight.

        A *generation* older than the current one is ignored; a newer one becomes current
        (as with :meth:`set_generation`).
        Higher *priority* runs first among queued requests.
        """
        if self._closed or generation < self._generation:
            return
        if generation > self._generation:
            self.set_generation(generation)
        if key in self._cache or key in self._failed or key in self._in_flight:
            return
        self._in_flight[key] = generation
        self._tasks.submit(
            lambda _state: _decode_task(
                Path(path), self._size, self._max_pixels, generation, self.generation
            ),
            on_done=lambda image: self._on_ready(key, generation, image),
            on_error=lambda reason: self._on_failed(key, generation, reason),
            priority=priority,
        )

    def set_generation(self, generation: int, *, keep_cache: bool = False) -> None:
        """Make *generation* current and drop all queued work of the previous one.

        Cached thumbnails and failures are dropped too (keys such as relative paths may now
        name other files) unless *keep_cache* is true.
        """
        if generation == self._generation:
            return
        self._generation = generation
        self.cancel_pending()
        if not keep_cache:
            self._cache.clear()
            self._failed.clear()

    def cancel_pending(self) -> None:
        """Drop requests that have not started decoding (running ones finish, unheard)."""
        self._tasks.drop_queued()
        self._in_flight.clear()

    def invalidate(self, key: str) -> None:
        """Forget *key* (e.g. the file changed on disk) so the next request decodes again."""
        self._cache.pop(key, None)
        self._failed.pop(key, None)

    def clear(self) -> None:
        """Drop queued work, cached thumbnails and remembered failures."""
        self.cancel_pending()
        self._cache.clear()
        self._failed.clear()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop accepting work, drop queued jobs and wait for running ones; True if all ended."""
        self._closed = True
        self._tasks.drop_queued()
        self._in_flight.clear()
        return self._tasks.shutdown(timeout_ms)

    # ----------------------------------------------------------------- cache
    def pixmap(self, key: str) -> QPixmap | None:
        """Cached thumbnail as a QPixmap (GUI thread only), or None if not (yet) decoded."""
        entry = self._cache.get(key)
        if entry is None:
            return None
        self._cache.move_to_end(key)
        if isinstance(entry, QImage):
            entry = QPixmap.fromImage(entry)
            self._cache[key] = entry
        return entry

    def _remember(self, store: OrderedDict, key: str, value: object) -> None:
        store[key] = value
        store.move_to_end(key)
        while len(store) > self._cache_items:
            store.popitem(last=False)

    # ------------------------------------------------------- worker results
    def _accept(self, key: str, generation: int) -> bool:
        if self._closed or generation != self._generation:
            return False
        if self._in_flight.get(key) == generation:
            del self._in_flight[key]
        return True

    def _on_ready(self, key: str, generation: int, image: QImage) -> None:
        if not self._accept(key, generation):
            return
        self._failed.pop(key, None)
        self._remember(self._cache, key, image)
        self.thumbnail_ready.emit(key, generation, image)

    def _on_failed(self, key: str, generation: int, reason: str) -> None:
        if not self._accept(key, generation):
            return
        self._remember(self._failed, key, reason)
        self.thumbnail_failed.emit(key, generation, reason)
