"""Atomic writes give files the mode a plain open() would: the umask's, or the old file's."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from gui_app.core.atomic import atomic_write, atomic_write_bytes, current_umask

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """Set the umask for one test and restore it afterwards."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


def test_new_files_follow_the_umask(tmp_path: Path, umask) -> None:
    umask(0o022)
    assert current_umask() == 0o022
    atomic_write(tmp_path / "labels.csv", lambda fh: fh.write("path,label\n"))
    assert _mode(tmp_path / "labels.csv") == 0o644
    umask(0o077)
    atomic_write_bytes(tmp_path / "model.pkl", b"x")
    assert _mode(tmp_path / "model.pkl") == 0o600
    umask(0o002)
    atomic_write_bytes(tmp_path / "shared.csv", b"x")
    assert _mode(tmp_path / "shared.csv") == 0o664


def test_replacing_a_file_keeps_its_mode(tmp_path: Path, umask) -> None:
    umask(0o022)
    out = tmp_path / "predictions.csv"
    out.write_text("old", encoding="utf-8")
    out.chmod(0o640)
    atomic_write(out, lambda fh: fh.write("new"))
    assert out.read_text(encoding="utf-8") == "new" and _mode(out) == 0o640
    out.chmod(0o664)
    atomic_write_bytes(out, b"newer")
    assert _mode(out) == 0o664


def test_exports_and_snapshots_are_readable_by_colleagues(tmp_path: Path, umask) -> None:
    import numpy as np

    from gui_app.core.export import export_labels
    from gui_app.core.labels import LabelStore
    from gui_app.core.learner import OnlineLearner

    umask(0o022)
    with LabelStore(tmp_path / "labels.sqlite") as labels:
        labels.set_label("a.jpg", "cat")
        export_labels(labels, tmp_path / "out" / "labels.csv")
    learner = OnlineLearner()
    learner.learn(np.ones(3, np.float32), "cat")
    learner.save(tmp_path / "model.pkl")
    assert _mode(tmp_path / "out" / "labels.csv") == 0o644
    assert _mode(tmp_path / "model.pkl") == 0o644
