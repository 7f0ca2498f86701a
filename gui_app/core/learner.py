"""Online classifier over CNN feature vectors, backed by river.

The learner is taught one labelled vector at a time (predict-then-learn) and keeps a
progressive-accuracy record. For the linear learners (``logistic``, ``softmax``) whole feature
matrices are scored with one matrix product using weights into which the running standard scaler
has been folded; this reproduces river's ``predict_proba_one`` to within 1e-6.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from river import compose, forest, linear_model, multiclass, naive_bayes, neighbors, preprocessing

from gui_app.core.atomic import atomic_write
from gui_app.core.errors import LoupeError

LEARNERS: tuple[str, ...] = ("logistic", "softmax", "gaussian-nb", "knn", "arf")
DEFAULT_LEARNER = "logistic"
_LINEAR = ("logistic", "softmax")
_FORMAT_VERSION = 1
_CHUNK_ROWS = 16384  # rows per matmul call in score_many (bounded temporary memory)
_SIGMOID_CLAMP = 30.0  # river.utils.math.sigmoid returns exactly 0/1 beyond +-30


class LearnerError(LoupeError):
    """Raised for unusable input vectors and unreadable or foreign model snapshots."""


def make_pipeline(name: str = "logistic", seed: int = 0) -> compose.Pipeline:
    """Build the river pipeline for a learner name.

    Parameters
    ----------
    name
        One of :data:`LEARNERS`.
    seed
        Seed for learners with internal randomness (``knn`` search graph, ``arf``).

    Returns
    -------
    river.compose.Pipeline
        A fresh, untrained pipeline.
    """
    if name == "logistic":
        clf: Any = multiclass.OneVsRestClassifier(linear_model.LogisticRegression())
        return compose.Pipeline(preprocessing.StandardScaler(), clf)
    if name == "softmax":
        return compose.Pipeline(preprocessing.StandardScaler(), linear_model.SoftmaxRegression())
    if name == "gaussian-nb":
        return compose.Pipeline(naive_bayes.GaussianNB())
    if name == "knn":
        # Same engine as river's default, but seeded so that replays are reproducible.
        engine = neighbors.SWINN(seed=seed)
        clf = neighbors.KNNClassifier(n_neighbors=5, engine=engine)
        return compose.Pipeline(preprocessing.StandardScaler(), clf)
    if name == "arf":
        return compose.Pipeline(forest.ARFClassifier(seed=seed))
    raise ValueError(f"unknown learner {name!r}; valid names are: {', '.join(LEARNERS)}")


@dataclass
class ProgressiveAccuracy:
    """Accuracy of the predictions made just before each learning step."""

    correct: int = 0
    total: int = 0
    history: list[bool] = field(default_factory=list)

    def update(self, is_correct: bool) -> None:
        """Record one prediction outcome."""
        self.correct += int(is_correct)
        self.total += 1
        self.history.append(bool(is_correct))

    @property
    def accuracy(self) -> float | None:
        """Accuracy over all recorded predictions, ``None`` before the first one."""
        return self.correct / self.total if self.total else None

    def recent(self, n: int = 50) -> float | None:
        """Accuracy of the last ``n`` predictions, ``None`` before the first one."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        tail = self.history[-n:]
        return sum(tail) / len(tail) if tail else None


def _check_label(label: str) -> str:
    if not isinstance(label, str):
        raise TypeError(f"class labels must be str, got {type(label).__name__}: {label!r}")
    return label


class OnlineLearner:
    """A river classifier taught one vector at a time.

    Parameters
    ----------
    name
        Learner kind, one of :data:`LEARNERS`.
    seed
        Seed for learners with internal randomness.
    """

    def __init__(self, name: str = "logistic", seed: int = 0) -> None:
        self.model = make_pipeline(name, seed)
        self.name = name
        self.seed = seed
        self.classes: list[str] = []
        self.n_learned = 0
        self.n_features: int | None = None
        self.progressive = ProgressiveAccuracy()
        self._learned: dict[str, None] = {}  # ordered set of classes the model has seen
        self._format_version = _FORMAT_VERSION
        self._keys: list[int] = []
        self._folded: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    # -- classes -----------------------------------------------------------------------------

    def add_class(self, label: str) -> None:
        """Declare a class before it is learned; it is reported with probability 0.0."""
        if _check_label(label) not in self.classes:
            self.classes.append(label)
            self._folded = None

    def set_classes(self, labels: list[str]) -> None:
        """Declare the known classes and their order (learned classes missing are kept last)."""
        ordered = list(dict.fromkeys(_check_label(lab) for lab in labels))
        ordered += [c for c in self._learned if c not in ordered]
        self.classes = ordered
        self._folded = None

    @property
    def learned_classes(self) -> list[str]:
        """Classes the model has learned at least once, in the order first learned."""
        return list(self._learned)

    def can_predict(self) -> bool:
        """Whether at least two classes have been learned."""
        return len(self._learned) >= 2

    # -- learning and prediction -------------------------------------------------------------

    def _vector(self, vector: np.ndarray) -> np.ndarray:
        v = np.asarray(vector, dtype=np.float32)
        if v.ndim != 1:
            raise LearnerError(f"expected a 1-D feature vector, got shape {v.shape}")
        if self.n_features is not None and v.shape[0] != self.n_features:
            raise LearnerError(
                f"vector has {v.shape[0]} features but the model was trained on {self.n_features}"
            )
        if not np.isfinite(v).all():
            raise LearnerError("feature vector contains NaN or infinite values")
        return v

    def _as_dict(self, v: np.ndarray) -> dict[int, float]:
        if len(self._keys) != v.shape[0]:
            self._keys = list(range(v.shape[0]))
        return dict(zip(self._keys, v.tolist(), strict=True))

    def _final_step(self) -> Any:
        steps = getattr(self.model, "steps", None)
        return next(reversed(steps.values())) if steps else self.model

    def _raw_proba(self, x: dict[int, float]) -> dict[str, float]:
        # SWINN draws its search start point from its own RNG; restoring the state keeps
        # predictions free of side effects, so a replay reproduces the live learner exactly.
        rng = getattr(getattr(self._final_step(), "_nn", None), "_rng", None)
        state = rng.getstate() if rng is not None else None
        try:
            raw = self.model.predict_proba_one(x)
        finally:
            if rng is not None:
                rng.setstate(state)
        proba = {c: float(raw.get(c, 0.0)) for c in self.classes}
        total = sum(proba.values())
        if total <= 0.0 or not np.isfinite(total):
            uniform = 1.0 / len(self._learned)
            return {c: (uniform if c in self._learned else 0.0) for c in self.classes}
        if abs(total - 1.0) > 1e-9:
            proba = {c: p / total for c, p in proba.items()}
        return proba

    def learn(self, vector: np.ndarray, label: str) -> float | None:
        """Predict, score the prediction, then learn one labelled vector.

        Returns
        -------
        float or None
            Probability the model gave ``label`` before learning; ``None`` while the model could
            not predict yet (fewer than two classes learned). Only such predictions count
            towards :attr:`progressive`.
        """
        _check_label(label)
        v = self._vector(vector)
        x = self._as_dict(v)
        before: float | None = None
        if self.can_predict():
            proba = self._raw_proba(x)
            before = proba.get(label, 0.0)
            self.progressive.update(max(proba, key=proba.__getitem__) == label)
        self.model.learn_one(x, label)
        self.n_features = v.shape[0]
        self._learned[label] = None
        if label not in self.classes:
            self.classes.append(label)
        self.n_learned += 1
        self._folded = None
        return before

    def predict_proba(self, vector: np.ndarray) -> dict[str, float]:
        """Probability of every known class (0.0 if never learned); ``{}`` before two classes."""
        v = self._vector(vector)
        if not self.can_predict():
            return {}
        return self._raw_proba(self._as_dict(v))

    def score_many(self, matrix: np.ndarray) -> np.ndarray:
        """Score a feature matrix.

        Parameters
        ----------
        matrix
            ``(N, D)`` feature matrix (converted to float32).

        Returns
        -------
        numpy.ndarray
            ``(N, len(classes))`` float32 probabilities in :attr:`classes` order; ``(N, 0)``
            while the model cannot predict.
        """
        X = np.asarray(matrix, dtype=np.float32)
        if X.ndim != 2:
            raise LearnerError(f"expected an (N, D) feature matrix, got shape {X.shape}")
        n = X.shape[0]
        if not self.can_predict():
            return np.zeros((n, 0), dtype=np.float32)
        if X.shape[1] != self.n_features:
            raise LearnerError(
                f"matrix has {X.shape[1]} features but the model was trained on {self.n_features}"
            )
        if self.name in _LINEAR:
            return self._score_linear(X)
        out = np.zeros((n, len(self.classes)), dtype=np.float32)
        for i, row in enumerate(X):
            out[i] = list(self._raw_proba(self._as_dict(row)).values())
        return out

    # -- linear fast path --------------------------------------------------------------------

    def _linear_params(self) -> dict[str, Any]:
        scaler, clf = self.model[0], self.model[-1]
        d = self.n_features or 0
        keys = range(d)
        mean = np.fromiter(map(scaler.means.get, keys, [0.0] * d), dtype=np.float64, count=d)
        var = np.fromiter(map(scaler.vars.get, keys, [0.0] * d), dtype=np.float64, count=d)
        learned = [c for c in self.classes if c in self._learned]
        coef = np.zeros((len(learned), d), dtype=np.float64)
        intercept = np.zeros(len(learned), dtype=np.float64)
        for k, c in enumerate(learned):
            if self.name == "logistic":
                weights = clf.classifiers[c].weights
                intercept[k] = clf.classifiers[c].intercept
            else:
                weights = clf.weights.get(c, {})
            coef[k] = np.fromiter(map(weights.get, keys, [0.0] * d), dtype=np.float64, count=d)
        return {"classes": learned, "mean": mean, "var": var, "coef": coef, "intercept": intercept}

    def _folded_weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(W', b', column index)`` such that logits = X @ W' + b' in scaled space."""
        if self._folded is None:
            p = self._linear_params()
            # river's StandardScaler maps a zero-variance feature to 0.0, i.e. drops it.
            inv_std = np.zeros_like(p["var"])
            np.divide(1.0, np.sqrt(p["var"]), out=inv_std, where=p["var"] != 0.0)
            w = p["coef"] * inv_std  # (C, D)
            b = p["intercept"] - w @ p["mean"]
            cols = np.array([self.classes.index(c) for c in p["classes"]], dtype=np.intp)
            self._folded = (np.ascontiguousarray(w.T, dtype=np.float32), b, cols)
        return self._folded

    def _score_linear(self, X: np.ndarray) -> np.ndarray:
        w, b, cols = self._folded_weights()
        n, c = X.shape[0], w.shape[1]
        identity = c == len(self.classes)  # every known class learned: columns already in order
        out = np.zeros((n, len(self.classes)), dtype=np.float32)
        rows = min(n, _CHUNK_ROWS)
        part = np.empty((rows, c), dtype=np.float32)
        z_buf = np.empty((rows, c), dtype=np.float64)
        ovr = self.name == "logistic"
        with np.errstate(over="ignore", under="ignore"):
            for start in range(0, n, _CHUNK_ROWS):
                stop = min(start + _CHUNK_ROWS, n)
                z = z_buf[: stop - start]
                # One float32 BLAS call per chunk; many small K-blocked calls are far slower
                # on a busy 2-core machine. The error stays below 1e-6 (tested).
                np.matmul(X[start:stop], w, out=part[: stop - start])
                np.add(part[: stop - start], b, out=z)
                if ovr:
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
                    z[dead] = 1.0 / c  # river's OvR falls back to uniform when all are 0
                else:
                    z -= z.max(axis=1, keepdims=True)
                    np.exp(z, out=z)
                    z /= z.sum(axis=1, keepdims=True)
                if identity:
                    out[start:stop] = z
                else:
                    out[start:stop, cols] = z
        return out

    def export_linear(self) -> dict[str, Any] | None:
        """Portable parameters of a linear learner (``None`` if non-linear or untrained).

        ``classes`` lists the learned classes (in :attr:`classes` order), one row of ``coef``
        (C, D) and ``intercept`` (C,) each. They apply to standardised features
        ``(x - mean) / scale``; a zero-variance feature (``scale == 0``) contributes nothing.
        """
        if self.name not in _LINEAR or not self.can_predict():
            return None
        p = self._linear_params()
        p["scale"] = np.sqrt(p["var"])
        p["kind"] = "ovr-logistic" if self.name == "logistic" else "softmax"
        return p

    # -- persistence -------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_keys"] = []
        state["_folded"] = None
        return state

    def snapshot(self) -> OnlineLearner:
        """Independent deep copy (for exact undo)."""
        # A pickle round trip is as fast as copy.deepcopy for the linear models and several
        # times faster for the others; it also drops the derived caches.
        return pickle.loads(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))

    def save(self, path: Path) -> None:
        """Pickle atomically: temp file in the same folder, fsync, then ``os.replace``."""
        atomic_write(
            Path(path),
            lambda fh: pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL),
            binary=True,
        )

    @classmethod
    def load(cls, path: Path, project_dir: Path) -> OnlineLearner:
        """Unpickle a snapshot that lives inside ``project_dir`` (the project's ``.loupe``).

        Raises
        ------
        LearnerError
            If the path is outside ``project_dir``, missing, or not a usable snapshot.
        """
        resolved, root = Path(path).resolve(), Path(project_dir).resolve()
        if not resolved.is_relative_to(root):
            raise LearnerError(f"refusing to load a model snapshot outside {root}: {resolved}")
        try:
            data = resolved.read_bytes()
        except OSError as exc:
            raise LearnerError(f"cannot read model snapshot {resolved}: {exc}") from exc
        try:
            obj = pickle.loads(data)
        except Exception as exc:  # arbitrary bytes can make unpickling raise nearly anything
            raise LearnerError(f"model snapshot is damaged: {type(exc).__name__}: {exc}") from exc
        if not isinstance(obj, cls):
            raise LearnerError(f"model snapshot is damaged: not a learner ({type(obj).__name__})")
        if getattr(obj, "_format_version", None) != _FORMAT_VERSION or obj.name not in LEARNERS:
            raise LearnerError("model snapshot is damaged: incompatible snapshot format")
        return obj

    @classmethod
    def rebuild(
        cls,
        name: str,
        events: Iterable[tuple[str, np.ndarray]],
        classes: list[str],
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
        total: int | None = None,
    ) -> OnlineLearner:
        """Replay ``(label, vector)`` events through :meth:`learn` (deterministic).

        ``progress(done, total)`` is called after every event; ``total`` defaults to
        ``len(events)`` when available, else 0 (unknown).
        """
        learner = cls(name, seed)
        learner.set_classes(classes)
        if total is None:
            total = len(events) if isinstance(events, Sized) else 0
        for done, (label, vector) in enumerate(events, start=1):
            learner.learn(vector, label)
            if progress is not None:
                progress(done, total)
        return learner
