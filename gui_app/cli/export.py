"""``loupe export FOLDER --what labels|folders|predictions|model|features --out PATH``."""

from __future__ import annotations

import argparse
from pathlib import Path

from gui_app.cli.output import STDOUT, Output, to_stdout_allowed, write_output
from gui_app.cli.parser import add_backbone_options, add_command, probability_arg

WHAT = ("labels", "folders", "predictions", "model", "features")


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register ``export``."""
    p = add_command(
        sub,
        "export",
        common,
        "export labels, class folders, predictions, the model or features",
        "Export a project's work (the folder must have been opened or extracted before):\n"
        "  labels       CSV (path,label,when,predicted,probability,prediction) or JSON\n"
        "  folders      the labelled images copied (or linked) into OUT/<class>/\n"
        "  predictions  CSV: path, predicted class, one probability column per class\n"
        "  model        folder: model.pkl, portable/ (numpy weights + JSON), classifier.keras\n"
        "               and classifier.tflite (raw RGB image in, probabilities out)\n"
        "  features     every image's feature vector: .csv (path,f0,f1,...), .npy (+ the\n"
        "               NAME.paths.txt list of paths in row order) or .npz (vectors, paths)\n"
        "CSV and JSON outputs go to standard output with --out -.",
        "  loupe export ~/photos/birds --what model --out exported-model/\n"
        "  loupe export ~/photos/birds --what features --out features.npy",
    )
    p.add_argument("folder", type=Path, metavar="FOLDER", help="image folder of the project")
    p.add_argument("--what", choices=WHAT, required=True, help="what to export")
    p.add_argument(
        "--out",
        required=True,
        metavar="PATH|-",
        help="file (labels, predictions, features) or folder (folders, model); "
        "- writes a CSV or JSON file to standard output",
    )
    p.add_argument(
        "--format",
        choices=("csv", "json"),
        help="labels: file format (default: json for a .json name, else csv)",
    )
    p.add_argument(
        "--mode",
        choices=("copy", "hardlink", "symlink"),
        default="copy",
        help="folders: how files are placed (default: %(default)s)",
    )
    p.add_argument("--overwrite", action="store_true", help="folders: replace files in OUT")
    p.add_argument(
        "--threshold",
        type=probability_arg,
        default=0.0,
        metavar="P",
        help="predictions: 'unknown' below this top probability (default: %(default)s)",
    )
    p.add_argument(
        "--model",
        type=Path,
        metavar="FILE",
        help="predictions, model: use this model file (e.g. the batch model of "
        "'loupe train --batch') instead of the project's live model",
    )
    add_backbone_options(p)


def run(args: argparse.Namespace, out: Output) -> int:
    """Export what ``--what`` names; a folder never opened is refused, nothing is created."""
    from gui_app.cli.sources import FEATURES_H5, LABELS_DB, require_project

    what = args.what
    if what in ("folders", "model") or (what == "features" and not _is_csv(args.out)):
        to_stdout_allowed(args.out, "a folder" if what != "features" else ".npy/.npz features")
    needs = FEATURES_H5 if what in ("predictions", "model", "features") else LABELS_DB
    project_dir = require_project(args.folder, args.project_dir, what=needs)
    if what in ("labels", "folders"):
        return _labels_or_folders(args, out, project_dir)
    if what == "features":
        return _features(args, out, project_dir)
    return _with_model(args, out, project_dir)


def _is_csv(out: str) -> bool:
    return out == STDOUT or out.lower().endswith(".csv")


def _shown(out: str) -> str:
    return "stdout" if out == STDOUT else out


def _labels_or_folders(args, out: Output, project_dir: Path) -> int:
    from gui_app.core.export import export_class_folders, export_labels
    from gui_app.core.labels import LabelStore

    with LabelStore(project_dir / "labels.sqlite") as labels:
        if args.what == "labels":
            fmt = args.format or ("json" if args.out.lower().endswith(".json") else "csv")
            n = write_output(args.out, lambda path: export_labels(labels, path, fmt), f".{fmt}")
            out.note(f"labels: {n} rows written to {_shown(args.out)}")
            return 0
        report = export_class_folders(
            Path(args.folder).resolve(),
            labels.labels(),
            Path(args.out),
            args.mode,
            overwrite=args.overwrite,
        )
    for note in report.notes:
        out.note(note)
    for path, reason in report.skipped[:20]:
        out.note(f"  skipped {path}: {reason}")
    out.result(report.summary(), {})
    return 0


def _features(args, out: Output, project_dir: Path) -> int:
    from gui_app.cli.sources import FeatureSource, open_features, remembered
    from gui_app.core.feature_export import export_features

    src = FeatureSource(project_dir / "features.h5", project_dir, remembered(project_dir))
    with open_features(src, args) as store:
        report = write_output(
            args.out, lambda path: export_features(store, path, Path(args.folder).resolve())
        )
    if report.stale:
        out.note(
            f"left out {report.stale} cached vectors of files changed or deleted since "
            "extraction (run 'loupe extract' to refresh them)"
        )
    files = ", ".join(str(f) for f in report.files) if args.out != STDOUT else "stdout"
    out.note(f"features: {report.rows} vectors of {report.dim} values written to {files}")
    return 0


def _with_model(args, out: Output, project_dir: Path) -> int:
    """Predictions or the model files, from the project's model or ``--model FILE``."""
    from gui_app.cli.output import UserError
    from gui_app.cli.sources import FeatureSource, open_features, remembered
    from gui_app.core.backbones import resolve_backbone
    from gui_app.core.batch_model import load_model
    from gui_app.core.engine_choice import split_feature_id
    from gui_app.core.project_settings import ProjectSettings

    settings = remembered(project_dir) or ProjectSettings()
    src = FeatureSource(project_dir / "features.h5", project_dir, settings)
    with open_features(src, args) as store:
        model = load_model(args.model) if args.model else _project_model(args, store)
        if args.what == "predictions":
            from gui_app.core.export_model import export_predictions

            n = write_output(
                args.out, lambda path: export_predictions(store, model, path, args.threshold)
            )
            out.note(f"predictions: {n} rows written to {_shown(args.out)}")
            return 0
        backbone_id = store.backbone_id
    spec = resolve_backbone(*settings.with_backbone(args.backbone, args.weights).backbone_choice)
    if split_feature_id(backbone_id)[0] != spec.id:
        raise UserError(
            f"the features in the cache do not come from {spec.label}: name their backbone "
            "with --backbone/--weights"
        )
    from gui_app.core.model_files import export_model_files

    written = export_model_files(
        spec, model, Path(args.out), log=out.note, feature_id=backbone_id,
        engines_dir=project_dir / "engines",
    )  # fmt: skip
    for path in written:
        out.result(f"model: {path}", {})
    return 0


def _project_model(args, store):
    """The project's live model: its snapshot when current, else a replay of the journal."""
    from gui_app.core.project import Project
    from gui_app.core.session import LabelingSession

    session = LabelingSession(Project(Path(args.folder), args.project_dir))
    try:
        return session.model_from_store(store)
    finally:
        session.labels.close()
