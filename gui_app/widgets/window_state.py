"""What the main window remembers across restarts (QSettings): geometry, panes, grid, preview."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QMimeData, QSettings
from PySide6.QtWidgets import QMainWindow, QSplitter

from gui_app.widgets.filter_bar import FilterBar
from gui_app.widgets.image_grid import DEFAULT_THUMB, ImageGrid
from gui_app.widgets.image_view import ImageView


@dataclass(frozen=True)
class WindowParts:
    """The parts of the main window whose state is remembered.

    ``splits`` maps a settings key to a splitter and its default sizes.
    """

    window: QMainWindow
    splits: dict[str, tuple[QSplitter, list[int]]]
    grid: ImageGrid
    filter_bar: FilterBar
    image_view: ImageView


def restore_window(qs: QSettings, parts: WindowParts) -> None:
    """Apply what :func:`save_window` stored; a first run gets a large, proportioned window."""
    window = parts.window
    geometry = qs.value("window/geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    else:
        fm = window.fontMetrics()
        screen = window.screen().availableGeometry()
        window.resize(
            min(fm.averageCharWidth() * 230, screen.width() * 92 // 100),
            min(fm.height() * 70, screen.height() * 92 // 100),
        )
    state = qs.value("window/state")
    if state is not None:
        window.restoreState(state)
    for key, (split, default) in parts.splits.items():
        value = qs.value(key)
        if value is None or not split.restoreState(value):  # proportions
            split.setSizes(default)
    preview = qs.value("preview/view")
    parts.image_view.restore_view_state(preview if isinstance(preview, dict) else {})
    sort = qs.value("grid/sort")
    if isinstance(sort, str):
        parts.filter_bar.set_sort(sort)
    try:
        parts.grid.set_thumbnail_size(int(qs.value("grid/thumbnail_size", DEFAULT_THUMB)))
    except (TypeError, ValueError):
        parts.grid.set_thumbnail_size(DEFAULT_THUMB)


def save_window(qs: QSettings, parts: WindowParts) -> None:
    """Store the window's geometry, docks, pane proportions, grid and preview state."""
    qs.setValue("window/geometry", parts.window.saveGeometry())
    qs.setValue("window/state", parts.window.saveState())
    for key, (split, _default) in parts.splits.items():
        qs.setValue(key, split.saveState())
    qs.setValue("grid/thumbnail_size", parts.grid.thumbnail_size())
    qs.setValue("grid/sort", parts.filter_bar.sort())
    qs.setValue("preview/view", parts.image_view.view_state())
    qs.sync()


def dropped_folder(mime: QMimeData) -> str | None:
    """The folder a drop means: a dropped folder, or the folder of dropped files."""
    for url in mime.urls() if mime.hasUrls() else []:
        if not url.isLocalFile():
            continue
        path = Path(url.toLocalFile())
        if path.is_dir():
            return str(path)
        if path.parent.is_dir():
            return str(path.parent)
    return None
