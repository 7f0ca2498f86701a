"""The controller's label actions, navigation, re-scoring and view state (a mixin).

Split from ``controller.py`` to keep modules small; it relies on the attributes that
``Controller.__init__`` creates.
"""

from __future__ import annotations

from collections import Counter
from pathlib import PurePosixPath

import numpy as np
from PySide6.QtCore import QCoreApplication, QEventLoop

from gui_app.core.labels import LabelError
from gui_app.core.learner import LearnerError
from gui_app.qt.viewstate import BarItem, ClassRow, CurrentImage, StatusInfo

EMPTY_BARS = "Label two classes to see predictions"
REBUILD_PROGRESS_EVERY = 200
RESCORE_CHUNK = 4096  # rows scored per event-loop turn (a few ms each)


class LabelActions:
    """Navigation, label actions and the signals that describe the view."""

    # -- navigation -----------------------------------------------------------------------
    def set_current_row(self, row: int) -> None:
        path = self.model.path_at(row)
        if path is None or path == self._current:
            return
        self._current = path
        self._emit_current()
        if self.root is not None:
            self.previews.request(path, self.root / path)
        self._worker.prioritise([path])

    def move(self, delta: int) -> None:
        row = self.model.row_of(self._current) if self._current else -1
        self.set_current_row(min(max(row + delta, 0), self.model.rowCount() - 1))

    def set_visible_rows(self, first: int, last: int) -> None:
        paths = self.model.view_paths(first, last)
        self._worker.prioritise(([self._current] if self._current else []) + paths)

    def _advance(self) -> None:
        row = self.model.row_of(self._current)
        n = self.model.rowCount()
        if n == 0:
            return
        if self.advance_mode == "next-unlabeled":
            labels = self.model.labels
            for step in range(1, n + 1):
                candidate = (row + step) % n
                path = self.model.path_at(candidate)
                if path not in labels and path not in self.model.reasons:
                    self.set_current_row(candidate)
                    return
        self.set_current_row(min(row + 1, n - 1))

    def set_advance(self, mode: str) -> None:
        self.advance_mode = mode
        self.settings.advance = mode

    def set_filter(self, kind: str, value: str | None = None) -> None:
        self.model.set_filter(kind, value)
        self._reselect()

    def set_sort(self, kind: str) -> None:
        self.model.set_sort(kind)
        self._reselect()

    def _reselect(self) -> None:
        row = self.model.row_of(self._current) if self._current else -1
        if row < 0 and self.model.rowCount():
            self._current = ""
            self.set_current_row(0)
        else:
            self._emit_current()

    def filter_options(self) -> list[tuple[str, str | None, str]]:
        options = [
            ("all", None, "All images"),
            ("unlabeled", None, "Unlabeled"),
            ("labeled", None, "Labeled"),
        ]
        names = [c.name for c in self._class_infos]
        options += [("class", n, f"Labeled: {n}") for n in names]
        options += [("prediction", n, f"Predicted: {n}") for n in names]
        options.append(("unreadable", None, "Unreadable"))
        return options

    # -- actions --------------------------------------------------------------------------
    def confirm(self) -> None:
        """Enter/Space: label the current image with the top prediction."""
        if not self._can_act():
            return
        probs = self.session.predict(self._current)
        if not probs:
            self.message.emit("No prediction yet: press 1-9 or type a class name", 4000)
            return
        self._apply_label(self._current, max(probs, key=probs.get))

    def assign_shortcut(self, n: int) -> None:
        names = [c.name for c in self._class_infos]
        if 1 <= n <= min(9, len(names)):
            self.assign_class(names[n - 1])
        elif self.session is not None:
            self.message.emit(f"No class has the shortcut {n}", 3000)

    def assign_class(self, name: str) -> None:
        if self._can_act():
            self._apply_label(self._current, name)

    def skip(self) -> None:
        if self._current:
            self._advance()

    def _can_act(self) -> bool:
        if self.session is None or not self._current:
            return False
        reason = self.model.reasons.get(self._current)
        if reason:
            self.message.emit(f"Unreadable image, skipped: {reason}", 4000)
            self._advance()
            return False
        return True

    def _apply_label(self, path: str, name: str) -> None:
        known = {c.name for c in self._class_infos}
        previous = self.model.labels.get(path)
        try:
            result = self.session.label(path, name)
        except LabelError as exc:
            self.error.emit("Cannot label", str(exc))
            return
        label = result.event.label
        self.model.set_label(path, label)
        if previous:
            self._counts[previous] -= 1
        self._counts[label] += 1
        if label not in known:
            self._sync_classes()
        else:
            self._emit_classes()
        self._advance()
        if self._current == path:  # nothing to advance to: the bars of this image changed
            self._emit_bars()
        self._after_action(f"{_name(path)} → {label}")

    def _after_action(self, text: str) -> None:
        self._spare_timer.start()
        self._rescore_timer.start()
        self._snapshot_timer.start()
        self._emit_undo_state()
        self._emit_status()
        self.message.emit(text, 2500)

    def remove_label(self) -> None:
        if self.session is None or not self._current:
            return
        path = self._current
        try:
            self.session.unlabel(path)
        except LabelError as exc:
            self.message.emit(str(exc), 3000)
            return
        self.model.set_label(path, None)
        self._sync_classes()
        self._emit_current()
        self._after_action(f"{_name(path)}: label removed")

    def _history(self, redo: bool) -> None:
        if self.session is None:
            return
        try:
            event = (self.session.redo() if redo else self.session.undo()).event
        except LabelError as exc:
            self.message.emit(str(exc), 3000)
            return
        if event.path:  # an image's label: refresh that one (the whole table costs ~0.1 s at 100k)
            self.model.set_label(event.path, self.session.labels.label_of(event.path))
        else:  # a class action: many images may have changed
            self.model.set_labels(self.session.labels.labels())
        self._sync_classes()
        if event.path and self.model.row_of(event.path) >= 0:
            self.set_current_row(self.model.row_of(event.path))
        self._emit_current()
        self._after_action(f"{'Redone' if redo else 'Undone'}: {_describe(event)}")

    def undo(self) -> None:
        self._history(redo=False)

    def redo(self) -> None:
        self._history(redo=True)

    def _class_action(self, action, *args) -> None:
        if self.session is None:
            return
        try:
            event = action(*args).event
        except LabelError as exc:
            self.error.emit("Cannot change the class", str(exc))
            return
        self.model.set_labels(self.session.labels.labels())
        self._sync_classes()
        self._emit_current()
        self._after_action(_describe(event))

    def rename_class(self, old: str, new: str) -> None:
        if self.session:
            self._class_action(self._with_rebuild(self.session.rename_class), old, new)

    def merge_classes(self, source: str, target: str) -> None:
        if self.session:
            self._class_action(self._with_rebuild(self.session.merge_classes), source, target)

    def delete_class(self, name: str) -> None:
        if self.session:
            self._class_action(self._with_rebuild(self.session.delete_class), name)

    def recolor_class(self, name: str, color: str) -> None:
        if self.session:
            self._class_action(self.session.recolor_class, name, color)

    def _with_rebuild(self, action):
        def run(*args):
            self.session.rebuild_progress = self._rebuild_progress
            try:
                return action(*args)
            finally:
                self.session.rebuild_progress = None
                self.busy.emit("", 0, 0)

        return run

    def _rebuild_progress(self, done: int, total: int) -> None:
        """Progress of a replay on the GUI thread: shown, and the window kept painted."""
        if total > REBUILD_PROGRESS_EVERY and done % REBUILD_PROGRESS_EVERY == 0:
            self.busy.emit("Rebuilding the model from the label journal…", done, total)
            # Paint and show progress, but no keys or clicks: they must not act mid-replay.
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)

    def _rebuild(self) -> None:
        self.session.rebuild(self._rebuild_progress)
        self.busy.emit("", 0, 0)
        self._emit_status()
        self._emit_bars()

    def pause_extraction(self, paused: bool) -> None:
        self._worker.set_paused(paused)
        if self._status["state"] in ("extracting", "paused"):
            self._status["state"] = "paused" if paused else "extracting"
        self._emit_status()

    def cancel_extraction(self) -> None:
        self._worker.cancel()

    def current_settings(self) -> dict[str, str]:
        """Backbone, weights and learner of the open project (else the defaults)."""
        if self.session is None:
            s = self.settings
            return {"backbone": s.backbone, "weights": s.weights, "learner": s.learner}
        backbone, weights = self._project_backbone()
        return {"backbone": backbone, "weights": weights, "learner": self.session.learner_name}

    def apply_settings(self, backbone: str, weights: str, learner: str) -> None:
        """New defaults; for the open project another backbone extracts into its own cache
        and another learner is rebuilt from the journal."""
        self.settings.backbone, self.settings.weights = backbone, weights
        self.settings.learner = learner
        if self.session is None:
            return
        now = self.current_settings()
        if learner != now["learner"]:
            self.session.switch_learner(learner)
            self._rescore_timer.start()
        if (backbone, weights) != (now["backbone"], now["weights"]):
            self.session.switch_backbone(backbone, weights)
            self._vector_rows = np.zeros(0, np.int64)
            self.model.set_predictions(np.zeros(0, np.int64), np.zeros((0, 0)), [])
            self._start_extraction()
        self._emit_status()

    # -- re-scoring (chunked so the event loop never stalls) ------------------------------
    def _start_rescore(self) -> None:
        if self.session is None or not self.session.learner.can_predict():
            if self.session is not None:
                self.model.set_predictions(np.zeros(0, np.int64), np.zeros((0, 0)), [])
            return
        matrix = self.session.vectors.matrix
        if len(matrix) == 0 or matrix.shape[1] != self.session.learner.n_features:
            return  # no features yet (or of another backbone, before the rebuild)
        self._rescore_state = (matrix, list(self.session.learner.classes), 0, [])
        self._rescore_step.start()

    def _rescore_chunk(self) -> None:
        if self._rescore_state is None or self.session is None:
            return
        matrix, classes, start, parts = self._rescore_state
        stop = min(start + RESCORE_CHUNK, len(matrix))
        try:
            parts.append(self.session.learner.score_many(matrix[start:stop]))
        except LearnerError:  # the learner changed under this pass; a fresh one is queued
            self._rescore_state = None
            return
        if stop < len(matrix):
            self._rescore_state = (matrix, classes, stop, parts)
            self._rescore_step.start()
            return
        self._rescore_state = None
        probs = np.concatenate(parts) if parts else np.zeros((0, len(classes)), np.float32)
        rows = self._vector_rows[: len(probs)]
        keep = rows >= 0
        self.model.set_predictions(rows[keep], probs[keep], classes)

    def _save_snapshot(self) -> None:
        if self.session is None:
            return
        try:
            self.session.save_snapshot()
        except OSError as exc:
            self.error.emit("Could not save the model snapshot", str(exc))

    # -- view state -----------------------------------------------------------------------
    def _sync_classes(self) -> None:
        self._counts = Counter(self.session.labels.counts()) if self.session else Counter()
        self._class_infos = self.session.labels.classes() if self.session else []
        if self.session is not None:
            self.session.learner.set_classes([c.name for c in self._class_infos])
            self.model.set_colors({c.name: c.color for c in self._class_infos})
        self._emit_classes()
        self._emit_bars()
        self._rescore_timer.start()

    def _emit_classes(self) -> None:
        rows = []
        if self.session is not None:
            for i, info in enumerate(self._class_infos):
                shortcut = i + 1 if i < 9 else None
                rows.append(
                    ClassRow(info.name, info.color, self._counts.get(info.name, 0), shortcut)
                )
        self.classes_changed.emit(rows)

    def _emit_current(self) -> None:
        path = self._current
        if not path or self.session is None:
            self.current_changed.emit(CurrentImage(-1, "", "", None, None, ""))
            self.bars_changed.emit([], None, "Open a folder to start")
            return
        row = self.model.row_of(path)
        self.current_changed.emit(
            CurrentImage(
                row,
                path,
                _name(path),
                self.model.labels.get(path),
                self.model.reasons.get(path),
                f"{row + 1} / {self.model.rowCount()}" if row >= 0 else "",
            )
        )
        self._emit_bars()

    def _emit_bars(self) -> None:
        if self.session is None or not self._current:
            return
        path = self._current
        user = self.model.labels.get(path)
        reason = self.model.reasons.get(path)
        infos = self._class_infos
        if reason:
            self.bars_changed.emit([], user, f"Unreadable image: {reason}")
            return
        if self.session.vectors.get(path) is None:
            self.bars_changed.emit([], user, "Extracting features for this image…")
            return
        probs = self.session.predict(path)
        if not probs:
            self.bars_changed.emit([], user, EMPTY_BARS)
            return
        bars = [
            BarItem(c.name, float(probs.get(c.name, 0.0)), c.color, i + 1 if i < 9 else None)
            for i, c in enumerate(infos)
        ]
        self.bars_changed.emit(bars, user, None)

    def _emit_undo_state(self) -> None:
        labels = self.session.labels if self.session else None
        self.undo_state_changed.emit(
            bool(labels and labels.can_undo()), bool(labels and labels.can_redo())
        )

    def _emit_status(self) -> None:
        s = self._status
        progressive = self.session.learner.progressive if self.session else None
        recent = progressive.recent(50) if progressive else None
        n_recent = min(50, progressive.total) if progressive else 0
        self.status_changed.emit(
            StatusInfo(
                device=s["device"],
                images=len(self.model.paths),
                labeled=len(self.model.labels),
                unreadable=len(self.model.reasons),
                classes=len(self._class_infos),
                extracted=s["extracted"],
                total=max(s["total"], len(self.model.paths)),
                rate=s["rate"],
                eta=s["eta"],
                state=s["state"],
                accuracy_recent=recent,
                accuracy_n=n_recent,
                backbone=self._backbone_label,
            )
        )

    def _on_preview(self, path: str, image, error: str) -> None:
        if path == self._current:
            self.preview_ready.emit(path, image, error)


def _name(path: str) -> str:
    return PurePosixPath(path).name


def _describe(event) -> str:
    kind = event.kind
    if kind in ("label", "relabel", "confirm"):
        return f"{_name(event.path)} → {event.label}"
    if kind == "unlabel":
        return f"{_name(event.path)}: label removed"
    if kind == "rename_class":
        return f"class {event.previous} renamed to {event.label}"
    if kind == "merge_classes":
        return f"class {event.label} merged into {event.target}"
    return kind.replace("_", " ")
