"""One-off project operations from the window: import labels, fit and export the final model.

- Import labels (a ``path,label`` CSV or class folders): matched on a background task, shown
  as a preview, then applied as one undoable bulk action through the labelling part.
- Fit final model: an offline logistic regression with cross-validated C on every label
  (:mod:`gui_app.core.batch_model`), fitted on a task, saved in the project, reported beside
  the online model's accuracy, exportable like the online model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from PySide6.QtCore import QObject, Signal

from gui_app.core.backbones import resolve_backbone
from gui_app.core.batch_model import BatchModel, batch_model_path, fit_batch_model
from gui_app.core.label_import import ImportPlan, plan_import
from gui_app.core.session import LabelingSession
from gui_app.qt.tasks import TaskRunner


@dataclass(frozen=True)
class ImportPreview:
    """What an import would do, for the confirmation dialog."""

    source: str
    to_label: int
    lines: tuple[str, ...]


class ProjectTools(QObject):
    """Import of labels and the final (batch) model, each on a background task."""

    import_preview = Signal(object)  # ImportPreview
    message = Signal(str, int)
    error = Signal(str, str)

    def __init__(
        self,
        session: Callable[[], LabelingSession | None],
        label_items: Callable[[list[tuple[str, str]], str], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._label_items = label_items
        self._tasks = TaskRunner(1, self)
        self._plan: ImportPlan | None = None

    def shutdown(self) -> None:
        self._tasks.shutdown()

    def busy(self) -> bool:
        return self._tasks.busy()

    # -- import ---------------------------------------------------------------------------------
    def plan_import(self, source: str, replace: bool = False) -> None:
        """Match ``source`` against the folder's images; the preview arrives as a signal."""
        session = self._session()
        if session is None:
            self.error.emit(self.tr("Nothing to import into"), self.tr("Open a folder first."))
            return
        labels, names = dict(session.labels_by_path()), session.class_names()
        known = SimpleNamespace(labels=lambda: labels, class_names=lambda: names)  # a snapshot
        root, images = session.project.root, session.image_paths()

        def done(plan: ImportPlan) -> None:
            if session is not self._session():
                return
            self._plan = plan
            self.import_preview.emit(
                ImportPreview(str(plan.source), len(plan.items), tuple(plan.preview()))
            )

        self.message.emit(self.tr("Reading labels from {source}…").format(source=source), 3000)
        self._tasks.submit(
            lambda _s: plan_import(root, known, Path(source), replace=replace, images=images),
            on_done=done,
            on_error=lambda reason: self.error.emit(self.tr("Cannot import labels"), reason),
        )

    def apply_import(self) -> None:
        """Label what the last preview matched, as one undoable action."""
        plan, self._plan = self._plan, None
        if plan is not None and plan.items:
            self._label_items(list(plan.items), "import")

    # -- final model ----------------------------------------------------------------------------
    def fit_final_model(self) -> None:
        """Fit the offline model on every label with features (a task); report and save it."""
        session = self._session()
        if session is None:
            return
        labelled = [p for p in session.labels_by_path() if session.has_vector(p)]
        if not labelled:
            self.message.emit(
                self.tr("Label images first: the final model learns from your labels"), 5000
            )
            return
        vectors = session.vectors_of(labelled)
        names = [session.label_of(p) for p in labelled]
        online = session.progressive.accuracy
        out = batch_model_path(session.project.dir)

        def fit(_state) -> BatchModel:
            model = fit_batch_model(vectors, names)
            model.save(out)
            return model

        def done(model: BatchModel) -> None:
            live = f"{online:.1%}" if online is not None else self.tr("not measured yet")
            text = self.tr(
                "Final model: {accuracy} cross-validated on {n} labels (C={c}); the online "
                "model's predict-then-learn accuracy: {online}. Export it with File ▸ Export ▸ "
                "Final Model…",
                "",
                model.n_samples,
            )
            accuracy, c = f"{model.cv_accuracy:.1%}", f"{model.C:g}"
            self.message.emit(
                text.format(accuracy=accuracy, n=model.n_samples, c=c, online=live), 15000
            )

        n = len(labelled)
        self.message.emit(
            self.tr("Fitting the final model on {n} labels…", "", n).format(n=n), 5000
        )
        self._tasks.submit(
            fit,
            on_done=done,
            on_error=lambda r: self.error.emit(self.tr("Cannot fit the model"), r),
        )

    def export_final_model(self, out: str) -> None:
        """Export the saved final model (pickle, portable weights, Keras, TFLite) to ``out``."""
        session = self._session()
        if session is None:
            return
        path = batch_model_path(session.project.dir)
        if not path.is_file():
            self.error.emit(
                self.tr("No final model yet"), self.tr("Use Label ▸ Fit Final Model first.")
            )
            return
        backbone, weights = session.settings.backbone_choice
        project_dir = session.project.dir

        def export(_state) -> str:
            from gui_app.core.batch_model import load_model
            from gui_app.core.model_files import export_model_files

            model = load_model(path, project_dir)
            written = export_model_files(resolve_backbone(backbone, weights), model, Path(out))
            files = ", ".join(p.name for p in written)
            return self.tr("Exported the final model to {folder} ({files})").format(
                folder=out, files=files
            )

        self.message.emit(
            self.tr("Exporting the final model to {folder}…").format(folder=out), 5000
        )
        self._tasks.submit(
            export,
            on_done=lambda text: self.message.emit(text, 8000),
            on_error=lambda r: self.error.emit(self.tr("Export failed"), r),
        )
