"""Many at once and mistakes (F11, F12) in the real window: selection, threshold, neighbours,
suspects and class split, driven with keys and the mouse; each checked on screen and in the
journal."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.conftest import write_class_images
from tests.gui.apphelpers import close_window, open_window

pytestmark = pytest.mark.slow
CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "images"
    write_class_images(path, per_class=8, classes=("cat", "dog", "bird"))
    return path


def click(qtbot, window, controller, name: str, modifier=Qt.KeyboardModifier.NoModifier):
    index = controller.model.index(controller.model.row_of(name))
    window.grid.scrollTo(index)
    qtbot.mouseClick(
        window.grid.viewport(),
        Qt.MouseButton.LeftButton,
        modifier,
        window.grid.visualRect(index).center(),
    )


def shown(controller) -> list[str]:
    return [controller.model.path_at(r) for r in range(controller.model.rowCount())]


def groups(session) -> list[int]:
    rows = session.labels._read("SELECT grp FROM journal WHERE kind IN ('label','relabel')")
    return sorted({g for (g,) in rows})


def teach(controller, qtbot, pairs) -> None:
    for path, label in pairs:
        controller.set_current_row(controller.model.row_of(path))
        controller.assign_class(label)
    qtbot.waitUntil(controller.idle, timeout=10000)


def test_selection_gets_one_label_in_one_undo_step(qtbot, tmp_path, folder, tiny_backbone, errors):
    controller, window = open_window(qtbot, tmp_path, folder, tiny_backbone)
    session = controller.session
    teach(controller, qtbot, [("cat.0.jpg", "cat"), ("dog.0.jpg", "dog")])
    click(qtbot, window, controller, "cat.1.jpg")
    click(qtbot, window, controller, "cat.3.jpg", SHIFT)  # cat.1 .. cat.3
    click(qtbot, window, controller, "cat.5.jpg", CTRL)  # and cat.5
    qtbot.waitUntil(lambda: len(controller.labelling.selection_group()) == 4, timeout=3000)
    before = len(groups(session))
    qtbot.keyClick(window.grid, Qt.Key.Key_1)  # the same key as for one image
    qtbot.waitUntil(controller.idle, timeout=10000)
    want = {f"cat.{i}.jpg" for i in (1, 2, 3, 5)}
    assert {p for p in want if session.label_of(p) == "cat"} == want
    assert len(groups(session)) == before + 1  # one journal group
    badges = controller.model
    assert all(badges.data(badges.index(badges.row_of(p)), 256 + 2) == "cat" for p in want)
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, CTRL)  # one undo step takes them all back
    qtbot.waitUntil(controller.idle, timeout=10000)
    assert all(session.label_of(p) is None for p in want)
    # Ctrl+A selects what the filter shows: the unlabelled images here.
    controller.set_filter("unlabeled")
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_A, CTRL)
    qtbot.waitUntil(
        lambda: len(controller.labelling.selection_group()) == controller.model.rowCount(),
        timeout=3000,
    )
    assert errors == []
    close_window(qtbot, window, controller)


def test_threshold_more_like_this_suspects_and_split(
    qtbot, tmp_path, folder, tiny_backbone, errors
):
    controller, window = open_window(qtbot, tmp_path, folder, tiny_backbone)
    session = controller.session
    teach(
        controller, qtbot, [(f"{c}.{i}.jpg", c) for i in range(3) for c in ("cat", "dog", "bird")]
    )

    # Accept above a threshold: T opens the bar; the grid lists the candidates, all selected.
    controller.set_current_row(controller.model.row_of("cat.4.jpg"))
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_T)
    assert window.threshold_bar.isVisible()
    bar = window.threshold_bar
    bar.slider.setValue(0)  # every unlabelled image the model scores
    label = bar.class_combo.currentText()
    qtbot.waitUntil(
        lambda: window.filter_combo.currentText().startswith(f"{label} ≥ 0.00"), timeout=3000
    )
    listed = shown(controller)
    assert len(listed) == 24 - 9 and all(session.label_of(p) is None for p in listed)
    scores = controller.rescorer.latest
    column = scores.classes.index(label)
    probs = [scores.probs[session.row_of(p), column] for p in listed]
    assert probs == sorted(probs, reverse=True)  # most probable first
    qtbot.waitUntil(
        lambda: len(controller.labelling.selection_group()) == len(listed), timeout=3000
    )
    click(qtbot, window, controller, listed[-1], CTRL)  # the user deselects a wrong one
    qtbot.waitUntil(lambda: len(controller.labelling.selection_group()) == len(listed) - 1,
                    timeout=3000)  # fmt: skip
    qtbot.mouseClick(bar.accept_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(controller.idle, timeout=10000)
    assert not window.threshold_bar.isVisible()
    accepted = [e for e in session.journal() if e.data and e.data.get("pick") == "threshold"]
    assert {e.path for e in accepted} == set(listed[:-1])
    assert session.label_of(listed[-1]) is None
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, CTRL)
    qtbot.waitUntil(controller.idle, timeout=10000)
    assert all(session.label_of(p) is None for p in listed)

    # More like this: the unlabelled images by cosine similarity to the current one.
    controller.set_current_row(controller.model.row_of("dog.5.jpg"))
    qtbot.keyClick(window.grid, Qt.Key.Key_M)
    qtbot.waitUntil(lambda: window.filter_combo.currentText().startswith("More like"), timeout=5000)
    near = shown(controller)
    query = session.vectors.get("dog.5.jpg")
    sims = [
        float(session.vectors.get(p) @ query)
        / (np.linalg.norm(session.vectors.get(p)) * np.linalg.norm(query))
        for p in near
    ]
    assert sims == sorted(sims, reverse=True) and "dog.5.jpg" not in near
    assert all(session.label_of(p) is None for p in near)

    # Suspects: a wrong label is listed first, with its reason; K keeps a label (reviewed).
    controller.set_filter("all")
    controller.set_current_row(controller.model.row_of("dog.6.jpg"))
    controller.assign_class("cat")  # a mistake
    qtbot.waitUntil(controller.idle, timeout=10000)
    qtbot.keyClick(window.grid, Qt.Key.Key_S, CTRL | SHIFT)
    qtbot.waitUntil(lambda: controller.review.suspects and not controller.review._checking,
                    timeout=20000)  # fmt: skip
    assert controller.review.suspects[0].path == "dog.6.jpg"
    assert shown(controller)[0] == "dog.6.jpg"
    controller.set_current_row(0)
    assert window.suspect_bar.isVisible()
    assert "labelled cat" in window.suspect_bar.reason_label.text()
    qtbot.keyClick(window.grid, Qt.Key.Key_K)
    assert "dog.6.jpg" in session.marked("reviewed")
    controller.show_suspects()
    qtbot.waitUntil(lambda: not controller.review._checking, timeout=20000)
    assert "dog.6.jpg" not in {s.path for s in controller.review.suspects}
    window.suspect_bar.close_button.click()
    assert not window.suspect_bar.isVisible()

    # Split a class: two cats start "kitten"; the rest of the class is ranked and offered.
    dialogs = []
    monkey_view = window._on_split_view
    window._on_split_view = lambda view: dialogs.append(view)  # no modal dialog in a test
    controller.split_view.disconnect()
    controller.split_view.connect(window._on_split_view)
    click(qtbot, window, controller, "cat.0.jpg")
    click(qtbot, window, controller, "cat.1.jpg", CTRL)
    qtbot.waitUntil(lambda: len(controller.labelling.selection_group()) == 2, timeout=3000)
    controller.split_class("cat")
    qtbot.waitUntil(lambda: bool(dialogs), timeout=10000)
    view = dialogs[0]
    assert view.source == "cat" and view.examples == 2 and view.candidates >= 1
    controller.apply_split("kitten", 1)
    qtbot.waitUntil(controller.idle, timeout=10000)
    kittens = {p for p, lab in session.labels_by_path().items() if lab == "kitten"}
    assert {"cat.0.jpg", "cat.1.jpg"} <= kittens and len(kittens) == 3
    split = [e for e in session.journal() if e.data and e.data.get("pick") == "split"]
    assert {e.path for e in split} == kittens
    window._on_split_view = monkey_view
    assert errors == []
    close_window(qtbot, window, controller)
