"""The window's widgets on their own (no controller, no core): rendering, signals, keys."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QEvent, QSettings, QStandardPaths, Qt
from PySide6.QtGui import (
    QAction,
    QColor,
    QImage,
    QKeyEvent,
    QKeySequence,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QApplication,
    QColorDialog,
    QInputDialog,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from gui_app.qt.api import ControllerSignals
from gui_app.qt.image_model import Roles
from gui_app.qt.viewstate import (
    ClassRow,
    CurrentImage,
    FilterOption,
    GridFilter,
    StatusInfo,
    format_eta,
    format_rate,
)
from gui_app.widgets.dialogs import UnreadableDialog
from gui_app.widgets.image_grid import ImageGrid, chip_text, contrast_text
from gui_app.widgets.label_panel import LabelPanel, accuracy_text
from gui_app.widgets.settings_dialog import SettingsDialog
from gui_app.widgets.status_bar import LoupeStatusBar

CLASSES = [
    ClassRow("cat", "#e6194b", 12, 1),
    ClassRow("dog", "#3cb44b", 7, 2),
    ClassRow("<b>bird</b>", "#4363d8", 0, 3),
]


def _status(**changes) -> StatusInfo:
    base = dict(
        device="CPU · LiteRT (XNNPACK)",
        images=400,
        labeled=6,
        unreadable=1,
        classes=3,
        extracted=123,
        total=400,
        rate=37.2,
        eta=12.0,
        state="extracting",
        accuracy_recent=0.86,
        accuracy_n=50,
        backbone="MobileNetV2",
    )
    base.update(changes)
    return StatusInfo(**base)


def _press(widget: QWidget, key: Qt.Key, text: str = "") -> QKeyEvent:
    event = QKeyEvent(QEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier, text)
    event.setAccepted(True)
    widget.keyPressEvent(event)
    return event


def _grid_model(n: int = 6) -> QStandardItemModel:
    model = QStandardItemModel()
    for i in range(n):
        item = QStandardItem(f"img_{i}.jpg")
        item.setData(f"sub/img_{i}.jpg", Roles.PATH)
        model.appendRow(item)
    return model


@pytest.fixture
def panel(qtbot) -> LabelPanel:
    widget = LabelPanel()
    qtbot.addWidget(widget)
    widget.set_classes(CLASSES)
    widget.resize(360, 480)
    return widget


# ----------------------------------------------------------------- view state
def test_format_eta_and_rate() -> None:
    assert format_eta(12) == "12 s"
    assert format_eta(185) == "3 min 05 s"
    assert format_eta(3720) == "1 h 02 min"
    assert format_eta(None) == "–"
    assert format_rate(37.2) == "37 img/s"
    assert format_rate(3.25) == "3.2 img/s"
    assert format_rate(0) == ""


# ----------------------------------------------------------------- label panel
def test_label_panel_renders_rows_and_emits_click(qtbot, panel: LabelPanel) -> None:
    panel.show()
    qtbot.waitExposed(panel)
    assert panel.list.count() == 3
    assert panel.title.text() == "Classes (3)"
    assert "&lt;b&gt;bird&lt;/b&gt;" in panel.list.item(2).toolTip()  # escaped, shown literally
    rect = panel.row_rect("dog")
    assert rect.isValid()
    with qtbot.waitSignal(panel.class_clicked) as blocker:
        qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == ["dog"]


def test_new_class_field_emits_on_enter_and_clears(qtbot, panel: LabelPanel) -> None:
    with (
        qtbot.waitSignal(panel.new_class_entered) as entered,
        qtbot.waitSignal(panel.focus_grid_requested),
    ):
        qtbot.keyClicks(panel.new_class, "  zebra ")
        qtbot.keyClick(panel.new_class, Qt.Key.Key_Return)
    assert entered.args == ["zebra"]
    assert panel.new_class.text() == ""
    with qtbot.waitSignal(panel.focus_grid_requested):
        qtbot.keyClick(panel.new_class, Qt.Key.Key_Escape)


def test_label_keys_type_into_field_despite_window_shortcuts(qtbot) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    host = QWidget()
    layout = QVBoxLayout(host)
    other = QWidget()
    other.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    panel = LabelPanel()
    layout.addWidget(other)
    layout.addWidget(panel)
    window.setCentralWidget(host)
    fired: list[str] = []
    for keys in ("1", "S", "Space", "Return", "Backspace"):
        action = QAction(keys, window)
        action.setShortcut(QKeySequence(keys))
        action.triggered.connect(lambda _=False, k=keys: fired.append(k))
        window.addAction(action)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # WindowShortcut needs the active window

    other.setFocus()
    qtbot.keyClick(other, Qt.Key.Key_1)
    assert fired == ["1"]  # the shortcut works outside the field

    panel.new_class.setFocus()
    entered: list[str] = []
    panel.new_class_entered.connect(entered.append)
    qtbot.keyClicks(panel.new_class, "12 Sx")
    qtbot.keyClick(panel.new_class, Qt.Key.Key_Backspace)
    assert panel.new_class.text() == "12 S"
    qtbot.keyClick(panel.new_class, Qt.Key.Key_Return)
    assert entered == ["12 S"]
    assert fired == ["1"]


def test_context_menu_actions_emit_signals(qtbot, panel: LabelPanel, monkeypatch) -> None:
    asked: list[str] = []

    def question(_parent, _title, text, *_args):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("kitty ", True))
    monkeypatch.setattr(QMessageBox, "question", question)
    monkeypatch.setattr(QColorDialog, "getColor", lambda *a, **k: QColor("#123456"))

    menu = panel.context_menu("cat")
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert set(actions) >= {"Rename…", "Merge into", "Recolour…", "Delete…"}

    with qtbot.waitSignal(panel.rename_requested) as rename:
        actions["Rename…"].trigger()
    assert rename.args == ["cat", "kitty"]

    merge_menu = actions["Merge into"].menu()
    targets = {a.text(): a for a in merge_menu.actions()}
    assert set(targets) == {"dog", "<b>bird</b>"}
    with qtbot.waitSignal(panel.merge_requested) as merge:
        targets["dog"].trigger()
    assert merge.args == ["cat", "dog"]

    with qtbot.waitSignal(panel.recolor_requested) as recolor:
        actions["Recolour…"].trigger()
    assert recolor.args == ["cat", "#123456"]

    with qtbot.waitSignal(panel.delete_requested) as delete:
        actions["Delete…"].trigger()
    assert delete.args == ["cat"]
    assert "12 images will become unlabeled" in asked[-1]
    assert all("<" not in text.splitlines()[0] for text in asked)  # first line stays plain


def test_context_menu_cancel_emits_nothing(qtbot, panel: LabelPanel, monkeypatch) -> None:
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("cat", True))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    emitted: list[object] = []
    for signal in (panel.rename_requested, panel.delete_requested):
        signal.connect(lambda *args: emitted.append(args))
    menu = panel.context_menu("cat")
    for action in menu.actions():
        if action.text() in ("Rename…", "Delete…"):
            action.trigger()
    assert emitted == []


def test_accuracy_and_undo_state(panel: LabelPanel) -> None:
    assert accuracy_text(None, 0) == "No suggestions yet"
    panel.set_accuracy(0.86, 50)
    assert panel.accuracy_label.text() == "Last 50 suggestions: 86 % correct (43/50), all picks"
    panel.set_accuracy(0.86, 50, 0.8, 10)  # audits, an unbiased sample, are shown apart
    assert panel.accuracy_label.text().endswith("· audits: 80 % of 10")
    assert "Audits" in panel.accuracy_label.toolTip()
    panel.set_labeled_count(6)
    assert panel.labeled_label.text() == "6 images labeled"
    panel.set_undo_state(True, False)
    assert panel.buttons["undo"].isEnabled() and not panel.buttons["redo"].isEnabled()
    assert "Enter" in panel.buttons["confirm"].toolTip()


# ------------------------------------------------------------------ status bar
def test_status_bar_counts_progress_and_pause(qtbot) -> None:
    bar = LoupeStatusBar()
    qtbot.addWidget(bar)
    bar.set_status(_status())
    assert bar.counts_label.text() == "400 images · 6 labeled · 1 unreadable · 3 classes"
    assert bar.progress.format() == "123 / 400 · 37 img/s · ETA 12 s"
    assert bar.progress.isVisibleTo(bar) and bar.pause_button.isVisibleTo(bar)
    with qtbot.waitSignal(bar.pause_toggled) as paused:
        bar.pause_button.click()
    assert paused.args == [True]
    bar.set_status(_status(state="paused", rate=0.0, eta=None))
    assert bar.pause_button.text() == "Resume" and bar.pause_button.isChecked()
    assert bar.progress.format() == "123 / 400"
    bar.set_status(_status(state="done", extracted=400, unreadable=0, classes=1, labeled=1))
    assert not bar.progress.isVisibleTo(bar)
    assert bar.counts_label.text() == "400 images · 1 labeled · 1 class"
    assert bar.state_label.text() == "All features ready"
    bar.show_message("Labelled cat.12.jpg as cat", 1000)
    assert bar.currentMessage() == "Labelled cat.12.jpg as cat"


# ----------------------------------------------------------------------- grid
def test_grid_leaves_label_keys_to_the_window(qtbot) -> None:
    grid = ImageGrid()
    qtbot.addWidget(grid)
    grid.setModel(_grid_model())
    grid.select_row(0)
    for key, text in [
        (Qt.Key.Key_1, "1"),
        (Qt.Key.Key_9, "9"),
        (Qt.Key.Key_Return, "\r"),
        (Qt.Key.Key_Space, " "),
        (Qt.Key.Key_Backspace, ""),
        (Qt.Key.Key_S, "s"),
    ]:
        assert not _press(grid, key, text).isAccepted(), key
    assert grid.currentIndex().row() == 0
    with qtbot.waitSignal(grid.current_row_changed) as moved:
        assert _press(grid, Qt.Key.Key_End).isAccepted()
    assert moved.args == [5]


def test_grid_select_row_does_not_echo(qtbot) -> None:
    grid = ImageGrid()
    qtbot.addWidget(grid)
    grid.setModel(_grid_model())
    rows: list[int] = []
    grid.current_row_changed.connect(rows.append)
    grid.select_row(3)
    assert grid.currentIndex().row() == 3 and rows == []
    grid.setCurrentIndex(grid.model().index(4, 0))
    assert rows == [4]


def test_grid_selects_at_once_and_scrolls_to_the_row_a_turn_later(qtbot) -> None:
    grid = ImageGrid()
    qtbot.addWidget(grid)
    grid.setModel(_grid_model(1500))  # more rows than one layout batch
    grid.resize(500, 400)
    grid.show()
    qtbot.waitExposed(grid)
    grid.select_row(1410)
    assert grid.currentIndex().row() == 1410  # selected at once, the bars paint first
    qtbot.waitUntil(lambda: grid.viewport().rect().contains(grid.visualRect(grid.currentIndex())))
    # The arithmetic "already in view" test agrees with Qt's own geometry on every row.
    for value in (0, 137, grid.verticalScrollBar().maximum()):
        grid.verticalScrollBar().setValue(value)
        for row in range(0, 1500, 7):
            exact = grid.viewport().rect().contains(grid.visualRect(grid.model().index(row, 0)))
            assert grid._in_view(row) == exact, (value, row)


def test_grid_paints_label_chip_and_reports_visible_range(qtbot) -> None:
    model = _grid_model(4)
    chip = "#ff00ff"
    model.item(0).setData("cat", Roles.LABEL)
    model.item(0).setData(chip, Roles.LABEL_COLOR)
    model.item(1).setData("dog", Roles.PREDICTION)
    model.item(1).setData(0.87, Roles.CONFIDENCE)
    model.item(1).setData("#00ff00", Roles.PRED_COLOR)
    model.item(2).setData("cannot decode", Roles.REASON)
    assert chip_text(model.index(1, 0)) == ("dog 87%", "#00ff00", False)
    assert contrast_text(QColor("#ffff00")) == QColor(Qt.GlobalColor.black)
    assert contrast_text(QColor("#202060")) == QColor(Qt.GlobalColor.white)

    grid = ImageGrid()
    qtbot.addWidget(grid)
    grid.setModel(model)
    grid.resize(700, 500)
    with qtbot.waitSignal(grid.visible_range_changed, timeout=3000) as visible:
        grid.show()
        qtbot.waitExposed(grid)
    assert visible.args == [0, 3]
    image: QImage = grid.viewport().grab().toImage()
    target = QColor(chip).rgb()
    cell = grid.visualRect(model.index(0, 0))
    hits = sum(
        1
        for y in range(0, image.height(), 2)
        for x in range(0, image.width(), 2)
        if image.pixel(x, y) == target
    )
    assert hits > 20  # the filled chip
    in_first = sum(
        1
        for y in range(cell.top(), cell.bottom(), 2)
        for x in range(cell.left(), cell.right(), 2)
        if image.pixel(x, y) == target
    )
    assert in_first == hits  # only the labelled image has it
    assert image.pixel(cell.center().x(), cell.top() + 4) != target


def test_grid_zoom_changes_grid_size(qtbot) -> None:
    grid = ImageGrid()
    qtbot.addWidget(grid)
    before = grid.gridSize()
    grid.zoom(1)
    assert grid.thumbnail_size() == 160 and grid.gridSize().width() > before.width()
    grid.set_thumbnail_size(10)
    assert grid.thumbnail_size() == 64


# -------------------------------------------------------------------- dialogs
def test_settings_dialog_values_and_confirmation(qtbot, monkeypatch) -> None:
    dialog = SettingsDialog(None, "mobilenet_v2", "imagenet", "logistic", "next")
    qtbot.addWidget(dialog)
    assert dialog.values() == dict(  # 'next' is what earlier versions called 'in-order'
        backbone="mobilenet_v2",
        weights="imagenet",
        engine="auto",
        learner="logistic",
        advance="in-order",
        scheduler="",
    )
    dialog.learner.setCurrentIndex(dialog.learner.findData("arf"))
    dialog.advance.setCurrentIndex(dialog.advance.findData("in-order-unlabeled"))
    asked: list[str] = []
    monkeypatch.setattr(
        QMessageBox,
        "question",
        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Cancel,
    )
    dialog.accept()  # learner change alone: no question
    assert asked == [] and dialog.result() == SettingsDialog.DialogCode.Accepted
    assert (
        dialog.values()["learner"] == "arf" and dialog.values()["advance"] == "in-order-unlabeled"
    )

    dialog = SettingsDialog(None, "/models/my.keras", "none", "knn", "next-unlabeled")
    qtbot.addWidget(dialog)
    assert dialog.values()["backbone"] == "/models/my.keras"
    dialog.backbone.setCurrentIndex(dialog.backbone.findData("resnet50"))
    dialog.accept()
    assert "separate cache" in asked[0]
    assert dialog.result() != SettingsDialog.DialogCode.Accepted  # user cancelled


def test_settings_dialog_refuses_a_bad_scheduler_and_asks_before_a_new_engine(
    qtbot, monkeypatch
) -> None:
    checked: list[str] = []

    def check(text: str) -> str | None:
        checked.append(text)
        return None if text in ("", "local:2") else f"not a Dask scheduler: {text!r}"

    dialog = SettingsDialog(
        None, "efficientnet_lite0", "imagenet", "logistic", "teach", check_scheduler=check
    )
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.scheduler, "my laptop")
    dialog.accept()
    assert dialog.result() != SettingsDialog.DialogCode.Accepted
    assert dialog.scheduler_error.isVisible()
    assert "not a Dask scheduler: 'my laptop'" in dialog.scheduler_error.text()
    dialog.scheduler.clear()
    assert not dialog.scheduler_error.isVisible()  # editing hides the old complaint
    qtbot.keyClicks(dialog.scheduler, "  local:2 ")
    asked: list[str] = []
    monkeypatch.setattr(
        QMessageBox,
        "question",
        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes,
    )
    dialog.engine.setCurrentIndex(dialog.engine.findData("litert-int8"))
    dialog.accept()  # another engine extracts again: the user is asked first
    assert asked and "extracted again" in asked[0]
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    assert dialog.values()["engine"] == "litert-int8"
    assert dialog.values()["scheduler"] == "local:2" and checked[-1] == "local:2"


def test_unreadable_dialog_copies_plain_text(qtbot) -> None:
    dialog = UnreadableDialog([("a/<b>x</b>.jpg", "truncated file")])
    qtbot.addWidget(dialog)
    assert dialog.table.item(0, 0).text() == "a/<b>x</b>.jpg"
    dialog.copy_to_clipboard()
    assert QApplication.clipboard().text() == "a/<b>x</b>.jpg\ttruncated file\n"


# -------------------------------------------------- main window, fake controller
class FakeController(ControllerSignals):
    """The controller's signals and slots, recording calls (no core, no threads)."""

    class Settings:
        backbone, weights, learner, advance = "mobilenet_v2", "imagenet", "logistic", "next"

        def recent(self) -> list[str]:
            return []

    def __init__(self) -> None:
        super().__init__()
        self.model = _grid_model(5)
        self.settings = self.Settings()
        self.calls: list[tuple] = []

    def filter_options(self):
        return [
            FilterOption(GridFilter("all"), "All images"),
            FilterOption(GridFilter("class", "cat"), "Labeled: cat"),
        ]

    def has_project(self) -> bool:
        return False

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args: self.calls.append((name, *args))


@pytest.fixture
def window(qtbot, tmp_path):
    fmt, scope = QSettings.Format.NativeFormat, QSettings.Scope.UserScope
    QSettings.setPath(fmt, scope, str(tmp_path))
    from gui_app.widgets.main_window import MainWindow

    controller = FakeController()
    win = MainWindow(controller)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    yield win, controller
    default = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    QSettings.setPath(fmt, scope, default)


def test_main_window_routes_keys_and_signals(qtbot, window) -> None:
    win, c = window
    assert win.grid_stack.currentWidget() is not win.grid  # empty state first
    c.project_opened.emit("/data/pets")
    c.classes_changed.emit(CLASSES)
    c.current_changed.emit(CurrentImage(2, "sub/img_2.jpg", "img_2.jpg", None, None, "3 / 5"))
    assert win.grid.currentIndex().row() == 2 and ("set_current_row", 2) not in c.calls
    assert win.windowTitle() == "Loupe — pets — img_2.jpg"
    assert win.filter_combo.count() == 2
    win.grid.setFocus()
    qtbot.keyClick(win.grid, Qt.Key.Key_2)
    qtbot.keyClick(win.grid, Qt.Key.Key_Return)
    qtbot.keyClick(win.grid, Qt.Key.Key_S)
    qtbot.keyClick(win.grid, Qt.Key.Key_Backspace)
    qtbot.keyClick(win.grid, Qt.Key.Key_Right)
    names = [call[0] for call in c.calls]
    assert ("assign_shortcut", 2) in c.calls
    assert {"confirm", "skip", "remove_label"} <= set(names)
    assert ("set_current_row", 3) in c.calls
    c.calls.clear()
    win.a_new_class.trigger()
    assert win.label_panel.new_class.hasFocus()
    qtbot.keyClicks(win.label_panel.new_class, "7s ")
    qtbot.keyClick(win.label_panel.new_class, Qt.Key.Key_Return)
    assert c.calls == [("assign_class", "7s")]
    assert win.grid.hasFocus()
    c.undo_state_changed.emit(True, False)
    assert win.a_undo.isEnabled() and not win.a_redo.isEnabled()
    c.status_changed.emit(_status())
    assert win.a_pause.isEnabled()
    assert win.label_panel.accuracy_label.text().startswith("Last 50 suggestions")


def test_main_window_dialogs_state_and_close(qtbot, window, monkeypatch) -> None:
    import gui_app.widgets.main_window as main_window

    win, c = window
    monkeypatch.setattr(main_window, "ask_project_location", lambda *a: "/tmp/loupe-proj")
    c.read_only_folder.emit("/ro/photos", "Permission denied", "/home/u/.local/proj")
    assert ("open_folder", "/ro/photos", "/tmp/loupe-proj") in c.calls
    warnings: list[tuple] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: warnings.append(a[1:]))
    c.error.emit("Cannot open folder", "No images found")
    assert warnings == [("Cannot open folder", "No images found")]
    assert "No images found" in win.status.currentMessage()
    c.busy.emit("Rebuilding the model…", 10, 400)  # never modal: shown in the status bar
    assert win.status.busy_text() == "Rebuilding the model…"
    assert win.status.busy_bar.maximum() == 400 and QApplication.activeModalWidget() is None
    c.busy.emit("", 0, 0)
    assert win.status.busy_text() == ""
    assert not win.a_unreadable.isEnabled()
    c.unreadable_changed.emit([("a.jpg", "truncated")])
    assert win.a_unreadable.isEnabled()
    keys = dict(win.shortcut_rows())
    assert keys["1 … 9"] and any("Ctrl+Z" in k for k in keys)
    win.a_zoom_in.trigger()
    assert win.grid.thumbnail_size() == 160
    win.close()
    assert c.calls[-1] == ("shutdown",)
    assert int(QSettings("Loupe", "Loupe").value("grid/thumbnail_size")) == 160


def test_dropping_a_folder_or_its_files_opens_it(qtbot, window, tmp_path) -> None:
    from PySide6.QtCore import QMimeData, QPoint, QUrl
    from PySide6.QtGui import QDropEvent

    win, c = window
    folder = tmp_path / "photos with spaces é"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"x")
    for urls, expected in (
        ([QUrl.fromLocalFile(str(folder))], str(folder)),
        ([QUrl.fromLocalFile(str(folder / "a.jpg"))], str(folder)),
        ([QUrl("https://example.org/x.jpg")], None),
    ):
        mime = QMimeData()
        mime.setUrls(urls)
        assert win.dropped_folder(mime) == expected
        c.calls.clear()
        event = QDropEvent(
            QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )  # fmt: skip
        win.dropEvent(event)
        assert c.calls == ([("open_folder", expected)] if expected else [])


def test_f11_toggles_full_screen(qtbot, window) -> None:
    win, _c = window
    win.a_fullscreen.trigger()
    qtbot.waitUntil(win.isFullScreen)
    win.a_fullscreen.trigger()
    qtbot.waitUntil(lambda: not win.isFullScreen())
    assert any("F11" in k for k, _ in win.shortcut_rows())
