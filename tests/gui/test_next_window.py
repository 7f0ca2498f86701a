"""Next (F10) and unsure (F5) in the real window, driven with keys."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from gui_app.core.sampling import PICKS
from tests.conftest import write_class_images
from tests.gui.apphelpers import close_window, open_window

pytestmark = pytest.mark.slow


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "images"
    write_class_images(path, per_class=10, classes=("cat", "dog", "bird"))
    return path


def caption(window) -> str:
    return window._caption()


def current_pick(window) -> str:
    return window._current.pick if window._current is not None else ""


def test_next_teaches_audits_and_skips_unsure_images(
    qtbot, tmp_path, folder, tiny_backbone, errors
):
    controller, window = open_window(qtbot, tmp_path, folder, tiny_backbone)
    session = controller.session
    # Cold start: before the model can rank, N shows typical images and says so.
    qtbot.keyClick(window.grid, Qt.Key.Key_N)
    assert controller.order() == "teach" and window.a_orders["teach"].isChecked()
    assert current_pick(window)  # typical of a cluster, or an audit: it says why
    assert "shown because" in caption(window)
    first = controller.current_path
    qtbot.keyClick(window.grid, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(window.label_panel.new_class, first.split(".")[0])
    qtbot.keyClick(window.label_panel.new_class, Qt.Key.Key_Return)
    assert controller.current_path != first  # moved on to another pick

    # Two classes: label the shown images by their true class until the model ranks.
    for _ in range(8):
        name = controller.current_path.split(".")[0]
        controller.assign_class(name)
        qtbot.waitUntil(controller.idle, timeout=10000)
    qtbot.waitUntil(controller.idle, timeout=10000)
    qtbot.keyClick(window.grid, Qt.Key.Key_N)
    reason = current_pick(window)
    assert reason.startswith(("uncertain:", "audit:")), reason
    # The ranking follows every label: what Next picks changes once the shown image is labelled.
    shown = controller.current_path
    controller.assign_class(shown.split(".")[0])
    qtbot.waitUntil(controller.idle, timeout=10000)
    assert controller.current_path != shown
    assert shown not in {controller.picker.pick("teach", "")[0]}
    kinds = [e.data["pick"] for e in session.journal() if e.kind in ("label", "relabel")]
    assert set(kinds) <= set(PICKS) and "manual" not in kinds and "uncertain" in kinds

    # Audit mode: every image it shows is an audit, and the journal says so.
    window.a_orders["audit"].trigger()
    assert controller.order() == "audit"
    qtbot.keyClick(window.grid, Qt.Key.Key_N)
    assert current_pick(window).startswith("audit:")
    audited = controller.current_path
    qtbot.keyClick(window.grid, Qt.Key.Key_Return)  # confirm the model's suggestion
    qtbot.waitUntil(controller.idle, timeout=10000)
    event = next(e for e in reversed(session.journal()) if e.path == audited)
    assert event.data["pick"].startswith("audit-")

    # Unsure: U marks the image, it is not learned, Next skips it, it has its own filter.
    unsure = controller.current_path
    before = session.learner.n_learned
    qtbot.keyClick(window.grid, Qt.Key.Key_U)
    assert unsure in session.marked("unsure") and session.label_of(unsure) is None
    assert session.learner.n_learned == before
    for _ in range(5):
        assert controller.picker.pick("teach", "")[0] != unsure
        assert controller.picker.pick("audit", "")[0] != unsure
    controller.set_filter("unsure")
    assert [controller.model.path_at(r) for r in range(controller.model.rowCount())] == [unsure]
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo
    assert unsure not in session.marked("unsure")
    assert errors == []
    close_window(qtbot, window, controller)
