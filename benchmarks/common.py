"""Helpers shared by the extraction (Q3) and quality (Q5) benchmarks.

Nothing here imports TensorFlow at module level: :func:`quiet_tensorflow` imports it once with
its C++ start-up chatter hidden, so the figures are not drowned in INFO lines.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"  # benchmarks may read ../shared; tests may not
DOGS_VS_CATS = SHARED / "data" / "dogs-vs-cats-mini"
CIFAR10_MINI = SHARED / "data" / "cifar10-mini"
EUROSAT_MINI = SHARED / "data" / "eurosat-mini"  # <class>/<image>, 10 x 150, 64 px
CIFAR8_BACKBONE = SHARED / "backbones" / "cifar8_backbone.keras"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def quiet_tensorflow() -> None:
    """Import TensorFlow and Keras with their C++ start-up chatter (oneDNN, CUDA) hidden.

    absl prints those lines to file descriptor 2 before any log level applies, so stderr is
    pointed at /dev/null for the import only; Python exceptions still propagate.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (falls back to :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    """The SIMD flags that matter for CNN kernels (AVX2, AVX-512, FMA...)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
                    return " ".join(f for f in wanted if f in have) or "none of avx2/avx512/fma"
    except OSError:
        pass
    return "unknown"


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, ``None`` where unavailable."""
    try:
        with open("/proc/stat", encoding="utf-8") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def background_busy(seconds: float = 2.0) -> float | None:
    """Fraction of the machine's CPU time in use while this process sleeps (other tenants)."""
    before = _cpu_times()
    time.sleep(seconds)
    after = _cpu_times()
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


class OthersCPU:
    """CPU share used by *other* processes while a block runs (machine busy minus our own).

    ``with OthersCPU() as o: ...`` then ``o.share`` is a fraction of the whole machine (0.5 on
    2 cores = one core busy elsewhere), ``None`` where /proc/stat is unavailable.
    """

    _HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self) -> None:
        self.share: float | None = None
        self._start: tuple[int, int] | None = None
        self._own = 0.0

    def __enter__(self) -> OthersCPU:
        self._start = _cpu_times()
        self._own = time.process_time()
        return self

    def __exit__(self, *exc_info: object) -> None:
        end, own = _cpu_times(), time.process_time() - self._own
        if self._start is None or end is None or end[1] <= self._start[1]:
            return
        busy = (end[0] - self._start[0]) / self._HZ
        total = (end[1] - self._start[1]) / self._HZ
        self.share = min(1.0, max(0.0, (busy - own) / total))


def wait_until_quiet(max_wait: float, threshold: float = 0.15) -> float | None:
    """Sleep in 1 s samples until other processes use < ``threshold`` of the machine.

    Gives up after ``max_wait`` seconds; returns the last sampled share (``None``: unknown).
    """
    deadline = time.monotonic() + max_wait
    share = None
    while max_wait > 0:
        share = background_busy(1.0)
        if share is None or share < threshold or time.monotonic() >= deadline:
            break
    return share


CLEAN_SHARE = 0.15  # a timed run is "clean" when other processes used less of the machine


@dataclass
class Rounds:
    """Per path: img/s and the other processes' machine share, one entry per round."""

    rates: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    noise: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def clean(self, name: str) -> list[bool]:
        """Per round: did other processes use < CLEAN_SHARE of the machine during it?"""
        return [share < CLEAN_SHARE for share in self.noise[name]]

    def values(self, name: str) -> list[float]:
        """The path's clean figures when it has any, else all of them."""
        ok = self.clean(name)
        kept = [v for v, c in zip(self.rates[name], ok, strict=True) if c]
        return kept or self.rates[name]


def activation_probe(model: Any, x: Any) -> str:
    """Magnitudes of every layer's output on ``x`` and how many are float32 denormals."""
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    try:
        probe = keras.Model(model.inputs[0], [layer.output for layer in layers])
    except (ValueError, AttributeError, TypeError) as exc:
        return f"activation probe unavailable ({type(exc).__name__}: {exc})"
    outs = [np.abs(np.asarray(o, dtype=np.float32)) for o in probe(x, training=False)]
    tiny = np.finfo(np.float32).tiny
    denormal = sum(int(np.count_nonzero((o > 0) & (o < tiny))) for o in outs)
    total = sum(o.size for o in outs)
    nonzero = [o[o > 0] for o in outs if np.any(o > 0)]
    if not nonzero:
        return f"activations on {len(x)} images: all {total:,} values are zero"
    smallest = min(float(v.min()) for v in nonzero) if nonzero else 0.0
    first, last = float(np.median(nonzero[0])), float(np.median(nonzero[-1]))
    return (
        f"activations on {len(x)} images, {len(outs)} layers: median |a| {first:.2g} (first "
        f"layer) -> {last:.2g} (features); smallest non-zero {smallest:.2g}; float32 "
        f"denormals: {denormal} of {total:,} values ({denormal / total:.2%})"
    )


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(packages: Sequence[str]) -> str:
    """A few lines describing the machine and the versions of ``packages`` (distributions)."""
    cores = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    busy = background_busy()
    busy_txt = f"{busy * 100:.0f} %" if busy is not None else "n/a"
    versions = " | ".join(f"{p} {_version(p)}" for p in packages)
    return (
        f"cpu: {cpu_model()} | cores: {cores} (usable {usable}) | simd: {cpu_flags()}\n"
        f"os: {platform.platform()} | python {platform.python_version()}\n"
        f"{versions}\n"
        f"load avg before: {load} | CPU busy from other processes (2 s sample): {busy_txt}"
    )


def load_summary() -> str:
    """One line with the load average and background CPU use, for the end of a run."""
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    busy = background_busy(1.0)
    busy_txt = f"{busy * 100:.0f} %" if busy is not None else "n/a"
    return f"load avg after: {load} | CPU busy from other processes (1 s sample): {busy_txt}"


def copy_images(source: Path, dest: Path, n: int) -> list[str]:
    """Copy ``n`` images into ``dest``, cycling over those under ``source``; relative paths.

    Every copy gets a unique name (``00017-cat.3.jpg``) so the pipeline treats it as its own
    file; the part after the index keeps the original file name (labels stay readable).
    """
    from gui_app.core.images import scan_images

    originals = scan_images(source)
    if not originals:
        raise SystemExit(f"no images under {source}")
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rel = originals[i % len(originals)]
        name = f"{i:05d}-{Path(rel).name}"
        shutil.copyfile(source / rel, dest / name)
        out.append(name)
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0.0 for a single value)."""
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (pipes), right-aligning everything but the first column."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(row: list[str]) -> str:
        parts = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(len(row))
        ]
        return "| " + " | ".join(parts) + " |"

    sep = (
        "|"
        + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([fmt(cells[0]), sep, *(fmt(r) for r in cells[1:])])
