"""Zooming and panning a 6000 x 4000 JPEG in the preview: the longest event-loop stall.

The preview pane (the real :class:`~gui_app.widgets.image_view.ImageView`, wired to the real
:class:`~gui_app.qt.preview.PreviewLoader` as the window wires it) shows the 2048 px preview,
is zoomed in with wheel events past the preview's resolution (the full image is then decoded
off the GUI thread and swapped in), panned by mouse drags, zoomed to the maximum and out again.
A 1 ms timer on the GUI thread measures the longest gap between its ticks (target: 50 ms).

Run from the repository root::

    python benchmarks/bench_zoom.py
    python benchmarks/bench_zoom.py --json zoom.json

``bench_gui.py`` calls :func:`measure_zoom_stalls` with its own QApplication.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QImage, QMouseEvent, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402
from stall_meter import StallMeter  # noqa: E402

WIDTH, HEIGHT = 6000, 4000
PANE = (1000, 700)


def make_photo(path: Path, width: int = WIDTH, height: int = HEIGHT, seed: int = 0) -> Path:
    """A photo-like JPEG: multi-scale texture, soft shading, sharp edges and fine grain."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    field = np.zeros((height, width), np.float32)
    for cell, weight in ((1000, 0.35), (250, 0.25), (60, 0.18), (12, 0.12), (3, 0.1)):
        grid = rng.random((height // cell + 2, width // cell + 2)).astype(np.float32)
        field += weight * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    hue = cv2.resize(
        rng.random((5, 7)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC
    )
    hsv = np.empty((height, width, 3), np.uint8)
    hsv[..., 0] = (np.clip(hue, 0, 1) * 170).astype(np.uint8)
    hsv[..., 1] = np.clip(90 + 120 * field - 40, 0, 255).astype(np.uint8)
    hsv[..., 2] = np.clip(255 * field, 0, 255).astype(np.uint8)
    bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    for _ in range(400):  # hairlines, rims and blobs: detail only the full image holds
        colour = [int(c) for c in rng.integers(0, 256, 3)]
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        if rng.random() < 0.5:
            end = (x + int(rng.integers(-800, 800)), y + int(rng.integers(-800, 800)))
            cv2.line(bgr, (x, y), end, colour, int(rng.integers(1, 4)), cv2.LINE_AA)
        else:
            cv2.circle(
                bgr, (x, y), int(rng.integers(5, 300)), colour, int(rng.integers(1, 6)), cv2.LINE_AA
            )
    grain = rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    bgr = np.clip(bgr.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.jpg")
    cv2.imwrite(str(tmp), bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
    os.replace(tmp, path)
    return path


def _wait(app: QApplication, condition, timeout_s: float) -> float:
    start = time.perf_counter()
    while not condition():
        app.processEvents()
        if time.perf_counter() - start > timeout_s:
            raise TimeoutError("condition not reached")
        time.sleep(0.0005)
    return time.perf_counter() - start


def _idle(app: QApplication, ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.0005)


def _wheel(widget: QWidget, pos: QPointF, notches: int) -> None:
    global_pos = QPointF(widget.mapToGlobal(pos.toPoint()))
    event = QWheelEvent(
        pos,
        global_pos,
        QPoint(0, 0),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def _mouse(widget: QWidget, kind, pos: QPointF, buttons) -> None:
    button = (
        Qt.MouseButton.LeftButton
        if kind != QMouseEvent.Type.MouseMove
        else (Qt.MouseButton.NoButton)
    )
    global_pos = QPointF(widget.mapToGlobal(pos.toPoint()))
    event = QMouseEvent(kind, pos, global_pos, button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def measure_zoom_stalls(app: QApplication, jpeg_path: Path, *, settle_ms: float = 16.0) -> dict:
    """Zoom and pan *jpeg_path* in a preview pane; the longest stall and per-step times.

    Returns a dict: ``stall_max_ms`` (longest 1 ms-timer gap over the whole run),
    ``step_p50_ms`` / ``step_p99_ms`` / ``step_max_ms`` (one wheel notch or drag move, event
    handling plus the repaint), per-phase step maxima, ``preview_s`` and ``full_s`` (decode
    times off the GUI thread), ``full_level_drawn`` (the width of the level drawn at 100 %).
    """
    from gui_app.qt.preview import PreviewLoader
    from gui_app.widgets.image_view import ImageView

    loader = PreviewLoader()
    view = ImageView()
    view.resize(*PANE)
    view.show()
    pane = view.main
    full_at: list[float] = []
    view.full_resolution_wanted.connect(loader.request_full)
    loader.full_ready.connect(view.set_full_image)
    loader.full_ready.connect(lambda *a: full_at.append(time.perf_counter()))
    previews: list[QImage] = []
    loader.ready.connect(lambda key, image, error: previews.append(image))
    meter = StallMeter()
    phases: dict[str, list[float]] = {}
    try:
        _idle(app, 50)
        meter.start()
        t0 = time.perf_counter()
        loader.request(jpeg_path.name, jpeg_path)
        _wait(app, lambda: bool(previews), 60)
        preview_s = time.perf_counter() - t0
        if not isinstance(previews[0], QImage):
            raise RuntimeError(f"{jpeg_path} could not be previewed")
        view.set_image(previews[0], jpeg_path.name)
        pane.repaint()

        def step(phase: str, action) -> None:
            start = time.perf_counter()
            action()
            pane.repaint()
            phases.setdefault(phase, []).append((time.perf_counter() - start) * 1e3)
            _idle(app, settle_ms)

        w, h = pane.width(), pane.height()
        points = [QPointF(w * fx, h * fy) for fx, fy in ((0.3, 0.4), (0.6, 0.5), (0.45, 0.7))]
        t_zoom = time.perf_counter()
        for i in range(12):  # fit -> about 200 %: the full image is asked for on the way
            step("zoom in (preview)", lambda i=i: _wheel(pane, points[i % 3], 1))
        _wait(app, lambda: bool(full_at), 120)
        full_s = full_at[0] - t_zoom
        for i in range(8):
            step("zoom in (full)", lambda i=i: _wheel(pane, points[i % 3], 1))
        for _ in range(3):  # drags across the pane
            start = QPointF(w * 0.8, h * 0.8)
            step(
                "pan",
                lambda s=start: _mouse(
                    pane, QMouseEvent.Type.MouseButtonPress, s, Qt.MouseButton.LeftButton
                ),
            )
            for k in range(1, 21):
                pos = QPointF(w * (0.8 - 0.03 * k), h * (0.8 - 0.03 * k))
                step(
                    "pan",
                    lambda p=pos: _mouse(
                        pane, QMouseEvent.Type.MouseMove, p, Qt.MouseButton.LeftButton
                    ),
                )
            step(
                "pan",
                lambda: _mouse(
                    pane,
                    QMouseEvent.Type.MouseButtonRelease,
                    QPointF(w * 0.2, h * 0.2),
                    Qt.MouseButton.NoButton,
                ),
            )
        step("modes", lambda: view.set_mode("100"))
        full_level = pane.painted_level_width()
        step("modes", lambda: view.set_mode("fill"))
        step("modes", lambda: view.set_mode("fit"))
        for i in range(30):  # up to the largest zoom and all the way out
            step("zoom in (full)", lambda i=i: _wheel(pane, points[i % 3], 1))
        for i in range(36):
            step("zoom out", lambda i=i: _wheel(pane, points[i % 3], -1))
        stall = meter.stop()
    finally:
        meter.stop()
        loader.shutdown()
        view.close()
        view.deleteLater()
        app.processEvents()
    steps = np.array([t for times in phases.values() for t in times])
    return {
        "stall_max_ms": stall,
        "step_p50_ms": float(np.percentile(steps, 50)),
        "step_p99_ms": float(np.percentile(steps, 99)),
        "step_max_ms": float(steps.max()),
        "steps": int(steps.size),
        "phase_max_ms": {name: float(max(times)) for name, times in phases.items()},
        "preview_s": preview_s,
        "full_s": full_s,
        "full_level_drawn": full_level,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=None, help="a JPEG (default: generated)")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "loupe-bench-zoom"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    print(
        f"platform: {platform.platform()} | cores: {os.cpu_count()} | "
        f"python {sys.version.split()[0]}"
    )
    path = args.image
    if path is None:
        t0 = time.perf_counter()
        path = make_photo(args.workdir / f"photo-{WIDTH}x{HEIGHT}.jpg")
        print(
            f"image: {path} ({path.stat().st_size / 2**20:.1f} MB, ready in "
            f"{time.perf_counter() - t0:.1f} s)"
        )
    app = QApplication.instance() or QApplication([])
    fig = measure_zoom_stalls(app, path)
    print(
        f"preview decoded in {fig['preview_s']:.2f} s; full image decoded and swapped in "
        f"{fig['full_s']:.2f} s after the first zoom (off the GUI thread)"
    )
    print(
        f"{fig['steps']} steps (wheel notches, drag moves, mode switches), each with its "
        f"repaint: p50 {fig['step_p50_ms']:.1f} ms, p99 {fig['step_p99_ms']:.1f} ms, "
        f"max {fig['step_max_ms']:.1f} ms"
    )
    for name, worst in fig["phase_max_ms"].items():
        print(f"  {name:18s} max {worst:.1f} ms")
    print(f"100 % drawn from the {fig['full_level_drawn']} px wide level")
    print(f"longest event-loop stall: {fig['stall_max_ms']:.1f} ms (target <= 50 ms)")
    if args.json is not None:
        args.json.write_text(json.dumps(fig, indent=2))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
