"""The presenter: turns the session and the extraction state into frozen view-state.

Widgets only ever receive the dataclasses of :mod:`gui_app.qt.viewstate`, built here; nothing
here changes state.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QObject, Signal

from gui_app.core.session import LabelingSession
from gui_app.qt.image_model import ImageListModel
from gui_app.qt.project_host import ProjectHost
from gui_app.qt.viewstate import (
    BarItem,
    ClassRow,
    CurrentImage,
    FilterOption,
    GridFilter,
    StatusInfo,
)

EMPTY_BARS = QT_TRANSLATE_NOOP("Presenter", "Label two classes to see predictions")
RECENT = 50  # suggestions the accuracy box counts


def file_name(path: str) -> str:
    return PurePosixPath(path).name


class Presenter(QObject):
    """Emits what the window shows; call the ``show_*`` methods after a change."""

    current_changed = Signal(object)  # CurrentImage
    bars_changed = Signal(list, object, object)  # [BarItem], user label, message
    classes_changed = Signal(list)  # [ClassRow]
    status_changed = Signal(object)  # StatusInfo
    undo_state_changed = Signal(bool, bool)

    def __init__(self, host: ProjectHost, model: ImageListModel, parent=None) -> None:
        super().__init__(parent)
        self._host = host
        self._model = model
        self.current_path = ""
        self.pick_reason = ""  # why Next showed the current image
        self.model_activity = ""  # 'updating the model 40 %' while a replay runs
        self.audits: tuple[float | None, int] = (None, 0)  # from the insight figures

    @property
    def _session(self) -> LabelingSession | None:
        return self._host.session

    def show_all(self) -> None:
        self.show_classes()
        self.show_current()
        self.show_undo_state()
        self.show_status()

    def show_classes(self) -> None:
        session = self._session
        rows: list[ClassRow] = []
        if session is not None:
            counts = session.counts()
            for i, info in enumerate(session.classes()):
                shortcut = i + 1 if i < 9 else None
                rows.append(ClassRow(info.name, info.color, counts.get(info.name, 0), shortcut))
            self._model.set_colors({c.name: c.color for c in session.classes()})
        self.classes_changed.emit(rows)

    def show_current(self) -> None:
        """The current image's caption data and its bars."""
        path, session = self.current_path, self._session
        if not path or session is None:
            self.current_changed.emit(CurrentImage(-1, "", "", None, None, ""))
            empty = self.tr("Open a folder to start") if session is None else ""
            self.bars_changed.emit([], None, empty)
            return
        row = self._model.row_of(path)
        position = f"{row + 1} / {self._model.rowCount()}" if row >= 0 else ""
        label, reason = session.label_of(path), self._host.reason(path)
        self.current_changed.emit(
            CurrentImage(row, path, file_name(path), label, reason, position, self.pick_reason)
        )
        self.show_bars()

    def show_bars(self) -> None:
        path, session = self.current_path, self._session
        if session is None or not path:
            return
        user = session.label_of(path)
        reason = self._host.reason(path)
        if reason:
            self.bars_changed.emit(
                [], user, self.tr("Unreadable image: {reason}").format(reason=reason)
            )
            return
        if not session.has_vector(path):
            self.bars_changed.emit([], user, self.tr("Extracting features for this image…"))
            return
        probs = session.predict(path)
        if not probs:
            updating = session.needs_rebuild and session.ready_to_rebuild
            if updating:
                text = self.tr("Updating the model from your labels…")
            else:
                text = QCoreApplication.translate("Presenter", EMPTY_BARS)
            self.bars_changed.emit([], user, text)
            return
        bars = [
            BarItem(c.name, float(probs.get(c.name, 0.0)), c.color, i + 1 if i < 9 else None)
            for i, c in enumerate(session.classes())
        ]
        self.bars_changed.emit(bars, user, None)

    def show_undo_state(self) -> None:
        session = self._session
        self.undo_state_changed.emit(
            bool(session and session.can_undo()), bool(session and session.can_redo())
        )

    def show_status(self) -> None:
        ex, session = self._host.extraction, self._session
        progressive = session.progressive if session is not None else None
        recent = progressive.recent(RECENT) if progressive else None
        n_recent = min(RECENT, progressive.total) if progressive else 0
        images = len(self._model.paths)
        self.status_changed.emit(
            StatusInfo(
                device=ex.device,
                images=images,
                labeled=session.label_count if session is not None else 0,
                unreadable=len(self._host.unreadable),
                classes=len(session.classes()) if session is not None else 0,
                extracted=ex.extracted,
                total=max(ex.total, images),
                rate=ex.rate,
                eta=ex.eta,
                state=ex.state,
                accuracy_recent=recent,
                accuracy_n=n_recent,
                backbone=ex.backbone,
                model=self.model_activity,
                audit_accuracy=self.audits[0],
                audit_n=self.audits[1],
            )
        )

    def filter_options(self) -> list[FilterOption]:
        """Entries of the grid's filter chooser for the open project."""
        options = [
            FilterOption(GridFilter("all"), self.tr("All images")),
            FilterOption(GridFilter("unlabeled"), self.tr("Unlabeled")),
            FilterOption(GridFilter("labeled"), self.tr("Labeled")),
        ]
        session = self._session
        names = [c.name for c in session.classes()] if session is not None else []
        labeled, predicted = self.tr("Labeled: {name}"), self.tr("Predicted: {name}")
        options += [FilterOption(GridFilter("class", n), labeled.format(name=n)) for n in names]
        options += [
            FilterOption(GridFilter("prediction", n), predicted.format(name=n)) for n in names
        ]
        options.append(FilterOption(GridFilter("unsure"), self.tr("Marked unsure")))
        options.append(FilterOption(GridFilter("unreadable"), self.tr("Unreadable")))
        return options
