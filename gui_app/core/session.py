"""A labeling session: the one code path every label action takes, in the window and headless.

Order of every action: journal commit (durable first), learner update, then the caller
re-scores. Undo restores the learner exactly from an in-memory snapshot when it has one and
otherwise rebuilds it by replaying the journal.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gui_app.core.labels import Event, LabelStore
from gui_app.core.learner import LearnerError, OnlineLearner
from gui_app.core.project import Project
from gui_app.core.store import FeatureStore

UNDO_SNAPSHOTS = 64


class VectorTable:
    """Feature vectors of the images seen so far, in one growable float32 matrix."""

    def __init__(self, dim: int | None = None, capacity: int = 1024) -> None:
        self.index: dict[str, int] = {}
        self.paths: list[str] = []
        self._matrix = np.empty((capacity, dim), np.float32) if dim else None

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def dim(self) -> int:
        return 0 if self._matrix is None else self._matrix.shape[1]

    @property
    def matrix(self) -> np.ndarray:
        """(N, D) view of the stored rows (no copy)."""
        if self._matrix is None:
            return np.zeros((0, 0), np.float32)
        return self._matrix[: len(self.paths)]

    def get(self, path: str) -> np.ndarray | None:
        row = self.index.get(path)
        return None if row is None else self._matrix[row]

    def reserve(self, rows: int, dim: int | None = None) -> None:
        """Make room for ``rows`` vectors up front (one allocation, no copy on growth later).

        np.empty leaves pages untouched until written, so reserving costs no memory yet.
        """
        dim = dim or self.dim
        if not dim or (self._matrix is not None and self._matrix.shape[0] >= rows):
            return
        grown = np.empty((rows, dim), np.float32)
        if self._matrix is not None and self._matrix.shape[1] == dim:
            grown[: len(self.paths)] = self._matrix[: len(self.paths)]
        else:
            self.index.clear()
            self.paths.clear()
        self._matrix = grown

    def add(self, paths: Sequence[str], vectors: np.ndarray) -> list[int]:
        """Insert or overwrite rows; returns their row numbers."""
        vectors = np.asarray(vectors, np.float32)
        if self._matrix is None or self._matrix.shape[1] != vectors.shape[1]:
            self.index.clear()
            self.paths.clear()
            self._matrix = np.empty((max(1024, len(paths)), vectors.shape[1]), np.float32)
        new = sum(1 for p in dict.fromkeys(paths) if p not in self.index)
        if len(self.paths) + new > self._matrix.shape[0]:
            self.reserve(max(len(self.paths) + new, self._matrix.shape[0] * 3 // 2))
        rows = []
        for path in paths:
            row = self.index.get(path)
            if row is None:
                row = len(self.paths)
                self.index[path] = row
                self.paths.append(path)
            rows.append(row)
        self._matrix[rows] = vectors
        return rows


@dataclass(frozen=True)
class ActionResult:
    """What an action did: its journal event and the probability shown before it, if any."""

    event: Event
    learned: bool
    seconds: float


class LabelingSession:
    """Labels, learner and vectors of one open project.

    Parameters
    ----------
    project
        The project whose ``labels.sqlite`` and ``model.pkl`` are used.
    learner_name
        The learner for a new project; an existing project keeps the one in its settings.
    """

    def __init__(self, project: Project, learner_name: str | None = None) -> None:
        self.project = project
        self.labels = LabelStore(project.labels_path)
        stored = self.labels.get_setting("learner")
        self.learner_name = stored or learner_name or "logistic"
        if stored is None:
            self.labels.set_setting("learner", self.learner_name)
        self.vectors = VectorTable()
        self.learner = OnlineLearner(self.learner_name)
        self.learner.set_classes(self.labels.class_names())
        self.snapshot_message: str | None = None
        # Called as (done, total) while a rename/merge/delete/unlabel replays the journal.
        self.rebuild_progress: Callable[[int, int], None] | None = None
        # Undo/redo keep pickled learners (~10x smaller than live copies); each entry is
        # (journal head just before the action group it belongs to, pickle).
        self._spare: bytes | None = None  # the current learner, pickled in idle time
        self._undo_snapshots: list[tuple[int, bytes]] = []
        self._redo_snapshots: list[tuple[int, bytes]] = []
        self.needs_rebuild = self.labels.label_count() > 0
        self._pending: set[str] = set(self.labels.labels()) if self.needs_rebuild else set()
        self._load_snapshot()

    # -- model snapshot -------------------------------------------------------------------
    def _journal_head(self) -> int:
        return self.labels.last_seq()

    def _load_snapshot(self) -> None:
        path = self.project.model_path
        for leftover in path.parent.glob(f".{path.name}.*.tmp"):  # a save killed mid-write
            leftover.unlink(missing_ok=True)
        if not path.exists():
            return
        try:
            learner = OnlineLearner.load(path, self.project.dir)
        except LearnerError as exc:
            self.snapshot_message = f"{exc}; the model will be rebuilt from the label journal"
            return
        head = self._journal_head()
        if getattr(learner, "journal_seq", None) == head and learner.name == self.learner_name:
            self.learner = learner
            self.learner.set_classes(self.labels.class_names())
            self.needs_rebuild = False
            self._pending.clear()
        else:
            self.snapshot_message = "model snapshot is older than the labels; rebuilding by replay"

    def save_snapshot(self) -> None:
        """Write model.pkl atomically, tagged with the journal position it reflects."""
        if self.needs_rebuild:
            return
        self.learner.journal_seq = self._journal_head()
        self.learner.save(self.project.model_path)

    def add_vectors(self, paths: Sequence[str], vectors: np.ndarray) -> list[int]:
        """Store arriving features; returns their rows in :attr:`vectors`."""
        rows = self.vectors.add(paths, vectors)
        if self._pending:
            self._pending.difference_update(paths)
        return rows

    @property
    def ready_to_rebuild(self) -> bool:
        """A rebuild is due and every labelled image it needs has its features."""
        return self.needs_rebuild and not self._pending

    def reset_vectors(self) -> None:
        """Forget all features (another backbone); the learner is rebuilt when they return."""
        self.vectors = VectorTable()
        self.needs_rebuild = self.labels.label_count() > 0
        self._pending = set(self.labels.labels()) if self.needs_rebuild else set()

    def rebuild(
        self, progress: Callable[[int, int], None] | None = None, *, keep_history: bool = False
    ) -> None:
        """Replay the journal into a fresh learner (skipping images without features).

        ``keep_history`` keeps the undo/redo copies (each is tied to its journal position).
        """
        events, missing = [], set()
        for _seq, path, label in self.labels.training_events():
            vec = self.vectors.get(path)
            if vec is None:
                missing.add(path)
            else:
                events.append((label, vec))
        self.learner = OnlineLearner.rebuild(
            self.learner_name,
            events,
            self.labels.class_names(),
            progress=progress,
            total=len(events),
        )
        self._spare = None
        if not keep_history:
            self._undo_snapshots.clear()
            self._redo_snapshots.clear()
        self._pending = missing  # learned by a full replay once their features arrive
        self.needs_rebuild = bool(missing)

    def model_from_store(self, store: FeatureStore) -> OnlineLearner:
        """A usable model for headless exports: the snapshot when current, else a replay.

        Features of the labelled images come from ``store`` (the project's feature cache).

        Raises
        ------
        LearnerError
            Labelled images lack features, or fewer than two classes were learned.
        """
        if self.needs_rebuild:
            labelled = list(self.labels.labels())
            found = store.vectors_for(labelled)
            if found:
                self.add_vectors(list(found), np.stack(list(found.values())))
            if not self.ready_to_rebuild:
                missing = len(labelled) - len(found)
                raise LearnerError(
                    f"{missing} labeled images have no features: run 'loupe extract' first"
                )
            self.rebuild()
        if not self.learner.can_predict():
            raise LearnerError("the model has learned fewer than two classes: label more images")
        return self.learner

    # -- queries --------------------------------------------------------------------------
    def predict(self, path: str) -> dict[str, float]:
        """Probabilities for one image ({} when the model cannot predict or has no vector)."""
        vector = self.vectors.get(path)
        if vector is None or not self.learner.can_predict():
            return {}
        return self.learner.predict_proba(vector)

    def score_all(self) -> np.ndarray:
        """(N, C) probabilities of every known vector, columns in ``learner.classes`` order."""
        return self.learner.score_many(self.vectors.matrix)

    # -- actions --------------------------------------------------------------------------
    def prepare_undo(self) -> None:
        """Copy the learner now (idle time) so the next action need not copy it first."""
        if self._spare is None:
            self._spare = pickle.dumps(self.learner, protocol=pickle.HIGHEST_PROTOCOL)

    def _take_spare(self) -> bytes:
        spare, self._spare = self._spare, None
        return spare if spare is not None else pickle.dumps(self.learner, pickle.HIGHEST_PROTOCOL)

    def _push_undo(self, head: int, learner: bytes) -> None:
        """Remember the learner as it was before the action group starting at ``head + 1``."""
        self._undo_snapshots.append((head, learner))
        del self._undo_snapshots[:-UNDO_SNAPSHOTS]
        self._redo_snapshots.clear()

    def _journaled(self, action: Callable[[], Event]) -> Event:
        """Run one undoable journal action; its undo snapshot is kept only if it succeeds."""
        head, before = self._journal_head(), self._take_spare()
        try:
            event = action()
        except Exception:
            self._spare = before
            raise
        self._push_undo(head, before)
        return event

    @staticmethod
    def _group_start(event: Event) -> int:
        """Journal head just before the group an undo/redo row acted on."""
        return min(int(s) for s in (event.target or "").split(",") if s) - 1

    def _restore(self, stack: list[tuple[int, bytes]], head: int) -> None:
        """Take the learner from ``stack`` if it belongs to that group, else replay."""
        if stack and stack[-1][0] == head:
            self.learner = pickle.loads(stack.pop()[1])
        else:  # out of step (or empty): never trust it
            self.rebuild(keep_history=True)

    def label(self, path: str, label: str) -> ActionResult:
        """Give ``path`` the class ``label`` (created if new): commit, then learn."""
        t0 = time.perf_counter()
        shown = self.predict(path) or None
        event = self._journaled(lambda: self.labels.set_label(path, label, prediction=shown))
        self.learner.add_class(event.label)
        vector = self.vectors.get(path)
        learned = vector is not None and not self.needs_rebuild
        if learned:
            self.learner.learn(vector, event.label)
        elif vector is None:
            # Learned by the replay once its features arrive, so the model keeps journal order.
            self.needs_rebuild = True
            self._pending.add(path)
        return ActionResult(event, learned, time.perf_counter() - t0)

    def add_class(self, name: str) -> Event:
        event = self._journaled(lambda: self.labels.add_class(name))
        self.learner.add_class(event.label or name)
        return event

    def _structural(self, action: Callable[[], Event]) -> Event:
        """Rename, merge, delete, unlabel: commit, then rebuild by replay."""
        event = self._journaled(action)
        self.rebuild(self.rebuild_progress, keep_history=True)
        return event

    def unlabel(self, path: str) -> Event:
        return self._structural(lambda: self.labels.remove_label(path, self.predict(path) or None))

    def rename_class(self, old: str, new: str) -> Event:
        return self._structural(lambda: self.labels.rename_class(old, new))

    def merge_classes(self, source: str, target: str) -> Event:
        return self._structural(lambda: self.labels.merge_classes(source, target))

    def delete_class(self, name: str) -> Event:
        return self._structural(lambda: self.labels.delete_class(name))

    def recolor_class(self, name: str, color: str) -> Event:
        return self._journaled(lambda: self.labels.recolor_class(name, color))

    def undo(self) -> Event:
        """Undo the last action; the learner returns exactly to its state before it."""
        current = self._take_spare()
        event = self.labels.undo()
        start = self._group_start(event)
        self._restore(self._undo_snapshots, start)
        self._redo_snapshots.append((start, current))
        self.learner.set_classes(self.labels.class_names())
        return event

    def redo(self) -> Event:
        """Redo the last undone action, restoring the learner it produced."""
        current = self._take_spare()
        event = self.labels.redo()
        start = self._group_start(event)
        self._restore(self._redo_snapshots, start)
        self._undo_snapshots.append((start, current))
        self.learner.set_classes(self.labels.class_names())
        return event

    def close(self) -> None:
        """Save the model snapshot and close the label store."""
        try:
            self.save_snapshot()
        finally:
            self.labels.close()


def open_session(root: Path, project_dir: Path | None = None, learner: str | None = None):
    """Open (or create) the project of ``root`` and its labeling session."""
    return LabelingSession(Project(root, project_dir), learner)
