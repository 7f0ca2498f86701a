"""Online classifier over CNN feature vectors (river models; the default one in numpy).

Taught one labelled vector at a time (predict-then-learn), with a progressive-accuracy record.
The default ``logistic`` is river's scaler | one-vs-rest logistic regression over numpy arrays
(:mod:`gui_app.core.linear_sgd`), fast enough to replay stored vectors after every label
(:mod:`gui_app.core.teaching`). The linear learners score whole matrices with the scaler folded
into the weights (:mod:`gui_app.core.linear_scoring`), within 1e-6 of ``predict_proba_one``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Sized
from pathlib import Path
from typing import Any

import numpy as np

from gui_app.core.atomic import atomic_write
from gui_app.core.calibration import PowerCalibration, sharpen_rows
from gui_app.core.errors import LoupeError
from gui_app.core.linear_scoring import fold, numpy_params, river_softmax_params, score_folded
from gui_app.core.linear_sgd import LinearOvR
from gui_app.core.pipelines import DEFAULT_LEARNER, LEARNERS, make_pipeline
from gui_app.core.progressive import ProgressiveAccuracy
from gui_app.core.teaching import KeyedVectors, ReplayMemory, teach

_LINEAR = ("logistic", "softmax")
__all__ = [
    "DEFAULT_LEARNER",
    "LEARNERS",
    "LearnerError",
    "OnlineLearner",
    "ProgressiveAccuracy",
    "make_pipeline",
    "read_pickle",
]

_FORMAT_VERSION = 3  # 2: numpy logistic learner with a replay memory; 3: calibration
#: Stored vectors replayed per label (gui_app.core.teaching): only by the numpy logistic learner
#: (river's are 5-100x dearer per step; k-NN / naive Bayes would count a replay as new data).
REPLAY_STEPS = {"logistic": 16}


class LearnerError(LoupeError):
    """Raised for unusable input vectors and unreadable or foreign model snapshots."""


def _check_label(label: str) -> str:
    if not isinstance(label, str):
        raise TypeError(f"class labels must be str, got {type(label).__name__}: {label!r}")
    return label


def read_pickle(path: Path, cannot_read: str, damaged: str) -> object:
    """Unpickle the file ``path`` (trusted: only Loupe's own files are passed here).

    Raises
    ------
    LearnerError
        "<cannot_read> <path>: <reason>" if unreadable, "<damaged>: <error>" if not a pickle.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise LearnerError(f"{cannot_read} {path}: {exc.strerror or exc}") from exc
    try:
        return pickle.loads(data)
    except Exception as exc:  # arbitrary bytes can make unpickling raise nearly anything
        raise LearnerError(f"{damaged}: {type(exc).__name__}: {exc}") from exc


class OnlineLearner:
    """A classifier taught one vector at a time.

    :meth:`learn` is one predict-then-learn step; a session (and :meth:`rebuild`) teaches its
    journal through :func:`gui_app.core.teaching.teach`: a step plus replay of :attr:`memory`.

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
        #: Stored vectors replayed per taught event (0: none), and what may be replayed.
        self.replay_steps = REPLAY_STEPS.get(name, 0)
        self.memory = ReplayMemory()
        #: Sharpens the shown probabilities; fitted on the predictions made before learning.
        self.calibration = PowerCalibration()

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

    def _raw_proba(self, v: np.ndarray) -> dict[str, float]:
        if isinstance(self.model, LinearOvR):
            raw = self.model.proba(v.astype(np.float64))
        else:
            raw = self._river_proba(self._as_dict(v))
        proba = {c: float(raw.get(c, 0.0)) for c in self.classes}
        total = sum(proba.values())
        if total <= 0.0 or not np.isfinite(total):
            uniform = 1.0 / len(self._learned)
            return {c: (uniform if c in self._learned else 0.0) for c in self.classes}
        if abs(total - 1.0) > 1e-9:
            proba = {c: p / total for c, p in proba.items()}
        return proba

    def _river_proba(self, x: dict[int, float]) -> dict:
        # SWINN draws its search start point from its own RNG; restoring the state keeps
        # predictions free of side effects, so a replay reproduces the live learner exactly.
        rng = getattr(getattr(self._final_step(), "_nn", None), "_rng", None)
        state = rng.getstate() if rng is not None else None
        try:
            return self.model.predict_proba_one(x)
        finally:
            if rng is not None:
                rng.setstate(state)

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
        before: float | None = None
        if self.can_predict():
            raw = self._raw_proba(v)
            proba = self._calibrated(raw)
            before = proba.get(label, 0.0)
            self.progressive.update(max(proba, key=proba.__getitem__) == label)
            if label in self._learned:  # a class's first example says nothing about sharpness
                # Learned classes in the order first learned: the same live and in a replay
                # (which declares every class up front).
                learned = list(self._learned)
                seen = np.array([raw[c] for c in learned])
                self.calibration.record(seen, learned.index(label))
        if isinstance(self.model, LinearOvR):
            self.model.learn(v.astype(np.float64), label)
        else:
            self.model.learn_one(self._as_dict(v), label)
        self.n_features = v.shape[0]
        self._learned[label] = None
        if label not in self.classes:
            self.classes.append(label)
        self.n_learned += 1
        self._folded = None
        return before

    def replay(self, vectors: np.ndarray, labels: list[str]) -> None:
        """Extra learning steps on stored vectors of classes already learned (see teaching).

        Not a prediction: the progressive record, the scaler statistics and
        :attr:`n_learned` are unchanged. Only learners with :attr:`replay_steps` replay.
        """
        if not isinstance(self.model, LinearOvR):
            raise LearnerError(f"the {self.name} learner does not replay stored vectors")
        X = np.asarray(vectors, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features or len(X) != len(labels):
            raise LearnerError(
                f"expected ({len(labels)}, {self.n_features}) vectors, got {X.shape}"
            )
        unknown = set(labels) - set(self._learned)
        if unknown:
            raise LearnerError(f"cannot replay classes never learned: {sorted(unknown)}")
        self.model.replay(X.astype(np.float64), list(labels))
        self._folded = None

    def predict_proba(self, vector: np.ndarray) -> dict[str, float]:
        """Probability of every known class (0.0 if never learned); ``{}`` before two classes."""
        v = self._vector(vector)
        if not self.can_predict():
            return {}
        return self._calibrated(self._raw_proba(v))

    def _calibrated(self, raw: dict[str, float]) -> dict[str, float]:
        if self.calibration.power == 1.0:
            return raw
        sharp = self.calibration.apply(np.fromiter(raw.values(), np.float64))
        return dict(zip(raw, sharp.tolist(), strict=True))

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
        out = np.zeros((n, len(self.classes)), dtype=np.float64)
        for i, row in enumerate(X):
            out[i] = list(self._raw_proba(row).values())
        sharpen_rows(out, self.calibration.power)  # in float64, as predict_proba
        return out.astype(np.float32)

    # -- linear fast path --------------------------------------------------------------------

    def _linear_params(self) -> dict[str, Any]:
        learned = [c for c in self.classes if c in self._learned]
        if isinstance(self.model, LinearOvR):
            return numpy_params(self.model, learned)
        return river_softmax_params(self.model, learned, self.n_features or 0)

    def _folded_weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(W', b', column index)`` such that logits = X @ W' + b' in scaled space."""
        if self._folded is None:
            self._folded = fold(self._linear_params(), self.classes)
        return self._folded

    def _score_linear(self, X: np.ndarray) -> np.ndarray:
        return score_folded(
            self._folded_weights(),
            X,
            len(self.classes),
            self.name == "logistic",
            self.calibration.power,
        )

    def export_linear(self) -> dict[str, Any] | None:
        """Portable parameters of a linear learner (``None`` if non-linear or untrained).

        ``classes`` lists the learned classes (in :attr:`classes` order), one row of ``coef``
        (C, D) and ``intercept`` (C,) each. They apply to standardised features
        ``(x - mean) / scale``; a zero-variance feature (``scale == 0``) contributes nothing.
        ``power`` is the calibration: probabilities are ``p^power`` renormalised.
        """
        if self.name not in _LINEAR or not self.can_predict():
            return None
        p = self._linear_params()
        p["scale"] = np.sqrt(p["var"])
        p["kind"] = "ovr-logistic" if self.name == "logistic" else "softmax"
        p["power"] = self.calibration.power
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
        return pickle.loads(self.to_bytes())

    def to_bytes(self) -> bytes:
        """The pickle :meth:`save` streams to its file, as bytes (a snapshot written elsewhere)."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

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
        obj = read_pickle(resolved, "cannot read model snapshot", "model snapshot is damaged")
        return cls.checked(obj)

    @classmethod
    def checked(cls, obj: object) -> OnlineLearner:
        """``obj`` (just unpickled) if it is a learner this Loupe can use, else LearnerError."""
        if not isinstance(obj, cls):
            raise LearnerError(f"model snapshot is damaged: not a learner ({type(obj).__name__})")
        version = getattr(obj, "_format_version", None)
        if version != _FORMAT_VERSION:
            raise LearnerError(f"model snapshot was written by another Loupe (format {version})")
        if obj.name not in LEARNERS:
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
        """Teach ``(label, vector)`` events in order through :func:`~gui_app.core.teaching.teach`
        (keyed by position): the live learner taught the same events, replays included.

        ``progress(done, total)`` after every event; ``total`` defaults to ``len(events)``.
        """
        learner = cls(name, seed)
        learner.set_classes(classes)
        if total is None:
            total = len(events) if isinstance(events, Sized) else 0
        seen = KeyedVectors()
        for done, (label, vector) in enumerate(events, start=1):
            teach(learner, vector, label, done, seen)
            seen.add(done, vector)
            if progress is not None:
                progress(done, total)
        return learner
