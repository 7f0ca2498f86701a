"""Plain view-state dataclasses the controller sends to the widgets (no Qt import).

Widgets may import this module; it never imports ``gui_app.core`` or PySide6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


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
    recent_accuracy: float | None = None  # unused for now


@dataclass(frozen=True)
class CurrentImage:
    """The image under the cursor."""

    row: int  # row in controller.model (the filtered/sorted view), -1 if none
    path: str  # relative path
    name: str  # file name
    label: str | None  # the user's label
    reason: str | None  # unreadable reason, else None
    position: str  # '12 / 400'


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


def format_eta(seconds: float | None) -> str:
    """Remaining time as ``'1 h 02 min'``, ``'3 min 05 s'`` or ``'12 s'``.

    Parameters
    ----------
    seconds : float or None
        Seconds left; None, NaN, infinite or negative values give ``'–'``.
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def format_rate(rate: float | None) -> str:
    """Throughput as ``'37 img/s'`` (one decimal below 10, ``''`` when idle or unknown)."""
    if rate is None or not math.isfinite(rate) or rate <= 0:
        return ""
    if rate < 10:
        return f"{rate:.1f} img/s"
    return f"{round(rate)} img/s"


def format_count(n: int) -> str:
    """``'12 345'``: thousands grouped with a narrow no-break space (locale-neutral)."""
    return f"{n:,}".replace(",", "\u202f")


def plural(n: int, singular: str, many: str | None = None) -> str:
    """``'1 image'`` / ``'3 images'``."""
    return f"{format_count(n)} {singular if n == 1 else (many or singular + 's')}"
