"""One extraction job as Dask tasks: the client side of ``loupe extract --scheduler``.

:func:`run_extraction_distributed` is :func:`~gui_app.core.extraction.run_extraction` with the
batches run by Dask workers (:func:`~gui_app.core.cluster.extract_shard`, one task per batch)
instead of this process. Each task writes one HDF5 shard; this process merges every shard into
the project's :class:`~gui_app.core.store.FeatureStore` as it completes, then deletes it.

Fault tolerance comes from Dask and from the shards being pure functions of their inputs:
a task of a lost worker is run again elsewhere and writes the same shard; a killed client
leaves shards behind, which the next run merges first, so only the missing batches are
submitted again. Callers see the same callbacks, counts, reasons and summary as in-process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gui_app.core.backbones import BackboneSpec
from gui_app.core.cluster import ClusterError, ShardOutcome, ShardTask, connect
from gui_app.core.engine_choice import (
    FP32,
    INT8,
    INT8_PRECISION,
    LITERT,
    canonical,
    feature_id,
    planned_precision,
)
from gui_app.core.extraction import (
    CACHED_BLOCK,
    DEFAULT_ENGINE,
    ExtractionCallbacks,
    _deliver_cached,
    close_report,
    get_engine,
    open_report,
)
from gui_app.core.features import (
    ExtractionProgress,
    ExtractionReport,
    partition_cached,
)
from gui_app.core.images import DEFAULT_MAX_PIXELS
from gui_app.core.shards import (
    ShardError,
    list_shards,
    merge_shard,
    read_shard,
    remove_stale_temps,
    shard_folder,
    shard_name,
)
from gui_app.core.store import FeatureStore, FileKey, list_backbone_ids

POLL_SECONDS = 0.1


def default_shard_dir(features_path: Path) -> Path:
    """Shards live beside the cache: ``.loupe/features.shards/`` for ``.loupe/features.h5``."""
    return Path(features_path).with_name(Path(features_path).stem + ".shards")


class _Store:
    """The feature store; a new backbone's group is created only once a shard has arrived.

    So a scheduler that cannot be reached, or workers that cannot load the model, leave the
    cache as it was (as in-process, where the group waits for the engine).
    """

    def __init__(self, path: Path, store_id: str, dim: int) -> None:
        self.path, self.id = path, store_id
        self.store: FeatureStore | None = None
        if path.is_file() and store_id in list_backbone_ids(path):
            self.open(dim or None)

    def open(self, dim: int | None) -> FeatureStore:
        if self.store is None:
            self.store = FeatureStore(self.path, self.id, dim)
        return self.store

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def run_extraction_distributed(
    root: Path,
    paths: Sequence[str],
    features_path: Path,
    engines_dir: Path | None,
    spec: BackboneSpec,
    *,
    scheduler: str,
    engine: str = DEFAULT_ENGINE,
    batch_size: int = 32,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    callbacks: ExtractionCallbacks | None = None,
    shard_dir: Path | None = None,
    cached_block: int = CACHED_BLOCK,
) -> ExtractionReport:
    """Bring the feature cache of ``paths`` up to date for ``spec`` on a Dask cluster.

    Parameters
    ----------
    scheduler
        ``tcp://HOST:PORT`` of a running scheduler, or ``local[:N]`` for a LocalCluster of N
        worker processes on this machine (see :func:`~gui_app.core.cluster.parse_scheduler`).
    shard_dir
        Where tasks write their shards (default :func:`default_shard_dir`); every worker must
        see it, and ``root``, at the same path.

    Other parameters, the callbacks and the report are those of
    :func:`~gui_app.core.extraction.run_extraction`; ``notice`` also gets the cluster and its
    dashboard link.
    """
    cb = callbacks or ExtractionCallbacks()
    stop = cb.should_stop or (lambda: False)
    note = cb.notice or (lambda message: None)
    root, features_path = Path(root).resolve(), Path(features_path)
    keys, report = open_report(root, paths, cb)
    current = {k.path: k for k in keys}

    def finish(cancelled: bool = False) -> ExtractionReport:
        return close_report(report, cb, cancelled)

    existing = list_backbone_ids(features_path) if features_path.is_file() else []
    precision = planned_precision(spec, engine, engines_dir, existing)
    if precision is None:  # int8 never converted here: decide here once, as in-process
        if not keys:
            return finish()
        if stop():
            return finish(cancelled=True)
        made = get_engine(spec, engines_dir, engine, None, note)
        precision = getattr(made, "precision", FP32)
        del made
    # Every worker must compute the precision decided here (the store group follows it).
    if precision == INT8_PRECISION:
        worker_choice, allow_int8 = INT8, True
    else:
        worker_choice, allow_int8 = (LITERT if canonical(engine) == INT8 else engine), False
    store_id = report.backbone_id = feature_id(spec, precision)
    base = Path(shard_dir) if shard_dir else default_shard_dir(features_path)
    folder = shard_folder(base.resolve(), store_id)
    remove_stale_temps(folder)
    leftovers = list_shards(folder)
    holder = _Store(features_path, store_id, spec.feature_dim)
    try:
        if leftovers:
            _merge_leftovers(holder, leftovers, current, note)
        if holder.store is None and not keys:
            return finish()
        store = holder.store
        if store is not None and store.recovery_message:
            report.recovery = store.recovery_message
            note(store.recovery_message)
        if store is None:
            cached, todo, known_bad = [], list(keys), {}
        else:
            cached, todo, known_bad = partition_cached(store, keys)
        report.cached = len(cached)
        if known_bad:
            report.unreadable.update(known_bad)
            if cb.failures is not None:
                cb.failures(dict(known_bad))
        no_delivery = store is None or cb.cached is None
        if not no_delivery and not _deliver_cached(store, cached, cb.cached, cached_block, stop):
            return finish(cancelled=True)
        if not todo:
            return finish()
        if stop():
            return finish(cancelled=True)
        tasks = [
            ShardTask(
                str(root),
                tuple(batch),
                spec,
                worker_choice,
                str(Path(engines_dir).resolve()) if engines_dir is not None else None,
                max_pixels,
                str(folder / shard_name(store_id, worker_choice, max_pixels, batch)),
                store_id,
                None,
                precision,
                allow_int8,
            )
            for batch in _batches(todo, max(1, batch_size))
        ]
        _run_tasks(tasks, scheduler, holder, current, report, cb, note, stop)
    finally:
        holder.close()
        # The folders exist only while shards wait to be merged (a given shard_dir stays).
        for empty in (folder,) if shard_dir else (folder, folder.parent):
            with contextlib.suppress(OSError):
                empty.rmdir()
    return finish()


def _batches(keys: list[FileKey], size: int) -> list[list[FileKey]]:
    return [keys[i : i + size] for i in range(0, len(keys), size)]


def _merge_leftovers(holder: _Store, shards: list[Path], current: dict[str, FileKey], note) -> None:
    """Merge the shards an interrupted run left behind; they then count as cached."""
    rows = 0
    for path in shards:
        try:
            shard = read_shard(path)
        except ShardError as exc:
            note(f"{exc}; its batch is extracted again")
        else:
            dim = shard.vectors.shape[1]
            if shard.backbone_id == holder.id and (dim or holder.store is not None):
                rows += len(merge_shard(holder.open(dim or None), shard, current).paths)
        path.unlink(missing_ok=True)
    note(f"merged {len(shards)} shards left by an interrupted run ({rows} new vectors)")


def _run_tasks(
    tasks: list[ShardTask],
    scheduler: str,
    holder: _Store,
    current: dict[str, FileKey],
    report: ExtractionReport,
    cb: ExtractionCallbacks,
    note,
    stop,
) -> None:
    """Submit every task, merge each shard as its task completes, stop between completions."""
    from gui_app.core.cluster import engine_threads, extract_shard, import_distributed

    as_completed = import_distributed().as_completed
    total = report.images
    with connect(scheduler) as conn:
        note(conn.description)
        if conn.dashboard:
            note(f"Dask dashboard: {conn.dashboard}")
        threads = engine_threads(conn.client)
        tasks = [dataclasses.replace(t, threads=threads) for t in tasks]
        started = time.perf_counter()
        futures = conn.client.map(
            extract_shard, tasks, key=[task_key(t) for t in tasks], pure=False
        )
        task_of = {fut.key: task for fut, task in zip(futures, tasks, strict=True)}
        pending = {fut.key: fut for fut in futures}
        _progress(report, total, 0.0, cb)
        # as_completed is incremental: a million-image job has tens of thousands of futures.
        finished = as_completed(futures)
        try:
            while pending:
                if stop():
                    report.cancelled = True
                    break
                ready = finished.next_batch(block=False)
                if not ready:
                    time.sleep(POLL_SECONDS)
                for fut in ready:
                    pending.pop(fut.key, None)
                    _merge(_outcome(fut, task_of[fut.key]), holder, current, report, cb)
                    _progress(report, total, time.perf_counter() - started, cb)
        finally:
            report.seconds = time.perf_counter() - started
            if pending:
                conn.client.cancel(list(pending.values()))


def task_key(task: ShardTask) -> str:
    """Dask key of a task: one per shard file (two projects never share a key)."""
    return (
        "loupe-shard-"
        + hashlib.sha256(task.shard_path.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    )


def _outcome(fut, task: ShardTask) -> ShardOutcome:
    """The task's result; a worker that kept dying becomes a :class:`ClusterError`."""
    try:
        return fut.result()
    except ClusterError:
        raise
    except Exception as exc:
        if type(exc).__name__ != "KilledWorker":
            raise
        first = task.keys[0].path if task.keys else "?"
        raise ClusterError(
            f"Dask workers kept dying on the batch starting at {first} ({exc}); the finished "
            "batches are kept: run the same command again to go on"
        ) from None


def _merge(
    outcome: ShardOutcome,
    holder: _Store,
    current: dict[str, FileKey],
    report: ExtractionReport,
    cb: ExtractionCallbacks,
) -> None:
    path = Path(outcome.shard_path)
    shard = read_shard(path)
    store = holder.open(outcome.dim)
    if not report.engine:
        report.engine = outcome.engine
        if cb.engine_ready is not None:
            cb.engine_ready(f"{outcome.engine} on Dask")
    merged = merge_shard(store, shard, current)
    path.unlink(missing_ok=True)
    new_bad = {k.path: r for k, r in shard.failures if current.get(k.path) == k}
    report.unreadable.update(new_bad)
    if new_bad and cb.failures is not None:
        cb.failures(new_bad)
    report.extracted += len(merged.paths)
    if merged.paths and cb.extracted is not None:
        cb.extracted(merged.paths, np.asarray(merged.vectors, np.float32))


def _progress(
    report: ExtractionReport, total: int, elapsed: float, cb: ExtractionCallbacks
) -> None:
    if cb.progress is None:
        return
    bad = len(report.unreadable)
    done = report.cached + report.extracted + bad
    rate = report.extracted / elapsed if elapsed > 0 and report.extracted else 0.0
    eta = (total - done) / rate if rate > 0 else None
    cb.progress(ExtractionProgress(done, total, report.extracted, report.cached, bad, rate, eta))
