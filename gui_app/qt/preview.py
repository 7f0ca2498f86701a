"""Large previews decoded as background tasks; only the newest request is delivered.

Each preview QImage carries where it came from (:func:`preview_source`): its key, its file and
the size of the whole image, so the zoomable view knows when the 2048 px preview is no longer
sharp enough and which full-resolution image to ask for (:meth:`PreviewLoader.request_full`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Signal
from PySide6.QtGui import QImage, QImageIOHandler, QImageReader

from gui_app.qt.full_image import FullImageLoader
from gui_app.qt.i18n import image_io
from gui_app.qt.tasks import TaskRunner

PREVIEW_MAX_SIDE = 2048
_KEY, _PATH, _SIZE = "loupe-key", "loupe-path", "loupe-full-size"


@dataclass(frozen=True)
class PreviewSource:
    """Where a preview came from: request key, file and full-resolution size (EXIF-rotated)."""

    key: str
    path: str
    full_size: QSize


def oriented_size(path: Path) -> QSize | None:
    """Size of the image in *path* as shown (after EXIF rotation), from its header only."""
    with image_io():
        reader = QImageReader(str(path))
        size = reader.size()
        rotated = reader.transformation() & QImageIOHandler.Transformation.TransformationRotate90
    if not size.isValid() or size.isEmpty():
        return None
    return size.transposed() if rotated else size


def tag_preview(image: QImage, key: str, path: Path, full_size: QSize | None) -> QImage:
    """Record on *image* the key, file and full size it is a preview of (returns *image*)."""
    size = full_size if full_size is not None and full_size.isValid() else image.size()
    # A header whose orientation disagrees with the decoded image: trust the pixels.
    if (size.width() > size.height()) != (image.width() > image.height()):
        size = size.transposed()
    if size.width() < image.width() or size.height() < image.height():
        size = image.size()
    image.setText(_KEY, key)
    image.setText(_PATH, str(path))
    image.setText(_SIZE, f"{size.width()}x{size.height()}")
    return image


def preview_source(image: QImage | None) -> PreviewSource | None:
    """What :func:`tag_preview` recorded on *image*, or None for an untagged image."""
    if image is None or image.isNull() or not image.text(_KEY):
        return None
    try:
        width, height = (int(v) for v in image.text(_SIZE).split("x"))
    except ValueError:
        width, height = image.width(), image.height()
    return PreviewSource(image.text(_KEY), image.text(_PATH), QSize(width, height))


def load_tagged_preview(key: str, path: Path, max_side: int) -> tuple[QImage | None, str | None]:
    """Decode a preview of *path* (any thread) and tag it with its source."""
    from gui_app.qt.thumbnails import load_preview

    image, error = load_preview(path, max_side)
    if image is not None:
        tag_preview(image, key, path, oriented_size(path))
    return image, error


class PreviewLoader(QObject):
    """Decode previews off the GUI thread.

    Signals
    -------
    ready(key, QImage | None, error)
        The current image's preview (:meth:`request`).
    reference_ready(key, QImage | None, error)
        The side-by-side reference's preview (:meth:`request_reference`).
    full_ready(key, ImagePyramid | None, error)
        A full-resolution image (:meth:`request_full`), decoded on its own thread.
    """

    ready = Signal(str, object, str)
    reference_ready = Signal(str, object, str)
    full_ready = Signal(str, object, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks = TaskRunner(1, self)
        self.full = FullImageLoader(self)
        self.full.full_ready.connect(self.full_ready)

    def request(self, key: str, path: Path, max_side: int = PREVIEW_MAX_SIDE) -> None:
        """Decode ``path``; an older request still waiting is dropped."""
        self._submit(key, Path(path), max_side, "preview", self.ready)

    def request_reference(self, key: str, path: Path, max_side: int = PREVIEW_MAX_SIDE) -> None:
        """Decode the reference image shown side by side; it never cancels :meth:`request`."""
        self._submit(key, Path(path), max_side, "reference", self.reference_ready)

    def request_full(self, key: str, path: str | Path) -> None:
        """Decode ``path`` at full resolution (cached); the answer comes as ``full_ready``."""
        self.full.request_full(key, path)

    def _submit(self, key: str, path: Path, max_side: int, group: str, signal) -> None:
        # When both wait, the current image's preview is decoded before the reference.
        self._tasks.submit(
            lambda _state: load_tagged_preview(key, path, max_side),
            on_done=lambda result: signal.emit(key, result[0], result[1] or ""),
            group=group,
            priority=1 if group == "preview" else 0,
        )

    def shutdown(self) -> None:
        self.full.shutdown()
        self._tasks.shutdown()
