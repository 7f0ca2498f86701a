"""Helpers for tests that drive the real main window."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from gui_app.qt.controller import Controller
from gui_app.qt.settings import AppSettings
from gui_app.widgets.main_window import MainWindow


def open_window(qtbot, tmp_path: Path, folder: Path, backbone: Path | None, *, wait=True):
    """A real controller and main window (settings isolated in tmp_path) on ``folder``."""
    ini = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings = AppSettings(ini)
    settings.advance = "in-order"  # these tests walk the grid in order; Next has its own tests
    controller = Controller(settings)
    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    controller.open_folder(str(folder), backbone=str(backbone) if backbone else None)
    if wait:
        qtbot.waitUntil(lambda: controller.model.rowCount() > 0, timeout=20000)
        qtbot.waitUntil(lambda: controller.extraction_state in ("done", "error"), timeout=60000)
    window.grid.setFocus()
    return controller, window


def close_window(qtbot, window, controller) -> None:
    """Close as the user does; the feature thread must be stopped afterwards."""
    window.close()
    assert not controller.host.thread.isRunning()
