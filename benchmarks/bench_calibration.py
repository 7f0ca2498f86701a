"""Calibrated vs raw probabilities of the online learner, taught as a labelling session does.

Every image of FOLDER (classes from its sub-folders) gets features through Loupe's pipeline;
for each seed a random order is taught through ``teaching.teach`` (the session's code path) and
at the given label counts the rest is scored: accuracy, mean top probability raw and shown,
negative log-likelihood, and how often a shown probability >= 0.9 is right.

    python benchmarks/bench_calibration.py ../shared/data/eurosat-mini --labels 60 260 1000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import quiet_tensorflow  # also puts the repository on sys.path
from project_features import folder_features

from gui_app.core.calibration import sharpen
from gui_app.core.learner import OnlineLearner
from gui_app.core.teaching import KeyedVectors, teach


def nll(probs: np.ndarray, truth: np.ndarray) -> float:
    return float(-np.mean(np.log(np.maximum(probs[np.arange(len(probs)), truth], 1e-12))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--labels", type=int, nargs="+", default=[60, 260, 1000])
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    quiet_tensorflow()
    paths, vectors = folder_features(args.folder, args.backbone)
    classes = np.array([p.split("/")[0] for p in paths])
    budget = max(args.labels)
    if budget >= len(paths):
        raise SystemExit(f"{len(paths)} images: keep --labels below that")
    print("seed labels | power | accuracy | top prob raw -> shown | NLL raw -> shown | >= 0.9")
    for seed in range(args.seeds):
        order = np.random.default_rng(seed).permutation(len(paths))
        held = order[budget:]
        learner, seen = OnlineLearner("logistic"), KeyedVectors()
        for key, row in enumerate(order[:budget], start=1):
            teach(learner, vectors[row], str(classes[row]), key, seen)
            seen.add(key, vectors[row])
            if key not in args.labels:
                continue
            shown = learner.score_many(vectors[held]).astype(np.float64)
            power = learner.calibration.power
            raw = sharpen(shown, 1.0 / power)
            names = np.array(learner.classes)
            right = names[shown.argmax(axis=1)] == classes[held]
            known = np.isin(classes[held], names)
            truth = np.array([learner.classes.index(c) for c in classes[held][known]])
            sure = shown.max(axis=1) >= 0.9
            print(
                f"{seed:4d} {key:6d} | {power:5.2f} | {right.mean():.3f} | "
                f"{raw.max(axis=1).mean():.3f} -> {shown.max(axis=1).mean():.3f} | "
                f"{nll(raw[known], truth):.3f} -> {nll(shown[known], truth):.3f} | "
                f"{sure.mean():.0%} of images, {right[sure].mean() if sure.any() else 0:.1%} right"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
