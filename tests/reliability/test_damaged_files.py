"""Damaged project files: each gives a specific message and a recovery; labels are never lost.

features.h5 (truncated, garbage, empty), a torn write-ahead log beside labels.sqlite, a damaged
labels.sqlite, and model.pkl (garbage, truncated, foreign object, other learner, a directory).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from gui_app.core.labels import LabelError, LabelStore
from gui_app.core.project import Project
from gui_app.core.session import LabelingSession
from gui_app.core.store import FeatureStore, FileKey
from tests.reliability.helpers import (
    assert_same_predictions,
    image_paths,
    integrity,
    replayed,
    synthetic_vectors,
)

DIM = 16
PATHS = image_paths(60)
VECTORS = synthetic_vectors(PATHS, DIM)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A project with 40 labels, a fresh model snapshot and a feature cache."""
    (tmp_path / "images").mkdir()
    project = Project(tmp_path / "images")
    session = LabelingSession(project)
    session.add_vectors(PATHS, VECTORS)
    for i, path in enumerate(PATHS[:40]):
        session.label(path, ("cat", "dog", "<b>bird</b>")[i % 3])
    session.close()
    with FeatureStore(project.features_path, "bb", DIM) as store:
        store.append([FileKey(p, 1, 1) for p in PATHS], VECTORS)
    return project


def _labels(project: Project) -> dict[str, str]:
    with LabelStore(project.labels_path) as store:
        return store.labels()


# ----------------------------------------------------------------------------- features.h5


def _garbage(path: Path, seed: int, size: int, keep_magic: bool = False) -> None:
    data = np.random.default_rng(seed).bytes(size)
    if keep_magic:  # a valid HDF5 signature in front of noise
        data = b"\x89HDF\r\n\x1a\n" + data[8:]
    path.write_bytes(data)


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        ("truncated", "unreadable"),
        ("garbage", "not a readable HDF5 file"),
        ("hdf5-magic-then-garbage", "not a readable HDF5 file"),
        ("empty", "file is empty"),
    ],
)
def test_damaged_feature_cache_is_moved_aside_and_rebuilt(project, damage, detail) -> None:
    h5, labels_before = project.features_path, _labels(project)
    if damage == "truncated":
        with h5.open("r+b") as fh:
            fh.truncate(h5.stat().st_size // 2)
    elif damage == "empty":
        h5.write_bytes(b"")
    else:
        _garbage(h5, 1, 50_000, keep_magic=damage != "garbage")
    damaged = h5.read_bytes()
    with FeatureStore(h5, "bb", DIM) as store:
        message = store.recovery_message
        assert message is not None and message.startswith("feature cache was damaged (")
        assert "moved aside to features.h5.damaged-" in message and "rebuilding" in message
        if damage != "truncated":  # HDF5's own wording for a truncated file varies by version
            assert detail in message
        assert len(store) == 0
        store.append([FileKey(p, 1, 1) for p in PATHS[:5]], VECTORS[:5])  # rebuild works
    aside = list(project.dir.glob("features.h5.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == damaged  # kept for inspection
    with FeatureStore(h5, "bb") as store:
        assert store.recovery_message is None and len(store) == 5
    assert _labels(project) == labels_before and integrity(project.labels_path) == "ok"


def test_damaged_feature_cache_read_only_is_an_error_not_a_rebuild(project) -> None:
    from gui_app.core.store import StoreError

    _garbage(project.features_path, 2, 10_000)
    with pytest.raises(StoreError, match=r"feature cache .* is damaged \(not a readable HDF5"):
        FeatureStore(project.features_path, "bb", readonly=True)
    assert not list(project.dir.glob("features.h5.damaged-*"))


# ----------------------------------------------------------------------------- labels WAL

WAL_HEADER, FRAME_HEADER = 32, 24


def _snapshot_with_wal(project: Project, dest: Path, extra: int) -> tuple[Path, dict]:
    """Copy labels.sqlite + its WAL while a writer is open, after ``extra`` more labels."""
    dest.mkdir()
    store = LabelStore(project.labels_path)  # closed cleanly before: the WAL starts empty
    try:
        before = store.labels()
        for i in range(extra):
            store.set_label(PATHS[40 + i], "late")
        after = store.labels()
        for suffix in ("", "-wal"):
            shutil.copy(str(project.labels_path) + suffix, dest / f"labels.sqlite{suffix}")
    finally:
        store.close()
    return dest / "labels.sqlite", {"before": before, "after": after}


def _frames(wal: bytes) -> list[int]:
    """Offsets of the WAL frames."""
    page = struct.unpack(">I", wal[8:12])[0]
    return list(range(WAL_HEADER, len(wal) - FRAME_HEADER - page + 1, FRAME_HEADER + page))


def test_torn_wal_frames_are_ignored_and_committed_labels_remain(project, tmp_path) -> None:
    db, state = _snapshot_with_wal(project, tmp_path / "copy", extra=6)
    wal = Path(str(db) + "-wal")
    data = wal.read_bytes()
    page = struct.unpack(">I", data[8:12])[0]
    frames = _frames(data)
    commits = [o for o in frames if struct.unpack(">I", data[o + 4 : o + 8])[0] != 0]
    assert len(commits) >= 6
    variants = {
        # the next transaction was cut half-way through its first frame
        "half frame appended": data + data[frames[-1] : frames[-1] + FRAME_HEADER + page // 2],
        # garbage after the last commit (a write that never completed)
        "garbage appended": data + np.random.default_rng(3).bytes(3 * (FRAME_HEADER + page)),
        # the last transaction torn: its commit frame only half on disk
        "last commit torn": data[: commits[-1] + FRAME_HEADER + page // 2],
        # a bit flipped in the last commit frame: its checksum no longer matches
        "last commit corrupt": data[: commits[-1] + 100]
        + bytes([data[commits[-1] + 100] ^ 0x40])
        + data[commits[-1] + 101 :],
    }
    for name, content in variants.items():
        work = tmp_path / name.replace(" ", "-")
        work.mkdir()
        shutil.copy(db, work / "labels.sqlite")
        (work / "labels.sqlite-wal").write_bytes(content)
        assert integrity(work / "labels.sqlite") == "ok", name
        with LabelStore(work / "labels.sqlite") as store:
            labels = store.labels()
            if name.startswith("last commit"):  # the torn transaction is dropped, nothing else
                expected = dict(state["after"])
                del expected[PATHS[45]]
                assert labels == expected, name
            else:
                assert labels == state["after"], name
            store.set_label(PATHS[59], "cat")  # and the database takes new writes
        assert integrity(work / "labels.sqlite") == "ok", name


def test_garbage_wal_is_ignored_entirely(project, tmp_path) -> None:
    db, state = _snapshot_with_wal(project, tmp_path / "copy", extra=3)
    Path(str(db) + "-wal").write_bytes(np.random.default_rng(4).bytes(20_000))
    assert integrity(db) == "ok"
    with LabelStore(db) as store:  # the WAL's header is invalid: the main file is the truth
        assert store.labels() == state["before"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "header-zeroed"])
def test_damaged_label_database_is_refused_and_never_touched(project, damage) -> None:
    db = project.labels_path
    data = db.read_bytes()
    if damage == "garbage":
        _garbage(db, 5, len(data))
    elif damage == "truncated":
        db.write_bytes(data[: len(data) // 3])
    else:
        db.write_bytes(b"\0" * 100 + data[100:])
    damaged = _digest(db)
    with pytest.raises(LabelError) as info:
        LabelingSession(Project(project.root))
    message = str(info.value)
    assert str(db) in message
    assert any(
        word in message
        for word in ("not a Loupe label database", "is damaged", "malformed", "not a database")
    ), message
    assert _digest(db) == damaged  # never deleted, overwritten or "repaired" behind our back
    sqlite_files = {p.name for p in project.dir.glob("labels.sqlite*")}
    assert sqlite_files <= {"labels.sqlite", "labels.sqlite-wal", "labels.sqlite-shm"}


# ----------------------------------------------------------------------------- model.pkl


def _model_damages(project: Project) -> dict[str, bytes]:
    good = project.model_path.read_bytes()
    other = LabelingSession  # any importable non-learner object pickles fine
    return {
        "garbage": np.random.default_rng(6).bytes(5000),
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "not a learner": pickle.dumps({"weights": [1, 2, 3]}),
        "a class, not a learner": pickle.dumps(other),
        "text": b"hello, I am not a pickle\n",
    }


MESSAGES = {
    "garbage": "model snapshot is damaged",
    "truncated": "model snapshot is damaged",
    "empty": "model snapshot is damaged",
    "not a learner": "model snapshot is damaged: not a learner (dict)",
    "a class, not a learner": "model snapshot is damaged: not a learner",
    "text": "model snapshot is damaged",
}


def test_damaged_model_snapshot_is_discarded_with_a_message_and_rebuilt(project) -> None:
    labels_before = _labels(project)
    for name, content in _model_damages(project).items():
        project.model_path.write_bytes(content)
        session = LabelingSession(Project(project.root))
        try:
            assert session.needs_rebuild, name
            message = session.snapshot_message or ""
            assert message.startswith(MESSAGES[name]), (name, message)
            assert message.endswith("the model will be rebuilt from the label journal")
            session.add_vectors(PATHS, VECTORS)
            assert session.ready_to_rebuild
            session.rebuild()
            assert session.learner.n_learned == 40
            assert_same_predictions(session.learner, replayed(session), VECTORS[::7])
        finally:
            session.close()  # writes a good snapshot over the damaged one
        assert _labels(project) == labels_before
        reopened = LabelingSession(Project(project.root))
        assert not reopened.needs_rebuild and reopened.snapshot_message is None, name
        reopened.labels.close()


def test_model_snapshot_of_another_learner_or_older_journal_is_rebuilt(project) -> None:
    session = LabelingSession(Project(project.root))
    session.add_vectors(PATHS, VECTORS)
    session.labels.set_setting("learner", "softmax")  # as if the project's learner changed
    session.labels.close()
    session = LabelingSession(Project(project.root))
    assert session.needs_rebuild and "older than the labels" in (session.snapshot_message or "")
    session.labels.close()

    with LabelStore(project.labels_path) as store:
        store.set_setting("learner", "logistic")
        store.set_label(PATHS[50], "cat")  # the journal moved on without the snapshot
    session = LabelingSession(Project(project.root))
    assert session.needs_rebuild and "older than the labels" in (session.snapshot_message or "")
    session.labels.close()


def test_model_snapshot_that_is_a_directory_is_reported(project) -> None:
    os.unlink(project.model_path)
    (project.model_path).mkdir()
    session = LabelingSession(Project(project.root))
    try:
        assert session.needs_rebuild
        assert "cannot read model snapshot" in (session.snapshot_message or "")
    finally:
        session.labels.close()
    assert _labels(project)  # labels untouched


def test_label_database_is_the_source_of_truth_when_everything_else_is_gone(project) -> None:
    labels_before = _labels(project)
    for name in ("features.h5", "model.pkl"):
        (project.dir / name).unlink()
    session = LabelingSession(Project(project.root))
    try:
        assert session.needs_rebuild and session.snapshot_message is None
        session.add_vectors(PATHS, VECTORS)
        session.rebuild()
        assert session.learner.n_learned == 40
        assert session.labels.labels() == labels_before
    finally:
        session.close()
