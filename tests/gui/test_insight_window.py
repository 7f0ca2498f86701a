"""The Insight panel in the real window: fed from the journal, follows undo, filters the grid."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from gui_app.core.insight import compute_insight
from tests.gui.apphelpers import close_window, open_window

pytestmark = pytest.mark.slow


def cumulative(window) -> np.ndarray:
    _x, y = window.insight_panel.accuracy.cumulative_item.getOriginalDataset()
    return np.array([]) if y is None else np.asarray(y)


def test_panel_shows_the_journal_follows_undo_and_a_cell_filters_the_grid(
    qtbot, tmp_path, class_images, tiny_backbone, errors
):
    controller, window = open_window(qtbot, tmp_path, class_images, tiny_backbone)
    model = controller.model
    sequence = [("cat.0.jpg", "cat"), ("dog.0.jpg", "dog"), ("cat.1.jpg", "cat"),
                ("dog.1.jpg", "dog"), ("cat.2.jpg", "dog"), ("dog.2.jpg", "dog"),
                ("cat.3.jpg", "cat")]  # fmt: skip
    for path, label in sequence:
        controller.set_current_row(model.row_of(path))
        controller.assign_class(label)
    qtbot.keyClick(window.grid, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert window.insight_dock.isVisible()
    session = controller.session
    _tracker, expected = compute_insight(
        session.journal(), session.classes(), session.counts()
    )  # the same figures, computed straight from the journal
    qtbot.waitUntil(lambda: window.insight_panel.view is not None, timeout=10000)
    shown = window.insight_panel.view
    np.testing.assert_array_equal(shown.overall.x, expected.overall.x)
    np.testing.assert_allclose(cumulative(window), expected.overall.cumulative)
    np.testing.assert_array_equal(shown.confusion, expected.confusion)
    assert len(cumulative(window)) == 5  # predictions exist from the third label on

    # Undo the last label: the curve loses its last point.
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(cumulative(window)) == 4, timeout=10000)

    # A click on a confusion cell filters the grid to those images.
    panel = window.insight_panel
    panel.tabs.setCurrentWidget(panel.confusion)
    chart = panel.confusion
    view = panel.view
    label, suggested = (
        next((view.classes[r], view.classes[c]) for r, c in np.argwhere(view.confusion) if r != c)
        if np.any(view.confusion - np.diag(np.diag(view.confusion)))
        else (view.classes[0], view.classes[0])
    )
    r, c = view.classes.index(label), view.classes.index(suggested)
    qtbot.wait(20)
    centre = chart.mapFromScene(chart.image.mapToScene(QPointF(c + 0.5, r + 0.5)))
    qtbot.mouseClick(chart.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    wanted = set(view.cell_paths(label, suggested))
    qtbot.waitUntil(lambda: model.rowCount() == len(wanted), timeout=5000)
    assert {model.path_at(i) for i in range(model.rowCount())} == wanted
    assert window.filter_combo.currentText().startswith(f"Labelled {label}")
    assert errors == []
    close_window(qtbot, window, controller)
