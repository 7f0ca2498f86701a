"""HDF5 cache of per-image feature vectors: over 400 lines as one handle serves open, read, write.

Vectors are keyed by (relative path, size, mtime).

The cache is never the source of truth: a file that fails validation is moved aside and
rebuilt. Writes are two-phase (rows + flush, then the ``committed`` attribute + flush), so a
killed writer leaves at worst uncommitted rows, which are ignored on reopen and overwritten.

Layout: root attribute ``format_version``; one group per backbone, named ``bb_<hash of id>``,
with attributes ``format_version``, ``backbone_id``, ``dim``, ``committed`` and chunked,
resizable datasets ``paths`` (UTF-8 strings), ``sizes``, ``mtimes`` (int64), ``vectors``
(float32, N x dim). Its subgroup ``failures`` has the same two-phase layout with ``paths``,
``sizes``, ``mtimes``, ``after`` (committed row count when recorded) and ``reasons``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from gui_app.core.errors import LoupeError
from gui_app.core.h5_repair import RepairError, repair_interrupted

FORMAT_VERSION = 1

_ENC = "surrogateescape"  # keeps undecodable file names round-tripping through UTF-8
_STR = h5py.string_dtype("utf-8")
_ROW_CHUNK = 1024
_VEC_CHUNK_BYTES = 1 << 20
_RDCC_BYTES = 32 << 20
_READ_BYTES = 64 << 20
_INDEX_SLICE = 4096  # path strings decoded per h5py call when opening
_MAIN = ("paths", "sizes", "mtimes", "vectors")
_FAIL = ("paths", "sizes", "mtimes", "after", "reasons")
# h5py raises these for unreadable or inconsistent files (KeyError: missing object).
_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)

_log = logging.getLogger(__name__)


class StoreError(LoupeError):
    """The feature cache cannot be used: damaged (read-only), busy, closed or misused."""


class _Damaged(Exception):
    """Validation failed; the message is the specific detail for the user."""


@dataclass(frozen=True)
class FileKey:
    """Identity of one image file: relative POSIX path plus size and mtime."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def for_file(cls, root: Path, rel: str) -> FileKey:
        """Stat ``root / rel``; raises OSError when the file is gone or unreadable."""
        st = os.stat(Path(root) / rel)
        return cls(rel, int(st.st_size), int(st.st_mtime_ns))


class FeatureStore:
    """Feature vectors of one backbone inside an HDF5 file (see module docstring).

    Parameters
    ----------
    path : Path
        The HDF5 file, created (with its folder) when missing unless ``readonly``.
    backbone_id : str
        Any string; the group is named by a hash of it.
    dim : int or None
        Vector length. May be None when read-only or when the group exists; a different dim
        than the stored one recreates the group.
    readonly : bool
        Never change the cached data; raise StoreError instead of rebuilding a damaged file.
        (A file left open by a killed writer is still repaired in place, as any open does.)
    """

    def __init__(
        self, path: Path, backbone_id: str, dim: int | None = None, *, readonly: bool = False
    ) -> None:
        if dim is not None and dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.path = Path(path)
        self.backbone_id = backbone_id
        self.readonly = readonly
        self.recovery_message: str | None = None
        self.dim = 0
        self._file: h5py.File | None = None
        self._group: Any = None
        self._n = 0
        self._nfail = 0
        self._pending: list[tuple[FileKey, int, str]] = []  # failures not yet written
        self._index: dict[str, tuple[int, int, int]] = {}  # path -> (row, size, mtime_ns)
        self._fail: dict[str, tuple[int, int, str]] = {}  # path -> (size, mtime_ns, reason)
        try:
            self._open(dim, fresh=False)
        except _Damaged as exc:
            self._close_file()
            if readonly:
                raise StoreError(f"feature cache {self.path} is damaged ({exc})") from None
            aside = self._move_aside()
            self.recovery_message = (
                f"feature cache was damaged ({exc}); moved aside to {aside.name} and rebuilding"
            )
            _log.warning("%s", self.recovery_message)
            try:
                self._open(dim, fresh=True)
            except _Damaged as again:
                self._close_file()
                raise StoreError(f"cannot create feature cache {self.path}: {again}") from None
        except BaseException:
            self._close_file()
            raise

    # ------------------------------------------------------------------ opening

    def _open(self, dim: int | None, *, fresh: bool) -> None:
        if self.readonly:
            if not self.path.exists():
                raise StoreError(f"feature cache {self.path} does not exist")
            self._file = self._h5open("r")
        elif fresh or not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._h5open("w")
            self._file.attrs["format_version"] = FORMAT_VERSION
        else:
            self._file = self._h5open("r+")
        try:
            self._validate_and_load(self._file, dim)
        except _H5_ERRORS as exc:
            raise _Damaged(f"unreadable: {exc}") from None

    def _h5open(self, mode: str) -> h5py.File:
        kwargs: dict[str, Any] = {"libver": "latest", "locking": "best-effort"}
        kwargs["rdcc_nbytes"] = _RDCC_BYTES  # several vector chunks stay cached across appends
        if mode != "w" and os.path.getsize(self.path) == 0:
            raise _Damaged("file is empty")  # HDF5 1.14 opens an empty file for writing
        try:
            return h5py.File(self.path, mode, **kwargs)
        except OSError as exc:
            msg = re.sub(r"^.*?open file \((.*)\)$", r"\1", str(exc))  # keep HDF5's reason
            if "unable to lock file" in msg or "already open for read-only" in msg:
                raise StoreError(f"feature cache {self.path} is in use elsewhere") from None
            if isinstance(exc, PermissionError):
                raise StoreError(f"cannot open feature cache {self.path}: {exc}") from None
            if mode == "w":
                raise StoreError(f"cannot create feature cache {self.path}: {exc}") from None
            if "already open for write" in msg:
                # HDF5 got the lock, so no live writer: the flag is left by a killed process.
                try:
                    repair_interrupted(self.path, kwargs)
                except RepairError as exc:
                    raise _Damaged(str(exc)) from None
                _log.info("repaired %s after an interrupted write", self.path)
                try:
                    return h5py.File(self.path, mode, **kwargs)
                except OSError as again:
                    raise _Damaged(f"not a readable HDF5 file: {again}") from None
            raise _Damaged(f"not a readable HDF5 file: {msg}") from None

    def _validate_and_load(self, f: h5py.File, dim: int | None) -> None:
        version = f.attrs.get("format_version")
        if version is None:
            raise _Damaged("format_version attribute missing")
        if version != FORMAT_VERSION:
            raise _Damaged(f"format_version is {version}, expected {FORMAT_VERSION}")
        name = "bb_" + hashlib.sha256(self.backbone_id.encode("utf-8", _ENC)).hexdigest()[:16]
        group = f.get(name)
        if group is not None:
            stored_dim = self._check_group(group)
            if dim is not None and stored_dim != dim:
                if self.readonly:
                    raise StoreError(
                        f"feature cache for {self.backbone_id!r} has dim {stored_dim}, not {dim}"
                    )
                _log.info("dim %d -> %d for %r: recreating", stored_dim, dim, self.backbone_id)
                del f[name]
                group = None
        if group is None:
            if self.readonly or dim is None:
                raise StoreError(
                    f"feature cache {self.path} has no features for {self.backbone_id!r}"
                    + ("" if self.readonly else " and no dim was given to create them")
                )
            group = self._create_group(f, name, dim)
        self._group = group
        self.dim = int(group.attrs["dim"])
        self._n = int(group.attrs["committed"])
        self._nfail = int(group["failures"].attrs["committed"])
        self._load_index()

    def _check_group(self, group: Any) -> int:
        if not isinstance(group, h5py.Group):
            raise _Damaged(f"{group.name} is not a group")
        attrs = {k: group.attrs.get(k) for k in ("format_version", "backbone_id", "dim")}
        if attrs["format_version"] != FORMAT_VERSION:
            raise _Damaged(f"group format_version is {attrs['format_version']!r}")
        if attrs["backbone_id"] != self.backbone_id:
            raise _Damaged(f"group belongs to backbone {attrs['backbone_id']!r}")
        dim = attrs["dim"]
        if not isinstance(dim, np.integer | int) or dim < 1:
            raise _Damaged(f"invalid dim attribute {dim!r}")
        _check_table(group, _MAIN)
        shape = group["vectors"].shape
        if len(shape) != 2 or shape[1] != dim:
            raise _Damaged(f"vectors have shape {shape}, expected (N, {dim})")
        failures = group.get("failures")
        if not isinstance(failures, h5py.Group):
            raise _Damaged("group 'failures' missing")
        _check_table(failures, _FAIL)
        return int(dim)

    def _create_group(self, f: h5py.File, name: str, dim: int) -> Any:
        group = f.create_group(name)
        vec_rows = max(1, min(256, _VEC_CHUNK_BYTES // (4 * dim)))
        for ds, dtype in (("paths", _STR), ("sizes", np.int64), ("mtimes", np.int64)):
            group.create_dataset(ds, (0,), dtype, maxshape=(None,), chunks=(_ROW_CHUNK,))
        group.create_dataset(
            "vectors", (0, dim), np.float32, maxshape=(None, dim), chunks=(vec_rows, dim)
        )
        failures = group.create_group("failures")
        for ds in _FAIL:
            dtype = _STR if ds in ("paths", "reasons") else np.int64
            failures.create_dataset(ds, (0,), dtype, maxshape=(None,), chunks=(256,))
        failures.attrs["committed"] = 0
        group.attrs.update(
            {"format_version": FORMAT_VERSION, "backbone_id": self.backbone_id, "dim": dim}
        )
        group.attrs["committed"] = 0
        f.flush()
        return group

    def _load_index(self) -> None:
        g, n = self._group, self._n
        # Read in slices: one h5py call holds the GIL, and the GUI thread must not wait long.
        text = g["paths"].asstr(errors=_ENC)
        paths = [p for i in range(0, n, _INDEX_SLICE) for p in text[i : min(i + _INDEX_SLICE, n)]]
        sizes, mtimes = g["sizes"][:n].tolist(), g["mtimes"][:n].tolist()
        if n:
            g["vectors"][n - 1]  # reading the last committed row catches a truncated tail
        self._index = {
            p: (i, s, m) for i, (p, s, m) in enumerate(zip(paths, sizes, mtimes, strict=True))
        }
        fg, nf = g["failures"], self._nfail
        cols = [fg[c][:nf].tolist() for c in ("sizes", "mtimes", "after")]
        fpaths = fg["paths"].asstr(errors=_ENC)[:nf].tolist()
        reasons = fg["reasons"].asstr(errors="replace")[:nf].tolist()
        self._fail = {}
        for p, s, m, after, reason in zip(fpaths, *cols, reasons, strict=True):
            latest = self._index.get(p)
            if latest is not None and latest[0] >= after:  # extracted since: superseded
                self._fail.pop(p, None)
            else:
                self._fail[p] = (s, m, reason)

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{n}")
        try:
            os.replace(self.path, target)
        except OSError as exc:
            raise StoreError(f"cannot move damaged {self.path} aside: {exc}") from exc
        return target

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return self._n

    def lookup(self, key: FileKey) -> int | None:
        """Row of ``key`` when a committed row has the same path, size and mtime."""
        entry = self._index.get(key.path)
        if entry is None or entry[1] != key.size or entry[2] != key.mtime_ns:
            return None
        return entry[0]

    def status(self, keys: Iterable[FileKey]) -> tuple[list[FileKey], list[FileKey]]:
        """Split ``keys`` into (cached, missing)."""
        cached: list[FileKey] = []
        missing: list[FileKey] = []
        for key in keys:
            (cached if self.lookup(key) is not None else missing).append(key)
        return cached, missing

    def vector(self, row: int) -> np.ndarray:
        """The vector of one committed row."""
        if not 0 <= row < self._n:
            raise IndexError(f"row {row} out of range 0..{self._n - 1}")
        with self._reading():
            return self._group["vectors"][row]

    def vectors(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Vectors of ``rows`` (any order, repeats allowed) as an (len(rows), dim) array."""
        idx = np.asarray(rows, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            return np.empty((0, self.dim), np.float32)
        if idx.min() < 0 or idx.max() >= self._n:
            raise IndexError(f"rows out of range 0..{self._n - 1}")
        uniq, inverse = np.unique(idx, return_inverse=True)
        out = np.empty((uniq.size, self.dim), np.float32)
        with self._reading():
            ds = self._group["vectors"]
            gap = (ds.chunks or (256,))[0]
            span = max(gap, _READ_BYTES // (4 * self.dim))
            # h5py point selections are slow: read runs of rows at most a chunk apart as
            # slices instead, each at most `span` rows long so memory stays bounded.
            cuts = np.flatnonzero((np.diff(uniq) > gap) | (np.diff(uniq // span) != 0)) + 1
            for part, start in zip(np.split(uniq, cuts), np.r_[0, cuts], strict=True):
                lo = int(part[0])
                out[start : start + part.size] = ds[lo : int(part[-1]) + 1][part - lo]
        return out[inverse]

    def vectors_for(self, paths: Iterable[str]) -> dict[str, np.ndarray]:
        """Latest committed vector per path; paths without one are left out."""
        found = [(p, self._index[p][0]) for p in dict.fromkeys(paths) if p in self._index]
        data = self.vectors([row for _, row in found])
        return {p: data[i] for i, (p, _) in enumerate(found)}

    def paths(self) -> list[str]:
        """Paths with a committed row, ordered by their latest row."""
        return sorted(self._index, key=lambda p: self._index[p][0])

    def latest_rows(self) -> np.ndarray:
        """Sorted row numbers of the latest committed row of every path."""
        rows = np.fromiter((v[0] for v in self._index.values()), np.int64, len(self._index))
        rows.sort()
        return rows

    def read_rows(self, rows: np.ndarray) -> tuple[list[str], np.ndarray]:
        """(paths, vectors) of the committed ``rows`` (sorted ascending, one region of the file)."""
        if len(rows) == 0:
            return [], np.zeros((0, self.dim), np.float32)
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        with self._reading():
            region = self._group["paths"].asstr(errors=_ENC)[lo:hi]
        return [region[r - lo] for r in rows.tolist()], self.vectors(rows)

    def iter_blocks(self, block_rows: int = 4096) -> Iterator[tuple[list[str], np.ndarray]]:
        """Stream (paths, vectors) of the latest row per path in row order.

        Reads ``block_rows`` rows at a time, so memory stays at about two blocks whatever the
        file size. Every block but the last has exactly ``block_rows`` rows. Do not append
        while iterating.
        """
        if block_rows < 1:
            raise ValueError(f"block_rows must be positive, got {block_rows}")
        g, n, index = self._group, self._n, self._index
        pend_paths: list[str] = []
        pend_vecs: list[np.ndarray] = []
        for start in range(0, n, block_rows):
            stop = min(start + block_rows, n)
            with self._reading():
                paths = g["paths"].asstr(errors=_ENC)[start:stop].tolist()
                keep = [i for i, p in enumerate(paths) if index[p][0] == start + i]
                if not keep:
                    continue
                vecs = g["vectors"][start:stop]
            if len(keep) < len(paths):
                vecs, paths = vecs[keep], [paths[i] for i in keep]
            pend_paths += paths
            pend_vecs.append(vecs)
            if len(pend_paths) >= block_rows:
                joined = np.concatenate(pend_vecs)
                yield pend_paths[:block_rows], joined[:block_rows]
                pend_paths, pend_vecs = pend_paths[block_rows:], [joined[block_rows:]]
        if pend_paths:
            yield pend_paths, np.concatenate(pend_vecs)

    def failure(self, key: FileKey) -> str | None:
        """Reason recorded for this exact file (same size and mtime), else None."""
        entry = self._fail.get(key.path)
        if entry is None or entry[0] != key.size or entry[1] != key.mtime_ns:
            return None
        return entry[2]

    def failures(self) -> dict[str, str]:
        """Path -> reason for every file whose latest outcome is a recorded failure."""
        return {p: reason for p, (_, _, reason) in self._fail.items()}

    # ------------------------------------------------------------------ writing

    def append(self, keys: Sequence[FileKey], vectors: np.ndarray) -> None:
        """Commit one block of rows; a later row for the same path supersedes earlier ones."""
        self._require_writable()
        vecs = np.asarray(vectors, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape != (len(keys), self.dim):
            raise ValueError(f"vectors have shape {vecs.shape}, expected ({len(keys)}, {self.dim})")
        if not keys:
            return
        self._write_failures()
        start = self._n
        self._n = self._write_rows(self._group, start, {**_key_columns(keys), "vectors": vecs})
        for i, key in enumerate(keys):
            self._index[key.path] = (start + i, key.size, key.mtime_ns)
            self._fail.pop(key.path, None)

    def record_failure(self, key: FileKey, reason: str) -> None:
        """Remember that this exact file could not be read, so unchanged reruns skip it.

        Buffered in memory and written with the next append, flush or close: losing it in a
        crash only means the file is tried again.
        """
        self._require_writable()
        self._pending.append((key, self._n, reason))
        self._fail[key.path] = (key.size, key.mtime_ns, reason)

    def _write_failures(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        columns = {
            **_key_columns([key for key, _, _ in pending]),
            "after": np.array([after for _, after, _ in pending], np.int64),
            "reasons": np.array([r.encode("utf-8", "replace") for _, _, r in pending], object),
        }
        self._nfail = self._write_rows(self._group["failures"], self._nfail, columns)

    def _write_rows(self, group: Any, start: int, columns: dict[str, np.ndarray]) -> int:
        """Write rows at ``start`` (dropping uncommitted ones), then commit them."""
        stop = start + len(columns["paths"])
        try:
            for name, data in columns.items():
                ds = group[name]
                ds.resize(stop, axis=0)
                ds[start:stop] = data
            group.file.flush()
            group.attrs["committed"] = stop
            group.file.flush()
        except _H5_ERRORS as exc:
            raise StoreError(f"cannot write feature cache {self.path}: {exc}") from exc
        return stop

    def _require_writable(self) -> None:
        if self._file is None:
            raise StoreError("feature store is closed")
        if self.readonly:
            raise StoreError("feature store is opened read-only")

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Turn h5py errors while reading committed rows into StoreError."""
        if self._file is None:
            raise StoreError("feature store is closed")
        try:
            yield
        except (OSError, RuntimeError) as exc:
            raise StoreError(f"cannot read feature cache {self.path}: {exc}") from exc

    # ------------------------------------------------------------------ lifecycle

    def flush(self) -> None:
        """Write buffered failures and flush HDF5 buffers to the OS."""
        if self._file is not None and not self.readonly:
            self._write_failures()
            self._file.flush()

    def close(self) -> None:
        """Write buffered failures and close; further use raises StoreError. Idempotent."""
        try:
            if self._file is not None and not self.readonly:
                self._write_failures()
        finally:
            self._close_file()

    def _close_file(self) -> None:
        f, self._file, self._group = self._file, None, None
        if f is not None:
            try:
                f.close()
            except _H5_ERRORS as exc:  # closing a damaged file must not mask the real problem
                _log.warning("closing %s failed: %s", self.path, exc)

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _key_columns(keys: Sequence[FileKey]) -> dict[str, np.ndarray]:
    return {
        "paths": np.array([k.path.encode("utf-8", _ENC) for k in keys], object),
        "sizes": np.array([k.size for k in keys], np.int64),
        "mtimes": np.array([k.mtime_ns for k in keys], np.int64),
    }


def _check_table(group: Any, names: tuple[str, ...]) -> None:
    """Datasets exist, share one length, and the committed count fits in it."""
    lengths = {}
    for name in names:
        ds = group.get(name)
        if not isinstance(ds, h5py.Dataset):
            raise _Damaged(f"dataset {name!r} missing in {group.name}")
        lengths[name] = ds.shape[0] if ds.shape else -1
    if len(set(lengths.values())) != 1:
        raise _Damaged(f"dataset lengths differ in {group.name}: {lengths}")
    committed = group.attrs.get("committed")
    if not isinstance(committed, np.integer | int):
        raise _Damaged(f"committed attribute missing in {group.name}")
    if not 0 <= committed <= lengths[names[0]]:
        raise _Damaged(f"committed count {committed} exceeds {lengths[names[0]]} stored rows")


def list_backbone_ids(path: Path) -> list[str]:
    """Backbone ids with features in the file at ``path`` (read-only; [] when unreadable)."""
    try:
        with h5py.File(path, "r", locking="best-effort") as f:
            return [
                str(group.attrs["backbone_id"])
                for name, group in f.items()
                if name.startswith("bb_") and "backbone_id" in group.attrs
            ]
    except _H5_ERRORS:
        return []
