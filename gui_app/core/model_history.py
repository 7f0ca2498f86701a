"""Exact copies of the learner for undo and redo, each tied to a journal position.

Copies are pickles (about ten times smaller than live learners). An undo restores the copy
taken just before the journal group it flips, so the model returns exactly to what it was;
when no copy matches (after a restart, or past the kept depth) the session replays instead.
"""

from __future__ import annotations

import pickle

from gui_app.core.learner import OnlineLearner

UNDO_SNAPSHOTS = 64


def pickled(learner: OnlineLearner) -> bytes:
    """The learner as bytes, restorable with :func:`pickle.loads`."""
    return pickle.dumps(learner, protocol=pickle.HIGHEST_PROTOCOL)


class ModelHistory:
    """Undo and redo stacks of ``(journal head before the group, pickled learner)``.

    A *spare* copy of the current learner can be taken in idle time
    (:meth:`prepare`) so that the next action need not copy before it runs.
    """

    def __init__(self, depth: int = UNDO_SNAPSHOTS) -> None:
        self.depth = depth
        self._spare: bytes | None = None
        self._undo: list[tuple[int, bytes]] = []
        self._redo: list[tuple[int, bytes]] = []

    def prepare(self, learner: OnlineLearner) -> None:
        """Copy ``learner`` now unless a copy of it is already waiting."""
        if self._spare is None:
            self._spare = pickled(learner)

    def take(self, learner: OnlineLearner) -> bytes:
        """The copy of ``learner`` before an action: the spare, or a fresh one."""
        spare, self._spare = self._spare, None
        return spare if spare is not None else pickled(learner)

    def give_back(self, before: bytes | None) -> None:
        """An action failed: the copy taken for it is still the current learner."""
        if before is not None and self._spare is None:
            self._spare = before

    def forget_spare(self) -> None:
        """The learner changed: a waiting copy no longer matches it."""
        self._spare = None

    def record(self, head: int, before: bytes | None) -> None:
        """A new action succeeded: keep its before-copy (if any) and drop the redo stack."""
        if before is not None:
            self._undo.append((head, before))
            del self._undo[: -self.depth]
        self._redo.clear()

    def latest_undo(self, head: int) -> bytes | None:
        """The newest undo copy if it was taken at journal position ``head``."""
        if self._undo and self._undo[-1][0] == head:
            return self._undo[-1][1]
        return None

    def flip(self, undo: bool, start: int, before: bytes | None) -> OnlineLearner | None:
        """Undo (or redo) the group that began after journal position ``start``.

        ``before`` (the learner before the flip) goes onto the opposite stack; the learner
        as it was at ``start`` is returned, or None when no copy matches (replay instead).
        """
        source, target = (self._undo, self._redo) if undo else (self._redo, self._undo)
        if before is not None:
            target.append((start, before))
        if source and source[-1][0] == start:
            self._spare = None
            return pickle.loads(source.pop()[1])
        return None

    def clear(self) -> None:
        """Forget every copy (the model was rebuilt from scratch; only the journal is left)."""
        self._undo.clear()
        self._redo.clear()
