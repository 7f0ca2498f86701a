"""Tests for gui_app.core.backbones (TF-free parts fast; real Keras models marked slow)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gui_app.core.backbones import (
    BACKBONE_NAMES,
    DEFAULT_BACKBONE,
    BackboneError,
    BackboneSpec,
    build_model,
    describe_device,
    keras_backend,
    preprocess,
    resolve_backbone,
)

REPO = Path(__file__).resolve().parents[2]


# --- hand-written .keras configs (no TF needed) ---------------------------------------------


def _tensor(shape: list, source: str) -> dict:
    return {
        "class_name": "__keras_tensor__",
        "config": {"shape": shape, "keras_history": [source, 0, 0]},
    }


def _layer(kind: str, name: str, in_shape: list | None, source: str, **config: object) -> dict:
    nodes = [] if in_shape is None else [{"args": [_tensor(in_shape, source)], "kwargs": {}}]
    return {
        "class_name": kind,
        "name": name,
        "config": {"name": name, **config},
        "inbound_nodes": nodes,
    }


def _functional(layers: list[dict], inputs: list, outputs: list) -> dict:
    cfg = {"name": "f", "layers": layers, "input_layers": inputs, "output_layers": outputs}
    return {"class_name": "Functional", "config": cfg, "build_config": {"input_shape": None}}


def _input(name: str = "img", shape: tuple = (None, 32, 32, 3)) -> dict:
    return {
        "class_name": "InputLayer",
        "name": name,
        "config": {"batch_shape": list(shape)},
        "inbound_nodes": [],
    }


def _write_keras(path: Path, config: dict) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("metadata.json", "{}")
    return path


def _conv_pool_dense(units: int = 16) -> dict:
    return _functional(
        [
            _input(),
            _layer("Conv2D", "conv", [None, 32, 32, 3], "img", filters=8),
            _layer("GlobalAveragePooling2D", "gap", [None, 30, 30, 8], "conv"),
            _layer("Dense", "dense", [None, 8], "gap", units=units),
            _layer("Activation", "act", [None, units], "dense", activation="relu"),
        ],
        ["img", 0, 0],
        ["act", 0, 0],
    )


def test_registry_specs_and_ids() -> None:
    assert DEFAULT_BACKBONE == "efficientnet_lite0" == BACKBONE_NAMES[0]
    dims = {
        "efficientnet_lite0": 1280,
        "mobilenet_v2": 1280,
        "efficientnet_b0": 1280,
        "resnet50": 2048,
        "vgg16": 512,
    }
    for name in BACKBONE_NAMES:
        spec = resolve_backbone(name)
        assert (spec.name, spec.weights, spec.fingerprint) == (name, "imagenet", "imagenet")
        assert spec.input_size == (224, 224) and spec.feature_dim == dims[name]
        assert spec.model_path is None and spec.id == f"{name}|imagenet|224x224"
    spec = resolve_backbone()
    assert spec.label == "EfficientNet-Lite0 (ImageNet weights, 224 px)"
    assert spec.id == "efficientnet_lite0|imagenet|224x224"
    assert resolve_backbone("EfficientNet-Lite0").id == spec.id
    assert resolve_backbone("VGG16", "none").label == "VGG16 (random weights, 224 px)"
    assert resolve_backbone("MobileNet-V2", "None").id == "mobilenet_v2|none|224x224"
    assert resolve_backbone("mobilenet_v2", "none").label == "MobileNetV2 (random weights, 224 px)"


def test_ids_differ_by_weights_fingerprint_and_size(tmp_path: Path) -> None:
    w1, w2 = tmp_path / "a.weights.h5", tmp_path / "b.h5"
    w1.write_bytes(b"one")
    w2.write_bytes(b"two")
    specs = [
        resolve_backbone("resnet50"),
        resolve_backbone("resnet50", "none"),
        resolve_backbone("resnet50", str(w1)),
        resolve_backbone("resnet50", str(w2)),
        dataclasses.replace(resolve_backbone("resnet50"), input_size=(96, 96)),
        resolve_backbone("efficientnet_b0"),
    ]
    assert len({s.id for s in specs}) == len(specs)
    spec = specs[2]
    assert spec.weights == str(w1.resolve()) and len(spec.fingerprint) == 16
    assert spec.label == "ResNet50 (weights from a.weights.h5, 224 px)"
    assert spec.id == f"resnet50|{spec.fingerprint}|224x224"
    w1.write_bytes(b"changed")
    assert resolve_backbone("resnet50", str(w1)).id != spec.id


def test_resolve_errors(tmp_path: Path) -> None:
    with pytest.raises(
        BackboneError,
        match=r'unknown backbone "vgg19" \(choose efficientnet_lite0, mobilenet_v2, '
        r"efficientnet_b0, resnet50, vgg16 or a \.keras file\)",
    ):
        resolve_backbone("vgg19")
    with pytest.raises(BackboneError, match="weights file not found: "):
        resolve_backbone("mobilenet_v2", str(tmp_path / "missing.weights.h5"))
    (tmp_path / "w.pt").write_bytes(b"x")
    with pytest.raises(BackboneError, match=r"\.weights\.h5 or keras-applications \.h5 file: "):
        resolve_backbone("mobilenet_v2", str(tmp_path / "w.pt"))
    (tmp_path / "w.pth").write_bytes(b"x")
    with pytest.raises(BackboneError, match=r"keras-applications \.h5 file: "):
        resolve_backbone("mobilenet_v2", str(tmp_path / "w.pth"))
    with pytest.raises(BackboneError, match=r"\.h5 file or a PyTorch \.pth checkpoint: "):
        resolve_backbone("efficientnet_lite0", str(tmp_path / "w.pt"))
    lite = resolve_backbone("efficientnet_lite0", str(tmp_path / "w.pth"))
    assert lite.label == "EfficientNet-Lite0 (weights from w.pth, 224 px)"
    assert (
        lite.id == f"efficientnet_lite0|{lite.fingerprint}|224x224" and len(lite.fingerprint) == 16
    )
    with pytest.raises(BackboneError, match="model file not found"):
        resolve_backbone(str(tmp_path / "nope.keras"))
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(BackboneError, match=r"not a Keras 3 \.keras file"):
        resolve_backbone(str(tmp_path / "junk.keras"))
    good = _write_keras(tmp_path / "good.keras", _conv_pool_dense())
    with pytest.raises(BackboneError, match="carries its own weights"):
        resolve_backbone(str(good), "none")


def test_keras_config_parsing(tmp_path: Path) -> None:
    path = _write_keras(tmp_path / "cifar8_backbone.keras", _conv_pool_dense(24))
    spec = resolve_backbone(str(path))
    assert spec.name == "file:cifar8_backbone" and spec.weights == "file"
    assert spec.input_size == (32, 32) and spec.feature_dim == 24
    assert spec.model_path == str(path.resolve())
    assert spec.id == f"file:cifar8_backbone|{spec.fingerprint}|32x32"
    assert spec.label == "cifar8_backbone.keras (custom model, 32 px)"
    assert resolve_backbone(str(path), "file") == spec
    _write_keras(path, _conv_pool_dense(12))
    assert resolve_backbone(str(path)).id != spec.id

    seq = {
        "class_name": "Sequential",
        "config": {
            "layers": [
                _input(shape=(None, 48, 40, 3)),
                {
                    "class_name": "Conv2D",
                    "config": {"filters": 4},
                    "build_config": {"input_shape": [None, 48, 40, 3]},
                },
                {
                    "class_name": "GlobalMaxPooling2D",
                    "config": {},
                    "build_config": {"input_shape": [None, 46, 38, 4]},
                },
            ]
        },
    }
    spec = resolve_backbone(str(_write_keras(tmp_path / "seq.keras", seq)))
    assert spec.input_size == (48, 40) and spec.feature_dim == 4
    assert spec.label == "seq.keras (custom model, 48x40 px)"

    nested = _functional(
        [
            _input(),
            {
                **seq,
                "name": "inner",
                "inbound_nodes": [{"args": [_tensor([None, 32, 32, 3], "img")]}],
            },
        ],
        ["img", 0, 0],
        ["inner", 0, 0],
    )
    assert resolve_backbone(str(_write_keras(tmp_path / "n.keras", nested))).feature_dim == 4

    unknown = _functional(
        [_input(), _layer("MyLayer", "mine", [None, 32, 32, 3], "img")],
        ["img", 0, 0],
        ["mine", 0, 0],
    )
    assert resolve_backbone(str(_write_keras(tmp_path / "u.keras", unknown))).feature_dim == 0


def test_bad_keras_configs(tmp_path: Path) -> None:
    base = _conv_pool_dense()
    two_out = dict(base, config=dict(base["config"], output_layers=[["act", 0, 0], ["gap", 0, 0]]))
    with pytest.raises(BackboneError, match="has 2 outputs; a backbone must output one vector"):
        resolve_backbone(str(_write_keras(tmp_path / "two.keras", two_out)))
    four_d = dict(base, config=dict(base["config"], output_layers=["conv", 0, 0]))
    conv_as_out = _functional(
        [_input(), _layer("BatchNormalization", "bn", [None, 32, 32, 3], "img")],
        ["img", 0, 0],
        ["bn", 0, 0],
    )
    with pytest.raises(BackboneError, match=r"outputs shape \(None, 32, 32, 3\)"):
        resolve_backbone(str(_write_keras(tmp_path / "bn.keras", conv_as_out)))
    with pytest.raises(BackboneError, match=r"outputs shape \(None, None, None, 8\)"):
        resolve_backbone(str(_write_keras(tmp_path / "c.keras", four_d)))
    gray = _functional(
        [_input(shape=(None, 32, 32, 1)), _layer("Flatten", "f", [None, 32, 32, 1], "img")],
        ["img", 0, 0],
        ["f", 0, 0],
    )
    with pytest.raises(BackboneError, match=r"expects input \(None, 32, 32, 1\)"):
        resolve_backbone(str(_write_keras(tmp_path / "gray.keras", gray)))
    two_in = dict(base, config=dict(base["config"], input_layers=[["img", 0, 0], ["img2", 0, 0]]))
    with pytest.raises(BackboneError, match="has 2 inputs"):
        resolve_backbone(str(_write_keras(tmp_path / "twoin.keras", two_in)))


def test_import_and_resolve_do_not_import_tensorflow(tmp_path: Path) -> None:
    path = _write_keras(tmp_path / "m.keras", _conv_pool_dense())
    code = (
        "import sys\n"
        "from gui_app.core import backbones, engines\n"
        f"spec = backbones.resolve_backbone({str(path)!r})\n"
        "backbones.resolve_backbone('resnet50', 'none')\n"
        "import numpy as np\n"
        "backbones.preprocess(spec, np.zeros((1, 32, 32, 3), np.uint8))\n"
        "bad = [m for m in ('tensorflow', 'keras', 'ai_edge_litert') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print(spec.id)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("file:m|")


def test_preprocess_formulas_without_keras() -> None:
    batch = np.array([[[[0, 127, 255]]]], dtype=np.uint8)
    mobilenet = preprocess(resolve_backbone("mobilenet_v2"), batch)
    assert mobilenet.dtype == np.float32
    np.testing.assert_allclose(mobilenet[0, 0, 0], [-1.0, 127 / 127.5 - 1, 1.0], rtol=1e-6)
    resnet = preprocess(resolve_backbone("resnet50"), batch)
    np.testing.assert_allclose(
        resnet[0, 0, 0], [255 - 103.939, 127 - 116.779, 0 - 123.68], rtol=1e-6
    )
    vgg = preprocess(resolve_backbone("vgg16"), batch)
    np.testing.assert_array_equal(vgg, resnet)
    for name in ("efficientnet_b0", "efficientnet_lite0"):  # Lite0 scales inside its model
        effnet = preprocess(resolve_backbone(name), batch)
        assert effnet.dtype == np.float32 and np.array_equal(effnet, batch.astype(np.float32))
    floats = batch.astype(np.float32)
    preprocess(resolve_backbone("mobilenet_v2"), floats)
    assert np.array_equal(floats, batch.astype(np.float32)), "input must not be modified"
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        preprocess(resolve_backbone(), np.zeros((2, 8, 8), np.uint8))


def test_keras_backend_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert keras_backend() == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert keras_backend() == "jax"


# --- real Keras (slow) ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in BACKBONE_NAMES if n != "efficientnet_lite0"])
def test_preprocess_equals_keras(name: str) -> None:
    import keras

    module = getattr(keras.applications, {"efficientnet_b0": "efficientnet"}.get(name, name))
    spec = resolve_backbone(name, "none")
    rng = np.random.default_rng(0)
    for batch in (
        rng.integers(0, 256, (2, 5, 4, 3), dtype=np.uint8),
        rng.uniform(0, 255, (2, 5, 4, 3)).astype(np.float32),
    ):
        ours = preprocess(spec, batch)
        ref = np.asarray(module.preprocess_input(np.array(batch, dtype=np.float32)))
        assert ours.dtype == np.float32 and ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_describe_device() -> None:
    text = describe_device()
    assert text.startswith("GPU: ") or (text.startswith("CPU (") and text.endswith(" cores)"))


@pytest.mark.slow
def test_mobilenet_v2_224_untrained_outputs_1280() -> None:
    spec = resolve_backbone("mobilenet_v2", "none")
    model = build_model(spec)
    assert tuple(model.inputs[0].shape) == (None, 224, 224, 3)
    assert tuple(model.outputs[0].shape) == (None, 1280)


@pytest.mark.slow
def test_vgg16_and_lite0_architectures_without_downloads(tmp_path: Path) -> None:
    vgg = build_model(_small(resolve_backbone("vgg16", "none")))
    assert tuple(vgg.outputs[0].shape) == (None, 512)
    lite = _small(resolve_backbone("efficientnet_lite0", "none"))
    model, again = build_model(lite), build_model(lite)
    assert tuple(model.inputs[0].shape) == (None, 32, 32, 3)
    assert tuple(model.outputs[0].shape) == (None, 1280)
    assert all(
        np.array_equal(a, b) for a, b in zip(model.get_weights(), again.get_weights(), strict=True)
    )  # 'none' is a seeded, reproducible init
    x = preprocess(lite, np.full((1, 32, 32, 3), 127, np.uint8))
    assert np.isfinite(np.asarray(model(x))).all()
    path = tmp_path / "lite.weights.h5"
    model.set_weights([w + 0.01 for w in model.get_weights()])
    model.save_weights(str(path))
    loaded = build_model(_small(resolve_backbone("efficientnet_lite0", str(path))))
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=0, atol=1e-6)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(BackboneError, match=r"cannot build EfficientNet-Lite0 .*junk\.pth: not a"):
        build_model(resolve_backbone("efficientnet_lite0", str(junk)))


def _small(spec: BackboneSpec) -> BackboneSpec:
    return dataclasses.replace(spec, input_size=(32, 32))


@pytest.mark.slow
def test_local_weights_round_trip(tmp_path: Path) -> None:
    source = build_model(_small(resolve_backbone("mobilenet_v2", "none")))
    again = build_model(_small(resolve_backbone("mobilenet_v2", "none")))
    assert all(
        np.array_equal(a, b) for a, b in zip(source.get_weights(), again.get_weights(), strict=True)
    )
    weights = [w + 0.01 * i for i, w in enumerate(source.get_weights())]
    source.set_weights(weights)
    path = tmp_path / "mnv2.weights.h5"
    source.save_weights(str(path))
    spec = _small(resolve_backbone("mobilenet_v2", str(path)))
    assert spec.fingerprint not in ("none", "imagenet")
    loaded = build_model(spec)
    assert all(np.array_equal(a, b) for a, b in zip(weights, loaded.get_weights(), strict=True))

    legacy = tmp_path / "mnv2_no_top.h5"  # keras-applications style legacy HDF5
    source.save(str(legacy))
    legacy_spec = _small(resolve_backbone("mobilenet_v2", str(legacy)))
    loaded = build_model(legacy_spec)
    assert all(np.array_equal(a, b) for a, b in zip(weights, loaded.get_weights(), strict=True))

    source.set_weights([w * 2 for w in weights])
    source.save_weights(str(path))
    assert _small(resolve_backbone("mobilenet_v2", str(path))).id != spec.id
    with pytest.raises(BackboneError, match="changed since it was selected"):
        build_model(spec)
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(BackboneError, match="does not fit MobileNetV2"):
        build_model(_small(resolve_backbone("mobilenet_v2", str(junk))))


@pytest.mark.slow
def test_imagenet_download_failure_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    def offline(**kwargs: object) -> None:
        assert kwargs["weights"] == "imagenet"
        raise Exception("URL fetch failure on https://storage.googleapis.com/...")

    monkeypatch.setattr(keras.applications, "MobileNetV2", offline)
    with pytest.raises(BackboneError, match=r"cannot download ImageNet weights \(no network\?\)"):
        build_model(resolve_backbone("mobilenet_v2"))


def _save_tiny(path: Path, kind: str = "ok") -> Path:
    import keras

    inp = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inp)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    if kind == "two":
        outputs = [keras.layers.GlobalAveragePooling2D()(x), keras.layers.GlobalMaxPooling2D()(x)]
    elif kind == "4d":
        outputs = keras.layers.Conv2D(2, 1)(x)
    elif kind == "reshape4d":
        outputs = keras.layers.Reshape((30, 30, 4))(keras.layers.Flatten()(x))
    else:
        outputs = keras.layers.Dense(6)(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(inp, outputs).save(str(path))
    return path


@pytest.mark.slow
def test_real_keras_files(tmp_path: Path) -> None:
    spec = resolve_backbone(str(_save_tiny(tmp_path / "tiny.keras")))
    assert spec.input_size == (32, 32) and spec.feature_dim == 6
    model = build_model(spec)
    out = model(preprocess(spec, np.zeros((2, 32, 32, 3), np.uint8)), training=False)
    assert tuple(out.shape) == (2, 6)

    with pytest.raises(BackboneError, match="has 2 outputs"):
        resolve_backbone(str(_save_tiny(tmp_path / "two.keras", "two")))
    with pytest.raises(BackboneError, match=r"outputs shape \(None, None, None, 2\)"):
        resolve_backbone(str(_save_tiny(tmp_path / "4d.keras", "4d")))
    hidden = resolve_backbone(str(_save_tiny(tmp_path / "r.keras", "reshape4d")))
    assert hidden.feature_dim == 0  # Reshape is not derived statically: build_model must catch it
    with pytest.raises(BackboneError, match=r"outputs shape \(None, 30, 30, 4\)"):
        build_model(hidden)
