"""The Insight panel draws exactly the figures it is given; clicks and exports."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog

from gui_app.core.export import safe_csv_cell
from gui_app.core.insight import InsightTracker, compute_insight
from gui_app.widgets.insight_charts import band_polygon
from gui_app.widgets.insight_export import FIGURE_SIZE, FIGURES, TABLES, csv_cell
from gui_app.widgets.insight_panel import EMPTY_TEXT, InsightPanel
from tests.core.insight_scenario import (
    CONFUSION,
    LABELLED,
    OVERALL_CUMULATIVE,
    OVERALL_X,
    WINDOW,
    scenario_store,
)

PREDICTED = {"cat": 10, "dog": 4, "bird": 7}


@pytest.fixture
def scenario(tmp_path, clock):
    """The known labelling sequence, its tracker and a shown panel drawing it."""
    store = scenario_store(tmp_path, clock)
    tracker = InsightTracker(WINDOW)
    tracker.update(store.journal())
    yield store, tracker
    store.close()


@pytest.fixture
def panel(qtbot) -> InsightPanel:
    widget = InsightPanel()
    qtbot.addWidget(widget)
    widget.resize(520, 640)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def show_tab(panel: InsightPanel, title: str) -> None:
    panel.tabs.setCurrentIndex(
        [panel.tabs.tabText(i) for i in range(panel.tabs.count())].index(title)
    )


def data(item) -> tuple[np.ndarray, np.ndarray]:
    x, y = item.getOriginalDataset()
    return (np.array([]), np.array([])) if x is None else (x, y)


def test_accuracy_curves_plot_the_journal_values(scenario, panel) -> None:
    store, tracker = scenario
    view = tracker.view(store.classes(), store.counts(), PREDICTED)
    panel.set_insight(view)
    chart = panel.accuracy
    x, y = data(chart.cumulative_item)
    np.testing.assert_array_equal(x, OVERALL_X)
    np.testing.assert_allclose(y, OVERALL_CUMULATIVE)
    np.testing.assert_array_equal(data(chart.window_item)[1], view.overall.window)
    band_x, band_y = data(chart.band_item)
    np.testing.assert_array_equal(band_x, np.r_[OVERALL_X, OVERALL_X[::-1]])
    np.testing.assert_allclose(band_y, np.r_[view.overall.lower, view.overall.upper[::-1]])
    np.testing.assert_array_equal(data(chart.audit_item)[0], view.audits.x)
    np.testing.assert_allclose(data(chart.audit_item)[1], view.audits.cumulative)
    assert "66.7 % of 6" in panel.summary.text()
    panel.class_choice.setCurrentText("dog")
    dog = view.class_series("dog")
    np.testing.assert_array_equal(data(chart.cumulative_item)[0], dog.x)
    np.testing.assert_allclose(data(chart.cumulative_item)[1], dog.cumulative)
    assert not chart.audit_item.isVisible()


def test_a_long_band_is_drawn_from_evenly_spaced_points() -> None:
    x = np.arange(1, 10_001)
    lower, upper = x / 20_000, 1 - x / 20_000
    bx, by = band_polygon(x, lower, upper, limit=100)
    assert len(bx) == 200 and bx[0] == 1 and bx[99] == 10_000 and bx[100] == 10_000
    np.testing.assert_allclose(by[:100], bx[:100] / 20_000)


def test_undo_moves_the_plotted_curve_back(scenario, panel, clock) -> None:
    store, tracker = scenario
    panel.set_insight(tracker.view(store.classes(), store.counts()))
    clock.now = 1310
    store.undo()
    tracker.update(store.journal(since=tracker.last_seq))
    panel.set_insight(tracker.view(store.classes(), store.counts()))
    x, y = data(panel.accuracy.cumulative_item)
    np.testing.assert_array_equal(x, OVERALL_X[:-1])
    np.testing.assert_allclose(y, OVERALL_CUMULATIVE[:-1])


def test_confusion_matrix_cells_hold_the_counts_and_a_click_names_the_cell(
    scenario, panel, qtbot
) -> None:
    store, tracker = scenario
    view = tracker.view(store.classes(), store.counts())
    panel.set_insight(view)
    show_tab(panel, "Confusion")
    chart = panel.confusion
    counts = np.array(CONFUSION)
    np.testing.assert_allclose(chart.image.image, counts / counts.sum(axis=1, keepdims=True))
    expected = {(c + 0.5, r + 0.5): str(counts[r, c]) for r, c in np.argwhere(counts)}
    assert chart.numbers.texts() == expected
    qtbot.wait(10)
    # Row "bird" (label given), column "cat" (suggested): image h.
    centre = chart.mapFromScene(chart.image.mapToScene(QPointF(0.5, 2.5)))
    with qtbot.waitSignal(panel.cell_clicked, timeout=2000) as clicked:
        qtbot.mouseClick(chart.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert clicked.args == ["bird", "cat"]
    assert view.cell_paths(*clicked.args) == ["h"]


def test_class_bars_show_labelled_and_predicted_counts(scenario, panel) -> None:
    store, tracker = scenario
    panel.set_insight(tracker.view(store.classes(), store.counts()))
    show_tab(panel, "Classes")
    np.testing.assert_array_equal(panel.counts.labelled_bars.opts["width"], LABELLED)
    np.testing.assert_array_equal(panel.counts.predicted_bars.opts["width"], [0, 0, 0])
    assert sorted(panel.counts.numbers.texts().values()) == sorted(map(str, LABELLED))
    panel.set_insight(tracker.view(store.classes(), store.counts(), PREDICTED))
    np.testing.assert_array_equal(panel.counts.predicted_bars.opts["width"], [10, 4, 7])
    assert "10" in panel.counts.numbers.texts().values()


def test_pace_bars_are_the_sessions_labels_per_hour(scenario, panel) -> None:
    store, tracker = scenario
    view = tracker.view(store.classes(), store.counts())
    panel.set_insight(view)
    show_tab(panel, "Pace")
    np.testing.assert_allclose(panel.pace.bars.opts["height"], [360.0, 720.0])
    assert "11 labels in 2 sessions" in panel.summary.text()


def test_export_writes_every_figure_and_table(scenario, panel, tmp_path, qtbot, monkeypatch):
    store, tracker = scenario
    view = tracker.view(store.classes(), store.counts(), PREDICTED)
    panel.set_insight(view)
    out = tmp_path / "export"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    with qtbot.waitSignal(panel.exported) as png:
        panel.export_png_button.click()
    assert sorted(png.args[0]) == sorted(str(out / f"{n}.png") for n in FIGURES)
    for name in FIGURES:
        image = QImage(str(out / f"{name}.png"))
        assert (image.width(), image.height()) == FIGURE_SIZE
    with qtbot.waitSignal(panel.exported) as written:
        panel.export_csv_button.click()
    assert sorted(written.args[0]) == sorted(str(out / f"{n}.csv") for n in TABLES)
    rows = list(csv.reader((out / "confusion.csv").open(encoding="utf-8")))
    assert rows[0][1:] == ["cat", "dog", "bird"]
    assert [[int(v) for v in row[1:]] for row in rows[1:]] == CONFUSION
    classes = list(csv.DictReader((out / "classes.csv").open(encoding="utf-8")))
    assert [int(r["labelled"]) for r in classes] == LABELLED
    assert [int(r["predicted_unlabelled"]) for r in classes] == [10, 4, 7]
    accuracy = list(csv.DictReader((out / "accuracy.csv").open(encoding="utf-8")))
    main = [r for r in accuracy if r["stream"] == "labels"]
    assert [int(r["label_number"]) for r in main] == OVERALL_X
    np.testing.assert_allclose([float(r["cumulative"]) for r in main], OVERALL_CUMULATIVE)
    assert [(r["path"], r["label"], r["suggested"]) for r in accuracy][5] == ("h", "bird", "cat")
    assert not list(out.glob(".*tmp"))


def test_a_failed_export_says_why_and_writes_nothing(scenario, panel, tmp_path, monkeypatch):
    store, tracker = scenario
    panel.set_insight(tracker.view(store.classes(), store.counts()))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    warnings = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(blocker))
    monkeypatch.setattr(
        "gui_app.widgets.insight_panel.QMessageBox.warning",
        lambda parent, title, text: warnings.append(text),
    )
    panel.export_csv_button.click()
    assert len(warnings) == 1 and str(blocker) in warnings[0]


def test_empty_and_unscored_states(scenario, panel) -> None:
    assert panel.summary.text() == EMPTY_TEXT
    assert not panel.export_png_button.isEnabled()
    store, _tracker = scenario
    first_two = [e for e in store.journal() if e.seq <= 4]  # a and b: nothing predicted yet
    _, view = compute_insight(first_two, store.classes()[:2], {"cat": 1, "dog": 1})
    panel.set_insight(view)
    assert panel.export_png_button.isEnabled()
    assert panel.summary.text().startswith("No label scored yet")
    assert len(data(panel.accuracy.cumulative_item)[0]) == 0
    panel.set_insight(None)
    assert panel.summary.text() == EMPTY_TEXT


def test_csv_cells_follow_the_core_rule() -> None:
    for text in ["cat", "=1+1", "+x", "-3", "@a", "'quoted", "\ttab", "plain 'x", ""]:
        assert csv_cell(text) == safe_csv_cell(text)


def test_a_hidden_panel_draws_nothing_until_it_is_shown(scenario, qtbot) -> None:
    store, tracker = scenario
    panel = InsightPanel()
    qtbot.addWidget(panel)
    panel.set_insight(tracker.view(store.classes(), store.counts()))
    assert len(data(panel.accuracy.cumulative_item)[0]) == 0
    panel.show()
    qtbot.waitExposed(panel)
    np.testing.assert_array_equal(data(panel.accuracy.cumulative_item)[0], OVERALL_X)
    assert "66.7 % of 6" in panel.summary.text()
