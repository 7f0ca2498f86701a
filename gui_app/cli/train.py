"""``loupe train SOURCE``: one shuffled predict-then-learn pass, and optionally the batch model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gui_app.cli.output import STDOUT, Output, UserError
from gui_app.cli.parser import (
    LEARNER_CHOICES,
    add_backbone_options,
    add_command,
    add_json,
    add_label_from,
    add_learner,
    add_shuffle,
    positive_int,
)
from gui_app.core.batch_model import DEFAULT_FOLDS


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register ``train``."""
    p = add_command(
        sub,
        "train",
        common,
        "train a classifier on extracted features",
        "One predict-then-learn pass of an online learner over every labelled feature\n"
        "vector, in shuffled order: prints the progressive accuracy (each prediction is\n"
        "made before the sample is learned) and saves the model. --batch also fits an\n"
        "offline logistic regression (StandardScaler + LogisticRegression, C chosen by\n"
        "stratified k-fold cross-validation) on all labels and reports its cross-validated\n"
        "accuracy next to the online one; export it with 'loupe export --what model --model'.",
        "  loupe train ~/photos/cats-vs-dogs --label-from filename --batch --out model.pkl",
    )
    p.add_argument(
        "source",
        type=Path,
        metavar="SOURCE",
        help="an image folder (its project's feature cache) or a features .h5 file",
    )
    add_label_from(p)
    add_learner(p)
    p.add_argument(
        "--model",
        choices=LEARNER_CHOICES,
        metavar="NAME",
        dest="deprecated_model",
        help=argparse.SUPPRESS,
    )
    add_shuffle(p, "visit the samples in shuffled order")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("model.pkl"),
        metavar="FILE",
        help="where to save the online model (default: %(default)s)",
    )
    p.add_argument(
        "--batch",
        action="store_true",
        help="also fit the offline batch model (scikit-learn logistic regression)",
    )
    p.add_argument(
        "--batch-out",
        type=Path,
        metavar="FILE",
        help="where to save the batch model (default: .loupe/batch_model.pkl of a project, "
        "else NAME.batch.pkl beside --out)",
    )
    p.add_argument(
        "--folds",
        type=positive_int,
        default=DEFAULT_FOLDS,
        metavar="K",
        help="cross-validation folds for --batch (default: %(default)s)",
    )
    add_backbone_options(p)
    add_json(p)


def learner_name(args: argparse.Namespace, out: Output, settings) -> str:
    """``--learner``, the deprecated ``--model NAME``, the project's learner, or the default."""
    from gui_app.core.project_settings import ProjectSettings

    if getattr(args, "deprecated_model", None):
        out.warn("--model is deprecated in 'train' (it names the learner): use --learner")
        if not args.learner:
            return args.deprecated_model
    return args.learner or (settings or ProjectSettings()).learner


def run(args: argparse.Namespace, out: Output) -> int:
    """Predict-then-learn once over every labelled vector; save the model(s)."""
    from gui_app.cli.sources import feature_source, label_function, open_features, shuffle_seed

    if str(args.out) == STDOUT or str(args.batch_out) == STDOUT:
        raise UserError("a model is a binary file: give --out a file name, not -")
    src = feature_source(args.source, args.project_dir)
    from gui_app.core.learner import OnlineLearner
    from gui_app.core.training import percentiles, train_stream

    name = learner_name(args, out, src.settings)
    label_of, described = label_function(args, src)
    seed = shuffle_seed(args, out)
    learner = OnlineLearner(name, seed=seed or 0)
    with open_features(src, args) as store:
        out.note(f"training {name} on {len(store)} vectors ({store.dim}-d), labels: {described}")
        with out.progress(len(store), "vectors", "train") as bar:
            result = train_stream(
                store,
                label_of,
                learner,
                shuffle_seed=seed,
                progress=lambda n: bar.update(bar.done + n),
            )
        if result.samples == 0:
            raise UserError(f"no feature vector has a label from {described}")
        if not learner.can_predict():
            raise UserError(
                f"all {result.samples} labelled vectors are of one class "
                f"({', '.join(learner.classes)}): a classifier needs at least two"
            )
        learner.save(args.out)
        out.note(f"model saved to {args.out} (classes: {', '.join(learner.classes)})")
        batch = _fit_batch(args, out, store, label_of, src, seed) if args.batch else None
    lp50, lp99 = percentiles(result.learn_ms)
    pp50, pp99 = percentiles(result.predict_ms)
    lines = [
        f"progressive accuracy: {result.accuracy:.4f} over {result.samples} samples",
        f"learn latency p50 {lp50:.2f} ms p99 {lp99:.2f} ms; "
        f"predict latency p50 {pp50:.2f} ms p99 {pp99:.2f} ms",
    ]
    data: dict[str, Any] = {
        "command": "train",
        "learner": name,
        "classes": list(learner.classes),
        "samples": result.samples,
        "progressive_accuracy": result.accuracy,
        "shuffle_seed": seed,
        "model": str(args.out),
        "latency_ms": {
            "learn_p50": lp50,
            "learn_p99": lp99,
            "predict_p50": pp50,
            "predict_p99": pp99,
        },
        "batch": None,
    }
    if batch is not None:
        model, path = batch
        lines.append(
            f"batch model: {model.folds}-fold cross-validated accuracy {model.cv_accuracy:.4f} "
            f"(C={model.C:g}) vs online progressive accuracy {result.accuracy:.4f}"
        )
        data["batch"] = {
            "model": str(path),
            "C": model.C,
            "folds": model.folds,
            "cv_accuracy": model.cv_accuracy,
            "cv_accuracy_by_C": {f"{c:g}": acc for c, acc in model.cv_scores.items()},
            "samples": model.n_samples,
        }
    out.result("\n".join(lines), data)
    return 0


def _fit_batch(args, out: Output, store, label_of, src, seed: int | None):
    """Fit, save and return ``(BatchModel, path)`` on every labelled vector."""
    from gui_app.core.batch_model import batch_model_path, fit_batch_model
    from gui_app.core.training import labelled_matrix

    _paths, X, y = labelled_matrix(store, label_of)
    out.note(f"fitting the batch model on {len(y)} samples ({args.folds}-fold grid search on C)")
    model = fit_batch_model(X, y, folds=args.folds, seed=seed or 0)
    if args.batch_out is not None:
        path = Path(args.batch_out)
    elif src.project_dir is not None:
        path = batch_model_path(src.project_dir)
    else:
        path = Path(args.out).with_name(Path(args.out).stem + ".batch.pkl")
    model.save(path)
    out.note(f"batch model saved to {path}: {model.describe()}")
    return model, path
