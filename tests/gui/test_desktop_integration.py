"""Folders handed over by the desktop: macOS file-open events, "Open with" arguments."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QFileOpenEvent, QGuiApplication

from gui_app.app import DESKTOP_ID
from gui_app.cli import _window_folder
from gui_app.qt.file_open import FolderOpener


def test_a_file_open_event_opens_the_folder_or_the_folder_of_a_file(qtbot, tmp_path) -> None:
    folder = tmp_path / "Fotos mit Umlaut ä"
    folder.mkdir()
    (folder / "a b.jpg").write_bytes(b"x")
    opened: list[str] = []
    app = QCoreApplication.instance()
    opener = FolderOpener(opened.append)
    app.installEventFilter(opener)
    try:
        for path in (folder, folder / "a b.jpg", tmp_path / "gone" / "x.jpg"):
            QCoreApplication.sendEvent(app, QFileOpenEvent(str(path)))
    finally:
        app.removeEventFilter(opener)
    assert opened == [str(folder), str(folder)]


def test_open_with_arguments_name_the_first_folder(tmp_path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    assert _window_folder([]) is None
    assert _window_folder([tmp_path, Path("/elsewhere")]) == tmp_path
    assert _window_folder([tmp_path / "a.jpg"]) == tmp_path  # a file opens its folder


def test_the_desktop_file_name_matches_the_desktop_entry() -> None:
    from gui_app.core.resources import resources_dir

    assert (resources_dir() / f"{DESKTOP_ID}.desktop").is_file()
    QGuiApplication.setDesktopFileName(DESKTOP_ID)
    assert QGuiApplication.desktopFileName() == DESKTOP_ID
