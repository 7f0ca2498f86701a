"""Tests for gui_app.core.learner (river online learner wrapper)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gui_app.core import learner as learner_mod
from gui_app.core.calibration import sharpen
from gui_app.core.learner import (
    LEARNERS,
    LearnerError,
    OnlineLearner,
    ProgressiveAccuracy,
    make_pipeline,
)
from gui_app.core.teaching import KeyedVectors, teach

D = 24
CONSTANT_COLS = (0, 5, 11)  # zero variance: one at 0.0, two at non-zero values


def blobs(
    n: int, d: int = D, k: int = 3, seed: int = 0, spread: float = 1.0
) -> tuple[np.ndarray, list[str]]:
    """Class-dependent Gaussian blobs with a few constant columns; labels 'c0', 'c1', ..."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(1234).normal(0.0, 2.0, (k, d))
    y = rng.integers(0, k, n)
    X = (centers[y] + rng.normal(0.0, spread, (n, d))).astype(np.float32)
    X[:, CONSTANT_COLS[0]] = 0.0
    X[:, CONSTANT_COLS[1]] = 3.25
    X[:, CONSTANT_COLS[2]] = -1.5
    return X, [f"c{i}" for i in y]


def trained(name: str, n: int = 60, k: int = 3, seed: int = 0) -> OnlineLearner:
    X, y = blobs(n, k=k, seed=seed)
    lrn = OnlineLearner(name)
    for v, lab in zip(X, y, strict=True):
        lrn.learn(v, lab)
    return lrn


@pytest.fixture(scope="module")
def models() -> dict[str, OnlineLearner]:
    return {name: trained(name) for name in LEARNERS}


def test_make_pipeline_names() -> None:
    for name in LEARNERS:
        assert make_pipeline(name, seed=3) is not None
    with pytest.raises(ValueError, match="logistic, softmax, gaussian-nb, knn, arf"):
        make_pipeline("svm")
    with pytest.raises(ValueError):
        OnlineLearner("svm")
    assert OnlineLearner().name == "logistic"


# -- river-style contract, for every learner -----------------------------------------------


@pytest.mark.parametrize("name", LEARNERS)
def test_empty_state_until_two_classes(name: str) -> None:
    X, _ = blobs(4)
    lrn = OnlineLearner(name)
    assert lrn.predict_proba(X[0]) == {}
    assert lrn.score_many(X).shape == (4, 0)
    assert lrn.learn(X[0], "a") is None
    assert lrn.learn(X[1], "a") is None
    assert not lrn.can_predict()
    assert lrn.predict_proba(X[2]) == {}
    assert lrn.score_many(X).shape == (4, 0)
    assert lrn.export_linear() is None
    assert lrn.learn(X[2], "b") is None  # the model knew a single class: no prediction
    assert lrn.can_predict()
    assert set(lrn.predict_proba(X[3])) == {"a", "b"}
    assert lrn.progressive.total == 0
    assert lrn.n_learned == 3


@pytest.mark.parametrize("name", LEARNERS)
def test_probabilities_valid_and_input_untouched(name: str, models) -> None:
    lrn = models[name]
    X, _ = blobs(20, seed=7)
    for v in X:
        before = v.copy()
        proba = lrn.predict_proba(v)
        np.testing.assert_array_equal(v, before)
        assert list(proba) == lrn.classes
        assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in proba.values())
        assert sum(proba.values()) == pytest.approx(1.0, abs=1e-9)
    v = X[0].copy()
    fresh = trained(name, n=10)
    fresh.learn(v, "c1")
    np.testing.assert_array_equal(v, X[0])


@pytest.mark.parametrize("name", LEARNERS)
def test_new_class_appears_once_learned(name: str) -> None:
    lrn = trained(name, n=30, k=2)
    X, _ = blobs(3, seed=5)
    assert set(lrn.predict_proba(X[0])) == {"c0", "c1"}
    lrn.learn(X[1] + 10.0, "new")
    proba = lrn.predict_proba(X[2])
    assert set(proba) == {"c0", "c1", "new"} and list(proba)[-1] == "new"
    assert sum(proba.values()) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("name", LEARNERS)
def test_declared_classes_report_zero(name: str) -> None:
    lrn = trained(name, n=30, k=2)
    lrn.add_class("later")
    lrn.add_class("later")  # idempotent
    X, _ = blobs(5, seed=9)
    proba = lrn.predict_proba(X[0])
    assert proba["later"] == 0.0
    assert sum(proba.values()) == pytest.approx(1.0, abs=1e-9)
    lrn.set_classes(["zz", "c1", "later"])
    assert lrn.classes == ["zz", "c1", "later", "c0"]  # learned classes are never dropped
    proba = lrn.predict_proba(X[0])
    assert list(proba) == lrn.classes
    assert proba["zz"] == 0.0 and proba["later"] == 0.0
    scores = lrn.score_many(X)
    assert scores.shape == (5, 4) and scores.dtype == np.float32
    np.testing.assert_array_equal(scores[:, [0, 2]], 0.0)


@pytest.mark.parametrize("name", LEARNERS)
def test_score_many_matches_predict_proba(name: str, models) -> None:
    lrn = models[name]
    lrn.add_class("declared-only")
    X, _ = blobs(200, seed=11, spread=2.0)
    X[:10] *= 50.0  # saturated logits exercise river's sigmoid clamp
    X_before = X.copy()
    scores = lrn.score_many(X)
    np.testing.assert_array_equal(X, X_before)
    assert scores.shape == (200, len(lrn.classes)) and scores.dtype == np.float32
    ref = np.array([list(lrn.predict_proba(v).values()) for v in X])
    if name in ("logistic", "softmax"):
        assert np.abs(scores - ref).max() <= 1e-6
    else:
        np.testing.assert_array_equal(scores, ref.astype(np.float32))
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", ["logistic", "softmax"])
def test_folding_against_river_with_many_constant_columns(name: str) -> None:
    rng = np.random.default_rng(3)
    d, k = 64, 6
    centers = rng.normal(0.5, 1.0, (k, d))
    constant = rng.choice(d, 12, replace=False)
    lrn = OnlineLearner(name)
    for _ in range(300):
        c = int(rng.integers(0, k))
        v = (centers[c] + rng.normal(0, 1.0, d)).astype(np.float32)
        v[constant] = np.float32(0.7)
        lrn.learn(v, f"k{c}")
    X = (centers[rng.integers(0, k, 500)] + rng.normal(0, 1.5, (500, d))).astype(np.float32)
    X[:, constant[:6]] = 99.0  # unseen values on zero-variance columns must be ignored
    river_model = lrn.model
    ref = np.zeros((len(X), len(lrn.classes)))
    for i, v in enumerate(X):
        raw = river_model.predict_proba_one(dict(enumerate(v.tolist())))
        ref[i] = [raw.get(c, 0.0) for c in lrn.classes]
    ref = sharpen(ref, lrn.calibration.power)  # the learner shows calibrated probabilities
    assert np.abs(lrn.score_many(X) - ref).max() <= 1e-6
    exported = lrn.export_linear()
    assert exported is not None
    assert exported["kind"] == ("ovr-logistic" if name == "logistic" else "softmax")
    assert exported["coef"].shape == (k, d) and exported["intercept"].shape == (k,)
    np.testing.assert_allclose(exported["scale"] ** 2, exported["var"])


def test_score_many_replicates_ovr_clamp_and_uniform_fallback() -> None:
    lrn = trained("logistic", n=40, k=3)
    ovr = lrn.model[-1]
    ovr.classifiers["c0"].intercept = -100.0  # river's sigmoid gives exactly 0 below -30
    lrn._folded = None  # weights changed behind the learner's back
    X, _ = blobs(20, seed=31)
    ref = np.array([list(lrn.predict_proba(v).values()) for v in X])
    assert (ref[:, lrn.classes.index("c0")] == 0.0).all()
    np.testing.assert_allclose(lrn.score_many(X), ref, atol=1e-6)
    for model in ovr.classifiers.values():
        model.intercept = -100.0  # every sigmoid is 0: river falls back to uniform
    lrn._folded = None
    np.testing.assert_allclose(lrn.score_many(X), 1 / 3, atol=1e-7)
    assert all(p == pytest.approx(1 / 3) for p in lrn.predict_proba(X[0]).values())


def test_core_module_imports_no_qt_or_tensorflow() -> None:
    # (river.stream itself imports scikit-learn opportunistically when it is installed.)
    code = (
        "import sys, gui_app.core.learner; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'tensorflow', 'keras')]; "
        "sys.exit(str(bad) if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_export_linear_reproduces_probabilities() -> None:
    lrn = trained("logistic", n=80, k=4)
    e = lrn.export_linear()
    assert e is not None and e["classes"] == lrn.classes
    X, _ = blobs(30, seed=2)
    safe = np.where(e["scale"] > 0, e["scale"], 1.0)
    xs = np.where(e["scale"] > 0, (X - e["mean"]) / safe, 0.0)
    s = 1.0 / (1.0 + np.exp(-(xs @ e["coef"].T + e["intercept"])))
    s = (s / s.sum(axis=1, keepdims=True)) ** e["power"]
    ref = np.array([list(lrn.predict_proba(v).values()) for v in X])
    np.testing.assert_allclose(s / s.sum(axis=1, keepdims=True), ref, atol=1e-9)
    for name in ("gaussian-nb", "knn", "arf"):
        assert trained(name, n=10).export_linear() is None


# -- progressive accuracy ------------------------------------------------------------------


class ScriptedModel:
    """Stands in for a river pipeline: fixed predictions, records the call order."""

    def __init__(self, predictions: list[dict[str, float]]) -> None:
        self.predictions = list(predictions)
        self.calls: list[str] = []

    def predict_proba_one(self, x: dict) -> dict[str, float]:
        self.calls.append("predict")
        return self.predictions.pop(0)

    def learn_one(self, x: dict, y: str) -> None:
        self.calls.append(f"learn:{y}")


def test_progressive_accuracy_hand_checked_sequence() -> None:
    lrn = OnlineLearner()
    lrn.model = ScriptedModel(
        [
            {"a": 0.7, "b": 0.3},  # 4th event, label a: correct
            {"a": 0.4, "b": 0.6},  # 5th, label b: correct
            {"a": 0.9, "b": 0.1},  # 6th, new label c: wrong, c got 0.0
            {"a": 0.5, "b": 0.5, "c": 0.0},  # 7th, label b: tie goes to first class (a): wrong
            {"a": 0.2, "b": 0.3, "c": 0.5},  # 8th, label c: correct
        ]
    )
    v = np.zeros(4, dtype=np.float32)
    results = [lrn.learn(v, lab) for lab in ["a", "a", "b", "a", "b", "c", "b", "c"]]
    assert results == [None, None, None, 0.7, 0.6, 0.0, 0.5, 0.5]
    calls = lrn.model.calls
    assert calls[:3] == ["learn:a", "learn:a", "learn:b"]
    assert calls[3:] == [step for lab in "abcbc" for step in ("predict", f"learn:{lab}")]
    acc = lrn.progressive
    assert acc.history == [True, True, False, False, True]
    assert (acc.correct, acc.total) == (3, 5)
    assert acc.accuracy == pytest.approx(0.6)
    assert acc.recent(2) == pytest.approx(0.5)
    assert acc.recent(3) == pytest.approx(1 / 3)
    assert lrn.classes == ["a", "b", "c"] and lrn.n_learned == 8


def test_progressive_recent_window() -> None:
    acc = ProgressiveAccuracy()
    assert acc.accuracy is None and acc.recent() is None
    for i in range(60):
        acc.update(i >= 30)  # 30 wrong then 30 right
    assert acc.total == 60 and acc.correct == 30
    assert acc.recent() == pytest.approx(30 / 50)
    assert acc.recent(10) == 1.0
    assert acc.recent(1000) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        acc.recent(0)


def test_learn_returns_probability_before_learning() -> None:
    lrn = trained("logistic", n=40)
    X, y = blobs(10, seed=21)
    for v, lab in zip(X, y, strict=True):
        expected = lrn.predict_proba(v)[lab]
        assert lrn.learn(v, lab) == expected
    assert lrn.progressive.recent(10) is not None


# -- determinism, snapshots, persistence ---------------------------------------------------


@pytest.mark.parametrize("name", LEARNERS)
def test_rebuild_is_deterministic_and_matches_live(name: str) -> None:
    X, y = blobs(50, seed=4)
    probe, _ = blobs(8, seed=99)
    live = OnlineLearner(name)
    live.set_classes(["c2", "c0", "c1", "extra"])
    seen = KeyedVectors()
    for key, (v, lab) in enumerate(zip(X, y, strict=True), start=1):
        teach(live, v, lab, key, seen)  # the one path of every taught event (replays included)
        seen.add(key, v)
        live.predict_proba(probe[0])  # GUI-style predictions in between must not matter
    events = list(zip(y, X, strict=True))
    calls: list[tuple[int, int]] = []
    a = OnlineLearner.rebuild(
        name, events, ["c2", "c0", "c1", "extra"], progress=lambda i, n: calls.append((i, n))
    )
    b = OnlineLearner.rebuild(name, iter(events), ["c2", "c0", "c1", "extra"], total=50)
    assert calls[0] == (1, 50) and calls[-1] == (50, 50) and len(calls) == 50
    for v in probe:
        assert a.predict_proba(v) == b.predict_proba(v) == live.predict_proba(v)
    assert a.classes == live.classes == ["c2", "c0", "c1", "extra"]
    assert a.progressive.history == live.progressive.history


def test_knn_prediction_leaves_search_rng_alone() -> None:
    # Past SWINN's 500-item warm-up, graph searches draw start points from the engine's RNG;
    # predict_proba must not advance it, or replays would diverge from the live learner.
    rng = np.random.default_rng(8)
    lrn = OnlineLearner("knn")
    for i in range(505):
        lrn.learn(rng.normal(0, 1, 4).astype(np.float32), f"c{i % 3}")
    engine_rng = lrn.model[-1]._nn._rng
    state = engine_rng.getstate()
    lrn.predict_proba(rng.normal(0, 1, 4).astype(np.float32))
    assert engine_rng.getstate() == state


@pytest.mark.parametrize("name", LEARNERS)
def test_snapshot_is_independent(name: str) -> None:
    lrn = trained(name, n=30)
    probe, _ = blobs(5, seed=17)
    snap = lrn.snapshot()
    before = [lrn.predict_proba(v) for v in probe]
    X, y = blobs(30, seed=18)
    for v, lab in zip(X, y, strict=True):
        lrn.learn(v, "c0" if lab == "c1" else lab)
    lrn.add_class("other")
    assert [snap.predict_proba(v) for v in probe] == before
    assert snap.n_learned == 30 and "other" not in snap.classes


@pytest.mark.parametrize("name", LEARNERS)
def test_save_load_round_trip(name: str, tmp_path: Path, models) -> None:
    lrn = models[name]
    path = tmp_path / ".loupe" / "model.pkl"
    lrn.save(path)
    loaded = OnlineLearner.load(path, tmp_path / ".loupe")
    X, _ = blobs(10, seed=23)
    for v in X:
        assert loaded.predict_proba(v) == lrn.predict_proba(v)
    np.testing.assert_array_equal(loaded.score_many(X), lrn.score_many(X))
    assert loaded.classes == lrn.classes and loaded.name == name
    assert loaded.progressive.history == lrn.progressive.history
    assert [p.name for p in path.parent.iterdir()] == ["model.pkl"]


def test_save_is_atomic_when_pickling_fails(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "model.pkl"
    trained("logistic", n=10).save(path)
    original = path.read_bytes()

    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(learner_mod.pickle, "dump", explode)
    with pytest.raises(RuntimeError, match="disk on fire"):
        trained("logistic", n=20).save(path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["model.pkl"]
    monkeypatch.undo()
    assert OnlineLearner.load(path, tmp_path).n_learned == 10


def test_load_refuses_paths_outside_project(tmp_path: Path) -> None:
    project = tmp_path / "images" / ".loupe"
    project.mkdir(parents=True)
    outside = tmp_path / "elsewhere" / "model.pkl"
    trained("logistic", n=10).save(outside)
    with pytest.raises(LearnerError, match="outside"):
        OnlineLearner.load(outside, project)
    with pytest.raises(LearnerError, match="outside"):
        OnlineLearner.load(project / ".." / ".." / "elsewhere" / "model.pkl", project)
    link = project / "model.pkl"
    try:
        link.symlink_to(outside)
    except OSError:
        pytest.skip("symlinks not available")
    with pytest.raises(LearnerError, match="outside"):
        OnlineLearner.load(link, project)


@pytest.mark.parametrize(
    "payload",
    [
        b"not a pickle at all \x00\xff",
        b"",
        pickle.dumps({"classes": ["a"]}),
        b"\x80\x05\x95\x10\x00\x00\x00",  # truncated pickle
    ],
)
def test_load_damaged_snapshot(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(payload)
    with pytest.raises(LearnerError, match="model snapshot is damaged"):
        OnlineLearner.load(path, tmp_path)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LearnerError):
        OnlineLearner.load(tmp_path / "nope.pkl", tmp_path)


# -- input validation ----------------------------------------------------------------------


def test_bad_inputs() -> None:
    lrn = trained("logistic", n=20)
    with pytest.raises(LearnerError, match="features"):
        lrn.predict_proba(np.zeros(D + 1, dtype=np.float32))
    with pytest.raises(LearnerError, match="1-D"):
        lrn.learn(np.zeros((2, D), dtype=np.float32), "c0")
    with pytest.raises(LearnerError, match="NaN"):
        lrn.learn(np.full(D, np.nan, dtype=np.float32), "c0")
    with pytest.raises(LearnerError, match="features"):
        lrn.score_many(np.zeros((3, D - 1), dtype=np.float32))
    with pytest.raises(TypeError, match="str"):
        lrn.learn(np.zeros(D, dtype=np.float32), 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        lrn.set_classes(["a", 1])  # type: ignore[list-item]
    assert lrn.n_learned == 20
