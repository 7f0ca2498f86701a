"""The headless subcommands behind ``loupe extract|train|predict|evaluate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from gui_app.core.backbones import (
    DEFAULT_BACKBONE,
    BackboneSpec,
    absolute_choice,
    resolve_backbone,
)
from gui_app.core.errors import LoupeError
from gui_app.core.images import DEFAULT_MAX_PIXELS, scan_images
from gui_app.core.learner import LearnerError, OnlineLearner
from gui_app.core.project import Project, ProjectError, write_unreadable_csv
from gui_app.core.store import FeatureStore, StoreError, list_backbone_ids
from gui_app.core.training import (
    LabelSourceError,
    evaluate,
    label_source,
    percentiles,
    train_stream,
)

OS_USER_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError)


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for an expected failure, or None for a real bug."""
    if isinstance(exc, OS_USER_ERRORS):
        return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    if isinstance(exc, LoupeError):
        return exc.reason
    return None


def _spec_from(args: argparse.Namespace) -> BackboneSpec:
    return resolve_backbone(args.backbone or DEFAULT_BACKBONE, args.weights or "imagenet")


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_extract(args: argparse.Namespace) -> int:
    """Extract features of every image under FOLDER into the cache (resumable)."""
    from gui_app.core.engines import create_engine
    from gui_app.core.features import ExtractionReport, partition_cached, stat_files

    folder: Path = args.folder
    if not folder.is_dir():
        raise ProjectError(f"not a folder: {folder}")
    spec = _spec_from(args)
    if args.out is not None:
        out = args.out.resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        engines_dir = out.parent / f".{out.stem}-engines"
        csv_path = out.with_name(out.stem + ".unreadable.csv")
    else:
        project = Project(folder, args.project_dir)
        _remember_backbone(project, args)
        out, engines_dir, csv_path = (
            project.features_path,
            project.engines_dir,
            project.unreadable_csv,
        )
    root = folder.resolve()
    _note(f"scanning {root} ...")
    paths = scan_images(root)
    keys, unreadable = stat_files(root, paths)
    _note(f"backbone: {spec.label}")
    engine = None
    if not spec.feature_dim:  # the model must be loaded to know its output size
        engine = create_engine(spec, engines_dir, prefer=args.engine, log=_note)
    dim = spec.feature_dim or engine.feature_dim
    with FeatureStore(out, spec.id, dim) as store:
        if store.recovery_message:
            _note(f"warning: {store.recovery_message}")
        cached, todo, known_bad = partition_cached(store, keys)
        unreadable.update(known_bad)
        report = ExtractionReport(images=len(paths), cached=len(cached), unreadable=unreadable)
        _note(f"{len(todo)} to extract, {len(cached)} cached, {len(known_bad)} known unreadable")
        if todo:
            engine = engine or create_engine(spec, engines_dir, prefer=args.engine, log=_note)
            _note(f"engine: {engine.name}")
            _extract_with_bar(root, todo, spec, store, engine, report, args)
    if report.unreadable:
        write_unreadable_csv(csv_path, report.unreadable)
        _note(f"unreadable files and reasons: {csv_path}")
        for rel, reason in sorted(report.unreadable.items())[:20]:
            _note(f"  {rel}: {reason}")
    if report.seconds > 0 and report.extracted:
        _note(f"{report.extracted / report.seconds:.1f} images/s with {report.engine}")
    print(report.summary(), flush=True)
    return 0


def _remember_backbone(project: Project, args: argparse.Namespace) -> None:
    """The project keeps the backbone it was extracted with (window, export and train use it)."""
    from gui_app.core.labels import LabelStore

    backbone, weights = absolute_choice(
        args.backbone or DEFAULT_BACKBONE, args.weights or "imagenet"
    )
    with LabelStore(project.labels_path) as labels:
        labels.set_setting("backbone", backbone)
        labels.set_setting("weights", weights)


def _extract_with_bar(root, todo, spec, store, engine, report, args) -> None:
    """Run the pipeline over ``todo`` with a tqdm progress bar on stderr."""
    from gui_app.core.features import WorkQueue, extract_features

    base_unreadable = len(report.unreadable)
    with tqdm(total=len(todo), unit="img", file=sys.stderr, leave=False) as bar:

        def progress(p) -> None:
            bar.n = p.extracted + p.unreadable - base_unreadable
            bar.set_postfix_str(f"{p.rate:.0f} img/s", refresh=False)
            bar.refresh()

        extract_features(
            root,
            WorkQueue(todo),
            spec,
            store,
            engine,
            batch_size=max(1, args.batch_size),
            report=report,
            total=report.images,
            progress=progress,
            max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS,
        )


def _open_features(args: argparse.Namespace) -> FeatureStore:
    """Open a features file given directly, or the project cache of an image folder."""
    source: Path = args.source
    if source.is_dir():
        project_dir = args.project_dir or source / ".loupe"
        path = Path(project_dir) / "features.h5"
    else:
        path = source
    if not path.is_file():
        raise StoreError(f"no features at {path}: run 'loupe extract' first")
    ids = list_backbone_ids(path)
    if not ids:
        raise StoreError(f"{path} holds no features")
    if args.backbone or args.weights or len(ids) == 1:
        wanted = ids[0] if len(ids) == 1 and not args.backbone else _spec_from(args).id
        if wanted not in ids:
            raise StoreError(f"{path} has no features for {wanted}; it has: {', '.join(ids)}")
    else:
        raise StoreError(
            f"{path} holds features of several backbones ({', '.join(ids)}): choose one with "
            "--backbone/--weights"
        )
    return FeatureStore(path, wanted, readonly=True)


def run_train(args: argparse.Namespace) -> int:
    """Predict-then-learn once over every labelled vector; save the model."""
    label_of = label_source(args.label_from)
    learner = OnlineLearner(args.model, seed=args.shuffle or 0)
    with _open_features(args) as store:
        _note(f"training {args.model} on {len(store)} vectors ({store.dim}-d)")
        with tqdm(total=len(store), unit="sample", file=sys.stderr, leave=False) as bar:
            result = train_stream(
                store, label_of, learner, shuffle_seed=args.shuffle, progress=bar.update
            )
    if result.samples == 0:
        raise LabelSourceError("no vector had a label: check --label-from")
    out = args.out or Path("model.pkl")
    learner.save(out)
    _note(f"model saved to {out} (classes: {', '.join(learner.classes)})")
    lp50, lp99 = percentiles(result.learn_ms)
    pp50, pp99 = percentiles(result.predict_ms)
    print(f"progressive accuracy: {result.accuracy:.4f} over {result.samples} samples")
    print(
        f"learn latency p50 {lp50:.2f} ms p99 {lp99:.2f} ms; "
        f"predict latency p50 {pp50:.2f} ms p99 {pp99:.2f} ms",
        flush=True,
    )
    return 0


def _load_model(path: Path) -> OnlineLearner:
    # The user named this file on the command line: trust its folder like a project's own.
    return OnlineLearner.load(path, path.resolve().parent)


def run_predict(args: argparse.Namespace) -> int:
    """Write path, predicted label (or unknown) and one probability column per class."""
    learner = _load_model(args.model)
    if not learner.can_predict():
        raise LearnerError(f"{args.model} has learned fewer than two classes")
    from gui_app.core.export_model import export_predictions

    with _open_features(args) as store:
        rows = export_predictions(store, learner, args.out, args.threshold)
    out = args.out
    print(f"predictions: {rows} rows written to {out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Print per-class precision, recall, F1, accuracy and the confusion matrix."""
    learner = _load_model(args.model)
    label_of = label_source(args.label_from)
    with _open_features(args) as store:
        result = evaluate(store, label_of, learner)
    print(result.format())
    return 0
