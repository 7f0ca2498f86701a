"""Soak: a long scripted labelling session through `LabelingSession`, watching memory and latency.

10,000 actions (label / relabel / confirm / undo / redo, with an occasional new class, up to 20
classes) over 20,000 images with synthetic 1280-d features, on a temp folder, through the same
session object the window uses. Between actions it does what the window does in idle time
(``prepare_undo``) and saves the model snapshot every ``--save-every`` actions, as the snapshot
timer would. Prints, per 1,000-action window and overall, the action latency p50/p99/max and the
resident memory (``/proc/self/statm``; ``ru_maxrss`` where there is no /proc), then checks the
targets: memory growth < 100 MB and p99 <= 50 ms in every window.

Usage::

    python benchmarks/bench_soak.py                     # the full soak (a few minutes)
    python benchmarks/bench_soak.py --actions 2000 --images 4000
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gui_app.core.project import Project  # noqa: E402
from gui_app.core.session import LabelingSession  # noqa: E402

MEMORY_TARGET_MB = 100.0
P99_TARGET_MS = 50.0


def rss_mb() -> float:
    """Resident set size now (Linux), else the peak so far (``ru_maxrss``), in MiB."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (2**20 if sys.platform == "darwin" else 2**10)


def synthetic_features(n: int, dim: int, n_true: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, dim) float32 features around ``n_true`` class centres, and each image's true class."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, (n_true, dim)).astype(np.float32)
    truth = rng.integers(0, n_true, n)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 2048):  # float32 chunks: no float64 copy of the whole matrix
        stop = min(start + 2048, n)
        out[start:stop] = rng.standard_normal((stop - start, dim), dtype=np.float32) * 1.5
        out[start:stop] += centres[truth[start:stop]]
    return out, truth


@dataclass
class SoakResult:
    actions: int = 0
    errors: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    windows: list[dict[str, float]] = field(default_factory=list)
    rss_start: float = 0.0
    rss_end: float = 0.0
    rss_peak: float = 0.0
    save_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def growth_mb(self) -> float:
        return self.rss_peak - self.rss_start

    def percentile(self, q: float, values: list[float] | None = None) -> float:
        data = self.latencies_ms if values is None else values
        return float(np.percentile(data, q)) if data else 0.0


def _next_action(
    session: LabelingSession,
    rng: random.Random,
    n_classes_max: int,
    unlabelled: list[int],
    previous: str,
) -> str:
    r = rng.random()
    labels = session.labels
    if previous == "undo" and r < 0.4 and labels.can_redo():
        return "redo"  # changed their mind: redo right after an undo
    if r < 0.007 and len(labels.class_names()) < n_classes_max:
        return "add_class"
    if r < 0.10 and labels.can_undo():
        return "undo"
    if r < 0.15 and labels.can_redo():
        return "redo"
    if r < 0.30 and labels.label_count():
        return "relabel"
    if r < 0.45 and labels.label_count():
        return "confirm"
    return "label" if unlabelled else "relabel"


def run_soak(
    folder: Path,
    actions: int = 10_000,
    images: int = 20_000,
    dim: int = 1280,
    max_classes: int = 20,
    seed: int = 0,
    window: int = 1000,
    save_every: int = 500,
    out: Callable[[str], None] = print,
) -> SoakResult:
    """Run the scripted session in ``folder`` (an empty or existing image folder)."""
    rng = random.Random(seed)
    paths = [f"batch{i // 1000:02d}/img{i:05d}.jpg" for i in range(images)]
    features, truth = synthetic_features(images, dim, max_classes, seed)
    session = LabelingSession(Project(folder))
    session.add_vectors(paths, features)
    del features  # the session keeps its own copy, as the window does
    if session.needs_rebuild:
        session.rebuild()
    result = SoakResult(rss_start=rss_mb())
    result.rss_peak = result.rss_start
    unlabelled = list(range(images))
    rng.shuffle(unlabelled)
    class_names = list(session.labels.class_names()) or ["class 1", "class 2"]
    labelled: list[int] = []
    t_start = time.perf_counter()
    out(
        f"soak: {actions} actions, {images} images x {dim}-d, up to {max_classes} classes, "
        f"rss at start {result.rss_start:.0f} MiB"
    )
    out(f"{'actions':>13} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'rss MiB':>8} {'growth':>8}")
    window_lat: list[float] = []
    kind = ""
    for n in range(1, actions + 1):
        kind = _next_action(session, rng, max_classes, unlabelled, kind)
        try:
            t0 = time.perf_counter()
            if kind == "add_class":
                name = f"class {len(session.labels.class_names()) + 1}"
                session.add_class(name)
                class_names.append(name)
            elif kind == "undo":
                session.undo()
            elif kind == "redo":
                session.redo()
            else:
                if kind == "label":
                    i = unlabelled.pop()
                    labelled.append(i)
                else:
                    i = labelled[rng.randrange(len(labelled))]
                path = paths[i]
                current = session.labels.label_of(path)
                live = session.labels.class_names()
                if len(live) < 2:  # the first two classes come from the first labels
                    target = class_names[len(labelled) % 2]
                elif kind == "confirm" and current is not None:
                    target = current
                else:  # mostly the image's true class, sometimes a slip of the finger
                    target = live[int(truth[i]) % len(live)]
                    if rng.random() < 0.15:
                        target = rng.choice(live)
                    if kind == "relabel" and target == current:
                        target = rng.choice([c for c in live if c != current])
                session.label(path, target)
            elapsed = (time.perf_counter() - t0) * 1000
        except Exception as exc:  # a soak records every failure and keeps going
            result.errors.append(f"action {n} ({kind}): {type(exc).__name__}: {exc}")
            continue
        result.kinds[kind] += 1
        result.latencies_ms.append(elapsed)
        window_lat.append(elapsed)
        session.prepare_undo()  # the window's idle-time work, not part of the action
        if save_every and n % save_every == 0:
            t0 = time.perf_counter()
            session.save_snapshot()
            result.save_ms.append((time.perf_counter() - t0) * 1000)
        if n % window == 0 or n == actions:
            rss = rss_mb()
            result.rss_peak = max(result.rss_peak, rss)
            row = {
                "actions": n,
                "p50": result.percentile(50, window_lat),
                "p99": result.percentile(99, window_lat),
                "max": max(window_lat, default=0.0),
                "rss": rss,
                "growth": rss - result.rss_start,
            }
            result.windows.append(row)
            out(
                f"{n - len(window_lat) + 1:>6}-{n:<6} {row['p50']:8.1f} {row['p99']:8.1f} "
                f"{row['max']:8.1f} {rss:8.0f} {row['growth']:+8.0f}"
            )
            window_lat = []
        result.actions = n
    result.seconds = time.perf_counter() - t_start
    result.rss_end = rss_mb()
    result.rss_peak = max(result.rss_peak, result.rss_end)
    session.close()
    return result


def report(result: SoakResult, out: Callable[[str], None] = print) -> bool:
    """Print the overall figures and whether the targets are met; returns that."""
    worst_p99 = max((w["p99"] for w in result.windows), default=0.0)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(result.kinds.items()))
    out(f"overall: {result.actions} actions in {result.seconds:.0f} s ({kinds})")
    out(
        f"latency ms: p50 {result.percentile(50):.1f}  p99 {result.percentile(99):.1f}  "
        f"max {max(result.latencies_ms, default=0.0):.1f}  worst window p99 {worst_p99:.1f}"
    )
    if result.save_ms:
        saves = result.save_ms
        out(f"snapshot save ms: median {np.median(saves):.1f}  max {max(saves):.1f}")
    out(
        f"memory MiB: start {result.rss_start:.0f}  end {result.rss_end:.0f}  "
        f"peak {result.rss_peak:.0f}  growth {result.growth_mb:+.0f}"
    )
    out(f"errors: {len(result.errors)}")
    for line in result.errors[:10]:
        out(f"  {line}")
    memory_ok = result.growth_mb < MEMORY_TARGET_MB
    latency_ok = worst_p99 <= P99_TARGET_MS
    out(
        f"targets: memory growth < {MEMORY_TARGET_MB:.0f} MB: {'PASS' if memory_ok else 'FAIL'}; "
        f"p99 <= {P99_TARGET_MS:.0f} ms in every window: {'PASS' if latency_ok else 'FAIL'}"
    )
    return memory_ok and latency_ok and not result.errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--save-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="loupe-soak-") as tmp:
        result = run_soak(
            Path(tmp),
            actions=args.actions,
            images=args.images,
            dim=args.dim,
            max_classes=args.classes,
            seed=args.seed,
            window=args.window,
            save_every=args.save_every,
        )
    return 0 if report(result) else 1


if __name__ == "__main__":
    raise SystemExit(main())
