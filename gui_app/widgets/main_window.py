"""The main window: wires the widgets to the controller's signals and slots (no logic here).

Label keys (1-9, Enter/Return/Space, Backspace/Delete, S) are window-wide QAction shortcuts.
The grid ignores those keys, and the new-class field claims Enter/Escape in ShortcutOverride
(QLineEdit already claims digits, letters, Space and Backspace), so while it has focus the keys
type text instead of labelling.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QImage, QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTextEdit,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from gui_app import __version__
from gui_app.qt.viewstate import ClassRow, CurrentImage, StatusInfo
from gui_app.widgets.dialogs import (
    BusyProgress,
    SettingsDialog,
    ShortcutsDialog,
    UnreadableDialog,
    ask_project_location,
    shortcut_rows,
    show_about,
)
from gui_app.widgets.export_menu import build_export_menu
from gui_app.widgets.image_grid import DEFAULT_THUMB, EmptyGridState, ImageGrid
from gui_app.widgets.image_view import ImageView
from gui_app.widgets.label_panel import LabelPanel
from gui_app.widgets.prob_bars import ProbabilityBars
from gui_app.widgets.status_bar import LoupeStatusBar

SORTS = (
    ("name", "Name"),
    ("confidence", "Least confident first"),
    ("predicted", "Predicted class"),
)
APP_TITLE = "Loupe"


def apply_platform_style(app: QApplication | None = None) -> None:
    """Use Fusion on Linux (native styles elsewhere); idempotent."""
    app = app or QApplication.instance()
    if app is not None and sys.platform.startswith("linux"):
        if app.style().name().lower() != "fusion":
            app.setStyle("Fusion")


class MainWindow(QMainWindow):
    """Grid | (preview / probability bars / label panel), menus, status bar."""

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        apply_platform_style()
        self._c = controller
        settings = getattr(controller, "settings", None)
        self._qs = getattr(settings, "q", None) or QSettings("Loupe", "Loupe")
        self._folder = ""
        self._current: CurrentImage | None = None
        self._unreadable: list[tuple[str, str]] = []
        self._unreadable_dialog: UnreadableDialog | None = None
        self._busy = BusyProgress(self, APP_TITLE)
        self._preview: tuple[str, QImage | None, str | None] | None = None
        self._showing_error = False
        self.setWindowTitle(APP_TITLE)
        self._build_widgets()
        self._build_actions()
        self._build_menus()
        self._connect()
        self._restore_state()
        self._refresh_filters()
        self._show_empty()

    # ================================================================= building
    def _build_widgets(self) -> None:
        self.grid = ImageGrid()
        self.grid.setModel(self._c.model)
        badges = getattr(self._c.model, "badges_changed", None)
        if badges is not None:
            badges.connect(self.grid.viewport().update)
        self.filter_combo = QComboBox()
        self.filter_combo.setToolTip("Which images the grid shows")
        self.filter_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.filter_combo.setMinimumContentsLength(16)
        self.sort_combo = QComboBox()
        self.sort_combo.setToolTip("Order of the grid")
        for kind, text in SORTS:
            self.sort_combo.addItem(text, kind)
        self.grid_bar = QToolBar("Grid")
        self.grid_bar.setMovable(False)
        self.grid_bar.addWidget(QLabel(" Show: "))
        self.grid_bar.addWidget(self.filter_combo)
        self.grid_bar.addWidget(QLabel("  Sort: "))
        self.grid_bar.addWidget(self.sort_combo)

        self.empty_state = EmptyGridState()
        self.grid_stack = QStackedWidget()
        self.grid_stack.addWidget(self.empty_state)
        self.grid_stack.addWidget(self.grid)
        left = QWidget()
        left_box = QVBoxLayout(left)
        left_box.setContentsMargins(0, 0, 0, 0)
        left_box.setSpacing(0)
        left_box.addWidget(self.grid_bar)
        left_box.addWidget(self.grid_stack, 1)

        self.image_view = ImageView()
        self.bars = ProbabilityBars()
        self.bars_scroll = QScrollArea()
        self.bars_scroll.setWidget(self.bars)
        self.bars_scroll.setWidgetResizable(True)
        self.bars_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.bars_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.label_panel = LabelPanel()
        self.right_split = QSplitter(Qt.Orientation.Vertical)
        self.right_split.addWidget(self.image_view)
        self.right_split.addWidget(self.bars_scroll)
        self.right_split.addWidget(self.label_panel)
        self.right_split.setStretchFactor(0, 5)
        self.right_split.setStretchFactor(1, 2)
        self.right_split.setStretchFactor(2, 3)
        self.right_split.setChildrenCollapsible(False)
        self.main_split = QSplitter(Qt.Orientation.Horizontal)
        self.main_split.addWidget(left)
        self.main_split.addWidget(self.right_split)
        self.main_split.setStretchFactor(0, 3)
        self.main_split.setStretchFactor(1, 2)
        self.main_split.setChildrenCollapsible(False)
        self.setCentralWidget(self.main_split)
        self.status = LoupeStatusBar()
        self.setStatusBar(self.status)

    def _act(self, text: str, slot, shortcuts=(), checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcuts:
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.addAction(action)  # window-wide even when its menu is hidden
        return action

    def _build_actions(self) -> None:
        c = self._c
        std = QKeySequence.StandardKey
        self.a_open = self._act("&Open Folder…", self._open_folder_dialog, [std.Open])
        self.a_unreadable = self._act("Show &Unreadable Images…", self._show_unreadable)
        self.a_settings = self._act("&Settings…", self._open_settings, ["Ctrl+,"])
        self.a_close = self._act("&Close Folder", c.close_project, [std.Close])
        self.a_quit = self._act("&Quit", self.close, ["Ctrl+Q"])
        self.a_undo = self._act("&Undo", c.undo, [std.Undo])
        self.a_redo = self._act("&Redo", c.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
        self.a_remove = self._act(
            "&Remove Label", self._guard(c.remove_label), ["Backspace", "Delete"]
        )
        self.a_skip = self._act("&Skip", self._guard(c.skip), ["S"])
        self.a_confirm = self._act(
            "&Confirm Suggestion", self._on_confirm_key, ["Return", "Enter", "Space"]
        )
        self.a_assign = [
            self._act(f"&{n}", self._guard(lambda n=n: c.assign_shortcut(n)), [str(n)])
            for n in range(1, 10)
        ]
        self.a_new_class = self._act("&New Class…", self.label_panel.focus_new_class, ["Ctrl+N"])
        self.a_zoom_in = self._act(
            "Larger Thumbnails", lambda: self.grid.zoom(1), ["Ctrl+=", "Ctrl++"]
        )
        self.a_zoom_out = self._act("Smaller Thumbnails", lambda: self.grid.zoom(-1), ["Ctrl+-"])
        self.a_zoom_reset = self._act(
            "Default Thumbnail Size",
            lambda: self.grid.set_thumbnail_size(DEFAULT_THUMB),
            ["Ctrl+0"],
        )
        self.a_pause = self._act("&Pause Extraction", self._on_pause_action, checkable=True)
        self.a_cancel = self._act("&Cancel Extraction", c.cancel_extraction)
        self.a_shortcuts = self._act(
            "&Keyboard Shortcuts…", self._show_shortcuts, [std.HelpContents]
        )
        self.a_about = self._act(
            "&About Loupe", lambda: show_about(self, __version__, self._c.about_lines())
        )
        self.advance_group = QActionGroup(self)
        self.a_next = self._act(
            "After Action: Next Image", lambda: c.set_advance("next"), checkable=True
        )
        self.a_next_unlabeled = self._act(
            "After Action: Next Unlabeled Image",
            lambda: c.set_advance("next-unlabeled"),
            checkable=True,
        )
        for action in (self.a_next, self.a_next_unlabeled):
            self.advance_group.addAction(action)
        mode = getattr(getattr(c, "settings", None), "advance", "next")
        (self.a_next_unlabeled if mode == "next-unlabeled" else self.a_next).setChecked(True)
        self.a_undo.setEnabled(False)
        self.a_redo.setEnabled(False)
        self.a_unreadable.setEnabled(False)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        m.addAction(self.a_open)
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m.addAction(self.a_close)
        m.addSeparator()
        m.addMenu(build_export_menu(self, self._c))
        m.addAction(self.a_unreadable)
        m.addAction(self.a_settings)
        m.addSeparator()
        m.addAction(self.a_quit)
        m = bar.addMenu("&Edit")
        for a in (self.a_undo, self.a_redo, None, self.a_remove, self.a_skip):
            m.addSeparator() if a is None else m.addAction(a)
        m = bar.addMenu("&Label")
        m.addAction(self.a_confirm)
        self.assign_menu = m.addMenu("&Assign")
        for a in self.a_assign:
            self.assign_menu.addAction(a)
        m.addAction(self.a_new_class)
        m = bar.addMenu("&View")
        self.filter_menu = m.addMenu("&Show")
        self.filter_group = QActionGroup(self)
        m.addSeparator()
        m.addAction(self.a_next)
        m.addAction(self.a_next_unlabeled)
        m.addSeparator()
        for a in (self.a_zoom_in, self.a_zoom_out, self.a_zoom_reset):
            m.addAction(a)
        m = bar.addMenu("E&xtraction")
        m.addAction(self.a_pause)
        m.addAction(self.a_cancel)
        m = bar.addMenu("&Help")
        m.addAction(self.a_shortcuts)
        m.addAction(self.a_about)
        self._update_assign_menu([])

    def _connect(self) -> None:
        c = self._c
        self.grid.current_row_changed.connect(c.set_current_row)
        self.grid.visible_range_changed.connect(c.set_visible_rows)
        self.filter_combo.activated.connect(self._on_filter_chosen)
        self.sort_combo.activated.connect(self._on_sort_chosen)
        self.empty_state.open_clicked.connect(self._open_folder_dialog)
        p = self.label_panel
        for signal, slot in (
            (p.class_clicked, c.assign_class),
            (p.new_class_entered, c.assign_class),
            (p.focus_grid_requested, self._focus_grid),
            (p.rename_requested, c.rename_class),
            (p.merge_requested, c.merge_classes),
            (p.recolor_requested, c.recolor_class),
            (p.delete_requested, c.delete_class),
            (p.confirm_clicked, c.confirm),
            (p.skip_clicked, c.skip),
            (p.remove_clicked, c.remove_label),
            (p.undo_clicked, c.undo),
            (p.redo_clicked, c.redo),
            (self.status.pause_toggled, c.pause_extraction),
            (self.status.cancel_clicked, c.cancel_extraction),
            (c.project_opened, self._on_project_opened),
            (c.project_closed, self._on_project_closed),
            (c.current_changed, self._on_current_changed),
            (c.preview_ready, self._on_preview_ready),
            (c.bars_changed, self.bars.set_bars),
            (c.classes_changed, self._on_classes_changed),
            (c.status_changed, self._on_status),
            (c.message, self.status.show_message),
            (c.error, self._on_error),
            (c.undo_state_changed, self._on_undo_state),
            (c.unreadable_changed, self._on_unreadable),
            (c.busy, self._busy.update),
            (c.read_only_folder, self._on_read_only_folder),
        ):
            signal.connect(slot)

    # ================================================================ key guard
    def _typing(self) -> bool:
        """True while a text-entry widget has focus (label keys must type there)."""
        w = QApplication.focusWidget()
        if isinstance(w, QLineEdit | QTextEdit | QPlainTextEdit | QAbstractSpinBox):
            return True
        return isinstance(w, QComboBox) and w.isEditable()

    def _guard(self, slot):
        def run(*_args: object) -> None:
            if not self._typing():
                slot()

        return run

    def _on_confirm_key(self) -> None:
        """Enter/Space: confirm, unless a button or combo has focus (then it acts natively)."""
        w = QApplication.focusWidget()
        if isinstance(w, QAbstractButton):
            w.animateClick()
        elif isinstance(w, QComboBox) and not w.isEditable():
            w.showPopup()
        elif not self._typing():
            self._c.confirm()

    def _focus_grid(self) -> None:
        if self.grid_stack.currentWidget() is self.grid:
            self.grid.setFocus(Qt.FocusReason.OtherFocusReason)

    # =========================================================== controller → UI
    def _on_project_opened(self, folder: str) -> None:
        self._folder = folder
        self.grid_stack.setCurrentWidget(self.grid)
        self.grid_bar.setEnabled(True)
        self._refresh_filters()
        self._update_title()
        self._focus_grid()

    def _on_project_closed(self) -> None:
        self._folder = ""
        self._current = None
        self._preview = None
        self._show_empty()
        self._refresh_filters()

    def _show_empty(self) -> None:
        if self._folder:
            return
        self.grid_stack.setCurrentIndex(0)
        self.grid_bar.setEnabled(False)
        self.image_view.set_image(None)
        self.bars.set_bars([], None, "")  # the preview already says how to start
        self._update_title()

    def _on_current_changed(self, current: CurrentImage) -> None:
        self._current = current
        self.grid.select_row(current.row)
        self.label_panel.set_current_label(current.label)
        if current.row < 0 and self._folder:
            self._preview = None
            self.image_view.set_image(None, "No image matches this filter")
        elif (
            self._preview is not None
            and self._preview[0] == current.path
            and self.image_view.caption() != self._caption()
        ):
            # Same image, new state (label changed, undo): refresh the caption only.
            self.image_view.set_image(self._preview[1], self._caption(), self._preview[2])
        self._update_title()

    def _caption(self) -> str:
        cur = self._current
        if cur is None or not cur.path:
            return ""
        parts = [cur.path, cur.position]
        if cur.label:
            parts.append(f"labeled {cur.label}")
        return "  ·  ".join(p for p in parts if p)

    def _on_preview_ready(self, path: str, image, error: str) -> None:
        if self._current is not None and path != self._current.path:
            return
        image = image if isinstance(image, QImage) else None
        self._preview = (path, image, error or None)
        self.image_view.set_image(image, self._caption(), error or None)

    def _update_title(self) -> None:
        parts = [APP_TITLE]
        if self._folder:
            parts.append(Path(self._folder).name or self._folder)
            if self._current is not None and self._current.name:
                parts.append(self._current.name)
        self.setWindowTitle(" — ".join(parts))

    def _on_classes_changed(self, rows: list[ClassRow]) -> None:
        self.label_panel.set_classes(rows)
        key = [(r.name, r.shortcut) for r in rows]
        if key != getattr(self, "_class_key", None):  # counts alone leave menus as they are
            self._class_key = key
            self._update_assign_menu(rows)
            self._refresh_filters()

    def _update_assign_menu(self, rows: list[ClassRow]) -> None:
        by_key = {r.shortcut: r.name for r in rows if r.shortcut is not None}
        for n, action in enumerate(self.a_assign, start=1):
            name = by_key.get(n)
            # '&&' keeps a literal '&' in class names from becoming a mnemonic.
            action.setText(f"&{n}  {name.replace('&', '&&')}" if name else f"&{n}  (no class)")
            action.setEnabled(name is not None)

    def _on_status(self, info: StatusInfo) -> None:
        self.status.set_status(info)
        self.label_panel.set_accuracy(info.accuracy_recent, info.accuracy_n)
        self.label_panel.set_labeled_count(info.labeled)
        running = info.state in ("scanning", "loading model", "extracting", "paused")
        self.a_pause.blockSignals(True)
        self.a_pause.setChecked(info.state == "paused")
        self.a_pause.blockSignals(False)
        self.a_pause.setText(
            "&Resume Extraction" if info.state == "paused" else "&Pause Extraction"
        )
        self.a_pause.setEnabled(running)
        self.a_cancel.setEnabled(running)

    def _on_pause_action(self, checked: bool) -> None:
        self._c.pause_extraction(bool(checked))

    def _on_error(self, title: str, text: str) -> None:
        self.status.show_message(f"{title}: {text}", 10000)
        if self._showing_error:  # one dialog at a time; the rest only in the status bar
            return
        self._showing_error = True
        try:
            QMessageBox.warning(self, title, text)
        finally:
            self._showing_error = False

    def _on_undo_state(self, can_undo: bool, can_redo: bool) -> None:
        self.a_undo.setEnabled(can_undo)
        self.a_redo.setEnabled(can_redo)
        self.label_panel.set_undo_state(can_undo, can_redo)

    def _on_unreadable(self, items: list) -> None:
        self._unreadable = [(str(p), str(r)) for p, r in items]
        self.a_unreadable.setEnabled(bool(self._unreadable))
        if self._unreadable_dialog is not None:
            self._unreadable_dialog.set_items(self._unreadable)

    def _on_read_only_folder(self, folder: str, reason: str, suggested: str) -> None:
        chosen = ask_project_location(self, folder, reason, suggested)
        if chosen:
            self._c.open_folder(folder, chosen)

    # ================================================================ filters
    def _refresh_filters(self) -> None:
        current = self.filter_combo.currentData()  # 'kind\x1fvalue' strings compare reliably
        options = list(self._c.filter_options()) if self._folder else []
        if not options:
            options = [("all", None, "All images")]
        self.filter_combo.blockSignals(True)
        self.filter_combo.clear()
        for kind, value, text in options:
            self.filter_combo.addItem(text, f"{kind}\x1f{value or ''}")
        i = self.filter_combo.findData(current) if current is not None else 0
        self.filter_combo.setCurrentIndex(max(0, i))
        self.filter_combo.blockSignals(False)
        self.filter_menu.clear()
        for action in self.filter_group.actions():
            self.filter_group.removeAction(action)
        for n, (_kind, _value, text) in enumerate(options):
            action = QAction(text.replace("&", "&&"), self.filter_menu, checkable=True)
            action.setChecked(n == self.filter_combo.currentIndex())
            action.triggered.connect(lambda _=False, n=n: self._choose_filter(n))
            self.filter_group.addAction(action)
            self.filter_menu.addAction(action)
        if current is not None and i < 0 and self._folder:  # its class is gone
            self._choose_filter(0)

    def _choose_filter(self, index: int) -> None:
        self.filter_combo.setCurrentIndex(index)
        self._on_filter_chosen(index)

    def _on_filter_chosen(self, index: int) -> None:
        kind, _, value = str(self.filter_combo.itemData(index) or "all\x1f").partition("\x1f")
        actions = self.filter_group.actions()
        if 0 <= index < len(actions):
            actions[index].setChecked(True)
        if self._folder:
            self._c.set_filter(kind, value or None)
        self._focus_grid()

    def _on_sort_chosen(self, index: int) -> None:
        if self._folder:
            self._c.set_sort(str(self.sort_combo.itemData(index)))
        self._focus_grid()

    # ================================================================ dialogs
    def _open_folder_dialog(self) -> None:
        start = self._folder or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", start)
        if folder:
            self._c.open_folder(folder)

    def _recent(self) -> list[str]:
        settings = getattr(self._c, "settings", None)
        return list(settings.recent()) if settings is not None else []

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self._recent()  # stale folders are dropped by AppSettings.recent()
        for n, folder in enumerate(recent, start=1):
            prefix = f"&{n % 10}  " if n <= 10 else ""
            action = self.recent_menu.addAction(prefix + folder.replace("&", "&&"))
            action.setToolTip(folder)
            action.triggered.connect(lambda _=False, f=folder: self._c.open_folder(f))
        if not recent:
            self.recent_menu.addAction("No recent folders").setEnabled(False)

    def _show_unreadable(self) -> None:
        if self._unreadable_dialog is None:
            self._unreadable_dialog = UnreadableDialog(self._unreadable, self)
        self._unreadable_dialog.set_items(self._unreadable)
        self._unreadable_dialog.show()
        self._unreadable_dialog.raise_()

    def _open_settings(self) -> None:
        now = self._c.current_settings()
        dialog = SettingsDialog(
            self,
            now["backbone"],
            now["weights"],
            now["learner"],
            "next-unlabeled" if self.a_next_unlabeled.isChecked() else "next",
        )
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return
        v = dialog.values()
        self._c.set_advance(v["advance"])
        (self.a_next_unlabeled if v["advance"] == "next-unlabeled" else self.a_next).setChecked(
            True
        )
        if (v["backbone"], v["weights"], v["learner"]) != (
            now["backbone"],
            now["weights"],
            now["learner"],
        ):
            self._c.apply_settings(v["backbone"], v["weights"], v["learner"])

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(keys, action) rows of the Keyboard Shortcuts dialog."""
        rows = [
            ("1 … 9", "Assign the class with that number"),
            ("Arrows, Page Up/Down, Home/End", "Move through the grid"),
        ]
        rows += shortcut_rows([a for a in self.actions() if a not in self.a_assign])
        return [*rows, ("Escape (in the new-class field)", "Back to the grid")]

    def _show_shortcuts(self) -> None:
        ShortcutsDialog(self.shortcut_rows(), self).exec()

    # ============================================================ window state
    def _restore_state(self) -> None:
        qs = self._qs
        geometry = qs.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            fm = self.fontMetrics()
            screen = self.screen().availableGeometry()
            self.resize(
                min(fm.averageCharWidth() * 230, screen.width() * 92 // 100),
                min(fm.height() * 70, screen.height() * 92 // 100),
            )
        state = qs.value("window/state")
        if state is not None:
            self.restoreState(state)
        for key, split in (
            ("window/main_split", self.main_split),
            ("window/right_split", self.right_split),
        ):
            value = qs.value(key)
            if value is None or not split.restoreState(value):  # proportions
                split.setSizes([550, 450] if split is self.main_split else [500, 200, 300])
        size = qs.value("grid/thumbnail_size", DEFAULT_THUMB)
        try:
            self.grid.set_thumbnail_size(int(size))
        except (TypeError, ValueError):
            self.grid.set_thumbnail_size(DEFAULT_THUMB)

    def save_state(self) -> None:
        qs = self._qs
        qs.setValue("window/geometry", self.saveGeometry())
        qs.setValue("window/state", self.saveState())
        qs.setValue("window/main_split", self.main_split.saveState())
        qs.setValue("window/right_split", self.right_split.saveState())
        qs.setValue("grid/thumbnail_size", self.grid.thumbnail_size())
        qs.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        self._busy.update("", 0, 0)
        self._c.shutdown()
        event.accept()
