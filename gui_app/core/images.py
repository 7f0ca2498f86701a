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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from gui_app.core.image_headers import ImageError, _check_jpeg, _check_png, _Header

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
)
DEFAULT_MAX_PIXELS: int = 100_000_000

_SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"))
_SIGNATURES += ((b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
_ORIENTATION_TAG = 0x0112
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


def _sniff(head: bytes) -> str:
    """Container format from the magic bytes ("" if unknown)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), "")


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


def _orientation(im: Image.Image) -> int:
    if im.format == "TIFF":
        # Both OpenCV (5.0, whatever the flags) and Pillow (>= 11) orient TIFFs while
        # decoding, and Pillow then reports the upright size: nothing left to do.
        return 1
    try:
        # Base-class getexif: PngImageFile.getexif would decode all pixels to find eXIf.
        value = Image.Image.getexif(im).get(_ORIENTATION_TAG, 1)
    except _PIL_ERRORS:  # malformed EXIF must not make the image unusable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _read_header(fp: io.BufferedIOBase | io.BytesIO, kind: str) -> _Header:
    try:
        with _pil_without_bomb_limit(), Image.open(fp) as im:
            return _Header(im.size[0], im.size[1], _orientation(im))
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


# --------------------------------------------------------------------------- fast headers
# Ordinary JPEG/PNG headers are parsed here, without Pillow (25-100 us per image), when their
# structure is one Pillow provably reads to the same size and orientation. Anything unusual
# gives None and Pillow decides, so results and reasons never depend on the path taken.


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 2:  # any byte order
        # (x + 128) // 257 == round(x / 257) exactly (x / 257 is never a tie)
        return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):  # float TIFF: assume 0..1
        return (np.clip(np.nan_to_num(arr), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    raise ImageError(f"unsupported pixel type: {arr.dtype}")


def _composite_on_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    if alpha.min() == 255:
        return color
    a = alpha.astype(np.uint16)[:, :, None]
    out = color.astype(np.uint16) * a + 255 * (255 - a) + 127  # max 65152: fits uint16
    return (out // 255).astype(np.uint8)


def _to_three_channels(arr: np.ndarray) -> np.ndarray:
    """Gray/gray+alpha/colour/colour+alpha -> 3 channels; channel order is preserved."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ImageError(f"unsupported array shape: {arr.shape}")
    channels = arr.shape[2]
    if channels == 2:
        arr = _composite_on_white(arr[:, :, :1], arr[:, :, 1])
        channels = 1
    if channels == 1:
        return np.repeat(arr, 3, axis=2)
    if channels == 3:
        return arr
    if channels == 4:
        return _composite_on_white(arr[:, :, :3], arr[:, :, 3])
    raise ImageError(f"unsupported channel count: {channels}")


# EXIF orientation -> what makes the stored image upright (same as PIL exif_transpose).
_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: cv2.flip(a, 1),  # mirror
    3: lambda a: cv2.flip(a, -1),  # rotate 180
    4: lambda a: cv2.flip(a, 0),  # flip
    5: cv2.transpose,  # transpose
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.transpose(cv2.flip(a, -1)),  # transverse
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def _decode_with_pil(data: bytes) -> np.ndarray:
    """Fallback decoder: first frame, RGB(A)/gray order, raw (EXIF orientation not applied)."""
    try:
        with _pil_without_bomb_limit():
            im = Image.open(io.BytesIO(data))
        with im:
            im.seek(0)
            if im.mode not in ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L"):
                im = im.convert("RGBA")
            return np.asarray(im)
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

    flags = cv2.IMREAD_UNCHANGED  # keeps alpha and 16 bits, ignores EXIF orientation
    if kind == "JPEG":
        reduced = _reduced_jpeg_flags(header, target) if target else None
        flags = reduced or cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)  # no copy; releases the GIL
    except cv2.error:  # raised for some malformed inputs instead of returning None
        arr = None
    is_bgr = arr is not None
    image = _to_three_channels(_to_uint8(arr if is_bgr else _decode_with_pil(data)))
    upright = _UPRIGHT.get(header.orientation)
    return (upright(image) if upright else image), is_bgr


def _reduced_jpeg_flags(header: _Header, target: tuple[int, int]) -> int | None:
    """Largest libjpeg DCT scaling (1/8, 1/4, 1/2) whose output is still >= `target`."""
    width, height = header.upright_size
    for factor in (8, 4, 2):  # libjpeg rounds scaled dimensions up
        if -(-width // factor) >= target[1] and -(-height // factor) >= target[0]:
            flag: int = getattr(cv2, f"IMREAD_REDUCED_COLOR_{factor}")
            return flag | cv2.IMREAD_IGNORE_ORIENTATION
    return None


def load_rgb(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image to an upright ``(H, W, 3)`` uint8 RGB C-contiguous array.

    Gray is replicated, alpha composited on white, 16 bits rounded to 8, CMYK converted,
    EXIF orientation applied, GIF gives its first frame. `max_pixels` is checked from the
    header before decoding. Raises :class:`ImageError` with a specific reason.
    """
    image, is_bgr = _decode(Path(path), max_pixels)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if is_bgr else np.ascontiguousarray(image)


def load_rgb_resized(
    path: Path, size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """:func:`load_rgb`, then resize to ``size == (height, width)``.

    ``INTER_AREA`` when shrinking, ``INTER_LINEAR`` otherwise. Large JPEGs are decoded at
    1/2, 1/4 or 1/8 scale when that still covers `size`. Raises :class:`ImageError`, or
    ``ValueError`` if `size` is not positive.
    """
    height, width = (int(v) for v in size)
    if height <= 0 or width <= 0:
        raise ValueError(f"size must be positive (height, width), got {size!r}")
    image, is_bgr = _decode(Path(path), max_pixels, (height, width))
    src_h, src_w = image.shape[:2]
    if (src_h, src_w) != (height, width):
        shrinking = height <= src_h and width <= src_w
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        image = cv2.resize(image, (width, height), interpolation=interpolation)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if is_bgr else np.ascontiguousarray(image)
