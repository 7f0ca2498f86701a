"""Which engine a job uses, and the feature-store identity of what it extracts.

No TensorFlow here: the CLI, the extraction job and the exports decide from the project's
choice, the cached int8 verdict (a small JSON file) and the groups already in the store.

Identity: every float32 engine (LiteRT fp32, tf-function, Keras) gives the same features to
~1e-6, so they share ``spec.id`` (the caches of earlier versions stay valid); the int8
engine's features get ``spec.id + "|int8-r<recipe>"`` (:func:`feature_id`), so the two are
never mixed: switching engine extracts into its own group, like switching backbone.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from gui_app.core.backbones import BackboneSpec, engine_cache_dir, keras_backend
from gui_app.core.quantize import INT8_RECIPE

AUTO = "auto"
LITERT = "litert"
INT8 = "litert-int8"
TENSORFLOW = "tensorflow"
ENGINE_CHOICES = (AUTO, LITERT, INT8, TENSORFLOW, "tf-function", "keras")
_CANONICAL = {TENSORFLOW: "tf-function"}  # 'tensorflow' is the documented name
FP32, INT8_PRECISION = "fp32", "int8"
INT8_TAG = f"int8-r{INT8_RECIPE}"

ENGINE_HELP = (
    "auto: LiteRT int8 for the built-in efficientnet_lite0 where it verifies on this machine, "
    "else LiteRT fp32 (TensorFlow on a GPU); litert: LiteRT fp32; litert-int8: LiteRT int8, "
    "verified against fp32 once (falls back to fp32 with a message); tensorflow: the Keras "
    "model run by TensorFlow (tf-function is the same, keras: Keras' own predict)"
)


def canonical(choice: str) -> str:
    """The engine choice as :func:`~gui_app.core.engines.create_engine` takes it.

    Raises
    ------
    ValueError
        An unknown choice.
    """
    if choice not in ENGINE_CHOICES:
        raise ValueError(f'unknown engine "{choice}" (choose {", ".join(ENGINE_CHOICES)})')
    return _CANONICAL.get(choice, choice)


def int8_by_default(spec: BackboneSpec) -> bool:
    """Whether ``auto`` tries int8 for ``spec``: the built-in EfficientNet-Lite0 at 224 px.

    That is the backbone whose int8 features were measured against fp32 (benchmarks/README.md,
    Q3/Q5). Any other backbone gets int8 only when ``litert-int8`` is chosen.
    """
    return engine_cache_dir(spec) is not None and tuple(spec.input_size) == (224, 224)


def feature_id(spec: BackboneSpec, precision: str) -> str:
    """The feature-store identity of ``spec``'s features from an engine of ``precision``."""
    return spec.id if precision == FP32 else f"{spec.id}|{INT8_TAG}"


def split_feature_id(store_id: str) -> tuple[str, str]:
    """``(backbone spec id, precision)`` of a feature-store identity."""
    base, sep, tag = store_id.rpartition("|")
    if sep and tag.startswith("int8-r") and tag[6:].isdigit():
        return base, INT8_PRECISION
    return store_id, FP32


_DISPLAY = {
    "litert-int8": "LiteRT int8",
    "litert-xnnpack": "LiteRT fp32",
    "tf-function": "TensorFlow",
    "keras-eager": "Keras",
}


def display_name(engine_name: str) -> str:
    """What a status bar shows for an engine's ``name``: ``'litert-int8'`` -> ``'LiteRT int8'``."""
    return _DISPLAY.get(engine_name, engine_name)


def engine_label(precision: str) -> str:
    """Words for messages: ``'LiteRT int8'`` or ``'float32'``."""
    return "LiteRT int8" if precision == INT8_PRECISION else "float32"


def planned_precision(
    spec: BackboneSpec,
    choice: str,
    engines_dir: Path | None,
    existing: Collection[str] = (),
) -> str | None:
    """The precision a job with ``choice`` will extract with, or ``None`` until it converts.

    ``auto`` keeps a project's float32 features: when the store in hand (``existing`` ids)
    has the fp32 group of ``spec`` and no int8 group, ``auto`` stays fp32 rather than extract
    everything again. Otherwise int8 follows the cached verdict of the int8 conversion
    (verified: int8; rejected: fp32); ``None`` means nobody converted yet.
    """
    choice = canonical(choice)
    wants = choice == INT8 or (choice == AUTO and int8_by_default(spec))
    if not wants or keras_backend() != "tensorflow" or not _litert_installed():
        return FP32
    if choice == AUTO and spec.id in existing and feature_id(spec, INT8_PRECISION) not in existing:
        return FP32
    from gui_app.core.engine_int8 import read_verdict

    folder = engine_cache_dir(spec) or engines_dir
    verdict = read_verdict(spec, folder) if folder is not None else None
    if verdict is None:
        return None
    return INT8_PRECISION if verdict.verified else FP32


def reader_feature_id(
    spec: BackboneSpec, choice: str, engines_dir: Path | None, existing: Collection[str]
) -> str:
    """The group a reader (train, export) should open: the one extraction writes to.

    When no verdict is known yet, the int8 group if only it exists, else the fp32 group.
    """
    precision = planned_precision(spec, choice, engines_dir, existing)
    if precision is None:
        int8_id = feature_id(spec, INT8_PRECISION)
        return int8_id if int8_id in existing and spec.id not in existing else spec.id
    return feature_id(spec, precision)


def _litert_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("ai_edge_litert") is not None
