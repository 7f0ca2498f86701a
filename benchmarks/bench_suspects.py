"""Q8 / F12: suspect labels found live, against an offline cross-validated reference.

Run from the repository root::

    python benchmarks/bench_suspects.py ../shared/data/eurosat-mini --label-from folder
    python benchmarks/bench_suspects.py ../shared/data/dogs-vs-cats-mini --label-from filename \
        --seeds 5 --json suspects.json

Features are extracted once with Loupe's pipeline (``run_extraction``) into ``--cache`` and
reused. For every seed: a share ``--noise`` of the labels is flipped to another class at
random; the labelling is replayed in a random order through ``LabelingSession.label`` on a
temporary project (so the journal holds the real pre-learn predictions); then the suspects are
ranked as the window ranks them (:class:`JournalPriors` + :func:`cross_check` +
:func:`find_suspects`). Reported: precision among the top K suspects (K = flipped labels) and
recall within the top 2K, means over seeds, beside an offline reference in the same run:
scikit-learn's standardised logistic regression, 5-fold cross-validated probabilities on the
same noisy labels, ranked by the probability of the given label.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from common import CIFAR8_BACKBONE, load_summary, machine_info, mean_std, table

from gui_app.core.backbones import BackboneError, resolve_backbone
from gui_app.core.extraction import ExtractionCallbacks, run_extraction
from gui_app.core.images import scan_images
from gui_app.core.project import Project
from gui_app.core.recheck import cross_check_snapshot
from gui_app.core.session import LabelingSession
from gui_app.core.suspects import JOURNAL_WEIGHT, find_suspects, journal_priors
from gui_app.core.training import label_source

DEFAULT_BACKBONE = "efficientnet_lite0"
TARGETS = {"precision_at_k": 0.85, "recall_at_2k": 0.95}


def features(folder: Path, backbone: str, weights: str, cache: Path, label_from: str):
    """``(paths, (n, D) vectors, labels)`` of the labelled images, through Loupe's pipeline."""
    spec = resolve_backbone(backbone, weights)
    found: dict[str, np.ndarray] = {}

    def keep(paths: list[str], vectors: np.ndarray) -> None:
        found.update(zip(paths, np.asarray(vectors, np.float32), strict=True))

    cache.mkdir(parents=True, exist_ok=True)
    report = run_extraction(
        folder,
        scan_images(folder),
        cache / "features.h5",
        cache / "engines",
        spec,
        callbacks=ExtractionCallbacks(cached=keep, extracted=keep),
    )
    print(f"features: {spec.label}: {report.summary()} in {report.seconds:.1f} s (cache {cache})")
    label_of = label_source(label_from)
    paths = sorted(p for p in found if label_of(p))
    return paths, np.stack([found[p] for p in paths]), [label_of(p) for p in paths], spec.label


def subsample(labels: list[str], n: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of a stratified random sample of ``n`` images (all when n is None)."""
    idx = np.arange(len(labels))
    if n is None or n >= len(labels):
        return idx
    y = np.array(labels)
    keep = []
    for c in sorted(set(labels)):
        members = idx[y == c]
        take = max(1, round(n * len(members) / len(labels)))
        keep.extend(rng.choice(members, min(take, len(members)), replace=False))
    return np.sort(np.array(keep[:n]))


def flip_labels(labels: list[str], noise: float, rng: np.random.Generator):
    """``(noisy labels, flipped indices)``: a share ``noise`` moved to another random class."""
    classes = sorted(set(labels))
    k = max(1, round(noise * len(labels)))
    flipped = np.sort(rng.choice(len(labels), k, replace=False))
    noisy = list(labels)
    for i in flipped:
        others = [c for c in classes if c != labels[i]]
        noisy[i] = others[rng.integers(len(others))]
    return noisy, flipped


def precision_recall(ranked: list[str], flipped: set[str]) -> tuple[float, float]:
    """Precision among the top K and recall within the top 2K (K = len(flipped))."""
    k = len(flipped)
    return len(flipped & set(ranked[:k])) / k, len(flipped & set(ranked[: 2 * k])) / k


def replay(paths, vectors, noisy, order, work: Path) -> tuple[LabelingSession, float]:
    """Label every image in ``order`` through a LabelingSession; returns it and ms/label."""
    (work / "images").mkdir(parents=True)
    session = LabelingSession(Project(work / "images", work / "project"))
    session.add_vectors(paths, vectors)
    start = time.perf_counter()
    for i in order:
        session.label(paths[i], noisy[i], pick="benchmark")
    return session, (time.perf_counter() - start) * 1000 / len(order)


def offline_reference(vectors: np.ndarray, noisy: list[str], seed: int) -> list[int]:
    """Rows by increasing 5-fold out-of-fold probability of their label (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    proba = cross_val_predict(model, vectors, noisy, cv=folds, method="predict_proba")
    column = {c: i for i, c in enumerate(sorted(set(noisy)))}
    own = proba[np.arange(len(noisy)), [column[c] for c in noisy]]
    return list(np.argsort(own, kind="stable"))


def run_seed(args, seed, paths_all, x_all, labels_all) -> dict:
    rng = np.random.default_rng(seed)
    idx = subsample(labels_all, args.images, rng)
    paths, x = [paths_all[i] for i in idx], x_all[idx]
    noisy, flipped = flip_labels([labels_all[i] for i in idx], args.noise, rng)
    truth = {paths[i] for i in flipped}
    order = rng.permutation(len(paths))
    out: dict = {"seed": seed, "images": len(paths), "flipped": len(flipped)}
    with tempfile.TemporaryDirectory(prefix="bench_suspects_") as tmp:
        session, ms = replay(paths, x, noisy, order, Path(tmp))
        try:
            labels = dict(session.labels_by_path())
            t0 = time.perf_counter()
            priors = journal_priors(session.journal())
            t1 = time.perf_counter()
            matrix, present = session.feature_snapshot()  # as the window hands it to a worker
            index = session.image_index()[1]
            check = cross_check_snapshot(
                labels, index, matrix, present, head=session.journal_head()
            )
            t2 = time.perf_counter()
            ranked = find_suspects(labels, priors, check, max_own=1.0)
            t3 = time.perf_counter()
            variants = {
                f"live (journal + re-check, weight {JOURNAL_WEIGHT})": ranked,
                "journal only (before)": find_suspects(labels, priors, None, max_own=1.0),
                "re-check only (after)": find_suspects(labels, {}, check, max_own=1.0),
                "journal weight 0 (re-check alone where present)": find_suspects(
                    labels, priors, check, max_own=1.0, journal_weight=0.0
                ),
            }
        finally:
            session.close()
    for name, found in variants.items():
        out[name] = precision_recall([s.path for s in found], truth)
    out["journal_priors"] = len(priors)
    out["timings_ms"] = {
        "label_action_mean": ms,
        "journal_priors": (t1 - t0) * 1000,
        "cross_check": (t2 - t1) * 1000,
        "find_suspects": (t3 - t2) * 1000,
    }
    out["recheck"] = {"alpha": check.alpha, "temperature": check.temperature}
    out["examples"] = [s.reason for s in ranked[:3]]
    if not args.no_offline:
        t = time.perf_counter()
        order_off = offline_reference(x, noisy, seed)
        out["offline 5-fold logistic (sklearn)"] = precision_recall(
            [paths[i] for i in order_off], truth
        )
        out["timings_ms"]["offline_reference"] = (time.perf_counter() - t) * 1000
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--label-from", required=True, help="filename | folder | labels.csv")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE)
    parser.add_argument("--weights", default=None, help="default: imagenet (file for .keras)")
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--images", type=int, default=None, help="stratified sample per seed")
    parser.add_argument("--cache", type=Path, default=None, help="features cache folder")
    parser.add_argument("--no-offline", action="store_true", help="skip the sklearn reference")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    print(machine_info(["numpy", "river", "scikit-learn"]))
    backbone = args.backbone
    try:
        resolve_backbone(backbone, "imagenet")
    except BackboneError as exc:
        print(f"{backbone} unavailable ({exc.reason}); using {CIFAR8_BACKBONE.name}")
        backbone = str(CIFAR8_BACKBONE)
    weights = args.weights or ("file" if backbone.endswith(".keras") else "imagenet")
    slug = f"{args.folder.resolve().name}-{Path(backbone).stem}"
    cache = args.cache or Path(tempfile.gettempdir()) / "loupe-bench-features" / slug
    paths, x, labels, backbone_label = features(
        args.folder, backbone, weights, cache, args.label_from
    )
    print(f"{len(paths)} labelled images, {len(set(labels))} classes, {x.shape[1]}-d features")
    seeds = []
    for seed in range(args.seeds):
        result = run_seed(args, seed, paths, x, labels)
        seeds.append(result)
        shown = {k: v for k, v in result.items() if isinstance(v, tuple)}
        print(f"seed {seed}: K={result['flipped']} " + "  ".join(
            f"{k}: {p:.3f}/{r:.3f}" for k, (p, r) in shown.items()
        ))  # fmt: skip
    names = [k for k, v in seeds[0].items() if isinstance(v, tuple)]
    rows, summary = [], {}
    for name in names:
        p_mean, p_std = mean_std([s[name][0] for s in seeds])
        r_mean, r_std = mean_std([s[name][1] for s in seeds])
        summary[name] = {"precision_at_k": p_mean, "recall_at_2k": r_mean}
        rows.append([name, f"{p_mean:.3f} +- {p_std:.3f}", f"{r_mean:.3f} +- {r_std:.3f}"])
    print(f"\n{args.folder.name}, {backbone_label}, noise {args.noise:.0%}, {args.seeds} seeds,"
          f" {seeds[0]['images']} images, K = {seeds[0]['flipped']}")  # fmt: skip
    print(table(["ranking", "precision@K", "recall@2K"], rows))
    timing_names = seeds[0]["timings_ms"]
    print("timings (ms, mean over seeds): " + ", ".join(
        f"{k} {np.mean([s['timings_ms'][k] for s in seeds]):.1f}" for k in timing_names
    ))  # fmt: skip
    print("example reasons: " + " | ".join(seeds[0]["examples"]))
    live = summary[f"live (journal + re-check, weight {JOURNAL_WEIGHT})"]
    met = all(live[k] >= v for k, v in TARGETS.items())
    ref = summary.get("offline 5-fold logistic (sklearn)")
    if ref:
        met_ref = all(live[k] >= ref[k] for k in TARGETS)
        print(f"live >= offline reference: {'yes' if met_ref else 'no'}")
    print(f"targets (precision@K >= 0.85, recall@2K >= 0.95): {'met' if met else 'missed'}")
    print(json.dumps({k: round(v, 4) for k, v in live.items()}))
    print(load_summary())
    report = {
        **live,
        "offline_reference": ref,
        "variants": summary,
        "seeds": seeds,
        "backbone": backbone_label,
        "noise": args.noise,
        "folder": str(args.folder),
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
