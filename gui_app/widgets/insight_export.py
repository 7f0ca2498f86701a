"""Insight figures as PNG files and their data as CSV: one code path for the panel and the report.

The figures are drawn by :mod:`gui_app.widgets.insight_charts` at a fixed size in light
colours, whatever the panel looks like, so a report and an export from the window are equal.
Files are written to a temporary name and renamed, so a failed export leaves no torn file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters as pg_exporters
from PySide6.QtCore import QObject

from gui_app.qt.viewstate import AccuracySeries, InsightView
from gui_app.widgets.insight_charts import (
    LIGHT,
    AccuracyChart,
    ClassCurvesChart,
    PaceChart,
)
from gui_app.widgets.insight_counts import ConfusionChart, CountsChart

FIGURE_SIZE = (960, 600)
#: File stem -> what it shows (also the captions of the HTML report).
FIGURES = {
    "accuracy": "Progressive accuracy: cumulative with its 95 % Wilson band, moving window, audits",
    "accuracy_by_class": "Cumulative accuracy of each class's labels",
    "confusion": "Labels given against the suggestion shown before learning",
    "classes": "Images labelled and top predictions among the unlabelled images, per class",
    "pace": "Labels per hour in each working session",
}
TABLES = {
    "accuracy": "every scored label: what was suggested, the curves at that point",
    "accuracy_by_class": "the curve of each class",
    "confusion": "the confusion matrix (rows: label given, columns: suggestion)",
    "classes": "per class: labelled, predicted among unlabelled, accuracy",
    "pace": "working sessions: span, labels, labels per hour, seconds per label",
}
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class InsightExport(QObject):
    """The translation context of export errors (``InsightExport.tr``; never instantiated).

    File names, CSV headers and values and the report captions stay English: they are data.
    """


def csv_cell(text: str) -> str:
    """``text`` made inert for spreadsheets: the rule of ``gui_app.core.export.safe_csv_cell``.

    (Widgets may not import the core; tests check both rules agree.)
    """
    return "'" + text if text[:1] in _FORMULA_PREFIXES or text[:1] == "'" else text


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _number(value: float | None, digits: int = 10) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:.{digits}g}"


def _replace(path: Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` through a temporary file in the same folder, then rename it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def draw_figure(name: str, view: InsightView, size: tuple[int, int] = FIGURE_SIZE) -> pg.PlotWidget:
    """The chart of figure ``name`` (a key of `FIGURES`) drawn with ``view``, off screen."""
    if name == "accuracy":
        chart = AccuracyChart(LIGHT)
        chart.show_series(view.overall, view.audits, LIGHT.overall, view.window_size)
    elif name == "accuracy_by_class":
        chart = ClassCurvesChart(LIGHT)
        chart.show_view(view)
    elif name == "confusion":
        chart = ConfusionChart(LIGHT)
        chart.show_matrix(view.classes, view.confusion)
    elif name == "classes":
        chart = CountsChart(LIGHT)
        chart.show_counts(view)
    elif name == "pace":
        chart = PaceChart(LIGHT)
        chart.show_sessions(view.sessions)
    else:
        raise ValueError(f"unknown figure {name!r}")
    chart.resize(*size)
    chart.plot_item.setGeometry(0, 0, *size)  # the layout of a widget never shown
    return chart


def write_figures(
    view: InsightView, folder: Path, size: tuple[int, int] = FIGURE_SIZE
) -> list[Path]:
    """Render every figure of `FIGURES` to ``folder/<name>.png``; returns the files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FIGURES:
        chart = draw_figure(name, view, size)
        try:
            exporter = pg_exporters.ImageExporter(chart.plot_item)
            exporter.parameters()["width"] = size[0]

            image = exporter.export(toBytes=True)

            def export(tmp: Path, image=image) -> None:
                if not image.save(str(tmp), "PNG"):
                    raise OSError(
                        InsightExport.tr("cannot write the image {path}").format(path=tmp)
                    )

            written.append(_replace(folder / f"{name}.png", export))
        finally:
            chart.close()
            chart.deleteLater()
    return written


def _series_rows(series: AccuracySeries) -> list[list[str]]:
    return [
        [str(int(x)), _number(c), _number(w), _number(lo), _number(hi)]
        for x, c, w, lo, hi in zip(
            series.x, series.cumulative, series.window, series.lower, series.upper, strict=True
        )
    ]


def insight_tables(view: InsightView) -> dict[str, list[list[str]]]:
    """The data of every figure as CSV rows (header first), by file stem."""
    names = [csv_cell(c) for c in view.classes]
    scored = view.scored
    curve = ["cumulative", "window", "wilson_low", "wilson_high"]
    points: dict[int, list[str]] = {}
    for series in (view.overall, view.audits):
        for row in _series_rows(series):
            points[int(row[0])] = row[1:]
    accuracy = [
        [
            "label_number",
            "seq",
            "time_utc",
            "path",
            "label",
            "suggested",
            "correct",
            "stream",
            *curve,
        ]
    ]
    for i in range(len(scored.x)):
        t, p = int(scored.true[i]), int(scored.predicted[i])
        accuracy.append(
            [
                str(int(scored.x[i])),
                str(int(scored.seq[i])),
                _iso(float(scored.time[i])),
                csv_cell(str(scored.paths[i])),
                names[t],
                names[p] if p >= 0 else "(deleted class)",
                str(int(t == p)),
                "audit" if scored.audit[i] else "labels",
                *points.get(int(scored.x[i]), ["", "", "", ""]),
            ]
        )
    by_class = [["class", "label_number", *curve]]
    for name, series in zip(names, view.per_class, strict=True):
        by_class += [[name, *row] for row in _series_rows(series)]
    confusion = [["label \\ suggested", *names]]
    confusion += [
        [n, *map(str, row.tolist())] for n, row in zip(names, view.confusion, strict=True)
    ]
    classes = [
        [
            "class",
            "color",
            "labelled",
            "predicted_unlabelled",
            "scored",
            "accuracy",
            "wilson_low",
            "wilson_high",
        ]
    ]
    for i, (name, series) in enumerate(zip(names, view.per_class, strict=True)):
        predicted = "" if view.predicted is None else str(int(view.predicted[i]))
        bounds = (
            [_number(float(series.lower[-1])), _number(float(series.upper[-1]))]
            if series.total
            else ["", ""]
        )
        classes.append(
            [
                name,
                view.colors[i],
                str(int(view.labelled[i])),
                predicted,
                str(series.total),
                _number(series.accuracy),
                *bounds,
            ]
        )
    pace = [
        [
            "session",
            "start_utc",
            "end_utc",
            "minutes",
            "labels",
            "bulk_labels",
            "labels_per_hour",
            "seconds_per_label",
        ]
    ]
    for i, s in enumerate(view.sessions, start=1):
        pace.append(
            [
                str(i),
                _iso(s.start),
                _iso(s.end),
                _number(s.duration / 60, 4),
                str(s.labels),
                str(s.bulk),
                _number(s.labels_per_hour, 4),
                _number(s.seconds_per_label, 4),
            ]
        )
    return {
        "accuracy": accuracy,
        "accuracy_by_class": by_class,
        "confusion": confusion,
        "classes": classes,
        "pace": pace,
    }


def write_tables(view: InsightView, folder: Path) -> list[Path]:
    """Write ``folder/<name>.csv`` for every table of :func:`insight_tables`; returns the files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in insight_tables(view).items():

        def write(tmp: Path, rows=rows) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows(rows)

        written.append(_replace(folder / f"{name}.csv", write))
    return written


def export_insight(view: InsightView, folder: Path) -> list[Path]:
    """Every figure (PNG) and table (CSV) of ``view`` into ``folder``."""
    return write_figures(view, folder) + write_tables(view, folder)
