"""The default learner: running standard scaler | one-vs-rest logistic regression, in numpy.

The model is river's ``StandardScaler | OneVsRestClassifier(LogisticRegression)`` (same running
mean/variance update, same per-class binary log loss, same clamped sigmoid and normalisation
when predicting), with two changes measured in ``benchmarks/bench_replay.py``:

- a normalised step ``eta / (1 + |x|^2)`` on the standardised vector instead of a fixed 0.01:
  with 1280-d features a fixed step moves a logit by about 13 per update and the learner
  memorises the last labels; the normalised step behaves the same at any dimension;
- weights in one ``(classes, D)`` float64 array instead of one dict per class, so a learning
  step costs tens of microseconds instead of about 5 ms at 20 classes x 1280-d. That is what
  makes replay (:mod:`gui_app.core.teaching`) affordable on the key path.

Every reduction is a float64 BLAS ``gemv``/``dot`` over arrays of the same shapes, so the same
sequence of steps gives bit-identical weights wherever it runs (live, replay, undo copy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

ETA = 0.3  # normalised step size (see module docstring)
_SIGMOID_CLAMP = 30.0  # river.utils.math.sigmoid returns exactly 0/1 beyond +-30


class RunningScaler:
    """Running mean and (population) variance per feature, river's ``StandardScaler`` update."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = np.zeros(0)
        self.var = np.zeros(0)

    def learn(self, x: np.ndarray) -> None:
        """Update the statistics with one float64 vector."""
        if self.n == 0:
            self.mean = np.zeros_like(x)
            self.var = np.zeros_like(x)
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.var += (delta * (x - self.mean) - self.var) / self.n

    def inv_std(self) -> np.ndarray:
        """``1 / std`` per feature; 0 for a zero-variance feature (river maps it to 0.0)."""
        out = np.zeros_like(self.var)
        np.divide(1.0, np.sqrt(self.var), out=out, where=self.var != 0.0)
        return out

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Standardise ``(D,)`` or ``(N, D)`` float64 vectors."""
        return (x - self.mean) * self.inv_std()


class BinaryView:
    """One class's binary classifier inside :class:`LinearOvR` (river's attribute names)."""

    def __init__(self, owner: OvRLogistic, index: int) -> None:
        self._owner, self._index = owner, index

    @property
    def intercept(self) -> float:
        return float(self._owner.b[self._index])

    @intercept.setter
    def intercept(self, value: float) -> None:
        self._owner.b[self._index] = value

    @property
    def weights(self) -> dict[int, float]:
        return dict(enumerate(self._owner.W[self._index].tolist()))


class OvRLogistic:
    """One binary logistic regression per class, one weight row each (learned order)."""

    def __init__(self, eta: float = ETA) -> None:
        self.eta = eta
        self.classes: list[str] = []
        self.W = np.zeros((0, 0))
        self.b = np.zeros(0)

    def index(self, label: str, dim: int) -> int:
        """Row of ``label``, adding a zero row for a class seen for the first time."""
        try:
            return self.classes.index(label)
        except ValueError:
            pass
        if self.W.shape[1] != dim:
            self.W = np.zeros((len(self.classes), dim))
        self.classes.append(label)
        self.W = np.vstack([self.W, np.zeros((1, dim))])
        self.b = np.append(self.b, 0.0)
        return len(self.classes) - 1

    def step(self, xs: np.ndarray, target: int) -> None:
        """One SGD step of every binary log loss on one standardised vector."""
        z = self.W @ xs + self.b
        sign = np.full(len(z), -1.0)
        sign[target] = 1.0
        # d/dz log(1 + exp(-s z)) = -s / (exp(s z) + 1); river's Log loss, clipped like it.
        grad = -sign / (np.exp(np.minimum(sign * z, 700.0)) + 1.0)
        rate = self.eta / (1.0 + float(xs @ xs))
        self.b -= rate * grad
        self.W -= np.outer(rate * grad, xs)

    def classifiers(self) -> dict[str, BinaryView]:
        return {c: BinaryView(self, i) for i, c in enumerate(self.classes)}


def ovr_probabilities(z: np.ndarray) -> np.ndarray:
    """River's one-vs-rest probabilities from ``(N, C)`` float64 logits (in place).

    Sigmoids clamped to exactly 0/1 beyond +-30, normalised to sum 1, uniform when all are 0.
    """
    c = z.shape[1]
    with np.errstate(over="ignore", under="ignore"):
        low, high = z < -_SIGMOID_CLAMP, z > _SIGMOID_CLAMP
        np.negative(z, out=z)
        np.exp(z, out=z)
        z += 1.0
        np.reciprocal(z, out=z)
        z[low] = 0.0
        z[high] = 1.0
        total = z.sum(axis=1, keepdims=True)
        dead = total[:, 0] == 0.0
        total[dead] = 1.0
        z /= total
        z[dead] = 1.0 / c
    return z


class LinearOvR:
    """``RunningScaler | OvRLogistic`` with river's pipeline vocabulary.

    ``model[0]`` is the scaler, ``model[-1]`` the classifier (``classifiers[c].intercept``),
    ``learn_one``/``predict_proba_one`` take river's ``{feature index: value}`` dicts.
    """

    def __init__(self, eta: float = ETA) -> None:
        self.scaler = RunningScaler()
        self.clf = OvRLogistic(eta)

    def __getitem__(self, index: int) -> Any:
        return (self.scaler, self)[index]

    @property
    def classifiers(self) -> dict[str, BinaryView]:
        return self.clf.classifiers()

    def learn(self, x: np.ndarray, label: str) -> None:
        """Predict-free learning step on one float64 vector (scaler first, as river does)."""
        self.scaler.learn(x)
        target = self.clf.index(label, x.shape[0])
        self.clf.step(self.scaler.transform(x), target)

    def replay(self, X: np.ndarray, labels: list[str]) -> None:
        """SGD steps on stored vectors (float64 rows): the scaler statistics are not updated."""
        xs = self.scaler.transform(X)
        for row, label in zip(xs, labels, strict=True):
            self.clf.step(row, self.clf.classes.index(label))

    def proba(self, x: np.ndarray) -> dict[str, float]:
        """Probabilities of the learned classes for one float64 vector."""
        z = (self.clf.W @ self.scaler.transform(x) + self.clf.b)[None, :]
        return dict(zip(self.clf.classes, ovr_probabilities(z)[0].tolist(), strict=True))

    # -- river vocabulary ----------------------------------------------------------------------
    def learn_one(self, x: dict, y: str) -> None:
        self.learn(np.fromiter(x.values(), np.float64, len(x)), y)

    def predict_proba_one(self, x: dict) -> dict[str, float]:
        if not self.clf.classes:
            return {}
        return self.proba(np.fromiter(x.values(), np.float64, len(x)))
