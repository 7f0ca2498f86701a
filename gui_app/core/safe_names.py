"""File-system-safe names for exported class folders and files, on every platform.

No separators or ``:*?"<>|``, no control or format characters (bidi overrides included), no
leading dots, no trailing dots or spaces, no reserved Windows device names, a byte budget in
UTF-8, and distinct names ignoring letter case.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

MAX_FOLDER_BYTES = 100
MAX_FILE_BYTES = 200
_FORBIDDEN = re.compile(r'[/\\:*?"<>|]')
# Windows refuses these as a name or as the part before the first dot, in any letter case.
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{dev}{n}" for dev in ("COM", "LPT") for n in (*"0123456789", "¹", "²", "³")]
)
# Control, format (bidi overrides, zero-width), separators, surrogates, private use, unassigned.
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _truncate_utf8(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def _is_reserved(name: str) -> bool:
    return name.split(".", 1)[0].rstrip(" ").upper() in _RESERVED


def _clean(name: str) -> str:
    """Replace each run of characters no file system (or terminal) should see by one ``_``."""
    text = unicodedata.normalize("NFC", str(name))
    text = "".join("\0" if unicodedata.category(c) in _BAD_CATEGORIES else c for c in text)
    return re.sub("\0+", "_", _FORBIDDEN.sub("\0", text))


def safe_folder_name(name: str, max_bytes: int = MAX_FOLDER_BYTES) -> str:
    """A file-system-safe, single-component version of a class name (never empty).

    No separators or ``:*?"<>|``, no control/format characters (bidi overrides included), no
    leading dots (so never ``.`` or ``..``), no trailing dots or spaces, no reserved Windows device
    name (``CON``, ``nul.txt``, ``COM1``... get a ``_`` prefix), at most ``max_bytes`` UTF-8
    bytes. Letters of every script are kept.
    """
    if max_bytes < 8:
        raise ValueError(f"max_bytes must be at least 8, got {max_bytes}")
    text = _clean(name).strip(" ").lstrip(".").rstrip(". ")
    if _is_reserved(text):
        text = "_" + text
    text = _truncate_utf8(text, max_bytes).rstrip(". ")
    return text or "_"


def safe_file_name(name: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """:func:`safe_folder_name` for a file name: an extension of up to 16 bytes is kept."""
    stem, dot, ext = _clean(name).rpartition(".")
    if not dot or not stem or len(ext.encode("utf-8")) > 16 or not ext.strip(". "):
        return safe_folder_name(name, max_bytes)
    ext = "." + ext.rstrip(". ")
    return safe_folder_name(stem, max_bytes - len(ext.encode("utf-8"))) + ext


def _numbered(name: str, n: int, max_bytes: int, keep_ext: bool) -> str:
    """``name`` with `` (n)`` before its extension, shortened to fit ``max_bytes``."""
    stem, ext = (name, "")
    if keep_ext and "." in name.lstrip("."):
        stem, ext = name[: name.rindex(".")], name[name.rindex(".") :]
    tail = f" ({n}){ext}"
    return _truncate_utf8(stem, max_bytes - len(tail.encode("utf-8"))).rstrip(". ") + tail


def unique_names(
    names: Sequence[str], max_bytes: int, *, keep_ext: bool = False, taken: Iterable[str] = ()
) -> list[str]:
    """Make already-safe names distinct, ignoring letter case: ``a``, ``a (2)``, ``a (3)``..."""
    used = {t.casefold() for t in taken}
    out = []
    for name in names:
        candidate, n = name, 1
        while candidate.casefold() in used:
            n += 1
            candidate = _numbered(name, n, max_bytes, keep_ext)
        used.add(candidate.casefold())
        out.append(candidate)
    return out


def class_folder_names(classes: Iterable[str]) -> dict[str, str]:
    """``{class: folder name}``, distinct (case-insensitively) and deterministic.

    Classes whose name is already safe claim it first; the rest follow in name order, so
    ``a_b`` keeps ``a_b`` and ``a/b`` becomes ``a_b (2)`` whatever the input order.
    """
    safe = {c: safe_folder_name(c) for c in set(classes)}
    order = sorted(safe, key=lambda c: (safe[c] != c, c))
    return dict(zip(order, unique_names([safe[c] for c in order], MAX_FOLDER_BYTES), strict=True))
