"""Exports started from the window, run on a thread pool so the window stays responsive."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from gui_app.core.export import ExportError, export_class_folders, export_labels
from gui_app.core.labels import LabelStore


class _Relay(QObject):
    done = Signal(str, str)  # message, error ('' when ok)


class _Job(QRunnable):
    def __init__(self, relay: _Relay, work: Callable[[], str]) -> None:
        super().__init__()
        self.relay, self.work = relay, work

    def run(self) -> None:
        try:
            self.relay.done.emit(self.work(), "")
        except (ExportError, OSError, ValueError) as exc:
            self.relay.done.emit("", str(exc))
        except Exception as exc:
            traceback.print_exc()
            self.relay.done.emit("", f"{type(exc).__name__}: {exc}")


class Exporter(QObject):
    """Runs one export at a time; ``finished(message)`` or ``failed(reason)``."""

    finished = Signal(str)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._relay = _Relay(self)
        self._relay.done.connect(self._done)

    def _done(self, message: str, error: str) -> None:
        if error:
            self.failed.emit(error)
        else:
            self.finished.emit(message)

    def busy(self) -> bool:
        return self._pool.activeThreadCount() > 0

    def labels(self, labels_path: Path, out: Path, fmt: str) -> None:
        def work() -> str:
            with LabelStore(labels_path) as store:  # its own connection on this thread
                n = export_labels(store, out, fmt)
            return f"Exported {n} labels to {out}"

        self._pool.start(_Job(self._relay, work))

    def folders(self, root: Path, labels: dict[str, str], out: Path, mode: str) -> None:
        def work() -> str:
            report = export_class_folders(root, labels, out, mode)
            skipped = f"; {len(report.skipped)} skipped" if report.skipped else ""
            return f"Exported to {out}: {report.summary()}{skipped}"

        self._pool.start(_Job(self._relay, work))

    def predictions(
        self, paths: list[str], vectors: np.ndarray, learner, out: Path, threshold: float
    ) -> None:
        def work() -> str:
            from gui_app.core.export_model import export_predictions

            n = export_predictions([(paths, vectors)], learner, out, threshold)
            return f"Exported predictions of {n} images to {out}"

        self._pool.start(_Job(self._relay, work))

    def model(self, spec, learner, out: Path) -> None:
        def work() -> str:
            from gui_app.export_command import export_model_files

            written = export_model_files(spec, learner, out)
            return f"Exported the model to {out} ({', '.join(p.name for p in written)})"

        self._pool.start(_Job(self._relay, work))

    def shutdown(self) -> None:
        self._pool.waitForDone()
