"""Probability calibration from the learner's own predict-then-learn record.

An online one-vs-rest logistic model taught a few hundred labels ranks classes well but is
far too unsure: on eurosat-mini (EfficientNet-Lite0 features, 260 labels) it is right on 91 %
of the unlabelled images while its top probability averages 0.26. Bars that read 23 % for a
correct prediction, an "accept above 90 %" that finds nothing and audits that never see a
"sure" model follow from that.

Every label a user gives is first predicted by the model that has not learned it yet: a free,
out-of-sample record. :class:`PowerCalibration` fits one power ``a`` to the last
:data:`WINDOW` of those predictions (temperature scaling: ``p_c^a / sum_k p_k^a``, i.e. a
softmax of ``a * log p``) by minimising their negative log-likelihood. A single power keeps
the ranking of classes (the predicted class never changes), is cheap enough to apply to
100,000 rows on every rescoring, and exports as one multiplication before the final softmax.
The fit is a pure function of the record, so a journal replay reproduces it exactly.
"""

from __future__ import annotations

from collections import deque

import numpy as np

WINDOW = 400  # predictions the power is fitted on (the most recent: the model changes)
MIN_RECORDS = 30  # below this, probabilities are shown as the model gives them
REFIT_EVERY = 10  # records between fits: deterministic; a fit costs ~2 ms (400 x 20 classes)
POWER_RANGE = (0.25, 12.0)  # capped: a model right on every recent label is not 100 % sure
_LOG_FLOOR = np.log(1e-12)  # a probability of exactly 0 (river's clamp) counts as 1e-12


def sharpen_rows(rows: np.ndarray, power: float) -> None:
    """Raise probability rows (float32 or float64) to ``power`` and renormalise, in place.

    Each row sums to 1 (or is all zero, and stays so), so its largest value is at least 1/C and
    its power cannot underflow to zero within :data:`POWER_RANGE`; zeros stay zero. One
    ``np.power`` pass: 100,000 x 20 in ~11 ms, against ~18 ms through log, scale and exp.
    """
    if power == 1.0 or rows.size == 0:
        return
    np.power(rows, power, out=rows)
    total = rows.sum(axis=-1, keepdims=True)
    np.divide(rows, total, out=rows, where=total > 0)


def sharpen(probs: np.ndarray, power: float) -> np.ndarray:
    """A copy of ``probs`` (rows of class probabilities) sharpened by ``power``; dtype kept."""
    p = np.asarray(probs)
    out = np.array(p, dtype=np.float64)
    sharpen_rows(out, power)
    return out.astype(p.dtype, copy=False)


def _mean_nll(log_p: np.ndarray, truth: np.ndarray, power: float) -> float:
    """Mean negative log-likelihood of ``softmax(power * log_p)`` at the ``truth`` columns."""
    z = power * log_p
    top = z.max(axis=1)
    lse = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(z)), truth]))


def fit_power(log_p: np.ndarray, truth: np.ndarray) -> float:
    """The power in :data:`POWER_RANGE` that minimises the mean NLL (golden-section on log a).

    ``log_p`` is ``(n, C)`` log-probabilities (``-inf`` for classes absent from a row),
    ``truth`` the ``(n,)`` column of each row's label.
    """
    lo, hi = np.log(POWER_RANGE[0]), np.log(POWER_RANGE[1])
    ratio = (np.sqrt(5.0) - 1.0) / 2.0

    def cost(u: float) -> float:
        return _mean_nll(log_p, truth, float(np.exp(u)))

    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = cost(a), cost(b)
    for _ in range(26):  # the bracket shrinks to ~4e-6 of its width: a to ~1e-5
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = cost(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = cost(b)
    return float(np.exp((lo + hi) / 2.0))


class PowerCalibration:
    """One sharpening power fitted to a learner's recent out-of-sample predictions."""

    def __init__(self) -> None:
        self.power = 1.0
        self._records: deque[tuple[np.ndarray, int]] = deque(maxlen=WINDOW)
        self._since_fit = 0

    def record(self, probs: np.ndarray, truth: int) -> None:
        """Add one prediction made before learning (``probs`` over the classes then known)
        and the column of the label the user gave; refit every :data:`REFIT_EVERY`."""
        log_p = np.full(len(probs), -np.inf, dtype=np.float32)
        positive = np.asarray(probs) > 0
        log_p[positive] = np.log(np.asarray(probs, dtype=np.float64)[positive])
        self._records.append((np.maximum(log_p, _LOG_FLOOR), int(truth)))
        self._since_fit += 1
        if len(self._records) >= MIN_RECORDS and self._since_fit >= REFIT_EVERY:
            self._refit()

    def _refit(self) -> None:
        width = max(len(lp) for lp, _ in self._records)
        log_p = np.full((len(self._records), width), -np.inf)
        for i, (lp, _) in enumerate(self._records):
            log_p[i, : len(lp)] = lp
        truth = np.array([t for _, t in self._records])
        self.power = fit_power(log_p, truth)
        self._since_fit = 0

    @property
    def records(self) -> int:
        """How many predictions the power is fitted on."""
        return len(self._records)

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """Calibrated copy of ``probs`` (rows of class probabilities)."""
        return sharpen(probs, self.power)
