"""Feature vectors exported as CSV, .npy (+ .paths.txt) and .npz, read back exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from gui_app.core.export import ExportError
from gui_app.core.feature_export import export_features, paths_file_for, read_features
from gui_app.core.store import FeatureStore, FileKey

NAMES = ["a.jpg", "=cmd.jpg", "-1.jpg", 'sub/with, "comma".jpg', "gone.jpg"]


@pytest.fixture
def store(tmp_path: Path):
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    keys = []
    for name in NAMES:
        (root / name).write_bytes(b"x" * 10)
        keys.append(FileKey.for_file(root, name))
    (root / "gone.jpg").unlink()  # its cached vector is stale now
    vectors = np.random.default_rng(0).normal(0, 1e3, (len(NAMES), 5)).astype(np.float32)
    with FeatureStore(tmp_path / "f.h5", "bb", 5) as s:
        s.append(keys, vectors)
        yield s, root, dict(zip(NAMES, vectors, strict=True))


@pytest.mark.parametrize("suffix", [".csv", ".npy", ".npz"])
def test_export_reads_back_exactly(store, tmp_path: Path, suffix: str) -> None:
    s, root, vectors = store
    out = tmp_path / f"features{suffix}"
    report = export_features(s, out, root)
    assert (report.rows, report.dim, report.stale) == (4, 5, 1)
    paths, matrix = read_features(out)
    assert paths == NAMES[:4] and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, np.stack([vectors[p] for p in paths]))
    if suffix == ".npy":
        assert report.files == [out, paths_file_for(out)]


def test_csv_has_a_header_and_escapes_formula_paths(store, tmp_path: Path) -> None:
    s, root, _vectors = store
    export_features(s, tmp_path / "f.csv", root)
    rows = list(csv.reader((tmp_path / "f.csv").open(newline="", encoding="utf-8")))
    assert rows[0] == ["path", "f0", "f1", "f2", "f3", "f4"]
    assert [r[0] for r in rows[1:]] == ["a.jpg", "'=cmd.jpg", "'-1.jpg", 'sub/with, "comma".jpg']
    assert any(cell.startswith("-") for cell in rows[1][1:])  # numbers are never escaped


def test_bad_requests_are_refused(store, tmp_path: Path) -> None:
    s, root, _vectors = store
    with pytest.raises(ExportError, match=r"\.csv, \.npy or \.npz"):
        export_features(s, tmp_path / "f.txt", root)
    with pytest.raises(ExportError, match="no feature vectors"):
        export_features(s, tmp_path / "f.csv", tmp_path)  # none of these files exist there
    with FeatureStore(tmp_path / "g.h5", "bb", 2) as other:
        other.append([FileKey("line\nbreak.jpg", 1, 1)], np.ones((1, 2), np.float32))
        with pytest.raises(ExportError, match="line break"):
            export_features(other, tmp_path / "g.npy")
        assert export_features(other, tmp_path / "g.npz").rows == 1
