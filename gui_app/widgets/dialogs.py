"""Dialogs: unreadable images, project location, keyboard shortcuts, about.

User-provided text (paths, reasons, class names) is always shown as plain text.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


class Dialogs(QObject):
    """The translation context of this module's functions (``Dialogs.tr``; never instantiated)."""


class UnreadableDialog(QDialog):
    """Table of unreadable images (path, reason) with a copy-to-clipboard button."""

    def __init__(self, items: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Unreadable images"))
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels([self.tr("Path"), self.tr("Reason")])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)
        copy = QPushButton(self.tr("&Copy to Clipboard"))
        copy.clicked.connect(self.copy_to_clipboard)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        fm = self.fontMetrics()
        self.resize(fm.averageCharWidth() * 100, fm.height() * 24)
        self.set_items(items)

    def set_items(self, items: list[tuple[str, str]]) -> None:
        self._items = [(str(p), str(r)) for p, r in items]
        self.table.setRowCount(len(self._items))
        for row, (path, reason) in enumerate(self._items):
            for col, text in enumerate((path, reason)):
                cell = QTableWidgetItem(text)  # table items are always plain text
                cell.setToolTip("")
                self.table.setItem(row, col, cell)
        self.table.resizeColumnToContents(0)
        n = len(self._items)
        if n == 0:
            text = self.tr("All images could be read.")
        elif n == 1:
            text = self.tr("{n} image could not be read; they are skipped.", "", n)
        else:
            text = self.tr("{n} images could not be read; they are skipped.", "", n)
        self.summary.setText(text.replace("{n}", str(n)))

    def text(self) -> str:
        """Tab-separated 'path<TAB>reason' lines."""
        return "".join(f"{p}\t{r}\n" for p, r in self._items)

    def copy_to_clipboard(self) -> None:
        QApplication.clipboard().setText(self.text())


def ask_project_location(
    parent: QWidget | None, folder: str, reason: str, suggested: str
) -> str | None:
    """Ask where to keep the project of a read-only *folder*; the chosen directory or None."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(Dialogs.tr("Folder is read-only"))
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(Dialogs.tr("Loupe cannot write into this folder."))
    # No user text on the first line, so Qt never guesses rich text from a path.
    box.setInformativeText(
        Dialogs.tr(
            "Your labels and the feature cache need a writable project folder; the images stay "
            "where they are.\n\nFolder: {folder}\nReason: {reason}\n\n"
            "Suggested location:\n{suggested}"
        ).format(folder=folder, reason=reason, suggested=suggested)
    )
    fm = box.fontMetrics()
    shown = fm.elidedText(suggested, Qt.TextElideMode.ElideMiddle, fm.averageCharWidth() * 40)
    keep = box.addButton(
        Dialogs.tr("Keep project in: {folder}").format(folder=shown),
        QMessageBox.ButtonRole.AcceptRole,
    )
    choose = box.addButton(Dialogs.tr("Choose…"), QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep)
    while True:
        box.exec()
        clicked = box.clickedButton()
        if clicked is keep:
            return suggested
        if clicked is not choose:
            return None
        path = QFileDialog.getExistingDirectory(
            parent, Dialogs.tr("Keep the project in"), suggested
        )
        if path:
            return path


class ShortcutsDialog(QDialog):
    """Two-column list of keyboard shortcuts (keys, action)."""

    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Keyboard Shortcuts"))
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels([self.tr("Keys"), self.tr("Action")])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for row, (keys, action) in enumerate(rows):
            table.setItem(row, 0, QTableWidgetItem(keys))
            table.setItem(row, 1, QTableWidgetItem(action))
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(buttons)
        layout.addLayout(row)
        fm = self.fontMetrics()
        self.resize(fm.averageCharWidth() * 70, fm.height() * 30)
        self.table = table


def show_about(parent: QWidget | None, version: str, details: list[str] | None = None) -> None:
    """The About box; ``details`` are plain lines (library versions, the device in use)."""
    box = QMessageBox(parent)
    box.setWindowTitle(Dialogs.tr("About Loupe"))
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(f"Loupe {version}")
    about = Dialogs.tr(
        "Teach an image classifier by working through a folder of images.\n\n"
        "A pretrained network turns every image into features in the background; an online "
        "classifier learns from every confirm, correction and new label at once."
    )
    box.setInformativeText(about + ("\n\n" + "\n".join(details) if details else ""))
    box.setIcon(QMessageBox.Icon.Information)
    box.exec()


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    """(keys, description) for every action that has a shortcut, mnemonics removed."""
    fmt = QKeySequence.SequenceFormat.NativeText
    rows = []
    for action in actions:
        if not action.shortcuts():
            continue
        keys = ", ".join(k.toString(fmt) for k in action.shortcuts())
        text = action.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
        rows.append((keys, text.rstrip("…")))
    return rows
