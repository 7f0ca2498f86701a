"""F11/F12 timings: "more like this", threshold counts, class split, re-check, bulk labels.

Run from the repository root::

    python benchmarks/bench_review.py                 # 200,000 x 1280 neighbours, bulk 10,000
    python benchmarks/bench_review.py --images 100000 --bulk 10000 --json review.json

Synthetic non-negative 1280-d features (like a CNN's pooled ReLU outputs) in 20 classes.

* neighbours: :func:`gui_app.core.review.nearest` over the whole matrix (exact, float32
  matrix-vector product in chunks) for one image and for a 50-image selection, checked against
  a float64 brute force; target <= 100 ms at 200,000 images.
* threshold: :func:`rank_for_threshold` (sort once) and the slider's counts.
* split: :func:`rank_split` of a 10,000-image class; re-check: :func:`cross_check`.
* bulk: ``LabelingSession.label_many`` of ``--bulk`` images on a real project as the window
  runs it (replays deferred): one journal transaction and one undo group, the incremental
  replay plan, and undo restoring the exact model.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from common import OthersCPU, load_summary, machine_info

from gui_app.core.project import Project
from gui_app.core.recheck import cross_check
from gui_app.core.review import CosineIndex, nearest, rank_for_threshold, rank_split
from gui_app.core.session import LabelingSession

DIM, CLASSES = 1280, 20


def features(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(n, DIM)`` float32 non-negative class blobs and their class index."""
    rng = np.random.default_rng(seed)
    centers = np.abs(rng.normal(0, 1, (CLASSES, DIM))).astype(np.float32)
    y = rng.integers(0, CLASSES, n)
    x = np.empty((n, DIM), np.float32)
    for start in range(0, n, 20000):
        part = slice(start, min(n, start + 20000))
        noise = rng.standard_normal((part.stop - part.start, DIM), dtype=np.float32)
        x[part] = np.maximum(centers[y[part]] + noise, 0)
    return x, y


def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], object, float | None]:
    """``(milliseconds per run, last result, other processes' CPU share)``."""
    times, result = [], None
    with OthersCPU() as others:
        for _ in range(repeat):
            start = time.perf_counter()
            result = fn()
            times.append((time.perf_counter() - start) * 1000)
    return times, result, others.share


def fmt(times: list[float], share: float | None) -> str:
    busy = f", others used {share:.0%} of the CPUs" if share is not None else ""
    return f"best {min(times):.1f} ms, median {statistics.median(times):.1f} ms{busy}"


def bench_neighbours(x: np.ndarray, repeat: int, out: dict) -> None:
    n = len(x)
    index = CosineIndex()
    start = time.perf_counter()
    index.update(np.arange(n), x)
    out["norms_ms"] = (time.perf_counter() - start) * 1000
    inv = index.inv_norms(n)
    print(f"neighbours over {n:,} x {DIM}: norms of every row {out['norms_ms']:.0f} ms (once)")
    rng = np.random.default_rng(1)
    selection = rng.choice(n, 50, replace=False)
    unlabelled = rng.random(n) < 0.8
    for name, query, mask in (
        ("one image", [7], None),
        ("50-image selection", selection, None),
        ("one image, unlabelled only", [7], unlabelled),
    ):
        times, _found, share = timed(
            lambda q=query, m=mask: nearest(x, inv, q, candidates=m), repeat
        )
        out[name] = {"best_ms": min(times), "median_ms": statistics.median(times), "others": share}
        print(f"  {name}: {fmt(times, share)}")
    # Exactness against float64 on the "one image" query (chunked: no float64 copy).
    units = x[7].astype(np.float64) / np.linalg.norm(x[7].astype(np.float64))
    sims = np.empty(n)
    for s in range(0, n, 16384):
        block = x[s : s + 16384].astype(np.float64)
        sims[s : s + 16384] = block @ units / np.linalg.norm(block, axis=1)
    sims[7] = -np.inf
    top = np.argsort(-sims, kind="stable")[:500]
    found = nearest(x, inv, [7])
    diff = float(np.max(np.abs(found.scores - sims[found.rows])))
    same = len(set(top.tolist()) & set(found.rows.tolist()))
    out["max_abs_diff"], out["top500_overlap"] = diff, same
    print(f"  exact: top-500 overlap with float64 brute force {same}/500, max |diff| {diff:.1e}")


def bench_threshold(n: int, repeat: int, out: dict) -> None:
    rng = np.random.default_rng(2)
    scores = rng.dirichlet(np.ones(CLASSES), n).astype(np.float32)
    names = [f"class {i}" for i in range(CLASSES)]
    candidates = rng.random(n) < 0.8
    times, ranking, share = timed(
        lambda: rank_for_threshold(scores, names, "class 3", candidates), repeat
    )
    steps = np.arange(101) / 100
    count_times, _, _ = timed(lambda: ranking.count_at(0.9), 1000)
    slider_times, _, _ = timed(lambda: ranking.counts_at(steps), repeat)
    out.update(rank_ms=min(times), count_us=min(count_times) * 1000, slider_ms=min(slider_times))
    print(
        f"threshold over {n:,} images: ranking {fmt(times, share)}; one count "
        f"{min(count_times) * 1000:.1f} us; 101 slider counts {min(slider_times):.2f} ms"
    )


def bench_split(x: np.ndarray, y: np.ndarray, out: dict) -> None:
    index = CosineIndex()
    index.update(np.arange(len(x)), x)
    inv = index.inv_norms(len(x))
    old = np.flatnonzero(np.isin(y, (0, 1)))[:10000]  # one "class" made of two groups
    new = old[y[old] == 1][:20]
    times, ranked, share = timed(lambda: rank_split(x, inv, new, old), 3)
    hits = np.mean(y[ranked.rows[: ranked.suggested]] == 1) if ranked.suggested else 0.0
    out.update(split_ms=min(times), suggested=ranked.suggested, suggested_precision=float(hits))
    print(
        f"split: {len(old):,}-image class, 20 examples: {fmt(times, share)}; suggested "
        f"{ranked.suggested:,} (of {np.count_nonzero(y[old] == 1) - 20:,} true), {hits:.1%} right"
    )


def bench_recheck(x: np.ndarray, y: np.ndarray, sizes: list[int], out: dict) -> None:
    for n in sizes:
        labels = [f"class {c}" for c in y[:n]]
        paths = [f"img{i}.jpg" for i in range(n)]
        times, _, share = timed(lambda n=n, p=paths, lab=labels: cross_check(p, lab, x[:n]), 1)
        out[f"recheck_{n}_ms"] = min(times)
        print(f"re-check (leave-one-out ridge) of {n:,} labels x {DIM}: {fmt(times, share)}")


def same_weights(a: dict, b: dict) -> bool:
    """Two :meth:`OnlineLearner.export_linear` results are identical."""
    return a.keys() == b.keys() and all(
        np.array_equal(a[k], b[k]) if isinstance(a[k], np.ndarray) else a[k] == b[k] for k in a
    )


def bench_bulk(x: np.ndarray, y: np.ndarray, bulk: int, out: dict) -> None:
    paths = [f"img{i:06d}.jpg" for i in range(len(x))]
    names = [f"class {c}" for c in y]
    with tempfile.TemporaryDirectory(prefix="bench_review_") as tmp:
        (Path(tmp) / "images").mkdir()
        session = LabelingSession(Project(Path(tmp) / "images", Path(tmp) / "project"))
        try:
            session.defer_rebuilds = True  # as the window: replays run on a worker
            session.add_vectors(paths, x)
            for i in range(200):
                session.label(paths[i], names[i])
            session.prepare_undo()  # the window pickles the learner in idle time
            before, weights = session.score_all(), session.learner.export_linear()
            head = session.journal_head()
            chosen = paths[200 : 200 + bulk]
            t0 = time.perf_counter()
            session.label_many(chosen, "class 3", pick="threshold")
            t1 = time.perf_counter()
            plan = session.plan_rebuild()
            t2 = time.perf_counter()
            learner = plan.run()
            t3 = time.perf_counter()
            assert session.finish_rebuild(plan, learner)
            t4 = time.perf_counter()
            after = session.score_all()
            db = sqlite3.connect(session.project.labels_path)
            groups, rows = db.execute(
                "SELECT count(DISTINCT grp), count(*) FROM journal WHERE seq > ?", (head,)
            ).fetchone()
            db.close()
            t5 = time.perf_counter()
            session.undo()
            t6 = time.perf_counter()
            exact = bool(np.array_equal(session.score_all(), before)) and same_weights(
                session.learner.export_linear(), weights
            )
            session.redo()
            redone = bool(np.array_equal(session.score_all(), after))
        finally:
            session.close()
    out.update(
        commit_ms=(t1 - t0) * 1000, plan_ms=(t2 - t1) * 1000, replay_ms=(t3 - t2) * 1000,
        finish_ms=(t4 - t3) * 1000, undo_ms=(t6 - t5) * 1000, journal_groups=groups,
        journal_rows=rows, incremental=plan.incremental, undo_exact=exact, redo_exact=redone,
    )  # fmt: skip
    print(
        f"bulk label_many of {bulk:,} images (after 200 single labels, 20 classes, {DIM}-d):\n"
        f"  commit {out['commit_ms']:.0f} ms (predictions shown + one SQLite transaction: "
        f"{rows:,} journal rows in {groups} undo group)\n"
        f"  plan {out['plan_ms']:.0f} ms ({'incremental' if plan.incremental else 'full'}, "
        f"{len(plan):,} events), replay {out['replay_ms']:.0f} ms (off the GUI thread), "
        f"finish {out['finish_ms']:.1f} ms\n"
        f"  undo {out['undo_ms']:.0f} ms: model restored exactly (weights and scores): {exact};"
        f" redo gives the replayed model again: {redone}"
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--bulk", type=int, default=10_000)
    parser.add_argument("--recheck", type=int, nargs="*", default=[1500, 5000])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    print(machine_info(["numpy", "river"]))
    x, y = features(args.images)
    out: dict = {"images": args.images, "dim": DIM}
    bench_neighbours(x, args.repeat, out.setdefault("neighbours", {}))
    bench_threshold(args.images, args.repeat, out.setdefault("threshold", {}))
    bench_split(x, y, out.setdefault("split", {}))
    bench_recheck(x, y, args.recheck, out.setdefault("recheck", {}))
    if args.bulk:
        bench_bulk(x[: max(20_000, args.bulk + 200)], y, args.bulk, out.setdefault("bulk", {}))
    print(load_summary())
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=float), encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
