"""Inference engines: run a backbone on a preprocessed float32 batch, one engine per device.

``engine = create_engine(spec, cache_dir)`` then ``features = engine(preprocess(spec, batch))``.
On CPU the Keras model is converted once per backbone id to a float32 LiteRT (TFLite) flatbuffer
run by XNNPACK, verified against Keras and cached (per project, or per user for the built-in
EfficientNet-Lite0); on GPU a ``tf.function`` runs the Keras model. The ``litert-int8`` engine
(:mod:`gui_app.core.engine_int8`) is an int8 flatbuffer verified against that fp32 one; which
engine ``auto`` picks and the feature identity of each: :mod:`gui_app.core.engine_choice`.
Engines are not thread-safe for concurrent calls (a lock serialises them); use one thread.
TensorFlow/Keras/LiteRT are imported lazily inside functions.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gui_app.core.atomic import atomic_write_bytes
from gui_app.core.backbones import (
    BackboneSpec,
    build_model,
    engine_cache_dir,
    keras_backend,
    preprocess,
)
from gui_app.core.engine_choice import (
    AUTO,
    ENGINE_CHOICES,
    INT8,
    canonical,
    int8_by_default,
)
from gui_app.core.gpu import gpu_possible

__all__ = ["ENGINE_CHOICES", "InferenceEngine", "LiteRTEngine", "LiteRTInt8Engine", "create_engine"]
VERIFY_RTOL = 1e-3  # max |litert - keras| allowed, relative to max |keras| on the sample batch
_SIDECAR_VERSION = 1


class InferenceEngine(Protocol):
    """Callable ``(N, H, W, 3) float32 -> (N, D) float32``.

    ``precision`` (``'fp32'`` or ``'int8'``) decides the feature identity
    (:func:`~gui_app.core.engine_choice.feature_id`).
    """

    name: str
    feature_dim: int
    precision: str

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


class _LiteRTUnavailable(Exception):
    """LiteRT cannot be used for this backbone; the message says why."""


class _BatchEngine:
    """Shared input checking and locking; subclasses implement ``_run``."""

    name = "base"
    precision = "fp32"

    def __init__(self, input_size: tuple[int, int], feature_dim: int) -> None:
        self.input_size = input_size
        self.feature_dim = feature_dim
        self._lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h, w = self.input_size
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (h, w, 3):
            raise ValueError(f"expected a batch of shape (N, {h}, {w}, 3), got {x.shape}")
        if len(x) == 0:
            return np.zeros((0, self.feature_dim), np.float32)
        with self._lock:
            out = self._run(x)
        return np.asarray(out, dtype=np.float32)

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.input_size} -> {self.feature_dim}>"


class LiteRTEngine(_BatchEngine):
    """A LiteRT interpreter (XNNPACK delegate); resizes only when the batch size changes."""

    name = "litert-xnnpack"

    def __init__(self, model: bytes | Path, num_threads: int | None = None) -> None:
        interpreter_cls = _import_litert()
        threads = num_threads or os.cpu_count() or 1
        if isinstance(model, bytes):
            interp = interpreter_cls(model_content=model, num_threads=threads)
        else:
            interp = interpreter_cls(model_path=str(model), num_threads=threads)
        inputs, outputs = interp.get_input_details(), interp.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError("a LiteRT backbone needs exactly one input and one output")
        in_shape, out_shape = inputs[0]["shape_signature"], outputs[0]["shape_signature"]
        if len(in_shape) != 4 or len(out_shape) != 2:
            raise ValueError(f"unexpected LiteRT signature {in_shape} -> {out_shape}")
        super().__init__((int(in_shape[1]), int(in_shape[2])), int(out_shape[1]))
        self.source = model
        self._interp = interp
        self._in, self._out = inputs[0]["index"], outputs[0]["index"]
        self._batch = -1

    def _run(self, x: np.ndarray) -> np.ndarray:
        if len(x) != self._batch:
            self._interp.resize_tensor_input(self._in, list(x.shape), strict=True)
            self._interp.allocate_tensors()
            self._batch = len(x)
        self._interp.set_tensor(self._in, x)
        self._interp.invoke()
        return self._interp.get_tensor(self._out)  # a copy

    def model_bytes(self) -> bytes:
        """The flatbuffer this engine runs."""
        return self.source if isinstance(self.source, bytes) else Path(self.source).read_bytes()

    def with_threads(self, num_threads: int) -> LiteRTEngine:
        """The same model (same class, same file or bytes) run with ``num_threads`` threads."""
        return type(self)(self.source, num_threads=num_threads)


class LiteRTInt8Engine(LiteRTEngine):
    """A LiteRT interpreter of the int8 model (:mod:`gui_app.core.engine_int8`)."""

    name = "litert-int8"
    precision = "int8"


class TFFunctionEngine(_BatchEngine):
    """The Keras model traced once by ``tf.function`` with a ``None`` batch dimension."""

    name = "tf-function"

    def __init__(self, model: Any, spec: BackboneSpec) -> None:
        import tensorflow as tf

        super().__init__(spec.input_size, _feature_dim(model, spec))
        h, w = spec.input_size
        sig = tf.TensorSpec([None, h, w, 3], tf.float32, name="images")
        self._fn = tf.function(lambda x: model(x, training=False), input_signature=[sig])

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self._fn(x).numpy()


class KerasEngine(_BatchEngine):
    """Backend-agnostic ``model.predict_on_batch`` (jit-compiled by JAX/TF, eager on torch)."""

    name = "keras-eager"

    def __init__(self, model: Any, spec: BackboneSpec) -> None:
        super().__init__(spec.input_size, _feature_dim(model, spec))
        self._model = model

    def _run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._model.predict_on_batch(x))


def _feature_dim(model: Any, spec: BackboneSpec) -> int:
    if spec.feature_dim:
        return spec.feature_dim
    if getattr(model, "outputs", None):
        return int(model.outputs[0].shape[-1])
    return int(np.shape(model(np.zeros((1, *spec.input_size, 3), np.float32)))[-1])


def create_engine(
    spec: BackboneSpec,
    cache_dir: Path | None,
    prefer: str = AUTO,
    log: Callable[[str], None] = print,
    *,
    allow_int8: bool = True,
) -> InferenceEngine:
    """Pick and build the engine for ``spec``.

    Parameters
    ----------
    spec
        The resolved backbone.
    cache_dir
        Where verified ``<id>.tflite`` files (+ ``.json`` sidecars) are kept; ``None``: no cache.
        The built-in offline EfficientNet-Lite0 ignores it and uses the per-user folder of
        :func:`~gui_app.core.backbones.engine_cache_dir`, shared by every project.
    prefer
        One of :data:`ENGINE_CHOICES`. ``'auto'``: the verified int8 engine for the built-in
        EfficientNet-Lite0 (:func:`~gui_app.core.engine_choice.int8_by_default`), else
        tf-function on a GPU and LiteRT fp32 on a CPU. ``'litert-int8'``: int8 for any
        backbone, falling back to LiteRT fp32 (with the reason logged) when it does not verify.
        ``'tensorflow'`` is ``'tf-function'``. If LiteRT cannot be used, falls back to
        tf-function and logs why.
    log
        Receives one-line progress / fallback messages.
    allow_int8
        False: ``'auto'`` never picks int8 (a project that already has fp32 features keeps
        them; see :func:`~gui_app.core.engine_choice.planned_precision`).
    """
    prefer = canonical(prefer)
    get_model = functools.cache(lambda: build_model(spec, log))
    shared = engine_cache_dir(spec)
    if shared is not None:
        cache_dir = shared
    backend = keras_backend()
    if backend != "tensorflow":
        if prefer in ("litert", INT8, "tf-function"):
            log(f"{prefer} engine needs KERAS_BACKEND=tensorflow (it is {backend}); using keras")
        return KerasEngine(get_model(), spec)
    if prefer == "keras":
        return KerasEngine(get_model(), spec)
    if prefer == "tf-function":
        return TFFunctionEngine(get_model(), spec)
    wants_int8 = prefer == INT8 or (prefer == AUTO and allow_int8 and int8_by_default(spec))
    gpu_auto = prefer == AUTO and _gpu_visible()
    if wants_int8:
        from gui_app.core import engine_int8

        # On a GPU, auto converts nothing: int8 only once a verified verdict exists.
        if not gpu_auto or engine_int8.verified(spec, cache_dir):
            return engine_int8.int8_engine(spec, cache_dir, get_model, log)
    if gpu_auto:
        return TFFunctionEngine(get_model(), spec)
    try:
        return _litert_engine(spec, cache_dir, get_model, log)
    except _LiteRTUnavailable as exc:
        log(f"LiteRT engine unavailable, using tf-function: {exc}")
    return TFFunctionEngine(get_model(), spec)


# --- LiteRT conversion and cache -----------------------------------------------------------


def _import_litert() -> Any:
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter


def _gpu_visible() -> bool:
    if not gpu_possible():  # no TensorFlow import just to learn there is no GPU
        return False
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        # RuntimeError: the GPU is already initialised by someone else; keep their setting.
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)
    return bool(gpus)


def cache_paths(spec: BackboneSpec, cache_dir: Path) -> tuple[Path, Path]:
    """``(model.tflite, sidecar.json)`` paths for ``spec`` inside ``cache_dir``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", spec.id)
    return cache_dir / f"{stem}.tflite", cache_dir / f"{stem}.json"


def convert_to_tflite(model: Any, input_size: tuple[int, int]) -> bytes:
    """Float32 TFLite flatbuffer of a Keras 3 model, batch dimension left dynamic.

    Uses ``model.export(format='tf_saved_model')`` + ``TFLiteConverter.from_saved_model``: with
    TF 2.21 / Keras 3.15, ``from_concrete_functions`` on a ``tf.function`` wrapping the model
    leaves the weights as uninitialised resource variables (NaN outputs), and
    ``from_keras_model`` does the same export but prints it to stdout.
    """
    import tensorflow as tf

    h, w = input_size
    sig = tf.TensorSpec([None, h, w, 3], tf.float32, name="images")
    with tempfile.TemporaryDirectory(prefix="loupe-export-") as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False, input_signature=[sig])
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = []  # float32, no quantisation
        return converter.convert()


def _litert_engine(
    spec: BackboneSpec,
    cache_dir: Path | None,
    get_model: Callable[[], Any],
    log: Callable[[str], None],
) -> LiteRTEngine:
    try:
        _import_litert()
    except ImportError as exc:
        raise _LiteRTUnavailable(f"ai_edge_litert is not importable ({exc})") from exc
    paths = cache_paths(spec, cache_dir) if cache_dir is not None else None
    if paths is not None and _cache_valid(spec, *paths):
        try:
            engine = LiteRTEngine(paths[0])
        except (ValueError, RuntimeError) as exc:
            log(f"LiteRT: cached model {paths[0].name} unusable ({exc}); converting again")
        else:
            log(f"LiteRT: using cached verified model {paths[0]}")
            return engine
    model = get_model()
    if paths is not None:
        log(f"LiteRT: converting {spec.label} once (cached in {paths[0].parent}) ...")
    start = time.perf_counter()
    try:
        content = convert_to_tflite(model, spec.input_size)
        engine = LiteRTEngine(content)
    except Exception as exc:  # the converter raises many unrelated types; all mean "no LiteRT"
        raise _LiteRTUnavailable(f"conversion failed: {type(exc).__name__}: {exc}") from exc
    diff, tol = _verify(spec, model, engine)
    seconds = time.perf_counter() - start
    log(f"LiteRT: converted {spec.label} in {seconds:.1f} s (max abs diff {diff:.2g})")
    if paths is not None:
        try:
            _write_cache(spec, paths, content, diff, tol)
        except OSError as exc:
            log(f"LiteRT: cannot cache {paths[0]} ({exc}); converting again next time")
    return engine


def _verify(spec: BackboneSpec, model: Any, engine: LiteRTEngine) -> tuple[float, float]:
    """Compare LiteRT with Keras on two random images; raise if they disagree."""
    rng = np.random.default_rng(0)
    x = preprocess(spec, rng.uniform(0, 255, (2, *spec.input_size, 3)).astype(np.float32))
    ref = np.asarray(model(x, training=False), dtype=np.float32)
    got = engine(x)
    if got.shape != ref.shape:
        raise _LiteRTUnavailable(f"verification failed: shape {got.shape} != {ref.shape}")
    diff = float(np.max(np.abs(got - ref)))
    tol = VERIFY_RTOL * max(float(np.max(np.abs(ref))), float(np.finfo(np.float32).tiny))
    if not diff <= tol:  # also catches NaN
        raise _LiteRTUnavailable(f"verification failed: max abs diff {diff:.3g} > {tol:.3g}")
    return diff, tol


def _sha16(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _cache_valid(spec: BackboneSpec, model_path: Path, sidecar: Path) -> bool:
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        data = model_path.read_bytes()
    except (OSError, ValueError):
        return False
    return (
        isinstance(meta, dict)
        and meta.get("version") == _SIDECAR_VERSION
        and meta.get("id") == spec.id
        and meta.get("verified") is True
        and meta.get("bytes") == len(data)
        and meta.get("sha256") == _sha16(data)
    )


def _write_cache(
    spec: BackboneSpec, paths: tuple[Path, Path], content: bytes, diff: float, tol: float
) -> None:
    import tensorflow as tf

    model_path, sidecar = paths
    model_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(model_path, content)
    meta = {
        "version": _SIDECAR_VERSION,
        "id": spec.id,
        "label": spec.label,
        "verified": True,
        "max_abs_diff": diff,
        "tolerance": tol,
        "bytes": len(content),
        "sha256": _sha16(content),
        "converter": f"tf {tf.__version__} keras export + TFLiteConverter.from_saved_model",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    atomic_write_bytes(sidecar, json.dumps(meta, indent=1).encode("utf-8"))
