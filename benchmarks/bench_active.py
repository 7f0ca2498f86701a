"""F10 / Q7: how many labels Next saves, simulated through Loupe's own labeling session.

Run from the repository root (split folders from ``benchmarks/split_folder.py``)::

    python benchmarks/bench_active.py /tmp/loupe-split/eurosat/train \\
        /tmp/loupe-split/eurosat/test --label-from folder --budget 400 --step 10 --seeds 5 \\
        --json /tmp/active-eurosat.json

An annotator follows each strategy for ``--budget`` labels: ``in-order`` (the grid's order,
what labelling without Next does), ``random`` (a random walk through the folder) and ``next``
(Teach mode of :mod:`gui_app.core.sampling`, with its audits and cold start). Every label goes
through ``LabelingSession.label`` on a temporary project (journal, teaching with replay,
re-scoring), the true class coming from the file or folder name. Every ``--step`` labels the
session's model is scored on the held-out folder. Curves are means over ``--seeds`` (random
order, sampler seed and clustering seed). ``labels_to_90``/``labels_to_95``: the first budget
whose mean accuracy reaches 90 % / 95 % of an offline logistic regression on every training
label (null if never). Features come from each folder's own project cache (extracted once).

Targets (Q7): ``next`` needs >= 30 % fewer labels than ``random`` to reach 90 %, reaches 95 %
within the budget, and is never more than 2 points below ``random`` at any budget.
``--timing`` also times Next's ranking on a synthetic 100,000 x 1280 x 20 folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from common import machine_info, table
from project_features import folder_features

from gui_app.core.project import Project
from gui_app.core.sampling import SamplingSettings, cold_start, next_pick, pick_for
from gui_app.core.session import LabelingSession
from gui_app.core.training import label_source

STRATEGIES = ("in-order", "random", "next")


def offline_accuracy(Xtr, ytr, Xte, yte) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=10_000))
    model.fit(Xtr, ytr)
    return float(model.score(Xte, yte))


def simulate(
    strategy: str,
    train: Path,
    paths: list[str],
    X: np.ndarray,
    truth: list[str],
    Xte: np.ndarray,
    yte: np.ndarray,
    *,
    seed: int,
    budget: int,
    step: int,
    settings: SamplingSettings,
    work: Path,
) -> tuple[list[tuple[int, float]], dict[str, int], float]:
    """One annotator: the accuracy curve, the picks by kind, and seconds spent clustering."""
    session = LabelingSession(Project(train, work / f"{strategy}-{seed}"))
    clustering = 0.0
    try:
        session.add_vectors(paths, X)
        cold = None
        if strategy == "next":
            started = time.perf_counter()
            cold = cold_start(session.vectors.matrix, session.present_rows(), seed=seed)
            clustering = time.perf_counter() - started
        walk = iter(np.random.default_rng(seed).permutation(len(paths)).tolist())
        curve, kinds = [], {}
        for n in range(1, min(budget, len(paths)) + 1):
            if strategy == "random":
                row, kind = next(walk), "manual"
            else:
                mode = "in-order" if strategy == "in-order" else "teach"
                pick = pick_for(session, mode, cold=cold, settings=settings)
                row, kind = pick.row, pick.kind
            kinds[kind] = kinds.get(kind, 0) + 1
            session.label(paths[row], truth[row], pick=kind)
            if n % step == 0:
                acc = 0.0
                if session.can_predict():
                    probs = session.learner.score_many(Xte)
                    names = np.array(session.model_classes())
                    acc = float((names[probs.argmax(axis=1)] == yte).mean())
                curve.append((n, acc))
        return curve, kinds, clustering
    finally:
        session.close()


def labels_to(curve: list[list[float]], target: float) -> int | None:
    return next((int(n) for n, acc in curve if acc >= target), None)


def timing(images: int = 100_000, dim: int = 1280, classes: int = 20, repeats: int = 7) -> None:
    """Next's ranking over a synthetic folder, given the probabilities of every row."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (images, classes)).astype(np.float32)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    available = rng.random(images) > 0.05
    labelled = ~available
    names = [f"class {i}" for i in range(classes)]
    print(f"\nNext over {images:,} images x {classes} classes (probabilities given):")
    for mode in ("teach", "audit", "in-order"):
        times = []
        for r in range(repeats):
            started = time.perf_counter()
            next_pick(mode, available, probs=probs, classes=names, labelled=labelled, step=r)
            times.append(time.perf_counter() - started)
        median, worst = 1e3 * statistics.median(times), 1e3 * max(times)
        print(f"  {mode:9s} median {median:6.1f} ms, max {worst:6.1f} ms")
    matrix = rng.normal(0, 1, (images, dim)).astype(np.float32)
    started = time.perf_counter()
    cold = cold_start(matrix, np.ones(images, bool), seed=0)
    print(
        f"  cold_start (background thread) on {images:,} x {dim}: "
        f"{time.perf_counter() - started:.1f} s, {cold.clusters} clusters"
    )
    times = []
    for r in range(repeats):
        started = time.perf_counter()
        next_pick("teach", available, labelled=labelled, cold=cold, step=r)
        times.append(time.perf_counter() - started)
    print(f"  teach, cold start (clusters given): median {1e3 * statistics.median(times):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("test", type=Path)
    parser.add_argument("--label-from", required=True, choices=("filename", "folder"))
    parser.add_argument("--backbone", default="efficientnet_lite0", help="name, cifar8 or .keras")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=400)
    parser.add_argument("--step", type=int, default=25)
    parser.add_argument(
        "--sampling",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="SamplingSettings fields to override (ablations), e.g. audit_share=0.2",
    )
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--timing", action="store_true", help="also time Next at 100,000 images")
    args = parser.parse_args()
    print(machine_info(["numpy", "river", "scikit-learn"]))
    started = time.perf_counter()
    label_of = label_source(args.label_from)
    paths, X = folder_features(args.train, args.backbone)
    test_paths, Xte = folder_features(args.test, args.backbone)
    truth = [label_of(p) for p in paths]
    yte = np.array([label_of(p) for p in test_paths])
    offline = offline_accuracy(X, truth, Xte, yte)
    print(
        f"\n{args.train} ({len(paths)} images, {len(set(truth))} classes) / {args.test} "
        f"({len(yte)}), backbone {args.backbone}: offline accuracy {offline:.3f}"
    )
    overrides = {k: float(v) for k, v in (item.split("=", 1) for item in args.sampling)}
    report = {"offline_acc": offline, "sampling": overrides, "strategies": {}}
    with tempfile.TemporaryDirectory(prefix="loupe-active-") as tmp:
        for strategy in args.strategies:
            curves, kinds, clustering = [], {}, []
            for seed in range(args.seeds):
                settings = SamplingSettings(**overrides, seed=seed)
                curve, picked, seconds = simulate(
                    strategy, args.train, paths, X, truth, Xte, yte, seed=seed,
                    budget=args.budget, step=args.step, settings=settings, work=Path(tmp),
                )  # fmt: skip
                curves.append(curve)
                clustering.append(seconds)
                for k, v in picked.items():
                    kinds[k] = kinds.get(k, 0) + v
            mean = [
                [curves[0][i][0], statistics.fmean(c[i][1] for c in curves)]
                for i in range(len(curves[0]))
            ]
            entry = {
                "curve": mean,
                "labels_to_90": labels_to(mean, 0.90 * offline),
                "labels_to_95": labels_to(mean, 0.95 * offline),
                "picks": kinds,
            }
            if strategy == "next":
                entry["cold_start_seconds"] = statistics.fmean(clustering)
            report["strategies"][strategy] = entry
            print(f"  {strategy}: {entry['labels_to_90']} / {entry['labels_to_95']}", flush=True)
    verdict(report)
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1))
    if args.timing:
        timing()


def verdict(report: dict) -> None:
    """Print the curves and the Q7 targets."""
    strategies = report["strategies"]
    names = list(strategies)
    budgets = [n for n, _ in strategies[names[0]]["curve"]]
    rows = [
        [n, *(f"{strategies[s]['curve'][i][1]:.3f}" for s in names)] for i, n in enumerate(budgets)
    ]
    print(f"\nheld-out accuracy by labels given (offline {report['offline_acc']:.3f})")
    print(table(["labels", *names], rows))
    rows = [[s, strategies[s]["labels_to_90"], strategies[s]["labels_to_95"],
             ", ".join(f"{k} {v}" for k, v in sorted(strategies[s]["picks"].items()))]
            for s in names]  # fmt: skip
    print(table(["strategy", "labels to 90 %", "labels to 95 %", "picks (all seeds)"], rows))
    if "next" not in strategies or "random" not in strategies:
        return
    nxt, rnd = strategies["next"], strategies["random"]
    if nxt["labels_to_90"] and rnd["labels_to_90"]:
        saving = 1 - nxt["labels_to_90"] / rnd["labels_to_90"]
        ok = "met" if saving >= 0.3 else "MISSED"
        print(
            f"Q7 labels to 90 %: next {nxt['labels_to_90']} vs random {rnd['labels_to_90']}: "
            f"{saving:.0%} fewer (target >= 30 %: {ok})"
        )
    else:
        print("Q7 labels to 90 %: not reached by both strategies within the budget")
    print(f"Q7 next reaches 95 % within the budget: {'met' if nxt['labels_to_95'] else 'MISSED'}")
    gap = max(r[1] - x[1] for r, x in zip(rnd["curve"], nxt["curve"], strict=True))
    print(f"Q7 largest shortfall of next below random: {100 * gap:.1f} points "
          f"(target <= 2: {'met' if gap <= 0.02 else 'MISSED'})")  # fmt: skip


if __name__ == "__main__":
    main()
