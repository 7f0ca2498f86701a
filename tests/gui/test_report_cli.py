"""``loupe report``, run as a user would: the installed command, no display."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from gui_app.core.backbones import resolve_backbone
from gui_app.core.project_settings import ProjectSettings
from gui_app.core.store import FeatureStore, FileKey
from gui_app.widgets.insight_export import FIGURES, TABLES
from tests.core.insight_scenario import (
    CONFUSION,
    LABELLED,
    OVERALL_CUMULATIVE,
    label,
    pred,
    scenario_store,
)


def loupe(*args: str) -> subprocess.CompletedProcess:
    """The installed ``loupe`` command, without a display (the report goes offscreen itself)."""
    exe = shutil.which("loupe", path=str(Path(sys.executable).parent)) or shutil.which("loupe")
    assert exe, "the loupe console script is not installed"
    hidden = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=240)


def test_report_writes_the_figures_their_data_and_a_summary(tmp_path, clock) -> None:
    store = scenario_store(tmp_path, clock)
    label(store, clock, 1310, "m", "<b>x</b>", pred(cat=0.5, dog=0.3, bird=0.2))
    store.close()
    out = tmp_path / "report"
    result = loupe("report", str(tmp_path / "project"), "--out", str(out), "--window", "3")
    assert result.returncode == 0, result.stderr
    assert "11 files written" in result.stdout
    for name in FIGURES:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in TABLES:
        assert (out / f"{name}.csv").is_file()
    rows = list(csv.reader((out / "confusion.csv").open(encoding="utf-8")))
    assert rows[0][1:] == ["cat", "dog", "bird", "<b>x</b>"]
    assert [[int(v) for v in row[1:4]] for row in rows[1:4]] == CONFUSION
    accuracy = list(csv.DictReader((out / "accuracy.csv").open(encoding="utf-8")))
    main = [float(r["cumulative"]) for r in accuracy if r["stream"] == "labels"]
    np.testing.assert_allclose(main[:6], OVERALL_CUMULATIVE)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert all(f"src='{name}.png'" in page for name in FIGURES)
    assert "no features yet" in page


def test_report_counts_top_predictions_of_the_unlabelled_images(tmp_path, clock) -> None:
    """With a feature cache, the model (replayed from the journal) scores the other images."""
    store = scenario_store(tmp_path, clock)
    root = tmp_path / "project"
    settings = ProjectSettings.load(store)
    spec = resolve_backbone(settings.backbone, settings.weights)
    labels = store.labels()
    store.close()
    centres = {"cat": [4.0, 0, 0], "dog": [0, 4.0, 0], "bird": [0, 0, 4.0]}
    unlabelled = {"u1": "cat", "u2": "cat", "u3": "dog", "u4": "bird", "u5": "bird"}
    files = {**labels, **unlabelled}
    rng = np.random.default_rng(0)
    for rel in files:
        (root / rel).write_bytes(b"not decoded: the cache is used")
    with FeatureStore(root / ".loupe" / "features.h5", spec.id, 3) as features:
        keys = [FileKey.for_file(root, rel) for rel in files]
        vectors = np.array([centres[c] for c in files.values()]) + rng.normal(0, 0.1, (12 + 5, 3))
        features.append(keys, vectors.astype(np.float32))
    out = tmp_path / "report"
    result = loupe("report", str(root), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    classes = list(csv.DictReader((out / "classes.csv").open(encoding="utf-8")))
    assert [int(r["labelled"]) for r in classes] == LABELLED
    assert [int(r["predicted_unlabelled"]) for r in classes] == [2, 1, 2]
    assert "5 unlabelled images predicted" in (out / "index.html").read_text(encoding="utf-8")


def test_report_without_a_project_is_one_line_and_creates_nothing(tmp_path) -> None:
    (tmp_path / "photos").mkdir()
    result = loupe("report", str(tmp_path / "photos"), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"loupe: error: no Loupe project in {(tmp_path / 'photos').resolve()}: open it in the "
        "window and label images first"
    ]
    assert not (tmp_path / "photos" / ".loupe").exists() and not (tmp_path / "out").exists()


def test_report_into_a_file_is_refused(tmp_path, clock) -> None:
    scenario_store(tmp_path, clock).close()
    (tmp_path / "taken").write_text("mine")
    result = loupe("report", str(tmp_path / "project"), "--out", str(tmp_path / "taken"))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"loupe: error: --out must be a folder, but {tmp_path / 'taken'} is a file"
    )
    assert (tmp_path / "taken").read_text() == "mine"
