"""Plain helpers shared by the reliability tests and their child processes (no pytest)."""

from __future__ import annotations

import os
import sqlite3
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def child_env(**extra: str) -> dict[str, str]:
    """Environment for child Python processes: the repo importable, quiet and single-threaded."""
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), TF_CPP_MIN_LOG_LEVEL="3")
    env.update({k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    env.update(extra)
    return env


def image_paths(n: int) -> list[str]:
    """Relative image paths used by the synthetic sessions (the files need not exist)."""
    return [f"sub/img{i:05d}.jpg" for i in range(n)]


def synthetic_vectors(paths: Sequence[str], dim: int) -> np.ndarray:
    """Deterministic float32 features: the same path always gets the same vector."""
    out = np.empty((len(paths), dim), np.float32)
    for i, path in enumerate(paths):
        rng = np.random.default_rng(zlib.crc32(path.encode("utf-8")))
        out[i] = rng.normal(0.0, 1.0, dim)
        out[i, zlib.crc32(path.encode()) % dim] += 3.0  # a little structure to learn
    return out


def integrity(db: Path) -> str:
    """``PRAGMA integrity_check`` of a SQLite file through a separate raw connection."""
    con = sqlite3.connect(db)
    try:
        return "; ".join(r[0] for r in con.execute("PRAGMA integrity_check"))
    finally:
        con.close()


def assert_same_predictions(a, b, vectors: np.ndarray, tol: float = 1e-9) -> None:
    """Two OnlineLearners give the same probabilities (within ``tol``) on ``vectors``."""
    assert a.can_predict() == b.can_predict()
    assert a.n_learned == b.n_learned, (a.n_learned, b.n_learned)
    if not a.can_predict():
        return
    for v in vectors:
        pa, pb = a.predict_proba(v), b.predict_proba(v)
        assert set(pa) == set(pb)
        worst = max(abs(pa[c] - pb[c]) for c in pa)
        assert worst <= tol, f"predictions differ by {worst:.3g}"


def replayed(session):
    """A learner rebuilt from ``session``'s journal and vectors, leaving ``session`` as it was."""
    from gui_app.core.learner import OnlineLearner

    events = [
        (label, vec)
        for _seq, path, label in session.labels.training_events()
        if (vec := session.vectors.get(path)) is not None
    ]
    return OnlineLearner.rebuild(session.learner_name, events, session.labels.class_names())


def temp_leftovers(directory: Path) -> list[str]:
    """Names of temp files a torn write would leave behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".tmp", ".temp")))
