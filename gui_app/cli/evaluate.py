"""``loupe predict`` and ``loupe evaluate``: a saved model (or a held-out split) on features."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gui_app.cli.output import Output, UserError, write_output
from gui_app.cli.parser import (
    add_backbone_options,
    add_command,
    add_json,
    add_label_from,
    add_learner,
    add_shuffle,
    fraction_arg,
    probability_arg,
)


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register ``predict`` and ``evaluate``."""
    p = add_command(
        sub,
        "predict",
        common,
        "write a predictions CSV for every image",
        "Score every cached feature vector with a saved model and write a CSV: path,\n"
        "predicted class ('unknown' below --threshold) and one probability column per class.",
        "  loupe predict ~/photos/new --model model.pkl --out predictions.csv --threshold 0.8",
    )
    _source(p)
    p.add_argument(
        "--model",
        type=Path,
        required=True,
        metavar="FILE",
        help="a model file written by 'loupe train' (online, or the --batch model)",
    )
    p.add_argument(
        "--out", required=True, metavar="FILE.csv|-", help="CSV file to write; - for stdout"
    )
    p.add_argument(
        "--threshold",
        type=probability_arg,
        default=0.0,
        metavar="P",
        help="below this top probability the prediction is 'unknown' (default: %(default)s)",
    )
    add_backbone_options(p)

    p = add_command(
        sub,
        "evaluate",
        common,
        "precision, recall, F1 and the confusion matrix",
        "Evaluate a saved model on labelled feature vectors, or with --holdout train a fresh\n"
        "online learner on the rest of the labels (one shuffled pass) and evaluate it on the\n"
        "held-out part. Prints per-class precision, recall and F1, their macro and weighted\n"
        "averages, the accuracy and the confusion matrix. Exits with status 1 when no\n"
        "labelled vector matches.",
        "  loupe evaluate ~/photos/cats-vs-dogs --label-from filename --holdout 0.2 --shuffle 1\n"
        "  loupe evaluate features.h5 --label-from labels.csv --model model.pkl",
    )
    _source(p)
    add_label_from(p)
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--model", type=Path, metavar="FILE", help="evaluate this model file ('loupe train')"
    )
    how.add_argument(
        "--holdout",
        type=fraction_arg,
        metavar="FRACTION",
        help="hold out this fraction of each class (e.g. 0.2) and train on the rest",
    )
    add_learner(p, "--holdout: the learner to train")
    add_shuffle(p, "--holdout: split and visit the samples")
    add_backbone_options(p)
    add_json(p)


def _source(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        type=Path,
        metavar="SOURCE",
        help="an image folder (its project's feature cache) or a features .h5 file",
    )


def run_predict(args: argparse.Namespace, out: Output) -> int:
    """Write path, predicted label (or unknown) and one probability column per class."""
    from gui_app.cli.sources import feature_source, open_features
    from gui_app.core.batch_model import load_model
    from gui_app.core.export_model import export_predictions
    from gui_app.core.learner import LearnerError

    src = feature_source(args.source, args.project_dir)
    model = load_model(args.model)
    if not model.can_predict():
        raise LearnerError(f"{args.model} has learned fewer than two classes")
    with open_features(src, args) as store:
        rows = write_output(
            args.out, lambda path: export_predictions(store, model, path, args.threshold)
        )
    out.note(f"predictions: {rows} rows written to {'stdout' if args.out == '-' else args.out}")
    return 0


def run_evaluate(args: argparse.Namespace, out: Output) -> int:
    """Print per-class precision, recall, F1, averages, accuracy and the confusion matrix."""
    from gui_app.cli.sources import feature_source, label_function, open_features
    from gui_app.core.training import evaluate

    src = feature_source(args.source, args.project_dir)
    label_of, described = label_function(args, src)
    data: dict[str, Any] = {"command": "evaluate"}
    with open_features(src, args) as store:
        if not any(label_of(path) is not None for path in store.paths()):
            raise UserError(f"no feature vector has a label from {described}")
        if args.holdout is not None:
            model, test_of, extra = _train_on_rest(args, out, store, label_of, src)
            data.update(extra)
        else:
            from gui_app.core.batch_model import load_model

            model, test_of = load_model(args.model), label_of
            data.update({"model": str(args.model), "holdout": None})
        if not model.can_predict():
            raise UserError("the model has learned fewer than two classes")
        result = evaluate(store, test_of, model)
    if result.total == 0:
        if result.unknown_truth:
            raise UserError(
                f"none of the {result.unknown_truth} labelled vectors has a class the model "
                f"knows ({', '.join(model.classes)})"
            )
        raise UserError(f"no feature vector has a label from {described}")
    data.update(result.to_dict())
    out.result(result.format(), data)
    return 0


def _train_on_rest(args, out: Output, store, label_of, src):
    """Train a fresh learner on all but the held-out part; (model, held-out labels, JSON)."""
    from gui_app.cli.sources import shuffle_seed
    from gui_app.cli.train import learner_name
    from gui_app.core.learner import OnlineLearner
    from gui_app.core.training import holdout_split, train_stream

    seed = shuffle_seed(args, out)
    train_of, test_of = holdout_split(store, label_of, args.holdout, seed or 0)
    name = learner_name(args, out, src.settings)
    learner = OnlineLearner(name, seed=seed or 0)
    trained = train_stream(store, train_of, learner, shuffle_seed=seed)
    out.note(
        f"trained {name} on {trained.samples} samples (progressive accuracy "
        f"{trained.accuracy:.4f}); evaluating on the held-out {args.holdout:g}"
    )
    extra = {
        "model": None,
        "holdout": args.holdout,
        "learner": name,
        "shuffle_seed": seed,
        "trained_samples": trained.samples,
        "progressive_accuracy": trained.accuracy,
    }
    return learner, test_of, extra
