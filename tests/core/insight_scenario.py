"""A labelling sequence with known outcomes, shared by the insight tests (no Qt).

Times are set by a fake clock. Suggestions (top of the distribution shown before learning):

====  =====  ====  =========  ========================  ==================================
 t    path   kind  label      suggested                 scored as
====  =====  ====  =========  ========================  ==================================
   0  a      label cat        (no prediction)           not scored
  10  b      label dog        (no prediction)           not scored
  20  c      label cat        cat                       #1 correct
  30  d      label dog        cat                       #2 wrong
  40  e      label dog        dog                       #3 correct
  50  f      label cat        cat (audit-random)        #4 audit, correct
  60  g      label cat        dog (audit-confident)     #5 audit, wrong
  70  c      confirm cat      cat                       not scored (already learned)
  80  h      label bird       cat (tie cat/dog)         #6 wrong
  90  i, j   bulk dog         dog (threshold)           not scored, 2 bulk labels
1290  k      label dog        dog                       #7 correct (new session: 20 min gap)
1300  l      label bird       bird                      #8 correct
====  =====  ====  =========  ========================  ==================================
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import gui_app.core.labels as labels_module
from gui_app.core.labels import LabelStore

WINDOW = 3
OVERALL_X = [1, 2, 3, 6, 7, 8]
OVERALL_CUMULATIVE = [1, 1 / 2, 2 / 3, 2 / 4, 3 / 5, 4 / 6]
OVERALL_WINDOW = [1, 1 / 2, 2 / 3, 1 / 3, 2 / 3, 2 / 3]  # last 3 of 1 0 1 0 1 1
AUDIT_X, AUDIT_CUMULATIVE = [4, 5], [1, 1 / 2]
CLASS_X = {"cat": [1], "dog": [2, 3, 7], "bird": [6, 8]}
CLASS_CUMULATIVE = {"cat": [1], "dog": [0, 1 / 2, 2 / 3], "bird": [0, 1 / 2]}
CONFUSION = [[2, 1, 0], [1, 2, 0], [1, 0, 1]]  # rows label cat dog bird, columns suggested
LABELLED = [4, 6, 2]  # cat: a c f g; dog: b d e i j k; bird: h l
#: (start, end, labels, bulk, labels per hour, seconds per label)
SESSIONS = [(0.0, 90.0, 9, 2, 360.0, 10.0), (1290.0, 1300.0, 2, 0, 720.0, 10.0)]


class Clock:
    """The time the label store writes into its journal rows."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now


def install_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Make the label store read the time from a `Clock` (for a ``clock`` fixture)."""
    fake = Clock()
    monkeypatch.setattr(labels_module, "time", SimpleNamespace(time=fake.time))
    return fake


def pred(**probabilities: float) -> dict[str, float]:
    return dict(probabilities)


def label(store: LabelStore, clock: Clock, t: float, path: str, name: str, shown=None, pick=None):
    clock.now = t
    return store.set_label(path, name, shown, pick=pick)


def build_scenario(store: LabelStore, clock: Clock) -> None:
    """The sequence of the module docstring."""
    label(store, clock, 0, "a", "cat")
    label(store, clock, 10, "b", "dog")
    label(store, clock, 20, "c", "cat", pred(cat=0.7, dog=0.3), "uncertain")
    label(store, clock, 30, "d", "dog", pred(cat=0.6, dog=0.4), "uncertain")
    label(store, clock, 40, "e", "dog", pred(cat=0.2, dog=0.8))
    label(store, clock, 50, "f", "cat", pred(cat=0.9, dog=0.1), "audit-random")
    label(store, clock, 60, "g", "cat", pred(cat=0.4, dog=0.6), "audit-confident")
    label(store, clock, 70, "c", "cat", pred(cat=0.9, dog=0.1))
    label(store, clock, 80, "h", "bird", pred(cat=0.5, dog=0.5), "typical")
    clock.now = 90
    shown = {"i": pred(cat=0.1, dog=0.9), "j": pred(cat=0.2, dog=0.8)}
    store.set_labels([("i", "dog"), ("j", "dog")], shown, pick="threshold")
    label(store, clock, 1290, "k", "dog", pred(cat=0.3, dog=0.6, bird=0.1))
    label(store, clock, 1300, "l", "bird", pred(cat=0.1, dog=0.2, bird=0.7), "uncertain")


def scenario_store(tmp_path: Path, clock: Clock) -> LabelStore:
    store = LabelStore(tmp_path / "project" / ".loupe" / "labels.sqlite")
    build_scenario(store, clock)
    return store
