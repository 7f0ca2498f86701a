"""The model export as one folder: river/batch pickle, portable weights, Keras and TFLite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gui_app.core.backbones import BackboneSpec
from gui_app.core.batch_model import BATCH_LEARNER_NAME

LINEAR_MODELS = ("logistic", "softmax", BATCH_LEARNER_NAME)


def export_model_files(
    spec: BackboneSpec, learner: Any, out: Path, log: Callable[[str], None] = lambda m: None
) -> list[Path]:
    """Write ``model.pkl``, ``portable/``, ``classifier.keras`` and ``.tflite`` into ``out``.

    ``learner`` is an :class:`~gui_app.core.learner.OnlineLearner` or a
    :class:`~gui_app.core.batch_model.BatchModel`; a non-linear learner gets the pickle only
    (``log`` says why). Returns the written paths.
    """
    from gui_app.core.export_model import (
        export_keras,
        export_pickle,
        export_portable,
        export_tflite,
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [export_pickle(learner, out / "model.pkl")]
    if learner.name in LINEAR_MODELS:
        written.append(export_portable(learner, spec.id, out / "portable"))
        log("building the Keras model (backbone + preprocessing + head) ...")
        keras_path = export_keras(spec, learner, out / "classifier.keras")
        written += [keras_path, export_tflite(keras_path, out / "classifier.tflite")]
    else:
        log(f"{learner.name}: only the river pickle can be exported (not a linear model)")
    return written
