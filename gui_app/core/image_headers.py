"""Fast, strict parsers of ordinary JPEG and PNG headers (size, EXIF orientation, truncation).

They answer only for headers Pillow is known to read the same way and return None otherwise,
so :mod:`gui_app.core.images` falls back to Pillow for anything unusual.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from gui_app.core.errors import LoupeError

__all__ = ["ImageError"]


class ImageError(LoupeError):
    """An image cannot be used; ``reason`` is short and specific (``"empty file (0 bytes)"``)."""


@dataclass(frozen=True)
class _Header:
    width: int  # as stored, before EXIF orientation
    height: int
    orientation: int  # EXIF orientation 1..8 (1 = upright)

    @property
    def upright_size(self) -> tuple[int, int]:
        if self.orientation >= 5:  # 5..8 swap the axes
            return self.height, self.width
        return self.width, self.height


_TIFF_UNIT = b"\0\1\1\2\4\x08\1\1\2\4\x08\4\x08\4"  # bytes per value of TIFF types 1..13
_EXIF_TAGS = {0x0112: (3, 1), 0x0128: (3, 1), 0x011A: (5, 1)}  # (type, count) Pillow reads
# APPn payloads Pillow parses -> shortest it accepts (MPF makes an MPO, Photoshop blocks are
# parsed loosely: 65536 means always ask Pillow).
_APP_MIN = ((b"JFIF", 7), (b"Adobe", 7), (b"ICC_PROFILE\0", 14), (b"MPF\0", 65536))
_APP_MIN += ((b"Photoshop 3.0\0", 65536),)
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# PNG chunks Pillow reads before IDAT without effect on size/orientation -> shortest accepted.
_PNG_PLAIN = {b"PLTE": 0, b"tRNS": 0, b"gAMA": 4, b"cHRM": 32, b"sRGB": 1, b"pHYs": 9}
_PNG_PLAIN |= {b"bKGD": 0, b"sBIT": 0, b"tIME": 0}


def _exif_orientation(tiff: bytes) -> int | None:
    """Orientation tag (0 if absent) of a well-formed EXIF (TIFF) block, None if unsure."""
    size = len(tiff)
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(tiff[:4]) if size >= 8 else None
    if order is None:
        return None
    ifd = struct.unpack_from(order + "I", tiff, 4)[0]
    count = struct.unpack_from(order + "H", tiff, ifd)[0] if ifd + 2 <= size else size
    if ifd + 6 + 12 * count > size:
        return None
    found: dict[int, tuple[tuple[int, int], int]] = {}
    total, entries = 0, tiff[ifd + 2 : ifd + 2 + 12 * count]
    for tag, typ, n, value in struct.iter_unpack(order + "HHI4s", entries):
        if not 1 <= typ <= 13 or tag in found:
            return None
        nbytes = n * _TIFF_UNIT[typ]
        if nbytes > 4:  # out-of-line value: Pillow stops reading the IFD if it is cut short
            total += nbytes
            if total > size or struct.unpack(order + "I", value)[0] + nbytes > size:
                return None
        if tag in _EXIF_TAGS:
            found[tag] = (typ, n), struct.unpack(order + "H", value[:2])[0]
    if any(kind != _EXIF_TAGS[tag] for tag, (kind, _) in found.items()):
        return None
    return found[0x0112][1] if 0x0112 in found else 0


def _check_jpeg(data: bytes) -> _Header | None:
    """Raise if there is no EOI marker after the first top-level SOS; the header or None.

    An EXIF thumbnail's EOI does not count; data appended after the EOI is accepted.
    """
    pos, n, plain, size, exif, xmp = 2, len(data), True, (0, 0), [], False
    while True:
        if pos + 4 > n:
            raise ImageError("truncated JPEG (ends before image data)")
        if data[pos] != 0xFF:
            return None  # malformed marker structure: let the decoder report it
        marker = data[pos + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:  # fill, standalone
            pos, plain = pos + (1 if marker == 0xFF else 2), False
            continue
        start, end = pos + 4, pos + 2 + ((data[pos + 2] << 8) | data[pos + 3])
        seg = data[start:end] if plain and start <= end <= n else None
        if seg is None:
            plain = False
        elif marker in (0xC0, 0xC1, 0xC2):  # frame header: baseline, extended, progressive
            plain = size == (0, 0) and len(seg) >= 6 and len(seg) % 3 == 0
            plain = plain and seg[0] == 8 and seg[5] in (1, 3, 4)
            size = ((seg[3] << 8) | seg[4], (seg[1] << 8) | seg[2]) if plain else size
        elif marker == 0xDB:  # Pillow checks the quantization tables' lengths
            i = 0
            while i < len(seg):
                i += 65 if seg[i] < 16 else 129
            plain = i == len(seg)
        elif marker == 0xE1:
            exif += [seg[6:]] if seg.startswith(b"Exif\0\0") else []
            xmp = xmp or seg.startswith(b"http://ns.adobe.com/xap/1.0/\0")
        elif 0xE0 <= marker <= 0xEF:
            plain = all(len(seg) >= least for head, least in _APP_MIN if seg.startswith(head))
        else:
            plain = marker in (0xC4, 0xDA, 0xDD, 0xFE)  # DHT, SOS, DRI, COM
        if marker == 0xDA:  # start of scan
            break
        pos = end
    if data.rfind(b"\xff\xd9", pos) < 0:  # from the end: normally found at once
        raise ImageError("truncated JPEG (missing end-of-image marker)")
    orientation = _exif_orientation(exif[0]) if len(exif) == 1 else None if exif else 0
    if not plain or not all(size) or orientation is None or (xmp and not orientation):
        return None  # (without an EXIF orientation, Pillow may read one from XMP)
    return _Header(size[0], size[1], orientation if 1 <= orientation <= 8 else 1)


def _check_png(data: bytes) -> _Header | None:
    """Raise if the PNG has no IEND chunk; the header or None."""
    # IEND is a zero-length chunk; eight such bytes cannot plausibly occur in IDAT by chance.
    if data.rfind(b"\x00\x00\x00\x00IEND") < 0:
        raise ImageError("truncated PNG (missing IEND chunk)")
    if data[12:16] != b"IHDR" or len(data) < 33:
        return None
    width, height, depth, colour, _, filtering = struct.unpack_from(">IIBBBB", data, 16)
    if depth not in _PNG_DEPTHS.get(colour, ()) or filtering or not width or not height:
        return None
    pos, n, view = 8, len(data), memoryview(data)
    while pos + 8 <= n:
        length, cid = struct.unpack_from(">I4s", data, pos)
        if cid == b"IDAT":
            return _Header(width, height, 1)
        end = pos + 8 + length
        least = 13 if pos == 8 else 6 if cid == b"tRNS" and colour != 3 else _PNG_PLAIN.get(cid, n)
        if length < least or end + 4 > n:
            return None
        if zlib.crc32(view[pos + 4 : end]) != int.from_bytes(view[end : end + 4]):
            return None
        pos = end + 4
    return None


# --------------------------------------------------------------------------- decoding
