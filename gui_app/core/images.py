"""Image discovery and robust decoding to uint8 RGB arrays.

Failures raise :class:`ImageError` with a short, specific ``reason``. Files are read whole and
decoded with ``cv2.imdecode`` (non-ASCII paths work everywhere; the GIL is released). Ordinary
JPEG/PNG headers (size, EXIF orientation) are parsed here; Pillow reads the others and is the
fallback decoder (e.g. GIF on OpenCV < 4.11).
"""

from __future__ import annotations

import io
import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from gui_app.core import preprocess_rule as rule
from gui_app.core.image_headers import ImageError, _check_jpeg, _check_png, _Header

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
)
DEFAULT_MAX_PIXELS: int = rule.DEFAULT_MAX_PIXELS
# Errors Pillow raises for malformed headers/metadata (UnidentifiedImageError is an OSError).
_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, KeyError, TypeError)
_PIL_LOCK = threading.Lock()


# --------------------------------------------------------------------------- scanning


def _sorted_entries(path: str) -> list[os.DirEntry[str]] | None:
    """Directory entries sorted by name, or None if the folder cannot be listed."""
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError:  # PermissionError, vanished folder, ...
        return None


def iter_images(root: Path) -> Iterator[str]:
    """Yield relative POSIX paths of image files under `root`, depth-first.

    Entries are visited in name order within each folder (so the output is sorted by path
    components and deterministic). Hidden files/folders (name starting with ``.``, which
    includes ``.loupe``) are skipped. Symlinked folders are followed, but each real folder
    is visited once, so symlink loops terminate. Unreadable sub-folders are skipped.

    Raises
    ------
    OSError
        If `root` itself cannot be listed.
    """
    root_str = os.fspath(root)
    root_st = os.stat(root_str)
    seen = {(root_st.st_dev, root_st.st_ino)}
    with os.scandir(root_str) as it:
        top = sorted(it, key=lambda e: e.name)
    stack: list[tuple[str, Iterator[os.DirEntry[str]]]] = [("", iter(top))]
    while stack:
        prefix, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        name = entry.name
        if name.startswith("."):
            continue
        try:
            if entry.is_dir():
                st = entry.stat()  # follows symlinks: identifies the real folder
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                children = _sorted_entries(entry.path)
                if children is not None:
                    stack.append((f"{prefix}{name}/", iter(children)))
            elif os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS and entry.is_file():
                yield prefix + name
        except OSError:  # broken symlink, permission, race with deletion
            continue


def scan_images(root: Path) -> list[str]:
    """Return ``list(iter_images(root))``."""
    return list(iter_images(root))


# --------------------------------------------------------------------------- headers


_sniff = rule.sniff


@contextmanager
def _pil_without_bomb_limit() -> Iterator[None]:
    """Disable Pillow's bomb check (we apply `max_pixels`); it is a global, hence the lock."""
    with _PIL_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _read_header(fp: io.BufferedIOBase | io.BytesIO, kind: str) -> _Header:
    try:
        with _pil_without_bomb_limit(), Image.open(fp) as im:
            return _Header(im.size[0], im.size[1], rule.pil_orientation(im))
    except UnidentifiedImageError:
        if kind:  # known magic bytes, but Pillow rejected the header (e.g. bad IHDR CRC)
            raise ImageError(f"corrupt {kind} header") from None
        raise ImageError("not an image (unrecognised file header)") from None
    except _PIL_ERRORS as e:
        raise ImageError(f"corrupt {kind or 'image'} header: {e}") from None


def _check_extension(path: Path) -> None:
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise ImageError(f"unsupported file type: {suffix or '(no extension)'}")


def _read_error(e: OSError) -> ImageError:
    return ImageError(f"cannot read file: {e.strerror or e}")


def read_image_size(path: Path) -> tuple[int, int]:
    """Upright ``(width, height)`` from the header only, without decoding pixels.

    EXIF orientation is taken into account (Orientation=6 reports the portrait size), so the
    result matches ``load_rgb(path).shape[1::-1]``. Raises :class:`ImageError`.
    """
    _check_extension(path)
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                raise ImageError("empty file (0 bytes)")
            kind = _sniff(f.read(12))
            f.seek(0)
            return _read_header(f, kind).upright_size
    except OSError as e:
        raise _read_error(e) from None


# --------------------------------------------------------------------------- decoding
# The pixel rule (decode flags, 8 bits, 3 channels, orientation, resize, colour order) lives in
# preprocess_rule.py, which exported models ship verbatim; here: files, headers, limits, errors.


def _decode_with_pil(data: bytes) -> np.ndarray:
    """Fallback decoder: first frame, RGB(A)/gray order, raw (EXIF orientation not applied)."""
    try:
        with _pil_without_bomb_limit():
            im = Image.open(io.BytesIO(data))
        with im:
            return rule.pil_to_array(im)
    except _PIL_ERRORS as e:
        raise ImageError(f"decoder failed: {e}") from None


def _mpx(pixels: int) -> str:
    mpx = pixels / 1e6
    return f"{mpx:.1f} Mpx" if mpx >= 0.1 else f"{mpx:.2g} Mpx"


def _decode(
    path: Path, max_pixels: int, target: tuple[int, int] | None = None
) -> tuple[np.ndarray, bool]:
    """Upright uint8 3-channel image of `path` and whether it is BGR (OpenCV) or RGB (Pillow).

    `target` (h, w) enables JPEG reduced decoding. Callers resize (channels are independent)
    before converting to RGB, which is cheaper on the smaller image.
    """
    _check_extension(path)
    try:
        with open(path, "rb", buffering=0) as f:
            data = f.read()
    except OSError as e:
        raise _read_error(e) from None
    if not data:
        raise ImageError("empty file (0 bytes)")
    kind = _sniff(data[:12])
    header = _check_jpeg(data) if kind == "JPEG" else _check_png(data) if kind == "PNG" else None
    if header is None:
        header = _read_header(io.BytesIO(data), kind)
    pixels = header.width * header.height
    if pixels > max_pixels:
        raise ImageError(
            f"too large: {header.width}x{header.height} = {_mpx(pixels)} "
            f"exceeds limit of {_mpx(max_pixels)}"
        )

    try:
        return rule.decode_upright(
            data, kind, header.upright_size, header.orientation, target, _decode_with_pil
        )
    except rule.PreprocessError as e:
        raise ImageError(str(e)) from None


def load_rgb(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image to an upright ``(H, W, 3)`` uint8 RGB C-contiguous array.

    Gray is replicated, alpha composited on white, 16 bits rounded to 8, CMYK converted,
    EXIF orientation applied, GIF gives its first frame. `max_pixels` is checked from the
    header before decoding. Raises :class:`ImageError` with a specific reason.
    """
    image, is_bgr = _decode(Path(path), max_pixels)
    return rule.to_rgb(image, is_bgr)


def load_rgb_resized(
    path: Path, size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """:func:`load_rgb`, then resize to ``size == (height, width)``.

    ``INTER_AREA`` when shrinking, ``INTER_LINEAR`` otherwise. Large JPEGs are decoded at
    1/2, 1/4 or 1/8 scale when that still covers `size` (the rule of
    :mod:`~gui_app.core.preprocess_rule`, shipped with exported models). Raises
    :class:`ImageError`, or ``ValueError`` if `size` is not positive.
    """
    height, width = (int(v) for v in size)
    if height <= 0 or width <= 0:
        raise ValueError(f"size must be positive (height, width), got {size!r}")
    image, is_bgr = _decode(Path(path), max_pixels, (height, width))
    return rule.to_rgb(rule.resize(image, (height, width)), is_bgr)
