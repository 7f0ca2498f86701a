"""The Insight charts drawn from counts: the confusion matrix and the per-class bars."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QWidget

from gui_app.qt.i18n import plural
from gui_app.qt.viewstate import InsightView
from gui_app.widgets.insight_charts import LIGHT, Chart, ChartTheme, short_name


class TextLayer(pg.GraphicsObject):
    """Short texts at data points, drawn unscaled in one paint (hundreds of TextItems are slow).

    ``items`` holds ``(x, y, text, colour)``; ``align`` places each text against its point.
    """

    def __init__(self, align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignCenter) -> None:
        super().__init__()
        self.items: list[tuple[float, float, str, str]] = []
        self.align = align
        self._rect = QRectF()

    def set_items(self, items: list[tuple[float, float, str, str]], rect: QRectF) -> None:
        """Show ``items``; ``rect`` (data coordinates) covers every point."""
        self.prepareGeometryChange()
        self.items, self._rect = items, QRectF(rect)
        self.update()

    def texts(self) -> dict[tuple[float, float], str]:
        """What is drawn where (for tests and tooltips)."""
        return {(x, y): text for x, y, text, _colour in self.items}

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, *args) -> None:
        transform = painter.transform()
        painter.save()
        painter.resetTransform()
        metrics = painter.fontMetrics()
        height = metrics.height()
        for x, y, text, colour in self.items:
            centre = transform.map(QPointF(x, y))
            width = metrics.horizontalAdvance(text) + 4
            if self.align & Qt.AlignmentFlag.AlignLeft:
                box = QRectF(centre.x() + 3, centre.y() - height / 2, width, height)
            else:
                box = QRectF(centre.x() - width / 2, centre.y() - height / 2, width, height)
            painter.setPen(QColor(colour))
            painter.drawText(box, int(self.align | Qt.AlignmentFlag.AlignVCenter), text)
        painter.restore()


class _CellImage(pg.ImageItem):
    """The matrix image; a left click reports the (row, column) cell under the pointer."""

    def __init__(self, chart: ConfusionChart) -> None:
        super().__init__(axisOrder="row-major")
        self._chart = chart

    def mouseClickEvent(self, ev) -> None:
        cell = self._chart.cell_at(ev.pos())
        if ev.button() == Qt.MouseButton.LeftButton and cell is not None:
            ev.accept()
            self._chart.cell_clicked.emit(*cell)

    def hoverEvent(self, ev) -> None:
        cell = None if ev.isExit() else self._chart.cell_at(ev.pos())
        self.setToolTip(self._chart.cell_text(*cell) if cell is not None else "")


class ConfusionChart(Chart):
    """Labels given (rows) against the suggestion shown before learning (columns).

    Colour is the share of the row (how a class's labels were suggested); the number is the
    count. ``cell_clicked(row, column)`` reports a click on a cell.
    """

    cell_clicked = Signal(int, int)

    def __init__(self, theme: ChartTheme = LIGHT, parent: QWidget | None = None) -> None:
        super().__init__(theme, parent)
        plot = self.plot_item
        plot.setLabel("left", self.tr("label given"), color=theme.foreground)
        plot.setLabel("bottom", self.tr("suggested before learning"), color=theme.foreground)
        plot.invertY(True)
        self.image = _CellImage(self)
        cmap = pg.ColorMap([0.0, 1.0], [QColor(theme.background), QColor(theme.heat)])
        self.image.setLookupTable(cmap.getLookupTable(0.0, 1.0, 256))
        plot.addItem(self.image)
        self.numbers = TextLayer()
        plot.addItem(self.numbers)
        self.classes: tuple[str, ...] = ()
        self.counts = np.zeros((0, 0), np.int64)

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        row, col = math.floor(pos.y()), math.floor(pos.x())
        n = len(self.classes)
        return (row, col) if 0 <= row < n and 0 <= col < n else None

    def cell_text(self, row: int, col: int) -> str:
        n = int(self.counts[row, col])
        return plural(
            n,
            self.tr("label {label}, suggested {suggested}: {n} image (click to show them)", "", n),
            self.tr("label {label}, suggested {suggested}: {n} images (click to show them)", "", n),
            grouped=False,
        ).format(label=self.classes[row], suggested=self.classes[col])

    def show_matrix(self, classes: tuple[str, ...], counts: np.ndarray) -> None:
        n = len(classes)
        side = max(n, 1)
        rows = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
        self.image.setImage(shares if n else np.zeros((1, 1)), levels=(0.0, 1.0))
        self.image.setRect(QRectF(0, 0, side, side))
        if classes != self.classes:
            self._names_axis(
                "left", [f"{i + 1} {short_name(c)}" for i, c in enumerate(classes)], 0.5
            )
            below = (
                [short_name(c, 12) for c in classes] if n <= 5 else [str(i + 1) for i in range(n)]
            )
            self._names_axis("bottom", below, 0.5)
            self.plot_item.setXRange(0, side, padding=0)
            self.plot_item.setYRange(0, side, padding=0)
        self.classes, self.counts = classes, counts
        light, dark = "#ffffff", self.theme.foreground
        self.numbers.set_items(
            [
                (
                    col + 0.5,
                    row + 0.5,
                    str(int(counts[row, col])),
                    light if shares[row, col] > 0.55 else dark,
                )
                for row, col in zip(*np.nonzero(counts), strict=True)
            ],
            QRectF(0, 0, side, side),
        )
        total = int(counts.sum())
        self.set_title(
            self.tr(
                "Confusion of {n} scored labels (click a cell for its images)", "", total
            ).format(n=total)
        )


class CountsChart(Chart):
    """Per class: images labelled (solid) and unlabelled images it is the top prediction of."""

    def __init__(self, theme: ChartTheme = LIGHT, parent: QWidget | None = None) -> None:
        super().__init__(theme, parent)
        plot = self.plot_item
        plot.invertY(True)
        plot.setLabel("bottom", self.tr("images"), color=theme.foreground)
        plot.showGrid(x=True, y=False, alpha=0.25)
        self.labelled_bars = pg.BarGraphItem(x0=[], y=[], height=0.38, width=[])
        self.predicted_bars = pg.BarGraphItem(x0=[], y=[], height=0.38, width=[])
        plot.addItem(self.labelled_bars)
        plot.addItem(self.predicted_bars)
        self.numbers = TextLayer(Qt.AlignmentFlag.AlignLeft)
        plot.addItem(self.numbers)

    def show_counts(self, view: InsightView) -> None:
        n = len(view.classes)
        ys = np.arange(n, dtype=float)
        predicted = view.predicted if view.predicted is not None else np.zeros(n, np.int64)
        pale = []
        for c in view.colors:
            colour = QColor(c)
            colour.setAlpha(90)
            pale.append(colour)
        colors = list(view.colors)
        self.labelled_bars.setOpts(
            x0=np.zeros(n), y=ys - 0.2, width=view.labelled, brushes=colors, pens=colors
        )
        self.predicted_bars.setOpts(
            x0=np.zeros(n), y=ys + 0.2, width=predicted, brushes=pale, pens=colors
        )
        self._names_axis("left", [short_name(c) for c in view.classes])
        fg = self.theme.foreground
        items = [
            (float(v), y - 0.2, str(int(v)), fg) for v, y in zip(view.labelled, ys, strict=True)
        ]
        if view.predicted is not None:
            items += [
                (float(v), y + 0.2, str(int(v)), fg) for v, y in zip(predicted, ys, strict=True)
            ]
        top = max([1, *view.labelled.tolist(), *predicted.tolist()])
        self.numbers.set_items(items, QRectF(0, -0.6, top * 1.15, max(n, 1) + 0.2))
        self.plot_item.setXRange(0, top * 1.15, padding=0)
        self.plot_item.setYRange(-0.6, max(n, 1) - 0.4, padding=0)
        labelled = int(view.labelled.sum())
        if view.predicted is None:
            title = self.tr(
                "Labelled ({labelled}, solid) and top prediction of the unlabelled images "
                "(no predictions yet, pale)"
            )
        else:
            title = self.tr(
                "Labelled ({labelled}, solid) and top prediction of the unlabelled images "
                "({predicted} predicted, pale)"
            )
        self.set_title(title.format(labelled=labelled, predicted=int(predicted.sum())))
