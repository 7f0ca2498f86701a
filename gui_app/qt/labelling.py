"""Label actions from the window: label, confirm, unsure, undo/redo and class edits.

Every action runs in this order: the session commits it to the journal and updates the model
(or flags a replay), then the view follows: grid badges of the images it changed, the class
list, the bars of the image the navigator moves on to, a debounced re-score of every image.
Copies for undo and model snapshots are made later, in idle time.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QObject, QTimer, Signal

from gui_app.core.errors import LoupeError
from gui_app.core.labels import Event, LabelStore
from gui_app.core.session import ActionResult, HistoryWrite, LabelingSession, PendingWrite
from gui_app.qt.image_model import ImageListModel
from gui_app.qt.navigator import Navigator
from gui_app.qt.presenter import Presenter, file_name
from gui_app.qt.project_host import ProjectHost
from gui_app.qt.rebuilder import ModelRebuilder
from gui_app.qt.rescoring import Rescorer
from gui_app.qt.tasks import TaskRunner

SNAPSHOT_DELAY_MS = 3000
SPARE_DELAY_MS = 40  # after the bars are painted
ASYNC_ROWS = 200  # journal rows: a larger write runs on a task, never stalling the window
MARK_TEXT = {  # the journal's mark names as shown (English; translated when shown)
    "unsure": QT_TRANSLATE_NOOP("Labelling", "unsure"),
    "reviewed": QT_TRANSLATE_NOOP("Labelling", "reviewed"),
}


class Labelling(QObject):
    """The label actions; results are shown through the presenter and the grid model."""

    message = Signal(str, int)
    error = Signal(str, str)
    acted = Signal()  # an action was journaled

    def __init__(
        self,
        host: ProjectHost,
        model: ImageListModel,
        navigator: Navigator,
        presenter: Presenter,
        rescorer: Rescorer,
        rebuilder: ModelRebuilder,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._host = host
        self._model = model
        self._nav = navigator
        self._presenter = presenter
        self._rescorer = rescorer
        self._rebuilder = rebuilder
        self._spare_timer = QTimer(self, singleShot=True, interval=SPARE_DELAY_MS)
        self._spare_timer.timeout.connect(self._prepare_undo)
        self._snapshot_timer = QTimer(self, singleShot=True, interval=SNAPSHOT_DELAY_MS)
        self._snapshot_timer.timeout.connect(self.save_snapshot)
        self._tasks = TaskRunner(1, self)  # journal writes and model snapshots, in order
        self._writing = ""  # what a journal write on the task is doing ('' when none)
        self._selection: list[str] = []  # the images selected in the grid (2+ act together)

    @property
    def session(self) -> LabelingSession | None:
        return self._host.session

    @property
    def idle(self) -> bool:
        """No idle-time work pending (benchmarks wait for it between keys)."""
        return not self._spare_timer.isActive()

    def stop(self) -> None:
        self._spare_timer.stop()
        self._snapshot_timer.stop()
        self._selection = []

    def shutdown(self) -> None:
        self._tasks.shutdown()

    @property
    def writing(self) -> bool:
        """A large action is being saved on a task (other actions wait)."""
        return bool(self._writing)

    def set_selection(self, paths: list[str]) -> None:
        """The images selected in the grid; two or more receive the next label together."""
        self._selection = list(paths)

    def selection_group(self) -> list[str]:
        """The selected images when two or more are selected, else []."""
        return self._group()

    def _group(self) -> list[str]:
        """The selected images (2+, readable), else []: an action then acts on them all."""
        if len(self._selection) < 2:
            return []
        bad = self._host.unreadable
        return [p for p in self._selection if p not in bad]

    # -- actions on the current image -------------------------------------------------------
    def _busy(self) -> bool:
        if self._writing:
            self.message.emit(
                self.tr("{task} Please wait a moment.").format(task=self._writing), 2000
            )
        return bool(self._writing)

    def _target(self) -> str | None:
        """The current image if it can be labelled (unreadable ones are skipped)."""
        path = self._nav.current
        if self.session is None or not path or self._busy():
            return None
        reason = self._host.reason(path)
        if reason:
            self.message.emit(
                self.tr("Unreadable image, skipped: {reason}").format(reason=reason), 4000
            )
            self._nav.advance()
            return None
        return path

    def confirm(self) -> None:
        """Enter/Space: label the current image (or each selected one) with its prediction."""
        path = self._target()
        if path is None:
            return
        group = self._group()
        if group:
            tops = self.session.top_predictions(group)
            if not tops:
                self.message.emit(
                    self.tr("No prediction yet: press 1-9 or type a class name"), 4000
                )
                return
            self.label_items(list(tops.items()), "selection")
            return
        probs = self.session.predict(path)
        if not probs:
            self.message.emit(self.tr("No prediction yet: press 1-9 or type a class name"), 4000)
            return
        self.label(path, max(probs, key=probs.get))

    def assign_shortcut(self, n: int) -> None:
        names = self.session.class_names() if self.session is not None else []
        if 1 <= n <= min(9, len(names)):
            self.assign_class(names[n - 1])
        elif self.session is not None:
            self.message.emit(self.tr("No class has the shortcut {n}").format(n=n), 3000)

    def assign_class(self, name: str) -> None:
        path = self._target()
        if path is None:
            return
        group = self._group()
        if group:
            self.label_items([(p, name) for p in group], "selection")
        else:
            self.label(path, name)

    def label_items(self, items: list[tuple[str, str]], pick: str) -> None:
        """Label many images as one undoable action (a task writes large ones)."""
        session = self.session
        if session is None or not items or self._busy():
            return
        n = len(items)
        if len({name for _, name in items}) > 1:
            text = self.tr("{n} images labelled", "", n).format(n=n)
        else:
            text = self.tr("{n} images → {name}", "", n).format(n=n, name=items[0][1])
        try:
            job = session.begin_items(items, pick=pick)
        except LoupeError as exc:
            self.error.emit(self.tr("Cannot label"), exc.reason)
            return
        busy = self.tr("Saving {n} labels…", "", n).format(n=f"{n:,}")
        self._write(job, lambda events: session.finish_items(job, events), text, busy, rows=n)

    def label(self, path: str, name: str) -> bool:
        """Label one image, move on, show the result; False when refused."""
        session = self.session
        pick = self._nav.pick_kind if path == self._nav.current else "manual"
        try:
            result = session.label(path, name, pick=pick)
        except LoupeError as exc:
            self.error.emit(self.tr("Cannot label"), exc.reason)
            return False
        self._show(result, advance=True)
        self._done(f"{file_name(path)} → {result.event.label}")
        return True

    def skip(self) -> None:
        if self._nav.current:
            self._nav.advance()

    def remove_label(self) -> None:
        path = self._nav.current
        if self.session is None or not path:
            return
        try:
            result = self.session.unlabel(path)
        except LoupeError as exc:
            self.message.emit(exc.reason, 3000)
            return
        self._show(result)
        self._done(self.tr("{file}: label removed").format(file=file_name(path)))

    def mark_unsure(self) -> None:
        """U: not sure what this is; not learned, skipped by Next, listed under its filter."""
        path = self._nav.current
        if self.session is None or not path:
            return
        session = self.session
        try:
            if path in session.marked("unsure"):
                result = session.unmark(path, "unsure")
                text = self.tr("{file}: no longer marked unsure").format(file=file_name(path))
            else:
                result = session.mark_unsure(path)
                text = self.tr("{file} marked unsure").format(file=file_name(path))
        except LoupeError as exc:
            self.message.emit(exc.reason, 3000)
            return
        self._show(result, advance=True, marks=True)
        self._done(text)

    def keep_label(self) -> None:
        """K on a suspect label: keep it (marked reviewed, no longer listed) and move on."""
        path = self._target()
        if path is None:
            return
        try:
            result = self.session.mark_reviewed(path)
        except LoupeError as exc:
            self.message.emit(exc.reason, 3000)
            return
        self._show(result, advance=True, marks=True)
        self._done(self.tr("{file}: label kept").format(file=file_name(path)))

    # -- history and classes --------------------------------------------------------------
    def undo(self) -> None:
        self._history(redo=False)

    def redo(self) -> None:
        self._history(redo=True)

    def _history(self, redo: bool) -> None:
        session = self.session
        if session is None or self._busy():
            return
        try:
            rows = session.history_size(undo=not redo)
            job = session.begin_history(undo=not redo)
        except LoupeError as exc:
            self.message.emit(exc.reason, 3000)
            return
        if redo:
            verb = self.tr("Redone")
            busy = self.tr("Redoing {n} changes…", "", rows).format(n=f"{rows:,}")
        else:
            verb = self.tr("Undone")
            busy = self.tr("Undoing {n} changes…", "", rows).format(n=f"{rows:,}")

        def finish(written: HistoryWrite) -> ActionResult:
            return session.finish_history(job, written)

        self._write(job, finish, verb, busy, rows=rows, history=True)

    def _write(
        self, job: PendingWrite, finish, text: str, busy: str, rows: int, history: bool = False
    ) -> None:
        """Run ``job``'s journal write here (small) or on a task (large), then show it.

        ``history``: an undo or redo (``text`` is its verb; the event says what it did).
        """
        session = self.session

        def done(written) -> None:
            self._writing = ""
            if self.session is not session:
                return
            try:
                result = finish(written)
            except LoupeError as exc:
                self.error.emit(self.tr("Cannot save"), exc.reason)
                return
            self._show(result, marks=True)
            path = result.event.path
            if history:
                if path and self._model.row_of(path) >= 0 and len(result.changed) <= 1:
                    self._nav.go_to(path)
                what = describe(result.event)
                self._done(self.tr("{verb}: {what}").format(verb=text, what=what))
            else:
                self._done(text)

        def failed(reason: str) -> None:
            self._writing = ""
            session.abort_write(job)
            self.error.emit(self.tr("Cannot save"), reason)

        if rows <= ASYNC_ROWS:
            try:
                written = session.write_here(job)
            except LoupeError as exc:
                failed(exc.reason)
                return
            done(written)
            return
        self._writing = busy
        self.message.emit(busy, 0)
        path = session.project.labels_path

        def write(_state):
            with LabelStore(path) as store:  # its own connection: the window keeps reading
                return job.write(store)

        self._tasks.submit(write, on_done=done, on_error=failed)

    def class_action(self, action: Callable[[LabelingSession], ActionResult]) -> None:
        """Rename, merge, delete, recolour: one journaled action; a replay follows if needed."""
        if self.session is None:
            return
        try:
            result = action(self.session)
        except LoupeError as exc:
            self.error.emit(self.tr("Cannot change the class"), exc.reason)
            return
        self._show(result)
        self._done(describe(result.event))

    # -- showing results ------------------------------------------------------------------
    def _show(self, result: ActionResult, *, advance: bool = False, marks: bool = False) -> None:
        """Grid, class list and bars after an action (the navigator may move on first)."""
        if result.relabelled_all or marks:
            self._model.labels_changed(None)
        elif result.changed:
            self._model.labels_changed(list(result.changed))
        self._presenter.show_classes()
        if advance:
            before = self._nav.current
            self._nav.advance()
            if self._nav.current == before:  # nothing to move on to: this image's bars changed
                self._presenter.show_current()
        else:
            self._nav.reselect()

    def _done(self, text: str) -> None:
        self._spare_timer.start()
        self._rescorer.schedule()
        self._snapshot_timer.start()
        self._rebuilder.request()
        self._presenter.show_undo_state()
        self._presenter.show_status()
        self.message.emit(text, 2500)
        self.acted.emit()

    def _prepare_undo(self) -> None:
        if self.session is not None:
            self.session.prepare_undo()

    def save_snapshot(self) -> None:
        """Pickle model.pkl here and write it (fsyncs and all) on a task, if the model is
        the journal's replay."""
        session = self.session
        snapshot = session.snapshot() if session is not None else None
        if snapshot is not None:
            title = self.tr("Could not save the model snapshot")
            write = lambda _state: session.write_snapshot(*snapshot)  # noqa: E731
            self._tasks.submit(write, on_error=lambda why: self.error.emit(title, why))


def describe(event: Event) -> str:
    """A short description of a journal event for the status bar."""
    kind = event.kind
    if kind in ("label", "relabel", "confirm"):
        return f"{file_name(event.path)} → {event.label}"
    if kind == "unlabel":
        return Labelling.tr("{file}: label removed").format(file=file_name(event.path))
    if kind == "rename_class":
        return Labelling.tr("class {old} renamed to {new}").format(
            old=event.previous, new=event.target
        )
    if kind == "merge_classes":
        return Labelling.tr("class {name} merged into {target}").format(
            name=event.label, target=event.target
        )
    if kind == "delete_class":
        return Labelling.tr("class {name} deleted").format(name=event.label)
    if kind in ("mark", "unmark"):
        mark = MARK_TEXT.get(event.label)
        mark = QCoreApplication.translate("Labelling", mark) if mark else event.label
        marked = Labelling.tr("{file}: marked {mark}")
        text = marked if kind == "mark" else Labelling.tr("{file}: no longer marked {mark}")
        return text.format(file=file_name(event.path), mark=mark)
    return kind.replace("_", " ")
