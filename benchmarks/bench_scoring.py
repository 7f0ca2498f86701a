"""Benchmark the online learner: per-action latency (Q1) and bulk scoring (Q2).

Run from the repository root::

    python benchmarks/bench_scoring.py            # 100,000 x 1280, 20 classes
    python benchmarks/bench_scoring.py --rows 20000 --actions 500   # quicker

Data are synthetic but structured: class-dependent Gaussian blobs passed through a ReLU (like
pooled CNN features), with a few dead (constant zero) feature columns.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import river

from gui_app.core.learner import OnlineLearner


class Blobs:
    """Class-dependent Gaussian blobs, ReLU'd, with dead columns."""

    def __init__(self, dim: int, n_classes: int, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.centers = np.abs(self.rng.normal(0.4, 0.6, (n_classes, dim))).astype(np.float32)
        self.dead = self.rng.choice(dim, max(1, dim // 160), replace=False)
        self.n_classes = n_classes

    def sample(self, n: int) -> tuple[np.ndarray, list[str]]:
        y = self.rng.integers(0, self.n_classes, n)
        X = self.rng.standard_normal((n, self.centers.shape[1]), dtype=np.float32)
        X *= 0.8
        X += self.centers[y]
        np.maximum(X, 0.0, out=X)
        X[:, self.dead] = 0.0
        return X, [f"class{c:02d}" for c in y]


def machine_info() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("n/a",)
    return (
        f"platform: {platform.platform()} | cpu: {platform.processor() or platform.machine()}"
        f" | cpu_count: {os.cpu_count()} | load avg: {', '.join(f'{v:.2f}' for v in load)}\n"
        f"python {platform.python_version()} | numpy {np.__version__} | river {river.__version__}"
    )


def bench_actions(learner: OnlineLearner, data: Blobs, warmup: int, actions: int) -> None:
    """Q1 core: one user action = learn(labelled vector) + predict_proba(next image)."""
    X, y = data.sample(warmup)
    for v, lab in zip(X, y, strict=True):
        learner.learn(v, lab)
    X, y = data.sample(actions + 1)
    times = np.empty(actions)
    for i in range(actions):
        t0 = time.perf_counter()
        learner.learn(X[i], y[i])
        learner.predict_proba(X[i + 1])
        times[i] = time.perf_counter() - t0
    ms = times * 1e3
    print(
        f"  learn+predict_proba over {actions} actions (after {warmup} warm-up, "
        f"{len(learner.classes)} classes learned): p50 {np.percentile(ms, 50):.2f} ms, "
        f"p99 {np.percentile(ms, 99):.2f} ms, max {ms.max():.2f} ms"
    )
    print(
        f"  progressive accuracy {learner.progressive.accuracy:.3f}, "
        f"recent(50) {learner.progressive.recent(50):.3f}"
    )
    snaps = []
    for _ in range(20):
        t0 = time.perf_counter()
        learner.snapshot()
        snaps.append(time.perf_counter() - t0)
    print(f"  snapshot() (undo copy): median {statistics.median(snaps) * 1e3:.2f} ms")


def river_reference(learner: OnlineLearner, rows: np.ndarray) -> np.ndarray:
    """Probabilities straight from river's predict_proba_one, in learner.classes order."""
    out = np.zeros((len(rows), len(learner.classes)))
    for i, v in enumerate(rows):
        raw = learner.model.predict_proba_one(dict(enumerate(v.tolist())))
        out[i] = [raw.get(c, 0.0) for c in learner.classes]
    return out


def bench_scoring(learner: OnlineLearner, X: np.ndarray, repeats: int, loop_rows: int) -> None:
    """Q2: score_many over the whole matrix vs a per-row predict_proba_one loop."""
    learner.score_many(X[:2048])  # build the folded weights once, outside the timing
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        scores = learner.score_many(X)
        times.append(time.perf_counter() - t0)
    best, median = min(times) * 1e3, statistics.median(times) * 1e3
    n, d = X.shape
    print(
        f"  score_many {n:,} x {d} x {scores.shape[1]} classes: best {best:.1f} ms, "
        f"median {median:.1f} ms over {repeats} runs ({n / min(times) / 1e6:.2f} M rows/s)"
    )
    sample = X[:: max(1, n // 1000)][:1000]
    ref = river_reference(learner, sample)
    diff = np.abs(learner.score_many(sample) - ref).max()
    print(f"  max |score_many - river predict_proba_one| on {len(sample)} rows: {diff:.2e}")
    loop = X[:loop_rows]
    t0 = time.perf_counter()
    river_reference(learner, loop)
    per_row = (time.perf_counter() - t0) / len(loop)
    speedup = per_row * n / min(times)
    print(
        f"  predict_proba_one loop: {per_row * 1e3:.3f} ms/row measured on {len(loop):,} rows; "
        f"extrapolated to {n:,} rows: {per_row * n:.1f} s -> speed-up x{speedup:,.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--actions", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--loop-rows", type=int, default=2000)
    parser.add_argument("--skip-softmax", action="store_true")
    args = parser.parse_args()

    print(machine_info())
    data = Blobs(args.dim, args.classes)
    print(f"\n[logistic] (default learner) D={args.dim}, {args.classes} classes")
    print("Q1 core latency")
    learner = OnlineLearner("logistic")
    bench_actions(learner, data, args.warmup, args.actions)
    X, _ = data.sample(args.rows)
    print("Q2 bulk scoring")
    bench_scoring(learner, X, args.repeats, args.loop_rows)

    if not args.skip_softmax:
        print(f"\n[softmax] D={args.dim}, {args.classes} classes")
        print("Q1 core latency")
        soft = OnlineLearner("softmax")
        bench_actions(soft, data, args.warmup, max(1, args.actions // 4))
        print("Q2 bulk scoring")
        bench_scoring(soft, X, args.repeats, max(1, args.loop_rows // 4))
    print(f"\nload avg at end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
