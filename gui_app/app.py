"""Composition root of the desktop app: QApplication, logging, controller, main window."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from types import TracebackType

DESKTOP_ID = "io.github.loupe.Loupe"  # the .desktop file's name: icon and grouping on Wayland
_log = logging.getLogger("gui_app.app")


def run_gui(args: argparse.Namespace) -> int:
    """Open the main window (on ``args.folder`` if given) and run the event loop."""
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication

    from gui_app import __version__
    from gui_app.core.backbones import absolute_choice
    from gui_app.core.resources import ICON, resources_dir
    from gui_app.logs import setup_logging
    from gui_app.qt.controller import Controller
    from gui_app.qt.file_open import FolderOpener
    from gui_app.qt.i18n import install_translators
    from gui_app.qt.settings import AppSettings
    from gui_app.widgets.main_window import MainWindow

    log_file = setup_logging(bool(getattr(args, "verbose", False)))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Loupe")
    app.setOrganizationName("Loupe")
    app.setApplicationVersion(__version__)
    install_translators(app)  # Qt's and Loupe's for the locale ($LOUPE_LANG overrides it)
    QGuiApplication.setDesktopFileName(DESKTOP_ID)
    if sys.platform.startswith("linux") and "QT_STYLE_OVERRIDE" not in os.environ:
        app.setStyle("Fusion")
    icon = resources_dir() / ICON
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    settings = AppSettings()
    if getattr(args, "learner", None):
        settings.learner = args.learner
    controller = Controller(settings)
    window = MainWindow(controller, log_path=str(log_file))
    install_exception_hook(window, str(log_file))
    opener = FolderOpener(controller.open_folder, app)
    app.installEventFilter(opener)  # macOS: folders dropped on the Dock icon, "Open With"
    window.show()
    _log.info("window started (Loupe %s)", __version__)
    if args.folder is not None:
        backbone, weights = absolute_choice(args.backbone, args.weights)
        controller.open_folder(
            str(args.folder),
            str(args.project_dir) if args.project_dir else None,
            backbone=backbone,
            weights=weights,
        )
    return app.exec()


def install_exception_hook(window, log_path: str) -> None:
    """Log every uncaught exception and show it in a dialog with copyable details.

    Exceptions in Qt slots reach ``sys.excepthook``; those of other Python threads reach
    ``threading.excepthook`` and are logged (a dialog can only be shown by the GUI thread).
    """
    import threading

    from gui_app.widgets.crash_dialog import show_crash

    showing = [False]

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        _log.critical("uncaught exception", exc_info=(kind, value, tb))
        if issubclass(kind, KeyboardInterrupt) or showing[0]:
            return
        showing[0] = True
        try:
            details = "".join(traceback.format_exception(kind, value, tb))
            show_crash(window, f"{kind.__name__}: {value}", details, log_path)
        finally:
            showing[0] = False

    def thread_hook(info: threading.ExceptHookArgs) -> None:
        _log.critical(
            "uncaught exception in thread %s",
            info.thread.name if info.thread else "?",
            exc_info=(info.exc_type, info.exc_value, info.exc_traceback),
        )

    sys.excepthook = hook
    threading.excepthook = thread_hook
