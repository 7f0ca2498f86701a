"""File ▸ Export: checks that there is something to export, then hands copies to the exporter."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from gui_app.core.backbones import resolve_backbone
from gui_app.core.errors import LoupeError
from gui_app.qt.exporter import Exporter
from gui_app.qt.project_host import ProjectHost


class ExportActions(QObject):
    """Labels, class folders, predictions and the model, written on a background task."""

    message = Signal(str, int)
    error = Signal(str, str)

    def __init__(self, host: ProjectHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self._exporter = Exporter(self)
        self._exporter.finished.connect(lambda text: self.message.emit(text, 8000))
        self._exporter.failed.connect(
            lambda reason: self.error.emit(self.tr("Export failed"), reason)
        )

    def _ready(self, need_model: bool = False) -> bool:
        session = self._host.session
        if session is None:
            self.error.emit(self.tr("Nothing to export"), self.tr("Open a folder first."))
            return False
        if self._exporter.busy():
            self.message.emit(self.tr("An export is already running"), 4000)
            return False
        if need_model and not session.can_predict():
            self.error.emit(
                self.tr("Nothing to export"), self.tr("Label images of at least two classes first.")
            )
            return False
        return True

    def labels(self, out: str, fmt: str = "csv") -> None:
        if self._ready():
            self.message.emit(self.tr("Exporting labels to {path}…").format(path=out), 3000)
            self._exporter.labels(self._host.session.project.labels_path, Path(out), fmt)

    def folders(self, out: str, mode: str = "copy") -> None:
        if self._ready():
            session = self._host.session
            text = self.tr("Exporting images into class folders in {folder}…").format(folder=out)
            self.message.emit(text, 3000)
            labels = dict(session.labels_by_path())
            self._exporter.folders(session.project.root, labels, Path(out), mode)

    def predictions(self, out: str, threshold: float = 0.0) -> None:
        if self._ready(need_model=True):
            session = self._host.session
            present = session.present_rows()
            paths = [p for p, ok in zip(session.image_paths(), present, strict=False) if ok]
            vectors = session.vectors_of(paths)
            learner = session.model_copy()
            self._exporter.predictions(paths, vectors, learner, Path(out), threshold)

    def model(self, out: str) -> None:
        if not self._ready(need_model=True):
            return
        session = self._host.session
        try:
            spec = resolve_backbone(*session.settings.backbone_choice)
        except LoupeError as exc:
            self.error.emit(self.tr("Cannot export the model"), exc.reason)
            return
        text = self.tr("Exporting the model to {folder} (this takes a little while)…")
        self.message.emit(text.format(folder=out), 5000)
        self._exporter.model(spec, session.model_copy(), Path(out))

    def shutdown(self) -> None:
        self._exporter.shutdown()
