"""Replay (F9, Q5): the one teaching path gives the same model live, replayed, undone, reopened."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

from gui_app.core import teaching
from gui_app.core.learner import OnlineLearner
from gui_app.core.project import Project
from gui_app.core.session import LabelingSession
from gui_app.core.teaching import KeyedVectors, ReplayMemory, teach

DIM = 12


def data(n: int = 80, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2, (4, DIM))
    paths = [f"img{i:03d}.jpg" for i in range(n)]
    return paths, (centres[np.arange(n) % 4] + rng.normal(0, 0.8, (n, DIM))).astype(np.float32)


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    return folder


def open_session(root, vectors: bool = True) -> LabelingSession:
    s = LabelingSession(Project(root))
    if vectors:
        s.add_vectors(*data())
    return s


def replayed(s: LabelingSession) -> OnlineLearner:
    events = [(lab, s.vectors.get(p)) for _q, p, lab in s.labels.training_events()]
    return OnlineLearner.rebuild(s.learner_name, events, s.class_names())


def weights(learner: OnlineLearner) -> tuple[np.ndarray, np.ndarray]:
    p = learner.export_linear()
    return p["coef"], p["intercept"]


def identical(a: OnlineLearner, b: OnlineLearner) -> None:
    """Bit-identical weights, scaler and replay memory."""
    wa, ba = weights(a)
    wb, bb = weights(b)
    assert np.array_equal(wa, wb) and np.array_equal(ba, bb)
    assert np.array_equal(a.model.scaler.mean, b.model.scaler.mean)
    assert len(a.memory) == len(b.memory) and a.memory.labels.tolist() == b.memory.labels.tolist()
    assert a.progressive.history == b.progressive.history


def label_some(s: LabelingSession, n: int = 24, start: int = 0) -> None:
    for i in range(start, start + n):
        s.label(f"img{i:03d}.jpg", "abcd"[i % 4])


def test_live_learning_replays_and_equals_a_replay_of_the_journal(root):
    s = open_session(root)
    label_some(s)
    assert len(s.learner.memory) == 24 and s.learner.replay_steps > 0
    identical(s.learner, replayed(s))
    plain = OnlineLearner(s.learner_name)
    plain.replay_steps = 0
    for _q, p, lab in s.labels.training_events():
        plain.learn(s.vectors.get(p), lab)
    assert not np.array_equal(weights(plain)[0], weights(s.learner)[0])  # replay did something
    s.close()


def test_relabel_replaces_the_image_in_the_memory(root):
    s = open_session(root)
    label_some(s, 8)
    s.label("img001.jpg", "a")  # was "b"
    memory = s.learner.memory
    assert len(memory) == 8  # still one item per image
    keys = memory.keys.tolist()
    relabel = s.labels.journal()[-1]
    assert relabel.seq in keys and memory.names[memory.labels[keys.index(relabel.seq)]] == "a"
    identical(s.learner, replayed(s))
    s.close()


def test_undo_redo_and_rebuild_keep_the_exact_model(root):
    s = open_session(root)
    label_some(s, 12)
    before = pickle.loads(pickle.dumps(s.learner))
    s.label("img040.jpg", "c")
    after = pickle.loads(pickle.dumps(s.learner))
    s.undo()
    identical(s.learner, before)
    s.redo()
    identical(s.learner, after)
    s.label("img041.jpg", "d")  # learning after a redo resolves the memory's keys again
    identical(s.learner, replayed(s))
    s.rebuild()
    identical(s.learner, replayed(s))
    s.close()


def test_reopen_from_the_snapshot_continues_exactly(root):
    s = open_session(root)
    label_some(s, 16)
    s.close()
    again = open_session(root)
    assert not again.needs_rebuild  # the snapshot was current: no replay on open
    label_some(again, 4, start=30)  # replays resolve keys taught by the previous session
    identical(again.learner, replayed(again))
    again.close()


def test_background_plan_with_catch_up_equals_live(root):
    s = open_session(root)
    label_some(s, 16)
    s.defer_rebuilds = True
    s.rename_class("a", "alpha")
    plan = s.plan_rebuild()
    result: list = []
    worker = threading.Thread(target=lambda: result.append(plan.run()))
    worker.start()
    worker.join()
    s.label("img050.jpg", "alpha")  # given while the plan ran: learned by the catch-up
    assert s.finish_rebuild(plan, result[0])
    identical(s.learner, replayed(s))
    s.close()


def test_large_bulk_incremental_plan_carries_the_memory_vectors(root):
    s = open_session(root)
    label_some(s, 12)
    s.defer_rebuilds = True
    s.label_many([f"img{i:03d}.jpg" for i in range(40, 70)], "b", pick="threshold")
    plan = s.plan_rebuild()
    assert plan.incremental and plan.known is not None
    assert s.finish_rebuild(plan, plan.run())
    identical(s.learner, replayed(s))
    s.close()


def test_missing_vector_of_a_memory_item_flags_a_rebuild(root):
    s = open_session(root)
    label_some(s, 8)
    s.vectors._present[s.vectors.row("img000.jpg")] = False  # its features disappeared
    result = s.label("img020.jpg", "a")
    assert not result.learned and s.needs_rebuild
    s.add_vectors(["img000.jpg"], data()[1][:1])
    s.rebuild()
    identical(s.learner, replayed(s))
    s.close()


def test_memory_stays_small_and_balanced_past_its_limit(monkeypatch):
    monkeypatch.setattr(teaching, "MEMORY_LIMIT", 30)
    memory = ReplayMemory()
    for key in range(60):  # a burst of class "x" after 10 of each of "y" and "z"
        memory.add(key, key, "y" if key < 10 else "z" if key < 20 else "x")
    names = [memory.names[i] for i in memory.labels]
    assert len(memory) == 30 and names.count("y") == 10 and names.count("z") == 10
    learner = OnlineLearner("logistic")
    _paths, X = data(200)
    seen = KeyedVectors()
    for key, v in enumerate(X):
        teach(learner, v, "abcd"[key % 4], key, seen)
        seen.add(key, v)
    assert len(pickle.dumps(learner)) < 200 * 4 * 8 + 30 * 18 + 20_000  # no vectors inside


def test_replay_is_round_robin_and_a_burst_still_replays_the_other_classes():
    memory = ReplayMemory()
    for key in range(10):
        memory.add(key, key, "old")
    seen: list[int] = []
    for key in range(10, 40):  # a burst of "new": each event replays 8 stored items
        keys, _labels = memory.choose(8)
        assert len(set(keys.tolist())) == len(keys) == min(8, len(memory))
        seen += keys.tolist()
        memory.add(key, key, "new")
    counts = np.bincount(seen, minlength=40)
    assert counts[:10].min() >= 4  # every old item kept being replayed during the burst
    assert counts[:10].max() - counts[:10].min() <= 2  # equally often (round robin)
    small = ReplayMemory()
    small.add(1, 1, "a")
    assert small.choose(16)[0].tolist() == [1]
