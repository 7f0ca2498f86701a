"""Where a command's data comes from: folders, projects, feature files, labels, seeds.

Every check here happens before any file is created: a folder that does not exist, a folder
that was never opened, a features file of several backbones each get one clear line.
"""

from __future__ import annotations

import argparse
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gui_app.cli.output import Output, UserError
from gui_app.core.project import PROJECT_DIRNAME

if TYPE_CHECKING:  # these import river (about a second): only once the arguments are checked
    from gui_app.core.project_settings import ProjectSettings
    from gui_app.core.store import FeatureStore
    from gui_app.core.training import LabelFn

LABELS_DB = "labels.sqlite"
FEATURES_H5 = "features.h5"


def require_folder(folder: Path) -> Path:
    """``folder`` resolved, or `UserError` when it is missing or not a folder."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise UserError(f"folder does not exist: {folder}")
    if not folder.is_dir():
        raise UserError(f"not a folder: {folder}")
    return folder.resolve()


def project_dir_of(folder: Path, project_dir: Path | None) -> Path:
    """The project directory of ``folder`` (``--project-dir`` or ``FOLDER/.loupe``)."""
    if project_dir is not None:
        return Path(project_dir).expanduser().resolve()
    return Path(folder).expanduser().resolve() / PROJECT_DIRNAME


def require_project(folder: Path, project_dir: Path | None, *, what: str = LABELS_DB) -> Path:
    """The project directory of an existing project (``what`` must exist in it); creates nothing."""
    folder = require_folder(folder)
    directory = project_dir_of(folder, project_dir)
    if not (directory / what).is_file():
        if not directory.is_dir():
            raise UserError(
                f"no Loupe project in {folder}: open it in the window, or run "
                f"'loupe extract {folder}' or 'loupe import {folder} --from ...' first"
            )
        raise UserError(f"no features for {folder} yet: run 'loupe extract {folder}' first")
    return directory


def remembered(project_dir: Path | None) -> ProjectSettings | None:
    """The project's stored settings (None without a project), opening nothing new."""
    if project_dir is None or not (project_dir / LABELS_DB).is_file():
        return None
    from gui_app.core.labels import LabelStore
    from gui_app.core.project_settings import ProjectSettings

    with LabelStore(project_dir / LABELS_DB) as labels:
        return ProjectSettings.load(labels)


@dataclass(frozen=True)
class FeatureSource:
    """A features file and, for an image folder, its project directory."""

    path: Path
    project_dir: Path | None
    settings: ProjectSettings | None


def feature_source(source: Path, project_dir: Path | None) -> FeatureSource:
    """Resolve SOURCE (an image folder or a features ``.h5`` file) without creating anything."""
    source = Path(source).expanduser()
    if not source.exists():
        raise UserError(f"folder or features file does not exist: {source}")
    if not source.is_dir():
        return FeatureSource(source, None, None)
    directory = require_project(source, project_dir, what=FEATURES_H5)
    return FeatureSource(directory / FEATURES_H5, directory, remembered(directory))


def open_features(src: FeatureSource, args: argparse.Namespace) -> FeatureStore:
    """Open the features of the backbone asked for (read-only).

    The choice: ``--backbone``/``--weights`` if given, else the project's remembered backbone
    when the file has its features, else the only backbone in the file. Of a backbone's
    float32 and int8 features, the group of the engine the project extracts with
    (:func:`~gui_app.core.engine_choice.reader_feature_id`).
    """
    from gui_app.core.backbones import BackboneError, resolve_backbone
    from gui_app.core.engine_choice import engine_label, reader_feature_id, split_feature_id
    from gui_app.core.project_settings import ProjectSettings
    from gui_app.core.store import FeatureStore, StoreError, list_backbone_ids

    ids = list_backbone_ids(src.path)
    if not ids:
        raise StoreError(f"{src.path} holds no features (or is not a Loupe features file)")
    engines_dir = src.project_dir / "engines" if src.project_dir is not None else None

    def group_of(spec, settings: ProjectSettings) -> str:
        try:
            return reader_feature_id(spec, settings.engine, engines_dir, ids)
        except ValueError as exc:  # an engine name the project stored by hand
            raise UserError(str(exc)) from None

    wanted = None
    if args.backbone or args.weights:
        base = src.settings or ProjectSettings()
        wanted = resolve_backbone(*base.with_backbone(args.backbone, args.weights).backbone_choice)
        wanted_id = group_of(wanted, base)
        if wanted_id not in ids:
            precision = engine_label(split_feature_id(wanted_id)[1])
            raise StoreError(
                f"{src.path} has no features for {wanted.label} ({precision} engine): run "
                "'loupe extract' with that backbone first"
            )
        return FeatureStore(src.path, wanted_id, readonly=True)
    if src.settings is not None:
        try:
            remembered_id = group_of(resolve_backbone(*src.settings.backbone_choice), src.settings)
        except BackboneError:
            remembered_id = None
        if remembered_id in ids:
            return FeatureStore(src.path, remembered_id, readonly=True)
    if len(ids) == 1:
        return FeatureStore(src.path, ids[0], readonly=True)
    raise StoreError(
        f"{src.path} holds features of several backbones ({', '.join(ids)}): choose one with "
        "--backbone/--weights"
    )


def label_function(args: argparse.Namespace, src: FeatureSource) -> tuple[LabelFn, str]:
    """The true-class function of ``--label-from`` (default: the project's labels)."""
    from gui_app.core.training import label_source

    if args.label_from:
        return label_source(args.label_from), args.label_from
    if src.project_dir is None:
        raise UserError(
            "--label-from is needed for a features file: 'filename', 'folder' or a labels CSV"
        )
    from gui_app.core.labels import LabelStore

    db = src.project_dir / LABELS_DB
    table: dict[str, str] = {}
    if db.is_file():
        with LabelStore(db) as labels:
            table = labels.labels()
    if not table:
        raise UserError(
            "the project has no labels yet: label images in the window, run 'loupe import', "
            "or give --label-from"
        )
    return table.get, "the project's labels"


def shuffle_seed(args: argparse.Namespace, out: Output) -> int | None:
    """``--shuffle SEED``, None for ``--no-shuffle``, else a new random seed (printed)."""
    if args.no_shuffle:
        return None
    if args.shuffle is not None:
        return int(args.shuffle)
    seed = secrets.randbelow(2**31)
    out.note(f"shuffle seed: {seed} (repeat this run with --shuffle {seed})")
    return seed
