"""The offline "final" model: scikit-learn logistic regression with a cross-validated C.

The HDF5 tutorial's recipe on all labelled vectors at once: ``StandardScaler`` +
``LogisticRegression``, with C picked by a grid search over stratified k-fold
cross-validation. The fitted numbers are kept as plain numpy arrays, so a saved
:class:`BatchModel` loads and predicts without scikit-learn, and it offers the surface the
exporters use (``name``, ``classes``, ``can_predict``, ``score_many``, ``export_linear``,
``save``): ``loupe export --what model`` writes it as pickle, portable weights, Keras and TFLite
like the online learner.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gui_app.core.atomic import atomic_write
from gui_app.core.errors import LoupeError

if TYPE_CHECKING:  # river is slow to import: only load_model needs the online learner
    from gui_app.core.learner import OnlineLearner

BATCH_LEARNER_NAME = "batch-logistic"
BATCH_MODEL_NAME = "batch_model.pkl"
C_GRID: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
DEFAULT_FOLDS = 5
_FORMAT_VERSION = 1


class BatchModelError(LoupeError):
    """The batch model cannot be fitted on these labels (too few classes or images)."""


class BatchModel:
    """A fitted multinomial logistic regression over standardised features.

    ``p = softmax(coef @ ((x - mean) / scale) + intercept)``, columns in :attr:`classes` order
    (exactly scikit-learn's ``predict_proba``; a two-class model is stored as two rows, the
    first all zeros). ``C``, ``folds``, ``cv_accuracy`` and ``cv_scores`` (mean fold accuracy
    per C) record how it was chosen.
    """

    name = BATCH_LEARNER_NAME

    def __init__(
        self,
        classes: Sequence[str],
        mean: np.ndarray,
        scale: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
        *,
        C: float,
        folds: int,
        cv_accuracy: float,
        cv_scores: dict[float, float],
        n_samples: int,
    ) -> None:
        self.classes = [str(c) for c in classes]
        self.mean = np.asarray(mean, np.float64)
        self.scale = np.asarray(scale, np.float64)
        self.coef = np.asarray(coef, np.float64)
        self.intercept = np.asarray(intercept, np.float64)
        self.C = float(C)
        self.folds = int(folds)
        self.cv_accuracy = float(cv_accuracy)
        self.cv_scores = {float(k): float(v) for k, v in cv_scores.items()}
        self.n_samples = int(n_samples)
        self._format_version = _FORMAT_VERSION

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    def can_predict(self) -> bool:
        """Always true once fitted (at least two classes)."""
        return len(self.classes) >= 2

    def score_many(self, matrix: np.ndarray) -> np.ndarray:
        """``(N, C)`` float32 probabilities of an ``(N, D)`` feature matrix."""
        from gui_app.core.learner import LearnerError

        X = np.asarray(matrix, np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise LearnerError(
                f"expected an (N, {self.n_features}) feature matrix, got shape {X.shape}"
            )
        z = ((X - self.mean) / self.scale) @ self.coef.T + self.intercept
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z.astype(np.float32)

    def predict_proba(self, vector: np.ndarray) -> dict[str, float]:
        """Probability of every class for one vector."""
        probs = self.score_many(np.asarray(vector)[None, :])[0]
        return {c: float(p) for c, p in zip(self.classes, probs, strict=True)}

    def export_linear(self) -> dict[str, Any]:
        """The parameters in :meth:`OnlineLearner.export_linear`'s form (``kind='softmax'``)."""
        return {
            "kind": "softmax",
            "classes": list(self.classes),
            "mean": self.mean.copy(),
            "scale": self.scale.copy(),
            "var": self.scale**2,
            "coef": self.coef.copy(),
            "intercept": self.intercept.copy(),
            "power": 1.0,  # fitted by maximum likelihood: already calibrated
        }

    def describe(self) -> str:
        """One line: how C was chosen and the cross-validated accuracy."""
        return (
            f"logistic regression, C={self.C:g} chosen by {self.folds}-fold cross-validation: "
            f"accuracy {self.cv_accuracy:.4f} over {self.n_samples} samples"
        )

    def save(self, path: Path) -> None:
        """Pickle atomically (numpy arrays only: loading needs no scikit-learn)."""
        atomic_write(
            Path(path),
            lambda fh: pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL),
            binary=True,
        )


def fit_batch_model(
    X: np.ndarray,
    y: Sequence[str],
    *,
    grid: Sequence[float] = C_GRID,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
) -> BatchModel:
    """Fit StandardScaler + LogisticRegression on ``(X, y)`` with C chosen by grid search.

    ``folds`` is lowered to the size of the smallest class when needed (at least 2).

    Raises
    ------
    BatchModelError
        Fewer than two classes, or a class with a single labelled image.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X, np.float64)
    y = np.asarray([str(v) for v in y], dtype=object)
    names, counts = np.unique(y, return_counts=True) if len(y) else ([], np.zeros(0, int))
    if len(names) < 2:
        raise BatchModelError(
            f"the batch model needs labelled images of at least two classes (found {len(names)})"
        )
    if counts.min() < 2:
        lonely = ", ".join(str(n) for n, c in zip(names, counts, strict=True) if c < 2)
        raise BatchModelError(
            f"cross-validation needs at least 2 labelled images per class; only one for: {lonely}"
        )
    k = int(max(2, min(folds, counts.min())))
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    search = GridSearchCV(
        pipeline,
        {"logisticregression__C": list(grid)},
        cv=StratifiedKFold(n_splits=k, shuffle=True, random_state=seed),
        scoring="accuracy",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    scaler, clf = search.best_estimator_[0], search.best_estimator_[-1]
    coef, intercept = clf.coef_, clf.intercept_
    if coef.shape[0] == 1:  # binary: p1 = sigmoid(z) == softmax([0, z])[1]
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.array([0.0, intercept[0]])
    scores = search.cv_results_["mean_test_score"]
    return BatchModel(
        clf.classes_,
        scaler.mean_,
        scaler.scale_,
        coef,
        intercept,
        C=search.best_params_["logisticregression__C"],
        folds=k,
        cv_accuracy=search.best_score_,
        cv_scores=dict(zip(grid, scores, strict=True)),
        n_samples=len(y),
    )


def batch_model_path(project_dir: Path) -> Path:
    """Where ``loupe train --batch`` keeps a project's batch model: ``.loupe/batch_model.pkl``."""
    return Path(project_dir) / BATCH_MODEL_NAME


def load_model(path: Path, trusted_dir: Path | None = None) -> OnlineLearner | BatchModel:
    """Load a model file written by ``loupe train``: an online learner or a batch model.

    ``trusted_dir`` is the folder the file must be inside (default: its own folder, for a
    file the user named).

    Raises
    ------
    LearnerError
        Missing, unreadable, damaged or foreign file.
    """
    from gui_app.core.learner import LearnerError, OnlineLearner, read_pickle

    path = Path(path)
    trusted = Path(trusted_dir) if trusted_dir is not None else path.resolve().parent
    if not path.resolve().is_relative_to(trusted.resolve()):
        raise LearnerError(f"refusing to load a model outside {trusted}: {path}")
    obj = read_pickle(path, "cannot read model file", f"{path} is not a Loupe model")
    if isinstance(obj, BatchModel):
        if getattr(obj, "_format_version", None) != _FORMAT_VERSION:
            raise LearnerError(f"{path} is a batch model of an incompatible format")
        return obj
    if isinstance(obj, OnlineLearner):
        return OnlineLearner.checked(obj)
    raise LearnerError(f"{path} is not a Loupe model (it holds a {type(obj).__name__})")
