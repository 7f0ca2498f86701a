"""``loupe import FOLDER --from CSV|DIR``: existing labels into the project, one undoable action."""

from __future__ import annotations

import argparse
from pathlib import Path

from gui_app.cli.output import Output, UserError
from gui_app.cli.parser import add_command, add_json


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register ``import``."""
    p = add_command(
        sub,
        "import",
        common,
        "import labels from a CSV file or class folders",
        "Label the images of FOLDER from a labels file (CSV with path,label columns, paths\n"
        "relative to FOLDER or absolute inside it, or a Loupe labels export) or from class\n"
        "folders (DIR/<class>/<file>: matched by relative path, else by a unique file name).\n"
        "Prints what matches first. The import is ONE undoable action in the window's\n"
        "history; images labelled otherwise keep their label unless --replace.",
        "  loupe import ~/photos/birds --from sorted-by-hand/ --dry-run\n"
        "  loupe import ~/photos/birds --from labels.csv",
    )
    p.add_argument("folder", type=Path, metavar="FOLDER", help="image folder")
    p.add_argument(
        "--from",
        dest="source",
        type=Path,
        required=True,
        metavar="CSV|DIR",
        help="a labels file, or a folder of class folders",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="only show what would be imported; change nothing"
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="give images already labelled with another class the imported one",
    )
    p.add_argument(
        "--project-dir",
        type=Path,
        metavar="DIR",
        help="the project files live in DIR instead of FOLDER/.loupe",
    )
    add_json(p)


def run(args: argparse.Namespace, out: Output) -> int:
    """Plan the import, print the preview, then apply it (unless --dry-run)."""
    from gui_app.cli.sources import LABELS_DB, project_dir_of, require_folder
    from gui_app.core.label_import import apply_import, import_summary, plan_import
    from gui_app.core.labels import LabelStore
    from gui_app.core.project import Project

    root = require_folder(args.folder)
    source = Path(args.source).expanduser()
    if not source.exists():
        raise UserError(f"no such labels file or folder: {source}")
    db = project_dir_of(root, args.project_dir) / LABELS_DB
    out.note(f"matching {source} against the images of {root} ...")
    if args.dry_run:
        if db.is_file():
            with LabelStore(db) as labels:
                plan = plan_import(root, labels, source, replace=args.replace)
        else:
            plan = plan_import(root, None, source, replace=args.replace)
        applied = None
    else:
        project = Project(root, args.project_dir)
        project.acquire_lock()  # refuses while a window has the project open
        try:
            with LabelStore(project.labels_path) as labels:
                plan = plan_import(root, labels, source, replace=args.replace)
                applied = apply_import(labels, plan)
        finally:
            project.release_lock()
    summary = import_summary(plan, applied)
    data = {
        "command": "import",
        **plan.to_dict(),
        "dry_run": applied is None,
        "imported": applied or 0,
    }
    out.result("\n".join([*plan.preview(), summary]), data)
    return 0
