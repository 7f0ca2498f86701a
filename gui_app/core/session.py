"""A labeling session: over 400 lines as each action keeps journal, labels and model in step.

It is the one way to change labels, classes, settings and the model.

Order of every action: journal commit (durable first), learner update, then the caller
re-scores. Undo restores the learner exactly from a pickled copy tied to the journal position
when it has one; otherwise, and after rename, merge, delete, unlabel or a learner switch, the
model is rebuilt by replaying the journal (:mod:`gui_app.core.rebuild`). A session with
``defer_rebuilds`` leaves that replay to its owner, which runs :meth:`plan_rebuild` on a
background thread and hands the result to :meth:`finish_rebuild`; meanwhile the model is
flagged stale and never saved.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from gui_app.core.label_schema import LABEL_KINDS
from gui_app.core.labels import ClassInfo, Event, LabelError, LabelStore
from gui_app.core.learner import LearnerError, OnlineLearner
from gui_app.core.model_history import ModelHistory
from gui_app.core.project import Project
from gui_app.core.project_settings import ProjectSettings
from gui_app.core.rebuild import Progress, RebuildPlan, RowsOf, StopCheck
from gui_app.core.snapshots import SnapshotWriter
from gui_app.core.store import FeatureStore
from gui_app.core.teaching import JournalVectors, KeyedVectors, teach
from gui_app.core.vector_table import VectorTable

SYNC_BULK = 16  # bulk actions up to this size are learned at once, larger ones by a replay
# Journal kinds a finished replay can catch up with by learning the new label events.
_CATCH_UP_SAFE = frozenset((*LABEL_KINDS, "add_class", "recolor_class", "move_class", "unmark"))
_CLASS_EDITS = frozenset(("rename_class", "merge_classes", "delete_class"))

__all__ = ["ActionResult", "LabelingSession", "RebuildPlan", "VectorTable"]


@dataclass
class PendingWrite:
    """A journal write prepared on the session's thread (:meth:`LabelingSession.begin_items`).

    ``write(store)`` runs the transaction with any :class:`LabelStore` of the project, on any
    thread; the session then finishes (or aborts) it on its own thread.
    """

    write: Callable[[LabelStore], object]
    head: int  # journal position before the action
    before: bytes | None  # the model before it (None: the model was not exact)
    known: frozenset[str] = frozenset()  # classes that existed
    paths: list[str] = field(default_factory=list)
    undo: bool = False


@dataclass(frozen=True)
class HistoryWrite:
    """An undo/redo committed, with what it changed read on the same (possibly worker) thread.

    Reading the rows of a 10,000-label group back is a few hundred milliseconds of JSON: done
    where the write ran, the window's thread only applies it.
    """

    event: Event
    rows: list[Event]
    changed: dict[str, str | None]  # image -> its label now (None: unlabelled)

    @classmethod
    def run(cls, store: LabelStore, undo: bool) -> HistoryWrite:
        event = store.undo() if undo else store.redo()
        rows = store.group_rows(event)
        paths = [r.path for r in rows if r.kind in (*LABEL_KINDS, "unlabel")]
        return cls(event, rows, store.labels_of(paths))


@dataclass(frozen=True)
class ActionResult:
    """What an action did.

    ``event`` is its last journal row, ``learned`` whether the model learned it at once,
    ``changed`` the images whose label changed (new label or None), ``classes_changed``
    whether the class list changed and ``relabelled_all`` whether many labels changed at once
    (read :meth:`LabelingSession.labels_by_path` again).
    """

    event: Event
    learned: bool = False
    changed: dict[str, str | None] = field(default_factory=dict)
    classes_changed: bool = False
    relabelled_all: bool = False


class LabelingSession:
    """Labels, learner and vectors of one open project.

    Parameters
    ----------
    project
        The project whose ``labels.sqlite`` and ``model.pkl`` are used.
    defaults
        Settings for a new project; an existing project keeps its stored ones.
    """

    def __init__(self, project: Project, defaults: ProjectSettings | None = None) -> None:
        self.project = project
        self.labels = LabelStore(project.labels_path)
        self._settings = ProjectSettings.load(self.labels, defaults)
        self._settings.save(self.labels)
        self.vectors = VectorTable()
        self.learner = OnlineLearner(self._settings.learner)
        #: Leave replays to the owner (see module docstring) instead of running them inline.
        self.defer_rebuilds = False
        self.snapshot_message: str | None = None
        self._closed = False
        self._writing = False  # a journal write prepared by begin_* runs elsewhere
        #: Exact learner copies for undo/redo, tied to journal positions.
        self.history = ModelHistory()
        self._snapshots = SnapshotWriter(self.project.model_path)
        # A bulk action learned later on top of a copy: (head, copy, [(seq, path), ...]).
        self._incremental: tuple[int, bytes, list[tuple[int, str]]] | None = None
        # Replay keys are journal seqs: resolved to the vectors of their images.
        self._journal_vectors = JournalVectors(self.labels.training_events, lambda: self.vectors)
        self._label_of: dict[str, str] = self.labels.labels()
        self._marks = {m: self.labels.marked(m) for m in ("unsure", "reviewed")}
        self._classes: list[ClassInfo] = []
        self._counts: dict[str, int] = {}
        self._refresh_classes()
        #: The learner is not the replay of the journal: rebuild once features are there.
        self.needs_rebuild = bool(self._label_of)
        self._pending: set[str] = set(self._label_of) if self.needs_rebuild else set()
        self._load_snapshot()

    # -- settings ---------------------------------------------------------------------------
    @property
    def settings(self) -> ProjectSettings:
        """The project's backbone, weights, learner and engine."""
        return self._settings

    @property
    def learner_name(self) -> str:
        return self._settings.learner

    def switch_learner(self, name: str) -> bool:
        """Use another learner kind; the model is rebuilt from the journal. False if unchanged."""
        if name == self._settings.learner:
            return False
        OnlineLearner(name)  # validates the name (LearnerError-free ValueError on a typo)
        self._update_settings(replace(self._settings, learner=name))
        self.learner = OnlineLearner(name)
        self.learner.set_classes(self.class_names())
        self._invalidate_model()
        return True

    def switch_backbone(self, backbone: str, weights: str, engine: str | None = None) -> bool:
        """Extract with another backbone: every vector is dropped until the new ones arrive.

        Returns False when nothing changed.
        """
        new = self._settings.with_backbone(backbone, weights)
        if engine is not None:
            new = replace(new, engine=engine)
        if new == self._settings:
            return False
        self._update_settings(new)
        self.vectors.clear_vectors()
        self._pending = set(self._label_of)
        self.needs_rebuild = bool(self._label_of)
        return True

    def _update_settings(self, settings: ProjectSettings) -> None:
        settings.save(self.labels)
        self._settings = settings

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
            self.learner.set_classes(self.class_names())
            self.needs_rebuild = False
            self._pending.clear()
            self._journal_vectors.learn_paths()
        else:
            self.snapshot_message = "model snapshot is older than the labels; rebuilding by replay"

    def save_snapshot(self) -> bool:
        """Write model.pkl atomically, tagged with the journal position it reflects.

        Nothing is written while the model is not the replay of the journal, or while a
        journal write runs on another thread (False).
        """
        snapshot = self.snapshot()
        return snapshot is not None and self.write_snapshot(*snapshot)

    def snapshot(self) -> tuple[bytes, int] | None:
        """``(model.pkl content, journal position)`` now, for :meth:`write_snapshot` on any
        thread; None when :meth:`save_snapshot` would write nothing."""
        if self.needs_rebuild or self._writing:
            return None
        self.learner.journal_seq = self._journal_head()
        return self.learner.to_bytes(), self.learner.journal_seq

    def write_snapshot(self, data: bytes, journal_seq: int) -> bool:
        """Write a :meth:`snapshot` (safe on any thread; an older one never replaces a newer)."""
        return self._snapshots.write(data, journal_seq)

    # -- images and features ----------------------------------------------------------------
    def add_images(self, paths: Sequence[str]) -> np.ndarray:
        """Make images known (the folder scan); returns their rows."""
        return self.vectors.add_images(paths)

    def reserve(self, images: int, dim: int | None = None) -> None:
        """Allocate room for ``images`` rows (after the scan, before vectors stream in)."""
        self.vectors.reserve(images, dim)

    def add_vectors(self, paths: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """Store arriving features; returns their rows."""
        rows = self.vectors.add(paths, vectors)
        if self._pending:
            self._pending.difference_update(paths)
        return rows

    def features_unavailable(self, paths) -> None:
        """These images will never have features (unreadable): replays stop waiting for them."""
        self._pending.difference_update(paths)

    def has_vector(self, path: str) -> bool:
        return self.vectors.get(path) is not None

    @property
    def image_count(self) -> int:
        """Images known to the session (rows of :meth:`score_rows`)."""
        return self.vectors.size

    @property
    def vector_count(self) -> int:
        return len(self.vectors)

    def image_index(self) -> tuple[list[str], dict[str, int]]:
        """The live image list and path -> row dict (read only: views share them)."""
        return self.vectors.paths, self.vectors.index

    def image_paths(self) -> list[str]:
        """Every known image, in row order (a copy)."""
        return list(self.vectors.paths)

    def row_of(self, path: str) -> int | None:
        return self.vectors.row(path)

    def vectors_of(self, paths: Sequence[str]) -> np.ndarray:
        """``(len(paths), D)`` copy of the vectors of ``paths`` (all must have one)."""
        rows = np.array([self.vectors.index[p] for p in paths], np.int64)
        return self.vectors.matrix[rows]

    def model_copy(self) -> OnlineLearner:
        """An independent copy of the model (for exports on another thread)."""
        return self.learner.snapshot()

    def feature_snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """``(matrix, present)`` for a read-only computation on another thread.

        The matrix is the live ``(images, D)`` array (rows may still be filled in while it
        runs; growth allocates a new one, leaving this one intact); ``present`` is a copy.
        """
        return self.vectors.matrix, self.vectors.present.copy()

    def rows_of(self, paths) -> np.ndarray:
        """Image rows of the known ``paths`` (unknown ones are left out)."""
        index = self.vectors.index
        return np.fromiter((index[p] for p in paths if p in index), np.int64)

    def labelled_mask(self) -> np.ndarray:
        """``(images,)`` bool: which images carry a label (O(labels))."""
        mask = np.zeros(self.vectors.size, bool)
        mask[self.rows_of(self._label_of)] = True
        return mask

    def marked_mask(self, mark: str) -> np.ndarray:
        """``(images,)`` bool: which images carry ``mark``."""
        mask = np.zeros(self.vectors.size, bool)
        mask[self.rows_of(self._marks[mark])] = True
        return mask

    def journal_head(self) -> int:
        """Position of the newest journal row (0 for a new project)."""
        return self.labels.last_seq()

    def present_rows(self) -> np.ndarray:
        """``(images,)`` bool: which rows have a feature vector."""
        return self.vectors.present.copy()

    # -- labels, classes, marks -----------------------------------------------------------
    def label_of(self, path: str) -> str | None:
        return self._label_of.get(path)

    def labels_by_path(self) -> dict[str, str]:
        """Every labelled image (the live dict: do not modify)."""
        return self._label_of

    def marked(self, mark: str) -> set[str]:
        """Images carrying ``mark`` (``unsure``, ``reviewed``; the live set: do not modify)."""
        return self._marks[mark]

    def classes(self) -> list[ClassInfo]:
        """Classes in display (shortcut) order."""
        return list(self._classes)

    def class_names(self) -> list[str]:
        return [c.name for c in self._classes]

    def counts(self) -> dict[str, int]:
        """Labelled images per class."""
        return dict(self._counts)

    def _refresh_classes(self) -> None:
        self._classes = self.labels.classes()
        self._counts = self.labels.counts()
        self.learner.set_classes([c.name for c in self._classes])

    def _refresh_marks(self) -> None:
        for mark, paths in self._marks.items():  # in place: views hold these sets
            paths.clear()
            paths.update(self.labels.marked(mark))

    def _reload_labels(self) -> None:
        self._label_of.clear()  # in place: views hold this dict
        self._label_of.update(self.labels.labels())

    @property
    def label_count(self) -> int:
        return len(self._label_of)

    def can_undo(self) -> bool:
        return self.labels.can_undo()

    def can_redo(self) -> bool:
        return self.labels.can_redo()

    def journal(self, since: int = 0) -> list[Event]:
        """Journal rows after ``since`` (for the insight panel and reports)."""
        return self.labels.journal(since=since)

    # -- queries --------------------------------------------------------------------------
    def can_predict(self) -> bool:
        """The model can predict and knows the current classes by name."""
        if not self.learner.can_predict():
            return False
        current = set(self.class_names())
        return all(c in current for c in self.learner.learned_classes)

    def predict(self, path: str) -> dict[str, float]:
        """Probabilities for one image ({} when the model cannot predict or has no vector)."""
        vector = self.vectors.get(path)
        if vector is None or not self.can_predict():
            return {}
        return self.learner.predict_proba(vector)

    def model_classes(self) -> list[str]:
        """Column order of :meth:`score_rows`."""
        return list(self.learner.classes)

    def score_rows(self, start: int, stop: int) -> np.ndarray:
        """``(stop - start, C)`` probabilities of image rows (meaningless where absent).

        ``(n, 0)`` while the model cannot predict.
        """
        if not self.can_predict() or self.vectors.dim != self.learner.n_features:
            return np.zeros((max(0, stop - start), 0), np.float32)
        return self.learner.score_many(self.vectors.matrix[start:stop])

    def score_at(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), C)`` probabilities of the given image rows (``(n, 0)`` as above)."""
        if not self.can_predict() or self.vectors.dim != self.learner.n_features:
            return np.zeros((len(rows), 0), np.float32)
        return self.learner.score_many(self.vectors.matrix[np.asarray(rows, np.int64)])

    def model_token(self) -> tuple:
        """Changes whenever the model's predictions may have changed (learn, swap, classes)."""
        learner = self.learner
        return id(learner), learner.n_learned, tuple(learner.classes), self.can_predict()

    def score_all(self) -> np.ndarray:
        """``(images, C)`` probabilities of every image row, columns in model_classes order."""
        return self.score_rows(0, self.vectors.size)

    @property
    def progressive(self):
        """The learner's predict-then-learn record (accuracy of recent suggestions)."""
        return self.learner.progressive

    def model_from_store(self, store: FeatureStore) -> OnlineLearner:
        """A usable model for headless exports: the snapshot when current, else a replay.

        Features of the labelled images come from ``store`` (the project's feature cache).

        Raises
        ------
        LearnerError
            Labelled images lack features, or fewer than two classes were learned.
        """
        if self.needs_rebuild:
            labelled = list(self._label_of)
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

    # -- teaching -------------------------------------------------------------------------
    def _teach(self, learner: OnlineLearner, vector: np.ndarray, event: Event) -> None:
        """Teach one label event the one way (:func:`gui_app.core.teaching.teach`)."""
        self._journal_vectors.paths[event.seq] = event.path
        teach(learner, vector, event.label, event.seq, self._journal_vectors)

    def _teach_live(self, events: Sequence[tuple[np.ndarray, Event]]) -> bool:
        """Teach events to the live learner; False (model flagged for a rebuild) if it could not."""
        try:
            for vector, event in events:
                self._teach(self.learner, vector, event)
        except LearnerError:
            self.needs_rebuild = True
            self.history.forget_spare()
            self._incremental = None
            return False
        return True

    # -- rebuilding -------------------------------------------------------------------------
    @property
    def ready_to_rebuild(self) -> bool:
        """A rebuild is due and every labelled image it needs has its features."""
        return self.needs_rebuild and not self._pending

    def plan_rebuild(self) -> RebuildPlan:
        """Everything a replay of the journal needs, copied (run it on any thread).

        After a large bulk action on an exact model the plan only learns the new events on a
        copy of the current learner; otherwise it replays the whole journal.
        """
        head = self._journal_head()
        known = None
        base, events = None, None
        if self._incremental is not None and self._incremental[0] == head:
            _head, copy, items = self._incremental
            memory = self.learner.memory.keys  # the copy's memory: the live model's
            try:  # its replays refer to earlier events: their vectors travel along
                known = KeyedVectors(memory, self._journal_vectors(memory).copy())
                base = copy
                events = [(q, p, self._label_of[p]) for q, p in items if p in self._label_of]
            except LearnerError:
                known = None
        if events is None:
            events = self.labels.training_events()
        self._journal_vectors.paths.update((q, p) for q, p, _label in events)
        have, rows = self.vectors.rows_with_vectors([p for _q, p, _label in events])
        present = set(have)
        kept = [(q, label) for q, path, label in events if path in present]
        missing = {path for _q, path, _label in events if path not in present}
        vectors = (
            RowsOf(self.vectors.matrix, rows) if len(rows) else np.zeros((0, self.vectors.dim))
        )
        return RebuildPlan(
            self.learner_name,
            self.class_names(),
            [label for _q, label in kept],
            vectors,
            head,
            base,
            missing,
            np.array([q for q, _label in kept], np.int64),
            known,
        )

    def finish_rebuild(self, plan: RebuildPlan, learner: OnlineLearner) -> bool:
        """Swap in the result of ``plan``; False when the journal moved past what it can use.

        Label events committed while the plan ran are learned now, in journal order; a
        structural change (unlabel, class edits, undo...) or another learner means the caller
        must plan again.
        """
        if learner.name != self.learner_name or not self.can_catch_up(plan):
            return False
        missing = set(plan.missing)
        if self._journal_head() != plan.head:
            later = self.labels.journal(since=plan.head)
            learner.set_classes(self.class_names())
            for e in later:
                if e.kind in LABEL_KINDS:
                    vector = self.vectors.get(e.path)
                    if vector is None:
                        missing.add(e.path)
                    else:
                        try:
                            self._teach(learner, vector, e)
                        except LearnerError:
                            return False  # an earlier image lost its features: plan again
        learner.set_classes(self.class_names())
        self.learner = learner
        self.history.forget_spare()
        self._incremental = None
        self._pending = {p for p in missing if p in self._label_of and not self.has_vector(p)}
        # Events of paths whose features came meanwhile are learned by one more replay.
        self.needs_rebuild = bool(missing)
        return True

    def can_catch_up(self, plan: RebuildPlan) -> bool:
        """Whether the result of ``plan`` will still be usable (only labels given since)."""
        if plan.learner_name != self.learner_name:
            return False
        if self._journal_head() == plan.head:
            return True
        later = self.labels.journal(since=plan.head)
        return not any(e.kind not in _CATCH_UP_SAFE or e.undone for e in later)

    def rebuild(
        self,
        progress: Progress | None = None,
        *,
        keep_history: bool = False,
        should_stop: StopCheck | None = None,
    ) -> bool:
        """Replay the journal into a fresh learner here and now (skipping images without
        features); False if stopped.

        ``keep_history`` keeps the undo/redo copies (each is tied to its journal position).
        """
        plan = self.plan_rebuild()
        learner = plan.run(progress, should_stop)
        if learner is None:
            return False
        if not keep_history:
            self.history.clear()
        return self.finish_rebuild(plan, learner)

    def _invalidate_model(self) -> None:
        """The learner no longer matches the journal: replay now, or flag it for the owner."""
        self.needs_rebuild = True
        self.history.forget_spare()
        self._incremental = None
        if not self.defer_rebuilds and self.ready_to_rebuild:
            self.rebuild(keep_history=True)

    # -- undo bookkeeping -------------------------------------------------------------------
    def prepare_undo(self) -> None:
        """Copy the learner now (idle time) so the next action need not copy it first."""
        self.history.prepare(self.learner)

    def _journaled(self, action: Callable[[], Event]) -> Event:
        """Run one undoable journal action; its undo snapshot is kept only if it succeeds.

        A model that is not the replay of the journal is not worth a copy: undo of that
        group replays instead.
        """
        if self._writing:
            raise LabelError("the previous action is still being saved; try again in a moment")
        head = self._journal_head()
        before = None if self.needs_rebuild else self.history.take(self.learner)
        try:
            event = action()
        except Exception:
            self.history.give_back(before)
            raise
        self.history.record(head, before)
        return event

    @staticmethod
    def _group_start(event: Event) -> int:
        """Journal head just before the group an undo/redo row acted on."""
        return min(int(s) for s in (event.target or "").split(",") if s) - 1

    # -- actions --------------------------------------------------------------------------
    def label(self, path: str, label: str, *, pick: str | None = None) -> ActionResult:
        """Give ``path`` the class ``label`` (created if new): commit, then learn."""
        known = set(self.class_names())
        shown = self.predict(path) or None
        event = self._journaled(lambda: self.labels.set_label(path, label, shown, pick=pick))
        self._label_of[path] = event.label
        self._clear_marks([path])
        created = event.label not in known
        if created:
            self._refresh_classes()
        else:
            self._counts = self.labels.counts()
        vector = self.vectors.get(path)
        learned = vector is not None and not self.needs_rebuild
        if learned:
            learned = self._teach_live([(vector, event)])
        elif vector is None:
            # Learned by the replay once its features arrive, so the model keeps journal order.
            self.needs_rebuild = True
            self._pending.add(path)
        return ActionResult(event, learned, {path: event.label}, created)

    def label_many(
        self, paths: Sequence[str], label: str, *, pick: str | None = None
    ) -> ActionResult:
        """Give every image of ``paths`` the class ``label``: one commit, one undo step."""
        return self.label_items([(p, label) for p in paths], pick=pick)

    def label_items(
        self, items: Sequence[tuple[str, str]], *, pick: str | None = None
    ) -> ActionResult:
        """Label many images (each its own class) in one commit and one undo step.

        A path given twice keeps its last class. Small selections are learned at once; a large
        one is learned by a replay (on the owner's thread when rebuilds are deferred), the live
        model staying as it was meanwhile. See :meth:`begin_items` to write on another thread.
        """
        job = self.begin_items(items, pick=pick)
        try:
            events = job.write(self.labels)
        except BaseException:
            self.abort_write(job)
            raise
        return self.finish_items(job, events)

    def begin_items(
        self, items: Sequence[tuple[str, str]], *, pick: str | None = None
    ) -> PendingWrite:
        """Prepare a bulk label action whose journal write may run on another thread.

        Run ``job.write(store)`` with a :class:`LabelStore` of this project opened on that
        thread (a large transaction then never stalls the owner), then :meth:`finish_items`
        (or :meth:`abort_write`) here. Until then no other action may run and the model
        snapshot is not saved.
        """
        if self._writing:
            raise LabelError("the previous action is still being saved; try again in a moment")
        items = list(dict(items).items())
        if not items:
            raise LabelError("no images to label")
        paths = [p for p, _ in items]
        shown = self._predictions_for(paths)
        exact = not self.needs_rebuild
        job = PendingWrite(
            write=lambda store: store.set_labels(items, shown, pick=pick),
            head=self._journal_head(),
            before=self.history.take(self.learner) if exact else None,
            known=frozenset(self.class_names()),
            paths=paths,
        )
        self._writing = True
        return job

    def write_here(self, job: PendingWrite) -> object:
        """Run ``job``'s journal write with the session's own store (this thread)."""
        return job.write(self.labels)

    def abort_write(self, job: PendingWrite) -> None:
        """The write of ``job`` failed: nothing changed; the session takes actions again."""
        self._writing = False
        self.history.give_back(job.before)

    def finish_items(self, job: PendingWrite, events: list[Event]) -> ActionResult:
        """Apply to the session what ``job.write`` committed (see :meth:`begin_items`)."""
        self._writing = False
        self.history.record(job.head, job.before)
        paths, exact, head = job.paths, job.before is not None, job.head
        for event in events:
            self._label_of[event.path] = event.label
        self._clear_marks(paths)
        created = any(e.label not in job.known for e in events)
        self._refresh_classes()
        have, rows = self.vectors.rows_with_vectors(paths)
        learned = exact and len(have) == len(paths) and len(paths) <= SYNC_BULK
        if learned:
            learned = self._teach_live(
                [(self.vectors.matrix[row], e) for row, e in zip(rows, events, strict=True)]
            )
        if not learned:
            with_vectors = set(have)
            self._pending.update(p for p in paths if p not in with_vectors)
            if exact and not self._pending and not self.needs_rebuild:
                base = self.history.latest_undo(head)
                if base is not None:
                    items = [(e.seq, e.path) for e in events]
                    self._incremental = (self._journal_head(), base, items)
            self.needs_rebuild = True
            if not self.defer_rebuilds and self.ready_to_rebuild:
                self.rebuild(keep_history=True)
        return ActionResult(events[-1], learned, {e.path: e.label for e in events}, created)

    def _predictions_for(self, paths: Sequence[str]) -> Mapping[str, dict[str, float]]:
        """What the model shows for each image (vectorised; absent for those it cannot score).

        Scored when first read: by the journal write, on its own thread for a bulk action. No
        action can teach this learner before that write ends, and a replay swapped in
        meanwhile replaces it rather than changing it, so the scores are those shown now.
        """
        have, rows = self.vectors.rows_with_vectors(paths)
        if not have or not self.can_predict():
            return {}
        learner, source = self.learner, RowsOf(self.vectors.matrix, rows)
        return ScoredRows(list(learner.classes), have, lambda: learner.score_many(source.gather()))

    def top_predictions(self, paths: Sequence[str]) -> dict[str, str]:
        """The class the model predicts for each image that has a vector (vectorised)."""
        have, rows = self.vectors.rows_with_vectors(paths)
        if not have or not self.can_predict():
            return {}
        probs = self.learner.score_many(self.vectors.matrix[rows])
        names = self.learner.classes
        return {p: names[int(i)] for p, i in zip(have, probs.argmax(axis=1), strict=True)}

    def _clear_marks(self, paths: Sequence[str]) -> None:
        for marked in self._marks.values():
            marked.difference_update(paths)

    def add_class(self, name: str) -> ActionResult:
        event = self._journaled(lambda: self.labels.add_class(name))
        self._refresh_classes()
        return ActionResult(event, classes_changed=True)

    def _structural(self, action: Callable[[], Event], *, relabelled_all: bool) -> Event:
        """Rename, merge, delete, unlabel: commit, then rebuild by replay."""
        event = self._journaled(action)
        self._refresh_classes()
        if relabelled_all:
            self._reload_labels()
        self._invalidate_model()
        return event

    def unlabel(self, path: str) -> ActionResult:
        shown = self.predict(path) or None
        event = self._structural(
            lambda: self.labels.remove_label(path, shown), relabelled_all=False
        )
        self._label_of.pop(path, None)
        return ActionResult(event, changed={path: None})

    def mark_unsure(self, path: str) -> ActionResult:
        """Mark ``path`` unsure (F5): not learned, skipped by Next; a label it had is removed."""
        had = path in self._label_of
        shown = self.predict(path) or None
        if had:
            event = self._structural(
                lambda: self.labels.mark(path, "unsure", shown), relabelled_all=False
            )
            self._label_of.pop(path, None)
        else:
            event = self._journaled(lambda: self.labels.mark(path, "unsure"))
        self._marks["unsure"].add(path)
        return ActionResult(event, changed={path: None} if had else {})

    def mark_reviewed(self, path: str) -> ActionResult:
        """Keep a suspect label: the image is marked reviewed (no longer listed as suspect)."""
        event = self._journaled(lambda: self.labels.mark(path, "reviewed"))
        self._marks["reviewed"].add(path)
        return ActionResult(event)

    def unmark(self, path: str, mark: str) -> ActionResult:
        event = self._journaled(lambda: self.labels.unmark(path, mark))
        self._marks[mark].discard(path)
        return ActionResult(event)

    def rename_class(self, old: str, new: str) -> ActionResult:
        event = self._structural(lambda: self.labels.rename_class(old, new), relabelled_all=True)
        return ActionResult(event, classes_changed=True, relabelled_all=True)

    def merge_classes(self, source: str, target: str) -> ActionResult:
        event = self._structural(
            lambda: self.labels.merge_classes(source, target), relabelled_all=True
        )
        return ActionResult(event, classes_changed=True, relabelled_all=True)

    def delete_class(self, name: str) -> ActionResult:
        event = self._structural(lambda: self.labels.delete_class(name), relabelled_all=True)
        return ActionResult(event, classes_changed=True, relabelled_all=True)

    def recolor_class(self, name: str, color: str) -> ActionResult:
        event = self._journaled(lambda: self.labels.recolor_class(name, color))
        self._refresh_classes()
        return ActionResult(event, classes_changed=True)

    def undo(self) -> ActionResult:
        """Undo the last action; the learner returns exactly to its state before it."""
        return self._history(undo=True)

    def redo(self) -> ActionResult:
        """Redo the last undone action, restoring the learner it produced."""
        return self._history(undo=False)

    def _history(self, undo: bool) -> ActionResult:
        job = self.begin_history(undo)
        try:
            written = job.write(self.labels)
        except BaseException:
            self.abort_write(job)
            raise
        return self.finish_history(job, written)

    def history_size(self, undo: bool) -> int:
        """Journal rows the next undo (redo) flips: large ones are written off-thread."""
        return self.labels.history_group_size(undo)

    def begin_history(self, undo: bool) -> PendingWrite:
        """Prepare an undo/redo whose journal write may run on another thread (as items)."""
        if self._writing:
            raise LabelError("the previous action is still being saved; try again in a moment")
        exact = not self.needs_rebuild
        job = PendingWrite(
            write=lambda store: HistoryWrite.run(store, undo),
            head=self._journal_head(),
            before=self.history.take(self.learner) if exact else None,
            undo=undo,
        )
        self._writing = True
        return job

    def finish_history(self, job: PendingWrite, written: HistoryWrite) -> ActionResult:
        """Apply an undo/redo ``job.write`` committed: labels, classes, and the exact model."""
        self._writing = False
        event, rows, changed = written.event, written.rows, written.changed
        start = self._group_start(event)
        restored = self.history.flip(job.undo, start, job.before)
        relabelled_all = any(r.kind in _CLASS_EDITS for r in rows)
        if relabelled_all:
            self._reload_labels()
        else:
            for path, label in changed.items():
                if label is None:
                    self._label_of.pop(path, None)
                else:
                    self._label_of[path] = label
        self._refresh_classes()
        self._refresh_marks()
        self._incremental = None
        if restored is not None:  # the learner as it was at that journal position
            self.learner = restored
            self.learner.set_classes(self.class_names())
            self.needs_rebuild = False  # copies are only kept of models equal to the replay
            self._pending.clear()
        else:  # out of step (or none kept): never trust it
            self._invalidate_model()
        return ActionResult(
            event, changed=changed, classes_changed=True, relabelled_all=relabelled_all
        )

    def most_similar_labelled(self, path: str, label: str) -> tuple[str, float] | None:
        """The image labelled ``label`` most like ``path`` (cosine of features), and how much.

        For the side-by-side preview: "is this really a <label>?". None without candidates.
        """
        query = self.vectors.get(path)
        if query is None:
            return None
        candidates = [p for p, lab in self._label_of.items() if lab == label and p != path]
        have, rows = self.vectors.rows_with_vectors(candidates)
        if not have:
            return None
        candidates_m = self.vectors.matrix[rows]
        norms = np.linalg.norm(candidates_m, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
        sims = (candidates_m @ query) / np.maximum(norms, 1e-12)
        best = int(np.argmax(sims))
        return have[best], float(sims[best])

    def close(self) -> None:
        """Save the model snapshot and close the label store (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.save_snapshot()
        finally:
            self.labels.close()


def open_project_session(
    root: Path, project_dir: Path | None = None, defaults: ProjectSettings | None = None
) -> LabelingSession:
    """Open (or create) the project of ``root`` and its labeling session."""
    return LabelingSession(Project(root, project_dir), defaults)


class ScoredRows(Mapping[str, dict[str, float]]):
    """``path -> {class: probability}``, scored on first read, one dictionary built per read."""

    def __init__(
        self, classes: list[str], paths: Sequence[str], score: Callable[[], np.ndarray]
    ) -> None:
        self._classes = classes
        self._row = {p: i for i, p in enumerate(paths)}
        self._score = score
        self._probs: np.ndarray | None = None
        self._lock = threading.Lock()

    def __getitem__(self, path: str) -> dict[str, float]:
        row = self._row[path]
        with self._lock:
            if self._probs is None:
                self._probs = self._score()
        return dict(zip(self._classes, self._probs[row].tolist(), strict=True))

    def __iter__(self) -> Iterator[str]:
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)
