"""Q5 and F9: the online learner with replay against an offline fit, and class retention.

Run from the repository root (the split folders come from ``benchmarks/split_folder.py``)::

    python benchmarks/split_folder.py ../shared/data/eurosat-mini /tmp/loupe-split/eurosat \\
        --label-from folder --train-per-class 100 --test-per-class 50
    python benchmarks/split_folder.py ../shared/data/dogs-vs-cats-mini /tmp/loupe-split/dogs \\
        --label-from filename
    python benchmarks/split_folder.py ../shared/data/cifar10-mini /tmp/loupe-split/cifar10 \\
        --label-from folder
    python benchmarks/bench_replay.py /tmp/loupe-split --backbones efficientnet_lite0 cifar8

Q5: for every data set and backbone, 10 shuffles of the training folder are taught one event
at a time exactly as a labeling session teaches its journal (``OnlineLearner.rebuild``, i.e.
:func:`gui_app.core.teaching.teach`: predict-then-learn plus replay of stored vectors); the
held-out accuracy is compared with scikit-learn's ``StandardScaler`` + ``LogisticRegression``
(C=1) fitted on the same training images. The same pass without replay is printed beside it.
Target: online / offline >= 0.97, mean over the shuffles.

Retention (F9): 3 classes are taught (all their training images, shuffled), then a burst of
300 labels of one new class (the images of 3 other classes, all labelled as the new class).
Accuracy on the held-out images of the 3 old classes before and after the burst, with and
without replay. Target: it drops by < 2 points with replay.

Q1 core: label actions through ``LabelingSession`` (commit, teach with replay) plus the bars of
the next image, 20,000 synthetic 1280-d images in 20 classes, with and without replay
(``--latency-only`` runs only this part; timings depend on the machine's load).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from common import machine_info, table
from project_features import folder_features

from gui_app.core.learner import OnlineLearner
from gui_app.core.teaching import KeyedVectors, teach
from gui_app.core.training import label_source

TARGET = 0.97
DATASETS = {"eurosat": "folder", "dogs": "filename", "cifar10": "folder"}


def load(split: Path, backbone: str, label_from: str) -> tuple[np.ndarray, ...]:
    """(train X, train y, test X, test y) of a split folder (features from the project cache)."""
    label_of = label_source(label_from)
    out = []
    for part in ("train", "test"):
        paths, X = folder_features(split / part, backbone)
        out += [X, np.array([label_of(p) for p in paths])]
    return tuple(out)


def offline_accuracy(Xtr, ytr, Xte, yte) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=10_000))
    model.fit(Xtr, ytr)
    return float(model.score(Xte, yte))


def taught(X: np.ndarray, y: np.ndarray, order: np.ndarray, replay: bool) -> OnlineLearner:
    """A learner taught ``order`` as a session teaches its journal (replay on or off)."""
    learner = OnlineLearner("logistic")
    if not replay:
        learner.replay_steps = 0
    seen = KeyedVectors()
    for key, i in enumerate(order.tolist(), start=1):
        teach(learner, X[i], str(y[i]), key, seen)
        seen.add(key, X[i])
    return learner


def accuracy(learner: OnlineLearner, X: np.ndarray, y: np.ndarray) -> float:
    if not len(y):
        return float("nan")
    names = np.array(learner.classes)
    return float((names[learner.score_many(X).argmax(axis=1)] == y).mean())


def q5(root: Path, backbones: list[str], shuffles: int) -> dict:
    rows, out = [], {}
    for name, label_from in DATASETS.items():
        split = root / name
        if not (split / "train").is_dir():
            print(f"  (skipped {name}: no split folder {split})")
            continue
        for backbone in backbones:
            Xtr, ytr, Xte, yte = load(split, backbone, label_from)
            off = offline_accuracy(Xtr, ytr, Xte, yte)
            ratios = {True: [], False: []}
            for seed in range(shuffles):
                order = np.random.default_rng(seed).permutation(len(ytr))
                for replay in (True, False):
                    ratios[replay].append(accuracy(taught(Xtr, ytr, order, replay), Xte, yte) / off)
            on, plain = ratios[True], ratios[False]
            mean = statistics.fmean(on)
            rows.append([
                f"{name} / {backbone}", f"{len(ytr)}/{len(yte)}", f"{off:.3f}",
                f"**{mean:.3f}** ± {statistics.stdev(on):.3f} ({min(on):.3f}-{max(on):.3f})",
                f"{statistics.fmean(plain):.3f} ± {statistics.stdev(plain):.3f}",
                "met" if mean >= TARGET else "MISSED",
            ])  # fmt: skip
            out[f"{name}/{backbone}"] = {
                "offline_acc": off,
                "ratio_replay": on,
                "ratio_no_replay": plain,
            }
            print(f"  {rows[-1]}", flush=True)
    headers = ["data / backbone", "train/test", "offline", "online/offline, replay (min-max)",
               "without replay", f">= {TARGET}"]  # fmt: skip
    print(f"\nQ5: one shuffled pass, {shuffles} shuffles, mean ± std of online / offline held-out")
    print(table(headers, rows))
    return out


def retention(root: Path, backbones: list[str], shuffles: int) -> dict:
    split = root / "eurosat"
    rows, out = [], {}
    for backbone in backbones:
        Xtr, ytr, Xte, yte = load(split, backbone, "folder")
        classes = sorted(set(ytr.tolist()))
        old, burst = classes[:3], classes[3:6]
        old_tr = np.flatnonzero(np.isin(ytr, old))
        new_tr = np.flatnonzero(np.isin(ytr, burst))
        old_te, new_te = np.isin(yte, old), np.isin(yte, burst)
        y_burst = np.where(np.isin(ytr, burst), "new", ytr)
        y_test = np.where(new_te, "new", yte)
        both = np.concatenate([old_tr, new_tr])
        off_before = offline_accuracy(Xtr[old_tr], ytr[old_tr], Xte[old_te], yte[old_te])
        off_after = offline_accuracy(Xtr[both], y_burst[both], Xte[old_te], yte[old_te])
        off_new = offline_accuracy(Xtr[both], y_burst[both], Xte[new_te], y_test[new_te])
        rows.append([backbone, "offline fit (reference)", f"{off_before:.3f}", f"{off_after:.3f}",
                     f"{100 * (off_before - off_after):.1f}", f"{off_new:.3f}", ""])  # fmt: skip
        result: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
        for seed in range(shuffles):
            rng = np.random.default_rng(seed)
            order = np.concatenate([rng.permutation(old_tr), rng.permutation(new_tr)])
            for replay in (True, False):
                before = taught(Xtr, y_burst, order[: len(old_tr)], replay)
                after = taught(Xtr, y_burst, order, replay)
                result[replay].append(
                    (accuracy(before, Xte[old_te], yte[old_te]),
                     accuracy(after, Xte[old_te], yte[old_te]),
                     accuracy(after, Xte[new_te], y_test[new_te]))
                )  # fmt: skip
        for replay in (True, False):
            b, a, n = (statistics.fmean(r[i] for r in result[replay]) for i in range(3))
            drops = [100 * (r[0] - r[1]) for r in result[replay]]
            rows.append([
                backbone, "replay (default)" if replay else "no replay", f"{b:.3f}", f"{a:.3f}",
                f"**{100 * (b - a):.1f}** (max {max(drops):.1f})", f"{n:.3f}",
                ("met" if b - a < 0.02 else "MISSED") if replay else "",
            ])  # fmt: skip
            out[f"{backbone}/{'replay' if replay else 'no-replay'}"] = {
                "before": b,
                "after": a,
                "new_class_after": n,
                "drop_points": drops,
                "offline": [off_before, off_after, off_new],
            }
    print(
        f"\nRetention: eurosat, old classes {', '.join(old)} ({len(old_tr)} labels), then a burst"
        f" of {len(new_tr)} labels of one new class ({' + '.join(burst)}); held-out accuracy on"
        f" the old classes ({int(old_te.sum())} images) and on the new one"
        f" ({int(new_te.sum())}), mean over {shuffles} shuffles"
    )
    headers = ["backbone", "learner", "old, before", "old, after", "drop (points)",
               "new class, after", "< 2"]  # fmt: skip
    print(table(headers, rows))
    return out


def latency(images: int, dim: int, classes: int, actions: int, warmup: int) -> dict:
    """Q1 core through the session: label (commit + teach with replay) + bars of the next image.

    Synthetic 1280-d class blobs (ReLU'd, like pooled CNN features) in a temporary project.
    The window's idle work between keys (``prepare_undo``) is done untimed, as in the window.
    """
    import tempfile

    from gui_app.core.project import Project
    from gui_app.core.session import LabelingSession

    rng = np.random.default_rng(0)
    centres = np.abs(rng.normal(0.4, 0.6, (classes, dim))).astype(np.float32)
    y = rng.integers(0, classes, images)
    X = np.maximum(centres[y] + 0.8 * rng.standard_normal((images, dim), dtype=np.float32), 0)
    paths = [f"img{i:06d}.jpg" for i in range(images)]
    out = {}
    print(f"\nQ1 core: {images:,} images x {dim}-d, {classes} classes, {actions} label actions")
    for replay in (True, False):
        with tempfile.TemporaryDirectory(prefix="loupe-q1-") as tmp:
            root = Path(tmp) / "imgs"
            root.mkdir()
            session = LabelingSession(Project(root))
            session.add_vectors(paths, X)
            if not replay:
                session.learner.replay_steps = 0
            times, teach_times = [], []
            for n in range(warmup + actions):
                row = (n * 7919) % images
                session.prepare_undo()
                started = time.perf_counter()
                session.label(paths[row], f"class{y[row]:02d}")
                taught = time.perf_counter()
                session.predict(paths[(row + 1) % images])
                if n >= warmup:
                    times.append(time.perf_counter() - started)
                    teach_times.append(taught - started)
            size = len(__import__("pickle").dumps(session.learner))
            plan = session.plan_rebuild()
            started = time.perf_counter()
            plan.run()
            rebuild = time.perf_counter() - started
            session.close()
        ms = np.array(times) * 1e3
        name = "replay (default)" if replay else "no replay"
        print(
            f"  {name:17s} label + bars: p50 {np.percentile(ms, 50):.2f} ms, p99 "
            f"{np.percentile(ms, 99):.2f} ms, max {ms.max():.2f} ms (label alone p50 "
            f"{1e3 * np.median(teach_times):.2f} ms); pickled learner {size / 1e3:.0f} kB; "
            f"replay of the {len(plan)} events (background) {rebuild:.1f} s"
        )
        out[name] = {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
                     "pickle_bytes": size, "rebuild_s": rebuild, "events": len(plan)}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="folder holding eurosat/, dogs/, cifar10/ splits")
    parser.add_argument("--backbones", nargs="+", default=["efficientnet_lite0", "cifar8"])
    parser.add_argument("--shuffles", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--latency-only", action="store_true", help="only the Q1 timing")
    parser.add_argument("--actions", type=int, default=1000)
    args = parser.parse_args()
    print(machine_info(["numpy", "river", "scikit-learn"]))
    started = time.perf_counter()
    report = {}
    if not args.latency_only:
        report["q5"] = q5(args.root, args.backbones, args.shuffles)
        report["retention"] = retention(args.root, args.backbones, args.shuffles)
    report["latency"] = latency(20_000, 1280, 20, args.actions, warmup=300)
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
