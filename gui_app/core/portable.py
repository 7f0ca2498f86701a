"""Portable linear model: ``weights.npz`` + ``model.json``, read back with numpy alone (no pickle).

The arrays and the probability formula in words are enough to reproduce the learner's
probabilities in any language; :class:`PortableModel` is the reference reader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gui_app.core.export import ExportError, atomic_write

if TYPE_CHECKING:
    from gui_app.core.learner import OnlineLearner

PORTABLE_FORMAT = "loupe-portable-linear"
PORTABLE_VERSION = 1
SIGMOID_CLAMP = 30.0  # river's sigmoid is exactly 0 below -30 and 1 above +30
_PROBABILITY_TEXT = {
    "ovr-logistic": (
        "s = (x - mean) / scale, with s = 0 where scale == 0; z = coef @ s + intercept; "
        "p_c = 1 / (1 + exp(-z_c)), set to 0 where z_c < -30 and to 1 where z_c > 30; "
        "p = p / sum(p), or 1/C for every class when sum(p) == 0 (river's one-vs-rest); "
        "then p = p ** power / sum(p ** power) (calibration)"
    ),
    "softmax": (
        "s = (x - mean) / scale, with s = 0 where scale == 0; z = coef @ s + intercept; "
        "z = power * z; p = exp(z - max(z)) / sum(exp(z - max(z)))"
    ),
}


def linear_params(learner: OnlineLearner) -> dict[str, Any]:
    """:meth:`OnlineLearner.export_linear`, or `ExportError` saying why there is none."""
    params = learner.export_linear()
    if params is None:
        if learner.name not in ("logistic", "softmax"):
            raise ExportError(
                f"portable export needs a linear learner (logistic or softmax), not {learner.name}"
            )
        raise ExportError("nothing to export yet: the model has learned fewer than two classes")
    return params


@dataclass(frozen=True, eq=False)
class PortableModel:
    """A linear classifier read by :func:`load_portable` (numpy only)."""

    classes: list[str]
    kind: str  # 'ovr-logistic' or 'softmax'
    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,) standard deviation; 0 drops the feature
    coef: np.ndarray  # (C, D)
    intercept: np.ndarray  # (C,)
    backbone_id: str
    power: float  # calibration: p ** power, renormalised
    meta: dict[str, Any]

    @property
    def feature_dim(self) -> int:
        return int(self.mean.shape[0])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``(N, C)`` float64 probabilities, columns in :attr:`classes` order."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.feature_dim:
            raise ValueError(f"expected (N, {self.feature_dim}) features, got {X.shape}")
        inv = np.zeros_like(self.scale)
        np.divide(1.0, self.scale, out=inv, where=self.scale != 0.0)
        z = ((X - self.mean) * inv) @ self.coef.T + self.intercept
        if self.kind == "softmax":
            z = self.power * z
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        with np.errstate(over="ignore"):
            p = 1.0 / (1.0 + np.exp(-z))
        p[z < -SIGMOID_CLAMP] = 0.0
        p[z > SIGMOID_CLAMP] = 1.0
        total = p.sum(axis=1, keepdims=True)
        dead = total[:, 0] == 0.0
        p[dead] = 1.0
        total[dead] = p.shape[1]
        p = (p / total) ** self.power
        return p / p.sum(axis=1, keepdims=True)


def export_portable(learner: OnlineLearner, backbone_id: str, out_dir: Path) -> Path:
    """Write ``weights.npz`` (mean, scale, coef, intercept) and ``model.json`` into ``out_dir``.

    ``model.json`` names the format, the learned classes (rows of ``coef``), the backbone id
    the features come from, the kind, the feature dimension and the probability formula in
    words. Known classes the learner has not learned yet are listed as ``unlearned_classes``
    (probability 0). Raises `ExportError` for a non-linear or untrained learner.
    """
    p = linear_params(learner)
    out_dir = Path(out_dir)
    arrays = {k: np.asarray(p[k], dtype=np.float64) for k in ("mean", "scale", "coef", "intercept")}
    meta = {
        "format": PORTABLE_FORMAT,
        "version": PORTABLE_VERSION,
        "kind": p["kind"],
        "classes": list(p["classes"]),
        "unlearned_classes": [c for c in learner.classes if c not in p["classes"]],
        "backbone_id": backbone_id,
        "feature_dim": int(arrays["mean"].shape[0]),
        "power": float(p.get("power", 1.0)),
        "weights": "weights.npz: mean (D,), scale (D,), coef (C, D), intercept (C,), float64",
        "probabilities": _PROBABILITY_TEXT[p["kind"]],
    }
    atomic_write(out_dir / "weights.npz", lambda fh: np.savez(fh, **arrays), binary=True)
    text = json.dumps(meta, ensure_ascii=False, indent=1) + "\n"
    atomic_write(out_dir / "model.json", lambda fh: fh.write(text))
    return out_dir


def load_portable(directory: Path) -> PortableModel:
    """Read a model written by :func:`export_portable` (``np.load(allow_pickle=False)``).

    Raises
    ------
    ExportError
        Missing or unreadable files, another format, or arrays of inconsistent shapes.
    """
    directory = Path(directory)
    try:
        meta = json.loads((directory / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read portable model in {directory}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != PORTABLE_FORMAT:
        raise ExportError(f"{directory / 'model.json'} is not a Loupe portable model")
    if meta.get("version") != PORTABLE_VERSION or meta.get("kind") not in _PROBABILITY_TEXT:
        raise ExportError(f"{directory} holds an unsupported portable model version or kind")
    try:
        with np.load(directory / "weights.npz", allow_pickle=False) as npz:
            arrays = {k: np.asarray(npz[k], dtype=np.float64)
                      for k in ("mean", "scale", "coef", "intercept")}  # fmt: skip
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"cannot read portable model weights in {directory}: {exc}") from exc
    classes = meta.get("classes")
    c, d = len(classes or []), arrays["mean"].shape[0] if arrays["mean"].ndim == 1 else -1
    expected = {"mean": (d,), "scale": (d,), "coef": (c, d), "intercept": (c,)}
    if (
        not isinstance(classes, list)
        or c < 2
        or any(arrays[k].shape != shape for k, shape in expected.items())
        or not all(np.isfinite(a).all() for a in arrays.values())
        or (arrays["scale"] < 0).any()
    ):
        raise ExportError(f"portable model in {directory} is damaged (inconsistent arrays)")
    backbone_id = str(meta.get("backbone_id", ""))
    power = meta.get("power", 1.0)  # absent in models written before calibration
    if not isinstance(power, int | float) or not 0.0 < power < 1e3:
        raise ExportError(f"portable model in {directory} is damaged (power {power!r})")
    return PortableModel([str(x) for x in classes], meta["kind"], **arrays,
                         backbone_id=backbone_id, power=float(power), meta=meta)  # fmt: skip
