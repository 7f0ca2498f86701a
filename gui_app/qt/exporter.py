"""File ▸ Export from the window: the work runs as background tasks, one at a time.

The controller hands over copies (label file path, vectors, a pickled learner), so an export
never reads state the user is changing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from gui_app.core.export import export_class_folders, export_labels
from gui_app.core.labels import LabelStore
from gui_app.qt.tasks import TaskRunner


class Exporter(QObject):
    """Runs one export at a time; ``finished(message)`` or ``failed(reason)``."""

    finished = Signal(str)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks = TaskRunner(1, self)

    def busy(self) -> bool:
        return self._tasks.busy()

    def _start(self, work) -> None:
        self._tasks.submit(
            lambda _state: work(), on_done=self.finished.emit, on_error=self.failed.emit
        )

    def labels(self, labels_path: Path, out: Path, fmt: str) -> None:
        def work() -> str:
            with LabelStore(labels_path) as store:  # its own connection on this thread
                n = export_labels(store, out, fmt)
            return self.tr("Exported {n} labels to {path}", "", n).format(n=n, path=out)

        self._start(work)

    def folders(self, root: Path, labels: dict[str, str], out: Path, mode: str) -> None:
        def work() -> str:
            report = export_class_folders(root, labels, out, mode)
            summary, skipped = report.summary(), len(report.skipped)
            if skipped:
                text = self.tr("Exported to {folder}: {summary}; {skipped} skipped", "", skipped)
            else:
                text = self.tr("Exported to {folder}: {summary}")
            return text.format(folder=out, summary=summary, skipped=skipped)

        self._start(work)

    def predictions(
        self, paths: list[str], vectors: np.ndarray, learner, out: Path, threshold: float
    ) -> None:
        def work() -> str:
            from gui_app.core.export_model import export_predictions

            n = export_predictions([(paths, vectors)], learner, out, threshold)
            text = self.tr("Exported predictions of {n} images to {path}", "", n)
            return text.format(n=n, path=out)

        self._start(work)

    def model(self, spec, learner, out: Path) -> None:
        def work() -> str:
            from gui_app.core.model_files import export_model_files

            written = export_model_files(spec, learner, out)
            files = ", ".join(p.name for p in written)
            return self.tr("Exported the model to {folder} ({files})").format(
                folder=out, files=files
            )

        self._start(work)

    def shutdown(self) -> None:
        self._tasks.shutdown()
