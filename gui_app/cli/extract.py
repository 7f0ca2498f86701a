"""``loupe extract FOLDER``: bring the project's feature cache up to date."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from gui_app.cli.output import Output, UserError
from gui_app.cli.parser import add_backbone_options, add_command, add_json, positive_int
from gui_app.core.images import DEFAULT_MAX_PIXELS

SHOWN_REASONS = 20


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register ``extract``."""
    p = add_command(
        sub,
        "extract",
        common,
        "extract CNN features of every image into the cache",
        "Extract a feature vector for every image under FOLDER (recursively) into the\n"
        "project's HDF5 cache, FOLDER/.loupe/features.h5. Resumable: cached images are\n"
        "skipped and an interrupted run (Ctrl-C) keeps every finished batch. Unreadable\n"
        "files are listed with their reason in FOLDER/.loupe/unreadable.csv. The project\n"
        "remembers the backbone (and --engine) it was extracted with; the window, train and\n"
        "export use it. Features of the int8 and float32 engines are cached apart.",
        "  loupe extract ~/photos/birds --backbone resnet50",
    )
    p.add_argument("folder", type=Path, metavar="FOLDER", help="image folder")
    add_backbone_options(p, engine=True)
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=32,
        metavar="N",
        help="images per inference batch (default: %(default)s)",
    )
    p.add_argument(
        "--max-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="treat images with more pixels as unreadable (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE.h5",
        help="write the features to this HDF5 file instead of the project cache "
        "(the project is not touched)",
    )
    add_cluster_options(p)
    add_json(p)


@contextlib.contextmanager
def _first_interrupt_stops(stop: threading.Event, out: Output) -> Iterator[None]:
    """The first Ctrl-C finishes the current batch and stops; a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        out.note("stopping after the current batch (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """``--scheduler`` and ``--shard-dir`` (Dask, optional: ``pip install "loupe[cluster]"``)."""
    group = parser.add_argument_group('cluster (needs: pip install "loupe[cluster]")')
    group.add_argument(
        "--scheduler",
        type=scheduler_arg,
        metavar="ADDRESS",
        help="run the batches as Dask tasks: tcp://HOST:8786 (a running scheduler whose "
        "workers see FOLDER at the same path) or local[:N] (N worker processes here)",
    )
    group.add_argument(
        "--shard-dir",
        type=Path,
        metavar="DIR",
        help="where workers write their result shards (default: beside the cache, "
        "features.shards/); every worker must see it at the same path",
    )


def scheduler_arg(value: str) -> str:
    """A Dask scheduler address or ``local[:N]``; checked without importing Dask."""
    from gui_app.core.cluster import ClusterError, parse_scheduler

    try:
        parse_scheduler(value)
    except ClusterError as exc:
        raise argparse.ArgumentTypeError(exc.reason) from None
    return value


def run(args: argparse.Namespace, out: Output) -> int:
    """Extract features of every image under FOLDER into the cache (resumable)."""
    from gui_app.cli.sources import project_dir_of, remembered, require_folder
    from gui_app.core.backbones import resolve_backbone
    from gui_app.core.engine_choice import engine_label, split_feature_id
    from gui_app.core.extraction import ExtractionCallbacks, run_extraction
    from gui_app.core.images import scan_images
    from gui_app.core.project import Project, write_unreadable_csv
    from gui_app.core.project_settings import ProjectSettings

    root = require_folder(args.folder)
    if args.scheduler is not None:
        from gui_app.core.cluster import import_distributed

        import_distributed()  # Dask missing: say so before scanning
    project = None
    stored = None
    if args.out is None:
        stored = remembered(project_dir_of(root, args.project_dir))
    chosen = (stored or ProjectSettings()).with_backbone(args.backbone, args.weights)
    spec = resolve_backbone(*chosen.backbone_choice)
    if args.engine:
        chosen = replace(chosen, engine=args.engine)
    engine = chosen.engine
    out.note(f"scanning {root} ...")
    paths = scan_images(root)
    if not paths:
        raise UserError(f"no images in {root} (looked for jpg, png, bmp, tif, webp, gif)")
    if args.out is not None:
        features = Path(args.out).expanduser().resolve()
        features.parent.mkdir(parents=True, exist_ok=True)
        engines_dir = features.parent / f".{features.stem}-engines"
        csv_path = features.with_name(features.stem + ".unreadable.csv")
    else:
        project = Project(root, args.project_dir)
        features, engines_dir, csv_path = (
            project.features_path,
            project.engines_dir,
            project.unreadable_csv,
        )
    out.note(f"backbone: {spec.label}")

    changed = stored is None or (stored.backbone_choice, stored.engine) != (
        chosen.backbone_choice,
        chosen.engine,
    )
    remember = [project is not None and changed]

    def remember_once() -> None:
        # Only once the model loaded (or the cache had it all): a choice that cannot work
        # offline must not replace the project's working one.
        if remember[0] and project is not None:
            _remember(project.labels_path, chosen)
            remember[0] = False

    def engine_ready(name: str) -> None:
        out.note(f"engine: {name}")
        remember_once()

    stop = threading.Event()
    with out.progress(len(paths), "img", "extract") as bar, _first_interrupt_stops(stop, out):
        callbacks = ExtractionCallbacks(
            progress=lambda p: bar.update(p.done, f"{p.rate:.0f} img/s" if p.rate else ""),
            notice=lambda message: out.note(f"note: {message}"),
            engine_ready=engine_ready,
            should_stop=stop.is_set,
        )
        report = run_extraction(
            root,
            paths,
            features,
            engines_dir,
            spec,
            engine=engine,
            batch_size=args.batch_size,
            max_pixels=args.max_pixels,
            callbacks=callbacks,
            scheduler=args.scheduler,
            shard_dir=args.shard_dir,
        )
    if not report.cancelled:
        remember_once()
    if report.unreadable:
        write_unreadable_csv(csv_path, report.unreadable)
        out.note(f"unreadable files and reasons: {csv_path}")
        for rel, reason in sorted(report.unreadable.items())[:SHOWN_REASONS]:
            out.note(f"  {rel}: {reason}")
    rate = report.extracted / report.seconds if report.seconds > 0 and report.extracted else 0.0
    if rate:
        out.note(f"{rate:.1f} images/s with {report.engine}")
    elif report.backbone_id and not report.cancelled:
        precision = engine_label(split_feature_id(report.backbone_id)[1])
        out.note(f"features of the {precision} engine, all cached")
    if report.cancelled:
        out.note("stopped: run the same command again to finish")
    out.result(
        report.summary(),
        {
            "command": "extract",
            "folder": str(root),
            "features": str(features),
            "backbone": spec.label,
            "backbone_id": report.backbone_id or spec.id,
            "engine": report.engine or None,
            "precision": split_feature_id(report.backbone_id or spec.id)[1],
            "images": report.images,
            "extracted": report.extracted,
            "cached": report.cached,
            "unreadable": len(report.unreadable),
            "unreadable_csv": str(csv_path) if report.unreadable else None,
            "seconds": round(report.seconds, 3),
            "images_per_second": round(rate, 2),
            "cancelled": report.cancelled,
        },
    )
    return 130 if report.cancelled else 0


def _remember(labels_path: Path, chosen) -> None:
    """Store the backbone, weights and engine the features were extracted with (nothing else).

    The engine decides which features train and export read (int8 and float32 are apart).
    """
    from gui_app.core.labels import LabelStore

    with LabelStore(labels_path) as labels:
        labels.set_setting("backbone", chosen.backbone)
        labels.set_setting("weights", chosen.weights)
        labels.set_setting("engine", chosen.engine)
