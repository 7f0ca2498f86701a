"""Split a class (F11): name the new class and choose how many similar images move with it.

A view only: it shows a :class:`SplitView` (examples chosen, the ranked rest of the class,
Loupe's suggestion) and returns the name and the count; ``preview_requested(count)`` lets the
controller show the images that would move in the grid while the dialog is open.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui_app.qt.i18n import plural
from gui_app.qt.viewstate import SplitView, format_count

MAX_NAME = 100  # the label store refuses longer class names


def name_problem(name: str, existing: tuple[str, ...]) -> str | None:
    """Why ``name`` cannot be the new class, or None (the store checks the rest)."""
    name = name.strip()
    if not name:
        return SplitClassDialog.tr("Type a name for the new class.")
    if len(name) > MAX_NAME:
        return SplitClassDialog.tr("A class name has at most {n} characters.", "", MAX_NAME).format(
            n=MAX_NAME
        )
    taken = next((c for c in existing if c.casefold() == name.casefold()), None)
    if taken is not None:
        return SplitClassDialog.tr("A class named “{name}” already exists.").format(name=taken)
    return None


def preview_text(view: SplitView, count: int, name: str) -> str:
    """``'3 chosen + 24 similar = 27 images move from Forest to Wetland'``."""
    target = name.strip() or SplitClassDialog.tr("the new class")
    total = view.examples + count
    return plural(
        total,
        SplitClassDialog.tr(
            "{chosen} chosen + {similar} similar = {n} image move from {source} to {target}",
            "",
            total,
        ),
        SplitClassDialog.tr(
            "{chosen} chosen + {similar} similar = {n} images move from {source} to {target}",
            "",
            total,
        ),
    ).format(
        chosen=format_count(view.examples),
        similar=format_count(count),
        source=view.source,
        target=target,
    )


class SplitClassDialog(QDialog):
    """Name the new class, pick how many of the top-ranked images move too, preview, split.

    Signals: ``preview_requested(int count)`` (Preview button, and every count change while
    previewing), ``split_requested(str name, int count)`` when accepted.
    """

    preview_requested = Signal(int)
    split_requested = Signal(str, int)

    def __init__(self, view: SplitView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = view
        self._previewing = False
        self.setWindowTitle(self.tr("Split class"))
        intro = QLabel()
        intro.setTextFormat(Qt.TextFormat.PlainText)
        intro.setWordWrap(True)
        n = view.examples
        intro.setText(
            plural(
                n,
                self.tr(
                    "Create a new class from {n} chosen image of “{source}”. Loupe ranked the "
                    "other {others} images of the class by how much more they resemble the "
                    "chosen ones.",
                    "",
                    n,
                ),
                self.tr(
                    "Create a new class from {n} chosen images of “{source}”. Loupe ranked the "
                    "other {others} images of the class by how much more they resemble the "
                    "chosen ones.",
                    "",
                    n,
                ),
            ).format(source=view.source, others=format_count(view.candidates))
        )
        self.name_edit = QLineEdit()
        self.name_edit.setMaxLength(MAX_NAME + 1)  # one more, so the too-long message can show
        self.name_edit.setPlaceholderText(self.tr("Name of the new class"))
        self.name_edit.textChanged.connect(self._refresh)
        self.count_spin = QSpinBox()
        self.count_spin.setRange(0, max(0, view.candidates))
        self.count_spin.setValue(min(view.suggested, view.candidates))
        self.count_spin.setAccessibleName(self.tr("Similar images to move too"))
        self.count_spin.valueChanged.connect(self._on_count)
        self.suggested_label = QLabel(
            self.tr("suggested: {n}").format(n=format_count(view.suggested))
        )
        self.suggested_label.setTextFormat(Qt.TextFormat.PlainText)
        form = QFormLayout()
        form.addRow(self.tr("New class &name:"), self.name_edit)
        form.addRow(self.tr("&Move the most similar:"), self.count_spin)
        form.addRow("", self.suggested_label)
        self.preview_label = QLabel()
        self.preview_label.setTextFormat(Qt.TextFormat.PlainText)
        self.preview_label.setWordWrap(True)
        self.problem_label = QLabel()
        self.problem_label.setTextFormat(Qt.TextFormat.PlainText)
        self.problem_label.setStyleSheet("color: #c0392b;")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.split_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.split_button.setText(self.tr("Split"))
        self.preview_button = QPushButton(self.tr("Preview in grid"))
        self.preview_button.setToolTip(self.tr("Show the images that would move"))
        self.buttons.addButton(self.preview_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.preview_button.clicked.connect(self._preview)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.preview_label)
        layout.addWidget(self.problem_label)
        layout.addWidget(self.buttons)
        self._refresh()
        self.name_edit.setFocus()

    def values(self) -> tuple[str, int]:
        """``(new class name, how many similar images move too)``."""
        return self.name_edit.text().strip(), self.count_spin.value()

    def _problem(self) -> str | None:
        return name_problem(self.name_edit.text(), self._view.existing)

    def _refresh(self) -> None:
        name, count = self.values()
        self.preview_label.setText(preview_text(self._view, count, name))
        problem = self._problem()
        # An empty name is the starting state, not an error worth colouring.
        self.problem_label.setText(problem if problem and name else "")
        self.split_button.setEnabled(problem is None)

    def _on_count(self, count: int) -> None:
        self._refresh()
        if self._previewing:
            self.preview_requested.emit(count)

    def _preview(self) -> None:
        self._previewing = True
        self.preview_requested.emit(self.count_spin.value())

    def accept(self) -> None:
        if self._problem() is not None:
            return
        name, count = self.values()
        self.split_requested.emit(name, count)
        super().accept()
