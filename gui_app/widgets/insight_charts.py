"""The Insight charts (pyqtgraph), shared by the panel and ``loupe report``: the accuracy
curves and the pace; :mod:`gui_app.widgets.insight_counts` has the confusion matrix and bars.

Each chart only draws the :class:`~gui_app.qt.viewstate.InsightView` it is given; the items
that hold the drawn values are attributes, so tests read the plotted data back from them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

from gui_app.qt.viewstate import AccuracySeries, InsightView, PaceSession

_TICK_NAME_LIMIT = 24  # longest class name shown on an axis
BAND_POINTS = 1500  # points of a Wilson band drawn at most (lines decimate to the pixels)


@dataclass(frozen=True)
class ChartTheme:
    """Colours of the charts: the window palette's on screen, light ones in files."""

    background: str
    foreground: str
    overall: str = "#0066ff"
    audit: str = "#dd6633"
    heat: str = "#0066ff"


LIGHT = ChartTheme("#ffffff", "#202020")


def palette_theme(widget: QWidget) -> ChartTheme:
    """Colours that follow ``widget``'s palette (dark or light desktop themes)."""
    palette = widget.palette()
    return ChartTheme(
        palette.color(QPalette.ColorRole.Base).name(),
        palette.color(QPalette.ColorRole.Text).name(),
    )


def percent(value: float | None) -> str:
    """``'84.2 %'``; ``'–'`` for None or NaN."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{100 * value:.1f} %"


def short_name(name: str, limit: int = _TICK_NAME_LIMIT) -> str:
    """A class name cut to ``limit`` characters with an ellipsis."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def local_time(seconds: float) -> str:
    """``'2026-11-26 10:42'`` in local time."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def series_summary(series: AccuracySeries, window_size: int, interval: bool = True) -> str:
    """``'84.2 % of 412 (95 %: 80.1–87.6 %), last 50: 90.0 %'`` or ``'no scored labels'``."""
    if not series.total:
        return AccuracyChart.tr("no scored labels yet")
    values = dict(
        pct=percent(series.accuracy),
        total=series.total,
        low=percent(float(series.lower[-1])),
        high=percent(float(series.upper[-1])),
        window=min(window_size, series.total),
        last=percent(float(series.window[-1])),
    )
    if interval:
        text = AccuracyChart.tr("{pct} of {total} (95 %: {low}–{high}), last {window}: {last}")
    else:
        text = AccuracyChart.tr("{pct} of {total}, last {window}: {last}")
    return text.format(**values)


class Chart(pg.PlotWidget):
    """A plot with the theme's colours, no mouse panning and no context menu."""

    def __init__(self, theme: ChartTheme, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=theme.background)
        self.theme = theme
        self.plot_item = self.getPlotItem()
        self.plot_item.setMenuEnabled(False)
        self.plot_item.hideButtons()
        self.plot_item.setMouseEnabled(False, False)
        for name in ("left", "bottom"):
            axis = self.plot_item.getAxis(name)
            axis.setPen(theme.foreground)
            axis.setTextPen(theme.foreground)
            axis.setStyle(maxTickLevel=0)  # major ticks (and grid lines) only

    def set_title(self, text: str) -> None:
        self.plot_item.setTitle(text, color=self.theme.foreground, size="10pt")

    def _accuracy_axes(self, left: str) -> None:
        """Labels scored along x, an accuracy from 0 to 1 up y, a grid and a legend."""
        plot, colour = self.plot_item, self.theme.foreground
        # A literal context: self.tr() in a base class would look under the subclass's name.
        scored = QCoreApplication.translate("Chart", "labels scored (predict-then-learn)")
        plot.setLabel("bottom", scored, color=colour)
        plot.setLabel("left", left, color=colour)
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.setYRange(0.0, 1.0, padding=0.02)
        self.legend = plot.addLegend(offset=(-10, -10), labelTextColor=colour)

    def _names_axis(self, side: str, names: list[str], offset: float = 0.0) -> None:
        ticks = [(i + offset, name) for i, name in enumerate(names)]
        self.plot_item.getAxis(side).setTicks([ticks, []])


def band_polygon(
    x: np.ndarray, lower: np.ndarray, upper: np.ndarray, limit: int = BAND_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """The closed outline of the band between ``lower`` and ``upper`` (at most ``2 * limit``
    vertices: a long band is drawn from evenly spaced points, the last one kept)."""
    if len(x) > limit:
        keep = np.arange(limit) * (len(x) - 1) // (limit - 1)  # increasing, ends included
        x, lower, upper = x[keep], lower[keep], upper[keep]
    return np.r_[x, x[::-1]].astype(float), np.r_[lower, upper[::-1]]


class AccuracyChart(Chart):
    """Cumulative accuracy with its Wilson band, the moving window, and audits apart."""

    def __init__(self, theme: ChartTheme = LIGHT, parent: QWidget | None = None) -> None:
        super().__init__(theme, parent)
        plot = self.plot_item
        self._accuracy_axes(self.tr("accuracy"))
        plot.enableAutoRange(axis="y", enable=False)
        plot.enableAutoRange(axis="x", enable=True)  # applied at paint time, not per update
        # The band is one filled polygon (FillBetweenItem rebuilds paths far too slowly).
        self.band_item = plot.plot(name=self.tr("95 % interval"), fillLevel="enclosed")
        self.cumulative_item = plot.plot(name=self.tr("cumulative"))
        self.window_item = plot.plot(name=self.tr("moving window"))
        self.audit_item = plot.plot(name=self.tr("audits (cumulative)"))
        for item in self.curves():
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
        self._color: str | None = None
        self._window: int | None = None

    def curves(self) -> list[pg.PlotDataItem]:
        """The line items (x ascending), not the band."""
        return [self.cumulative_item, self.window_item, self.audit_item]

    def _set_colour(self, color: str) -> None:
        if color == self._color:
            return
        self._color = color
        band, edge = QColor(color), QColor(color)
        band.setAlpha(45)
        edge.setAlpha(110)
        self.band_item.setPen(pg.mkPen(edge, width=1))
        self.band_item.setBrush(band)
        self.cumulative_item.setPen(pg.mkPen(color, width=2))
        self.window_item.setPen(pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine))
        self.audit_item.setPen(pg.mkPen(self.theme.audit, width=2, style=Qt.PenStyle.DotLine))

    def show_series(
        self, series: AccuracySeries, audits: AccuracySeries | None, color: str, window: int
    ) -> None:
        """Draw ``series`` (band, cumulative, window) in ``color``, and ``audits`` if given."""
        self._set_colour(color)
        self.band_item.setData(*band_polygon(series.x, series.lower, series.upper))
        self.cumulative_item.setData(series.x, series.cumulative)
        self.window_item.setData(series.x, series.window)
        if window != self._window and (label := self.legend.getLabel(self.window_item)):
            label.setText(self.tr("last {n}").format(n=window), color=self.theme.foreground)
            self._window = window
        shown = audits is not None and audits.total > 0
        self.audit_item.setVisible(shown)
        self.audit_item.setData(audits.x, audits.cumulative) if shown else self.audit_item.clear()
        name = self.tr("All classes") if series.name == "overall" else series.name
        summary = series_summary(series, window, interval=False)
        title = self.tr("{name}: {summary}").format(name=name, summary=summary)
        if shown:
            n = audits.total
            title += " · " + self.tr("audits {pct} of {n}", "", n).format(
                pct=percent(audits.accuracy), n=n
            )
        self.set_title(title)


class ClassCurvesChart(Chart):
    """The cumulative accuracy of every class, one curve each in its colour."""

    def __init__(self, theme: ChartTheme = LIGHT, parent: QWidget | None = None) -> None:
        super().__init__(theme, parent)
        self._accuracy_axes(self.tr("accuracy of the class's labels"))
        self.items: dict[str, pg.PlotDataItem] = {}

    def show_view(self, view: InsightView) -> None:
        for item in self.items.values():
            self.plot_item.removeItem(item)
        self.legend.clear()
        self.items = {}
        for series, color in zip(view.per_class, view.colors, strict=True):
            if series.total:
                item = self.plot_item.plot(
                    series.x,
                    series.cumulative,
                    pen=pg.mkPen(color, width=2),
                    name=f"{short_name(series.name)} ({percent(series.accuracy)})",
                )
                self.items[series.name] = item
        self.plot_item.setXRange(0, max(1, len(view.scored.x)), padding=0.02)
        self.set_title(self.tr("Cumulative accuracy per class (labels given, not audits)"))


class PaceChart(Chart):
    """Labels per hour in each working session."""

    def __init__(self, theme: ChartTheme = LIGHT, parent: QWidget | None = None) -> None:
        super().__init__(theme, parent)
        plot = self.plot_item
        plot.setLabel("left", self.tr("labels per hour"), color=theme.foreground)
        plot.setLabel("bottom", self.tr("working session"), color=theme.foreground)
        plot.showGrid(x=False, y=True, alpha=0.25)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=theme.overall)
        plot.addItem(self.bars)

    def show_sessions(self, sessions: tuple[PaceSession, ...]) -> None:
        rates = np.array([s.labels_per_hour or 0.0 for s in sessions])
        xs = np.arange(1, len(sessions) + 1, dtype=float)
        self.bars.setOpts(x=xs, height=rates, width=0.7)
        if len(sessions) <= 8:
            ticks = [(i + 1, f"{i + 1}\n{local_time(s.start)}") for i, s in enumerate(sessions)]
            self.plot_item.getAxis("bottom").setTicks([ticks, []])
        else:
            self.plot_item.getAxis("bottom").setTicks(None)
        self.plot_item.setXRange(0.4, max(1, len(sessions)) + 0.6, padding=0)
        self.plot_item.setYRange(0, max(1.0, float(rates.max(initial=0))) * 1.1, padding=0)
        self.set_title(pace_summary(sessions))


def pace_summary(sessions: tuple[PaceSession, ...]) -> str:
    """``'412 labels in 3 sessions · 310 /h · this session 405 /h, 8.7 s per label'``."""
    if not sessions:
        return PaceChart.tr("no labels yet")
    labels = sum(s.labels for s in sessions)
    hours = sum(s.duration for s in sessions) / 3600
    n = len(sessions)
    text = (
        PaceChart.tr("{labels} labels in {n} session", "", n)
        if n == 1
        else PaceChart.tr("{labels} labels in {n} sessions", "", n)
    ).format(labels=labels, n=n)
    if hours > 0 and labels:
        text += " · " + PaceChart.tr("{rate} /h").format(rate=f"{labels / hours:.0f}")
    last = sessions[-1]
    if last.labels_per_hour is not None:
        rate = f"{last.labels_per_hour:.0f}"
        text += " · " + PaceChart.tr("last session {rate} /h").format(rate=rate)
    if last.seconds_per_label is not None:
        seconds = f"{last.seconds_per_label:.1f}"
        text += ", " + PaceChart.tr("{seconds} s per label").format(seconds=seconds)
    return text
