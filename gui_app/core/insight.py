"""Insight (F13): progressive accuracy, confusion, class counts and pace, from the journal only.

The journal is the one source: the same rows give the same figures after a reopen, and undo,
redo, rename, merge and delete are followed because each label is read through the journal's
later not-undone class edits (as :meth:`LabelStore.training_events` does) and the ``undone``
flags that ``undo``/``redo`` rows set.

Which labels are scored (predict-then-learn): ``label`` and ``relabel`` rows that carry the
distribution shown before learning, are not undone, whose class still exists, and that were
not given in bulk (picks in :data:`BULK_PICKS`: suggestions accepted wholesale, or a file).
``confirm`` rows are not scored: the model had already learned that image with that label, so
its suggestion was no test. The suggestion is the top class of the distribution shown (the
first one on ties, as :class:`~gui_app.core.learner.ProgressiveAccuracy`), mapped to today's
class name. Labels of images "Next" showed as audits (picks ``audit-*``) are their own stream;
``overall`` and the per-class streams (by the label given) hold the others.

Pace counts every label in force (not undone), whatever became of its class; a pause of more
than ``gap`` seconds between two journal rows starts a new working session.

On the GUI thread use :class:`InsightTracker` (``update`` with the new journal rows, then
``view``); for a whole journal use :func:`build_tracker` / :func:`compute_insight` on any thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from gui_app.core.insight_stats import (
    SCORED_COLUMNS,
    Derived,
    Growing,
    Stream,
    pace_sessions,
    predicted_counts,
    running_accuracy,
    wilson_interval,
)
from gui_app.core.insight_types import InsightView, ScoredLabels
from gui_app.core.label_schema import LABEL_KINDS, ClassInfo, Event

__all__ = [
    "BULK_PICKS",
    "DEFAULT_GAP",
    "DEFAULT_WINDOW",
    "InsightTracker",
    "build_tracker",
    "compute_insight",
    "predicted_counts",
    "wilson_interval",
]

DEFAULT_WINDOW = 50  # labels in the moving window (the status bar's "last 50 suggestions")
DEFAULT_GAP = 15 * 60.0  # seconds without any journal row that end a working session
#: Picks of labels given in bulk: not a judgement of one suggestion, not hand-labelling pace.
BULK_PICKS = frozenset(("threshold", "import", "selection", "split", "similar"))
_CLASS_EDITS = ("rename_class", "merge_classes", "delete_class")
_SCORABLE, _AUDIT, _BULK = 1, 2, 4  # label event flags
_NONE, _DELETED = -2, -1  # codes of a resolved name besides class indices


class InsightTracker:
    """Incremental insight over a journal: feed it new rows, ask it for an `InsightView`.

    Parameters
    ----------
    window
        Labels in the moving-window accuracy.
    gap
        Seconds of inactivity that separate two working sessions.

    Notes
    -----
    ``update`` costs O(new rows). ``view`` extends the previous figures when only rows were
    appended (O(new labels) plus copying the confusion matrix and re-measuring the current
    session); after an undo/redo, a class edit or a new class list it recomputes everything,
    vectorised (O(labels + edits x names)). Not thread-safe: one owner at a time.
    """

    def __init__(self, window: int = DEFAULT_WINDOW, gap: float = DEFAULT_GAP) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self.window = int(window)
        self.gap = float(gap)
        self.last_seq = 0
        self._names: dict[str, int] = {}
        self._row_time = Growing(np.float64)
        # One entry per label-kind row:
        self._seq = Growing(np.int64)
        self._row = Growing(np.int64)
        self._name = Growing(np.int32)
        self._pred = Growing(np.int32)  # -1: no prediction
        self._flags = Growing(np.uint8)
        self._undone = Growing(np.bool_)
        self._paths = Growing(object)
        self._label_at: dict[int, int] = {}
        self._edits: list[list] = []  # [seq, kind, label id, target id, undone]
        self._edit_at: dict[int, int] = {}
        self._stale = True  # something else than appended rows changed
        self._derived: Derived | None = None
        self._version = 0
        self._cache: tuple[tuple, InsightView] | None = None

    # -- ingestion --------------------------------------------------------------------------
    def _intern(self, name: str) -> int:
        found = self._names.get(name)
        if found is None:
            found = self._names[name] = len(self._names)
        return found

    def update(self, events: Iterable[Event]) -> bool:
        """Take journal rows in ``seq`` order (``session.journal(since=tracker.last_seq)``).

        Rows already seen are skipped; returns whether any row was taken. A row keeps the
        ``undone`` flag it was read with; later ``undo``/``redo`` rows set the flags of the rows
        they list.
        """
        taken = False
        for e in events:
            if e.seq <= self.last_seq:
                continue
            self.last_seq = e.seq
            self._row_time.append(e.time)
            if e.kind in LABEL_KINDS:
                self._add_label(e)
            elif e.kind in _CLASS_EDITS:
                self._edit_at[e.seq] = len(self._edits)
                target = None if e.target is None else self._intern(e.target)
                self._edits.append([e.seq, e.kind, self._intern(e.label), target, e.undone])
                self._stale = True
            elif e.kind in ("undo", "redo"):
                self._flip(e.target or "", e.kind == "undo")
            taken = True
        if taken:
            self._version += 1
        return taken

    def _add_label(self, e: Event) -> None:
        pick = str(e.data.get("pick") or "") if isinstance(e.data, dict) else ""
        flags = (_AUDIT if pick.startswith("audit") else 0) | (_BULK if pick in BULK_PICKS else 0)
        pred = -1
        if e.prediction:
            pred = self._intern(max(e.prediction, key=e.prediction.__getitem__))
            if e.kind != "confirm" and not flags & _BULK:
                flags |= _SCORABLE
        self._label_at[e.seq] = self._seq.n
        self._seq.append(e.seq)
        self._row.append(self._row_time.n - 1)
        self._name.append(self._intern(e.label))
        self._pred.append(pred)
        self._flags.append(flags)
        self._undone.append(bool(e.undone))
        self._paths.append(e.path)
        if e.undone:
            self._stale = True

    def _flip(self, seqs: str, undone: bool) -> None:
        for text in seqs.split(","):
            if not text.strip():
                continue
            seq = int(text)
            if (i := self._label_at.get(seq)) is not None:
                self._undone.data[i] = undone
                self._stale = True
            elif (j := self._edit_at.get(seq)) is not None:
                self._edits[j][4] = undone
                self._stale = True

    # -- figures ----------------------------------------------------------------------------
    def view(
        self,
        classes: Sequence[ClassInfo],
        label_counts: Mapping[str, int] | None = None,
        predicted: Mapping[str, int] | None = None,
    ) -> InsightView:
        """The figures for today's ``classes`` (display order), cached until something changes.

        Parameters
        ----------
        classes
            Today's classes (:meth:`LabelingSession.classes`, :meth:`LabelStore.classes`).
        label_counts
            Labelled images per class (:meth:`LabelingSession.counts`); missing ones count 0.
        predicted
            Top-prediction counts over the unlabelled images (:func:`predicted_counts`), or
            None while the model scores nothing.
        """
        names = tuple(c.name for c in classes)
        key = (
            self._version,
            tuple((c.name, c.color) for c in classes),
            None if label_counts is None else tuple(label_counts.get(c, 0) for c in names),
            None if predicted is None else tuple(predicted.get(c, 0) for c in names),
        )
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        d = self._derived
        if self._stale or d is None or d.names != names:
            d = self._derived = self._recompute(names)
            self._stale = False
        else:
            self._extend(d)
        view = self._publish(d, classes, label_counts or {}, predicted)
        self._cache = (key, view)
        return view

    def _class_lookup(self, names: tuple[str, ...]) -> np.ndarray:
        """Today's name id -> class index (-1 gone); slots -1 and -2 map the two codes."""
        lookup = np.full(len(self._names) + 2, _DELETED, np.int32)
        lookup[_NONE] = _NONE
        for i, name in enumerate(names):
            if (k := self._names.get(name)) is not None:
                lookup[k] = i
        return lookup

    def _resolve(self) -> np.ndarray:
        """Today's name id of each label's class and suggestion (-1 deleted, -2 none).

        Newest first, as training_events: a label is read through the edits after it only.
        """
        names, preds, seqs = self._name.view, self._pred.view, self._seq.view
        out = np.empty((len(names), 2), np.int32)
        alias = np.r_[np.arange(len(self._names), dtype=np.int32), _NONE]  # alias[-1]: none
        hi = len(names)
        for seq, kind, label, target, undone in reversed(self._edits):
            if undone:
                continue
            lo = int(np.searchsorted(seqs, seq))
            out[lo:hi, 0], out[lo:hi, 1] = alias[names[lo:hi]], alias[preds[lo:hi]]
            alias[label] = _DELETED if kind == "delete_class" else alias[target]
            hi = lo
        out[:hi, 0], out[:hi, 1] = alias[names[:hi]], alias[preds[:hi]]
        return out

    def _recompute(self, names: tuple[str, ...]) -> Derived:
        d = Derived(names, self.window)
        lookup = self._class_lookup(names)
        resolved = self._resolve()
        true, pred = lookup[resolved[:, 0]], lookup[resolved[:, 1]]
        flags, undone = self._flags.view, self._undone.view
        active = np.flatnonzero((flags & _SCORABLE > 0) & ~undone & (true >= 0))
        t, p = true[active], pred[active]
        audit = flags[active] & _AUDIT > 0
        correct = t == p
        x = np.arange(1, len(active) + 1, dtype=np.int64)
        main = ~audit
        w = self.window
        d.overall = Stream.from_arrays(
            "overall", w, x[main], running_accuracy(correct[main], None, w)
        )
        d.audits = Stream.from_arrays(
            "audits", w, x[audit], running_accuracy(correct[audit], None, w)
        )
        order = np.argsort(t[main], kind="stable")
        group, x_sorted = t[main][order], x[main][order]
        stats = running_accuracy(correct[main][order], group, w)
        cuts = np.searchsorted(group, np.arange(len(names) + 1))
        d.per_class = [
            Stream.from_arrays(name, w, x_sorted[a:b], [s[a:b] for s in stats])
            for name, a, b in zip(names, cuts[:-1], cuts[1:], strict=True)
        ]
        times = self._row_time.view[self._row.view[active]]
        columns = {
            "x": x,
            "seq": self._seq.view[active],
            "time": times,
            "paths": self._paths.view[active],
            "true": t,
            "predicted": p,
            "audit": audit,
        }
        d.scored = {k: Growing(SCORED_COLUMNS[k], v) for k, v in columns.items()}
        valid = p >= 0
        k = len(names)
        d.confusion = np.bincount(t[valid] * k + p[valid], minlength=k * k).reshape(k, k)
        d.deleted = int(np.count_nonzero(p == _DELETED))
        d.labels = self._seq.n
        in_force = np.flatnonzero(~undone)
        d.sessions, d.session_rows = pace_sessions(
            self._row_time.view, self._row.view[in_force], flags[in_force] & _BULK > 0, self.gap
        )
        return d

    def _extend(self, d: Derived) -> None:
        """Take the label events and rows appended since ``d`` was computed (no flips, edits)."""
        lookup = self._class_lookup(d.names)
        confusion = d.confusion.copy()  # published views keep the old matrix
        for i in range(d.labels, self._seq.n):
            flags = int(self._flags.data[i])
            if not flags & _SCORABLE or self._undone.data[i]:
                continue
            t = int(lookup[self._name.data[i]])
            if t < 0:
                continue
            p = int(lookup[self._pred.data[i]])
            x = len(d.scored["x"]) + 1
            audit = bool(flags & _AUDIT)
            row = (
                x,
                self._seq.data[i],
                self._row_time.data[self._row.data[i]],
                self._paths.data[i],
                t,
                p,
                audit,
            )
            for column, value in zip(d.scored.values(), row, strict=True):
                column.append(value)
            if audit:
                d.audits.append(x, t == p)
            else:
                d.overall.append(x, t == p)
                d.per_class[t].append(x, t == p)
            if p >= 0:
                confusion[t, p] += 1
            else:
                d.deleted += 1
        d.confusion = confusion
        # Pace: only the last session and any newer ones can change.
        first = d.session_rows[-1] if d.session_rows else 0
        rows = self._row.view
        labels = np.flatnonzero((rows >= first) & ~self._undone.view)
        bulk = self._flags.view[labels] & _BULK > 0
        tail, starts = pace_sessions(
            self._row_time.view[first:], rows[labels], bulk, self.gap, offset=first
        )
        keep = len(d.sessions) - 1 if d.sessions else 0
        d.sessions = d.sessions[:keep] + tail
        d.session_rows = d.session_rows[:keep] + starts
        d.labels = self._seq.n

    def _publish(
        self,
        d: Derived,
        classes: Sequence[ClassInfo],
        label_counts: Mapping[str, int],
        predicted: Mapping[str, int] | None,
    ) -> InsightView:
        confusion = d.confusion.copy()
        confusion.flags.writeable = False
        labelled = np.array([label_counts.get(c, 0) for c in d.names], np.int64)
        labelled.flags.writeable = False
        counted = None
        if predicted is not None:
            counted = np.array([predicted.get(c, 0) for c in d.names], np.int64)
            counted.flags.writeable = False
        return InsightView(
            classes=d.names,
            colors=tuple(c.color for c in classes),
            window_size=self.window,
            overall=d.overall.series(),
            audits=d.audits.series(),
            per_class=tuple(s.series() for s in d.per_class),
            scored=ScoredLabels(**{k: g.view for k, g in d.scored.items()}),
            confusion=confusion,
            deleted_predictions=d.deleted,
            labelled=labelled,
            predicted=counted,
            sessions=tuple(d.sessions),
            journal_seq=self.last_seq,
        )


def build_tracker(
    events: Iterable[Event], window: int = DEFAULT_WINDOW, gap: float = DEFAULT_GAP
) -> InsightTracker:
    """A tracker fed with a whole journal (pure: run it on any thread, then hand it over)."""
    tracker = InsightTracker(window, gap)
    tracker.update(events)
    return tracker


def compute_insight(
    events: Iterable[Event],
    classes: Sequence[ClassInfo],
    label_counts: Mapping[str, int] | None = None,
    predicted: Mapping[str, int] | None = None,
    *,
    window: int = DEFAULT_WINDOW,
    gap: float = DEFAULT_GAP,
) -> tuple[InsightTracker, InsightView]:
    """The figures of a whole journal and the tracker that keeps them current (any thread).

    Hand the tracker to the GUI thread afterwards and feed it the rows written meanwhile
    (``tracker.update(session.journal(since=tracker.last_seq))``).
    """
    tracker = build_tracker(events, window, gap)
    return tracker, tracker.view(classes, label_counts, predicted)
