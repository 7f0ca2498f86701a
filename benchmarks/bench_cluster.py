"""F17: extraction throughput on a local Dask cluster (1 and 2 worker processes) vs in-process.

Run from the repository root (needs ``pip install ".[cluster]"``)::

    python benchmarks/bench_cluster.py                    # 256 EuroSAT copies, EfficientNet-Lite0
    python benchmarks/bench_cluster.py --source dogs-vs-cats --images 400 --json

On the same copied images, one after the other in one run:

- in-process: :func:`~gui_app.core.extraction.run_extraction` as ``loupe extract`` runs it;
- Dask, N workers: the same call (same ``--engine``; auto is int8 where it verified) with
  ``scheduler=`` a LocalCluster of N single-threaded worker processes (what
  ``--scheduler local:N`` starts), each LiteRT engine given cores / N threads.

Each configuration runs twice into a fresh feature store: *cold* (in-process: the engine is
loaded; Dask: the workers import TensorFlow and load the engine) and *warm* (engine loaded,
workers up). Times are wall clock from the call to its return, so Dask's figures include
submitting the tasks, writing every shard and merging it into the store. The warm stores of
every configuration are compared with the in-process one, vector by vector, bitwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    DOGS_VS_CATS,
    EUROSAT_MINI,
    _cpu_times,
    copy_images,
    load_summary,
    machine_info,
    quiet_tensorflow,
    table,
)

from gui_app.core.backbones import DEFAULT_BACKBONE, BackboneSpec, resolve_backbone
from gui_app.core.extraction import run_extraction
from gui_app.core.store import FeatureStore

SOURCES = {"eurosat": EUROSAT_MINI, "dogs-vs-cats": DOGS_VS_CATS}


def _family_cpu() -> float:
    """CPU seconds of this process and its children (the Dask nannies' worker processes)."""
    import psutil

    total = 0.0
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _timed(call) -> tuple[float, float | None, Any]:
    """(seconds, other processes' CPU share, result) of ``call()``; our workers are not others."""
    before = _cpu_times()
    own = _family_cpu()
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    own, after = _family_cpu() - own, _cpu_times()
    share = None
    if before is not None and after is not None and after[1] > before[1]:
        hz = os.sysconf("SC_CLK_TCK")
        busy, total = (after[0] - before[0]) / hz, (after[1] - before[1]) / hz
        share = min(1.0, max(0.0, (busy - own) / total))
    return seconds, share, result


@contextlib.contextmanager
def _workers_stderr_to_null() -> Iterator[None]:
    """Worker processes started inside inherit /dev/null as stderr (TensorFlow's start-up lines)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _vectors(path: Path, store_id: str) -> dict[str, np.ndarray]:
    with FeatureStore(path, store_id, readonly=True) as store:
        return store.vectors_for(store.paths())


def _run_config(
    name: str,
    workers: int,
    root: Path,
    paths: list[str],
    spec: BackboneSpec,
    work: Path,
    batch_size: int,
    engine: str,
) -> dict[str, Any]:
    """Cold then warm extraction of ``paths`` in-process (``workers == 0``) or on a cluster."""
    import distributed

    cluster = None
    start_seconds = 0.0
    if workers:
        start = time.perf_counter()
        with _workers_stderr_to_null():
            cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            )
        start_seconds = time.perf_counter() - start
    cache: dict = {}
    try:
        runs = []
        for phase in ("cold", "warm"):
            store = work / f"{name}-{phase}.h5"
            seconds, share, report = _timed(
                lambda store=store: run_extraction(
                    root,
                    paths,
                    store,
                    work / "engines",
                    spec,
                    batch_size=batch_size,
                    engine=engine,
                    engine_cache=cache,
                    scheduler=cluster.scheduler_address if cluster else None,
                )
            )
            if report.extracted != len(paths):
                raise SystemExit(f"{name} {phase}: {report.summary()}")
            runs.append((seconds, share, store, report.engine, report.backbone_id))
    finally:
        if cluster is not None:
            cluster.close()
    (cold, *_), (warm, warm_share, warm_store, engine_name, store_id) = runs
    return {
        "config": name,
        "workers": workers,
        "engine": engine_name,
        "store_id": store_id,
        "cluster_start_seconds": round(start_seconds, 2),
        "cold_seconds": round(cold, 2),
        "warm_seconds": round(warm, 2),
        "warm_images_per_second": round(len(paths) / warm, 1),
        "others_cpu_share": None if warm_share is None else round(warm_share, 2),
        "store": warm_store,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256, help="copies to extract (256)")
    parser.add_argument("--source", choices=sorted(SOURCES), default="eurosat")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE)
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--engine", default="auto", help="as loupe extract --engine (auto)")
    parser.add_argument("--workers", default="1,2", help="worker counts to time (1,2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = parser.parse_args()
    quiet_tensorflow()  # also sets TF_CPP_MIN_LOG_LEVEL, which the worker processes inherit
    info = machine_info(["tensorflow", "ai-edge-litert", "dask", "distributed"])
    print(info)
    spec = resolve_backbone(args.backbone, args.weights)
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    with tempfile.TemporaryDirectory(prefix="loupe-bench-cluster-") as tmp:
        work = Path(tmp)
        root = work / "images"
        paths = copy_images(SOURCES[args.source], root, args.images)
        print(f"{len(paths)} copies of {SOURCES[args.source].name}, backbone {spec.label}, "
              f"batch {args.batch_size}")  # fmt: skip
        common = (root, paths, spec, work, args.batch_size, args.engine)
        results = [_run_config("in-process", 0, *common)]
        for n in counts:
            results.append(_run_config(f"dask {n} worker(s)", n, *common))
        want = _vectors(results[0]["store"], results[0]["store_id"])
        for result in results:
            got = _vectors(result.pop("store"), result["store_id"])
            same = sorted(got) == sorted(want) and all(
                np.array_equal(got[p], v) for p, v in want.items()
            )
            result["bitwise_equal_to_in_process"] = same
    base = results[0]["warm_images_per_second"]
    rows = [
        (
            r["config"],
            f"{r['cluster_start_seconds']:.1f}",
            f"{r['cold_seconds']:.1f}",
            f"{r['warm_seconds']:.1f}",
            r["engine"],
            f"{r['warm_images_per_second']:.1f}",
            f"{r['warm_images_per_second'] / base:.2f}x",
            "n/a" if r["others_cpu_share"] is None else f"{r['others_cpu_share']:.0%}",
            "yes" if r["bitwise_equal_to_in_process"] else "NO",
        )
        for r in results
    ]
    headers = ("path", "cluster start s", "cold s", "warm s", "engine", "warm img/s",
               "vs in-process", "others' CPU", "bitwise equal")  # fmt: skip
    print(table(headers, rows))
    print(load_summary())
    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "bench_cluster",
                    "machine": info,
                    "images": len(paths),
                    "source": args.source,
                    "backbone": spec.label,
                    "batch_size": args.batch_size,
                    "results": results,
                }
            )
        )


if __name__ == "__main__":
    main()
