"""The questions a class's context menu asks: a new name, a colour, merge and delete.

Each function asks and returns the answer (None or False: cancelled); the label panel emits
what follows. User text stays off the first line of a message, so Qt never guesses rich text.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog, QInputDialog, QLineEdit, QMessageBox, QWidget

from gui_app.qt.i18n import plural


class ClassDialogs(QObject):
    """The translation context of these questions (``ClassDialogs.tr``; never instantiated)."""


def _confirm(parent: QWidget, title: str, text: str) -> bool:
    answer = QMessageBox.question(
        parent,
        title,
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


def ask_new_name(parent: QWidget, old: str) -> str | None:
    """A new name for class ``old`` (None: cancelled, empty or unchanged)."""
    new, ok = QInputDialog.getText(
        parent,
        ClassDialogs.tr("Rename class"),
        ClassDialogs.tr("New name:"),
        QLineEdit.EchoMode.Normal,
        old,
    )
    new = (new or "").strip()
    return new if ok and new and new != old else None


def ask_colour(parent: QWidget, color: str) -> str | None:
    """A new colour (``'#rrggbb'``) for a class coloured ``color`` (None: cancelled)."""
    chosen = QColorDialog.getColor(QColor(color), parent, ClassDialogs.tr("Class colour"))
    return chosen.name() if chosen.isValid() else None


def confirm_merge(parent: QWidget, source: str, target: str, count: int) -> bool:
    """Merge class ``source`` (``count`` images) into ``target``?"""
    text = plural(
        count,
        ClassDialogs.tr(
            "Merge these classes?\n\nAll {n} image labeled “{source}” will be labeled "
            "“{target}”, and “{source}” will be removed.",
            "",
            count,
        ),
        ClassDialogs.tr(
            "Merge these classes?\n\nAll {n} images labeled “{source}” will be labeled "
            "“{target}”, and “{source}” will be removed.",
            "",
            count,
        ),
    ).format(source=source, target=target)
    return _confirm(parent, ClassDialogs.tr("Merge classes"), text)


def confirm_delete(parent: QWidget, name: str, count: int) -> bool:
    """Delete class ``name`` (its ``count`` images become unlabelled)?"""
    text = plural(
        count,
        ClassDialogs.tr(
            "Delete this class?\n\n“{name}”: {n} image will become unlabeled.", "", count
        ),
        ClassDialogs.tr(
            "Delete this class?\n\n“{name}”: {n} images will become unlabeled.", "", count
        ),
    ).format(name=name)
    return _confirm(parent, ClassDialogs.tr("Delete class"), text)
