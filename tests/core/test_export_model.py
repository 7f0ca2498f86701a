"""Tests for gui_app.core.export_model (predictions CSV, pickle, Keras, TFLite) and .portable.

The TensorFlow tests (marked slow) prove that the exported Keras and TFLite models, fed raw RGB
images, reproduce ``OnlineLearner.predict_proba`` on the features of the real pipeline.
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gui_app.core.backbones import build_model, preprocess, resolve_backbone
from gui_app.core.export import ExportError
from gui_app.core.export_model import (
    classifier_metadata,
    export_keras,
    export_pickle,
    export_predictions,
    export_tflite,
    metadata_path,
)
from gui_app.core.learner import LearnerError, OnlineLearner
from gui_app.core.portable import PortableModel, export_portable, load_portable
from gui_app.core.store import FeatureStore, FileKey

D = 12
CONSTANT = (0, 4)  # zero-variance columns: river drops them


def blobs(n: int, k: int = 3, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(99).normal(0.0, 2.0, (k, D))
    y = rng.integers(0, k, n)
    X = (centers[y] + rng.normal(0.0, 1.0, (n, D))).astype(np.float32)
    X[:, CONSTANT[0]], X[:, CONSTANT[1]] = 0.0, 2.5
    return X, [f"c{i}" for i in y]


def trained(name: str, n: int = 80, extra: tuple[str, ...] = ()) -> OnlineLearner:
    X, y = blobs(n)
    learner = OnlineLearner(name)
    learner.set_classes([*extra, "c0", "c1", "c2"])
    for vector, label in zip(X, y, strict=True):
        learner.learn(vector, label)
    return learner


def reference(learner: OnlineLearner, X: np.ndarray, classes: list[str]) -> np.ndarray:
    """``learner.predict_proba`` row by row (river's own code path), columns in ``classes``."""
    return np.array([[learner.predict_proba(x)[c] for c in classes] for x in X])


def set_intercepts(learner: OnlineLearner, values: dict[str, float]) -> None:
    """Push OvR logits to river's clamps (|z| > 30) to test the edge cases exactly."""
    for c, v in values.items():
        learner.model[-1].classifiers[c].intercept = v
    learner._folded = None


# --------------------------------------------------------------------------- portable


@pytest.mark.parametrize("name", ["logistic", "softmax"])
def test_portable_matches_learner(name: str, tmp_path: Path) -> None:
    learner = trained(name, extra=("never",))
    X, _ = blobs(50, seed=7)
    X[:5] *= 40.0  # far outside the training data too
    out = export_portable(learner, "bb|abc|32x32", tmp_path / "portable")
    model = load_portable(out)
    assert model.classes == ["c0", "c1", "c2"] and model.kind in ("ovr-logistic", "softmax")
    assert model.meta["unlearned_classes"] == ["never"]
    assert model.backbone_id == "bb|abc|32x32" and model.feature_dim == D
    assert (model.scale[list(CONSTANT)] == 0).all()
    got = model.predict_proba(X)
    assert np.abs(got - reference(learner, X, model.classes)).max() <= 1e-6
    assert np.allclose(got.sum(axis=1), 1.0)
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "weights.npz"]
    with np.load(out / "weights.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["coef", "intercept", "mean", "scale"]
        assert npz["coef"].shape == (3, D) and npz["intercept"].shape == (3,)
    meta = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert meta["kind"] == ("softmax" if name == "softmax" else "ovr-logistic")
    assert meta["feature_dim"] == D and meta["classes"] == model.classes


def test_portable_ovr_clamps_and_uniform_fallback(tmp_path: Path) -> None:
    learner = trained("logistic")
    X, _ = blobs(10, seed=3)
    set_intercepts(learner, dict.fromkeys(["c0", "c1", "c2"], -1e4))  # every sigmoid is 0
    model = load_portable(export_portable(learner, "bb", tmp_path / "a"))
    assert np.allclose(reference(learner, X, model.classes), 1 / 3)
    assert np.abs(model.predict_proba(X) - 1 / 3).max() <= 1e-12
    set_intercepts(learner, {"c0": 1e4, "c1": 1e4, "c2": -1e4})  # clamped to exactly 1, 1, 0
    model = load_portable(export_portable(learner, "bb", tmp_path / "b"))
    assert np.abs(model.predict_proba(X) - [0.5, 0.5, 0.0]).max() <= 1e-12
    assert np.abs(model.predict_proba(X) - reference(learner, X, model.classes)).max() <= 1e-12


def test_portable_needs_a_trained_linear_learner(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"needs a linear learner \(logistic or softmax\)"):
        export_portable(trained("gaussian-nb"), "bb", tmp_path)
    with pytest.raises(ExportError, match="fewer than two classes"):
        export_portable(OnlineLearner("logistic"), "bb", tmp_path)
    with pytest.raises(ExportError, match="needs a linear learner"):
        export_keras(resolve_backbone("mobilenet_v2", "none"), trained("knn"), tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_load_portable_rejects_damaged_files(tmp_path: Path) -> None:
    out = export_portable(trained("softmax"), "bb", tmp_path / "p")
    with np.load(out / "weights.npz") as npz:
        arrays = dict(npz)
    np.savez(out / "weights.npz", **{**arrays, "coef": arrays["coef"][:, :-1]})
    with pytest.raises(ExportError, match="damaged"):
        load_portable(out)
    np.savez(out / "weights.npz", **{**arrays, "coef": np.array([object()] * 3)})
    with pytest.raises(ExportError, match="cannot read"):  # object arrays need pickle: refused
        load_portable(out)
    (out / "model.json").write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(ExportError, match="not a Loupe portable model"):
        load_portable(out)
    with pytest.raises(ExportError, match="cannot read"):
        load_portable(tmp_path / "nothing")


def test_portable_model_input_checks() -> None:
    model = PortableModel(["a", "b"], "softmax", np.zeros(3), np.ones(3), np.zeros((2, 3)),
                          np.zeros(2), "bb", 1.0, {})  # fmt: skip
    assert np.allclose(model.predict_proba(np.ones(3)), 0.5)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        model.predict_proba(np.ones((2, 4)))


# --------------------------------------------------------------------------- predictions + pickle


def test_export_predictions_from_feature_store(tmp_path: Path) -> None:
    learner = trained("logistic", extra=("never",))
    X, _ = blobs(30, seed=5)
    paths = [f"sub/é{i}.jpg" for i in range(len(X))]
    with FeatureStore(tmp_path / "f.h5", "bb", D) as store:
        store.append([FileKey(p, 1, 1) for p in paths[:20]], X[:20])
        store.append([FileKey(p, 1, 1) for p in paths[20:]], X[20:])
        rows = export_predictions(store, learner, tmp_path / "out" / "pred.csv", threshold=0.9)
    assert rows == 30
    with (tmp_path / "out" / "pred.csv").open(newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    assert table[0] == ["path", "predicted", *learner.classes]
    expected = learner.score_many(X)
    for row, probs, path in zip(table[1:], expected, paths, strict=True):
        assert row[0] == path
        assert np.allclose([float(v) for v in row[2:]], probs, atol=1e-6)
        best = learner.classes[int(probs.argmax())]
        assert row[1] == (best if probs.max() >= 0.9 else "unknown")
    assert {r[1] for r in table[1:]} >= {"unknown"}
    assert list((tmp_path / "out").iterdir()) == [tmp_path / "out" / "pred.csv"]


def test_export_predictions_from_blocks_and_untrained(tmp_path: Path) -> None:
    learner = trained("softmax")
    X, _ = blobs(6, seed=2)
    blocks = [(["a", "b"], X[:2]), ([], X[:0]), (["c", "d", "e", "f"], X[2:])]
    assert export_predictions(iter(blocks), learner, tmp_path / "p.csv") == 6
    with pytest.raises(LearnerError, match="fewer than two classes"):
        export_predictions(iter(blocks), OnlineLearner(), tmp_path / "q.csv")
    assert not (tmp_path / "q.csv").exists()


def test_export_pickle_round_trip(tmp_path: Path) -> None:
    learner = trained("softmax")
    out = export_pickle(learner, tmp_path / "exported" / "model.pkl")
    loaded = OnlineLearner.load(out, tmp_path / "exported")
    X, _ = blobs(5, seed=1)
    assert np.array_equal(loaded.score_many(X), learner.score_many(X))


# --------------------------------------------------------------------------- Keras + TFLite (slow)


def tflite_predict(path: Path, batch: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(inp["index"], list(batch.shape), strict=True)
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], batch)
    interp.invoke()
    return interp.get_tensor(out["index"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["logistic", "softmax"])
def test_keras_and_tflite_reproduce_the_learner_from_raw_rgb(
    name: str, tiny_backbone: Path, tmp_path: Path
) -> None:
    import keras

    from gui_app.core.images import load_rgb_resized
    from tests.conftest import write_class_images

    spec = resolve_backbone(str(tiny_backbone))
    files = write_class_images(tmp_path / "img", per_class=4, classes=("cat", "dog", "bird"))
    raw = np.stack([load_rgb_resized(p, spec.input_size) for p in files]).astype(np.float32)
    features = np.asarray(build_model(spec)(preprocess(spec, raw)))  # the extraction pipeline
    learner = OnlineLearner(name)
    learner.set_classes(["cat", "dog", "bird", "unlearned"])
    for path, vector in zip(files, features, strict=True):
        learner.learn(vector, path.name.split(".")[0])
    classes = ["cat", "dog", "bird"]
    expected = reference(learner, features, classes)

    saved = export_keras(spec, learner, tmp_path / "out" / "model")  # suffix added
    assert saved.name == "model.keras"
    with zipfile.ZipFile(saved) as zf:
        assert "Lambda" not in zf.read("config.json").decode()
    meta = json.loads(metadata_path(saved).read_text(encoding="utf-8"))
    assert meta == classifier_metadata(spec, learner) and meta["classes"] == classes
    model = keras.saving.load_model(str(saved))  # safe_mode: standard layers only
    assert np.abs(np.asarray(model(raw)) - expected).max() <= 1e-4

    lite = export_tflite(saved, tmp_path / "out" / "model.tflite")
    assert json.loads(metadata_path(lite).read_text(encoding="utf-8")) == meta
    assert np.abs(tflite_predict(lite, raw) - expected).max() <= 1e-3


@pytest.mark.slow
def test_keras_head_handles_ovr_clamps_like_river() -> None:
    import keras

    from gui_app.core.export_model import probability_head

    learner = trained("logistic")
    X, _ = blobs(8, seed=4)
    inp = keras.Input((D,))
    for intercepts in ({"c0": -1e4, "c1": -1e4, "c2": -1e4}, {"c0": 1e4, "c1": 0.0, "c2": -1e4},
                       {"c0": -1e4, "c1": 0.0, "c2": 0.0}):  # fmt: skip
        set_intercepts(learner, intercepts)
        model = keras.Model(inp, probability_head(inp, learner.export_linear()))
        got = np.asarray(model(X))
        assert np.abs(got - reference(learner, X, ["c0", "c1", "c2"])).max() <= 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["mobilenet_v2", "resnet50", "efficientnet_b0"])
def test_preprocessing_layers_match_preprocess(backbone: str) -> None:
    import keras

    from gui_app.core.export_model import preprocessing_block

    spec = resolve_backbone(backbone, "none")  # nothing is built or downloaded
    inp = keras.Input((5, 7, 3))
    model = keras.Model(inp, preprocessing_block(spec, inp))
    raw = np.random.default_rng(0).uniform(0, 255, (2, 5, 7, 3)).astype(np.float32)
    raw[0, 0, 0] = [0.0, 127.5, 255.0]
    assert np.abs(np.asarray(model(raw)) - preprocess(spec, raw)).max() <= 1e-5


@pytest.mark.slow
def test_keras_export_refuses_features_of_another_size(tiny_backbone: Path, tmp_path: Path) -> None:
    learner = trained("logistic")  # trained on D = 12 features, the backbone gives 16
    with pytest.raises(ExportError, match="outputs 16 features but the model was trained on 12"):
        export_keras(resolve_backbone(str(tiny_backbone)), learner, tmp_path / "m.keras")
    assert not any(tmp_path.iterdir())
