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

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from gui_app.core.backbones import resolve_backbone
from gui_app.core.errors import LoupeError
from gui_app.core.features import (
    ExtractionProgress,
    ExtractionReport,
    WorkQueue,
    extract_features,
    partition_cached,
    stat_files,
)
from gui_app.core.images import DEFAULT_MAX_PIXELS, iter_images
from gui_app.core.store import FeatureStore

SCAN_FIRST_CHUNK = 200
SCAN_CHUNK_SECONDS = 0.25
CACHED_BLOCK = 2048


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
            self.error.emit(gen, f"feature extraction failed: {type(exc).__name__}: {exc}")
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

    def _engine(self, spec, cache_dir: Path, prefer: str, gen: int):
        from gui_app.core.backbones import describe_device
        from gui_app.core.engines import create_engine

        key = f"{spec.id}|{prefer}"
        if key not in self._engines:
            self._engines.clear()  # one backbone in memory at a time
            self._engines[key] = create_engine(
                spec, cache_dir, prefer=prefer, log=lambda m: self.notice.emit(gen, m)
            )
        engine = self._engines[key]
        self.device_ready.emit(gen, f"{describe_device()} · {engine.name}")
        return engine

    def _run(self, request: JobRequest) -> ExtractionReport | None:
        gen, root = request.generation, request.root
        paths = self._scan(gen, root)
        if paths is None:
            return None
        spec = resolve_backbone(request.backbone, request.weights)
        keys, unreadable = stat_files(root, paths)
        if unreadable:
            self.images_failed.emit(gen, dict(unreadable))
        features_path = request.project_dir / "features.h5"
        engine = None
        dim = spec.feature_dim
        if not dim:  # the model must be loaded to know its output size
            engine = self._engine(spec, request.project_dir / "engines", request.engine, gen)
            dim = dim or engine.feature_dim
        with FeatureStore(features_path, spec.id, dim) as store:
            if store.recovery_message:
                self.notice.emit(gen, store.recovery_message)
            cached, todo, known_bad = partition_cached(store, keys)
            if known_bad:
                self.images_failed.emit(gen, known_bad)
            unreadable.update(known_bad)
            self._emit_cached(gen, store, cached)
            report = ExtractionReport(images=len(paths), cached=len(cached), unreadable=unreadable)
            if not todo:
                self.device_ready.emit(gen, "all features cached")
                self.progress.emit(gen, _final_progress(report))
                return report
            queue = WorkQueue(todo)
            self._queue = queue
            if engine is None:
                engine = self._engine(spec, request.project_dir / "engines", request.engine, gen)
            if self._stopped(gen):
                report.cancelled = True
                return report
            before = set(unreadable)

            def on_batch(batch_paths: list[str], vectors: np.ndarray) -> None:
                self.vectors_ready.emit(gen, batch_paths, vectors)
                new_bad = {p: r for p, r in report.unreadable.items() if p not in before}
                if new_bad:
                    before.update(new_bad)
                    self.images_failed.emit(gen, new_bad)

            extract_features(
                root,
                queue,
                spec,
                store,
                engine,
                batch_size=request.batch_size,
                total=len(paths),
                report=report,
                progress=lambda p: self.progress.emit(gen, p),
                should_stop=lambda: self._stopped(gen),
                on_batch=on_batch,
                max_pixels=request.max_pixels,
            )
            new_bad = {p: r for p, r in report.unreadable.items() if p not in before}
            if new_bad:
                self.images_failed.emit(gen, new_bad)
            return report

    def _emit_cached(self, gen: int, store: FeatureStore, cached: list) -> None:
        for start in range(0, len(cached), CACHED_BLOCK):
            block = cached[start : start + CACHED_BLOCK]
            rows = [store.lookup(k) for k in block]
            vectors = store.vectors(np.asarray(rows, np.int64))
            self.vectors_ready.emit(gen, [k.path for k in block], vectors)


def _final_progress(report: ExtractionReport) -> ExtractionProgress:
    done = report.cached + report.extracted + len(report.unreadable)
    return ExtractionProgress(
        done, report.images, report.extracted, report.cached, len(report.unreadable), 0.0, 0.0
    )
