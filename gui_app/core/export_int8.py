"""The TFLite classifier of a project whose features come from the ``litert-int8`` engine.

The exported Keras classifier (float32 backbone + preprocessing + head) is quantised with the
engine's own recipe (:mod:`gui_app.core.quantize`: the same generated calibration images, the
same float32 stem and tail; the head, after the global pooling, is part of the float tail).
Its backbone is thus quantised exactly like the engine's, and the result is checked against
Loupe itself: on held-back images its probabilities must equal the learner's on the int8
engine's features (:data:`INT8_EXPORT_TOLERANCE`). TensorFlow/Keras are imported lazily.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from gui_app.core.backbones import BackboneSpec, preprocess
from gui_app.core.export import ExportError, atomic_write
from gui_app.core.export_client import write_client_files
from gui_app.core.export_model import metadata_path

INT8_EXPORT_TOLERANCE = 1e-4  # max |probability| difference to Loupe's own int8 pipeline


def export_tflite_int8(
    spec: BackboneSpec,
    learner: Any,
    keras_path: Path,
    out: Path,
    backbone: Any,
    metadata: dict[str, Any],
) -> Path:
    """Write the int8-backbone TFLite classifier of ``keras_path`` to ``out`` (+ JSON sidecar).

    Parameters
    ----------
    learner
        The linear model the classifier's head was built from (its ``score_many`` is the
        reference the result is checked against).
    backbone
        The project's verified ``litert-int8`` engine of ``spec``.
    metadata
        The JSON sidecar (:func:`~gui_app.core.export_model.classifier_metadata`).

    Raises
    ------
    ExportError
        The model cannot be loaded or converted, or disagrees with Loupe's int8 pipeline.
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from gui_app.core import quantize
    from gui_app.core.engines import LiteRTEngine, convert_to_tflite

    size = spec.input_size
    try:
        model = keras.saving.load_model(str(keras_path), compile=False)
        float_model = convert_to_tflite(model, size)
        nodes = quantize.float_nodes(float_model, size)  # the head is in the float tail
        raw = quantize.calibration_images(size).astype(np.float32)  # the model preprocesses
        content = quantize.convert_int8(model, size, raw, nodes)
        engine = LiteRTEngine(content, num_threads=1)
    except ExportError:
        raise
    except Exception as exc:  # the converter raises many unrelated types
        raise ExportError(f"cannot convert the classifier to int8 TFLite: {exc}") from exc
    x = quantize.held_back_images(size).astype(np.float32)
    want = np.asarray(learner.score_many(backbone(preprocess(spec, x))), np.float64)
    diff = float(np.max(np.abs(engine(x) - want)))
    if not diff <= INT8_EXPORT_TOLERANCE:
        raise ExportError(
            "the int8 TFLite classifier disagrees with Loupe's int8 features and model "
            f"(max probability difference {diff:.3g} > {INT8_EXPORT_TOLERANCE})"
        )
    out = Path(out)
    atomic_write(out, lambda fh: fh.write(content), binary=True)
    sidecar = json.dumps(metadata, ensure_ascii=False, indent=1)
    atomic_write(metadata_path(out), lambda fh: fh.write(sidecar))
    write_client_files(out.parent, sidecar)
    return out
