"""Repair of an HDF5 feature cache left behind by a killed writer (what ``h5clear -s`` does).

Used by :class:`gui_app.core.store.FeatureStore` when HDF5 refuses a file whose
"open for write" flag a killed process left set.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import h5py

_STR = h5py.string_dtype("utf-8")
_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)


class RepairError(Exception):
    """The file cannot be repaired in place; the message says why (the store moves it aside)."""


def repair_interrupted(path: Path, kwargs: dict[str, Any]) -> None:
    """Make a file left behind by a killed writer safe to open and append to again.

    Clears the superblock's write flag (what ``h5clear -s`` does), then drops uncommitted
    rows and copies the committed strings of every table into fresh datasets: the old
    chunks may still reference heap objects that never reached the disk, and HDF5 fails
    ("bad heap index") when it later overwrites such an element.
    """
    if not clear_write_flag(path):
        raise RepairError("left open by a killed writer and the write flag cannot be cleared")
    try:
        with h5py.File(path, "r+", **kwargs) as f:
            for group in f.values():
                if isinstance(group, h5py.Group) and "failures" in group:
                    _rebuild_strings(group, ("paths",))
                    _rebuild_strings(group["failures"], ("paths", "reasons"))
    except _H5_ERRORS as exc:
        raise RepairError(f"cannot repair after an interrupted write: {exc}") from None


def _rebuild_strings(table: Any, names: tuple[str, ...]) -> None:
    n = int(table.attrs["committed"])
    for ds in table.values():
        if isinstance(ds, h5py.Dataset) and ds.shape[0] > n:
            ds.resize(n, axis=0)
    for name in names:
        old, tmp = table[name], f"{name}_rebuilt"
        if tmp in table:  # left by a repair that was itself interrupted
            del table[tmp]
        new = table.create_dataset(tmp, (n,), _STR, maxshape=(None,), chunks=old.chunks)
        if n:
            new[:] = old[:n]
        del table[name]
        table.move(tmp, name)
    table.file.flush()


def _lookup3(data: bytes) -> int:
    """Bob Jenkins' lookup3 hashlittle, the checksum HDF5 uses for superblocks v2/v3."""
    m = 0xFFFFFFFF

    def rot(x: int, k: int) -> int:
        return ((x << k) | (x >> (32 - k))) & m

    a = b = c = (0xDEADBEEF + len(data)) & m
    if not data:
        return c
    words = struct.unpack(f"<{(len(data) + 11) // 12 * 3}I", data + b"\0" * (-len(data) % 12))
    last = (len(data) - 1) // 12  # full blocks that get mixed; the last one goes to final
    for i in range(0, 3 * last, 3):
        a, b, c = (a + words[i]) & m, (b + words[i + 1]) & m, (c + words[i + 2]) & m
        for k1, k2, k3 in ((4, 6, 8), (16, 19, 4)):  # mix()
            a, c = ((a - c) & m) ^ rot(c, k1), (c + b) & m
            b, a = ((b - a) & m) ^ rot(a, k2), (a + c) & m
            c, b = ((c - b) & m) ^ rot(b, k3), (b + a) & m
    i = 3 * last
    a, b, c = (a + words[i]) & m, (b + words[i + 1]) & m, (c + words[i + 2]) & m
    c = ((c ^ b) - rot(b, 14)) & m
    a = ((a ^ c) - rot(c, 11)) & m
    b = ((b ^ a) - rot(a, 25)) & m
    c = ((c ^ b) - rot(b, 16)) & m
    a = ((a ^ c) - rot(c, 4)) & m
    b = ((b ^ a) - rot(a, 14)) & m
    return ((c ^ b) - rot(b, 24)) & m


def clear_write_flag(path: Path) -> bool:
    """Clear the 'open for write' flag a killed writer leaves in a v3 superblock (h5clear).

    Only patches a superblock at offset 0 whose stored checksum we reproduce; returns
    whether the flag was cleared.
    """
    try:
        with open(path, "r+b") as fh:
            sb = bytearray(fh.read(48))
            if len(sb) < 48 or sb[:10] != b"\x89HDF\r\n\x1a\n\x03\x08":
                return False
            if struct.unpack("<I", sb[44:48])[0] != _lookup3(bytes(sb[:44])):
                return False
            sb[11] = 0
            sb[44:48] = struct.pack("<I", _lookup3(bytes(sb[:44])))
            fh.seek(0)
            fh.write(sb)
        return True
    except OSError:
        return False
