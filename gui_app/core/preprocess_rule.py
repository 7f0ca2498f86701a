"""Loupe's image preprocessing: an image file -> the ``(H, W, 3)`` uint8 RGB array a model sees.

This one file is Loupe's own decoding rule (``gui_app/core/preprocess_rule.py``, used by every
feature extraction) and, copied byte for byte, the ``loupe_preprocess.py`` written next to an
exported classifier, so that another program prepares images exactly as Loupe did. It needs
numpy and OpenCV; Pillow is optional (header and EXIF read by Pillow as in Loupe, and the
decoder of last resort). It imports nothing from Loupe.

Client use::

    import loupe_preprocess
    batch = loupe_preprocess.load_batch(["a.jpg", "b.png"], (224, 224))  # (N, H, W, 3) float32

The rule (:func:`recipe` states it as data):

1. Header: stored width, height and EXIF orientation (1-8, anything else counts as 1; TIFF
   is 1 because the decoders orient it themselves). Without Pillow, JPEG, PNG and WebP
   headers are parsed here (EXIF, and XMP ``tiff:Orientation`` in JPEG and WebP).
2. Decode with ``cv2.imdecode``. JPEG: ``IMREAD_REDUCED_COLOR_s | IMREAD_IGNORE_ORIENTATION``
   for the largest ``s`` in (8, 4, 2) with ``ceil(W / s) >= width`` and ``ceil(H / s) >=
   height`` of the target (``W, H`` the upright size: libjpeg's DCT scaling), else
   ``IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION``. Other formats: ``IMREAD_UNCHANGED``. If
   OpenCV cannot decode the file, Pillow decodes the first frame.
3. 8 bits (16-bit values ``(x + 128) // 257``, float ``0..1`` scaled), 3 channels (gray
   repeated, alpha composited on white: ``(c * a + 255 * (255 - a) + 127) // 255``).
4. EXIF orientation applied with ``cv2.flip`` / ``cv2.transpose`` / ``cv2.rotate``.
5. Resize to ``(height, width)``: ``INTER_AREA`` when neither side grows, else
   ``INTER_LINEAR``; none when the size already matches.
6. BGR -> RGB. The model takes this as float32, 0-255.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

RULE_VERSION = 1
JPEG_SCALES = (8, 4, 2)  # libjpeg DCT scalings OpenCV offers, tried largest first
DEFAULT_MAX_PIXELS = 100_000_000
PIL_MODES = ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L")  # others -> RGBA
ORIENTATION_TAG = 0x0112
_SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"))
_SIGNATURES += ((b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
_REDUCED = {1: "IMREAD_COLOR", 2: "IMREAD_REDUCED_COLOR_2", 4: "IMREAD_REDUCED_COLOR_4"}
_REDUCED[8] = "IMREAD_REDUCED_COLOR_8"
_XMP_HEAD = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_ORIENTATION = rb'tiff:Orientation(="|>)([0-9])'  # what Pillow's getexif() looks for
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_EXIF_INT = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i"}  # TIFF integer types


class PreprocessError(ValueError):
    """An image this rule cannot turn into pixels; ``str(exc)`` says why."""


# --------------------------------------------------------------------------- the rule


def sniff(head: bytes) -> str:
    """Container format from the first 12 bytes: JPEG, PNG, GIF, BMP, TIFF, WEBP or ''."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), "")


def reduced_scale(upright: tuple[int, int], size: tuple[int, int]) -> int:
    """Largest JPEG DCT scale (8, 4, 2) whose output still covers ``size``; 1 if none.

    ``upright`` is the upright ``(width, height)``, ``size`` the target ``(height, width)``;
    libjpeg rounds scaled dimensions up.
    """
    width, height = upright
    for scale in JPEG_SCALES:
        if -(-width // scale) >= size[1] and -(-height // scale) >= size[0]:
            return scale
    return 1


def decode_flags(kind: str, scale: int = 1) -> int:
    """The ``cv2.imdecode`` flags for a file of ``kind`` decoded at 1/``scale``."""
    if kind != "JPEG":
        return int(cv2.IMREAD_UNCHANGED)  # keeps alpha and 16 bits, ignores EXIF orientation
    return int(getattr(cv2, _REDUCED[scale])) | cv2.IMREAD_IGNORE_ORIENTATION


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """8-bit pixels: 16-bit rounded (``(x + 128) // 257``), float assumed 0..1."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 2:  # any byte order
        # (x + 128) // 257 == round(x / 257) exactly (x / 257 is never a tie)
        return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):  # float TIFF: assume 0..1
        return (np.clip(np.nan_to_num(arr), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    raise PreprocessError(f"unsupported pixel type: {arr.dtype}")


def _composite_on_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    if alpha.min() == 255:
        return color
    a = alpha.astype(np.uint16)[:, :, None]
    out = color.astype(np.uint16) * a + 255 * (255 - a) + 127  # max 65152: fits uint16
    return (out // 255).astype(np.uint8)


def to_three_channels(arr: np.ndarray) -> np.ndarray:
    """Gray/gray+alpha/colour/colour+alpha -> 3 channels; channel order is preserved."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise PreprocessError(f"unsupported array shape: {arr.shape}")
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
    raise PreprocessError(f"unsupported channel count: {channels}")


# EXIF orientation -> what makes the stored image upright (same as PIL exif_transpose).
UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: cv2.flip(a, 1),  # mirror
    3: lambda a: cv2.flip(a, -1),  # rotate 180
    4: lambda a: cv2.flip(a, 0),  # flip
    5: cv2.transpose,  # transpose
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.transpose(cv2.flip(a, -1)),  # transverse
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF ``orientation`` (1-8) to a stored image."""
    upright = UPRIGHT.get(orientation)
    return upright(image) if upright else image


def pil_to_array(im: Any) -> np.ndarray:
    """First frame of an open Pillow image as an array (RGB(A)/gray order, not oriented)."""
    im.seek(0)
    if im.mode not in PIL_MODES:
        im = im.convert("RGBA")
    return np.asarray(im)


def pil_orientation(im: Any) -> int:
    """EXIF orientation of an open Pillow image (1 when absent, malformed or a TIFF)."""
    from PIL import Image

    if im.format == "TIFF":
        # Both OpenCV (5.0, whatever the flags) and Pillow (>= 11) orient TIFFs while
        # decoding, and Pillow then reports the upright size: nothing left to do.
        return 1
    try:
        # Base-class getexif: PngImageFile.getexif would decode all pixels to find eXIf.
        value = Image.Image.getexif(im).get(ORIENTATION_TAG, 1)
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, KeyError, TypeError):
        return 1  # malformed EXIF must not make the image unusable
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def decode_upright(
    data: bytes,
    kind: str,
    upright: tuple[int, int],
    orientation: int,
    size: tuple[int, int] | None = None,
    fallback: Callable[[bytes], np.ndarray] | None = None,
) -> tuple[np.ndarray, bool]:
    """Upright uint8 3-channel image and whether it is BGR (OpenCV) or RGB (Pillow).

    ``upright`` is the header's upright ``(width, height)``; ``size`` (height, width) enables
    the reduced JPEG decode; ``fallback`` decodes what OpenCV cannot (default: Pillow).
    """
    flags = decode_flags(kind, reduced_scale(upright, size) if size else 1)
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)  # no copy; releases the GIL
    except cv2.error:  # raised for some malformed inputs instead of returning None
        arr = None
    is_bgr = arr is not None
    if arr is None:
        arr = (fallback or _pil_decode)(data)
    return orient(to_three_channels(to_uint8(arr)), orientation), is_bgr


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to ``size == (height, width)``: INTER_AREA if no side grows, else INTER_LINEAR."""
    height, width = size
    src_h, src_w = image.shape[:2]
    if (src_h, src_w) == (height, width):
        return image
    shrinking = height <= src_h and width <= src_w
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def to_rgb(image: np.ndarray, is_bgr: bool) -> np.ndarray:
    """C-contiguous RGB from a :func:`decode_upright` result."""
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if is_bgr else np.ascontiguousarray(image)


# --------------------------------------------------------------------------- client side


def load_rgb_resized(
    source: str | Path | bytes, size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """An image file (path or bytes) as Loupe's ``(height, width, 3)`` uint8 RGB input.

    Raises :class:`PreprocessError` for an empty, unreadable or too large image.
    """
    height, width = (int(v) for v in size)
    if height <= 0 or width <= 0:
        raise ValueError(f"size must be positive (height, width), got {size!r}")
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if not data:
        raise PreprocessError("empty file (0 bytes)")
    kind = sniff(data[:12])
    stored_w, stored_h, orientation = read_header(data, kind)
    if stored_w * stored_h > max_pixels:
        raise PreprocessError(f"too large: {stored_w}x{stored_h} exceeds {max_pixels} pixels")
    upright = (stored_h, stored_w) if orientation >= 5 else (stored_w, stored_h)
    image, is_bgr = decode_upright(data, kind, upright, orientation, (height, width))
    if image.shape[0] * image.shape[1] > max_pixels:  # header size unknown without Pillow
        raise PreprocessError(f"too large: exceeds {max_pixels} pixels")
    return to_rgb(resize(image, (height, width)), is_bgr)


def load_batch(sources: Iterable[str | Path | bytes], size: tuple[int, int]) -> np.ndarray:
    """:func:`load_rgb_resized` of every source, stacked as float32 ``(N, H, W, 3)`` RGB 0-255."""
    arrays = [load_rgb_resized(s, size) for s in sources]
    if not arrays:
        return np.zeros((0, int(size[0]), int(size[1]), 3), np.float32)
    return np.stack(arrays).astype(np.float32)


def read_header(data: bytes, kind: str) -> tuple[int, int, int]:
    """Stored ``(width, height, orientation)``: by Pillow if installed, else parsed here.

    Without Pillow the size is 0 x 0 for formats other than JPEG and PNG (it only matters
    for the JPEG decode scale), and only the metadata named in the module notes is read.
    """
    try:
        from PIL import Image
    except ImportError:
        return _parse_header(data, kind)
    errors = (OSError, SyntaxError, ValueError, EOFError, struct.error, KeyError, TypeError)
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size[0], im.size[1], pil_orientation(im)
    except (*errors, Image.DecompressionBombError) as exc:
        raise PreprocessError(f"unreadable image header: {exc}") from None


def _pil_decode(data: bytes) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise PreprocessError("OpenCV cannot decode this image (Pillow is not installed)") from None
    try:
        with Image.open(io.BytesIO(data)) as im:
            return pil_to_array(im)
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, KeyError) as exc:
        raise PreprocessError(f"decoder failed: {exc}") from None


def _parse_header(data: bytes, kind: str) -> tuple[int, int, int]:
    width = height = 0
    exif = xmp = b""
    if kind == "JPEG":
        width, height, exif, xmp = _jpeg_segments(data)
    elif kind == "PNG" and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack_from(">II", data, 16)
        exif = _chunks(data, 8, ">I4s", b"IDAT").get(b"eXIf", b"")
    elif kind == "WEBP":
        found = _chunks(data, 12, "<4sI", b"")
        exif, xmp = found.get(b"EXIF", b""), found.get(b"XMP ", b"")
    value = _exif_orientation(exif[6:] if exif.startswith(b"Exif\0\0") else exif)
    if value is None and xmp:  # Pillow falls back to XMP only when EXIF has no orientation
        match = re.search(_XMP_ORIENTATION, xmp)
        value = int(match[2]) if match else None
    return width, height, value if value is not None and 1 <= value <= 8 else 1


def _jpeg_segments(data: bytes) -> tuple[int, int, bytes, bytes]:
    """Size (last frame header) and EXIF / XMP payloads of the segments before the scan."""
    pos, n, width, height, exif, xmp = 2, len(data), 0, 0, b"", b""
    while pos + 4 <= n and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:  # fill, standalone
            pos += 1 if marker == 0xFF else 2
            continue
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        seg = data[pos + 4 : end]
        if marker in _SOF and len(seg) >= 5:
            height, width = struct.unpack_from(">HH", seg, 1)
        elif marker == 0xE1 and seg.startswith(b"Exif\0\0"):
            exif += seg[6:] if exif else seg  # Pillow concatenates EXIF segments
        elif marker == 0xE1 and seg.startswith(_XMP_HEAD):
            xmp = seg[len(_XMP_HEAD) :]
        elif marker == 0xDA:
            break
        pos = end
    return width, height, exif, xmp


def _chunks(data: bytes, pos: int, layout: str, stop: bytes) -> dict[bytes, bytes]:
    """First payload of each PNG (``>I4s``) or RIFF (``<4sI``) chunk, up to ``stop``."""
    found: dict[bytes, bytes] = {}
    while pos + 8 <= len(data):
        a, b = struct.unpack_from(layout, data, pos)
        cid, length = (b, a) if layout == ">I4s" else (a, b)
        if cid == stop:
            break
        found.setdefault(cid, data[pos + 8 : pos + 8 + length])
        pos += 8 + length + (4 if layout == ">I4s" else length % 2)  # PNG CRC, RIFF padding
    return found


def _exif_orientation(tiff: bytes) -> int | None:
    """Orientation of IFD0 of a TIFF-structured EXIF block; None if absent, -1 if unusable."""
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(tiff[:4])
    if order is None or len(tiff) < 8:
        return None
    ifd = struct.unpack_from(order + "I", tiff, 4)[0]
    if ifd + 2 > len(tiff):
        return None
    for i in range(struct.unpack_from(order + "H", tiff, ifd)[0]):
        at = ifd + 2 + 12 * i
        if at + 12 > len(tiff):
            break
        tag, kind, count = struct.unpack_from(order + "HHI", tiff, at)
        if tag == ORIENTATION_TAG:
            fmt = _EXIF_INT.get(kind)
            return struct.unpack_from(order + fmt, tiff, at + 8)[0] if fmt and count == 1 else -1
    return None


def recipe(size: Sequence[int]) -> dict[str, Any]:
    """The rule as data, for the JSON written next to an exported model."""
    height, width = (int(v) for v in size)
    return {
        "version": RULE_VERSION,
        "module": "loupe_preprocess.py: load_batch(paths, (height, width)) does all of this",
        "input_size": {"height": height, "width": width},
        "header": "stored width W, height H and EXIF orientation (tag 0x0112; values outside "
        "1-8 count as 1; XMP tiff:Orientation only when EXIF has none; TIFF: 1, decoders "
        "orient it), as Pillow's Image.getexif() reads them",
        "decode": "cv2.imdecode(bytes, flags). JPEG: IMREAD_REDUCED_COLOR_s | "
        f"IMREAD_IGNORE_ORIENTATION for the largest s in {list(JPEG_SCALES)} with "
        f"ceil(Wu / s) >= {width} and ceil(Hu / s) >= {height} (Wu, Hu: upright size, i.e. "
        "swapped for orientations 5-8), else IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION. "
        "Other formats: IMREAD_UNCHANGED. Files OpenCV cannot decode: Pillow, first frame, "
        f"modes other than {', '.join(PIL_MODES)} converted to RGBA",
        "pixels": "16-bit: (x + 128) // 257; float: clip(x, 0, 1) * 255 + 0.5 truncated; gray "
        "repeated to 3 channels; alpha a composited on white: (c * a + 255 * (255 - a) + 127) "
        "// 255",
        "orientation": "applied after decoding, as PIL.ImageOps.exif_transpose: 2 mirror, "
        "3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 "
        "counter-clockwise",
        "resize": f"cv2.resize to {width}x{height}: INTER_AREA when the decoded image is at "
        f"least {height} high and {width} wide, else INTER_LINEAR; none when already that size",
        "colour": "RGB channel order (OpenCV's BGR converted with COLOR_BGR2RGB)",
        "dtype": "uint8 0-255, given to the model as float32 0-255 (no scaling)",
        "reference": f"pixel-exact with OpenCV {cv2.__version__} (its bundled libjpeg-turbo); "
        "other builds can differ by rounding",
    }
