"""Q1 and Q4 on the real main window, offscreen.

- Q1: key press -> probability bars updated and painted, p50/p99, 20 classes, 1280-d.
- Q4: the longest stall of the GUI event loop while scanning a large folder, receiving
  cached features and re-scoring every image; time to the first thumbnails of that folder;
  resident memory with every image loaded.

Run from the repository root::

    python benchmarks/bench_gui.py                 # 100,000 images (generated once, ~1 min)
    python benchmarks/bench_gui.py --images 20000  # quicker

Features are synthetic (class-dependent blobs) written into the project's real HDF5 cache
under the ``mobilenet_v2|none|224x224`` backbone id, so the real feature thread serves them
as cache hits without loading TensorFlow; the images are tiny real PNG files.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2
from PySide6.QtCore import QElapsedTimer, QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from gui_app.core.backbones import resolve_backbone
from gui_app.core.images import scan_images
from gui_app.core.store import FeatureStore, FileKey

DIM, CLASSES = 1280, 20


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_folder(root: Path, n: int) -> None:
    """n tiny PNGs in sub-folders of 1,000 (skipped when already there)."""
    marker = root / f".complete-{n}"
    if marker.exists():
        return
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = root / f"part{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        colour = rng.integers(0, 256, 3).tolist()
        img = np.full((8, 8, 3), colour, np.uint8)
        cv2.imwrite(str(sub / f"c{i % CLASSES:02d}_{i:06d}.png"), img)
    marker.touch()


def write_features(root: Path, project: Path, spec_id: str) -> list[str]:
    paths = scan_images(root)
    rng = np.random.default_rng(1)
    centers = np.abs(rng.normal(0.4, 0.6, (CLASSES, DIM))).astype(np.float32)
    with FeatureStore(project / "features.h5", spec_id, DIM) as store:
        for start in range(0, len(paths), 4096):
            block = paths[start : start + 4096]
            keys = [FileKey.for_file(root, p) for p in block]
            cls = np.array([int(Path(p).name[1:3]) for p in block])
            noise = rng.normal(0, 0.5, (len(block), DIM)).astype(np.float32)
            store.append(keys, np.maximum(centers[cls] + noise, 0))
    return paths


class StallMeter:
    """Records the longest gap between ticks of a 1 ms timer on the GUI thread."""

    def __init__(self) -> None:
        self.timer = QTimer(interval=1)
        self.clock = QElapsedTimer()
        self.worst = 0.0
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        if self.clock.isValid():
            self.worst = max(self.worst, self.clock.nsecsElapsed() / 1e6)
        self.clock.restart()

    def start(self) -> None:
        self.worst = 0.0
        self.clock.invalidate()
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return self.worst


def wait_until(app: QApplication, condition, timeout: float = 600.0) -> float:
    start = time.perf_counter()
    while not condition():
        app.processEvents()
        if time.perf_counter() - start > timeout:
            raise TimeoutError("condition not reached")
        time.sleep(0.0005)
    return time.perf_counter() - start


def idle(controller) -> bool:
    return (
        not controller._rescore_timer.isActive()
        and controller._rescore_state is None
        and not controller._spare_timer.isActive()
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "loupe-bench")
    args = parser.parse_args()

    print(
        f"platform: {platform.platform()} | cores: {os.cpu_count()} | "
        f"python {sys.version.split()[0]}"
    )
    root = args.workdir / f"images-{args.images}"
    t0 = time.perf_counter()
    make_folder(root, args.images)
    print(f"folder: {args.images:,} PNG files ready in {time.perf_counter() - t0:.1f} s")
    project = root / ".loupe"
    for name in ("labels.sqlite", "labels.sqlite-wal", "labels.sqlite-shm", "model.pkl"):
        (project / name).unlink(missing_ok=True)
    project.mkdir(exist_ok=True)
    spec = resolve_backbone("mobilenet_v2", "none")
    if not (project / "features.h5").exists():
        write_features(root, project, spec.id)

    app = QApplication.instance() or QApplication([])
    from gui_app.qt.controller import Controller
    from gui_app.qt.settings import AppSettings
    from gui_app.widgets.main_window import MainWindow

    settings = AppSettings(QSettings(str(args.workdir / "s.ini"), QSettings.Format.IniFormat))
    controller = Controller(settings)
    window = MainWindow(controller)
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    rss_before = rss_mb()

    first_thumb: list[float] = []
    controller.thumbnails.thumbnail_ready.connect(
        lambda *a: first_thumb or first_thumb.append(time.perf_counter())
    )
    meter = StallMeter()
    meter.start()
    t_open = time.perf_counter()
    controller.open_folder(str(root), backbone="mobilenet_v2", weights="none")
    scan = wait_until(app, lambda: controller._status["state"] != "scanning")
    first_rows = controller.model.rowCount()
    wait_until(app, lambda: bool(first_thumb), timeout=60)
    wait_until(
        app,
        lambda: (
            controller._status["state"] == "done" and len(controller.session.vectors) == args.images
        ),
    )
    loaded = time.perf_counter() - t_open
    stall_load = meter.stop()
    print(
        f"Q4 first thumbnails after {first_thumb[0] - t_open:.3f} s "
        f"(scan finished after {scan:.2f} s, {first_rows:,} rows then)"
    )
    print(
        f"Q4 scan + {len(controller.session.vectors):,} cached vectors loaded in {loaded:.1f} s; "
        f"longest event-loop stall {stall_load:.1f} ms"
    )

    # 20 classes, two examples each, through the controller's own actions.
    paths = controller.model.paths
    for cls in range(CLASSES):
        for path in [p for p in paths[:400] if Path(p).name.startswith(f"c{cls:02d}_")][:2]:
            controller.set_current_row(controller.model.row_of(path))
            controller.assign_class(f"class {cls:02d}")
    wait_until(
        app, lambda: controller._rescore_state is None and not controller._rescore_timer.isActive()
    )
    meter.start()
    controller._start_rescore()
    wait_until(app, lambda: controller._rescore_state is None)
    stall_rescore = meter.stop()
    print(
        f"Q4 re-score of {len(controller.session.vectors):,} images: "
        f"longest stall {stall_rescore:.1f} ms"
    )

    # Q1: key press -> bars updated and painted.
    window.grid.setFocus()
    controller.set_current_row(controller.model.row_of(paths[1000]))
    keys = [Qt.Key.Key_Return, Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_Return, Qt.Key.Key_5]
    latencies, logic = [], []
    updates: list[float] = []
    controller.bars_changed.connect(lambda *a: updates.append(time.perf_counter()))
    profiler = None
    if os.environ.get("LOUPE_PROFILE"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    meter.start()
    for i in range(args.keys):
        before = len(updates)
        start = time.perf_counter()
        QTest.keyClick(window.grid, keys[i % len(keys)])
        app.processEvents()  # paint
        latencies.append((time.perf_counter() - start) * 1e3)
        logic.append((updates[-1] - start) * 1e3 if len(updates) > before else float("nan"))
        assert len(updates) > before, "the bars did not update"
        # A person reads the bars before the next key: let the idle work finish (the re-score
        # of every image and the copy of the learner kept for undo).
        wait_until(app, lambda: idle(controller))
    stall_keys = meter.stop()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(os.environ["LOUPE_PROFILE"])
    lat = np.array(latencies)
    print(
        f"Q1 key -> bars painted over {len(lat)} keys ({CLASSES} classes, {DIM}-d, "
        f"{len(controller.session.vectors):,} images): p50 {np.percentile(lat, 50):.1f} ms, "
        f"p99 {np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms"
    )
    print(
        f"   of which commit + learn + bars computed: p50 {np.nanpercentile(logic, 50):.1f} ms, "
        f"p99 {np.nanpercentile(logic, 99):.1f} ms (the rest is painting the window)"
    )
    print(f"Q4 longest stall while labeling (re-scores included): {stall_keys:.1f} ms")
    print(f"Q4 RSS {rss_mb():.0f} MB with {len(paths):,} images (window alone {rss_before:.0f} MB)")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
