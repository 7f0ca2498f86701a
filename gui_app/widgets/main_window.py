"""The main window: over 400 lines as it wires every widget to every controller signal (no logic).

Label keys (1-9, Enter/Return/Space, Backspace/Delete, S) are window-wide QAction shortcuts.
The grid ignores those keys, and the new-class field claims Enter/Escape in ShortcutOverride
(QLineEdit already claims digits, letters, Space and Backspace), so while it has focus the keys
type text instead of labelling.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QMimeData, QSettings, Qt
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QImage,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QMenu,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from gui_app import __version__
from gui_app.qt.api import ControllerAPI
from gui_app.qt.i18n import plural
from gui_app.qt.orders import ORDER_TEXT, order_text
from gui_app.qt.viewstate import ClassRow, CurrentImage, GridFilter, StatusInfo
from gui_app.widgets.dialogs import (
    ShortcutsDialog,
    UnreadableDialog,
    ask_project_location,
    shortcut_rows,
    show_about,
)
from gui_app.widgets.export_menu import build_export_menu
from gui_app.widgets.filter_bar import FilterBar
from gui_app.widgets.image_grid import DEFAULT_THUMB, EmptyGridState, ImageGrid
from gui_app.widgets.image_view import ImageView
from gui_app.widgets.insight_panel import InsightPanel
from gui_app.widgets.key_guard import guarded, press_focused_control, typing_focus
from gui_app.widgets.label_panel import LabelPanel
from gui_app.widgets.prob_bars import ProbabilityBars
from gui_app.widgets.review_bars import SuspectBar, ThresholdBar
from gui_app.widgets.status_bar import LoupeStatusBar
from gui_app.widgets.window_dialogs import (
    ask_import_source,
    ask_open_folder,
    confirm_import,
    edit_settings,
    fill_recent_menu,
    run_split_dialog,
)
from gui_app.widgets.window_menus import build_menu_bar
from gui_app.widgets.window_state import (
    WindowParts,
    dropped_folder,
    restore_window,
    save_window,
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

    def __init__(
        self, controller: ControllerAPI, parent: QWidget | None = None, *, log_path: str = ""
    ) -> None:
        super().__init__(parent)
        self._log_path = log_path
        apply_platform_style()
        self._c = controller
        self._qs = getattr(controller.settings, "q", None) or QSettings("Loupe", "Loupe")
        self._folder = ""
        self._current: CurrentImage | None = None
        self._unreadable: list[tuple[str, str]] = []
        self._unreadable_dialog: UnreadableDialog | None = None
        self._preview: tuple[str, QImage | None, str | None] | None = None
        self._showing_error = False
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)  # drop a folder (or files in one) to open it
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
        self.filter_menu = QMenu(self.tr("&Show"), self)
        self.filter_bar = FilterBar(self.filter_menu)
        self.grid_bar = self.filter_bar
        self.filter_combo = self.filter_bar.filter_combo
        self.sort_combo = self.filter_bar.sort_combo

        self.empty_state = EmptyGridState()
        self.grid_stack = QStackedWidget()
        self.grid_stack.addWidget(self.empty_state)
        self.grid_stack.addWidget(self.grid)
        left = QWidget()
        left_box = QVBoxLayout(left)
        left_box.setContentsMargins(0, 0, 0, 0)
        left_box.setSpacing(0)
        left_box.addWidget(self.grid_bar)
        self.threshold_bar = ThresholdBar()
        self.suspect_bar = SuspectBar()
        for bar in (self.threshold_bar, self.suspect_bar):
            bar.hide()
            left_box.addWidget(bar)
        left_box.addWidget(self.grid_stack, 1)

        self.image_view = ImageView()
        self.image_view.set_key_fallback(self.grid)  # arrows move the grid unless zoomed in
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
        self.insight_panel = InsightPanel()
        self.insight_dock = QDockWidget(self.tr("Insight"), self)
        self.insight_dock.setObjectName("insight_dock")  # saveState/restoreState key
        self.insight_dock.setWidget(self.insight_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.insight_dock)
        self.insight_dock.hide()

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
        self.a_open = self._act(self.tr("&Open Folder…"), self._open_folder_dialog, [std.Open])
        self.a_unreadable = self._act(self.tr("Show &Unreadable Images…"), self._show_unreadable)
        self.a_import_csv = self._act(self.tr("Import Labels from &CSV…"), self._import_csv)
        self.a_import_folders = self._act(
            self.tr("Import Labels from Class &Folders…"), self._import_folders
        )
        self.a_fit_final = self._act(self.tr("&Fit Final Model"), c.fit_final_model)
        self.a_fit_final.setToolTip(
            self.tr("An offline logistic regression on every label (cross-validated), to export")
        )
        self.a_settings = self._act(self.tr("&Settings…"), self._open_settings, ["Ctrl+,"])
        self.a_close = self._act(self.tr("&Close Folder"), c.close_project, [std.Close])
        self.a_quit = self._act(self.tr("&Quit"), self.close, ["Ctrl+Q"])
        self.a_undo = self._act(self.tr("&Undo"), c.undo, [std.Undo])
        self.a_redo = self._act(self.tr("&Redo"), c.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
        self.a_remove = self._act(
            self.tr("&Remove Label"), guarded(c.remove_label), ["Backspace", "Delete"]
        )
        self.a_skip = self._act(self.tr("&Skip"), guarded(c.skip), ["S"])
        self.a_unsure = self._act(self.tr("Mark &Unsure (toggle)"), guarded(c.mark_unsure), ["U"])
        self.a_confirm = self._act(
            self.tr("&Confirm Suggestion"), self._on_confirm_key, ["Return", "Enter", "Space"]
        )
        self.a_assign = [
            self._act(f"&{n}", guarded(lambda n=n: c.assign_shortcut(n)), [str(n)])
            for n in range(1, 10)
        ]
        self.a_new_class = self._act(
            self.tr("&New Class…"), self.label_panel.focus_new_class, ["Ctrl+N"]
        )
        self.a_zoom_in = self._act(
            self.tr("Larger Thumbnails"), lambda: self.grid.zoom(1), ["Ctrl+=", "Ctrl++"]
        )
        self.a_zoom_out = self._act(
            self.tr("Smaller Thumbnails"), lambda: self.grid.zoom(-1), ["Ctrl+-"]
        )
        self.a_insight = self.insight_dock.toggleViewAction()
        self.a_insight.setText(self.tr("&Insight Panel"))
        self.a_insight.setShortcut(QKeySequence("Ctrl+I"))
        self.addAction(self.a_insight)
        self.a_fullscreen = self._act(
            self.tr("&Full Screen"),
            self._toggle_fullscreen,
            [std.FullScreen, "F11"],
            checkable=True,
        )
        self.a_zoom_reset = self._act(
            self.tr("Default Thumbnail Size"),
            lambda: self.grid.set_thumbnail_size(DEFAULT_THUMB),
            ["Ctrl+0"],
        )
        self.a_pause = self._act(
            self.tr("&Pause Extraction"), self._on_pause_action, checkable=True
        )
        self.a_cancel = self._act(self.tr("&Cancel Extraction"), c.cancel_extraction)
        self.a_shortcuts = self._act(
            self.tr("&Keyboard Shortcuts…"), self._show_shortcuts, [std.HelpContents]
        )
        self.a_about = self._act(
            self.tr("&About Loupe"), lambda: show_about(self, __version__, self._about_lines())
        )
        self.a_more_like = self._act(self.tr("&More Like This"), guarded(c.more_like_this), ["M"])
        self.a_more_like.setToolTip(
            self.tr("The unlabelled images most like this one (or the selection)")
        )
        self.a_threshold = self._act(
            self.tr("Accept Predictions Above a &Threshold…"), guarded(c.start_threshold), ["T"]
        )
        self.a_suspects = self._act(
            self.tr("Review &Suspect Labels"), c.show_suspects, ["Ctrl+Shift+S"]
        )
        self.a_next_image = self._act(
            self.tr("&Next (the model picks)"), guarded(c.next_image), ["N"]
        )
        self.a_next_image.setToolTip(self.tr("Show the image that teaches the model most (N)"))
        self.a_next_image.setIconText(self.tr("Next ▶"))
        self.order_group = QActionGroup(self)
        self.a_orders = {}
        for order in ORDER_TEXT:
            action = self._act(
                order_text(order), lambda _=False, o=order: c.set_order(o), checkable=True
            )
            self.order_group.addAction(action)
            self.a_orders[order] = action
        self.filter_bar.add_next_action(self.a_next_image)
        self._on_order_changed(c.settings.advance)
        self.a_undo.setEnabled(False)
        self.a_redo.setEnabled(False)
        self.a_unreadable.setEnabled(False)

    def _build_menus(self) -> None:
        export_menu = build_export_menu(self, self._c, self._export_start_dir)
        self.recent_menu, self.assign_menu = build_menu_bar(self, export_menu)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._update_assign_menu([])

    def _connect(self) -> None:
        c = self._c
        self.grid.current_row_changed.connect(c.set_current_row)
        self.grid.visible_range_changed.connect(c.set_visible_rows)
        self.filter_bar.filter_chosen.connect(self._on_filter_chosen)
        self.filter_bar.sort_chosen.connect(self._on_sort_chosen)
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
            (c.busy, self.status.set_busy),
            (c.filter_changed, self.filter_bar.show_filter),
            (c.order_changed, self._on_order_changed),
            (self.grid.selection_changed, c.set_selection),
            (c.selection_requested, self.grid.select_rows),
            (c.threshold_view, self._on_threshold_view),
            (c.suspect_view, self._on_suspect_view),
            (c.split_view, self._on_split_view),
            (c.import_preview, self._on_import_preview),
            (self.threshold_bar.class_changed, c.start_threshold),
            (self.threshold_bar.threshold_changed, c.set_threshold),
            (self.threshold_bar.accept_requested, lambda _label, _t: c.accept_threshold()),
            (self.threshold_bar.cancelled, c.close_threshold),
            (self.suspect_bar.keep_requested, c.keep_label),
            (self.suspect_bar.previous_requested, lambda: c.move(-1)),
            (self.suspect_bar.next_requested, lambda: c.move(1)),
            (self.suspect_bar.closed, c.close_suspects),
            (self.label_panel.split_requested, c.split_class),
            (self.label_panel.accept_requested, c.start_threshold),
            (c.insight_changed, self.insight_panel.set_insight),
            (self.image_view.full_resolution_wanted, c.request_full_image),
            (c.full_image_ready, self.image_view.set_full_image),
            (self.image_view.reference_toggled, c.set_reference_visible),
            (c.reference_ready, self.image_view.set_reference),
            (self.insight_panel.cell_clicked, c.show_confusion_cell),
            (self.insight_dock.visibilityChanged, c.set_insight_visible),
            (self.insight_panel.exported, self._on_insight_exported),
            (c.read_only_folder, self._on_read_only_folder),
        ):
            signal.connect(slot)

    def _on_confirm_key(self) -> None:
        """Enter/Space: confirm, unless a button or combo has focus (then it acts natively)."""
        if not press_focused_control() and not typing_focus():
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
            self.image_view.set_image(None, self.tr("No image matches this filter"))
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
            parts.append(self.tr("labeled {label}").format(label=cur.label))
        if cur.pick:
            parts.append(self.tr("shown because {reason}").format(reason=cur.pick))
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
        none = self.tr("(no class)")
        for n, action in enumerate(self.a_assign, start=1):
            name = by_key.get(n)
            # '&&' keeps a literal '&' in class names from becoming a mnemonic.
            action.setText(f"&{n}  {name.replace('&', '&&') if name else none}")
            action.setEnabled(name is not None)

    def _on_status(self, info: StatusInfo) -> None:
        self.status.set_status(info)
        self.label_panel.set_accuracy(
            info.accuracy_recent, info.accuracy_n, info.audit_accuracy, info.audit_n
        )
        self.label_panel.set_labeled_count(info.labeled)
        running = info.state in ("scanning", "loading model", "extracting", "paused")
        self.a_pause.blockSignals(True)
        self.a_pause.setChecked(info.state == "paused")
        self.a_pause.blockSignals(False)
        self.a_pause.setText(
            self.tr("&Resume Extraction")
            if info.state == "paused"
            else self.tr("&Pause Extraction")
        )
        self.a_pause.setEnabled(running)
        self.a_cancel.setEnabled(running)

    def _on_threshold_view(self, view) -> None:
        if view is None:
            self.threshold_bar.hide()
            self._focus_grid()
            return
        self.threshold_bar.set_view(view)
        self.threshold_bar.show()

    def _on_suspect_view(self, view) -> None:
        if view is None:
            self.suspect_bar.hide()
            return
        self.suspect_bar.set_view(view)
        self.suspect_bar.show()

    def _import_csv(self) -> None:
        source = ask_import_source(self, self._export_start_dir(), folders=False)
        if source:
            self._c.plan_import(source)

    def _import_folders(self) -> None:
        source = ask_import_source(self, self._export_start_dir(), folders=True)
        if source:
            self._c.plan_import(source)

    def _on_import_preview(self, preview) -> None:
        if confirm_import(self, preview):
            self._c.apply_import()

    def _on_split_view(self, view) -> None:
        run_split_dialog(self, view, self._c.preview_split, self._c.apply_split)

    def _on_order_changed(self, order: str) -> None:
        action = self.a_orders.get(order) or self.a_orders["teach"]
        action.setChecked(True)
        self.filter_bar.show_order(order_text(order))

    def _on_insight_exported(self, files: list) -> None:
        if files:
            n, where = len(files), str(Path(str(files[0])).parent)
            text = plural(
                n,
                self.tr("Exported {n} file to {folder}", "", n),
                self.tr("Exported {n} files to {folder}", "", n),
            )
            self.status.show_message(text.format(folder=where), 8000)

    def _on_pause_action(self, checked: bool) -> None:
        self._c.pause_extraction(bool(checked))

    def _on_error(self, title: str, text: str) -> None:
        self.status.show_message(self.tr("{title}: {text}").format(title=title, text=text), 10000)
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
        """Offer the controller's filters; fall back to all images when the chosen one is gone."""
        kept = self.filter_bar.set_options(list(self._c.filter_options()) if self._folder else [])
        if not kept and self._folder:  # its class is gone
            self.filter_bar.choose(0)

    def _on_filter_chosen(self, grid_filter: GridFilter) -> None:
        if self._folder:
            self._c.set_grid_filter(grid_filter)
        self._focus_grid()

    def _on_sort_chosen(self, kind: str) -> None:
        if self._folder:
            self._c.set_sort(kind)
        self._focus_grid()

    # ================================================================ dialogs
    def _open_folder_dialog(self) -> None:
        folder = ask_open_folder(self, self._folder or str(Path.home()))
        if folder:
            self._c.open_folder(folder)

    def _about_lines(self) -> list[str]:
        lines = list(self._c.about_lines())
        log = self.tr("Log file: {path}").format(path=self._log_path)
        return [*lines, log] if self._log_path else lines

    def _export_start_dir(self) -> str:
        return str(Path(self._folder).parent) if self._folder else str(Path.home())

    def _fill_recent(self) -> None:
        # Stale folders are dropped by AppSettings.recent().
        fill_recent_menu(self.recent_menu, list(self._c.settings.recent()), self._c.open_folder)

    def _show_unreadable(self) -> None:
        if self._unreadable_dialog is None:
            self._unreadable_dialog = UnreadableDialog(self._unreadable, self)
        self._unreadable_dialog.set_items(self._unreadable)
        self._unreadable_dialog.show()
        self._unreadable_dialog.raise_()

    def _open_settings(self) -> None:
        now = self._c.current_settings()
        chosen = edit_settings(self, now, self._c.order(), self._c.scheduler_problem)
        if chosen is None:
            return
        self._c.set_order(chosen["advance"])
        self._c.set_scheduler(chosen["scheduler"])
        keys = ("backbone", "weights", "learner", "engine")
        if any(chosen[k] != now[k] for k in keys):
            self._c.apply_settings(*(chosen[k] for k in keys))

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(keys, action) rows of the Keyboard Shortcuts dialog."""
        rows = [
            ("1 … 9", self.tr("Assign the class with that number")),
            (self.tr("Arrows, Page Up/Down, Home/End"), self.tr("Move through the grid")),
        ]
        rows += shortcut_rows([a for a in self.actions() if a not in self.a_assign])
        rows += [r for r in self.image_view.shortcut_rows() if r not in rows]
        return [*rows, (self.tr("Escape (in the new-class field)"), self.tr("Back to the grid"))]

    def _show_shortcuts(self) -> None:
        ShortcutsDialog(self.shortcut_rows(), self).exec()

    # ============================================================ window state
    def _remembered_parts(self) -> WindowParts:
        splits = {
            "window/main_split": (self.main_split, [550, 450]),
            "window/right_split": (self.right_split, [500, 200, 300]),
        }
        return WindowParts(self, splits, self.grid, self.filter_bar, self.image_view)

    def _restore_state(self) -> None:
        restore_window(self._qs, self._remembered_parts())

    def save_state(self) -> None:
        save_window(self._qs, self._remembered_parts())

    # ============================================================ desktop
    def _toggle_fullscreen(self, on: bool) -> None:
        """F11: full screen and back to the window's previous state (maximised or not)."""
        state = self.windowState()
        if on:
            self.setWindowState(state | Qt.WindowState.WindowFullScreen)
        else:
            self.setWindowState(state & ~Qt.WindowState.WindowFullScreen)

    @staticmethod
    def dropped_folder(mime: QMimeData) -> str | None:
        """The folder a drop means (see :func:`gui_app.widgets.window_state.dropped_folder`)."""
        return dropped_folder(mime)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.dropped_folder(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        folder = self.dropped_folder(event.mimeData())
        if folder is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self._c.open_folder(folder)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        self._c.shutdown()
        event.accept()
