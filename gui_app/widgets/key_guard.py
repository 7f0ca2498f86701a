"""Window-wide label keys versus text fields: who gets a key press.

Label keys (1-9, Enter, Space, Backspace, S, U...) are window-wide shortcuts; while a text
field has focus they must type text instead, and Enter/Space on a focused button or combo box
must act on that control.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
)


def typing_focus() -> bool:
    """True while a text-entry widget has focus (label keys must type there)."""
    w = QApplication.focusWidget()
    if isinstance(w, QLineEdit | QTextEdit | QPlainTextEdit | QAbstractSpinBox):
        return True
    return isinstance(w, QComboBox) and w.isEditable()


def guarded(slot: Callable[[], object]) -> Callable[..., None]:
    """``slot`` as a shortcut handler that does nothing while a text field has focus."""

    def run(*_args: object) -> None:
        if not typing_focus():
            slot()

    return run


def press_focused_control() -> bool:
    """Enter/Space on a focused button or (non-editable) combo box: act on it; True if so."""
    w = QApplication.focusWidget()
    if isinstance(w, QAbstractButton):
        w.animateClick()
        return True
    if isinstance(w, QComboBox) and not w.isEditable():
        w.showPopup()
        return True
    return False
