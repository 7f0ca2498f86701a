"""Feature extraction pipeline: decode on a small thread pool, infer in batches, cache in HDF5.

The pipeline is a pure function of its inputs plus two callbacks (progress and cancel) so the
CLI, the Qt feature worker and the tests drive the very same code.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gui_app.core.backbones import BackboneSpec, preprocess
from gui_app.core.engines import InferenceEngine
from gui_app.core.images import DEFAULT_MAX_PIXELS, ImageError, load_rgb_resized
from gui_app.core.store import FeatureStore, FileKey


@dataclass(frozen=True)
class ExtractionProgress:
    """A progress report: counts so far, throughput of new extractions and time left."""

    done: int
    total: int
    extracted: int
    cached: int
    unreadable: int
    rate: float  # images per second, extraction only (cache hits excluded)
    eta: float | None  # seconds

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass
class ExtractionReport:
    """What a run did. ``unreadable`` maps relative path -> specific reason."""

    images: int = 0
    extracted: int = 0
    cached: int = 0
    unreadable: dict[str, str] = field(default_factory=dict)
    cancelled: bool = False
    seconds: float = 0.0
    engine: str = ""
    recovery: str | None = None  # the damaged cache was moved aside and rebuilt (why)
    backbone_id: str = ""  # the feature-store group written (engine_choice.feature_id)

    def summary(self) -> str:
        """The line the CLI prints last."""
        return (
            f"images: {self.images}  extracted: {self.extracted}  cached: {self.cached}  "
            f"unreadable: {len(self.unreadable)}"
        )


class WorkQueue:
    """Thread-safe ordered queue of files to extract; ``prioritise`` moves paths to the front.

    The GUI thread calls ``prioritise`` with the current and visible images while the feature
    thread keeps taking batches.
    """

    def __init__(self, keys: Iterable[FileKey] = ()) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[str, FileKey] = OrderedDict((k.path, k) for k in keys)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def extend(self, keys: Iterable[FileKey]) -> None:
        """Append ``keys`` at the end (a path already queued keeps its place)."""
        with self._lock:
            for key in keys:
                self._items.setdefault(key.path, key)

    def prioritise(self, paths: Sequence[str]) -> None:
        """Move ``paths`` (those still pending) to the front, keeping their given order."""
        with self._lock:
            for path in reversed(paths):
                if path in self._items:
                    self._items.move_to_end(path, last=False)

    def take(self, n: int) -> list[FileKey]:
        """Remove and return up to ``n`` keys from the front."""
        with self._lock:
            out = []
            while self._items and len(out) < n:
                out.append(self._items.popitem(last=False)[1])
            return out


Decoded = list[tuple[FileKey, np.ndarray | str]]
_Pending = tuple[list[FileKey], np.ndarray, list[tuple[int, "Future[dict[int, str]]"]]]


def _decode(root: Path, keys: list[FileKey], spec: BackboneSpec, max_pixels: int) -> Decoded:
    out: Decoded = []
    for key in keys:
        try:
            out.append((key, load_rgb_resized(root / key.path, spec.input_size, max_pixels)))
        except ImageError as exc:
            out.append((key, exc.reason))
        except MemoryError:
            out.append((key, "out of memory while decoding"))
    return out


def _pack(decoded: Decoded, spec: BackboneSpec, out: np.ndarray) -> dict[int, str]:
    """Write each decoded image's network input into its row of ``out``.

    Returns ``{row: reason}`` for the files that failed; their rows are left unwritten.
    """
    failed: dict[int, str] = {}
    rows: list[int] = []
    images: list[np.ndarray] = []
    for row, (_, result) in enumerate(decoded):
        if isinstance(result, str):
            failed[row] = result
        else:
            rows.append(row)
            images.append(result)
    if images:
        inputs = preprocess(spec, np.stack(images))
        if len(rows) == len(out):
            out[...] = inputs
        else:
            out[rows] = inputs
    return failed


def _decode_into(
    root: Path, keys: list[FileKey], spec: BackboneSpec, max_pixels: int, out: np.ndarray
) -> dict[int, str]:
    """Decode ``keys`` into ``out`` (:func:`_pack`) on a decode thread, so the float conversion
    overlaps the model's run of the previous batch instead of following it."""
    return _pack(_decode(root, keys, spec, max_pixels), spec, out)


def stat_files(root: Path, paths: Iterable[str]) -> tuple[list[FileKey], dict[str, str]]:
    """Stat every path; return (keys, {path: reason}) for files that cannot be stat'ed."""
    keys: list[FileKey] = []
    missing: dict[str, str] = {}
    for rel in paths:
        try:
            keys.append(FileKey.for_file(root, rel))
        except OSError as exc:
            missing[rel] = f"cannot read file: {exc.strerror or exc}"
    return keys, missing


def partition_cached(
    store: FeatureStore, keys: Sequence[FileKey]
) -> tuple[list[FileKey], list[FileKey], dict[str, str]]:
    """Split keys into (cached, to_extract, known_failures) using the store."""
    cached, todo, failed = [], [], {}
    for key in keys:
        if store.lookup(key) is not None:
            cached.append(key)
            continue
        reason = store.failure(key)
        if reason is not None:
            failed[key.path] = reason
        else:
            todo.append(key)
    return cached, todo, failed


def extract_features(
    root: Path,
    queue: WorkQueue,
    spec: BackboneSpec,
    store: FeatureStore,
    engine: InferenceEngine,
    *,
    batch_size: int = 32,
    total: int | None = None,
    report: ExtractionReport | None = None,
    progress: Callable[[ExtractionProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_batch: Callable[[list[str], np.ndarray], None] | None = None,
    on_failure: Callable[[str, str], None] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    decode_workers: int = 2,
) -> ExtractionReport:
    """Extract features for every key taken from ``queue`` and append them to ``store``.

    Decoding of the next batch overlaps inference of the current one. Unreadable files are
    recorded in the store with their reason and never abort the run. ``should_stop`` is
    checked between batches; a cancelled run leaves every finished batch committed.

    Parameters
    ----------
    total
        Total images for progress (defaults to the queue length plus what ``report`` counted).
    report
        A report to continue (cached/unreadable counts from the caller's partition step).
    on_batch
        Called with (paths, vectors) after each batch is committed to the store.
    on_failure
        Called with (path, reason) for each file that cannot be decoded, once it is recorded.
    """
    report = report or ExtractionReport()
    report.engine = getattr(engine, "name", type(engine).__name__)
    already = report.cached + len(report.unreadable)
    total = total if total is not None else already + len(queue)
    started = time.perf_counter()
    stop = should_stop or (lambda: False)

    def emit_progress() -> None:
        if progress is None:
            return
        elapsed = time.perf_counter() - started
        rate = report.extracted / elapsed if elapsed > 0 and report.extracted else 0.0
        done = report.cached + report.extracted + len(report.unreadable)
        eta = (total - done) / rate if rate > 0 else None
        progress(
            ExtractionProgress(
                done, total, report.extracted, report.cached, len(report.unreadable), rate, eta
            )
        )

    emit_progress()
    with ThreadPoolExecutor(
        max_workers=max(1, decode_workers), thread_name_prefix="decode"
    ) as pool:
        # Two input buffers in turn (one decoding, one in the model): a fresh 19 MB array per
        # batch costs page faults worth ~5 % of int8 throughput. np.empty touches no page.
        ring = itertools.cycle(
            [np.empty((batch_size, *spec.input_size, 3), np.float32) for _ in range(2)]
        )

        def submit() -> _Pending | None:
            keys = queue.take(batch_size)
            if not keys:
                return None
            inputs = next(ring)[: len(keys)]
            # Split the batch across workers so decoding is parallel within a batch too.
            step = max(1, -(-len(keys) // max(1, decode_workers)))
            futures = [
                (i, pool.submit(_decode_into, root, keys[i : i + step], spec, max_pixels,
                                inputs[i : i + step]))
                for i in range(0, len(keys), step)
            ]  # fmt: skip
            return keys, inputs, futures

        pending = submit()
        while pending is not None:
            if stop():
                for _, fut in pending[2]:
                    fut.cancel()
                report.cancelled = True
                break
            keys, inputs, futures = pending
            failed = {i + row: why for i, fut in futures for row, why in fut.result().items()}
            pending = submit()  # decode the next batch while this one runs through the model
            batch = _infer_prepared(keys, inputs, failed, engine)
            commit_batch(store, batch, report, on_batch=on_batch, on_failure=on_failure)
            emit_progress()
    report.images = max(report.images, total)
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class BatchResult:
    """One batch through the backbone: vectors of the decodable files, reasons for the rest."""

    keys: list[FileKey]
    vectors: np.ndarray  # (len(keys), D) float32
    failures: list[tuple[FileKey, str]]


def infer_batch(decoded: Decoded, spec: BackboneSpec, engine: InferenceEngine) -> BatchResult:
    """Run the decoded images of one batch through ``engine`` (no store, no shared state).

    The unit of work a distributed executor runs per batch; :func:`commit_batch` then writes
    its result from the one thread that owns the HDF5 file.
    """
    inputs = np.empty((len(decoded), *spec.input_size, 3), np.float32)
    failed = _pack(decoded, spec, inputs)
    return _infer_prepared([key for key, _ in decoded], inputs, failed, engine)


def _infer_prepared(
    keys: list[FileKey], inputs: np.ndarray, failed: dict[int, str], engine: InferenceEngine
) -> BatchResult:
    """Run the rows of ``inputs`` whose files decoded (not in ``failed``) through ``engine``."""
    failures = [(keys[row], reason) for row, reason in sorted(failed.items())]
    if failed:
        ok = [row for row in range(len(keys)) if row not in failed]
        keys, inputs = [keys[row] for row in ok], inputs[ok]
    if not keys:
        return BatchResult([], np.zeros((0, 0), np.float32), failures)
    return BatchResult(keys, np.asarray(engine(inputs), dtype=np.float32), failures)


def commit_batch(
    store: FeatureStore,
    batch: BatchResult,
    report: ExtractionReport,
    *,
    on_batch: Callable[[list[str], np.ndarray], None] | None = None,
    on_failure: Callable[[str, str], None] | None = None,
) -> None:
    """Record a batch's failures and append its vectors to ``store``, then call back."""
    for key, reason in batch.failures:
        store.record_failure(key, reason)
        report.unreadable[key.path] = reason
        if on_failure is not None:
            on_failure(key.path, reason)
    if not batch.keys:
        return
    store.append(batch.keys, batch.vectors)
    report.extracted += len(batch.keys)
    if on_batch is not None:
        on_batch([k.path for k in batch.keys], batch.vectors)
