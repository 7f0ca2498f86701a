"""The controller's export commands (a mixin; the work runs on the Exporter's thread)."""

from __future__ import annotations

from pathlib import Path

from gui_app.core.backbones import BackboneError, resolve_backbone


class ExportActions:
    """File ▸ Export: labels, class folders, predictions and the model."""

    def _export_ready(self, need_model: bool = False) -> bool:
        if self.session is None:
            self.error.emit("Nothing to export", "Open a folder first.")
            return False
        if self.exporter.busy():
            self.message.emit("An export is already running", 4000)
            return False
        if need_model and not self.session.learner.can_predict():
            self.error.emit("Nothing to export", "Label images of at least two classes first.")
            return False
        return True

    def export_labels(self, out: str, fmt: str = "csv") -> None:
        if self._export_ready():
            self.message.emit(f"Exporting labels to {out}…", 3000)
            self.exporter.labels(self.session.project.labels_path, Path(out), fmt)

    def export_folders(self, out: str, mode: str = "copy") -> None:
        if self._export_ready():
            self.message.emit(f"Exporting images into class folders in {out}…", 3000)
            labels = self.session.labels.labels()
            self.exporter.folders(self.session.project.root, labels, Path(out), mode)

    def export_predictions(self, out: str, threshold: float = 0.0) -> None:
        if self._export_ready(need_model=True):
            table = self.session.vectors
            self.exporter.predictions(
                list(table.paths),
                table.matrix.copy(),
                self.session.learner.snapshot(),
                Path(out),
                threshold,
            )

    def export_model(self, out: str) -> None:
        if not self._export_ready(need_model=True):
            return
        backbone, weights = self._project_backbone()
        try:
            spec = resolve_backbone(backbone, weights)
        except BackboneError as exc:
            self.error.emit("Cannot export the model", str(exc))
            return
        self.message.emit(f"Exporting the model to {out} (this takes a little while)…", 5000)
        self.exporter.model(spec, self.session.learner.snapshot(), Path(out))

    def _on_export_done(self, text: str) -> None:
        self.message.emit(text, 8000)

    def _on_export_failed(self, reason: str) -> None:
        self.error.emit("Export failed", reason)
