"""Static shapes of a serialised Keras 3 model (``config.json`` of a ``.keras`` file), no TF.

:func:`static_signature` reads the input shapes and the output shape of the common output
layers (Dense, pooling, convolutions, shape-preserving layers, nested models) so that a custom
backbone can be checked and keyed before TensorFlow is imported.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np


def fmt_shape(shape: Any) -> str:
    """``(None, 32, 32, 3)`` style text of a shape list."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


# Layers whose output shape equals their input shape.
_SAME_SHAPE = {
    "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax", "Dropout", "AlphaDropout",
    "GaussianDropout", "GaussianNoise", "ActivityRegularization", "BatchNormalization",
    "LayerNormalization", "GroupNormalization", "UnitNormalization", "Rescaling",
    "Normalization", "Identity",
}  # fmt: skip
_GLOBAL_POOL = re.compile(r"Global(Average|Max)Pooling[123]D")
# Layers that keep the rank; only their channel count is cheap to know.
_SPATIAL = re.compile(
    r"(Separable|Depthwise)?Conv[123]D(Transpose)?|(Max|Average)Pooling[123]D"
    r"|(UpSampling|ZeroPadding|Cropping)[123]D"
)
_MODEL_CLASSES = {"Functional", "Sequential", "Model"}


def static_signature(model: dict) -> tuple[list[list | None], list[list | None]]:
    """([input shapes], [output shape or None per output]) of a serialised Keras model."""
    cfg = model.get("config") or {}
    layers = cfg.get("layers") or []
    build_shape = (model.get("build_config") or {}).get("input_shape") or cfg.get(
        "build_input_shape"
    )
    if model.get("class_name") == "Sequential":
        first = layers[0] if layers else {}
        shape = _input_layer_shape(first) if first.get("class_name") == "InputLayer" else None
        shape = shape or build_shape
        if not layers or (first.get("class_name") == "InputLayer" and len(layers) == 1):
            return [shape], [shape]
        return [shape], [_layer_output_shape(layers[-1], None)]
    by_name = {
        layer.get("name") or (layer.get("config") or {}).get("name"): layer for layer in layers
    }
    inputs = _refs(cfg.get("input_layers"))
    in_shapes = [_input_layer_shape(by_name.get(ref[0], {})) for ref in inputs] or [build_shape]
    outs = []
    for name, node, _ in _refs(cfg.get("output_layers")):
        layer = by_name.get(name)
        outs.append(None if layer is None else _layer_output_shape(layer, node))
    return in_shapes, outs


def _refs(value: Any) -> list[tuple[str, int, int]]:
    """Normalise Keras' ``input_layers``/``output_layers`` (one ref, list or dict of refs)."""
    if isinstance(value, dict):
        value = list(value.values())
    if not value:
        return []
    if isinstance(value[0], str):
        value = [value]
    return [(str(v[0]), int(v[1]), int(v[2])) for v in value if isinstance(v, list) and len(v) == 3]


def _input_layer_shape(layer: dict) -> list | None:
    cfg = layer.get("config") or {}
    shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
    return list(shape) if shape else None


def _layer_input_shape(layer: dict, node: int | None) -> list | None:
    nodes = layer.get("inbound_nodes") or []
    if node is not None and node < len(nodes) and isinstance(nodes[node], dict):
        args = nodes[node].get("args") or []
        if args and isinstance(args[0], dict) and args[0].get("class_name") == "__keras_tensor__":
            return list(args[0]["config"]["shape"])
    shape = (layer.get("build_config") or {}).get("input_shape")
    return list(shape) if shape and not isinstance(shape[0], list) else None


def _layer_output_shape(layer: dict, node: int | None) -> list | None:
    """Output shape of a layer for common output-layer types; ``None`` when not derivable."""
    kind = str(layer.get("class_name"))
    cfg = layer.get("config") or {}
    if kind in _MODEL_CLASSES:
        _, outs = static_signature(layer)
        return outs[0] if len(outs) == 1 else None
    shape = _layer_input_shape(layer, node)
    if shape is None:
        return None
    if kind == "Dense":
        return [*shape[:-1], cfg.get("units")]
    if kind in _SAME_SHAPE:
        return shape
    if _GLOBAL_POOL.fullmatch(kind):
        if cfg.get("data_format", "channels_last") != "channels_last":
            return None
        middle = [1] * (len(shape) - 2) if cfg.get("keepdims") else []
        return [shape[0], *middle, shape[-1]]
    if _SPATIAL.fullmatch(kind):
        if cfg.get("data_format", "channels_last") != "channels_last":
            return None
        return [shape[0], *([None] * (len(shape) - 2)), cfg.get("filters") or None]
    if kind == "Flatten":
        rest = shape[1:]
        return [shape[0], int(np.prod(rest))] if all(isinstance(d, int) for d in rest) else None
    return None
