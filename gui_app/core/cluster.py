"""Dask clusters for extraction: parse ``--scheduler``, connect (or start one locally), run tasks.

``--scheduler tcp://HOST:8786`` connects to a running Dask scheduler; ``local`` or ``local:N``
starts a ``LocalCluster`` of N worker processes on this machine for the job. Dask is an optional
dependency (``pip install "loupe[cluster]"``) and is imported only inside these functions.

The worker side is :func:`extract_shard`: one task per batch of files, decoding and running
the backbone with an engine loaded once per worker process, writing one shard.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gui_app.core.backbones import BackboneSpec
from gui_app.core.engines import InferenceEngine
from gui_app.core.errors import LoupeError
from gui_app.core.store import FileKey

LOCAL = "local"
INSTALL_HINT = 'pip install "loupe[cluster]" (or: pip install "dask[distributed]")'
CONNECT_TIMEOUT = "20s"
_log = logging.getLogger(__name__)


class ClusterError(LoupeError):
    """The Dask cluster cannot be used: Dask missing, scheduler unreachable, a worker failing."""


def parse_scheduler(text: str) -> tuple[str | None, int]:
    """``(address, 0)`` for a scheduler address, ``(None, N)`` for ``local[:N]``.

    ``local`` alone means one worker process per CPU core. Raises :class:`ClusterError` for
    anything else, before Dask is imported.
    """
    value = str(text).strip()
    found = re.fullmatch(r"local(?::(\d+))?", value, flags=re.IGNORECASE)
    if found:
        n = int(found.group(1)) if found.group(1) else (os.cpu_count() or 1)
        if n < 1:
            raise ClusterError(f"local:N needs at least one worker, got {value!r}")
        return None, n
    if re.fullmatch(r"[a-z]+://\S+", value) or re.fullmatch(r"[\w.\-\[\]:]+:\d+", value):
        return value, 0
    raise ClusterError(
        f"not a Dask scheduler: {value!r} (use tcp://HOST:8786, HOST:8786, local or local:N)"
    )


def import_distributed() -> Any:
    """The ``distributed`` module, or a :class:`ClusterError` that says how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ClusterError(
            f"--scheduler needs Dask distributed, which is not installed ({exc}): {INSTALL_HINT}"
        ) from None
    return distributed


@dataclass
class Connection:
    """A connected Dask client and what to tell the user about it."""

    client: Any
    description: str  # "Dask scheduler tcp://...: 3 workers" / "local Dask cluster: 2 workers"
    dashboard: str | None


@contextlib.contextmanager
def connect(scheduler: str) -> Iterator[Connection]:
    """Connect to ``scheduler`` (or start a LocalCluster for ``local[:N]``); close at the end."""
    address, n_local = parse_scheduler(scheduler)
    distributed = import_distributed()
    with contextlib.ExitStack() as stack:
        if address is None:
            cluster = distributed.LocalCluster(
                n_workers=n_local,
                threads_per_worker=1,
                processes=True,
                silence_logs=logging.ERROR,
            )
            stack.callback(cluster.close)
            client = distributed.Client(cluster)
            what = f"local Dask cluster: {n_local} worker processes"
        else:
            try:
                client = distributed.Client(address, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ClusterError(
                    f"cannot reach the Dask scheduler at {address}: {exc or type(exc).__name__}"
                ) from None
            workers = len(client.scheduler_info().get("workers", {}))
            what = f"Dask scheduler {address}: {workers} workers"
            if not workers:
                what += " (tasks wait until workers join)"
        stack.callback(client.close)
        services = client.scheduler_info().get("services", {})
        dashboard = client.dashboard_link if "dashboard" in services else None
        yield Connection(client, what, dashboard)


def engine_threads(client: Any) -> int | None:
    """LiteRT threads per worker process: its machine's cores / the worker processes there.

    The smallest such share over the workers connected now (one figure for every task);
    ``None`` while no worker has joined (each engine then takes every core of its machine).
    """
    workers = client.scheduler_info().get("workers", {})
    if not workers:
        return None
    cores = client.run(os.cpu_count)
    per_host = Counter(info.get("host") for info in workers.values())
    shares = [
        (cores.get(addr) or 1) // per_host[info.get("host")] for addr, info in workers.items()
    ]
    return max(1, min(shares))


# --- worker side -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardTask:
    """One batch of files to extract into the shard ``shard_path`` (paths as workers see them)."""

    root: str
    keys: tuple[FileKey, ...]
    spec: BackboneSpec
    engine: str
    engines_dir: str | None
    max_pixels: int
    shard_path: str
    store_id: str
    threads: int | None  # LiteRT threads per worker process; None: the engine's default
    precision: str = "fp32"  # what the engine must compute (engine_choice); store_id follows
    allow_int8: bool = False  # create_engine's allow_int8 ('auto' may pick int8)


@dataclass(frozen=True)
class ShardOutcome:
    """What a task tells the client (the vectors stay in the shard)."""

    shard_path: str
    engine: str
    dim: int
    extracted: int
    failures: int


_ENGINES: dict[tuple, InferenceEngine] = {}
_ENGINES_LOCK = threading.Lock()


def worker_engine(
    spec: BackboneSpec,
    engines_dir: str | None,
    engine: str,
    threads: int | None,
    allow_int8: bool = False,
) -> InferenceEngine:
    """The engine of this worker process, created on first use and kept (one at a time)."""
    from gui_app.core.engines import create_engine

    key = (spec.id, engine, engines_dir, threads, allow_int8)
    with _ENGINES_LOCK:
        made = _ENGINES.get(key)
        if made is None:
            folder = Path(engines_dir) if engines_dir else None
            made = create_engine(spec, folder, prefer=engine, log=_log.info, allow_int8=allow_int8)
            made = _with_threads(made, threads)
            _ENGINES.clear()  # one backbone in memory at a time
            _ENGINES[key] = made
        return made


def _with_threads(made: InferenceEngine, threads: int | None) -> InferenceEngine:
    """The LiteRT engine reopened with ``threads`` threads (other engines as they are).

    ``create_engine`` gives LiteRT every core; N worker processes on one machine would
    oversubscribe it. Output is bitwise the same whatever the thread count (checked for the
    default backbone and the tiny test model, fp32 XNNPACK at 1, 2 and 4 threads).
    """
    reopen = getattr(made, "with_threads", None)
    return reopen(threads) if threads and reopen is not None else made


def extract_shard(task: ShardTask) -> ShardOutcome:
    """Run on a worker: decode + infer one batch and write its shard (idempotent).

    A shard already written for the same inputs is not computed again, so a task retried after
    a lost worker, or submitted again by a resumed client, costs only a file check.
    """
    from gui_app.core.features import _decode, infer_batch
    from gui_app.core.shards import Shard, ShardError, read_shard, write_shard

    out = Path(task.shard_path)
    if out.is_file():
        try:
            done = read_shard(out, vectors=False)
        except ShardError:
            pass  # torn by a crash of the file system: write it again
        else:
            return ShardOutcome(
                str(out), done.engine, done.vectors.shape[1], len(done.keys), len(done.failures)
            )
    root = Path(task.root)
    if not root.is_dir():
        raise ClusterError(
            f"worker {socket.gethostname()} cannot see the image folder {root}: every worker "
            "must see the images at the same path (a shared file system mounted alike)"
        )
    engine = worker_engine(task.spec, task.engines_dir, task.engine, task.threads, task.allow_int8)
    got = getattr(engine, "precision", "fp32")
    if got != task.precision:
        raise ClusterError(
            f"on worker {socket.gethostname()} the {task.engine} engine loaded as {got}, not "
            f"{task.precision} as on this machine (an int8 model verifies per machine); run "
            "again with --engine litert for float32 features everywhere"
        )
    batch = infer_batch(
        _decode(root, list(task.keys), task.spec, task.max_pixels), task.spec, engine
    )
    vectors = batch.vectors if batch.keys else batch.vectors.reshape(0, engine.feature_dim)
    name = getattr(engine, "name", type(engine).__name__)
    try:
        write_shard(out, Shard(task.store_id, name, batch.keys, vectors, batch.failures))
    except OSError as exc:
        raise ClusterError(
            f"worker {socket.gethostname()} cannot write the shard {out}: {exc}"
        ) from None
    return ShardOutcome(str(out), name, engine.feature_dim, len(batch.keys), len(batch.failures))
