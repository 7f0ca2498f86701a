"""LabelingSession: the one code path of every label action (window, CLI, reliability tests)."""

from __future__ import annotations

import numpy as np
import pytest

from gui_app.core.project import Project
from gui_app.core.session import LabelingSession, VectorTable

DIM = 12


def vectors(n: int = 30, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, (3, DIM))
    paths = [f"img{i:03d}.jpg" for i in range(n)]
    return paths, (centers[np.arange(n) % 3] + rng.normal(0, 0.5, (n, DIM))).astype(np.float32)


@pytest.fixture
def session(tmp_path):
    (tmp_path / "imgs").mkdir()
    s = LabelingSession(Project(tmp_path / "imgs"))
    paths, vecs = vectors()
    s.add_vectors(paths, vecs)
    yield s
    s.close()


def probe(s: LabelingSession) -> dict[str, float]:
    return s.predict("img029.jpg")


def test_actions_learn_and_undo_redo_restore_the_model_exactly(session):
    for i in range(6):
        session.label(f"img{i:03d}.jpg", "abc"[i % 3])
    after_six = probe(session)
    assert set(after_six) == {"a", "b", "c"} and sum(after_six.values()) == pytest.approx(1)
    session.label("img006.jpg", "a")
    after_seven = probe(session)
    assert after_seven != after_six
    session.undo()
    assert probe(session) == after_six
    session.redo()
    assert probe(session) == after_seven
    assert session.labels.label_of("img006.jpg") == "a"


def test_undo_without_memory_rebuilds_by_replay(session, tmp_path):
    for i in range(6):
        session.label(f"img{i:03d}.jpg", "abc"[i % 3])
    expected = probe(session)
    session.label("img006.jpg", "a")
    session.history.clear()  # as after a restart: only the journal is left
    session.undo()
    assert probe(session) == pytest.approx(expected, abs=1e-12)


def test_rebuild_equals_the_live_model(session):
    for i in range(12):
        session.label(f"img{i:03d}.jpg", "abc"[i % 3])
    live = probe(session)
    session.rebuild()
    assert probe(session) == pytest.approx(live, abs=1e-12)


def test_snapshot_reopens_without_replay_and_stale_snapshot_is_detected(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    paths, vecs = vectors()
    s = LabelingSession(Project(root))
    s.add_vectors(paths, vecs)
    for i in range(6):
        s.label(paths[i], "abc"[i % 3])
    expected = probe(s)
    s.close()
    assert (root / ".loupe" / "model.pkl").is_file()

    again = LabelingSession(Project(root))
    again.add_vectors(paths, vecs)
    assert not again.needs_rebuild and again.snapshot_message is None
    assert probe(again) == expected
    again.labels.set_label(paths[7], "b")  # a change the snapshot never saw
    again.labels.close()

    stale = LabelingSession(Project(root))
    assert stale.needs_rebuild and "older than the labels" in stale.snapshot_message
    assert not stale.ready_to_rebuild  # its features have not arrived yet
    stale.add_vectors(paths, vecs)
    assert stale.ready_to_rebuild
    stale.rebuild()
    assert set(probe(stale)) == {"a", "b", "c"}
    stale.close()


def test_label_before_features_arrive_is_learned_by_replay(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    paths, vecs = vectors()
    s = LabelingSession(Project(root))
    s.add_vectors(paths[1:], vecs[1:])
    s.label(paths[1], "a")
    result = s.label(paths[0], "b")  # no features yet for paths[0]
    assert not result.learned and s.needs_rebuild and not s.ready_to_rebuild
    s.add_vectors(paths[:1], vecs[:1])
    assert s.ready_to_rebuild
    s.rebuild()
    assert set(probe(s)) == {"a", "b"}
    s.close()


def test_rename_merge_delete_follow_by_replay(session):
    for i in range(9):
        session.label(f"img{i:03d}.jpg", "abc"[i % 3])
    session.rename_class("a", "alpha")
    assert set(probe(session)) == {"alpha", "b", "c"}
    session.merge_classes("c", "b")
    assert set(probe(session)) == {"alpha", "b"}
    session.delete_class("b")
    assert probe(session) == {}  # one class left: nothing to predict
    session.undo()
    assert set(probe(session)) == {"alpha", "b"}


def test_journal_records_the_prediction_shown(session):
    for i in range(6):
        session.label(f"img{i:03d}.jpg", "abc"[i % 3])
    shown = session.predict("img006.jpg")
    event = session.label("img006.jpg", "a").event
    assert event.prediction == pytest.approx(shown)


def test_vector_table_grows_and_overwrites():
    table = VectorTable()
    table.add(["a", "b"], np.ones((2, 4), np.float32))
    table.add([f"x{i}" for i in range(2000)], np.zeros((2000, 4), np.float32))
    table.add(["a"], np.full((1, 4), 7, np.float32))
    assert len(table) == 2002 and table.matrix.shape == (2002, 4)
    assert table.get("a").tolist() == [7, 7, 7, 7] and table.get("zz") is None
