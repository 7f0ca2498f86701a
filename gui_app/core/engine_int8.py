"""The ``litert-int8`` engine: convert once, verify against fp32, cache the verdict.

:func:`int8_or_fp32` returns the int8 engine when it verified on this machine, else the fp32
one with the reason logged. Conversion (:mod:`gui_app.core.quantize`) happens once per backbone
id: the int8 model and a JSON verdict go beside the fp32 engine (``<id>.int8.tflite`` and
``<id>.int8.json``: per user for the built-in EfficientNet-Lite0, per project otherwise). A
rejected conversion is remembered too, so it is not retried on every start; deleting the JSON
file retries it.

Verification, on :data:`~gui_app.core.quantize.HELD_BACK_IMAGES` generated images that the
calibration did not see: the mean cosine of int8 to fp32 features must be at least
:data:`MIN_COSINE`, and int8 must run at least :data:`MIN_SPEEDUP` times as fast as fp32 here.
Nothing here imports TensorFlow at module level.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from gui_app.core.atomic import atomic_write_bytes
from gui_app.core.backbones import BackboneSpec, preprocess
from gui_app.core.quantize import (
    CALIBRATION_IMAGES,
    CALIBRATION_SEED,
    HELD_BACK_IMAGES,
    INT8_RECIPE,
    cosine_rows,
)

MIN_COSINE = 0.98
MIN_SPEEDUP = 1.2  # below it int8 costs fidelity for too little time
SPEED_IMAGES = 8
_VERDICT_VERSION = 1


@dataclass(frozen=True)
class Int8Verdict:
    """What the one conversion found; ``reason`` says why int8 is not used when rejected."""

    id: str
    verified: bool
    reason: str = ""
    cosine_mean: float | None = None
    cosine_min: float | None = None
    fp32_images_per_s: float | None = None
    int8_images_per_s: float | None = None
    bytes: int = 0
    sha256: str = ""

    def summary(self) -> str:
        """One line: fidelity and speed measured at conversion."""
        parts = []
        if self.cosine_mean is not None and self.cosine_min is not None:
            parts.append(
                f"mean cosine to fp32 {self.cosine_mean:.4f} (min {self.cosine_min:.4f}) on "
                f"{HELD_BACK_IMAGES} held-back images"
            )
        if self.fp32_images_per_s and self.int8_images_per_s:
            ratio = self.int8_images_per_s / self.fp32_images_per_s
            parts.append(
                f"{ratio:.2f}x the speed of fp32 ({self.int8_images_per_s:.0f} vs "
                f"{self.fp32_images_per_s:.0f} images/s)"
            )
        return ", ".join(parts)


def int8_paths(spec: BackboneSpec, cache_dir: Path) -> tuple[Path, Path]:
    """``(model.int8.tflite, verdict.int8.json)`` for ``spec`` inside ``cache_dir``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", spec.id)
    return cache_dir / f"{stem}.int8.tflite", cache_dir / f"{stem}.int8.json"


def read_verdict(spec: BackboneSpec, cache_dir: Path) -> Int8Verdict | None:
    """The cached verdict for ``spec``, or ``None`` (none, outdated, or its model damaged)."""
    model_path, sidecar = int8_paths(spec, cache_dir)
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("version") != _VERDICT_VERSION:
        return None
    if meta.get("recipe") != INT8_RECIPE or meta.get("id") != spec.id:
        return None
    fields = {k: meta.get(k) for k in Int8Verdict.__dataclass_fields__ if k in meta}
    try:
        verdict = Int8Verdict(**fields)
    except TypeError:
        return None
    if verdict.verified:
        try:
            data = model_path.read_bytes()
        except OSError:
            return None
        if len(data) != verdict.bytes or _sha16(data) != verdict.sha256:
            return None
    return verdict


def verified(spec: BackboneSpec, cache_dir: Path | None) -> bool:
    """Whether a verified int8 verdict for ``spec`` is cached in ``cache_dir``."""
    verdict = read_verdict(spec, cache_dir) if cache_dir is not None else None
    return verdict is not None and verdict.verified


def int8_engine(
    spec: BackboneSpec,
    cache_dir: Path | None,
    get_model: Callable[[], Any],
    log: Callable[[str], None],
) -> Any:
    """The ``litert-int8`` engine of ``spec``, else LiteRT fp32 (else tf-function), and why."""
    from gui_app.core import engines

    try:
        fp32 = engines._litert_engine(spec, cache_dir, get_model, log)
    except engines._LiteRTUnavailable as exc:
        log(f"LiteRT engine unavailable (so no int8 either), using tf-function: {exc}")
        return engines.TFFunctionEngine(get_model(), spec)
    return int8_or_fp32(spec, cache_dir, fp32, get_model, log)


def int8_or_fp32(
    spec: BackboneSpec,
    cache_dir: Path | None,
    fp32: Any,
    get_model: Callable[[], Any],
    log: Callable[[str], None],
) -> Any:
    """The verified int8 engine of ``spec``, or ``fp32`` (a LiteRT fp32 engine) and why not.

    Uses the cached verdict when there is one; otherwise converts, verifies and caches.
    """
    from gui_app.core.engines import LiteRTInt8Engine

    paths = int8_paths(spec, cache_dir) if cache_dir is not None else None
    verdict = read_verdict(spec, cache_dir) if cache_dir is not None else None
    if paths is not None and verdict is not None:
        if not verdict.verified:
            log(
                f"LiteRT int8 not used for {spec.label}: {verdict.reason} (found when it was "
                f"converted; delete {paths[1]} to try again); using LiteRT fp32"
            )
            return fp32
        try:
            engine = LiteRTInt8Engine(paths[0])
        except (ValueError, RuntimeError) as exc:
            log(f"LiteRT int8: cached model {paths[0].name} unusable ({exc}); converting again")
        else:
            log(f"LiteRT int8: using the cached verified model {paths[0]} ({verdict.summary()})")
            return engine
    where = f" (cached in {paths[0].parent})" if paths is not None else ""
    log(
        f"LiteRT int8: quantising {spec.label} once, calibrated on {CALIBRATION_IMAGES} "
        f"generated images{where} ..."
    )
    start = time.perf_counter()
    engine, verdict, content = _convert_and_verify(spec, fp32, get_model)
    seconds = time.perf_counter() - start
    if paths is not None:
        try:
            _write(paths, verdict, content, seconds)
        except OSError as exc:
            log(f"LiteRT int8: cannot cache {paths[1]} ({exc}); converting again next time")
    if engine is None:
        log(f"LiteRT int8 not used for {spec.label}: {verdict.reason}; using LiteRT fp32")
        return fp32
    log(f"LiteRT int8: verified in {seconds:.0f} s: {verdict.summary()}")
    return engine


def _convert_and_verify(
    spec: BackboneSpec, fp32: Any, get_model: Callable[[], Any]
) -> tuple[Any, Int8Verdict, bytes]:
    """``(int8 engine or None, verdict, model bytes)``; never raises for a bad conversion."""
    from gui_app.core import quantize
    from gui_app.core.engines import LiteRTInt8Engine

    size = spec.input_size
    calib = preprocess(spec, quantize.calibration_images(size))
    held = preprocess(spec, quantize.held_back_images(size))
    try:
        float_nodes = quantize.float_nodes(fp32.model_bytes(), size)
        content = quantize.convert_int8(get_model(), size, calib, float_nodes)
        engine = LiteRTInt8Engine(content)
        got = engine(held)
    except Exception as exc:  # the converter raises many unrelated types; all mean "no int8"
        return (
            None,
            Int8Verdict(spec.id, False, f"conversion failed: {type(exc).__name__}: {exc}"),
            b"",
        )
    cos = cosine_rows(fp32(held), got)
    mean, low = float(np.mean(cos)), float(np.min(cos))
    speed = quantize.throughput({"fp32": fp32, "int8": engine}, held[:SPEED_IMAGES])
    fields = dict(
        cosine_mean=mean, cosine_min=low,
        fp32_images_per_s=speed["fp32"], int8_images_per_s=speed["int8"],
    )  # fmt: skip
    if not mean >= MIN_COSINE:  # also NaN
        reason = f"its features differ from fp32 (mean cosine {mean:.3f} < {MIN_COSINE})"
    elif speed["int8"] < MIN_SPEEDUP * speed["fp32"]:
        reason = (
            f"it is not faster here ({speed['int8']:.0f} vs {speed['fp32']:.0f} images/s for "
            f"fp32; needs {MIN_SPEEDUP:.1f}x)"
        )
    else:
        verdict = Int8Verdict(spec.id, True, "", bytes=len(content), sha256=_sha16(content),
                              **fields)  # fmt: skip
        return engine, verdict, content
    return None, Int8Verdict(spec.id, False, reason, **fields), b""


def _write(paths: tuple[Path, Path], verdict: Int8Verdict, content: bytes, seconds: float) -> None:
    model_path, sidecar = paths
    model_path.parent.mkdir(parents=True, exist_ok=True)
    if verdict.verified:
        atomic_write_bytes(model_path, content)
    else:
        model_path.unlink(missing_ok=True)
    meta = {
        "version": _VERDICT_VERSION,
        "recipe": INT8_RECIPE,
        **asdict(verdict),
        "calibration": f"{CALIBRATION_IMAGES} generated dead-leaves images, seed "
        f"{CALIBRATION_SEED}; held back: {HELD_BACK_IMAGES}, seed {CALIBRATION_SEED + 1}",
        "thresholds": {"min_cosine": MIN_COSINE, "min_speedup": MIN_SPEEDUP},
        "converter": f"tensorflow {_version('tensorflow')} post-training integer quantisation",
        "seconds": round(seconds, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    atomic_write_bytes(sidecar, json.dumps(meta, indent=1).encode("utf-8"))  # last: the verdict


def _sha16(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"
