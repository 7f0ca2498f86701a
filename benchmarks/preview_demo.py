"""Show the preview pane alone with real photos, for screenshots (docs/screenshots/preview-*).

``zoomed``: 600 Dogs vs Cats photos tiled into one 6000 x 4000 JPEG, zoomed to 100 % after
the full-resolution image has been decoded. ``side``: a photo next to its most similar other
photo of the class its nearest neighbours vote for (EfficientNet-Lite0 features through
Loupe's own pipeline and cache; every other photo counts as labelled by its file name).
The window fills a 1280 x 800 screen; "READY" is printed when it is worth a screenshot::

    Xvfb :97 -screen 0 1280x800x24 &
    DISPLAY=:97 python benchmarks/preview_demo.py zoomed &
    # after READY: import -window root docs/screenshots/preview-zoomed.png
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from common import DOGS_VS_CATS  # also puts the repository on sys.path
from PySide6.QtCore import QPointF, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from gui_app.qt.preview import PreviewLoader
from gui_app.widgets.image_view import ImageView
from gui_app.widgets.main_window import apply_platform_style

WORK = Path(tempfile.gettempdir()) / "loupe-preview-demo"


def mosaic(path: Path, cols: int = 30, rows: int = 20, tile: int = 200) -> Path:
    """cols x rows photos of Dogs vs Cats, each at its own 200 px resolution, in one JPEG."""
    photos = sorted(DOGS_VS_CATS.glob("*.jpg"))
    if len(photos) < cols * rows // 2:
        raise SystemExit(f"too few photos in {DOGS_VS_CATS}")
    canvas = np.zeros((rows * tile, cols * tile, 3), np.uint8)
    for i in range(rows * cols):
        image = cv2.imread(str(photos[(i * 7) % len(photos)]))
        r, c = divmod(i, cols)
        canvas[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = cv2.resize(
            image, (tile, tile), interpolation=cv2.INTER_AREA
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


def nearest_pair() -> tuple[Path, str, Path, str, float]:
    """(query, voted class, reference, its class, cosine similarity) from real features."""
    from project_features import folder_features

    folder = WORK / "dogs-vs-cats"
    if not folder.exists():
        shutil.copytree(DOGS_VS_CATS, folder)
    paths, x = folder_features(folder, "efficientnet_lite0")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    classes = [Path(p).name.split(".")[0] for p in paths]
    query = paths.index("cat.12.jpg") if "cat.12.jpg" in paths else 0
    sims = x @ x[query]
    sims[query] = -np.inf  # the others count as labelled
    order = np.argsort(-sims)
    votes = [classes[i] for i in order[:5]]
    voted = max(set(votes), key=votes.count)
    ref = next(i for i in order if classes[i] == voted)
    return folder / paths[query], voted, folder / paths[ref], classes[ref], float(sims[ref])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shot", choices=("zoomed", "side"))
    parser.add_argument("--seconds", type=float, default=60, help="close after this long")
    args = parser.parse_args()
    pair = nearest_pair() if args.shot == "side" else None
    app = QApplication(sys.argv[:1])
    apply_platform_style(app)
    loader = PreviewLoader()
    view = ImageView()
    view.setWindowTitle("Loupe preview")
    view.setGeometry(0, 0, 1280, 800)
    view.full_resolution_wanted.connect(loader.request_full)
    loader.full_ready.connect(view.set_full_image)
    ready = lambda: print("READY", flush=True)  # noqa: E731

    if pair is None:
        path = mosaic(WORK / "mosaic-6000x4000.jpg")
        caption = f"{path.name}  ·  600 Dogs vs Cats photos in one 6000 × 4000 JPEG"

        def on_preview(key: str, image: QImage, error: str) -> None:
            view.set_image(image, caption, error or None)
            view.set_mode("100")
            view.center_on(QPointF(2300, 1500))

        def on_full(*_args: object) -> None:
            QTimer.singleShot(500, ready)

        loader.ready.connect(on_preview)
        loader.full_ready.connect(on_full)
        loader.request(path.name, path)
    else:
        query, voted, ref, ref_class, sim = pair
        view.set_reference_visible(True)
        got: dict[str, QImage] = {}

        def on_image(key: str, image: QImage, error: str) -> None:
            got[key] = image
            if key == "query":
                view.set_image(image, f"{query.name}  ·  predicted {voted}")
            else:
                text = f"nearest labelled {ref_class}: {ref.name}  ·  similarity {sim:.2f}"
                view.set_reference(image, text)
            if len(got) == 2:
                QTimer.singleShot(500, ready)

        loader.ready.connect(on_image)
        loader.reference_ready.connect(on_image)
        loader.request("query", query)
        loader.request_reference("reference", ref)
    view.show()
    QTimer.singleShot(round(args.seconds * 1000), view.close)
    code = app.exec()
    loader.shutdown()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
