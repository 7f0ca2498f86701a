"""Suspect labels (F12): labelled images whose out-of-sample probability for their label is low.

Two pieces of evidence, both out-of-sample:

* **before**: the distribution the model showed just before it learned the label, journaled
  with every label event (:class:`JournalPriors` reads it, following later renames, merges and
  deletions of classes as :meth:`LabelStore.training_events` does). Only used when the model
  had not learned that image before (a relabel or confirm is predicted in-sample) and already
  knew the class from at least :data:`MIN_CLASS_EXAMPLES` images.
* **after**: the latest cross-validated re-check on the current labels
  (:func:`gui_app.core.recheck.cross_check`, run in the background).

:func:`find_suspects` combines them into a suspicion score (1 - a weighted mean of the two
probabilities of the label; either one alone where the other is missing, e.g. images labelled
since the last re-check) and a reason, and leaves out images marked reviewed (a new label
clears that mark).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from gui_app.core.label_schema import LABEL_KINDS, Event
from gui_app.core.recheck import MIN_PER_CLASS, Recheck

MIN_CLASS_EXAMPLES = MIN_PER_CLASS  # the model knew the class from this many images
#: Weight of the journaled prediction where a re-check covers the image too (the re-check is
#: the stronger evidence). Measured with benchmarks/bench_suspects.py on eurosat-mini: with the
#: numpy default learner of issue 11, 0.1-0.3 raised precision@K by 0.004-0.006 over 0 (1,000
#: and 1,500 images); with river's learner any weight above 0 lowered it (0.861 -> 0.827).
JOURNAL_WEIGHT = 0.2
MAX_OWN = 0.5  # listed when the label gets at most this probability


@dataclass(frozen=True)
class Prior:
    """What the model showed for an image before learning its current label (journal)."""

    label: str  # today's name of the label given
    probabilities: dict[str, float]  # today's class names
    seq: int  # the journal row


class JournalPriors:
    """Journaled pre-learn predictions of the labelled images, read incrementally.

    Feed journal rows in ``seq`` order (:meth:`refresh` reads them from a session or store);
    an undo or redo starts over from the whole journal, as it changes earlier rows.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.seq = 0
        self._token_of: dict[str, int] = {}  # current class name -> token
        self._parent: list[int] = []  # union-find over tokens (merges)
        self._name: dict[int, str] = {}  # root token -> current name
        self._dead: set[int] = set()  # root tokens of deleted classes
        self._count: dict[int, int] = {}  # root token -> images learned in the model
        self._in_model: dict[str, int] = {}  # path -> token of the label the model learned
        self._evidence: dict[str, tuple[int, dict[int, float], int]] = {}

    # -- tokens -----------------------------------------------------------------------------
    def _root(self, token: int) -> int:
        while self._parent[token] != token:
            self._parent[token] = self._parent[self._parent[token]]
            token = self._parent[token]
        return token

    def _token(self, name: str) -> int:
        token = self._token_of.get(name)
        if token is None:
            token = len(self._parent)
            self._parent.append(token)
            self._token_of[name] = token
            self._name[token] = name
            self._count[token] = 0
        return token

    def _forget(self, path: str) -> None:
        token = self._in_model.pop(path, None)
        if token is not None:
            self._count[self._root(token)] -= 1
        self._evidence.pop(path, None)

    # -- reading the journal --------------------------------------------------------------
    def refresh(self, read: Callable[[int], Iterable[Event]]) -> None:
        """Read the rows after :attr:`seq` with ``read(since)``.

        ``read`` is ``session.journal`` on the GUI thread, or, on a worker,
        ``lambda since: iter_journal(labels_path, since)`` (:mod:`gui_app.core.journal_reader`).
        O(new rows); after an undo or redo, O(journal): run it off the GUI thread then.
        """
        rows = list(read(self.seq))
        if self.seq and any(e.kind in ("undo", "redo") for e in rows):
            self._reset()
            rows = read(0)
        self.feed(rows)

    def feed(self, events: Iterable[Event]) -> None:
        """Apply journal rows in ``seq`` order (rows at or before :attr:`seq` are skipped).

        Raises
        ------
        ValueError
            An undo or redo row after the first feed: it changed earlier rows, so the whole
            journal must be read again (a fresh instance, or :meth:`refresh`).
        """
        start = self.seq
        for event in events:
            if event.seq <= self.seq:
                continue
            if event.kind in ("undo", "redo"):
                if start:
                    raise ValueError("an undo or redo changed earlier journal rows: read it all")
            elif not event.undone:
                self._apply(event)
            self.seq = event.seq

    def _apply(self, e: Event) -> None:
        if e.kind == "add_class" and e.label is not None:
            self._token(e.label)
        elif e.kind in LABEL_KINDS and e.path and e.label is not None:
            self._label_event(e)
        elif e.kind == "unlabel" and e.path:
            self._forget(e.path)
        elif e.kind == "rename_class" and e.label in self._token_of and e.target:
            token = self._token_of.pop(e.label)
            self._token_of[e.target] = token
            self._name[self._root(token)] = e.target
        elif e.kind == "merge_classes" and e.label in self._token_of and e.target:
            source = self._root(self._token_of.pop(e.label))
            target = self._root(self._token(e.target))
            if source != target:
                self._parent[source] = target
                self._count[target] += self._count.pop(source, 0)
        elif e.kind == "delete_class" and e.label in self._token_of:
            root = self._root(self._token_of.pop(e.label))
            for path in (e.data or {}).get("paths", ()):
                self._forget(path)
            self._dead.add(root)

    def _label_event(self, e: Event) -> None:
        path, token = e.path, self._token(e.label)
        root = self._root(token)
        learned_before = path in self._in_model
        usable = (
            not learned_before
            and e.prediction is not None
            and self._count[root] >= MIN_CLASS_EXAMPLES
        )
        kept = self._evidence.get(path)
        self._forget(path)
        self._in_model[path] = token
        self._count[root] += 1
        if usable:
            probs = {self._token(k): float(v) for k, v in e.prediction.items()}
            self._evidence[path] = (token, probs, e.seq)
        elif kept is not None and self._root(kept[0]) == root:  # a confirm keeps its evidence
            self._evidence[path] = kept

    def priors(self) -> dict[str, Prior]:
        """``{path: Prior}`` of the labelled images that have usable evidence."""
        out: dict[str, Prior] = {}
        for path, (token, probs, seq) in self._evidence.items():
            root = self._root(token)
            if root in self._dead:
                continue
            mapped: dict[str, float] = {}
            for t, p in probs.items():
                r = self._root(t)
                if r not in self._dead:
                    name = self._name[r]
                    mapped[name] = mapped.get(name, 0.0) + p
            total = sum(mapped.values())
            if total > 0 and abs(total - 1.0) > 1e-9:  # a deleted class's share is gone
                mapped = {k: v / total for k, v in mapped.items()}
            out[path] = Prior(self._name[root], mapped, seq)
        return out


def journal_priors(events: Iterable[Event]) -> dict[str, Prior]:
    """:meth:`JournalPriors.priors` of a whole journal (``LabelStore.journal()``)."""
    state = JournalPriors()
    state.feed(events)
    return state.priors()


@dataclass(frozen=True)
class Suspect:
    """A labelled image whose label the model doubts.

    ``score`` is 1 - the combined out-of-sample probability of its label (higher: more
    suspicious); ``before``/``after`` are the model's top class and its probability from the
    journal and from the re-check (None where that evidence is missing).
    """

    path: str
    label: str
    score: float
    before: tuple[str, float] | None
    after: tuple[str, float] | None
    own_before: float | None
    own_after: float | None
    reason: str


def _top(probs: Mapping[str, float]) -> tuple[str, float]:
    name = max(probs, key=lambda c: (probs[c], c))
    return name, float(probs[name])


def suspect_reason(
    label: str,
    before: tuple[str, float] | None,
    after: tuple[str, float] | None,
    own_before: float | None = None,
    own_after: float | None = None,
) -> str:
    """``'labelled Forest; the model said River 0.94 before and after'`` and its variants.

    "before": when the label was given (journal); "after": the latest re-check.
    """

    def said(top: tuple[str, float], own: float | None) -> str:
        name, p = top
        if name == label:  # the label is the top class, just not a convincing one
            return f"{name} only {p:.2f}"
        return f"{name} {p:.2f}"

    if before and after:
        b, a = said(before, own_before), said(after, own_after)
        if b == a:
            text = f"{b} before and after"
        elif before[0] == after[0]:
            text = f"{b} before, {after[1]:.2f} after"
        else:
            text = f"{b} before, {a} after"
    elif before:
        text = f"{said(before, own_before)} before learning it"
    elif after:
        text = f"{said(after, own_after)} in a cross-check"
    else:
        return f"labelled {label}"
    return f"labelled {label}; the model said {text}"


def find_suspects(
    labels: Mapping[str, str],
    priors: Mapping[str, Prior],
    recheck: Recheck | None = None,
    reviewed: Collection[str] = (),
    *,
    max_own: float = MAX_OWN,
    journal_weight: float = JOURNAL_WEIGHT,
) -> list[Suspect]:
    """Labelled images sorted by suspicion, most suspicious first.

    Parameters
    ----------
    labels
        Current ``{path: label}`` (:meth:`LabelingSession.labels_by_path`).
    priors
        :meth:`JournalPriors.priors`; one whose label is no longer the image's is ignored.
    recheck
        The latest :func:`~gui_app.core.recheck.cross_check`, or None; its probability of the
        current label is used even if the label changed since (it is still out-of-sample).
    reviewed
        Images the user kept (marked reviewed): never listed.
    max_own
        Listed when the combined probability of the label is at most this (1.0: rank all).
    journal_weight
        Weight of the journaled prediction where the re-check covers the image too.

    Returns
    -------
    list of Suspect
        Sorted by decreasing ``score``, ties by path. O(labelled images).
    """
    rows: dict[str, int] = {}
    columns: dict[str, int] = {}
    if recheck is not None and len(recheck.paths):
        rows, columns = recheck.index(), {c: i for i, c in enumerate(recheck.classes)}
        probs = recheck.probabilities
        judged = np.isfinite(probs).all(axis=1)
        top = np.where(judged[:, None], probs, -1.0).argmax(axis=1)
        top_p = probs[np.arange(len(probs)), top]
    skip = set(reviewed)
    out: list[Suspect] = []
    for path, label in labels.items():
        if path in skip:
            continue
        prior = priors.get(path)
        own_before = own_after = None
        if prior is not None and prior.label == label and prior.probabilities:
            own_before = prior.probabilities.get(label, 0.0)
        row = rows.get(path)
        column = columns.get(label)
        if row is not None and column is not None and judged[row]:
            own_after = float(probs[row, column])
        if own_before is None and own_after is None:
            continue
        if own_after is None:
            own = own_before
        elif own_before is None:
            own = own_after
        else:
            own = journal_weight * own_before + (1.0 - journal_weight) * own_after
        if own > max_own:
            continue
        # Only listed images pay for their reason.
        before = _top(prior.probabilities) if own_before is not None else None
        after = None
        if own_after is not None:
            after = (recheck.classes[int(top[row])], float(top_p[row]))
        reason = suspect_reason(label, before, after, own_before, own_after)
        out.append(Suspect(path, label, 1.0 - own, before, after, own_before, own_after, reason))
    out.sort(key=lambda s: (-s.score, s.path))
    return out
