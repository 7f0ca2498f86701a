"""Plain view-state dataclasses the controller sends to the widgets (no Qt import).

Widgets may import this module; it never imports PySide6, and from ``gui_app.core`` only the
Qt-free result types of the insight computation (F13), re-exported here for the widgets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gui_app.core.insight_types import (  # noqa: F401  (re-exported for the widgets)
    WILSON_Z,
    AccuracySeries,
    InsightView,
    PaceSession,
    ScoredLabels,
)


@dataclass(frozen=True)
class BarItem:
    """One class in the probability bars: name, probability in [0, 1], colour, shortcut."""

    name: str
    probability: float
    color: str
    shortcut: int | None = None


@dataclass(frozen=True)
class ClassRow:
    """One class in the label panel."""

    name: str
    color: str  # '#rrggbb'
    count: int  # images labelled with it
    shortcut: int | None  # 1..9, None beyond nine


@dataclass(frozen=True)
class CurrentImage:
    """The image under the cursor."""

    row: int  # row in controller.model (the filtered/sorted view), -1 if none
    path: str  # relative path
    name: str  # file name
    label: str | None  # the user's label
    reason: str | None  # unreadable reason, else None
    position: str  # '12 / 400'
    pick: str = ""  # why Next showed it ('uncertain: 51 % cat / 49 % dog'), '' if chosen by hand


@dataclass(frozen=True)
class GridFilter:
    """Which images the grid shows.

    ``kind`` is one of 'all', 'unlabeled', 'labeled', 'class' (``value``: class name),
    'prediction' (``value``: class name), 'unreadable', 'unsure', or 'rows': an explicit list
    of image numbers in display order (``rows``; neighbours, suspects, a confusion cell...)
    named by ``title``.
    """

    kind: str
    value: str | None = None
    rows: tuple[int, ...] = ()
    title: str = ""


@dataclass(frozen=True)
class FilterOption:
    """One entry of the grid's filter chooser."""

    grid_filter: GridFilter
    text: str


@dataclass(frozen=True)
class StatusInfo:
    """Everything the status bar shows."""

    device: str  # 'CPU · LiteRT (XNNPACK)' / 'GPU: NVIDIA … · TensorFlow' / 'starting…'
    images: int
    labeled: int
    unreadable: int
    classes: int
    extracted: int  # features available
    total: int  # images
    rate: float  # images/s (0 when idle)
    eta: float | None  # seconds
    state: str  # 'idle' | 'scanning' | 'loading model' | 'extracting' | 'paused' | 'done' | ...
    accuracy_recent: float | None  # accuracy of the last 50 suggestions (predict-then-learn)
    accuracy_n: int  # how many of those (<= 50)
    backbone: str  # human label of the backbone
    model: str = ""  # '' when current, else what the model is doing ('updating 40 %')
    audit_accuracy: float | None = None  # accuracy on Next's audits (an unbiased sample)
    audit_n: int = 0


ETA_UNITS = ("{h} h {m:02d} min", "{m} min {s:02d} s", "{s} s")


def format_eta(seconds: float | None, units: tuple[str, str, str] = ETA_UNITS) -> str:
    """Remaining time as ``'1 h 02 min'``, ``'3 min 05 s'`` or ``'12 s'``.

    Parameters
    ----------
    seconds : float or None
        Seconds left; None, NaN, infinite or negative values give ``'–'``.
    units : tuple of str
        The three templates (hours, minutes, seconds; fields ``h``, ``m``, ``s``), e.g.
        translated ones.
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return units[0].format(h=hours, m=minutes)
    if minutes:
        return units[1].format(m=minutes, s=secs)
    return units[2].format(s=secs)


def format_rate(rate: float | None, template: str = "{rate} img/s") -> str:
    """Throughput as ``'37 img/s'`` (one decimal below 10, ``''`` when idle or unknown).

    ``template`` (e.g. a translated one) has the field ``rate``.
    """
    if rate is None or not math.isfinite(rate) or rate <= 0:
        return ""
    return template.format(rate=f"{rate:.1f}" if rate < 10 else str(round(rate)))


def format_count(n: int) -> str:
    """``'12 345'``: thousands grouped with a narrow no-break space (locale-neutral)."""
    return f"{n:,}".replace(",", "\u202f")


# -- bulk review (F11, F12): threshold bar, suspects bar, split dialog ----------------------

THRESHOLD_STEPS = 100  # the threshold slider moves in steps of 1 / THRESHOLD_STEPS


@dataclass(frozen=True)
class ThresholdView:
    """The "Accept above a threshold" bar.

    ``counts[i]`` is how many unlabelled images the model gives ``label`` a probability of at
    least ``i / THRESHOLD_STEPS`` (``THRESHOLD_STEPS + 1`` entries), so the bar shows the live
    count while the slider moves without asking the controller.
    """

    classes: tuple[str, ...]  # classes the model predicts, in display order
    label: str | None  # the class being accepted (None: no class learned yet)
    threshold: float  # in [0, 1]
    counts: tuple[int, ...]
    busy: bool = False  # the ranking is being computed

    def count_at(self, threshold: float) -> int:
        """The live count for ``threshold`` (0 when no counts are known)."""
        if not self.counts:
            return 0
        step = min(len(self.counts) - 1, max(0, math.ceil(threshold * THRESHOLD_STEPS - 1e-9)))
        return self.counts[step]


@dataclass(frozen=True)
class SuspectView:
    """The suspect under review in the Suspects filter (``total`` 0: none left)."""

    position: int  # 1-based position of the current suspect in the list, 0 when none
    total: int
    name: str  # file name of the current image
    label: str  # its label
    reason: str  # "labelled Forest; the model said River 0.94 before and after"
    checking: bool = False  # a cross-validated re-check runs in the background


@dataclass(frozen=True)
class SplitView:
    """What the split-class dialog offers: examples chosen and the ranked rest of the class."""

    source: str  # the class being split
    examples: int  # images the user chose for the new class
    candidates: int  # the rest of the source class, ranked by similarity to the examples
    suggested: int  # how many of the top candidates Loupe suggests moving too
    existing: tuple[str, ...]  # class names already taken (a new name must differ)
