"""Folders the platform asks the running app to open (macOS ``QFileOpenEvent``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject


def folder_to_open(path: str) -> str | None:
    """The folder an "open this" request means: the folder itself, or a file's folder."""
    p = Path(path)
    if p.is_dir():
        return str(p)
    return str(p.parent) if p.parent.is_dir() else None


class FolderOpener(QObject):
    """An application event filter: a FileOpen event opens its folder through ``open_folder``."""

    def __init__(self, open_folder: Callable[[str], object], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._open_folder = open_folder

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen:
            folder = folder_to_open(event.file())
            if folder is not None:
                self._open_folder(folder)
                return True
        return False
