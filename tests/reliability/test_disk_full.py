"""Full disks and read-only locations: clear errors, nothing half-written, nothing lost.

Real conditions where the machine allows them (a tiny tmpfs filled to the last byte, a tmpfs
remounted read-only: root on Linux), a per-process file size limit (any POSIX), and injected
``OSError(ENOSPC)`` / ``OSError(EROFS)`` everywhere else.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from gui_app.core import atomic as atomic_module
from gui_app.core import snapshots as snapshots_module
from gui_app.core.labels import LabelError, LabelStore
from gui_app.core.project import Project, ProjectError
from gui_app.core.session import LabelingSession
from gui_app.core.store import FeatureStore, FileKey, StoreError
from tests.reliability.conftest import fill_disk, remount_read_only
from tests.reliability.helpers import (
    REPO,
    assert_same_predictions,
    child_env,
    image_paths,
    integrity,
    replayed,
    synthetic_vectors,
    temp_leftovers,
)

DIM = 32
PATHS = image_paths(80)
VECTORS = synthetic_vectors(PATHS, DIM)
EXPECTED_FILES = {"labels.sqlite", "labels.sqlite-wal", "labels.sqlite-shm", "model.pkl", "lock"}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _session_on(root: Path, n_labels: int = 30) -> LabelingSession:
    root.mkdir(exist_ok=True)
    session = LabelingSession(Project(root))
    session.add_vectors(PATHS, VECTORS)
    for i in range(n_labels):
        session.label(PATHS[i], f"c{i % 3}")
    session.save_snapshot()
    return session


def _label_until_full(session: LabelingSession) -> Exception:
    for i in range(40, 80):  # the first write normally fails; a few may fit in the WAL's slack
        try:
            session.label(PATHS[i], "full")
        except (LabelError, sqlite3.Error) as exc:
            return exc
    raise AssertionError("labelling never failed on a full disk")


def test_label_on_a_full_disk_fails_cleanly_and_loses_nothing(make_tmpfs) -> None:
    fs = make_tmpfs("8m")
    session = _session_on(fs / "images")
    project = session.project
    try:
        filler = fill_disk(fs)
        before = session.labels.labels()
        exc = _label_until_full(session)
        assert "full" in str(exc).lower(), exc  # "database or disk is full"
        after = session.labels.labels()
        assert set(before.items()) <= set(after.items())  # nothing committed was lost
        assert integrity(project.labels_path) == "ok"
        # The failed action never reached the learner (journal first, then learn).
        assert_same_predictions(session.learner, replayed(session), VECTORS[::5])
        assert {p.name for p in project.dir.iterdir()} <= EXPECTED_FILES
        assert temp_leftovers(project.dir) == []

        filler.unlink()  # space again: labelling simply continues
        session.label(PATHS[79], "c0")
        assert session.labels.label_of(PATHS[79]) == "c0"
    finally:
        session.close()
    reopened = LabelingSession(Project(fs / "images"))
    assert not reopened.needs_rebuild  # the snapshot written at close matches the journal
    reopened.labels.close()


def test_label_on_a_full_disk_raises_label_error(make_tmpfs) -> None:
    fs = make_tmpfs("8m")
    session = _session_on(fs / "images")
    try:
        fill_disk(fs)
        with pytest.raises(LabelError, match=r"(?i)full"):
            for i in range(40, 80):
                session.label(PATHS[i], "full")
    finally:
        session.labels.close()


FSIZE_CHILD = r"""
import resource, signal, sys
from pathlib import Path
from gui_app.core.labels import LabelStore, LabelError
import sqlite3
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
db = Path(sys.argv[1])
store = LabelStore(db)
for i in range(20):
    store.set_label(f"img{i}.jpg", f"c{i % 3}")
print("committed", 20, flush=True)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (db.stat().st_size, hard))
failed = None
for i in range(20, 400):
    try:
        store.set_label(f"img{i}.jpg" + "x" * 300, "c0")
    except (LabelError, sqlite3.Error) as exc:
        failed = f"{type(exc).__name__}: {exc}"
        break
    print("committed", i + 1, flush=True)
print("failed", failed, flush=True)
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
store.set_label("after.jpg", "c1")
store.close()
print("ok", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX-only")
def test_label_beyond_the_file_size_limit_fails_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "labels.sqlite"
    done = subprocess.run(
        [sys.executable, "-c", FSIZE_CHILD, str(db)],
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "ok"
    failed = next(line for line in lines if line.startswith("failed"))
    assert failed != "failed None" and ("I/O" in failed or "full" in failed), failed
    committed = max(int(line.split()[1]) for line in lines if line.startswith("committed"))
    assert integrity(db) == "ok"
    with LabelStore(db) as store:
        labels = store.labels()
    assert len(labels) == committed + 1  # every promised label plus the one after the limit
    assert temp_leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- model.pkl


def test_snapshot_save_on_a_full_disk_keeps_the_old_snapshot(make_tmpfs) -> None:
    fs = make_tmpfs("8m")
    session = _session_on(fs / "images")
    project = session.project
    old = _digest(project.model_path)
    for i in range(30, 36):
        session.label(PATHS[i], "c1")
    filler = fill_disk(fs)
    with pytest.raises(OSError) as info:
        session.save_snapshot()
    assert info.value.errno == errno.ENOSPC
    assert _digest(project.model_path) == old
    assert temp_leftovers(project.dir) == [] and not list(project.dir.glob(".model.pkl.*"))
    with pytest.raises(OSError):
        session.close()  # reports the failed save, but the label store is closed all the same
    with pytest.raises(LabelError, match="closed"):
        session.labels.labels()
    filler.unlink()
    reopened = LabelingSession(Project(fs / "images"))
    try:  # the old snapshot is older than the journal: discarded, rebuilt, nothing lost
        assert reopened.needs_rebuild and "older" in (reopened.snapshot_message or "")
        assert len(reopened.labels.labels()) == 36
    finally:
        reopened.labels.close()


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_snapshot_save_failing_midway_leaves_old_snapshot_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    session = _session_on(tmp_path / "images")
    project = session.project
    old = _digest(project.model_path)
    session.label(PATHS[50], "c2")

    def enospc(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "write":

        def half_write(out, data):  # the disk fills after the first 1000 bytes
            def writer(fh):
                fh.write(data[:1000])
                enospc()

            atomic_module.atomic_write(out, writer, binary=True)

        monkeypatch.setattr(snapshots_module, "atomic_write_bytes", half_write)
    elif where == "fsync":
        monkeypatch.setattr(atomic_module.os, "fsync", enospc)
    else:
        monkeypatch.setattr(atomic_module.os, "replace", enospc)
    with pytest.raises(OSError, match="No space left"):
        session.save_snapshot()
    monkeypatch.undo()
    assert _digest(project.model_path) == old
    assert temp_leftovers(project.dir) == [] and not list(project.dir.glob(".model.pkl.*"))
    session.save_snapshot()  # works again once there is room
    assert _digest(project.model_path) != old
    session.labels.close()


# ----------------------------------------------------------------------------- features.h5


# h5py logs a failed cache teardown of the file whose flush failed; harmless noise here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_feature_cache_on_a_full_disk_keeps_committed_rows(make_tmpfs) -> None:
    fs = make_tmpfs("4m")
    h5 = fs / "features.h5"
    store = FeatureStore(h5, "bb", 64)
    store.append([FileKey(f"a{i}.jpg", 1, 1) for i in range(100)], np.ones((100, 64), np.float32))
    filler = fill_disk(fs)
    n = 100
    with pytest.raises(
        StoreError, match=r"(?s)cannot write feature cache .*No space left on device"
    ):
        while True:
            keys = [FileKey(f"a{i}.jpg", 1, 1) for i in range(n, n + 100)]
            store.append(keys, np.full((100, 64), n, np.float32))
            n += 100
    store.close()  # closing a store whose last write failed must not raise
    filler.unlink()
    with FeatureStore(h5, "bb", 64) as store:
        assert store.recovery_message is None and len(store) == n
        assert (store.vectors(np.arange(n))[:, 0] == np.repeat([1, *range(100, n, 100)], 100)).all()
        store.append([FileKey("b.jpg", 1, 1)], np.zeros((1, 64), np.float32))
    assert [p.name for p in fs.iterdir()] == ["features.h5"]


# ----------------------------------------------------------------------------- read-only


def test_project_on_a_read_only_medium_points_to_project_dir(make_tmpfs, tmp_path) -> None:
    fs = make_tmpfs("4m")
    root = fs / "photos"
    session = _session_on(root, n_labels=5)
    session.close()
    remount_read_only(fs)
    with pytest.raises(ProjectError) as info:
        Project(root)
    message = str(info.value)
    assert "Read-only file system (the folder is read-only)" in message
    assert "--project-dir DIR" in message
    elsewhere = Project(root, tmp_path / "elsewhere")  # what the message suggests works
    elsewhere.acquire_lock()
    moved = LabelingSession(elsewhere)
    moved.label("photos-1.jpg", "c0")
    moved.close()
    elsewhere.release_lock()


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.EPERM])
def test_project_on_a_read_only_location_injected(tmp_path, monkeypatch, code) -> None:
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(
        ProjectError, match=r"\(the folder is read-only\)\. Choose another .*--proj"
    ):
        Project(tmp_path)
