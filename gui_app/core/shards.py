"""HDF5 shards: the result of one batch extracted on a cluster worker, merged by the client.

A shard holds the vectors of one batch of files and the reasons of the files of that batch
that could not be decoded. It is written to a temp file beside its final name and renamed
(:func:`write_shard`), so a reader sees a complete shard or none; its name is a hash of the
batch's inputs (:func:`shard_name`), so a retried task writes the same shard again. The client
merges a shard into the :class:`~gui_app.core.store.FeatureStore` (:func:`merge_shard`) and
then deletes it; merging a shard twice adds nothing.

Layout: root attributes ``loupe_shard`` (version), ``backbone_id``, ``engine`` (name), ``dim``;
datasets ``paths`` (UTF-8), ``sizes``, ``mtimes`` (int64), ``vectors`` (float32, N x dim) and
``fail_paths``, ``fail_sizes``, ``fail_mtimes``, ``fail_reasons``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from gui_app.core.atomic import fsync_dir
from gui_app.core.errors import LoupeError
from gui_app.core.store import FeatureStore, FileKey

SHARD_VERSION = 1
SUFFIX = ".h5"
_ENC = "surrogateescape"  # the store's encoding of file names
_STR = h5py.string_dtype("utf-8")
_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)


class ShardError(LoupeError):
    """A shard cannot be read (torn, foreign or from another backbone)."""


@dataclass
class Shard:
    """The content of one shard."""

    backbone_id: str
    engine: str
    keys: list[FileKey]
    vectors: np.ndarray  # (len(keys), dim) float32; (0, 0) when every file failed
    failures: list[tuple[FileKey, str]] = field(default_factory=list)


@dataclass
class Merged:
    """What :func:`merge_shard` added to the store (rows already there are left out)."""

    paths: list[str] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    failures: dict[str, str] = field(default_factory=dict)


def shard_folder(base: Path, store_id: str) -> Path:
    """The folder of one backbone's shards under ``base`` (shards of two backbones never mix)."""
    return Path(base) / ("bb_" + hashlib.sha256(store_id.encode("utf-8", _ENC)).hexdigest()[:16])


def shard_name(store_id: str, engine: str, max_pixels: int, keys: Sequence[FileKey]) -> str:
    """File name of the shard of ``keys``: the same inputs always give the same name."""
    h = hashlib.sha256()
    for part in (f"v{SHARD_VERSION}", store_id, engine, str(max_pixels)):
        h.update(part.encode("utf-8", _ENC) + b"\0")
    for key in keys:
        h.update(f"{key.path}\0{key.size}\0{key.mtime_ns}\0".encode("utf-8", _ENC))
    return h.hexdigest()[:32] + SUFFIX


def list_shards(folder: Path) -> list[Path]:
    """Complete shards in ``folder`` (temp files of unfinished writes are left out), sorted."""
    try:
        return sorted(p for p in Path(folder).iterdir() if p.suffix == SUFFIX and p.name[0] != ".")
    except FileNotFoundError:
        return []


def remove_stale_temps(folder: Path, older_than: float = 3600.0) -> int:
    """Delete temp files of shard writes killed part way (older than ``older_than`` seconds).

    Younger ones may belong to a task still running for an earlier client; they are kept.
    """
    removed = 0
    limit = time.time() - older_than
    try:
        entries = list(Path(folder).glob(".*.tmp"))
    except OSError:
        return 0
    for path in entries:
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
    return removed


def _columns(keys: Sequence[FileKey]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([k.path.encode("utf-8", _ENC) for k in keys], object),
        np.array([k.size for k in keys], np.int64),
        np.array([k.mtime_ns for k in keys], np.int64),
    )


def write_shard(path: Path, shard: Shard) -> None:
    """Write ``shard`` to ``path`` atomically (temp file, fsync, rename, fsync the folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    vecs = np.asarray(shard.vectors, np.float32)
    if vecs.ndim != 2 or vecs.shape[0] != len(shard.keys):
        raise ValueError(f"vectors have shape {vecs.shape} for {len(shard.keys)} keys")
    try:
        with h5py.File(tmp, "w", locking=False) as f:
            f.attrs.update(
                {
                    "loupe_shard": SHARD_VERSION,
                    "backbone_id": shard.backbone_id,
                    "engine": shard.engine,
                    "dim": vecs.shape[1],
                }
            )
            for name, data in zip(("paths", "sizes", "mtimes"), _columns(shard.keys), strict=True):
                f.create_dataset(name, data=data, dtype=_STR if name == "paths" else None)
            f.create_dataset("vectors", data=vecs)
            fkeys = [k for k, _ in shard.failures]
            for name, data in zip(("paths", "sizes", "mtimes"), _columns(fkeys), strict=True):
                f.create_dataset(f"fail_{name}", data=data, dtype=_STR if name == "paths" else None)
            reasons = np.array([r.encode("utf-8", "replace") for _, r in shard.failures], object)
            f.create_dataset("fail_reasons", data=reasons, dtype=_STR)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _keys(f: h5py.File, prefix: str) -> list[FileKey]:
    paths = f[f"{prefix}paths"].asstr(errors=_ENC)[:].tolist()
    sizes = f[f"{prefix}sizes"][:].tolist()
    mtimes = f[f"{prefix}mtimes"][:].tolist()
    return [FileKey(p, s, m) for p, s, m in zip(paths, sizes, mtimes, strict=True)]


def read_shard(path: Path, *, vectors: bool = True) -> Shard:
    """Read a shard (``vectors=False``: keys and failures only, vectors left empty)."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            if f.attrs.get("loupe_shard") != SHARD_VERSION:
                raise ShardError(f"{Path(path).name} is not a Loupe shard (version)")
            keys = _keys(f, "")
            dim = int(f.attrs["dim"])
            vecs = f["vectors"][:] if vectors else np.zeros((0, dim), np.float32)
            if vectors and vecs.shape != (len(keys), dim):
                raise ShardError(f"{Path(path).name}: vectors have shape {vecs.shape}")
            reasons = f["fail_reasons"].asstr(errors="replace")[:].tolist()
            failures = list(zip(_keys(f, "fail_"), reasons, strict=True))
            return Shard(
                str(f.attrs["backbone_id"]),
                str(f.attrs["engine"]),
                keys,
                np.asarray(vecs, np.float32),
                failures,
            )
    except _H5_ERRORS as exc:
        raise ShardError(f"shard {Path(path).name} is unreadable: {exc}") from None


def merge_shard(
    store: FeatureStore, shard: Shard, current: Mapping[str, FileKey] | None = None
) -> Merged:
    """Add the rows and failures of ``shard`` that ``store`` does not have yet, and commit.

    Rows whose file changed since (``current`` maps path -> the file's key now) are skipped:
    the file is extracted again. Merging the same shard twice adds nothing.
    """
    if shard.backbone_id != store.backbone_id:
        raise ShardError(
            f"shard of backbone {shard.backbone_id!r} cannot go into {store.backbone_id!r}"
        )

    def wanted(key: FileKey) -> bool:
        return current is None or current.get(key.path) == key

    out = Merged(vectors=np.zeros((0, store.dim), np.float32))
    for key, reason in shard.failures:
        if wanted(key) and store.failure(key) != reason:
            store.record_failure(key, reason)
            out.failures[key.path] = reason
    rows = [i for i, key in enumerate(shard.keys) if wanted(key) and store.lookup(key) is None]
    if rows:
        keys = [shard.keys[i] for i in rows]
        out.vectors = shard.vectors[rows]
        store.append(keys, out.vectors)
        out.paths = [k.path for k in keys]
    store.flush()
    return out
