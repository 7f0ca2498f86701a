"""Calibration of the shown probabilities from the learner's own pre-learn predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gui_app.core import calibration
from gui_app.core.calibration import PowerCalibration, fit_power, sharpen
from gui_app.core.learner import OnlineLearner
from gui_app.core.portable import export_portable, load_portable
from gui_app.core.teaching import KeyedVectors, teach


def _flattened_predictions(n: int, power: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from true probabilities, and those probabilities flattened by 1/power."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.5, (n, 5))
    true = np.exp(logits - logits.max(axis=1, keepdims=True))
    true /= true.sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(5, p=row) for row in true])
    return sharpen(true, 1.0 / power), labels


def test_fit_recovers_the_power_that_undoes_flattening() -> None:
    flat, labels = _flattened_predictions(4000, power=4.0)
    fitted = fit_power(np.log(flat), labels)
    assert fitted == pytest.approx(4.0, rel=0.1)
    sharp, _ = _flattened_predictions(4000, power=0.5, seed=1)  # over-confident
    assert fit_power(np.log(sharp), _flattened_predictions(4000, 0.5, seed=1)[1]) < 0.6


def test_sharpen_keeps_ranking_zeros_and_sums() -> None:
    probs = np.array([[0.5, 0.3, 0.2, 0.0], [0.25, 0.25, 0.25, 0.25], [0, 0, 0, 0]], np.float32)
    out = sharpen(probs, 3.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.argmax(axis=1)[:1], [0])
    np.testing.assert_allclose(out[:2].sum(axis=1), 1.0, atol=1e-6)
    assert out[0, 3] == 0.0 and (out[2] == 0.0).all()
    np.testing.assert_allclose(out[0, :3], np.array([125, 27, 8]) / 160, rtol=1e-6)
    np.testing.assert_allclose(out[1], 0.25)
    np.testing.assert_array_equal(sharpen(probs, 1.0), probs)


def test_power_is_fitted_only_with_enough_records_and_on_a_fixed_cadence() -> None:
    cal = PowerCalibration()
    flat, labels = _flattened_predictions(200, power=5.0, seed=3)
    powers = []
    for row, label in zip(flat, labels, strict=True):
        cal.record(row, int(label))
        powers.append(cal.power)
    first = calibration.MIN_RECORDS - 1
    assert set(powers[:first]) == {1.0}  # too few to say anything
    assert powers[first] != 1.0 and cal.power > 2.0
    changes = [i for i in range(1, len(powers)) if powers[i] != powers[i - 1]]
    assert all((i - first) % calibration.REFIT_EVERY == 0 for i in changes)
    again = PowerCalibration()
    for row, label in zip(flat, labels, strict=True):
        again.record(row, int(label))
    assert again.power == cal.power  # a journal replay gives the same calibration


def _blobs(n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(7).normal(0.0, 1.0, (6, 32))
    y = rng.integers(0, 6, n)
    return (centers[y] + rng.normal(0.0, 1.0, (n, 32))).astype(np.float32), [f"c{i}" for i in y]


def test_shown_probabilities_match_how_often_the_model_is_right() -> None:
    learner = OnlineLearner("logistic")
    X, y = _blobs(600, seed=0)
    for vector, label in zip(X, y, strict=True):
        learner.learn(vector, label)
    test_X, test_y = _blobs(2000, seed=1)
    shown = learner.score_many(test_X)
    raw = sharpen(shown, 1.0 / learner.calibration.power)
    right = np.array(learner.classes)[shown.argmax(axis=1)] == np.array(test_y)
    accuracy = right.mean()
    assert learner.calibration.power > 1.5  # the online logistic model is under-confident
    raw_gap = abs(raw.max(axis=1).mean() - accuracy)
    shown_gap = abs(shown.max(axis=1).mean() - accuracy)
    assert shown_gap < raw_gap / 2 and shown_gap < 0.08
    single = learner.predict_proba(test_X[0])
    np.testing.assert_allclose(list(single.values()), shown[0], atol=1e-6)


def test_exports_apply_the_power(tmp_path: Path) -> None:
    import keras

    from gui_app.core.export_model import probability_head

    learner = OnlineLearner("logistic")
    X, y = _blobs(300, seed=2)
    for vector, label in zip(X, y, strict=True):
        learner.learn(vector, label)
    params = learner.export_linear()
    assert params is not None and params["power"] == learner.calibration.power != 1.0
    test_X, _ = _blobs(50, seed=3)
    expected = learner.score_many(test_X)
    portable = load_portable(export_portable(learner, "bb", tmp_path / "p"))
    assert portable.power == params["power"]
    assert np.abs(portable.predict_proba(test_X) - expected).max() <= 1e-6
    inp = keras.Input((32,))
    head = keras.Model(inp, probability_head(inp, params))
    assert np.abs(np.asarray(head(test_X)) - expected).max() <= 1e-5


def test_a_replay_with_every_class_declared_calibrates_exactly_as_live() -> None:
    X, y = _blobs(200, seed=4)
    live, seen = OnlineLearner("logistic"), KeyedVectors()
    for key, (vector, label) in enumerate(zip(X, y, strict=True), start=1):
        teach(live, vector, label, key, seen)  # classes appear as they are first labelled
        seen.add(key, vector)
    replay = OnlineLearner.rebuild("logistic", list(zip(y, X, strict=True)), sorted(set(y)))
    assert live.calibration.power != 1.0
    assert replay.calibration.power == live.calibration.power
    test_X, _ = _blobs(20, seed=5)
    for v in test_X:
        a, b = live.predict_proba(v), replay.predict_proba(v)
        assert max(abs(a[c] - b[c]) for c in a) <= 1e-12
