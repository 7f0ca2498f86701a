"""Review widgets on their own: threshold bar, suspects bar, split-class dialog."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMainWindow, QVBoxLayout, QWidget

from gui_app.qt.viewstate import THRESHOLD_STEPS, SplitView, SuspectView, ThresholdView
from gui_app.widgets.review_bars import SUSPECT_HINT, SuspectBar, ThresholdBar
from gui_app.widgets.split_dialog import SplitClassDialog

COUNTS = tuple(max(0, 300 - 3 * i) for i in range(THRESHOLD_STEPS + 1))  # 300 at 0, 0 at 1
REASON = "labelled Forest; the model said River 0.94 before and after"


@pytest.fixture
def window(qtbot):
    """An active main window with a window-wide Return shortcut and a focusable other widget."""
    win = QMainWindow()
    host = QWidget()
    layout = QVBoxLayout(host)
    other = QWidget()
    other.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    layout.addWidget(other)
    win.setCentralWidget(host)
    fired: list[str] = []
    confirm = QAction("Confirm", win)
    confirm.setShortcut(QKeySequence("Return"))
    confirm.triggered.connect(lambda: fired.append("Return"))
    win.addAction(confirm)
    qtbot.addWidget(win)
    return win, layout, other, fired


def show(qtbot, win) -> None:
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)  # WindowShortcut needs the active window


def test_threshold_bar_shows_live_counts_and_emits_accept(qtbot, window):
    win, layout, _other, fired = window
    bar = ThresholdBar()
    layout.addWidget(bar)
    show(qtbot, win)
    bar.set_view(ThresholdView(("cat", "dog"), "dog", 0.9, COUNTS))
    assert bar.class_combo.currentText() == "dog"
    assert bar.value_label.text() == "≥ 0.90"
    assert bar.count_label.text() == "30 unlabelled images"
    assert bar.accept_button.text() == "Accept 30" and bar.accept_button.isEnabled()

    moved: list[float] = []
    accepted: list[tuple[str, float]] = []
    bar.threshold_changed.connect(moved.append)
    bar.accept_requested.connect(lambda label, t: accepted.append((label, t)))
    bar.slider.setFocus()
    qtbot.keyClick(bar.slider, Qt.Key.Key_Left)  # one step down: more images
    assert moved == [pytest.approx(0.89)]
    assert bar.value_label.text() == "≥ 0.89"
    assert bar.count_label.text() == "33 unlabelled images"
    qtbot.keyClick(bar.slider, Qt.Key.Key_Return)  # Enter in the bar accepts, not "Confirm"
    assert accepted == [("dog", pytest.approx(0.89))] and fired == []
    qtbot.mouseClick(bar.accept_button, Qt.MouseButton.LeftButton)
    assert len(accepted) == 2

    chosen: list[str] = []
    bar.class_changed.connect(chosen.append)
    bar.class_combo.setFocus()
    qtbot.keyClick(bar.class_combo, Qt.Key.Key_Up)
    assert chosen == ["cat"]

    cancelled: list[bool] = []
    bar.cancelled.connect(lambda: cancelled.append(True))
    qtbot.keyClick(bar.slider, Qt.Key.Key_Escape)
    qtbot.mouseClick(bar.cancel_button, Qt.MouseButton.LeftButton)
    assert cancelled == [True, True]


def test_threshold_bar_states_without_images_busy_or_without_a_class(qtbot):
    bar = ThresholdBar()
    qtbot.addWidget(bar)
    bar.set_view(ThresholdView(("cat", "dog"), "cat", 1.0, COUNTS))
    assert bar.count_label.text() == "no unlabelled image"
    assert not bar.accept_button.isEnabled()
    accepted: list[str] = []
    bar.accept_requested.connect(lambda label, _t: accepted.append(label))
    qtbot.keyClick(bar, Qt.Key.Key_Return)
    assert accepted == []
    bar.set_view(ThresholdView(("cat", "dog"), "cat", 0.5, COUNTS, busy=True))
    assert bar.count_label.text() == "counting…" and not bar.accept_button.isEnabled()
    bar.set_view(ThresholdView((), None, 0.5, ()))
    assert bar.count_label.text() == "no class learned yet"
    assert not bar.slider.isEnabled() and bar.class_combo.count() == 0


def test_suspect_bar_shows_the_reason_and_k_keeps_the_label(qtbot, window):
    win, layout, other, fired = window
    bar = SuspectBar()
    layout.addWidget(bar)
    show(qtbot, win)
    bar.set_view(SuspectView(3, 41, "forest_12.jpg", "Forest", REASON, checking=True))
    assert bar.position_label.text() == "Suspect 3 of 41"
    assert bar.reason_label.text() == REASON
    assert bar.hint_label.text() == SUSPECT_HINT and bar.hint_label.isVisible()
    assert bar.checking_label.isVisible()
    assert bar.keep_button.text() == "Keep label (K)"

    kept: list[bool] = []
    moves: list[str] = []
    bar.keep_requested.connect(lambda: kept.append(True))
    bar.previous_requested.connect(lambda: moves.append("previous"))
    bar.next_requested.connect(lambda: moves.append("next"))
    other.setFocus()
    qtbot.keyClick(other, Qt.Key.Key_K)  # window-wide while the bar is shown
    qtbot.mouseClick(bar.keep_button, Qt.MouseButton.LeftButton)
    assert kept == [True, True]
    qtbot.mouseClick(bar.previous_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(bar.next_button, Qt.MouseButton.LeftButton)
    assert moves == ["previous", "next"]
    qtbot.keyClick(other, Qt.Key.Key_Return)  # the bar leaves Enter to the window
    assert fired == ["Return"]

    bar.set_view(SuspectView(1, 1, "forest_12.jpg", "Forest", REASON))
    assert not bar.previous_button.isEnabled() and not bar.next_button.isEnabled()
    assert not bar.checking_label.isVisible()
    bar.hide()
    qtbot.keyClick(other, Qt.Key.Key_K)  # a hidden bar's shortcut does nothing
    assert kept == [True, True]


def test_suspect_bar_empty_and_escape(qtbot):
    bar = SuspectBar()
    qtbot.addWidget(bar)
    bar.set_view(SuspectView(0, 0, "", "", ""))
    assert bar.position_label.text() == "No suspect labels"
    assert bar.reason_label.text() == "" and not bar.keep_action.isEnabled()
    closed: list[bool] = []
    bar.closed.connect(lambda: closed.append(True))
    qtbot.keyClick(bar, Qt.Key.Key_Escape)
    qtbot.mouseClick(bar.close_button, Qt.MouseButton.LeftButton)
    assert closed == [True, True]


def test_split_dialog_names_counts_previews_and_splits(qtbot):
    view = SplitView("Forest", 3, 40, 12, ("Forest", "River"))
    dialog = SplitClassDialog(view)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.count_spin.value() == 12 and dialog.count_spin.maximum() == 40
    assert dialog.suggested_label.text() == "suggested: 12"
    assert not dialog.split_button.isEnabled() and dialog.problem_label.text() == ""
    assert dialog.preview_label.text() == (
        "3 chosen + 12 similar = 15 images move from Forest to the new class"
    )

    qtbot.keyClicks(dialog.name_edit, "river")
    assert dialog.problem_label.text() == "A class named “River” already exists."
    assert not dialog.split_button.isEnabled()
    dialog.name_edit.clear()
    qtbot.keyClicks(dialog.name_edit, " Wetland ")
    assert dialog.split_button.isEnabled() and dialog.problem_label.text() == ""

    previews: list[int] = []
    dialog.preview_requested.connect(previews.append)
    dialog.count_spin.setFocus()
    qtbot.keyClick(dialog.count_spin, Qt.Key.Key_Up)  # not previewing yet: nothing emitted
    assert previews == []
    assert dialog.preview_label.text().startswith("3 chosen + 13 similar = 16 images")
    qtbot.mouseClick(dialog.preview_button, Qt.MouseButton.LeftButton)
    qtbot.keyClick(dialog.count_spin, Qt.Key.Key_Down)
    assert previews == [13, 12]

    split: list[tuple[str, int]] = []
    dialog.split_requested.connect(lambda name, n: split.append((name, n)))
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert split == [("Wetland", 12)]
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_split_dialog_refuses_long_names_and_cancels(qtbot):
    dialog = SplitClassDialog(SplitView("Forest", 1, 0, 0, ("Forest",)))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.count_spin.maximum() == 0
    dialog.name_edit.setText("x" * 101)
    assert "at most 100" in dialog.problem_label.text()
    split: list[str] = []
    dialog.split_requested.connect(lambda name, _n: split.append(name))
    dialog.accept()  # refused while the name is wrong
    assert split == [] and dialog.isVisible()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.result() == QDialog.DialogCode.Rejected and split == []
