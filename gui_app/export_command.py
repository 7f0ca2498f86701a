"""``loupe export FOLDER --what labels|folders|predictions|model --out PATH``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gui_app.core.backbones import DEFAULT_BACKBONE, BackboneSpec, resolve_backbone
from gui_app.core.export import export_class_folders, export_labels
from gui_app.core.labels import LabelStore
from gui_app.core.project import Project
from gui_app.core.session import LabelingSession
from gui_app.core.store import FeatureStore, StoreError

WHAT = ("labels", "folders", "predictions", "model")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``export`` subcommand."""
    p = sub.add_parser("export", help="export labels, class folders, predictions or the model")
    p.add_argument("folder", type=Path)
    p.add_argument("--what", choices=WHAT, required=True)
    p.add_argument("--out", type=Path, required=True, help="file (labels, predictions) or folder")
    p.add_argument("--format", choices=("csv", "json"), default=None, help="labels format")
    p.add_argument("--mode", choices=("copy", "hardlink", "symlink"), default="copy")
    p.add_argument("--threshold", type=float, default=0.0, help="predictions: 'unknown' below")
    p.add_argument("--overwrite", action="store_true", help="folders: replace existing files")
    p.add_argument("--backbone", default=None)
    p.add_argument("--weights", default=None)
    p.add_argument("--project-dir", type=Path, default=None)


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def project_spec(labels: LabelStore, args: argparse.Namespace) -> BackboneSpec:
    """The backbone named on the command line, else the one the project was extracted with."""
    backbone = args.backbone or labels.get_setting("backbone") or DEFAULT_BACKBONE
    weights = args.weights or labels.get_setting("weights") or "imagenet"
    return resolve_backbone(backbone, weights)


def run_export(args: argparse.Namespace) -> int:
    project = Project(args.folder, args.project_dir)
    out: Path = args.out
    if args.what in ("labels", "folders"):
        with LabelStore(project.labels_path) as labels:
            if args.what == "labels":
                fmt = args.format or ("json" if out.suffix.lower() == ".json" else "csv")
                n = export_labels(labels, out, fmt)
                print(f"labels: {n} rows written to {out}")
                return 0
            report = export_class_folders(
                project.root, labels.labels(), out, args.mode, overwrite=args.overwrite
            )
        for note in report.notes:
            _note(note)
        for path, reason in report.skipped[:20]:
            _note(f"  skipped {path}: {reason}")
        print(report.summary())
        return 0

    session = LabelingSession(project)
    try:
        spec = project_spec(session.labels, args)
        if not project.features_path.exists():
            raise StoreError("no features yet: run 'loupe extract' first")
        with FeatureStore(project.features_path, spec.id, readonly=True) as store:
            learner = session.model_from_store(store)
            if args.what == "predictions":
                from gui_app.core.export_model import export_predictions

                n = export_predictions(store, learner, out, args.threshold)
                print(f"predictions: {n} rows written to {out}")
                return 0
        return _export_model(spec, learner, out)
    finally:
        session.labels.close()


def _export_model(spec: BackboneSpec, learner, out: Path) -> int:
    for path in export_model_files(spec, learner, out, log=_note):
        print(f"model: {path}")
    return 0


def export_model_files(spec: BackboneSpec, learner, out: Path, log=lambda m: None) -> list[Path]:
    """river pickle, portable npz/JSON, Keras and TFLite classifiers in the folder ``out``."""
    from gui_app.core.export_model import (
        export_keras,
        export_pickle,
        export_portable,
        export_tflite,
    )

    out.mkdir(parents=True, exist_ok=True)
    written = [export_pickle(learner, out / "model.pkl")]
    if learner.name in ("logistic", "softmax"):
        written.append(export_portable(learner, spec.id, out / "portable"))
        log("building the Keras model (backbone + preprocessing + head) ...")
        keras_path = export_keras(spec, learner, out / "classifier.keras")
        written += [keras_path, export_tflite(keras_path, out / "classifier.tflite")]
    else:
        log(f"{learner.name}: only the river pickle can be exported (not a linear model)")
    return written
