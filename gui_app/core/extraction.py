"""One extraction job, the same for the CLI, the window's feature worker and the tests.

:func:`run_extraction` takes the already scanned image paths and does the rest: stat every
file, look the cache up, hand cached vectors over, pick the engine, run the pipeline of
:mod:`gui_app.core.features` and report. Callers see the job only through
:class:`ExtractionCallbacks`; pause is the caller's ``should_stop`` blocking while paused.

The feature group of a backbone is created only once the engine exists: a download that fails
offline leaves the cache as it was, never an empty group.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gui_app.core.backbones import BackboneSpec
from gui_app.core.engine_choice import (
    AUTO,
    ENGINE_CHOICES,
    FP32,
    canonical,
    engine_label,
    feature_id,
    int8_by_default,
    planned_precision,
)
from gui_app.core.engines import InferenceEngine
from gui_app.core.errors import LoupeError
from gui_app.core.features import (
    ExtractionProgress,
    ExtractionReport,
    WorkQueue,
    extract_features,
    partition_cached,
    stat_files,
)
from gui_app.core.images import DEFAULT_MAX_PIXELS
from gui_app.core.store import FeatureStore, FileKey, list_backbone_ids

CACHED_BLOCK = 2048
DEFAULT_ENGINE = ENGINE_CHOICES[0]  # "auto": see gui_app.core.engine_choice

Vectors = Callable[[list[str], np.ndarray], None]


class EngineChangedError(LoupeError):
    """The engine that loaded is not the one the cached features were read for."""


@dataclass
class ExtractionCallbacks:
    """What a caller wants to hear from :func:`run_extraction`; every field is optional.

    Attributes
    ----------
    progress
        :class:`ExtractionProgress` after the cache lookup and after every batch.
    cached
        ``(paths, (N, D) float32)`` blocks of vectors already in the cache (read only if set).
    extracted
        ``(paths, (N, D) float32)`` of each newly extracted batch, once committed.
    failures
        ``{path: reason}`` as they are found: files that cannot be stat'ed, failures the cache
        remembers, then the files of each batch that cannot be decoded.
    notice
        One-line messages worth showing: cache recovered from damage, engine converted...
    engine_ready
        The engine's name once the model is loaded: ``litert-int8``, ``litert-xnnpack`` (LiteRT
        fp32), ``tf-function`` or ``keras-eager``.
    should_stop
        Polled between steps and batches; the caller implements pause by blocking in it.
    """

    progress: Callable[[ExtractionProgress], None] | None = None
    cached: Vectors | None = None
    extracted: Vectors | None = None
    failures: Callable[[dict[str, str]], None] | None = None
    notice: Callable[[str], None] | None = None
    engine_ready: Callable[[str], None] | None = None
    should_stop: Callable[[], bool] | None = None


def engine_key(spec: BackboneSpec, engine: str, allow_int8: bool = True) -> str:
    """Key of an engine in the ``engine_cache`` of :func:`run_extraction`."""
    return f"{spec.id}|{engine}" + ("" if allow_int8 else "|no-int8")


def get_engine(
    spec: BackboneSpec,
    engines_dir: Path | None,
    engine: str = DEFAULT_ENGINE,
    cache: MutableMapping[str, InferenceEngine] | None = None,
    log: Callable[[str], None] = lambda message: None,
    allow_int8: bool = True,
) -> InferenceEngine:
    """The engine for ``spec`` from ``cache``, else created (and cached: one model at a time)."""
    from gui_app.core.engines import create_engine

    key = engine_key(spec, engine, allow_int8)
    if cache is not None and key in cache:
        return cache[key]
    made = create_engine(spec, engines_dir, prefer=engine, log=log, allow_int8=allow_int8)
    if cache is not None:
        cache.clear()  # one backbone in memory at a time
        cache[key] = made
    return made


def final_progress(report: ExtractionReport) -> ExtractionProgress:
    """The progress of a finished (or all-cached) job."""
    bad = len(report.unreadable)
    done = report.cached + report.extracted + bad
    return ExtractionProgress(done, report.images, report.extracted, report.cached, bad, 0.0, 0.0)


def open_report(
    root: Path, paths: Sequence[str], cb: ExtractionCallbacks
) -> tuple[list[FileKey], ExtractionReport]:
    """Stat ``paths``: the readable files' keys and a report that already lists the rest.

    Files that cannot be stat'ed are passed to ``cb.failures`` at once, as every job does.
    """
    keys, unreadable = stat_files(root, paths)
    report = ExtractionReport(images=len(paths), unreadable=unreadable)
    if unreadable and cb.failures is not None:
        cb.failures(dict(unreadable))
    return keys, report


def close_report(
    report: ExtractionReport, cb: ExtractionCallbacks, cancelled: bool = False
) -> ExtractionReport:
    """Mark ``report`` cancelled or send its final progress; return it."""
    report.cancelled = report.cancelled or cancelled
    if cb.progress is not None and not report.cancelled:
        cb.progress(final_progress(report))
    return report


def _deliver_cached(
    store: FeatureStore, cached: list[FileKey], deliver: Vectors, block: int, stop
) -> bool:
    """Hand cached vectors over in blocks; False when stopped part way."""
    for start in range(0, len(cached), block):
        if stop():
            return False
        keys = cached[start : start + block]
        rows = np.asarray([store.lookup(k) for k in keys], np.int64)
        deliver([k.path for k in keys], store.vectors(rows))
    return True


def run_extraction(
    root: Path,
    paths: Sequence[str],
    features_path: Path,
    engines_dir: Path | None,
    spec: BackboneSpec,
    *,
    engine: str = DEFAULT_ENGINE,
    batch_size: int = 32,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    callbacks: ExtractionCallbacks | None = None,
    queue: WorkQueue | None = None,
    engine_cache: MutableMapping[str, InferenceEngine] | None = None,
    decode_workers: int = 2,
    cached_block: int = CACHED_BLOCK,
    scheduler: str | None = None,
    shard_dir: Path | None = None,
) -> ExtractionReport:
    """Bring the feature cache of ``paths`` (relative to ``root``) up to date for ``spec``.

    Parameters
    ----------
    paths
        Relative POSIX paths of the images, as scanned by the caller.
    features_path
        The HDF5 cache (created when missing); ``engines_dir`` keeps converted engines.
    engine
        One of :data:`gui_app.core.engines.ENGINE_CHOICES`.
    queue
        An empty :class:`WorkQueue` the files to extract are put in, so the caller can
        ``prioritise`` paths from another thread while the job runs.
    engine_cache
        A dict a long-lived caller keeps between jobs so the model stays loaded.
    scheduler
        Run the batches as Dask tasks on this scheduler (``tcp://HOST:8786`` or ``local[:N]``)
        with shards in ``shard_dir``: :mod:`gui_app.core.distributed` (``queue``,
        ``engine_cache`` and ``decode_workers`` are then unused). ``None``: in this process.

    Returns
    -------
    ExtractionReport
        Counts, reasons of unreadable files, engine name, ``recovery`` when the cache was
        damaged, ``cancelled`` when ``should_stop`` ended the job early.
    """
    if scheduler is not None:
        from gui_app.core.distributed import run_extraction_distributed

        return run_extraction_distributed(
            root,
            paths,
            features_path,
            engines_dir,
            spec,
            scheduler=scheduler,
            engine=engine,
            batch_size=batch_size,
            max_pixels=max_pixels,
            callbacks=callbacks,
            shard_dir=shard_dir,
            cached_block=cached_block,
        )
    cb = callbacks or ExtractionCallbacks()
    stop = cb.should_stop or (lambda: False)
    note = cb.notice or (lambda message: None)
    root, features_path = Path(root), Path(features_path)
    keys, report = open_report(root, paths, cb)

    def finish(cancelled: bool = False) -> ExtractionReport:
        return close_report(report, cb, cancelled)

    existing = list_backbone_ids(features_path) if features_path.is_file() else []
    # The engine decides the store group (engine_choice); known without TF unless int8 was
    # never converted here, and then the engine is loaded (and converted) first.
    precision = planned_precision(spec, engine, engines_dir, existing)
    # Only 'auto' on the built-in Lite0 could pick int8; a planned fp32 there forbids it.
    allow_int8 = not (precision == FP32 and canonical(engine) == AUTO and int8_by_default(spec))

    def load_engine() -> InferenceEngine:
        made = get_engine(spec, engines_dir, engine, engine_cache, note, allow_int8)
        got = getattr(made, "precision", FP32)
        if precision is not None and got != precision:
            raise EngineChangedError(
                f"the {engine} engine loaded as {engine_label(got)}, not "
                f"{engine_label(precision)} as its cached verdict said; run the job again"
            )
        if cb.engine_ready is not None:
            cb.engine_ready(made.name)
        return made

    model: InferenceEngine | None = None
    if precision is None:
        if not keys:
            return finish()
        if stop():
            return finish(cancelled=True)
        model = load_engine()
        precision = getattr(model, "precision", FP32)
    store_id = report.backbone_id = feature_id(spec, precision)
    has_group = store_id in existing
    if not keys and not has_group:
        return finish()
    if not has_group and existing and keys:
        note(
            f"extracting the features of {spec.label} with the {engine_label(precision)} "
            "engine: none are cached yet (features of other backbones or engines stay cached "
            "apart and are never mixed)"
        )
    if not has_group or not spec.feature_dim:  # the group needs the output size: model first
        if stop():
            return finish(cancelled=True)
        model = model or load_engine()
    with FeatureStore(features_path, store_id, spec.feature_dim or model.feature_dim) as store:
        if store.recovery_message:
            report.recovery = store.recovery_message
            note(store.recovery_message)
        cached, todo, known_bad = partition_cached(store, keys)
        report.cached = len(cached)
        if known_bad:
            report.unreadable.update(known_bad)
            if cb.failures is not None:
                cb.failures(dict(known_bad))
        if cb.cached is not None and not _deliver_cached(
            store, cached, cb.cached, cached_block, stop
        ):
            return finish(cancelled=True)
        if not todo:
            return finish()
        queue = queue if queue is not None else WorkQueue()
        queue.extend(todo)
        if stop():
            return finish(cancelled=True)
        model = model or load_engine()
        pending: dict[str, str] = {}

        def flush_failures() -> None:
            if pending and cb.failures is not None:
                cb.failures(dict(pending))
            pending.clear()

        def progress(p: ExtractionProgress) -> None:
            flush_failures()
            if cb.progress is not None:
                cb.progress(p)

        extract_features(
            root,
            queue,
            spec,
            store,
            model,
            batch_size=max(1, batch_size),
            total=len(paths),
            report=report,
            progress=progress,
            should_stop=stop,
            on_batch=cb.extracted,
            on_failure=pending.__setitem__,
            max_pixels=max_pixels,
            decode_workers=decode_workers,
        )
        flush_failures()
    return report
