"""File ▸ Export: asks where to write, then hands the work to the controller."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QWidget


def _start_dir(controller) -> str:
    root = getattr(controller, "root", None)
    return str(root.parent if root is not None else Path.home())


def build_export_menu(parent: QWidget, controller) -> QMenu:
    """The Export submenu; its actions are enabled only while a folder is open."""
    menu = QMenu("&Export", parent)

    def labels(fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(
            parent,
            "Export labels",
            str(Path(_start_dir(controller)) / f"labels.{fmt}"),
            f"{fmt.upper()} (*.{fmt})",
        )
        if path:
            controller.export_labels(path, fmt)

    def folders() -> None:
        out = QFileDialog.getExistingDirectory(
            parent, "Export images into one folder per class", _start_dir(controller)
        )
        if not out:
            return
        modes = ["Copies", "Hard links", "Symbolic links"]
        mode, ok = QInputDialog.getItem(
            parent, "Export", "Put the images there as:", modes, 0, False
        )
        if ok:
            controller.export_folders(out, ("copy", "hardlink", "symlink")[modes.index(mode)])

    def predictions() -> None:
        path, _ = QFileDialog.getSaveFileName(
            parent,
            "Export predictions",
            str(Path(_start_dir(controller)) / "predictions.csv"),
            "CSV (*.csv)",
        )
        if not path:
            return
        threshold, ok = QInputDialog.getDouble(
            parent,
            "Export predictions",
            "Write 'unknown' when the top probability is below:",
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
            "Export the model (river pickle, portable weights, Keras, TFLite)",
            _start_dir(controller),
        )
        if out:
            controller.export_model(out)

    menu.addAction("Labels as &CSV…", lambda: labels("csv"))
    menu.addAction("Labels as &JSON…", lambda: labels("json"))
    menu.addAction("Images into Class &Folders…", folders)
    menu.addAction("&Predictions (CSV)…", predictions)
    menu.addAction("&Model…", model)
    menu.aboutToShow.connect(
        lambda: [
            a.setEnabled(getattr(controller, "session", None) is not None) for a in menu.actions()
        ]
    )
    return menu
