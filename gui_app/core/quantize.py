"""Post-training integer quantisation of a backbone for the ``litert-int8`` engine.

The recipe (:data:`INT8_RECIPE`): TensorFlow's post-training integer quantisation of the
model's SavedModel (int8 weights per channel, int8 activations, float32 input and output),
calibrated on :data:`CALIBRATION_IMAGES` *generated* images (:func:`synthetic_images`: a
"dead leaves" model of natural images, the same for every user and project, so nothing is
shipped and the result does not depend on a folder). Two ends stay float32
(:func:`float_nodes`): the operators that read the full- or half-resolution maps (input
scaling, stem, first block), where fine detail lives and int8 costs most of the fidelity on
smooth images (EuroSAT's 64 px patches upsampled: mean cosine to fp32 0.917 all-int8, 0.989
with a float stem, for ~13 % of EfficientNet-Lite0's multiply-adds), and the global pooling
with whatever follows it.

:mod:`gui_app.core.engine_int8` verifies the engine on held-back generated images, decides,
caches and falls back. TensorFlow and LiteRT are imported lazily inside functions.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

INT8_RECIPE = 1  # bump when the recipe changes: int8 features get a new store identity
CALIBRATION_IMAGES = 64
HELD_BACK_IMAGES = 16
CALIBRATION_SEED = 20_240_601  # held-back images use CALIBRATION_SEED + 1
FLOAT_STEM_FRACTION = 0.5  # ops reading maps at >= this fraction of the input size stay float


def synthetic_images(n: int, size: tuple[int, int], seed: int) -> np.ndarray:
    """``n`` deterministic RGB uint8 images ``(n, H, W, 3)`` that look like natural ones.

    Each is a "dead leaves" image: a coloured gradient covered by up to 300 overlapping discs
    and ellipses of power-law sizes and muted colours, some blurred, with sensor-like noise.
    Its edge, texture and flat-area statistics are those of photographs, which is what the
    activation ranges of a CNN calibrate on.
    """
    rng = np.random.default_rng(seed)
    return np.stack([_dead_leaves(rng, size) for _ in range(n)])


def _dead_leaves(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    ramp = np.cos(angle) * xx / w + np.sin(angle) * yy / h
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    lo, hi = (rng.uniform(0, 255) + rng.normal(0, 30, 3) for _ in range(2))
    img = (lo + (hi - lo) * ramp[..., None]).astype(np.float32)
    scale = min(h, w)
    for _ in range(int(rng.integers(20, 300))):
        r = scale * 2 * rng.uniform(0.01, 0.25) ** 1.5 + 1  # many small leaves, few large
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ratio, theta = rng.uniform(0.2, 1.0), rng.uniform(0, np.pi)
        colour = np.clip(rng.uniform(10, 245) + rng.normal(0, 30, 3), 0, 255)
        y0, y1 = max(0, int(cy - r)), min(h, int(cy + r) + 1)
        x0, x1 = max(0, int(cx - r)), min(w, int(cx + r) + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        dy, dx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
        u = dx * np.cos(theta) + dy * np.sin(theta)
        v = -dx * np.sin(theta) + dy * np.cos(theta)
        inside = (u / r) ** 2 + (v / (r * ratio)) ** 2 <= 1.0
        img[y0:y1, x0:x1][inside] = colour
    sigma = float(rng.choice([0.0, 0.5, 1.5, 4.0]))
    if sigma:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img += rng.normal(0, rng.uniform(0, 8), img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def calibration_images(size: tuple[int, int]) -> np.ndarray:
    """The calibration set: :data:`CALIBRATION_IMAGES` generated RGB uint8 images."""
    return synthetic_images(CALIBRATION_IMAGES, size, CALIBRATION_SEED)


def held_back_images(size: tuple[int, int]) -> np.ndarray:
    """The verification set: :data:`HELD_BACK_IMAGES` other generated RGB uint8 images."""
    return synthetic_images(HELD_BACK_IMAGES, size, CALIBRATION_SEED + 1)


def float_nodes(
    float_model: bytes, input_size: tuple[int, int], fraction: float = FLOAT_STEM_FRACTION
) -> list[str]:
    """Output tensor names of the operators to keep in float32: the stem and the tail.

    The stem: operators reading maps of >= ``fraction`` of the input size. The tail: the first
    operator with an ``(N, D)`` output (the global pooling) and every one after it, so the
    feature vector is averaged in float32 and a classifier built on the backbone (its head is
    tail too) quantises the backbone exactly as the backbone alone. Read from the float32
    LiteRT model (batch 1); ``[]`` when its operators cannot be listed (then every operator is
    quantised and verification decides).
    """
    limit = fraction * min(input_size)
    names: list[str] = []
    tail = False
    for size, ranks, outputs in _operators(float_model, input_size):
        tail = tail or any(rank <= 2 for rank in ranks)
        if tail or (size is not None and size >= limit):
            names += outputs
    return names


def _operators(
    float_model: bytes, input_size: tuple[int, int]
) -> list[tuple[int | None, list[int], list[str]]]:
    """Per operator in order: smaller side of its first 4-D input (or None), output ranks and
    output tensor names."""
    from gui_app.core.engines import _import_litert

    interp = _import_litert()(model_content=float_model)
    try:
        index = interp.get_input_details()[0]["index"]
        interp.resize_tensor_input(index, [1, *input_size, 3], strict=True)
        interp.allocate_tensors()
        tensors = {t["index"]: t for t in interp.get_tensor_details()}
        ops = interp._get_ops_details()  # what QuantizationDebugger itself relies on
    except (AttributeError, KeyError, ValueError, RuntimeError):
        return []
    out = []
    for op in ops:
        if op["op_name"] == "DELEGATE":  # XNNPACK's fused partitions, not model operators
            continue
        maps = [tensors[i] for i in op["inputs"] if i >= 0 and len(tensors[i]["shape"]) == 4]
        size = int(min(maps[0]["shape"][1:3])) if maps else None
        outputs = [tensors[i] for i in op["outputs"] if i >= 0]
        out.append((size, [len(t["shape"]) for t in outputs], [t["name"] for t in outputs]))
    return out


def convert_int8(
    model: Any,
    input_size: tuple[int, int],
    calibration: np.ndarray,
    float_nodes: list[str],
) -> bytes:
    """The int8 LiteRT flatbuffer of a Keras model (float32 in and out, batch left dynamic).

    Parameters
    ----------
    calibration
        Preprocessed float32 batch ``(N, H, W, 3)`` fed one image at a time to the calibrator.
    float_nodes
        Output tensor names of operators to keep in float32 (:func:`float_nodes`).
    """
    import tensorflow as tf

    def representative() -> Iterator[list[np.ndarray]]:
        for i in range(len(calibration)):
            yield [calibration[i : i + 1]]

    h, w = input_size
    sig = tf.TensorSpec([None, h, w, 3], tf.float32, name="images")
    with tempfile.TemporaryDirectory(prefix="loupe-int8-") as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False, input_signature=[sig])
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS,  # the float stem
        ]
        if not float_nodes:
            converter.inference_input_type = tf.float32
            converter.inference_output_type = tf.float32
            return converter.convert()
        # Selective quantisation: TF's public (experimental) way to keep named ops in float.
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=float_nodes)
        with warnings.catch_warnings():  # it opens a tf.lite.Interpreter (deprecated, noisy)
            warnings.simplefilter("ignore", UserWarning)
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=representative, debug_options=options
            )
        return debugger.get_nondebug_quantized_model()


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``a`` with the same row of ``b`` (float64).

    Two all-zero rows count as identical (1.0); one all-zero row against another as 0.0.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    dot = np.sum(a * b, axis=1)
    out = np.divide(dot, na * nb, out=np.zeros_like(dot), where=(na * nb) > 0)
    out[(na == 0) & (nb == 0)] = 1.0
    return np.nan_to_num(out, nan=0.0)


def throughput(
    engines: dict[str, Callable[[np.ndarray], Any]], x: np.ndarray, rounds: int = 5
) -> dict[str, float]:
    """Best images/s of each engine on ``x`` over ``rounds`` interleaved rounds (after warm-up).

    Interleaving and the best of several rounds keep a short burst of load on a shared machine
    from deciding the comparison.
    """
    for fn in engines.values():
        fn(x)
    best = dict.fromkeys(engines, 0.0)
    for _ in range(rounds):
        for name, fn in engines.items():
            start = time.perf_counter()
            fn(x)
            fn(x)
            seconds = max(time.perf_counter() - start, 1e-9)
            best[name] = max(best[name], 2 * len(x) / seconds)
    return best
