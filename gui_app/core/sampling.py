"""Which image to show next (F10): Teach, Audit and In order, in pure numpy.

Modes
-----
``teach``
    Before the model can rank (fewer than two classes learned): the most typical image of the
    cluster with the fewest labels (:func:`cold_start` clusters the feature vectors, off the GUI
    thread). Afterwards mostly the image the model is least sure about (smallest margin between
    its two best classes), with two kinds of picks mixed in:

    - typical ones while labels are few: a share ``1 - labels / (typical_span x clusters)``,
      so none after about two labels per cluster (typical images teach more than doubtful ones
      at first, doubtful ones more afterwards: measured in ``benchmarks/bench_active.py``);
    - audits: 10 %, growing to 50 % once the model is sure of nearly every image
      (:func:`audit_share`).
``audit``
    Only audits: random images, and the ones the model is most sure of, alternately.
``in-order``
    The next image in the order the caller shows them (the grid's sort order).

Unlabelled images only; images marked unsure and images without features are skipped.

Pick kinds (stored in the journal as the label event's ``pick``; the insight panel counts the
audits apart, as they are the only unbiased sample of the model's accuracy):

``uncertain``        chosen because the model was unsure (teach)
``typical``          cold start: typical of a cluster with few labels (teach)
``audit-random``     an audit drawn uniformly from the unlabelled images (also the cold
                     start's pick while the clusters are not computed yet)
``audit-confident``  an audit of the image the model is most sure of
``in-order``         the next image in display order
``manual``           chosen by the user (a click), not by Next
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gui_app.core.clustering import ColdStart, cold_start

if TYPE_CHECKING:
    from gui_app.core.session import LabelingSession

PICKS = ("uncertain", "typical", "audit-random", "audit-confident", "in-order", "manual")
AUDIT_PICKS = ("audit-random", "audit-confident")
MODES = ("teach", "audit", "in-order")

__all__ = [
    "AUDIT_PICKS", "MODES", "PICKS", "ColdStart", "Pick", "SamplingSettings", "cold_start",
    "next_pick", "pick_for",
]  # fmt: skip


@dataclass(frozen=True)
class SamplingSettings:
    """How Next chooses.

    Attributes
    ----------
    audit_share
        Fraction of Teach picks that are audits.
    audit_share_sure, sure
        The audit share once the model gives every image a top probability >= ``sure``
        (see :func:`audit_share`).
    confident_share
        Share of the audits that check the most confident image (the rest are random).
    typical_span
        Labels per cluster over which typical picks fade out of Teach (0: never mixed in).
    density
        Exponent of a typicality weight on uncertainty. 0 (plain margin) by default: on
        eurosat-mini 0.5 helped the first 100 labels and cost 50 labels to reach 90 %.
    seed
        Seed of the audit draws and random picks (with the step, fully deterministic).
    """

    audit_share: float = 0.1
    audit_share_sure: float = 0.5
    sure: float = 0.9
    confident_share: float = 0.5
    typical_span: float = 2.0
    density: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class Pick:
    """The image Next shows and why: ``kind`` is one of :data:`PICKS`, ``reason`` the text."""

    row: int
    kind: str
    reason: str


def _pct(p: float) -> str:
    return f"{round(100 * p)} %"


def available_rows(present: np.ndarray, labelled: np.ndarray, unsure: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: rows Next may show (features, no label, not unsure)."""
    return present & ~labelled & ~unsure


def next_pick(
    mode: str,
    available: np.ndarray,
    *,
    probs: np.ndarray | None = None,
    classes: list[str] | None = None,
    labelled: np.ndarray | None = None,
    cold: ColdStart | None = None,
    step: int = 0,
    order: np.ndarray | None = None,
    after: int | None = None,
    settings: SamplingSettings | None = None,
) -> Pick | None:
    """The next image to show; ``None`` when no image is available.

    Parameters
    ----------
    mode
        One of :data:`MODES`.
    available
        ``(N,)`` bool, see :func:`available_rows`.
    probs, classes
        ``(N, C)`` probabilities of every row and their class names, or None while the model
        cannot predict (then Teach starts cold and Audit draws at random).
    labelled
        ``(N,)`` bool of labelled rows (cold start: the clusters with the fewest labels first).
    cold
        The result of :func:`cold_start` (None until it has been computed).
    step
        A counter that grows with every pick (e.g. the number of label events): with
        ``settings.seed`` it decides the audits, so the sequence is reproducible.
    order, after
        In-order mode: rows in display order, and the row shown now.
    settings
        :class:`SamplingSettings` (defaults when None).

    Cost: O(N x C) numpy, about 20 ms for 100,000 x 20 (see benchmarks/bench_active.py).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes are: {', '.join(MODES)}")
    settings = settings or SamplingSettings()
    if not available.any():
        return None
    rng = np.random.default_rng([settings.seed, step])
    can_rank = probs is not None and probs.shape[1] >= 2 and classes is not None
    if mode == "in-order":
        return _in_order(available, order, after)
    if mode == "audit":
        kind = AUDIT_PICKS[step % 2] if can_rank else "audit-random"
        return _audit(kind, available, probs, classes, rng)
    if not can_rank:
        return _typical(available, labelled, cold, rng)
    first, second = top_two(probs)
    draw = rng.random()  # the share lies between audit_share and audit_share_sure
    if draw < settings.audit_share or (
        draw < settings.audit_share_sure and draw < audit_share(settings, first, available)
    ):
        kind = AUDIT_PICKS[int(rng.random() < settings.confident_share)]
        return _audit(kind, available, probs, classes, rng)
    span = settings.typical_span * (cold.clusters if cold is not None else 0)
    if span > 0 and labelled is not None and rng.random() < 1.0 - labelled.sum() / span:
        return _typical(available, labelled, cold, rng)
    return _uncertain(available, first - second, probs, classes, cold, settings)


def pick_for(
    session: LabelingSession,
    mode: str = "teach",
    *,
    probs: np.ndarray | None = None,
    cold: ColdStart | None = None,
    order: np.ndarray | None = None,
    after: int | None = None,
    settings: SamplingSettings | None = None,
) -> Pick | None:
    """:func:`next_pick` over a session's images (headless callers, benchmarks, tests).

    ``probs`` are the caller's current ``session.score_all()`` (computed here when None). The
    journal head is the step, so a session's sequence of picks is reproducible. Label the
    result with ``session.label(path, name, pick=pick.kind)``.
    """
    if probs is None and session.can_predict():
        probs = session.score_all()
    if probs is not None and probs.shape[1] < 2:
        probs = None
    labelled = session.labelled_mask()
    available = available_rows(session.present_rows(), labelled, session.marked_mask("unsure"))
    return next_pick(
        mode,
        available,
        probs=probs,
        classes=session.model_classes(),
        labelled=labelled,
        cold=cold,
        step=session.journal_head(),
        order=order,
        after=after,
        settings=settings,
    )


def top_two(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best and second-best probability of every row (column by column: faster than
    ``np.partition`` over 20 columns)."""
    cols = np.ascontiguousarray(probs.T)
    first = cols[0].copy()
    second = np.full_like(first, -np.inf)
    low = np.empty_like(first)
    for col in cols[1:]:
        np.minimum(first, col, out=low)
        np.maximum(second, low, out=second)
        np.maximum(first, col, out=first)
    return first, second


def audit_share(settings: SamplingSettings, top: np.ndarray, available: np.ndarray) -> float:
    """The share of audits now: more of them once the model is sure of nearly every image.

    Measured (benchmarks/bench_active.py): once few images are in doubt, the most uncertain
    ones are the odd ones, and an online learner fed only those loses accuracy (dogs-vs-cats:
    0.95 -> 0.90 held-out while random order kept improving). The share grows from
    ``audit_share`` (half the images or more below ``sure`` top probability) to
    ``audit_share_sure`` (none below it). ``top`` is each row's top probability.
    """
    if settings.audit_share_sure <= settings.audit_share:
        return settings.audit_share
    doubtful = float((top[available] < settings.sure).mean())
    weight = min(1.0, max(0.0, 1.0 - 2.0 * doubtful))
    return settings.audit_share + (settings.audit_share_sure - settings.audit_share) * weight


def _in_order(available: np.ndarray, order: np.ndarray | None, after: int | None) -> Pick:
    rows = np.arange(len(available)) if order is None else np.asarray(order, np.int64)
    start = 0
    if after is not None:
        hit = np.flatnonzero(rows == after)
        start = int(hit[0]) + 1 if len(hit) else 0
    rows = np.concatenate([rows[start:], rows[:start]])
    free = rows[available[rows]]
    if not len(free):
        free = np.flatnonzero(available)
    return Pick(int(free[0]), "in-order", "in order")


def _audit(
    kind: str,
    available: np.ndarray,
    probs: np.ndarray | None,
    classes: list[str] | None,
    rng: np.random.Generator,
) -> Pick:
    free = np.flatnonzero(available)
    if kind == "audit-random" or probs is None or classes is None:
        return Pick(int(free[rng.integers(len(free))]), "audit-random", "audit: random")
    top = probs[free].max(axis=1)
    row = int(free[int(top.argmax())])
    best = int(probs[row].argmax())
    return Pick(row, kind, f"audit: confident ({_pct(float(probs[row, best]))} {classes[best]})")


def _typical(
    available: np.ndarray,
    labelled: np.ndarray | None,
    cold: ColdStart | None,
    rng: np.random.Generator,
) -> Pick:
    if cold is None or len(cold.cluster) != len(available):
        free = np.flatnonzero(available)  # uniform, so it counts as an audit
        row = int(free[rng.integers(len(free))])
        return Pick(row, "audit-random", "random: the clusters are not ready yet")
    row, fresh = cold.next_row(available, labelled)
    why = "typical of an unlabelled cluster" if fresh else "typical of a cluster with few labels"
    return Pick(row, "typical", why)


def _uncertain(
    available: np.ndarray,
    margin: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    cold: ColdStart | None,
    settings: SamplingSettings,
) -> Pick:
    free = np.flatnonzero(available)
    score = 1.0 - margin[free]  # margin 0: torn between two classes, 1: sure
    if cold is not None and settings.density > 0 and len(cold.typicality) == len(available):
        score = score * cold.typicality[free] ** settings.density
    row = int(free[int(score.argmax())])
    order = np.argsort(probs[row])[::-1][:2]
    a, b = (int(i) for i in order)
    reason = (
        f"uncertain: {_pct(float(probs[row, a]))} {classes[a]} / "
        f"{_pct(float(probs[row, b]))} {classes[b]}"
    )
    return Pick(row, "uncertain", reason)
