"""The litert-int8 engine: choice, store identity, verification, fallback, determinism.

TF-heavy tests use the tiny 32 px backbone of tests/conftest.py; int8 must be "faster" to be
used, which a 32 px model cannot show reliably, so those tests lower ``MIN_SPEEDUP`` (one test
raises it to check the fallback). No test here converts EfficientNet-Lite0.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from gui_app.core import engine_int8, quantize
from gui_app.core.backbones import engine_cache_dir, preprocess, resolve_backbone
from gui_app.core.engine_choice import (
    ENGINE_CHOICES,
    INT8_TAG,
    canonical,
    display_name,
    feature_id,
    planned_precision,
    reader_feature_id,
    split_feature_id,
)
from gui_app.core.extraction import ExtractionCallbacks, run_extraction
from gui_app.core.images import scan_images
from gui_app.core.store import FeatureStore, list_backbone_ids

# --- choice and identity (no TensorFlow) ----------------------------------------------------


def test_choices_and_aliases() -> None:
    assert ENGINE_CHOICES[0] == "auto"
    assert {"litert", "litert-int8", "tensorflow"} <= set(ENGINE_CHOICES)
    assert canonical("tensorflow") == "tf-function" and canonical("litert-int8") == "litert-int8"
    with pytest.raises(ValueError, match='unknown engine "onnx"'):
        canonical("onnx")


def test_display_names() -> None:
    assert display_name("litert-int8") == "LiteRT int8"
    assert display_name("litert-xnnpack") == "LiteRT fp32"
    assert display_name("tf-function") == "TensorFlow"


def test_int8_features_have_their_own_identity_and_fp32_keeps_the_old_one() -> None:
    spec = resolve_backbone("mobilenet_v2", "none")
    assert feature_id(spec, "fp32") == spec.id == "mobilenet_v2|none|224x224"
    int8 = feature_id(spec, "int8")
    assert int8 == f"{spec.id}|{INT8_TAG}" != spec.id
    assert split_feature_id(int8) == (spec.id, "int8")
    assert split_feature_id(spec.id) == (spec.id, "fp32")


def _fake_verdict(spec, folder: Path, verified: bool) -> None:
    """A verdict file as engine_int8 writes it (and the model it vouches for)."""
    model, sidecar = engine_int8.int8_paths(spec, folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = b"not a real flatbuffer"
    model.write_bytes(data)
    meta = {
        "version": 1,
        "recipe": quantize.INT8_RECIPE,
        "id": spec.id,
        "verified": verified,
        "reason": "" if verified else "its features differ from fp32 (mean cosine 0.5 < 0.98)",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest()[:16],
    }
    sidecar.write_text(json.dumps(meta))


def test_planned_precision_follows_choice_verdict_and_existing_features(tmp_path: Path) -> None:
    lite0 = resolve_backbone()  # the built-in default: auto tries int8 for it
    folder = engine_cache_dir(lite0)  # per user (LOUPE_CACHE_DIR of conftest)
    assert folder is not None
    int8_id = feature_id(lite0, "int8")
    model, sidecar = engine_int8.int8_paths(lite0, folder)
    try:
        assert planned_precision(lite0, "auto", None) is None  # nobody converted yet
        assert planned_precision(lite0, "litert", None) == "fp32"
        assert planned_precision(lite0, "tensorflow", None) == "fp32"
        _fake_verdict(lite0, folder, verified=True)
        assert planned_precision(lite0, "auto", None) == "int8"
        assert planned_precision(lite0, "litert-int8", None, [lite0.id]) == "int8"
        # auto keeps a project's fp32 features rather than extract everything again
        assert planned_precision(lite0, "auto", None, [lite0.id]) == "fp32"
        assert planned_precision(lite0, "auto", None, [lite0.id, int8_id]) == "int8"
        assert reader_feature_id(lite0, "auto", None, [int8_id]) == int8_id
        model.write_bytes(b"tampered")  # a damaged model: the verdict no longer counts
        assert planned_precision(lite0, "auto", None) is None
        assert reader_feature_id(lite0, "auto", None, [int8_id]) == int8_id  # the only one
        assert reader_feature_id(lite0, "auto", None, [lite0.id, int8_id]) == lite0.id
        _fake_verdict(lite0, folder, verified=False)
        assert planned_precision(lite0, "auto", None) == "fp32"
        assert planned_precision(lite0, "litert-int8", None) == "fp32"
    finally:
        model.unlink(missing_ok=True)
        sidecar.unlink(missing_ok=True)
    other = resolve_backbone("mobilenet_v2", "none")  # auto: fp32, int8 only when chosen
    assert planned_precision(other, "auto", tmp_path) == "fp32"
    assert planned_precision(other, "litert-int8", tmp_path) is None
    _fake_verdict(other, tmp_path, verified=True)
    assert planned_precision(other, "litert-int8", tmp_path) == "int8"


def test_synthetic_calibration_images_are_deterministic() -> None:
    a = quantize.synthetic_images(3, (40, 48), seed=5)
    assert a.shape == (3, 40, 48, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, quantize.synthetic_images(3, (40, 48), seed=5))
    assert not np.array_equal(a, quantize.synthetic_images(3, (40, 48), seed=6))
    assert a.std() > 20  # not flat: edges, texture and colour to calibrate on


def test_cosine_rows() -> None:
    a = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    b = np.array([[2.0, 0.0], [0.0, 0.0], [1.0, 0.0], [-1.0, -1.0]])
    np.testing.assert_allclose(quantize.cosine_rows(a, b), [1.0, 1.0, 0.0, -1.0])


# --- conversion, verification and extraction (tiny real model) ------------------------------


@pytest.fixture
def fast_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 32 px model is too small to time: accept int8 on fidelity alone."""
    monkeypatch.setattr(engine_int8, "MIN_SPEEDUP", 0.0)


def _create(spec, folder: Path | None, logs: list[str], prefer: str = "litert-int8"):
    from gui_app.core.engines import create_engine

    return create_engine(spec, folder, prefer=prefer, log=logs.append)


@pytest.mark.slow
def test_int8_is_verified_cached_and_deterministic(
    tiny_backbone: Path, class_images: Path, tmp_path: Path, fast_enough: None
) -> None:
    spec = resolve_backbone(str(tiny_backbone))
    logs: list[str] = []
    engine = _create(spec, tmp_path / "a", logs)
    assert (engine.name, engine.precision, engine.feature_dim) == ("litert-int8", "int8", 16)
    assert any("verified" in line and "mean cosine" in line for line in logs), logs
    model_path, sidecar = engine_int8.int8_paths(spec, tmp_path / "a")
    meta = json.loads(sidecar.read_text())
    assert meta["verified"] is True and meta["cosine_mean"] >= engine_int8.MIN_COSINE
    assert meta["recipe"] == quantize.INT8_RECIPE and meta["id"] == spec.id
    assert model_path.read_bytes() == engine.model_bytes()
    assert planned_precision(spec, "litert-int8", tmp_path / "a") == "int8"

    logs.clear()
    again = _create(spec, tmp_path / "a", logs)
    assert again.precision == "int8" and any("cached verified model" in m for m in logs), logs

    # Two conversions from scratch give the same model, and extraction the same vectors.
    other = _create(spec, tmp_path / "b", [])
    assert other.model_bytes() == engine.model_bytes()
    stores = []
    for name, made in (("one", engine), ("two", other)):
        store = tmp_path / f"{name}.h5"
        report = run_extraction(
            class_images, scan_images(class_images), store, tmp_path / name, spec,
            engine="litert-int8", engine_cache={f"{spec.id}|litert-int8": made},
        )  # fmt: skip
        assert report.engine == "litert-int8" and report.extracted == 12
        assert report.backbone_id == feature_id(spec, "int8")
        with FeatureStore(store, report.backbone_id, readonly=True) as features:
            rows = {p: v for ps, vs in features.iter_blocks() for p, v in zip(ps, vs, strict=True)}
        stores.append(rows)
    assert stores[0].keys() == stores[1].keys()
    for path, vector in stores[0].items():
        np.testing.assert_array_equal(vector, stores[1][path])


@pytest.mark.slow
def test_engines_never_share_a_store_group(
    tiny_backbone: Path, class_images: Path, tmp_path: Path, fast_enough: None
) -> None:
    spec = resolve_backbone(str(tiny_backbone))
    store, engines_dir = tmp_path / "features.h5", tmp_path / "engines"
    notes: list[str] = []
    seen: list[str] = []

    def extract(engine: str):
        return run_extraction(
            class_images, scan_images(class_images), store, engines_dir, spec, engine=engine,
            callbacks=ExtractionCallbacks(notice=notes.append, engine_ready=seen.append),
        )  # fmt: skip

    fp32 = extract("litert")
    assert (fp32.backbone_id, fp32.extracted, seen) == (spec.id, 12, ["litert-xnnpack"])
    int8 = extract("litert-int8")
    assert int8.backbone_id == feature_id(spec, "int8") and int8.extracted == 12
    assert seen[-1] == "litert-int8"
    assert any("LiteRT int8 engine: none are cached yet" in n for n in notes), notes
    assert sorted(list_backbone_ids(store)) == sorted([spec.id, feature_id(spec, "int8")])
    again = extract("tensorflow")  # any float32 engine reads the fp32 group
    assert (again.cached, again.extracted, again.backbone_id) == (12, 0, spec.id)
    with (
        FeatureStore(store, spec.id, readonly=True) as a,
        FeatureStore(store, feature_id(spec, "int8"), readonly=True) as b,
    ):
        va, vb = (np.concatenate([v for _, v in s.iter_blocks()]) for s in (a, b))
    assert not np.array_equal(va, vb)
    assert quantize.cosine_rows(va, vb).mean() > 0.9


@pytest.mark.slow
def test_broken_calibration_falls_back_to_fp32(
    tiny_backbone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_enough: None
) -> None:
    spec = resolve_backbone(str(tiny_backbone))
    grey = lambda size: np.full((8, *size, 3), 128, np.uint8)  # noqa: E731
    monkeypatch.setattr(quantize, "calibration_images", grey)
    logs: list[str] = []
    engine = _create(spec, tmp_path, logs)
    assert (engine.name, engine.precision) == ("litert-xnnpack", "fp32")
    assert any(
        "LiteRT int8 not used for" in m and "its features differ from fp32 (mean cosine" in m
        for m in logs
    ), logs
    model_path, sidecar = engine_int8.int8_paths(spec, tmp_path)
    assert json.loads(sidecar.read_text())["verified"] is False and not model_path.exists()
    assert planned_precision(spec, "litert-int8", tmp_path) == "fp32"
    x = preprocess(spec, quantize.held_back_images(spec.input_size))
    assert engine(x).shape == (len(x), 16)

    logs.clear()  # the verdict is remembered: no second conversion
    monkeypatch.setattr(quantize, "convert_int8", pytest.fail)
    assert _create(spec, tmp_path, logs).precision == "fp32"
    assert any("found when it was converted; delete" in m for m in logs), logs


@pytest.mark.slow
def test_not_faster_falls_back_to_fp32(
    tiny_backbone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = resolve_backbone(str(tiny_backbone))
    monkeypatch.setattr(engine_int8, "MIN_SPEEDUP", 1000.0)
    logs: list[str] = []
    assert _create(spec, None, logs).precision == "fp32"
    assert any("it is not faster here" in m and "needs 1000.0x" in m for m in logs), logs


@pytest.mark.slow
def test_export_of_an_int8_project_runs_the_same_int8_backbone(
    tiny_backbone: Path, class_images: Path, tmp_path: Path, fast_enough: None
) -> None:
    from gui_app.core.engines import LiteRTEngine
    from gui_app.core.images import load_rgb_resized
    from gui_app.core.learner import OnlineLearner
    from gui_app.core.model_files import export_model_files

    spec = resolve_backbone(str(tiny_backbone))
    store, engines_dir = tmp_path / "features.h5", tmp_path / "engines"
    report = run_extraction(
        class_images, scan_images(class_images), store, engines_dir, spec, engine="litert-int8"
    )
    assert report.backbone_id == feature_id(spec, "int8")
    learner = OnlineLearner("logistic")
    with FeatureStore(store, report.backbone_id, readonly=True) as features:
        blocks = list(features.iter_blocks())
    paths = [p for ps, _ in blocks for p in ps]
    vectors = np.concatenate([v for _, v in blocks])
    for path, vector in zip(paths, vectors, strict=True):
        learner.learn(vector, path.split(".")[0])

    out = tmp_path / "export"
    written = export_model_files(
        spec, learner, out, feature_id=report.backbone_id, engines_dir=engines_dir
    )
    assert {p.name for p in written} >= {"classifier.keras", "classifier.tflite"}
    lite_meta = json.loads((out / "classifier.tflite.json").read_text())
    keras_meta = json.loads((out / "classifier.keras.json").read_text())
    assert lite_meta["backbone_precision"] == "int8"
    assert (
        keras_meta["backbone_precision"] == "float32"
        and "note" in keras_meta["trained_on_features"]
    )
    for meta in (lite_meta, keras_meta):
        assert meta["trained_on_features"]["engine"] == "litert-int8"
        assert meta["trained_on_features"]["feature_id"] == report.backbone_id
    assert json.loads((out / "portable" / "model.json").read_text())["backbone_id"] == (
        report.backbone_id
    )
    # The exported file reproduces Loupe's probabilities on Loupe's own int8 features.
    classifier = LiteRTEngine(out / "classifier.tflite", num_threads=1)
    x = np.stack([load_rgb_resized(class_images / p, spec.input_size) for p in paths])
    np.testing.assert_allclose(
        classifier(x.astype(np.float32)), learner.score_many(vectors), rtol=0, atol=1e-4
    )
    with pytest.raises(Exception, match="do not come from"):
        export_model_files(resolve_backbone("mobilenet_v2", "none"), learner, out,
                           feature_id=report.backbone_id)  # fmt: skip


@pytest.mark.slow
def test_cli_remembers_the_engine_and_train_export_read_its_features(
    tiny_backbone: Path, class_images: Path, tmp_path: Path, fast_enough: None, capsys
) -> None:
    from gui_app.cli import main
    from gui_app.core.labels import LabelStore

    folder = str(class_images)
    assert main(["extract", folder, "--backbone", str(tiny_backbone), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    spec = resolve_backbone(str(tiny_backbone))
    assert (first["precision"], first["backbone_id"]) == ("fp32", spec.id)
    assert main(["extract", folder, "--engine", "litert-int8", "--json"]) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["engine"] == "litert-int8" and summary["precision"] == "int8"
    assert summary["backbone_id"] == feature_id(spec, "int8") and summary["extracted"] == 12
    assert "engine: litert-int8" in out.err and "none are cached yet" in out.err
    with LabelStore(class_images / ".loupe" / "labels.sqlite") as labels:
        assert labels.get_setting("engine") == "litert-int8"
        for i in range(3):
            labels.set_label(f"cat.{i}.jpg", "cat")
            labels.set_label(f"dog.{i}.jpg", "dog")

    # train and export read the int8 group (the remembered engine), not the fp32 one
    assert main(["export", folder, "--what", "features", "--out", str(tmp_path / "v.npz")]) == 0
    with np.load(tmp_path / "v.npz") as saved:
        assert str(saved["backbone_id"]) == feature_id(spec, "int8")
    assert main(["export", folder, "--what", "model", "--out", str(tmp_path / "m")]) == 0
    meta = json.loads((tmp_path / "m" / "classifier.tflite.json").read_text())
    assert meta["backbone_precision"] == "int8"
    assert meta["trained_on_features"]["feature_id"] == feature_id(spec, "int8")
    capsys.readouterr()
    assert main(["extract", folder, "--engine", "tensorflow", "--json"]) == 0  # fp32 again
    again = json.loads(capsys.readouterr().out)
    assert (again["cached"], again["extracted"], again["precision"]) == (12, 0, "fp32")
