"""Exports that involve the learner: predictions CSV, river pickle, Keras and TFLite classifiers.

Portable weights (numpy alone, no pickle) live in :mod:`~gui_app.core.portable`. The Keras
model takes raw RGB 0-255 float32 images of the backbone's input size and returns the learner's
probabilities: backbone normalisation, backbone, standardisation and the linear head are all
built from standard Keras layers (no Lambda, no custom class), so ``keras.saving.load_model``
opens it anywhere. Next to it go ``loupe_preprocess.py`` (Loupe's image preprocessing, verbatim)
and ``README.txt`` (:mod:`~gui_app.core.export_client`). TensorFlow/Keras/LiteRT are imported
lazily inside the functions that need them, so importing this module stays cheap.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from gui_app.core import preprocess_rule
from gui_app.core.backbones import BackboneSpec, build_model, preprocess
from gui_app.core.engine_choice import FP32, INT8_PRECISION, engine_label, feature_id
from gui_app.core.export import ExportError, atomic_write, safe_csv_cell
from gui_app.core.export_client import MODULE_NAME, write_client_files
from gui_app.core.learner import LearnerError, OnlineLearner
from gui_app.core.portable import (
    PORTABLE_FORMAT,
    SIGMOID_CLAMP,
    PortableModel,
    export_portable,
    linear_params,
    load_portable,
)

CLASSIFIER_FORMAT = "loupe-classifier"
TFLITE_TOLERANCE = 1e-3
_TINY_STD = 1e-6  # below it, divide in the head's kernel instead of Keras' Normalization
_MASK_PENALTY = 1e4  # added to the log-probability of a clamped class: exp(-1e4) == 0
# The portable names are re-exported: they lived here before portable.py was split off.
__all__ = [
    "CLASSIFIER_FORMAT",
    "PORTABLE_FORMAT",
    "TFLITE_TOLERANCE",
    "PortableModel",
    "build_classifier",
    "classifier_metadata",
    "export_keras",
    "export_pickle",
    "export_portable",
    "export_predictions",
    "export_tflite",
    "linear_params",
    "load_portable",
    "metadata_path",
    "preprocess_mode",
    "preprocessing_block",
    "probability_head",
]


# --------------------------------------------------------------------------- predictions


def export_predictions(
    source: Any, learner: OnlineLearner, out: Path, threshold: float = 0.0
) -> int:
    """Write ``path, predicted, <one probability column per class>`` for every image.

    Parameters
    ----------
    source
        A :class:`~gui_app.core.store.FeatureStore` (streamed with
        :func:`~gui_app.core.training.iter_predictions`) or any iterable of ``(paths, vectors)``.
    learner
        A learner that can predict; the columns follow ``learner.classes``.
    threshold
        ``predicted`` is ``unknown`` when the top probability is below it.

    Returns
    -------
    int
        Rows written (the file is replaced atomically at the end).
    """
    if not learner.can_predict():
        raise LearnerError("the model has learned fewer than two classes")
    if hasattr(source, "iter_blocks"):
        from gui_app.core.training import iter_predictions

        scored: Iterable[tuple[Sequence[str], np.ndarray]] = iter_predictions(source, learner)
    else:
        scored = ((paths, learner.score_many(vectors)) for paths, vectors in source)
    classes = list(learner.classes)
    rows = 0

    def write(fh: IO[str]) -> None:
        nonlocal rows
        writer = csv.writer(fh)
        writer.writerow(["path", "predicted", *map(safe_csv_cell, classes)])
        for paths, probs in scored:
            if len(paths) == 0:
                continue
            best = probs.argmax(axis=1)
            for path, row, b in zip(paths, probs, best, strict=True):
                label = classes[b] if row[b] >= threshold else "unknown"
                writer.writerow(
                    [safe_csv_cell(path), safe_csv_cell(label), *(f"{p:.6f}" for p in row)]
                )
                rows += 1

    atomic_write(Path(out), write)
    return rows


# --------------------------------------------------------------------------- pickle


def export_pickle(learner: OnlineLearner, out: Path) -> Path:
    """The river learner as a pickle (what ``model.pkl`` holds; :meth:`OnlineLearner.load`)."""
    learner.save(Path(out))
    return Path(out)


# --------------------------------------------------------------------------- Keras + TFLite


def _keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def preprocess_mode(spec: BackboneSpec) -> str:
    """Which of :func:`preprocess`'s mappings ``spec`` uses, found by probing it.

    Returns ``'identity'``, ``'tf'`` (``x / 127.5 - 1``) or ``'caffe'`` (BGR minus the ImageNet
    mean); probing keeps this in step with :mod:`~gui_app.core.backbones` without reading its
    private tables.
    """
    probe = np.array([[[[0.0, 100.0, 255.0], [17.0, 3.0, 240.0]]]], np.float32)
    got = preprocess(spec, probe)
    candidates = {
        "identity": probe,
        "tf": probe / np.float32(127.5) - np.float32(1.0),
        "caffe": probe[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32),
    }
    for mode, want in candidates.items():
        if np.allclose(got, want, rtol=0, atol=1e-4):
            return mode
    raise ExportError(f"cannot express the preprocessing of {spec.label} as Keras layers")


def preprocessing_block(spec: BackboneSpec, x: Any) -> Any:
    """Apply :func:`preprocess` to a symbolic Keras tensor of raw RGB 0-255 with Keras layers."""
    keras = _keras()
    mode = preprocess_mode(spec)
    if mode == "tf":
        return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(x)
    if mode == "caffe":  # RGB -> BGR and minus the mean: a fixed, exact 3x3 linear map
        layer = keras.layers.Dense(3, name="preprocess", trainable=False)
        y = layer(x)
        perm = np.eye(3, dtype=np.float32)[::-1]  # output channel j = input channel 2 - j
        layer.set_weights([perm, -np.array([103.939, 116.779, 123.68], np.float32)])
        return y
    return x


def probability_head(features: Any, p: dict[str, Any]) -> Any:
    """Standardise + linear head + the learner's probability formula, on a symbolic tensor.

    ``p`` is :meth:`OnlineLearner.export_linear`'s dict (``kind``, ``classes``, ``mean``,
    ``scale``, ``coef``, ``intercept``, ``power``). The calibration power multiplies the
    final softmax's input: ``softmax(a * log p)`` is ``p^a`` renormalised.
    """
    layers, n_classes = _keras().layers, len(p["classes"])
    std = np.asarray(p["scale"], np.float64)
    normal = std >= _TINY_STD
    variance = np.where(normal, std**2, 1.0)
    column = np.where(normal, 1.0, np.divide(1.0, std, out=np.zeros_like(std), where=std > 0))
    kernel = (np.asarray(p["coef"], np.float64) * column).T.astype(np.float32)
    x = layers.Normalization(mean=np.asarray(p["mean"]).tolist(), variance=variance.tolist(),
                             name="standardise")(features)  # fmt: skip
    logits = layers.Dense(n_classes, name="logits", trainable=False)
    z = logits(x)
    logits.set_weights([kernel, np.asarray(p["intercept"], np.float32)])
    power = float(p.get("power", 1.0))
    if p["kind"] == "softmax":
        return layers.Softmax(name="probabilities")(layers.Rescaling(power, name="calibration")(z))
    # One-vs-rest: p_c / sum(p) == softmax(log sigmoid(z)). Classes river clamps to 0 (z < -30)
    # get a -1e4 penalty; when all are clamped, everything is multiplied by 0: uniform.
    log_p = layers.Activation("log_sigmoid", name="ovr_log_sigmoid")(z)
    shifted = layers.Rescaling(1.0, offset=SIGMOID_CLAMP + 1.0, name="ovr_shift")(z)
    below_one = float(np.nextafter(np.float32(1.0), np.float32(0.0)))  # z >= -30 <=> shifted >= 1
    kept = layers.ReLU(max_value=1.0, threshold=below_one, name="ovr_kept")(shifted)
    count = layers.Dense(1, use_bias=False, name="ovr_count", trainable=False)
    n_kept = count(kept)
    count.set_weights([np.ones((n_classes, 1), np.float32)])
    none_kept = layers.ReLU(max_value=1.0, name="ovr_none_kept")(
        layers.Rescaling(-1.0, offset=1.0, name="ovr_one_minus_count")(n_kept)
    )
    spread = layers.Dense(n_classes, name="ovr_any_kept", trainable=False)  # 1 - none_kept
    any_kept = spread(none_kept)
    spread.set_weights([-np.ones((1, n_classes), np.float32), np.ones(n_classes, np.float32)])
    penalty = layers.Rescaling(_MASK_PENALTY, offset=-_MASK_PENALTY, name="ovr_penalty")(kept)
    masked = layers.Add(name="ovr_masked")([log_p, penalty])
    gated = layers.Multiply(name="ovr_gated")([masked, any_kept])
    sharpened = layers.Rescaling(power, name="calibration")(gated)
    return layers.Softmax(name="probabilities")(sharpened)


def build_classifier(spec: BackboneSpec, learner: OnlineLearner, backbone: Any = None) -> Any:
    """The Keras model ``raw RGB 0-255 (N, H, W, 3) float32 -> (N, C) probabilities``.

    ``backbone`` is an already built :func:`build_model` result (built from ``spec`` if None).
    Columns follow the learned classes (``learner.export_linear()["classes"]``).
    """
    p = linear_params(learner)
    keras = _keras()
    backbone = build_model(spec) if backbone is None else backbone
    inp = keras.Input((*spec.input_size, 3), dtype="float32", name="images")
    features = backbone(preprocessing_block(spec, inp))
    if int(features.shape[-1]) != p["mean"].shape[0]:
        raise ExportError(
            f"the backbone outputs {features.shape[-1]} features but the model was trained on "
            f"{p['mean'].shape[0]}; export with the backbone the features came from"
        )
    return keras.Model(inp, probability_head(features, p), name="loupe_classifier")


def classifier_metadata(
    spec: BackboneSpec,
    learner: OnlineLearner,
    features: str = FP32,
    backbone_precision: str = FP32,
) -> dict[str, Any]:
    """What the JSON sidecar of an exported Keras/TFLite classifier says (classes, input...).

    ``preprocessing`` is :func:`~gui_app.core.preprocess_rule.recipe`: how Loupe turns an
    image file into the input, step by step (``loupe_preprocess.py`` implements it).
    ``features`` is the precision of the engine whose features the model was trained on
    (``'fp32'`` or ``'int8'``), ``backbone_precision`` that of the backbone inside this file.
    """
    p = linear_params(learner)
    h, w = spec.input_size
    trained_on = {
        "engine": "litert-int8" if features == INT8_PRECISION else "float32",
        "feature_id": feature_id(spec, features),
    }
    if features != backbone_precision:
        trained_on["note"] = (
            f"trained on {engine_label(features)} features; this file runs the "
            f"{'float32' if backbone_precision == FP32 else 'int8'} backbone, so its "
            "probabilities differ slightly from Loupe's"
        )
    return {
        "format": CLASSIFIER_FORMAT,
        "version": 1,
        "kind": p["kind"],
        "classes": list(p["classes"]),
        "backbone_id": spec.id,
        "backbone": spec.label,
        "input": f"float32 (N, {h}, {w}, 3): RGB 0-255, each image prepared exactly as "
        f"'preprocessing' says ({MODULE_NAME}: load_batch(paths, ({h}, {w}))); a plain resize "
        "differs for JPEGs larger than the input",
        "output": "float32 (N, C) probabilities, columns in 'classes' order",
        "preprocessing": preprocess_rule.recipe((h, w)),
        "backbone_precision": "int8" if backbone_precision == INT8_PRECISION else "float32",
        "trained_on_features": trained_on,
    }


def metadata_path(model_path: Path) -> Path:
    """The JSON sidecar (classes, input, backbone) of an exported model: ``<name>.json``."""
    return Path(model_path).with_name(Path(model_path).name + ".json")


def _with_suffix(path: Path, suffix: str) -> Path:
    path = Path(path)
    return path if path.name.lower().endswith(suffix) else path.with_name(path.name + suffix)


def export_keras(
    spec: BackboneSpec,
    learner: OnlineLearner,
    out: Path,
    backbone: Any = None,
    features: str = FP32,
) -> Path:
    """Save :func:`build_classifier` as ``.keras`` (suffix added if missing) + its JSON sidecar.

    ``loupe_preprocess.py`` and ``README.txt`` are written into the same folder. The Keras
    backbone is always float32; ``features`` (``'int8'`` for a ``litert-int8`` project) is
    stated in the sidecar.

    Returns the model path. Raises `ExportError` for a non-linear or untrained learner.
    """
    out = _with_suffix(out, ".keras")
    model = build_classifier(spec, learner, backbone)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.keras")  # Keras insists on .keras
    try:
        model.save(str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    meta = classifier_metadata(spec, learner, features)
    text = json.dumps(meta, ensure_ascii=False, indent=1) + "\n"
    atomic_write(metadata_path(out), lambda fh: fh.write(text))
    write_client_files(out.parent, text)
    return out


def export_tflite(source: Path | Any, out: Path, metadata: dict[str, Any] | None = None) -> Path:
    """Convert an exported Keras classifier (a ``.keras`` path or the model) to float32 TFLite.

    Uses :func:`gui_app.core.engines.convert_to_tflite` (SavedModel export, then
    ``TFLiteConverter.from_saved_model``), checks the result against Keras on two random
    images (max abs diff <= 1e-3, when LiteRT is installed) and writes ``out`` (``.tflite``
    added if missing) atomically. The sidecar is ``metadata`` (see
    :func:`classifier_metadata`) or, by default, a ``.keras`` source's sidecar; when it states
    the preprocessing, ``loupe_preprocess.py`` and ``README.txt`` are written beside ``out``.
    """
    from gui_app.core.engines import LiteRTEngine, convert_to_tflite

    keras = _keras()
    out = _with_suffix(out, ".tflite")
    sidecar = None if metadata is None else json.dumps(metadata, ensure_ascii=False, indent=1)
    if isinstance(source, str | os.PathLike):
        src = Path(source)
        try:
            model = keras.saving.load_model(str(src), compile=False)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ExportError(f"cannot load Keras model {src}: {exc}") from exc
        if sidecar is None and metadata_path(src).is_file():
            sidecar = metadata_path(src).read_text(encoding="utf-8")
    else:
        model = source
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:3]):
        raise ExportError(f"expected a model taking (N, H, W, 3) images, got input {shape}")
    content = convert_to_tflite(model, (shape[1], shape[2]))
    try:
        engine = LiteRTEngine(content, num_threads=1)
    except ImportError:
        engine = None  # LiteRT is not installed (e.g. Windows): convert without checking
    if engine is not None:
        x = np.random.default_rng(0).uniform(0, 255, (2, *shape[1:])).astype(np.float32)
        diff = float(np.max(np.abs(engine(x) - np.asarray(model(x), np.float32))))
        if not diff <= TFLITE_TOLERANCE:
            raise ExportError(f"the TFLite model disagrees with Keras (max abs diff {diff:.3g})")
    atomic_write(out, lambda fh: fh.write(content), binary=True)
    if sidecar is not None:
        atomic_write(metadata_path(out), lambda fh: fh.write(sidecar))
        write_client_files(out.parent, sidecar)
    return out
