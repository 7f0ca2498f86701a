"""Feature vectors exported for other tools: CSV (as the ResNet50 tutorial), ``.npy``, ``.npz``.

* ``.csv``: header ``path,f0,f1,...,f{D-1}``, one row per image, values as ``%.9g`` (float32
  round-trips exactly); the path cell is formula-escaped (:func:`safe_csv_cell`).
* ``.npy``: the ``(N, D)`` float32 matrix, plus ``<name>.paths.txt`` beside it: the N relative
  paths, one per line, UTF-8, in row order (``np.load`` + ``read().splitlines()``).
* ``.npz``: ``vectors`` (N, D) float32, ``paths`` (N,) unicode and ``backbone_id`` (a 0-d
  unicode array) in one file, readable with ``np.load(allow_pickle=False)``.

Rows are the cached vectors of the images whose file is unchanged since extraction (same size
and modification time); vectors of changed or deleted files are left out and counted. Files
are streamed block by block (constant memory for the CSV and ``.npy``) and replaced atomically.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from gui_app.core.atomic import atomic_write
from gui_app.core.export import ExportError, safe_csv_cell
from gui_app.core.store import FeatureStore, FileKey

FEATURE_SUFFIXES = (".csv", ".npy", ".npz")
_BLOCK_ROWS = 4096
_ENC = "surrogateescape"  # undecodable file names are written back as their original bytes


@dataclass
class FeatureExport:
    """What :func:`export_features` wrote."""

    rows: int
    dim: int
    stale: int  # cached vectors left out: file changed or deleted since extraction
    files: list[Path] = field(default_factory=list)


def _fresh_paths(store: FeatureStore, root: Path | None) -> tuple[set[str], int]:
    paths = store.paths()
    if root is None:
        return set(paths), 0
    keep = set()
    for rel in paths:
        try:
            if store.lookup(FileKey.for_file(root, rel)) is not None:
                keep.add(rel)
        except OSError:
            pass
    return keep, len(paths) - len(keep)


def _blocks(store: FeatureStore, keep: set[str]) -> Iterator[tuple[list[str], np.ndarray]]:
    for paths, vectors in store.iter_blocks(_BLOCK_ROWS):
        picked = [i for i, p in enumerate(paths) if p in keep]
        if picked:
            yield [paths[i] for i in picked], vectors[picked]


def _csv_cell(text: str) -> str:
    text = safe_csv_cell(text)
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _write_csv(fh: IO[bytes], store: FeatureStore, keep: set[str]) -> None:
    header = ",".join(["path", *(f"f{i}" for i in range(store.dim))]) + "\r\n"
    fh.write(header.encode("ascii"))
    row_format = ",".join(["%.9g"] * store.dim)
    for paths, vectors in _blocks(store, keep):
        text = "".join(
            f"{_csv_cell(p)},{row_format % tuple(v)}\r\n"
            for p, v in zip(paths, vectors.tolist(), strict=True)
        )
        fh.write(text.encode("utf-8", _ENC))


def _write_npy(fh: IO[bytes], store: FeatureStore, keep: set[str], n: int) -> None:
    header = {"descr": "<f4", "fortran_order": False, "shape": (n, store.dim)}
    np.lib.format.write_array_header_1_0(fh, header)
    for _paths, vectors in _blocks(store, keep):
        fh.write(np.ascontiguousarray(vectors, "<f4").tobytes())


def _write_npz(fh: IO[bytes], store: FeatureStore, keep: set[str], n: int) -> None:
    paths: list[str] = []
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        with zf.open("vectors.npy", "w", force_zip64=True) as member:
            header = {"descr": "<f4", "fortran_order": False, "shape": (n, store.dim)}
            np.lib.format.write_array_header_1_0(member, header)
            for block_paths, vectors in _blocks(store, keep):
                paths += block_paths
                member.write(np.ascontiguousarray(vectors, "<f4").tobytes())
        for name, array in (("paths", np.array(paths, dtype=str)),
                            ("backbone_id", np.array(store.backbone_id))):  # fmt: skip
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def paths_file_for(out: Path) -> Path:
    """The sibling paths list of an ``.npy`` export: ``<name>.paths.txt``."""
    return Path(out).with_suffix(".paths.txt")


def export_features(store: FeatureStore, out: Path, root: Path | None = None) -> FeatureExport:
    """Write the cached vectors of ``store`` to ``out`` (format from its suffix).

    Parameters
    ----------
    root
        The image folder: when given, vectors whose file changed or vanished are left out.

    Raises
    ------
    ExportError
        Unknown suffix, no vectors, or (``.npy``) a path containing a line break.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FEATURE_SUFFIXES:
        raise ExportError(f"cannot tell the format of {out.name}: name it .csv, .npy or .npz")
    keep, stale = _fresh_paths(store, root)
    if not keep:
        raise ExportError("no feature vectors to export: run 'loupe extract' first")
    report = FeatureExport(len(keep), store.dim, stale)
    if suffix == ".csv":
        atomic_write(out, lambda fh: _write_csv(fh, store, keep), binary=True)
    elif suffix == ".npz":
        atomic_write(out, lambda fh: _write_npz(fh, store, keep, len(keep)), binary=True)
    else:
        ordered = [p for p in store.paths() if p in keep]
        if any("\n" in p or "\r" in p for p in ordered):
            raise ExportError(
                "some file names contain a line break, which a .paths.txt list cannot hold: "
                "export to .npz or .csv instead"
            )
        text = "".join(p + "\n" for p in ordered).encode("utf-8", _ENC)
        listing = paths_file_for(out)
        atomic_write(listing, lambda fh: fh.write(text), binary=True)
        atomic_write(out, lambda fh: _write_npy(fh, store, keep, len(keep)), binary=True)
        report.files.append(listing)
    report.files.insert(0, out)
    return report


def read_features(path: Path) -> tuple[list[str], np.ndarray]:
    """Read back an export of :func:`export_features` (any of the three formats)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            return [str(p) for p in npz["paths"]], np.asarray(npz["vectors"])
    if suffix == ".npy":
        names = paths_file_for(path).read_bytes().decode("utf-8", _ENC).split("\n")[:-1]
        return names, np.load(path, allow_pickle=False)
    import csv

    from gui_app.core.export import unescape_csv_cell

    with path.open(newline="", encoding="utf-8", errors=_ENC) as fh:
        rows = list(csv.reader(fh))[1:]
    vectors: Any = np.array([[float(x) for x in r[1:]] for r in rows], np.float32)
    return [unescape_csv_cell(r[0]) for r in rows], vectors
