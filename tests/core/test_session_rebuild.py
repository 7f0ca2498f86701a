"""Replays off the caller's thread: plans, catch-up, bulk actions, learner and backbone switches."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from gui_app.core.learner import OnlineLearner
from gui_app.core.project import Project
from gui_app.core.session import LabelingSession

DIM = 10


@pytest.fixture
def session(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    s = LabelingSession(Project(root))
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 2, (3, DIM))
    paths = [f"img{i:03d}.jpg" for i in range(60)]
    s.add_vectors(paths, (centers[np.arange(60) % 3] + rng.normal(0, 0.5, (60, DIM))))
    yield s
    s.close()


def replay(s: LabelingSession) -> OnlineLearner:
    events = [(lab, s.vectors.get(p)) for _q, p, lab in s.labels.training_events()]
    return OnlineLearner.rebuild(s.learner_name, events, s.class_names())


def same_model(s: LabelingSession, other: OnlineLearner) -> None:
    probe = s.vectors.get("img059.jpg")
    assert s.learner.predict_proba(probe) == pytest.approx(other.predict_proba(probe), abs=1e-12)


def label_some(s: LabelingSession, n: int = 12) -> None:
    for i in range(n):
        s.label(f"img{i:03d}.jpg", "abc"[i % 3])


def test_deferred_rename_leaves_the_model_stale_until_the_plan_is_finished(session):
    session.defer_rebuilds = True
    label_some(session)
    session.rename_class("a", "alpha")
    assert session.needs_rebuild and session.ready_to_rebuild
    assert session.predict("img059.jpg") == {}  # never bars with a class name that is gone
    assert not session.save_snapshot()  # a stale model is never saved as current
    plan = session.plan_rebuild()
    result: list = []
    worker = threading.Thread(target=lambda: result.append(plan.run()))
    worker.start()
    worker.join()
    assert session.finish_rebuild(plan, result[0])
    assert not session.needs_rebuild
    assert set(session.predict("img059.jpg")) == {"alpha", "b", "c"}
    same_model(session, replay(session))


def test_labels_given_during_a_replay_are_caught_up_in_journal_order(session):
    session.defer_rebuilds = True
    label_some(session)
    session.merge_classes("c", "b")
    plan = session.plan_rebuild()
    outcome = session.label("img030.jpg", "alpha"), session.label("img031.jpg", "b")
    assert not any(r.learned for r in outcome)  # journaled, learned by the catch-up
    assert session.finish_rebuild(plan, plan.run())
    same_model(session, replay(session))
    assert session.save_snapshot()


def test_a_structural_change_during_a_replay_makes_its_result_unusable(session):
    session.defer_rebuilds = True
    label_some(session)
    session.rename_class("a", "alpha")
    plan = session.plan_rebuild()
    session.unlabel("img001.jpg")
    assert not session.finish_rebuild(plan, plan.run())
    assert session.needs_rebuild
    again = session.plan_rebuild()
    assert session.finish_rebuild(again, again.run())
    same_model(session, replay(session))


def test_a_stopped_replay_changes_nothing(session):
    label_some(session, 45)
    session.defer_rebuilds = True
    session.delete_class("c")
    plan = session.plan_rebuild()
    assert plan.run(should_stop=lambda: True) is None
    assert session.needs_rebuild


def test_undo_of_a_structural_change_restores_the_exact_copy_without_replay(session):
    session.defer_rebuilds = True
    label_some(session)
    before = replay(session)
    session.rename_class("b", "beta")
    session.undo()
    assert not session.needs_rebuild
    same_model(session, before)


def test_bulk_label_is_one_undo_step_and_learned_in_journal_order(session):
    label_some(session, 6)
    before = replay(session)
    big = [f"img{i:03d}.jpg" for i in range(20, 50)]
    session.defer_rebuilds = True
    result = session.label_many(big, "b", pick="threshold")
    assert not result.learned and session.ready_to_rebuild
    plan = session.plan_rebuild()
    assert plan.incremental and len(plan) == len(big)  # only the new events are learned
    assert session.finish_rebuild(plan, plan.run())
    same_model(session, replay(session))
    assert {session.label_of(p) for p in big} == {"b"}
    session.undo()
    assert all(session.label_of(p) is None for p in big)
    same_model(session, before)
    session.redo()
    same_model(session, replay(session))


def test_small_bulk_is_learned_at_once(session):
    label_some(session, 6)
    result = session.label_many(["img040.jpg", "img041.jpg"], "c")
    assert result.learned and not session.needs_rebuild
    same_model(session, replay(session))


def test_switch_learner_rebuilds_and_is_remembered(session, tmp_path):
    label_some(session)
    assert session.switch_learner("softmax")
    assert session.learner.name == "softmax" and not session.needs_rebuild
    same_model(session, replay(session))
    assert not session.switch_learner("softmax")
    root = session.project.root
    session.close()
    again = LabelingSession(Project(root))
    assert again.settings.learner == "softmax"
    again.close()


def test_switch_backbone_drops_vectors_until_new_ones_arrive(session):
    label_some(session)
    assert session.switch_backbone("mobilenet_v2", "none")
    assert session.settings.backbone_choice == ("mobilenet_v2", "none")
    assert session.vector_count == 0 and session.needs_rebuild and not session.ready_to_rebuild
    assert not session.switch_backbone("mobilenet_v2", "none")


def test_unsure_unlabels_is_not_learned_and_undo_restores(session):
    label_some(session)
    before = replay(session)
    result = session.mark_unsure("img004.jpg")
    assert result.changed == {"img004.jpg": None}
    assert session.marked("unsure") == {"img004.jpg"} and session.label_of("img004.jpg") is None
    same_model(session, replay(session))
    session.undo()
    assert session.label_of("img004.jpg") == "b" and session.marked("unsure") == set()
    same_model(session, before)
