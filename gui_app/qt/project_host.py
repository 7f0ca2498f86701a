"""Project lifecycle: open (lock, session), the feature thread, and taking features in.

The host owns the open :class:`~gui_app.core.session.LabelingSession` and the one
:class:`~gui_app.qt.feature_worker.FeatureWorker` thread. Scanned images and arriving vectors
are handed to the session in time-boxed slices, so a folder of 100,000 cached vectors never
stalls the event loop; what the host learns about extraction is kept in :class:`Extraction`.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QThread, QTimer, Signal

from gui_app.core.backbones import BackboneError, resolve_backbone
from gui_app.core.errors import LoupeError
from gui_app.core.features import ExtractionProgress
from gui_app.core.lock import ProjectLocked
from gui_app.core.project import Project, ProjectError
from gui_app.core.session import LabelingSession
from gui_app.qt.feature_worker import FeatureWorker, JobRequest
from gui_app.qt.image_model import ImageListModel, ImageSource
from gui_app.qt.interpreter import settle_heap, tune_for_interaction
from gui_app.qt.settings import AppSettings, suggested_project_dir
from gui_app.qt.thumbnails import ThumbnailLoader

INGEST_SLICE = 512  # feature vectors stored per step
SCAN_SLICE = 2000  # scanned paths indexed per step
INGEST_BUDGET_S = 0.008  # time given to storing features before other events run
SETTLE_EVERY = 20_000  # vectors stored between two settle_heap() calls
RUNNING = ("scanning", "loading model", "extracting", "paused")


@dataclass(frozen=True)
class Extraction:
    """What the feature thread is doing, for the status bar."""

    state: str = "idle"  # idle scanning 'loading model' extracting paused done cancelled error
    device: str = ""
    extracted: int = 0
    total: int = 0
    rate: float = 0.0
    eta: float | None = None
    backbone: str = ""


class ProjectHost(QObject):
    """Opens and closes projects and feeds the session from the feature thread."""

    opened = Signal(str)  # project root
    closed = Signal()
    error = Signal(str, str)
    message = Signal(str, int)
    read_only_folder = Signal(str, str, str)  # folder, reason, suggested project dir
    images_added = Signal(bool)  # first images of the project?
    vectors_stored = Signal(bool)  # did the current image get its vector?
    unreadable_changed = Signal(list)  # [(path, reason)]
    extraction_changed = Signal()
    _submit = Signal(object)

    def __init__(
        self,
        settings: AppSettings,
        model: ImageListModel,
        thumbnails: ThumbnailLoader,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        tune_for_interaction()
        self.settings = settings
        self._model = model
        self._thumbnails = thumbnails
        self.session: LabelingSession | None = None
        self.extraction = Extraction()
        self.generation = 0
        self.current_path = ""  # told by the labelling part: its vector is waited for
        self._reasons: dict[str, str] = {}
        self._pending_options: dict[str, tuple[str | None, str | None]] = {}
        self._reserve = 0
        self._settled_at = 0  # session.vector_count at the last settle_heap()
        self._incoming: deque[tuple[int, list[str], np.ndarray | None]] = deque()  # None: scanned
        self._ingest_timer = QTimer(self, singleShot=True, interval=0)
        self._ingest_timer.timeout.connect(self._ingest)
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
        w.notice.connect(lambda g, m: g == self.generation and self.message.emit(m, 8000))
        w.error.connect(self._on_worker_error)
        w.job_finished.connect(self._on_job_finished)
        self._thread.start()

    @property
    def root(self) -> Path | None:
        return self.session.project.root if self.session else None

    @property
    def thread(self) -> QThread:
        return self._thread

    # -- open / close -------------------------------------------------------------------
    def open(
        self,
        folder: str,
        project_dir: str | None = None,
        backbone: str | None = None,
        weights: str | None = None,
    ) -> bool:
        """Open ``folder`` (its ``.loupe/`` or ``project_dir``); False when it could not.

        ``backbone``/``weights`` (command-line options) become the project's choice.
        """
        self.close()
        pending = self._pending_options.pop(str(folder), None)
        if pending and backbone is None and weights is None:
            backbone, weights = pending  # the retry after the read-only dialog keeps them
        try:
            project = Project(Path(folder), Path(project_dir) if project_dir else None)
        except ProjectError as exc:
            if Path(folder).is_dir() and project_dir is None:
                self._pending_options[str(folder)] = (backbone, weights)
                suggested = str(suggested_project_dir(Path(folder)))
                self.read_only_folder.emit(str(folder), exc.reason, suggested)
            else:
                self.error.emit(self.tr("Cannot open folder"), exc.reason)
            return False
        try:
            project.acquire_lock()  # one window per project: never two writers
        except ProjectLocked as exc:
            self.error.emit(self.tr("Project already open"), exc.reason)
            return False
        except ProjectError as exc:
            self.error.emit(self.tr("Cannot open project"), exc.reason)
            return False
        try:
            session = LabelingSession(project, self.settings.project_defaults())
            if backbone or weights:
                session.switch_backbone(backbone, weights)
        except LoupeError as exc:
            project.release_lock()
            self.error.emit(self.tr("Cannot open project"), exc.reason)
            return False
        session.defer_rebuilds = True  # replays run on a background task, never here
        self.session = session
        self._settled_at = 0
        self._reasons = {}
        self._model.set_source(self._source())
        if session.snapshot_message:
            self.message.emit(session.snapshot_message, 8000)
        self.settings.add_recent(str(project.root))
        self.opened.emit(str(project.root))
        self.start_extraction()
        return True

    def _source(self) -> ImageSource:
        session = self.session
        assert session is not None
        paths, index = session.image_index()
        marks = {m: session.marked(m) for m in ("unsure", "reviewed")}
        return ImageSource(paths, index, session.labels_by_path(), marks, self._reasons)

    def refresh_source(self) -> None:
        """The session replaced a container (e.g. every label re-read): point the model at it."""
        if self.session is not None:
            self._model.set_source(self._source())
            self._model.images_added()

    def start_extraction(self) -> None:
        """(Re)start the job of the open project with its current backbone choice."""
        session = self.session
        assert session is not None
        backbone, weights = session.settings.backbone_choice
        label = backbone
        try:
            label = resolve_backbone(backbone, weights).label
        except BackboneError as exc:
            self.error.emit(self.tr("Backbone unavailable"), exc.reason)
        self.generation += 1
        self._worker.supersede(self.generation)
        self._thumbnails.set_generation(self.generation)
        self._incoming.clear()
        self.extraction = Extraction("scanning", self.tr("starting…"), backbone=label)
        project = session.project
        request = JobRequest(
            self.generation, project.root, project.dir, backbone, weights,
            engine=session.settings.engine, scheduler=self.settings.scheduler or None,
        )  # fmt: skip
        self._submit.emit(request)
        self.extraction_changed.emit()

    def close(self) -> bool:
        """Stop the running job and close the session (snapshot saved); False if none open."""
        session = self.session
        if session is None:
            return False
        self.generation += 1
        self._worker.supersede(self.generation)
        self._incoming.clear()
        self._thumbnails.set_generation(self.generation)
        self.session = None
        try:
            session.close()
        except (OSError, LoupeError) as exc:
            self.error.emit(self.tr("Could not save the model snapshot"), str(exc))
        finally:
            session.project.release_lock()
        self._model.set_source(None)
        self.extraction = Extraction()
        self.closed.emit()
        return True

    def shutdown(self) -> None:
        """Stop the feature thread cleanly (window closing)."""
        self._worker.supersede(self.generation + 1)
        self._worker.cancel()
        self.close()
        self._thread.quit()
        self._thread.wait()

    # -- control of the job ---------------------------------------------------------------
    def prioritise(self, paths: list[str]) -> None:
        self._worker.prioritise(paths)

    def pause(self, paused: bool) -> None:
        self._worker.set_paused(paused)
        if self.extraction.state in ("extracting", "paused"):
            self._set(state="paused" if paused else "extracting")

    def cancel(self) -> None:
        self._worker.cancel()

    def _set(self, **changes: object) -> None:
        self.extraction = replace(self.extraction, **changes)
        self.extraction_changed.emit()

    # -- worker callbacks -----------------------------------------------------------------
    def _on_scan_chunk(self, gen: int, paths: list[str]) -> None:
        """Queue scanned paths; ``_ingest`` indexes them in slices, in order with vectors."""
        if gen != self.generation or self.session is None:
            return
        for start in range(0, len(paths), SCAN_SLICE):
            self._incoming.append((gen, paths[start : start + SCAN_SLICE], None))
        if not self._ingest_timer.isActive():
            self._ingest_timer.start()

    def _add_images(self, paths: list[str]) -> None:
        first = not self._model.paths
        self.session.add_images(paths)
        self._model.images_added()
        self.images_added.emit(first)

    def _on_scan_done(self, gen: int, total: int) -> None:
        if gen == self.generation and self.session is not None:
            self._reserve = total
            self._set(state="loading model", total=total)
            settle_heap()  # the image index is built

    def _on_device(self, gen: int, text: str) -> None:
        if gen == self.generation:
            self._set(device=text, state="extracting")

    def _on_vectors(self, gen: int, paths: list[str], vectors: np.ndarray) -> None:
        """Queue arriving features; ``_ingest`` takes them in slices between other events."""
        if gen != self.generation or self.session is None:
            return
        for start in range(0, len(paths), INGEST_SLICE):
            stop = start + INGEST_SLICE
            self._incoming.append((gen, paths[start:stop], vectors[start:stop]))
        if not self._ingest_timer.isActive():
            self._ingest_timer.start()

    def _ingest(self) -> None:
        """Index queued paths and store queued features for at most INGEST_BUDGET_S, then
        yield to the event loop."""
        deadline = time.perf_counter() + INGEST_BUDGET_S
        current_arrived = stored = False
        session = self.session
        while self._incoming and time.perf_counter() < deadline:
            gen, paths, vectors = self._incoming.popleft()
            if gen != self.generation or session is None:
                continue
            if vectors is None:
                self._add_images(paths)
                continue
            stored = True
            if self._reserve:  # one allocation for the whole folder instead of regrowth
                session.reserve(self._reserve, vectors.shape[1])
                self._reserve = 0
            session.add_vectors(paths, vectors)
            current_arrived = current_arrived or self.current_path in paths
        if self._incoming:
            self._ingest_timer.start()
        if session is None or not stored:
            return
        if not self._incoming and session.vector_count >= self._settled_at + SETTLE_EVERY:
            self._settled_at = session.vector_count
            settle_heap()  # many cached vectors came in: their index entries live on
        self.extraction = replace(self.extraction, extracted=session.vector_count)
        self.vectors_stored.emit(current_arrived)

    def _on_failed(self, gen: int, reasons: dict) -> None:
        if gen != self.generation:
            return
        self._reasons.update(reasons)
        if self.session is not None:
            self.session.features_unavailable(reasons)
        self._model.reasons_changed()
        self.unreadable_changed.emit(sorted(self._reasons.items()))

    def _on_progress(self, gen: int, progress: ExtractionProgress) -> None:
        if gen == self.generation:
            self._set(rate=progress.rate, eta=progress.eta, total=progress.total)

    def _on_worker_error(self, gen: int, text: str) -> None:
        if gen == self.generation:
            self._set(state="error")
            self.error.emit(self.tr("Feature extraction stopped"), text)

    def _on_job_finished(self, gen: int, report) -> None:
        if gen != self.generation or self.extraction.state == "error":
            return
        cancelled = report is None or report.cancelled
        self._set(state="cancelled" if cancelled else "done", rate=0.0, eta=None)

    def reason(self, path: str) -> str | None:
        return self._reasons.get(path)

    @property
    def unreadable(self) -> dict[str, str]:
        return self._reasons
