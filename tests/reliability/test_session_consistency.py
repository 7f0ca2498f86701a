"""Learner/journal consistency on paths the kill test avoids (undo copies, late features, recolour).

The promise (README, "What Loupe guarantees"): a model snapshot tagged with the journal head
equals the learner a replay of the journal gives. Each scenario below ends with a saved
snapshot that is accepted on reopen, so any divergence would persist across sessions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gui_app.core.labels import LabelError
from gui_app.core.project import Project
from gui_app.core.session import LabelingSession
from tests.reliability.helpers import (
    assert_same_predictions,
    image_paths,
    replayed,
    synthetic_vectors,
)

DIM = 8
PATHS = image_paths(40)
VECTORS = synthetic_vectors(PATHS, DIM)


@pytest.fixture
def session(tmp_path: Path):
    s = LabelingSession(Project(tmp_path))
    s.add_vectors(PATHS, VECTORS)
    for i in range(10):
        s.label(PATHS[i], f"c{i % 3}")
    yield s
    s.labels.close()


def _reopened_equals_replay(s: LabelingSession) -> None:
    """Save, reopen: an accepted snapshot must equal the replay of the journal."""
    assert_same_predictions(s.learner, replayed(s), VECTORS)
    s.save_snapshot()
    again = LabelingSession(Project(s.project.root))
    try:
        again.add_vectors(PATHS, VECTORS)
        if not again.needs_rebuild:
            assert_same_predictions(again.learner, replayed(again), VECTORS)
    finally:
        again.labels.close()


def test_undo_redo_chains_keep_the_learner_equal_to_the_replay(session) -> None:
    session.prepare_undo()
    for step in ("undo", "undo", "redo", "undo", "undo", "undo", "redo", "redo"):
        getattr(session, step)()
        assert_same_predictions(session.learner, replayed(session), VECTORS)
    session.add_class("extra")
    session.label(PATHS[30], "extra")
    session.prepare_undo()
    session.undo()
    session.undo()
    _reopened_equals_replay(session)


def test_undo_of_a_recolor_keeps_the_learner(session) -> None:
    session.recolor_class("c0", "#123456")
    session.undo()  # undoes the recolor in the journal ...
    _reopened_equals_replay(session)  # ... but the learner lost the last label


@pytest.mark.parametrize(
    "bad_action",
    [
        lambda s: s.add_class("C0"),  # duplicate in another letter case
        lambda s: s.rename_class("no such class", "x"),
        lambda s: s.merge_classes("c0", "c0"),
        lambda s: s.delete_class("no such class"),
        lambda s: s.unlabel(PATHS[35]),  # not labelled
    ],
    ids=["add_class", "rename", "merge", "delete", "unlabel"],
)
def test_a_rejected_action_does_not_shift_undo(session, bad_action) -> None:
    with pytest.raises(LabelError):
        bad_action(session)
    session.undo()
    _reopened_equals_replay(session)


def test_rebuild_before_all_features_arrived_is_not_saved_as_complete(tmp_path: Path) -> None:
    s = LabelingSession(Project(tmp_path))
    s.add_vectors(PATHS, VECTORS)
    for i in range(20):
        s.label(PATHS[i], f"c{i % 3}")
    s.labels.close()  # crash: no snapshot
    s = LabelingSession(Project(tmp_path))
    s.add_vectors(PATHS[:10], VECTORS[:10])  # half the features are back
    s.unlabel(PATHS[0])  # a structural action replays now, with what it has
    s.add_vectors(PATHS[10:], VECTORS[10:])
    try:
        if s.ready_to_rebuild:  # what the window does once the features are all back
            s.rebuild()
        _reopened_equals_replay(s)
    finally:
        s.labels.close()


def test_temp_files_of_a_killed_snapshot_save_are_cleaned(session) -> None:
    session.save_snapshot()
    leftover = session.project.dir / ".model.pkl.k1ll3d.tmp"
    leftover.write_bytes(b"half a pickle")
    session.labels.close()
    again = LabelingSession(Project(session.project.root))
    again.labels.close()
    assert not leftover.exists()
