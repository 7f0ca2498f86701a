"""Undo copies of the learner: exact restores, bounded depth, failed actions keep the spare."""

from __future__ import annotations

import numpy as np

from gui_app.core.learner import OnlineLearner
from gui_app.core.model_history import ModelHistory


def taught(n: int) -> OnlineLearner:
    learner = OnlineLearner("logistic")
    rng = np.random.default_rng(0)
    for i in range(n):
        learner.learn(rng.normal(size=4).astype(np.float32), "ab"[i % 2])
    return learner


def test_undo_then_redo_return_the_exact_learners():
    history = ModelHistory()
    before, after = taught(4), taught(6)
    history.record(10, history.take(before))
    restored = history.flip(True, 10, history.take(after))
    assert restored.n_learned == before.n_learned
    again = history.flip(False, 10, history.take(restored))
    assert again.n_learned == after.n_learned


def test_a_copy_from_another_journal_position_is_never_restored():
    history = ModelHistory()
    history.record(10, history.take(taught(2)))
    assert history.flip(True, 11, None) is None


def test_only_the_newest_copies_are_kept():
    history = ModelHistory(depth=3)
    learner = taught(2)
    for head in range(5):
        history.record(head, history.take(learner))
    assert history.flip(True, 1, None) is None  # the oldest two were dropped
    assert history.flip(True, 4, None) is not None


def test_a_failed_action_gives_its_copy_back_as_the_spare():
    history = ModelHistory()
    learner = taught(2)
    copy = history.take(learner)
    history.give_back(copy)
    assert history.take(learner) is copy


def test_a_new_action_drops_the_redo_stack():
    history = ModelHistory()
    learner = taught(2)
    history.record(1, history.take(learner))
    history.flip(True, 1, history.take(learner))
    history.record(1, history.take(learner))
    assert history.flip(False, 1, None) is None
