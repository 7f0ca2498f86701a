"""The dialog shown when the window meets an unexpected error: copyable details, the log."""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QObject
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton, QWidget

TITLE = QT_TRANSLATE_NOOP("CrashDialog", "Loupe ran into a problem")


class CrashDialog(QObject):
    """The translation context of the crash dialog (``CrashDialog.tr``; never instantiated)."""


def crash_text(summary: str, log_path: str) -> str:
    """The dialog's main text: what happened, that labels are safe, where the log is."""
    return CrashDialog.tr(
        "{summary}\n\nYour labels are saved as you work and are not affected. If this "
        "happens again, please send the details below and the log file:\n{log}"
    ).format(summary=summary, log=log_path)


def show_crash(parent: QWidget | None, summary: str, details: str, log_path: str) -> None:
    """Show the error with its details (selectable) and a button copying them.

    Parameters
    ----------
    summary
        One line: the exception type and message.
    details
        The traceback.
    log_path
        Where the log file is.
    """
    title = QCoreApplication.translate("CrashDialog", TITLE)
    box = QMessageBox(QMessageBox.Icon.Critical, title, crash_text(summary, log_path))
    if parent is not None:
        box.setParent(parent, box.windowFlags())
    log_line = CrashDialog.tr("Log file: {path}").format(path=log_path)
    box.setDetailedText(f"{details}\n{log_line}")
    copy = QPushButton(CrashDialog.tr("Copy Details"))
    box.addButton(copy, QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Close)
    copy.clicked.disconnect()  # keep the dialog open after copying
    copy.clicked.connect(
        lambda: QApplication.clipboard().setText(f"{summary}\n\n{details}\nLog: {log_path}")
    )
    box.exec()
