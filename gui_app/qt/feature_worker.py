"""The feature thread: scans the folder, owns the inference engine and the HDF5 cache.

One ``FeatureWorker`` lives on one QThread for the whole app. Every job carries a generation
number; a newer job (another folder, another backbone) supersedes the running one, which stops
between batches. Every job ends with ``job_finished``, also on error or cancel.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from gui_app.core.backbones import resolve_backbone
from gui_app.core.errors import LoupeError
from gui_app.core.extraction import ExtractionCallbacks, run_extraction
from gui_app.core.features import ExtractionReport, WorkQueue
from gui_app.core.images import DEFAULT_MAX_PIXELS, iter_images
from gui_app.qt.tasks import lower_current_thread_priority

SCAN_FIRST_CHUNK = 200
SCAN_CHUNK_SECONDS = 0.25


@dataclass(frozen=True)
class JobRequest:
    """What to extract: the folder, the project directory and the backbone choice."""

    generation: int
    root: Path
    project_dir: Path
    backbone: str
    weights: str
    batch_size: int = 32
    max_pixels: int = DEFAULT_MAX_PIXELS
    engine: str = "auto"
    scheduler: str | None = None  # Dask: tcp://HOST:8786 or local[:N]; None: this process


class FeatureWorker(QObject):
    """Runs jobs on its own thread; the GUI thread talks to it only by signals and flags."""

    # Python objects travel as `object`: a `list` argument is converted element by element
    # into a QVariantList and back, which stalls the GUI thread for 100k paths.
    scan_chunk = Signal(int, object)  # generation, list of relative paths
    scan_done = Signal(int, int)  # generation, total
    device_ready = Signal(int, str)  # generation, 'CPU · LiteRT (XNNPACK)'
    vectors_ready = Signal(int, object, object)  # generation, paths, (N, D) float32
    images_failed = Signal(int, object)  # generation, {path: reason}
    progress = Signal(int, object)  # generation, ExtractionProgress
    notice = Signal(int, str)  # generation, message worth showing (cache rebuilt ...)
    error = Signal(int, str)  # generation, message
    job_finished = Signal(int, object)  # generation, ExtractionReport | None

    def __init__(self) -> None:
        super().__init__()
        self._wanted = 0
        self._paused = threading.Event()
        self._cancel = threading.Event()
        self._queue: WorkQueue | None = None
        self._engines: dict[str, object] = {}

    # -- control from the GUI thread (thread-safe) ---------------------------------------
    def supersede(self, generation: int) -> None:
        """Make every job older than ``generation`` stop at its next check."""
        self._wanted = generation

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    def cancel(self) -> None:
        self._cancel.set()
        self._paused.clear()

    def prioritise(self, paths: list[str]) -> None:
        queue = self._queue
        if queue is not None:
            queue.prioritise(paths)

    # -- the job (feature thread) --------------------------------------------------------
    def _stopped(self, gen: int) -> bool:
        while self._paused.is_set() and not self._cancel.is_set() and gen == self._wanted:
            time.sleep(0.05)
        return self._cancel.is_set() or gen != self._wanted

    @Slot(object)
    def run_job(self, request: JobRequest) -> None:
        gen = request.generation
        if gen != self._wanted:
            self.job_finished.emit(gen, None)
            return
        self._cancel.clear()
        report: ExtractionReport | None = None
        try:
            report = self._run(request)
        except LoupeError as exc:
            self.error.emit(gen, exc.reason)
        except OSError as exc:
            self.error.emit(gen, str(exc))
        except Exception as exc:
            traceback.print_exc()
            self.error.emit(
                gen,
                self.tr("feature extraction failed: {error}").format(
                    error=f"{type(exc).__name__}: {exc}"
                ),
            )
        finally:
            self._queue = None
            self.job_finished.emit(gen, report)

    def _scan(self, gen: int, root: Path) -> list[str] | None:
        paths: list[str] = []
        chunk: list[str] = []
        last = time.perf_counter()
        for rel in iter_images(root):
            chunk.append(rel)
            now = time.perf_counter()
            first = not paths and len(chunk) >= SCAN_FIRST_CHUNK
            if first or now - last > SCAN_CHUNK_SECONDS:
                if self._stopped(gen):
                    return None
                paths.extend(chunk)
                self.scan_chunk.emit(gen, chunk)
                chunk, last = [], now
        paths.extend(chunk)
        if chunk:
            self.scan_chunk.emit(gen, chunk)
        self.scan_done.emit(gen, len(paths))
        return paths

    def _run(self, request: JobRequest) -> ExtractionReport | None:
        gen, root = request.generation, request.root
        lower_current_thread_priority()  # extraction must never starve the key path
        paths = self._scan(gen, root)
        if paths is None:
            return None
        spec = resolve_backbone(request.backbone, request.weights)
        queue = WorkQueue()
        self._queue = queue
        report = run_extraction(
            root,
            paths,
            request.project_dir / "features.h5",
            request.project_dir / "engines",
            spec,
            engine=request.engine,
            batch_size=request.batch_size,
            max_pixels=request.max_pixels,
            queue=queue,
            engine_cache=self._engines,
            scheduler=request.scheduler,
            callbacks=ExtractionCallbacks(
                progress=lambda p: self.progress.emit(gen, p),
                cached=lambda ps, vs: self.vectors_ready.emit(gen, ps, vs),
                extracted=lambda ps, vs: self.vectors_ready.emit(gen, ps, vs),
                failures=lambda reasons: self.images_failed.emit(gen, reasons),
                notice=lambda message: self.notice.emit(gen, message),
                engine_ready=lambda name: self.device_ready.emit(gen, _device(name)),
                should_stop=lambda: self._stopped(gen),
            ),
        )
        if not report.cancelled and not report.engine:
            self.device_ready.emit(gen, self.tr("all features cached"))
        return report


def _device(engine: str) -> str:
    """The status bar's device text: ``'CPU · LiteRT int8'``."""
    from gui_app.core.backbones import describe_device
    from gui_app.core.engine_choice import display_name

    return f"{describe_device()} · {display_name(engine)}"
