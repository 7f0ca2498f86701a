"""EfficientNet-Lite0 in Keras 3, with weights from the upstream PyTorch state dict.

The architecture is the EfficientNet-B0 block table without squeeze-excite, with ReLU6, the stem
(32) and head (1280) not scaled, BatchNorm epsilon 1e-3 and TensorFlow "SAME" padding, as in
Google's EfficientNet-Lite and its PyTorch port (the Lite fork of lukemelas'
``efficientnet_pytorch``, whose tensor names the checkpoint uses). The input scaling
``(x - 127) / 128`` is a layer inside the model: it takes raw RGB 0-255.

Keras is imported lazily inside :func:`build_lite0`; the tables and :func:`check_state_dict`
need only numpy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from gui_app.core.torch_checkpoint import CheckpointError

INPUT_SIZE = (224, 224)
STEM_FILTERS = 32
HEAD_FILTERS = 1280
NUM_CLASSES = 1000
BN_EPSILON = 1e-3
INPUT_MEAN, INPUT_STD = 127.0, 128.0
POOL_LAYER = "avg_pool"
LOGITS_LAYER = "logits"

# (repeats, kernel, first stride, expand ratio, input filters, output filters) per stage.
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


def blocks() -> list[tuple[int, int, int, int, int]]:
    """One ``(kernel, stride, expand, in, out)`` per MBConv block, in order (16 for Lite0)."""
    out = []
    for repeats, kernel, stride, expand, c_in, c_out in LITE0_STAGES:
        for i in range(repeats):
            out.append((kernel, stride if i == 0 else 1, expand, c_in if i == 0 else c_out, c_out))
    return out


def _bn_shapes(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{p}": (channels,) for p in ("weight", "bias", "running_mean", "running_var")}


def expected_shapes(include_top: bool = True) -> dict[str, tuple[int, ...]]:
    """PyTorch tensor name -> shape of every weight the network uses (no BN counters)."""
    shapes: dict[str, tuple[int, ...]] = {"_conv_stem.weight": (STEM_FILTERS, 3, 3, 3)}
    shapes |= _bn_shapes("_bn0", STEM_FILTERS)
    for i, (kernel, _stride, expand, c_in, c_out) in enumerate(blocks()):
        mid, p = c_in * expand, f"_blocks.{i}"
        if expand != 1:
            shapes[f"{p}._expand_conv.weight"] = (mid, c_in, 1, 1)
            shapes |= _bn_shapes(f"{p}._bn0", mid)
        shapes[f"{p}._depthwise_conv.weight"] = (mid, 1, kernel, kernel)
        shapes |= _bn_shapes(f"{p}._bn1", mid)
        shapes[f"{p}._project_conv.weight"] = (c_out, mid, 1, 1)
        shapes |= _bn_shapes(f"{p}._bn2", c_out)
    shapes["_conv_head.weight"] = (HEAD_FILTERS, blocks()[-1][-1], 1, 1)
    shapes |= _bn_shapes("_bn1", HEAD_FILTERS)
    if include_top:
        shapes["_fc.weight"] = (NUM_CLASSES, HEAD_FILTERS)
        shapes["_fc.bias"] = (NUM_CLASSES,)
    return shapes


def check_state_dict(state: Mapping[str, np.ndarray], include_top: bool = True) -> None:
    """Check that ``state`` holds exactly the EfficientNet-Lite0 tensors, with their shapes.

    ``*.num_batches_tracked`` counters are allowed and ignored; the classifier (``_fc.*``) is
    allowed when ``include_top`` is false.

    Raises
    ------
    CheckpointError
        A tensor is missing, unexpected, of the wrong shape, or not floating point / finite.
    """
    want = expected_shapes(include_top)
    optional = set(expected_shapes(True)) - set(want)
    missing = [name for name in want if name not in state]
    if missing:
        raise CheckpointError(
            f"not an EfficientNet-Lite0 state dict: {len(missing)} tensors missing "
            f"(first: {missing[0]})"
        )
    extra = [n for n in state if n not in want and n not in optional and not _is_counter(n, state)]
    if extra:
        raise CheckpointError(
            f"not an EfficientNet-Lite0 state dict: unexpected tensor {extra[0]}"
            + (f" and {len(extra) - 1} more" if len(extra) > 1 else "")
        )
    for name, shape in want.items():
        value = state[name]
        if tuple(value.shape) != shape:
            raise CheckpointError(
                f"tensor {name} has shape {tuple(value.shape)}, EfficientNet-Lite0 needs {shape}"
            )
        if value.dtype.kind != "f" or not np.isfinite(value).all():
            raise CheckpointError(f"tensor {name} is not finite floating point ({value.dtype})")


def _is_counter(name: str, state: Mapping[str, np.ndarray]) -> bool:
    return name.endswith(".num_batches_tracked") and state[name].size == 1


# --- Keras ---------------------------------------------------------------------------------


def _import_keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def _conv(w: np.ndarray) -> np.ndarray:
    """PyTorch (out, in, kh, kw) -> Keras Conv2D kernel (kh, kw, in, out)."""
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0), np.float32)


def _depthwise(w: np.ndarray) -> np.ndarray:
    """PyTorch depthwise (C, 1, kh, kw) -> Keras DepthwiseConv2D kernel (kh, kw, C, 1)."""
    return np.ascontiguousarray(w.transpose(2, 3, 0, 1), np.float32)


def _bn(state: Mapping[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    keys = ("weight", "bias", "running_mean", "running_var")
    return [np.asarray(state[f"{prefix}.{k}"], np.float32) for k in keys]


def build_lite0(
    state: Mapping[str, np.ndarray] | None,
    include_top: bool = False,
    input_size: tuple[int, int] = INPUT_SIZE,
    name: str = "efficientnet_lite0",
) -> Any:
    """The Keras model ``(N, H, W, 3) RGB 0-255 -> (N, 1280)`` pooled features (224 px native).

    Parameters
    ----------
    state
        A PyTorch Lite0 state dict (checked with :func:`check_state_dict`), or ``None`` for
        Keras' default initialisation (seed Keras first for a reproducible one).
    include_top
        Add the 1000-way ImageNet classifier (``logits`` layer, no softmax) after the
        ``avg_pool`` layer; needs ``_fc.*`` in ``state``.

    Raises
    ------
    CheckpointError
        ``state`` is not an EfficientNet-Lite0 state dict.
    """
    if state is not None:
        check_state_dict(state, include_top)
    keras = _import_keras()
    layers = keras.layers
    weights: list[tuple[Any, list[np.ndarray]]] = []

    def conv_bn(x: Any, prefix: str, torch_conv: str, torch_bn: str, filters: int, **kw: Any):
        conv = layers.Conv2D(filters, kw.pop("kernel", 1), padding="same", use_bias=False,
                             name=f"{prefix}_conv", **kw)  # fmt: skip
        bn = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{prefix}_bn")
        if state is not None:
            weights.extend([(conv, [_conv(state[torch_conv])]), (bn, _bn(state, torch_bn))])
        return bn(conv(x))

    inputs = keras.Input((*input_size, 3), name="images")
    x = layers.Rescaling(1.0 / INPUT_STD, offset=-INPUT_MEAN / INPUT_STD, name="scale")(inputs)
    x = conv_bn(x, "stem", "_conv_stem.weight", "_bn0", STEM_FILTERS, kernel=3, strides=2)
    x = layers.ReLU(max_value=6.0, name="stem_relu6")(x)
    for i, (kernel, stride, expand, c_in, c_out) in enumerate(blocks()):
        p, t = f"block{i}", f"_blocks.{i}"
        h = x
        if expand != 1:
            h = conv_bn(h, f"{p}_expand", f"{t}._expand_conv.weight", f"{t}._bn0", c_in * expand)
            h = layers.ReLU(max_value=6.0, name=f"{p}_expand_relu6")(h)
        dw = layers.DepthwiseConv2D(
            kernel, strides=stride, padding="same", use_bias=False, name=f"{p}_dwconv"
        )
        dw_bn = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{p}_dwconv_bn")
        if state is not None:
            weights.append((dw, [_depthwise(state[f"{t}._depthwise_conv.weight"])]))
            weights.append((dw_bn, _bn(state, f"{t}._bn1")))
        h = layers.ReLU(max_value=6.0, name=f"{p}_dwconv_relu6")(dw_bn(dw(h)))
        h = conv_bn(h, f"{p}_project", f"{t}._project_conv.weight", f"{t}._bn2", c_out)
        if stride == 1 and c_in == c_out:
            h = layers.Add(name=f"{p}_add")([h, x])
        x = h
    x = conv_bn(x, "head", "_conv_head.weight", "_bn1", HEAD_FILTERS)
    x = layers.ReLU(max_value=6.0, name="head_relu6")(x)
    x = layers.GlobalAveragePooling2D(name=POOL_LAYER)(x)
    if include_top:
        dense = layers.Dense(NUM_CLASSES, name=LOGITS_LAYER)
        if state is not None:
            kernel = np.ascontiguousarray(state["_fc.weight"].T, np.float32)
            weights.append((dense, [kernel, np.asarray(state["_fc.bias"], np.float32)]))
        x = dense(x)
    model = keras.Model(inputs, x, name=name)
    for layer, values in weights:
        layer.set_weights(values)
    return model
