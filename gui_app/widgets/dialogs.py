"""Dialogs: settings, unreadable images, project location, keyboard shortcuts, about.

User-provided text (paths, reasons, class names) is always shown as plain text.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

BACKBONES = (
    ("mobilenet_v2", "MobileNetV2 (fast)"),
    ("efficientnet_b0", "EfficientNet-B0"),
    ("resnet50", "ResNet-50 (slow, large)"),
)
WEIGHTS = (("imagenet", "ImageNet"), ("none", "None (random init)"))
LEARNERS = (
    ("logistic", "Logistic regression"),
    ("softmax", "Softmax regression"),
    ("gaussian-nb", "Gaussian naive Bayes"),
    ("knn", "k-nearest neighbours"),
    ("arf", "Adaptive random forest"),
)
CUSTOM = "__custom__"
REEXTRACT_TEXT = (
    "Change the feature extractor?\n\n"
    "Features will be extracted again into a separate cache; the current features and "
    "your labels are kept, and switching back later is instant."
)


def _gap(widget: QWidget) -> int:
    return max(4, widget.fontMetrics().height() // 2)


class _ChoiceCombo(QComboBox):
    """Combo of (value, text) choices plus a 'pick a file…' entry that opens a chooser."""

    def __init__(self, choices, file_text: str, file_filter: str, parent=None) -> None:
        super().__init__(parent)
        self._file_filter = file_filter
        for value, text in choices:
            self.addItem(text, value)
        self.insertSeparator(self.count())
        self.addItem(file_text, CUSTOM)
        self._last = 0
        self.activated.connect(self._on_activated)

    def set_value(self, value: str) -> None:
        i = self.findData(value)
        if i < 0:  # a file path: add it before the separator
            i = self.count() - 2
            self.insertItem(i, Path(value).name, value)
            self.setItemData(i, value, Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(i)
        self._last = i

    def value(self) -> str:
        return str(self.currentData())

    def _on_activated(self, index: int) -> None:
        if self.itemData(index) != CUSTOM:
            self._last = index
            return
        path, _ = QFileDialog.getOpenFileName(
            self, self.itemText(index).rstrip("…"), "", self._file_filter
        )
        if path:
            self.set_value(path)
        else:
            self.setCurrentIndex(self._last)


class SettingsDialog(QDialog):
    """Feature extractor, learner and navigation preference; :meth:`values` gives the result."""

    def __init__(
        self,
        parent: QWidget | None = None,
        backbone: str = "mobilenet_v2",
        weights: str = "imagenet",
        learner: str = "logistic",
        advance: str = "next",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._initial = dict(backbone=backbone, weights=weights)
        form = QFormLayout()
        form.setSpacing(_gap(self))
        self.backbone = _ChoiceCombo(BACKBONES, "Custom .keras file…", "Keras models (*.keras)")
        self.backbone.set_value(backbone)
        self.backbone.setToolTip("The pretrained network that turns each image into features.")
        form.addRow("Feature &extractor:", self.backbone)
        self.weights = _ChoiceCombo(
            WEIGHTS, "Local file…", "Weights (*.h5 *.weights.h5 *.keras);;All files (*)"
        )
        self.weights.set_value(weights)
        form.addRow("&Weights:", self.weights)
        self.learner = QComboBox()
        for value, text in LEARNERS:
            self.learner.addItem(text, value)
        i = self.learner.findData(learner)
        self.learner.setCurrentIndex(max(0, i))
        self.learner.setToolTip("The online classifier that learns from every label.")
        form.addRow("&Classifier:", self.learner)
        self.advance_next = QRadioButton("&next image")
        self.advance_unlabeled = QRadioButton("next &unlabeled image")
        group = QButtonGroup(self)
        group.addButton(self.advance_next)
        group.addButton(self.advance_unlabeled)
        (self.advance_unlabeled if advance == "next-unlabeled" else self.advance_next).setChecked(
            True
        )
        radios = QVBoxLayout()
        radios.addWidget(self.advance_next)
        radios.addWidget(self.advance_unlabeled)
        form.addRow("After an action go to:", radios)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def values(self) -> dict[str, str]:
        """``{'backbone', 'weights', 'learner', 'advance'}`` as chosen."""
        return dict(
            backbone=self.backbone.value(),
            weights=self.weights.value(),
            learner=str(self.learner.currentData()),
            advance="next-unlabeled" if self.advance_unlabeled.isChecked() else "next",
        )

    def extractor_changed(self) -> bool:
        v = self.values()
        return (v["backbone"], v["weights"]) != (
            self._initial["backbone"],
            self._initial["weights"],
        )

    def accept(self) -> None:
        if self.extractor_changed():
            answer = QMessageBox.question(
                self,
                "Extract features again",
                REEXTRACT_TEXT,
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        super().accept()


class UnreadableDialog(QDialog):
    """Table of unreadable images (path, reason) with a copy-to-clipboard button."""

    def __init__(self, items: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Unreadable images")
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Path", "Reason"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)
        copy = QPushButton("&Copy to Clipboard")
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
        self.summary.setText(
            "All images could be read."
            if n == 0
            else f"{n} image{'s' if n != 1 else ''} could not be read; they are skipped."
        )

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
    box.setWindowTitle("Folder is read-only")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText("Loupe cannot write into this folder.")
    # No user text on the first line, so Qt never guesses rich text from a path.
    box.setInformativeText(
        "Your labels and the feature cache need a writable project folder; the images stay "
        f"where they are.\n\nFolder: {folder}\nReason: {reason}\n\nSuggested location:\n{suggested}"
    )
    fm = box.fontMetrics()
    shown = fm.elidedText(suggested, Qt.TextElideMode.ElideMiddle, fm.averageCharWidth() * 40)
    keep = box.addButton(f"Keep project in: {shown}", QMessageBox.ButtonRole.AcceptRole)
    choose = box.addButton("Choose…", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep)
    while True:
        box.exec()
        clicked = box.clickedButton()
        if clicked is keep:
            return suggested
        if clicked is not choose:
            return None
        path = QFileDialog.getExistingDirectory(parent, "Keep the project in", suggested)
        if path:
            return path


class ShortcutsDialog(QDialog):
    """Two-column list of keyboard shortcuts (keys, action)."""

    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Keys", "Action"])
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
    box.setWindowTitle("About Loupe")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(f"Loupe {version}")
    box.setInformativeText(
        "Teach an image classifier by working through a folder of images.\n\n"
        "A pretrained network turns every image into features in the background; an online "
        "classifier learns from every confirm, correction and new label at once."
        + ("\n\n" + "\n".join(details) if details else "")
    )
    box.setIcon(QMessageBox.Icon.Information)
    box.exec()


class BusyProgress:
    """A modal, non-cancellable progress dialog for long rebuilds, created on demand.

    It appears only after ``minimumDuration`` (500 ms), so short operations never flash it.
    """

    def __init__(self, parent: QWidget, title: str) -> None:
        self._parent = parent
        self._title = title
        self.dialog: QProgressDialog | None = None

    def update(self, text: str, done: int, total: int) -> None:
        """Show *done* of *total*; ``total <= 0`` closes the dialog."""
        if total <= 0:
            if self.dialog is not None:
                self.dialog.close()
                self.dialog.deleteLater()
                self.dialog = None
            return
        if self.dialog is None:
            dialog = QProgressDialog(text, "", 0, total, self._parent)
            dialog.setWindowTitle(self._title)
            dialog.setCancelButton(None)
            dialog.setWindowModality(Qt.WindowModality.WindowModal)
            dialog.setMinimumDuration(500)
            dialog.setAutoClose(False)
            dialog.setAutoReset(False)
            self.dialog = dialog
        self.dialog.setLabelText(text)
        self.dialog.setMaximum(total)
        self.dialog.setValue(min(done, total))


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
