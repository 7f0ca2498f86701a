"""The model export as one folder: river/batch pickle, portable weights, Keras and TFLite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gui_app.core.backbones import BackboneSpec
from gui_app.core.batch_model import BATCH_LEARNER_NAME
from gui_app.core.engine_choice import INT8_PRECISION, engine_label, split_feature_id

LINEAR_MODELS = ("logistic", "softmax", BATCH_LEARNER_NAME)


def export_model_files(
    spec: BackboneSpec,
    learner: Any,
    out: Path,
    log: Callable[[str], None] = lambda m: None,
    feature_id: str | None = None,
    engines_dir: Path | None = None,
) -> list[Path]:
    """Write ``model.pkl``, ``portable/``, ``classifier.keras`` and ``.tflite`` into ``out``.

    ``learner`` is an :class:`~gui_app.core.learner.OnlineLearner` or a
    :class:`~gui_app.core.batch_model.BatchModel`; a non-linear learner gets the pickle only
    (``log`` says why). ``feature_id`` is the feature-store identity of the features the
    learner was trained on (default: ``spec.id``, float32 features). For ``litert-int8``
    features the TFLite classifier runs the same int8 backbone (:mod:`gui_app.core.export_int8`,
    using the verified int8 engine cached in ``engines_dir`` or per user) while the
    ``.keras`` classifier stays float32; both sidecars say so. Returns the written paths.

    Raises
    ------
    ExportError
        ``feature_id`` belongs to another backbone, or the int8 engine cannot be had.
    """
    from gui_app.core.export import ExportError
    from gui_app.core.export_model import (
        classifier_metadata,
        export_keras,
        export_pickle,
        export_portable,
        export_tflite,
    )

    fid = feature_id or spec.id
    base, precision = split_feature_id(fid)
    if base != spec.id:
        raise ExportError(f"the features ({fid}) do not come from {spec.label}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [export_pickle(learner, out / "model.pkl")]
    if learner.name not in LINEAR_MODELS:
        log(f"{learner.name}: only the river pickle can be exported (not a linear model)")
        return written
    written.append(export_portable(learner, fid, out / "portable"))
    log("building the Keras model (backbone + preprocessing + head) ...")
    keras_path = export_keras(spec, learner, out / "classifier.keras", features=precision)
    written.append(keras_path)
    if precision != INT8_PRECISION:
        return [*written, export_tflite(keras_path, out / "classifier.tflite")]
    from gui_app.core.engines import create_engine
    from gui_app.core.export_int8 import export_tflite_int8

    log("quantising the TFLite classifier like the project's int8 engine ...")
    backbone = create_engine(spec, engines_dir, prefer="litert-int8", log=log)
    if backbone.precision != INT8_PRECISION:
        raise ExportError(
            f"the project's features come from the {engine_label(precision)} engine, which "
            f"cannot be used here now ({backbone.name} instead); see the messages above"
        )
    meta = classifier_metadata(spec, learner, precision, INT8_PRECISION)
    written.append(
        export_tflite_int8(spec, learner, keras_path, out / "classifier.tflite", backbone, meta)
    )
    return written
