"""File ▸ Export: asks where to write, then hands the work to the controller."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QWidget


class ExportMenu(QObject):
    """The translation context of File ▸ Export (``ExportMenu.tr``; never instantiated)."""


def build_export_menu(parent: QWidget, controller, start_dir: Callable[[], str]) -> QMenu:
    """The Export submenu; its actions are enabled only while a folder is open."""
    menu = QMenu(ExportMenu.tr("&Export"), parent)

    def labels(fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(
            parent,
            ExportMenu.tr("Export labels"),
            str(Path(start_dir()) / f"labels.{fmt}"),
            f"{fmt.upper()} (*.{fmt})",
        )
        if path:
            controller.export_labels(path, fmt)

    def folders() -> None:
        out = QFileDialog.getExistingDirectory(
            parent, ExportMenu.tr("Export images into one folder per class"), start_dir()
        )
        if not out:
            return
        modes = [
            ExportMenu.tr("Copies"),
            ExportMenu.tr("Hard links"),
            ExportMenu.tr("Symbolic links"),
        ]
        mode, ok = QInputDialog.getItem(
            parent,
            ExportMenu.tr("Export"),
            ExportMenu.tr("Put the images there as:"),
            modes,
            0,
            False,
        )
        if ok:
            controller.export_folders(out, ("copy", "hardlink", "symlink")[modes.index(mode)])

    def predictions() -> None:
        path, _ = QFileDialog.getSaveFileName(
            parent,
            ExportMenu.tr("Export predictions"),
            str(Path(start_dir()) / "predictions.csv"),
            "CSV (*.csv)",
        )
        if not path:
            return
        threshold, ok = QInputDialog.getDouble(
            parent,
            ExportMenu.tr("Export predictions"),
            ExportMenu.tr(
                "Write 'unknown' when the top probability is below:",
                "'unknown' is the value written in the file: keep it as it is",
            ),
            0.5,
            0.0,
            1.0,
            2,
        )
        if ok:
            controller.export_predictions(path, threshold)

    def model() -> None:
        out = QFileDialog.getExistingDirectory(
            parent,
            ExportMenu.tr("Export the model (river pickle, portable weights, Keras, TFLite)"),
            start_dir(),
        )
        if out:
            controller.export_model(out)

    menu.addAction(ExportMenu.tr("Labels as &CSV…"), lambda: labels("csv"))
    menu.addAction(ExportMenu.tr("Labels as &JSON…"), lambda: labels("json"))
    menu.addAction(ExportMenu.tr("Images into Class &Folders…"), folders)
    menu.addAction(ExportMenu.tr("&Predictions (CSV)…"), predictions)
    menu.addAction(ExportMenu.tr("&Model…"), model)

    def final_model() -> None:
        out = QFileDialog.getExistingDirectory(
            parent, ExportMenu.tr("Export the final model (Label ▸ Fit Final Model)"), start_dir()
        )
        if out:
            controller.export_final_model(out)

    menu.addAction(ExportMenu.tr("&Final Model…"), final_model)
    menu.aboutToShow.connect(
        lambda: [a.setEnabled(controller.has_project()) for a in menu.actions()]
    )
    return menu
