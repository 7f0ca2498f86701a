"""``loupe report FOLDER --out DIR``: the Insight figures, their data and an HTML summary.

Headless and on the panel's own code path: the figures are computed from the journal by
:func:`gui_app.core.insight.compute_insight` and drawn by the panel's charts
(:func:`gui_app.widgets.insight_export.export_insight`) on an offscreen Qt platform when
there is no display. Predicted counts need the feature cache and a model; without them the
report says so and still writes everything else.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from gui_app.core.errors import LoupeError

PROJECT_DIRNAME = ".loupe"


class ReportError(LoupeError):
    """The report cannot be made (no project, an unusable output folder)."""


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser | None = None):
    """Register ``report`` (``common``: the shared options parser, when the CLI has one)."""
    from gui_app.cli.parser import positive_int
    from gui_app.core.insight import DEFAULT_GAP, DEFAULT_WINDOW

    p = sub.add_parser(
        "report",
        parents=[common] if common is not None else [],
        help="write the Insight figures (PNG), their data (CSV) and an HTML summary",
        description="Write what the Insight panel shows, computed from the project's label "
        "journal: progressive (predict-then-learn) accuracy with its 95 % Wilson band, overall, "
        "per class and for audits; the confusion matrix of the suggestions against the labels "
        "given; labelled and predicted counts per class; labelling pace per working session. "
        "OUT gets one PNG and one CSV per figure and index.html.",
        epilog="example:\n  loupe report ~/photos/birds --out birds-report/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("folder", type=Path, metavar="FOLDER", help="image folder of the project")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--window",
        type=positive_int,
        default=DEFAULT_WINDOW,
        metavar="N",
        help="labels in the moving-window accuracy (default: %(default)s)",
    )
    p.add_argument(
        "--gap-minutes",
        type=float,
        default=DEFAULT_GAP / 60,
        metavar="MIN",
        help="a pause longer than this starts a new working session (default: %(default)g)",
    )
    p.add_argument(
        "--no-predictions",
        action="store_true",
        help="skip the predicted counts (reads no features and builds no model)",
    )
    p.add_argument(
        "--project-dir",
        type=Path,
        metavar="DIR",
        help="the project files live in DIR instead of FOLDER/.loupe (read-only folders)",
    )
    if not any("--json" in a.option_strings for a in p._actions):
        p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    return p


def _project_dir(args: argparse.Namespace) -> Path:
    folder = Path(args.folder).expanduser()
    if not folder.is_dir():
        raise ReportError(
            f"not a folder: {folder}" if folder.exists() else f"folder does not exist: {folder}"
        )
    directory = (
        Path(args.project_dir).expanduser() if args.project_dir else folder / PROJECT_DIRNAME
    )
    if not (directory / "labels.sqlite").is_file():
        raise ReportError(
            f"no Loupe project in {folder.resolve()}: open it in the window and label images first"
        )
    return directory.resolve()


def ensure_qt_application():
    """The QApplication the charts need, offscreen when there is no display."""
    no_display = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if no_display:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(["loupe-report"])


def predicted_counts_of(
    folder: Path, project_dir: Path, note: Callable[[str], None] = lambda m: None
) -> tuple[dict[str, int] | None, str]:
    """Top predictions over the unlabelled images with features, or None and why not."""
    from gui_app.core.backbones import resolve_backbone
    from gui_app.core.insight import predicted_counts
    from gui_app.core.project import Project
    from gui_app.core.session import LabelingSession
    from gui_app.core.store import FeatureStore
    from gui_app.core.training import iter_predictions

    project = Project(folder, project_dir)
    if not project.features_path.exists():
        return None, "no features yet: run 'loupe extract' to add the predicted counts"
    note("scoring the unlabelled images for the predicted counts ...")
    session = LabelingSession(project)
    try:
        spec = resolve_backbone(session.settings.backbone, session.settings.weights)
        with FeatureStore(project.features_path, spec.id, readonly=True) as store:
            learner = session.model_from_store(store)
            labelled = session.labels_by_path()
            totals = dict.fromkeys(learner.classes, 0)
            for paths, probs in iter_predictions(store, learner):
                keep = [i for i, p in enumerate(paths) if p not in labelled]
                for name, n in predicted_counts(probs[keep], learner.classes).items():
                    totals[name] += n
        return totals, f"{sum(totals.values())} unlabelled images predicted"
    except LoupeError as exc:
        return None, f"predicted counts unavailable: {exc.reason}"
    finally:
        session.labels.close()


def run_report(args: argparse.Namespace, out=None) -> int:
    """Write the report; ``out`` is the CLI's output helper (notes and result), if any."""
    from gui_app.core.insight import compute_insight
    from gui_app.core.labels import LabelStore

    note: Callable[[str], None] = out.note if out is not None else _stderr
    project_dir = _project_dir(args)
    target = Path(args.out).expanduser()
    if target.exists() and not target.is_dir():
        raise ReportError(f"--out must be a folder, but {target} is a file")
    with LabelStore(project_dir / "labels.sqlite") as labels:
        events, classes, counts = labels.journal(), labels.classes(), labels.counts()
    predicted, prediction_note = None, "predicted counts skipped (--no-predictions)"
    if not args.no_predictions:
        predicted, prediction_note = predicted_counts_of(Path(args.folder), project_dir, note)
    _tracker, view = compute_insight(
        events, classes, counts, predicted, window=args.window, gap=args.gap_minutes * 60
    )
    ensure_qt_application()
    from gui_app.widgets.insight_export import export_insight

    try:
        files = export_insight(view, target)
        index = write_html(view, target, Path(args.folder).expanduser().resolve(), prediction_note)
    except OSError as exc:
        raise ReportError(f"cannot write the report to {target}: {exc.strerror or exc}") from exc
    summary = {
        "out": str(target),
        "index": str(index),
        "files": [str(f) for f in [*files, index]],
        "scored": len(view.scored.x),
        "accuracy": view.overall.accuracy,
        "audits": view.audits.accuracy,
        "classes": list(view.classes),
        "labels_per_hour": view.labels_per_hour,
        "predictions": prediction_note,
    }
    text = f"report: {len(files) + 1} files written to {target} (open {index.name})"
    if out is not None:
        out.result(text, summary)
    else:
        print(json.dumps(summary, ensure_ascii=False) if args.json else text)
    return 0


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_html(view, folder: Path, images: Path, prediction_note: str) -> Path:
    """``folder/index.html``: headline figures, the figures, the tables and the CSV files."""
    from gui_app.widgets.insight_charts import pace_summary, percent, series_summary
    from gui_app.widgets.insight_export import FIGURES, TABLES

    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Loupe report: {e(images.name)}</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto;padding:1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;"
        "text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}"
        "</style></head><body>",
        f"<h1>Loupe report: {e(images.name)}</h1>",
        f"<p>{e(str(images))} · written {e(time.strftime('%Y-%m-%d %H:%M'))} · journal "
        f"up to row {view.journal_seq}</p><ul>",
        f"<li>Accuracy of the suggestions (predict-then-learn): "
        f"{e(series_summary(view.overall, view.window_size))}</li>",
        f"<li>Audits: {e(series_summary(view.audits, view.window_size))}</li>",
        f"<li>Pace: {e(pace_summary(view.sessions))}</li>",
        f"<li>{e(prediction_note)}</li></ul>",
    ]
    for name, caption in FIGURES.items():
        parts.append(f"<h2>{e(caption)}</h2><img src='{name}.png' alt='{e(caption)}'>")
    parts.append(
        "<h2>Classes</h2><table><tr><th>class</th><th>labelled</th>"
        "<th>predicted (unlabelled)</th><th>scored</th><th>accuracy</th></tr>"
    )
    for i, (name, series) in enumerate(zip(view.classes, view.per_class, strict=True)):
        predicted = "–" if view.predicted is None else str(int(view.predicted[i]))
        parts.append(
            f"<tr><td>{e(name)}</td><td>{int(view.labelled[i])}</td><td>{predicted}</td>"
            f"<td>{series.total}</td><td>{e(percent(series.accuracy))}</td></tr>"
        )
    parts.append(
        "</table><h2>Working sessions</h2><table><tr><th>start</th><th>minutes</th>"
        "<th>labels</th><th>bulk</th><th>labels/h</th><th>s/label</th></tr>"
    )
    for s in view.sessions:
        rate = "–" if s.labels_per_hour is None else f"{s.labels_per_hour:.0f}"
        per = "–" if s.seconds_per_label is None else f"{s.seconds_per_label:.1f}"
        start = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.start))
        parts.append(
            f"<tr><td>{start}</td><td>{s.duration / 60:.1f}</td><td>{s.labels}</td>"
            f"<td>{s.bulk}</td><td>{rate}</td><td>{per}</td></tr>"
        )
    parts.append("</table><h2>Data</h2><ul>")
    parts += [f"<li><a href='{n}.csv'>{n}.csv</a>: {e(text)}</li>" for n, text in TABLES.items()]
    parts.append("</ul></body></html>")
    index = folder / "index.html"
    tmp = folder / f".index.html.{os.getpid()}.tmp"
    try:
        tmp.write_text("\n".join(parts), encoding="utf-8")
        os.replace(tmp, index)
    finally:
        tmp.unlink(missing_ok=True)
    return index
