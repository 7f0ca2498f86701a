"""The acceptance flow on the real main window, driven with keys and clicks.

Open a folder with a tiny real backbone, label 3 cats and 3 dogs with keys, watch the bars of
the next image move after every key, add a third class by typing it, undo twice, quit,
reopen and find everything as it was.
"""

from __future__ import annotations

import sqlite3

import pytest
from PySide6.QtCore import Qt

from gui_app.qt.image_model import Roles
from tests.gui.apphelpers import close_window, open_window

pytestmark = pytest.mark.slow


def press(qtbot, window, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    target = window.focusWidget() or window.grid
    qtbot.keyClick(target, key, modifier)


def type_new_class(qtbot, window, name: str) -> None:
    qtbot.keyClick(window.grid, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.label_panel.new_class.hasFocus()
    qtbot.keyClicks(window.label_panel.new_class, name)
    qtbot.keyClick(window.label_panel.new_class, Qt.Key.Key_Return)


def click_image(qtbot, window, controller, name: str) -> None:
    row = controller.model.row_of(name)
    index = controller.model.index(row)
    window.grid.scrollTo(index)
    rect = window.grid.visualRect(index)
    qtbot.mouseClick(window.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert controller.current_path == name


def status_text(window) -> str:
    from PySide6.QtWidgets import QLabel

    return " | ".join(label.text() for label in window.status.findChildren(QLabel))


def bar_values(window) -> dict[str, float]:
    return {b.name: b.probability for b in window.bars.bars()}


def test_label_learn_undo_quit_reopen(qtbot, tmp_path, class_images, tiny_backbone, errors):
    controller, window = open_window(qtbot, tmp_path, class_images, tiny_backbone)
    assert controller.model.data(controller.model.index(0), Qt.ItemDataRole.DisplayRole)
    assert window.bars.message() is not None  # empty state before any label

    click_image(qtbot, window, controller, "cat.0.jpg")
    type_new_class(qtbot, window, "cat")  # creates the class and labels cat.0
    assert controller.current_path == "cat.1.jpg"
    assert window.grid.hasFocus()
    press(qtbot, window, Qt.Key.Key_1)
    press(qtbot, window, Qt.Key.Key_1)
    assert controller.session.labels.labels() == {f"cat.{i}.jpg": "cat" for i in range(3)}

    click_image(qtbot, window, controller, "dog.0.jpg")
    type_new_class(qtbot, window, "dog")
    assert "Label two classes" not in (window.bars.message() or "")
    history = [bar_values(window)]
    for _ in range(2):
        press(qtbot, window, Qt.Key.Key_2)
        history.append(bar_values(window))
    # The bars of the next image move after every key.
    assert all(set(h) == {"cat", "dog"} for h in history)
    assert all(abs(sum(h.values()) - 1) < 1e-6 for h in history)
    assert history[0] != history[1] != history[2]
    assert controller.current_path == "dog.3.jpg"
    assert controller.session.labels.counts() == {"cat": 3, "dog": 3}

    # Grid badges: labels as chips, predictions for the others once re-scored.
    model = controller.model
    assert model.data(model.index(model.row_of("dog.1.jpg")), Roles.LABEL) == "dog"
    qtbot.waitUntil(
        lambda: model.data(model.index(model.row_of("dog.5.jpg")), Roles.PREDICTION) is not None
    )
    # Status bar counts.
    qtbot.waitUntil(lambda: "6 labeled" in status_text(window))
    assert "12 images" in status_text(window) and "2 classes" in status_text(window)
    before_bird = bar_values(window)

    # A third class typed by name appears in the bars at once.
    type_new_class(qtbot, window, "bird")
    assert controller.session.labels.label_of("dog.3.jpg") == "bird"
    assert set(bar_values(window)) == {"cat", "dog", "bird"}
    assert [r.name for r in controller.session.labels.classes()] == ["cat", "dog", "bird"]

    # Undo the last two actions: the bird label (with its class) and the last dog label.
    press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    labels_after_undo = controller.session.labels.labels()
    assert labels_after_undo == {
        **{f"cat.{i}.jpg": "cat" for i in range(3)},
        "dog.0.jpg": "dog",
        "dog.1.jpg": "dog",
    }
    assert controller.session.labels.class_names() == ["cat", "dog"]
    # The learner is exactly the one that produced the bars shown for dog.2 back then.
    controller.set_current_row(model.row_of("dog.2.jpg"))
    assert bar_values(window) == history[1]
    controller.set_current_row(model.row_of("dog.3.jpg"))
    expected_bars = bar_values(window)
    assert set(expected_bars) == {"cat", "dog"} and expected_bars != before_bird

    close_window(qtbot, window, controller)
    files = {p.name for p in (class_images / ".loupe").iterdir()}
    assert {"labels.sqlite", "features.h5", "model.pkl"} <= files
    with sqlite3.connect(class_images / ".loupe" / "labels.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # Reopen (no backbone option: the project remembers it) and find everything as it was.
    controller2, window2 = open_window(qtbot, tmp_path, class_images, None)
    assert controller2.session.labels.labels() == labels_after_undo
    assert not controller2.session.needs_rebuild  # the snapshot was current
    controller2.set_current_row(controller2.model.row_of("dog.3.jpg"))
    assert bar_values(window2) == pytest.approx(expected_bars, abs=1e-9)
    assert errors == []
    close_window(qtbot, window2, controller2)
