"""Tests for gui_app.core.engines on tiny 32 px Keras models (TF tests marked slow)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from gui_app.core import engines
from gui_app.core.backbones import BackboneSpec, build_model, preprocess, resolve_backbone
from gui_app.core.engines import cache_paths, create_engine


def _tiny_keras(path: Path, seed: int = 0) -> Path:
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inp)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.DepthwiseConv2D(3, activation="relu6")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(12)(x)
    keras.Model(inp, x).save(str(path))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[BackboneSpec, object]:
    path = _tiny_keras(tmp_path_factory.mktemp("models") / "tiny.keras")
    spec = resolve_backbone(str(path))
    return spec, build_model(spec)


def _batch(spec: BackboneSpec, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return preprocess(spec, rng.integers(0, 256, (n, *spec.input_size, 3), dtype=np.uint8))


def _reference(model: object, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x, training=False))  # type: ignore[operator]


def test_unknown_engine_choice() -> None:
    with pytest.raises(ValueError, match='unknown engine "onnx"'):
        create_engine(resolve_backbone(), None, prefer="onnx")


def test_cache_paths_are_sanitised(tmp_path: Path) -> None:
    tflite, sidecar = cache_paths(resolve_backbone("mobilenet_v2", "none"), tmp_path)
    assert tflite == tmp_path / "mobilenet_v2_none_224x224.tflite"
    assert sidecar == tmp_path / "mobilenet_v2_none_224x224.json"


def test_builtin_lite0_engines_are_cached_per_user(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gui_app.core import lite0

    monkeypatch.setenv(lite0.CACHE_ENV, str(tmp_path / "user"))
    folders: list[Path | None] = []

    def litert(spec: BackboneSpec, cache_dir: Path | None, *_: object) -> str:
        folders.append(cache_dir)
        return "engine"

    monkeypatch.setattr(engines, "_litert_engine", litert)
    project = tmp_path / "project" / ".loupe" / "engines"
    assert create_engine(resolve_backbone(), project, prefer="litert") == "engine"
    create_engine(resolve_backbone("efficientnet_lite0", "none"), project, prefer="litert")
    create_engine(resolve_backbone("mobilenet_v2", "none"), None, prefer="litert")
    assert folders == [lite0.cache_folder(), project, None]
    assert folders[0].parent == tmp_path / "user" / "backbones"


@pytest.mark.slow
def test_litert_matches_keras_and_is_cached(tiny, tmp_path: Path) -> None:
    spec, model = tiny
    logs: list[str] = []
    engine = create_engine(spec, tmp_path, prefer="litert", log=logs.append)
    assert engine.name == "litert-xnnpack" and engine.feature_dim == 12
    assert any("converted" in line for line in logs), logs
    for n in (3, 5, 1, 5):
        x = _batch(spec, n, seed=n)
        out = engine(x)
        assert out.shape == (n, 12) and out.dtype == np.float32
        np.testing.assert_allclose(out, _reference(model, x), rtol=0, atol=1e-4)
    assert engine(np.zeros((0, 32, 32, 3), np.float32)).shape == (0, 12)
    with pytest.raises(ValueError, match=r"expected a batch of shape \(N, 32, 32, 3\)"):
        engine(np.zeros((2, 16, 16, 3), np.float32))

    tflite, sidecar = cache_paths(spec, tmp_path)
    meta = json.loads(sidecar.read_text())
    assert meta["verified"] is True and meta["id"] == spec.id
    assert not list(tmp_path.glob("*.tmp"))
    mtime = tflite.stat().st_mtime_ns
    logs.clear()
    again = create_engine(spec, tmp_path, prefer="litert", log=logs.append)
    assert tflite.stat().st_mtime_ns == mtime
    assert len(logs) == 1 and "using cached verified model" in logs[0], logs
    x = _batch(spec, 4)
    np.testing.assert_allclose(again(x), engine(x), rtol=0, atol=1e-6)


@pytest.mark.slow
def test_cache_is_not_trusted_when_tampered(tiny, tmp_path: Path) -> None:
    spec, model = tiny
    create_engine(spec, tmp_path, prefer="litert", log=lambda _: None)
    tflite, _ = cache_paths(spec, tmp_path)
    tflite.write_bytes(tflite.read_bytes() + b"\0")
    logs: list[str] = []
    engine = create_engine(spec, tmp_path, prefer="litert", log=logs.append)
    assert engine.name == "litert-xnnpack" and any("converted" in line for line in logs)
    x = _batch(spec, 2)
    np.testing.assert_allclose(engine(x), _reference(model, x), rtol=0, atol=1e-4)


@pytest.mark.slow
def test_no_cache_dir(tiny) -> None:
    spec, model = tiny
    engine = create_engine(spec, None, prefer="litert", log=lambda _: None)
    x = _batch(spec, 3)
    np.testing.assert_allclose(engine(x), _reference(model, x), rtol=0, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("prefer", ["tf-function", "keras"])
def test_forced_keras_engines_match(tiny, prefer: str) -> None:
    spec, model = tiny
    engine = create_engine(spec, None, prefer=prefer)
    assert engine.name == {"tf-function": "tf-function", "keras": "keras-eager"}[prefer]
    for n in (3, 5, 1):
        x = _batch(spec, n, seed=n)
        np.testing.assert_allclose(engine(x), _reference(model, x), rtol=0, atol=1e-5)


@pytest.mark.slow
def test_auto_picks_by_device(tiny, tmp_path: Path) -> None:
    spec, _ = tiny
    engine = create_engine(spec, tmp_path, log=lambda _: None)
    expected = "tf-function" if engines._gpu_visible() else "litert-xnnpack"
    assert engine.name == expected


@pytest.mark.slow
def test_fallback_when_litert_missing(tiny, tmp_path: Path, monkeypatch) -> None:
    spec, model = tiny
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    logs: list[str] = []
    engine = create_engine(spec, tmp_path, prefer="litert", log=logs.append)
    assert engine.name == "tf-function"
    assert len(logs) == 1 and "ai_edge_litert is not importable" in logs[0], logs
    assert not list(tmp_path.iterdir())
    x = _batch(spec, 2)
    np.testing.assert_allclose(engine(x), _reference(model, x), rtol=0, atol=1e-5)


@pytest.mark.slow
def test_fallback_when_verification_fails(tiny, tmp_path: Path, monkeypatch) -> None:
    spec, _ = tiny
    other = build_model(resolve_backbone(str(_tiny_keras(tmp_path / "other.keras", seed=7))))
    real_convert = engines.convert_to_tflite
    monkeypatch.setattr(engines, "convert_to_tflite", lambda m, size: real_convert(other, size))
    logs: list[str] = []
    cache = tmp_path / "cache"
    engine = create_engine(spec, cache, prefer="litert", log=logs.append)
    assert engine.name == "tf-function"
    assert logs[0] == f"LiteRT: converting {spec.label} once (cached in {cache}) ...", logs
    assert len(logs) == 2 and "verification failed: max abs diff" in logs[1], logs
    assert not cache.exists() or not list(cache.iterdir())


@pytest.mark.slow
def test_fallback_when_conversion_fails(tiny, tmp_path: Path, monkeypatch) -> None:
    spec, _ = tiny

    def broken(model: object, size: tuple[int, int]) -> bytes:
        raise RuntimeError("unsupported op FancyOp")

    monkeypatch.setattr(engines, "convert_to_tflite", broken)
    logs: list[str] = []
    engine = create_engine(spec, tmp_path, prefer="auto", log=logs.append)
    assert engine.name == "tf-function"
    if not engines._gpu_visible():
        assert logs == [
            f"LiteRT: converting {spec.label} once (cached in {tmp_path}) ...",
            "LiteRT engine unavailable, using tf-function: "
            "conversion failed: RuntimeError: unsupported op FancyOp",
        ]


@pytest.mark.slow
def test_non_tensorflow_backend_uses_keras_engine(tiny, monkeypatch) -> None:
    spec, model = tiny
    monkeypatch.setenv("KERAS_BACKEND", "jax")  # only the engine choice reads it here
    logs: list[str] = []
    engine = create_engine(spec, None, prefer="litert", log=logs.append)
    assert engine.name == "keras-eager" and "needs KERAS_BACKEND=tensorflow" in logs[0]
    x = _batch(spec, 2)
    np.testing.assert_allclose(engine(x), _reference(model, x), rtol=0, atol=1e-5)


def test_auto_engine_from_a_verified_cache_imports_no_tensorflow(tiny_backbone, tmp_path):
    """Importing TensorFlow holds the GIL for long stretches (the window froze while the
    feature thread only asked it whether there was a GPU): a cached engine needs none."""
    import subprocess

    cache = tmp_path / "engines"
    create_engine(resolve_backbone(str(tiny_backbone)), cache, "litert", log=lambda m: None)
    code = (
        "import sys\n"
        "from gui_app.core.backbones import resolve_backbone\n"
        "from gui_app.core.engines import create_engine\n"
        f"spec = resolve_backbone({str(tiny_backbone)!r})\n"
        f"engine = create_engine(spec, __import__('pathlib').Path({str(cache)!r}), 'auto',\n"
        "                       log=lambda m: None)\n"
        "print(engine.name, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    if engines.gpu_possible():
        pytest.skip("a GPU may be present: auto asks TensorFlow")
    assert out == ["litert-xnnpack", "False", "False"]
