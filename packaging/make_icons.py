"""Render the app icon and the self-test sample image into ``resources/``.

``loupe.svg`` is the single source: it is rendered with Qt's SVG renderer (PySide6.QtSvg, part
of PySide6-Essentials) to ``loupe-<N>.png`` for N in :data:`PNG_SIZES`, then packed with Pillow
into ``loupe.ico`` (Windows) and ``loupe.icns`` (macOS). ``sample.jpg`` is a small synthetic
landscape photo drawn with NumPy (deterministic), used by ``loupe --self-test``.

Usage: ``python packaging/make_icons.py [--out DIR]``. The outputs are committed; rerun this
only after editing the SVG.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)
SAMPLE_SIZE = 64


def render_svg(svg: Path, sizes: tuple[int, ...]) -> dict[int, Image.Image]:
    """Render ``svg`` at each square size into RGBA Pillow images (transparent background)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"cannot parse {svg}")
    images: dict[int, Image.Image] = {}
    for size in sizes:
        qimg = QImage(size, size, QImage.Format.Format_ARGB32)
        qimg.fill(0)
        painter = QPainter(qimg)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        data = QByteArray()
        buf = QBuffer(data)
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        qimg.save(buf, "PNG")
        buf.close()
        images[size] = Image.open(io.BytesIO(bytes(data))).convert("RGBA")
    return images


def sample_scene(size: int = SAMPLE_SIZE, seed: int = 7) -> Image.Image:
    """A photo-like landscape: sky gradient, sun, two hill ranges, a lake, sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    sky_top, sky_low = np.array([70, 120, 190], np.float32), np.array([235, 200, 160], np.float32)
    img = sky_top + (sky_low - sky_top) * yy[..., None] ** 0.8
    sun = np.exp(-(((xx - 0.72) ** 2 + (yy - 0.3) ** 2) / 0.004))
    img += sun[..., None] * np.array([60, 50, 10], np.float32)
    far = 0.52 + 0.06 * np.sin(xx * 9.0 + 1.0) + 0.03 * np.sin(xx * 23.0)
    near = 0.62 + 0.08 * np.sin(xx * 5.0 + 3.0) + 0.02 * np.sin(xx * 31.0)
    img = np.where((yy > far)[..., None], np.array([95, 115, 140], np.float32), img)
    shade = (1.0 - 0.5 * (yy - near).clip(0, 1))[..., None]
    img = np.where((yy > near)[..., None], np.array([60, 110, 55], np.float32) * shade, img)
    lake = yy > 0.82
    ripple = 0.85 + 0.1 * np.sin(yy * 120.0 + xx * 8.0)
    water = np.array([80, 130, 175], np.float32) * ripple[..., None]
    img = np.where(lake[..., None], water, img)
    img += rng.normal(0.0, 4.0, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def main(argv: list[str] | None = None) -> int:
    """Write the PNGs, ICO, ICNS and sample.jpg; print what was written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RESOURCES, help="output folder")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    svg = RESOURCES / "loupe.svg"
    images = render_svg(svg, tuple(sorted(set(PNG_SIZES) | set(ICNS_SIZES))))
    written = []
    for size in PNG_SIZES:
        path = out / f"loupe-{size}.png"
        images[size].save(path, optimize=True)
        written.append(path)
    ico = [images[s] for s in ICO_SIZES]
    ico[-1].save(
        out / "loupe.ico", format="ICO", sizes=[(s, s) for s in ICO_SIZES], append_images=ico[:-1]
    )
    icns = [images[s] for s in ICNS_SIZES]
    icns[-1].save(out / "loupe.icns", format="ICNS", append_images=icns[:-1])
    sample_scene().save(out / "sample.jpg", quality=90, optimize=True)
    written += [out / "loupe.ico", out / "loupe.icns", out / "sample.jpg"]
    for path in written:
        print(f"{path}  {path.stat().st_size / 1024:.1f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
