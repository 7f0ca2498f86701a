"""The one coordinator between the widgets and the core (GUI thread).

Every label action runs in this order: journal commit, learner update, bars of the (new)
current image, then a debounced, chunked re-score of every image for the grid badges.
"""

from __future__ import annotations

import sys
import time
from collections import Counter, deque
from pathlib import Path, PurePosixPath

import numpy as np
from PySide6.QtCore import QObject, QThread, QTimer, Signal

from gui_app.core.backbones import BackboneError, resolve_backbone
from gui_app.core.features import ExtractionProgress
from gui_app.core.labels import LabelError
from gui_app.core.learner import LearnerError
from gui_app.core.lock import ProjectLocked
from gui_app.core.project import Project, ProjectError
from gui_app.core.project_settings import ProjectSettings
from gui_app.core.session import LabelingSession
from gui_app.qt.controller_actions import LabelActions
from gui_app.qt.controller_exports import ExportActions
from gui_app.qt.exporter import Exporter
from gui_app.qt.feature_worker import FeatureWorker, JobRequest
from gui_app.qt.image_model import ImageListModel
from gui_app.qt.preview import PreviewLoader
from gui_app.qt.settings import AppSettings, suggested_project_dir
from gui_app.qt.thumbnails import ThumbnailLoader

GIL_SWITCH_INTERVAL = 0.0005  # seconds
INGEST_SLICE = 512  # feature vectors stored per step
INGEST_BUDGET_S = 0.008  # time given to storing features before other events run
RESCORE_DELAY_MS = 30
SNAPSHOT_DELAY_MS = 3000
SPARE_DELAY_MS = 40  # after the bars are painted
EMPTY_BARS = "Label two classes to see predictions"


class Controller(LabelActions, ExportActions, QObject):
    """Owns the session, the grid model, the feature thread and the thumbnail loader."""

    project_opened = Signal(str)
    project_closed = Signal()
    current_changed = Signal(object)
    preview_ready = Signal(str, object, str)
    bars_changed = Signal(list, object, object)
    classes_changed = Signal(list)
    status_changed = Signal(object)
    message = Signal(str, int)
    error = Signal(str, str)
    undo_state_changed = Signal(bool, bool)
    unreadable_changed = Signal(list)
    busy = Signal(str, int, int)
    read_only_folder = Signal(str, str, str)
    _submit = Signal(object)

    def __init__(self, settings: AppSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # The feature thread runs Python too; with the default 5 ms GIL switch interval every
        # Qt->Python callback of a paint can wait up to 5 ms for it (convoy effect), which adds
        # up to stalls of a second while 100k cached vectors load. 0.5 ms keeps the GUI fluid.
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL))
        self.settings = settings or AppSettings()
        self.thumbnails = ThumbnailLoader(size=160, parent=self)
        self.model = ImageListModel(self._pixmap_for, self)
        self.previews = PreviewLoader(self)
        self.exporter = Exporter(self)
        self.exporter.finished.connect(self._on_export_done)
        self.exporter.failed.connect(self._on_export_failed)
        self.session: LabelingSession | None = None
        self.advance_mode = self.settings.advance
        self._generation = 0
        self._current = ""
        self._vector_rows = np.zeros(0, np.int64)  # image index of each vector-table row
        self._counts: Counter[str] = Counter()
        self._pending_options: dict[str, tuple[str | None, str | None]] = {}
        self._class_infos: list = []  # ClassInfo of the open project, refreshed by _sync_classes
        self._reserve = 0  # images found by the scan: vector rows to allocate
        self._status = dict(state="idle", device="", extracted=0, total=0, rate=0.0, eta=None)
        self._backbone_label = ""
        self._worker = FeatureWorker()
        self._thread = QThread(self)
        self._thread.setObjectName("loupe-features")
        self._worker.moveToThread(self._thread)
        self._submit.connect(self._worker.run_job)
        w = self._worker
        w.scan_chunk.connect(self._on_scan_chunk)
        w.scan_done.connect(self._on_scan_done)
        w.device_ready.connect(self._on_device)
        w.vectors_ready.connect(self._on_vectors)
        w.images_failed.connect(self._on_failed)
        w.progress.connect(self._on_progress)
        w.notice.connect(lambda g, m: g == self._generation and self.message.emit(m, 8000))
        w.error.connect(self._on_worker_error)
        w.job_finished.connect(self._on_job_finished)
        self._thread.start()
        self.thumbnails.thumbnail_ready.connect(lambda key, _g, _i: self.model.thumbnail_ready(key))
        self.thumbnails.thumbnail_failed.connect(self._on_thumbnail_failed)
        self.previews.ready.connect(self._on_preview)
        self._rescore_timer = QTimer(self, singleShot=True, interval=RESCORE_DELAY_MS)
        self._rescore_timer.timeout.connect(self._start_rescore)
        self._rescore_step = QTimer(self, singleShot=True, interval=0)
        self._rescore_step.timeout.connect(self._rescore_chunk)
        self._rescore_state: tuple | None = None
        self._incoming: deque[tuple[int, list[str], np.ndarray]] = deque()
        self._ingest_timer = QTimer(self, singleShot=True, interval=0)
        self._ingest_timer.timeout.connect(self._ingest)
        self._spare_timer = QTimer(self, singleShot=True, interval=SPARE_DELAY_MS)
        self._spare_timer.timeout.connect(lambda: self.session and self.session.prepare_undo())
        self._snapshot_timer = QTimer(self, singleShot=True, interval=SNAPSHOT_DELAY_MS)
        self._snapshot_timer.timeout.connect(self._save_snapshot)

    # -- project lifecycle ----------------------------------------------------------------
    @property
    def root(self) -> Path | None:
        return self.session.project.root if self.session else None

    def open_folder(
        self,
        folder: str,
        project_dir: str | None = None,
        backbone: str | None = None,
        weights: str | None = None,
    ) -> bool:
        """Open ``folder`` (its ``.loupe/`` or ``project_dir``); False when it could not.

        ``backbone``/``weights`` (command-line options) are saved as the project's choice.
        """
        self.close_project()
        pending = self._pending_options.pop(str(folder), None)
        if pending and backbone is None and weights is None:
            backbone, weights = pending  # the retry after the read-only dialog keeps them
        try:
            project = Project(Path(folder), Path(project_dir) if project_dir else None)
        except ProjectError as exc:
            if Path(folder).is_dir() and project_dir is None:
                self._pending_options[str(folder)] = (backbone, weights)
                suggested = str(suggested_project_dir(Path(folder)))
                self.read_only_folder.emit(str(folder), str(exc), suggested)
            else:
                self.error.emit("Cannot open folder", str(exc))
            return False
        try:
            project.acquire_lock()  # one window per project: never two writers
        except ProjectLocked as exc:
            self.error.emit("Project already open", str(exc))
            return False
        except ProjectError as exc:
            self.error.emit("Cannot open project", str(exc))
            return False
        try:
            defaults = ProjectSettings(
                self.settings.backbone, self.settings.weights, self.settings.learner
            )
            self.session = LabelingSession(project, defaults)
        except (LabelError, LearnerError) as exc:
            project.release_lock()
            self.error.emit("Cannot open project", str(exc))
            return False
        if backbone or weights:
            self.session.switch_backbone(backbone, weights)
        if self.session.snapshot_message:
            self.message.emit(self.session.snapshot_message, 8000)
        self._current = ""
        self._vector_rows = np.zeros(0, np.int64)
        self.model.reset_images([])
        self._sync_classes()
        self.settings.add_recent(str(project.root))
        self.project_opened.emit(str(project.root))
        self._start_extraction()
        self._emit_undo_state()
        return True

    def _project_backbone(self) -> tuple[str, str]:
        labels = self.session.labels
        backbone = labels.get_setting("backbone") or self.settings.backbone
        weights = labels.get_setting("weights") or self.settings.weights
        return backbone, weights

    def _start_extraction(self) -> None:
        assert self.session is not None
        backbone, weights = self._project_backbone()
        try:
            spec = resolve_backbone(backbone, weights)
            self._backbone_label = spec.label
        except BackboneError as exc:
            self._backbone_label = backbone
            self.error.emit("Backbone unavailable", exc.reason)
        self._generation += 1
        self._worker.supersede(self._generation)
        self.thumbnails.set_generation(self._generation)
        self._status.update(state="scanning", device="starting…", extracted=0, rate=0.0, eta=None)
        project = self.session.project
        self._submit.emit(
            JobRequest(self._generation, project.root, project.dir, backbone, weights)
        )
        self._emit_status()

    def close_project(self) -> None:
        """Stop the running job and close the session (snapshot saved)."""
        if self.session is None:
            return
        self._generation += 1
        self._worker.supersede(self._generation)
        self._rescore_timer.stop()
        self._rescore_step.stop()
        self._rescore_state = None
        self._incoming.clear()
        self._snapshot_timer.stop()
        self.thumbnails.set_generation(self._generation)
        try:
            self.session.close()
        except (OSError, LearnerError) as exc:
            self.error.emit("Could not save the model snapshot", str(exc))
        finally:
            self.session.project.release_lock()
        self.session = None
        self.model.reset_images([])
        self.project_closed.emit()

    def shutdown(self) -> None:
        """Called on window close: stop the feature thread cleanly, close the project."""
        self._worker.supersede(self._generation + 1)
        self._worker.cancel()
        self.close_project()
        self._thread.quit()
        self._thread.wait()
        self.thumbnails.shutdown()
        self.previews.shutdown()
        self.exporter.shutdown()

    # -- worker callbacks -----------------------------------------------------------------
    def _on_scan_chunk(self, gen: int, paths: list[str]) -> None:
        if gen != self._generation or self.session is None:
            return
        first = not self.model.paths
        self.model.append_images(paths)
        if first:
            self.model.set_labels(self.session.labels.labels())
            self.set_current_row(0)
        else:
            self._emit_current()  # its position ('12 / 400') counts the new images
        self._emit_status()

    def _on_scan_done(self, gen: int, total: int) -> None:
        if gen == self._generation and self.session is not None:
            self._reserve = total
            self._status.update(state="loading model", total=total)
            self._emit_status()

    def _on_device(self, gen: int, text: str) -> None:
        if gen == self._generation:
            self._status.update(device=text, state="extracting")
            self._emit_status()

    def _on_vectors(self, gen: int, paths: list[str], vectors: np.ndarray) -> None:
        """Queue arriving features; ``_ingest`` takes them in slices between other events."""
        if gen != self._generation or self.session is None:
            return
        for start in range(0, len(paths), INGEST_SLICE):
            stop = start + INGEST_SLICE
            self._incoming.append((gen, paths[start:stop], vectors[start:stop]))
        if not self._ingest_timer.isActive():
            self._ingest_timer.start()

    def _ingest(self) -> None:
        """Store queued features for at most INGEST_BUDGET_S, then yield to the event loop."""
        deadline = time.perf_counter() + INGEST_BUDGET_S
        current_arrived = False
        while self._incoming and time.perf_counter() < deadline:
            gen, paths, vectors = self._incoming.popleft()
            if gen != self._generation or self.session is None:
                continue
            if self._reserve:  # one allocation for the whole folder instead of regrowth
                self.session.vectors.reserve(self._reserve, vectors.shape[1])
                self._reserve = 0
            rows = self.session.add_vectors(paths, vectors)
            needed = len(self.session.vectors)
            if len(self._vector_rows) < needed:
                grown = np.full(max(needed, 2 * len(self._vector_rows)), -1, np.int64)
                grown[: len(self._vector_rows)] = self._vector_rows
                self._vector_rows = grown
            index = self.model.row_of_path
            self._vector_rows[rows] = [index.get(path, -1) for path in paths]
            current_arrived = current_arrived or self._current in paths
        if self._incoming:
            self._ingest_timer.start()
        if self.session is None:
            return
        self._status["extracted"] = len(self.session.vectors)
        if self.session.ready_to_rebuild:
            self._rebuild()
        if current_arrived:
            self._emit_bars()
        self._rescore_timer.start()
        self._emit_status()

    def _on_failed(self, gen: int, reasons: dict) -> None:
        if gen != self._generation:
            return
        self.model.set_reasons(reasons)
        self.unreadable_changed.emit(sorted(self.model.reasons.items()))
        if self._current in reasons:
            self._emit_current()
        self._emit_status()

    def _on_progress(self, gen: int, progress: ExtractionProgress) -> None:
        if gen != self._generation:
            return
        self._status.update(rate=progress.rate, eta=progress.eta, total=progress.total)
        self._emit_status()

    def _on_worker_error(self, gen: int, text: str) -> None:
        if gen == self._generation:
            self._status["state"] = "error"
            self.error.emit("Feature extraction stopped", text)
            self._emit_status()

    def _on_job_finished(self, gen: int, report) -> None:
        if gen != self._generation or self._status["state"] == "error":
            return
        cancelled = report is None or report.cancelled
        self._status.update(state="cancelled" if cancelled else "done", rate=0.0, eta=None)
        self._emit_status()

    def _on_thumbnail_failed(self, key: str, _gen: int, reason: str) -> None:
        self.model.thumbnail_ready(key)

    def about_lines(self) -> list[str]:
        """Versions of the libraries doing the work and the device in use (no heavy imports)."""
        from importlib.metadata import PackageNotFoundError, version

        import PySide6.QtCore

        def ver(dist: str) -> str:
            try:
                return version(dist)
            except PackageNotFoundError:
                return "not installed"

        device = self._status.get("device") or "not started (open a folder)"
        return [
            f"TensorFlow {ver('tensorflow')} · Keras {ver('keras')} · river {ver('river')}",
            f"Qt {PySide6.QtCore.qVersion()} (PySide6 {PySide6.__version__}) · "
            f"h5py {ver('h5py')} · OpenCV {ver('opencv-python-headless')}",
            f"Device: {device}",
            f"Backbone: {self._backbone_label or 'none yet'}",
        ]

    def _pixmap_for(self, path: str):
        pixmap = self.thumbnails.pixmap(path)
        if pixmap is None and self.root is not None:
            self.thumbnails.request(path, self.root / path, self._generation)
        return pixmap


def _name(path: str) -> str:
    return PurePosixPath(path).name
