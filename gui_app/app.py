"""Composition root of the desktop app: QApplication, controller, main window."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def run_gui(args: argparse.Namespace) -> int:
    """Open the main window (on ``args.folder`` if given) and run the event loop."""
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from gui_app import __version__
    from gui_app.core.backbones import absolute_choice
    from gui_app.qt.controller import Controller
    from gui_app.qt.settings import AppSettings
    from gui_app.widgets.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Loupe")
    app.setOrganizationName("Loupe")
    app.setApplicationVersion(__version__)
    if sys.platform.startswith("linux") and "QT_STYLE_OVERRIDE" not in os.environ:
        app.setStyle("Fusion")
    icon = Path(__file__).parent / "resources" / "loupe.svg"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    settings = AppSettings()
    if getattr(args, "learner", None):
        settings.learner = args.learner
    controller = Controller(settings)
    window = MainWindow(controller)
    window.show()
    if args.folder is not None:
        backbone, weights = absolute_choice(args.backbone, args.weights)
        controller.open_folder(
            str(args.folder),
            str(args.project_dir) if args.project_dir else None,
            backbone=backbone,
            weights=weights,
        )
    return app.exec()
