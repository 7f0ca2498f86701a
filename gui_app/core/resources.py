"""Where Loupe's own files are: icons, the desktop file, the self-test sample image.

They live in ``resources/`` at the top of the repository, installed as the package
``gui_app.resources`` (pyproject.toml); a PyInstaller bundle has them in
``<_MEIPASS>/gui_app/resources``. A build made with ``packaging/build.py --bundle-weights``
also carries ``bundled_weights.json`` there, naming weights that make the app work offline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BUNDLED_WEIGHTS_JSON = "bundled_weights.json"
SAMPLE_IMAGE = "sample.jpg"
ICON = "loupe.svg"


def resources_dir() -> Path:
    """The resources folder: frozen bundle, installed package, or the source checkout."""
    meipass = getattr(sys, "_MEIPASS", None)  # PyInstaller unpack/onedir root
    if meipass and (Path(meipass) / "gui_app" / "resources").is_dir():
        return Path(meipass) / "gui_app" / "resources"
    try:
        import gui_app.resources as package
    except ImportError:
        package = None
    if package is not None and package.__file__:
        return Path(package.__file__).resolve().parent
    return Path(__file__).resolve().parents[2] / "resources"  # a checkout never installed


def bundled_backbone(folder: Path | None = None) -> tuple[str, str] | None:
    """``(backbone, absolute weights file)`` shipped with this build, or ``None``.

    A build made with ``packaging/build.py --bundle-weights FILE`` carries
    ``resources/bundled_weights.json`` = ``{"backbone": NAME, "weights": RELATIVE_FILE}``; the app
    defaults to it so that it works without downloading anything. A manifest whose weights file
    is missing is ignored. ``folder`` defaults to :func:`resources_dir`.
    """
    manifest = (folder or resources_dir()) / BUNDLED_WEIGHTS_JSON
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    backbone, weights = data.get("backbone"), data.get("weights")
    if not isinstance(backbone, str) or not isinstance(weights, str) or not backbone:
        return None
    path = (manifest.parent / weights).resolve()
    return (backbone, str(path)) if path.is_file() else None
