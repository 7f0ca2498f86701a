"""The main window's small dialogs: choose a folder or file, confirm an import, settings.

Each function asks the user and returns the answer; the window passes it to the controller.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from gui_app.widgets.settings_dialog import SettingsDialog
from gui_app.widgets.split_dialog import SplitClassDialog


class WindowDialogs(QObject):
    """The translation context of these dialogs (``WindowDialogs.tr``; never instantiated)."""


def ask_open_folder(parent: QWidget, start: str) -> str | None:
    folder = QFileDialog.getExistingDirectory(
        parent, WindowDialogs.tr("Open a folder of images"), start
    )
    return folder or None


def ask_import_source(parent: QWidget, start: str, folders: bool) -> str | None:
    """A ``path,label`` CSV file, or (``folders``) a folder of class folders."""
    if folders:
        chosen = QFileDialog.getExistingDirectory(
            parent,
            WindowDialogs.tr("Import labels from class folders (FOLDER/<class>/<image>)"),
            start,
        )
    else:
        chosen, _ = QFileDialog.getOpenFileName(
            parent,
            WindowDialogs.tr("Import labels (CSV with path,label)"),
            start,
            "CSV (*.csv);;" + WindowDialogs.tr("All files (*)"),
        )
    return chosen or None


def confirm_import(parent: QWidget, preview) -> bool:
    """Show what an import would change (an ImportPreview); True when the user agrees."""
    details = "\n".join(preview.lines)
    if preview.to_label == 0:
        QMessageBox.information(
            parent,
            WindowDialogs.tr("Import labels"),
            WindowDialogs.tr("Nothing to import:\n\n{details}").format(details=details),
        )
        return False
    answer = QMessageBox.question(
        parent,
        WindowDialogs.tr("Import labels"),
        WindowDialogs.tr(
            "Import {n} labels from {source}?\n\n{details}\n\n"
            "This is one action: Undo takes it back.",
            "",
            preview.to_label,
        ).format(n=preview.to_label, source=preview.source, details=details),
    )
    return answer == QMessageBox.StandardButton.Yes


def run_split_dialog(
    parent: QWidget, view, preview: Callable[[int], None], split: Callable[[str, int], None]
) -> None:
    """The split-class dialog for a SplitView; its signals go to ``preview`` and ``split``."""
    dialog = SplitClassDialog(view, parent)
    dialog.preview_requested.connect(preview)
    dialog.split_requested.connect(split)
    dialog.exec()
    dialog.deleteLater()


def edit_settings(
    parent: QWidget,
    now: dict[str, str],
    order: str,
    check_scheduler: Callable[[str], str | None],
) -> dict[str, str] | None:
    """The Settings dialog on ``now`` (``current_settings()``) and the order; None: cancel."""
    dialog = SettingsDialog(
        parent,
        now["backbone"],
        now["weights"],
        now["learner"],
        order,
        engine=now["engine"],
        scheduler=now["scheduler"],
        check_scheduler=check_scheduler,
    )
    if dialog.exec() != SettingsDialog.DialogCode.Accepted:
        return None
    return dialog.values()


def fill_recent_menu(menu: QMenu, recent: list[str], open_folder: Callable[[str], object]) -> None:
    """Open Recent: numbered entries, newest first."""
    menu.clear()
    for n, folder in enumerate(recent, start=1):
        prefix = f"&{n % 10}  " if n <= 10 else ""
        action = menu.addAction(prefix + folder.replace("&", "&&"))
        action.setToolTip(folder)
        action.triggered.connect(lambda _=False, f=folder: open_folder(f))
    if not recent:
        menu.addAction(WindowDialogs.tr("No recent folders")).setEnabled(False)
