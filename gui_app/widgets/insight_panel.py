"""The Insight panel (F13): how the model learns, as dock content. A view only.

It draws the :class:`~gui_app.qt.viewstate.InsightView` it is given with
:meth:`InsightPanel.set_insight` and reports what the user asks for:

- ``cell_clicked(label, suggested)``: a click on a confusion-matrix cell, with the two
  class names (the owner filters the grid to ``view.cell_paths(label, suggested)``);
- ``exported(paths)``: the files an "Export PNG" / "Export CSV" click wrote.

Only the visible tab is drawn on an update; the others are drawn when shown.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui_app.qt.viewstate import InsightView
from gui_app.widgets.insight_charts import (
    AccuracyChart,
    PaceChart,
    pace_summary,
    palette_theme,
    percent,
    series_summary,
)
from gui_app.widgets.insight_counts import ConfusionChart, CountsChart
from gui_app.widgets.insight_export import write_figures, write_tables

ALL_CLASSES = QT_TRANSLATE_NOOP("InsightPanel", "All classes")
EMPTY_TEXT = QT_TRANSLATE_NOOP(
    "InsightPanel",
    "Label images to see how the model learns: its accuracy appears once it predicts.",
)


def _text(text: str) -> str:
    return QCoreApplication.translate("InsightPanel", text)


class InsightPanel(QWidget):
    """Accuracy curves, confusion matrix, class counts and pace, with PNG/CSV export."""

    cell_clicked = Signal(str, str)
    exported = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("insightPanel")
        self._view: InsightView | None = None
        self._drawn: set[int] = set()
        self._export_folder = str(Path.home())
        theme = palette_theme(self)

        self.summary = QLabel(_text(EMPTY_TEXT))
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)

        self.class_choice = QComboBox()
        self.class_choice.setAccessibleName(self.tr("Accuracy of"))
        self.class_choice.addItem(_text(ALL_CLASSES))
        self.class_choice.currentIndexChanged.connect(self._draw_accuracy)
        self.accuracy = AccuracyChart(theme)
        accuracy_tab = QWidget()
        column = QVBoxLayout(accuracy_tab)
        column.setContentsMargins(0, 4, 0, 0)
        choice_row = QHBoxLayout()
        choice_row.addWidget(QLabel(self.tr("Accuracy of")))
        choice_row.addWidget(self.class_choice, 1)
        column.addLayout(choice_row)
        column.addWidget(self.accuracy, 1)

        self.confusion = ConfusionChart(theme)
        self.confusion.cell_clicked.connect(self._cell_clicked)
        self.counts = CountsChart(theme)
        self.pace = PaceChart(theme)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(accuracy_tab, self.tr("Accuracy"))
        self.tabs.addTab(self.confusion, self.tr("Confusion"))
        self.tabs.addTab(self.counts, self.tr("Classes"))
        self.tabs.addTab(self.pace, self.tr("Pace"))
        self.tabs.currentChanged.connect(self._draw_tab)

        self.export_png_button = QPushButton(self.tr("Export PNG…"))
        self.export_png_button.setToolTip(self.tr("Save every figure as a PNG image in a folder"))
        self.export_png_button.clicked.connect(lambda: self._ask_and_export("png"))
        self.export_csv_button = QPushButton(self.tr("Export CSV…"))
        self.export_csv_button.setToolTip(
            self.tr("Save the data of every figure as CSV files in a folder")
        )
        self.export_csv_button.clicked.connect(lambda: self._ask_and_export("csv"))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_png_button)
        buttons.addWidget(self.export_csv_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(buttons)
        self._set_enabled(False)

    # -- data in ----------------------------------------------------------------------------
    @property
    def view(self) -> InsightView | None:
        """The figures shown (None before any)."""
        return self._view

    def set_insight(self, view: InsightView | None) -> None:
        """Show ``view`` (None: the empty state). Draws the visible tab only, and nothing while
        the panel is hidden (it draws when shown again)."""
        if view is self._view:
            return
        self._view = view
        self._drawn.clear()
        self._set_enabled(view is not None)
        if view is None:
            self.summary.setText(_text(EMPTY_TEXT))
        elif self.isVisible():
            self._refresh()

    def _refresh(self) -> None:
        view = self._view
        if view is not None:
            self._sync_class_choice(view)
            self.summary.setText(self._summary_text(view))
            self._draw_tab(self.tabs.currentIndex())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._view is not None and not self._drawn:
            self._refresh()

    def set_export_folder(self, folder: str | Path) -> None:
        """Where the export dialogs start."""
        self._export_folder = str(folder)

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (self.tabs, self.export_png_button, self.export_csv_button):
            widget.setEnabled(enabled)

    def _sync_class_choice(self, view: InsightView) -> None:
        wanted = [_text(ALL_CLASSES), *view.classes]
        current = [self.class_choice.itemText(i) for i in range(self.class_choice.count())]
        if wanted == current:
            return
        chosen = self.class_choice.currentText()
        kept = (
            wanted.index(chosen, 1)
            if self.class_choice.currentIndex() > 0 and chosen in wanted[1:]
            else 0
        )
        self.class_choice.blockSignals(True)
        self.class_choice.clear()
        self.class_choice.addItems(wanted)
        self.class_choice.setCurrentIndex(kept)
        self.class_choice.blockSignals(False)

    def _summary_text(self, view: InsightView) -> str:
        if not view.overall.total and not view.audits.total:
            text = self.tr("No label scored yet: the model needs two classes before it suggests.")
        else:
            summary = series_summary(view.overall, view.window_size)
            text = self.tr("Accuracy {summary}").format(summary=summary)
            if view.audits.total:
                n = view.audits.total
                text += " · " + self.tr("audits {pct} of {n}", "", n).format(
                    pct=percent(view.audits.accuracy), n=n
                )
        return f"{text}\n{pace_summary(view.sessions)}"

    # -- drawing ----------------------------------------------------------------------------
    def _draw_tab(self, index: int) -> None:
        view = self._view
        if view is None or index in self._drawn:
            return
        self._drawn.add(index)
        widget = self.tabs.widget(index)
        if widget is self.confusion:
            self.confusion.show_matrix(view.classes, view.confusion)
        elif widget is self.counts:
            self.counts.show_counts(view)
        elif widget is self.pace:
            self.pace.show_sessions(view.sessions)
        else:
            self._draw_accuracy()

    def _draw_accuracy(self) -> None:
        view = self._view
        if view is None:
            return
        name = self.class_choice.currentText()
        series = view.class_series(name) if self.class_choice.currentIndex() > 0 else None
        if series is None:
            color = self.accuracy.theme.overall
            self.accuracy.show_series(view.overall, view.audits, color, view.window_size)
        else:
            color = view.colors[view.classes.index(name)]
            self.accuracy.show_series(series, None, color, view.window_size)

    def _cell_clicked(self, row: int, col: int) -> None:
        view = self._view
        if view is not None and row < len(view.classes) and col < len(view.classes):
            self.cell_clicked.emit(view.classes[row], view.classes[col])

    # -- export -----------------------------------------------------------------------------
    def export_png(self, folder: str | Path) -> list[Path]:
        """Write every figure as ``folder/<figure>.png`` (the same files as ``loupe report``)."""
        return self._export(write_figures, folder)

    def export_csv(self, folder: str | Path) -> list[Path]:
        """Write the data of every figure as ``folder/<figure>.csv``."""
        return self._export(write_tables, folder)

    def _export(self, writer, folder: str | Path) -> list[Path]:
        if self._view is None:
            return []
        written = writer(self._view, Path(folder))
        self.exported.emit([str(p) for p in written])
        return written

    def _ask_and_export(self, kind: str) -> None:
        if kind == "png":
            title = self.tr("Export the figures (PNG) to")
        else:
            title = self.tr("Export the data (CSV) to")
        folder = QFileDialog.getExistingDirectory(self, title, self._export_folder)
        if not folder:
            return
        self._export_folder = folder
        try:
            (self.export_png if kind == "png" else self.export_csv)(folder)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            QMessageBox.warning(
                self,
                self.tr("Export failed"),
                self.tr("Cannot export to {folder}: {reason}").format(folder=folder, reason=reason),
            )
