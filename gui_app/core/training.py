"""Headless training, prediction and evaluation over cached features (the tutorials as code).

Everything here streams over :meth:`FeatureStore.iter_blocks`, so a features file larger
than RAM is processed in constant memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from gui_app.core.errors import LoupeError
from gui_app.core.learner import OnlineLearner
from gui_app.core.store import FeatureStore
from gui_app.core.teaching import KeyedVectors, teach

LabelFn = Callable[[str], str | None]


class LabelSourceError(LoupeError, ValueError):
    """A --label-from value that cannot be used, with the reason."""


def label_source(spec: str) -> LabelFn:
    """Return a function mapping a relative path to its label (or None when unknown).

    ``filename`` takes the text before the first dot (``cat.12.jpg`` -> ``cat``), ``folder``
    the parent folder's name, anything else is a labels file: a CSV with columns
    ``path,label`` or a Loupe labels export (CSV or JSON).
    """
    if spec == "filename":
        return lambda rel: PurePosixPath(rel).name.split(".", 1)[0] or None
    if spec == "folder":
        return lambda rel: PurePosixPath(rel).parent.name or None
    path = Path(spec)
    if not path.is_file():
        raise LabelSourceError(
            f"--label-from must be 'filename', 'folder' or a CSV file; {spec!r} is none of these"
        )
    from gui_app.core.export import ExportError, import_labels

    try:
        return import_labels(path).get
    except ExportError as exc:
        raise LabelSourceError(exc.reason) from exc


def labelled_blocks(
    store: FeatureStore,
    label_of: LabelFn,
    *,
    block_rows: int = 4096,
    shuffle_seed: int | None = None,
) -> Iterator[tuple[list[str], list[str], np.ndarray]]:
    """Yield (paths, labels, vectors) blocks of labelled rows, optionally shuffled.

    With a seed, blocks are visited in a shuffled order and rows are shuffled within each
    block: a constant-memory approximation of a full shuffle (only one block of vectors is in
    memory, whatever the file size).
    """
    if shuffle_seed is None:
        blocks = store.iter_blocks(block_rows)
        rng = None
    else:
        rng = np.random.default_rng(shuffle_seed)
        rows = store.latest_rows()
        chunks = [rows[i : i + block_rows] for i in range(0, len(rows), block_rows)]
        order = rng.permutation(len(chunks))
        blocks = (store.read_rows(chunks[i]) for i in order)
    for paths, vectors in blocks:
        idx = np.arange(len(paths))
        if rng is not None:
            rng.shuffle(idx)
        keep = [(i, lab) for i in idx if (lab := label_of(paths[i])) is not None]
        if keep:
            picked = [i for i, _ in keep]
            yield [paths[i] for i in picked], [lab for _, lab in keep], vectors[picked]


def labelled_matrix(
    store: FeatureStore, label_of: LabelFn
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(paths, X (N, D) float32, y (N,) str) of every labelled row, in file order (in memory)."""
    paths: list[str] = []
    labels: list[str] = []
    blocks: list[np.ndarray] = []
    for block_paths, block_labels, vectors in labelled_blocks(store, label_of):
        paths += block_paths
        labels += block_labels
        blocks.append(vectors)
    X = np.concatenate(blocks) if blocks else np.zeros((0, store.dim), np.float32)
    return paths, X, np.asarray(labels, dtype=object)


def holdout_split(
    store: FeatureStore, label_of: LabelFn, fraction: float, seed: int
) -> tuple[LabelFn, LabelFn]:
    """Label functions of a seeded, stratified split: (training part, held-out part).

    Each class with at least two labelled rows puts ``round(fraction * n)`` of them (at least
    one, at most ``n - 1``) in the held-out part; a class with one row stays for training.
    Only paths are held in memory.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the held-out fraction must be between 0 and 1, got {fraction}")
    by_class: dict[str, list[str]] = {}
    for path in store.paths():
        label = label_of(path)
        if label is not None:
            by_class.setdefault(label, []).append(path)
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for label in sorted(by_class):
        paths = by_class[label]
        if len(paths) < 2:
            continue
        n = min(len(paths) - 1, max(1, round(fraction * len(paths))))
        held.update(paths[i] for i in rng.permutation(len(paths))[:n])
    return (
        lambda rel: None if rel in held else label_of(rel),
        lambda rel: label_of(rel) if rel in held else None,
    )


@dataclass
class TrainResult:
    """Outcome of a predict-then-learn pass."""

    learner: OnlineLearner
    samples: int = 0
    skipped: int = 0
    learn_ms: list[float] = field(default_factory=list)
    predict_ms: list[float] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.learner.progressive.accuracy or 0.0


def train_stream(
    store: FeatureStore,
    label_of: LabelFn,
    learner: OnlineLearner,
    *,
    shuffle_seed: int | None = None,
    progress: Callable[[int], None] | None = None,
    time_every: int = 10,
) -> TrainResult:
    """One predict-then-learn pass over every labelled row (the creme tutorial's loop).

    Each row is taught as the app teaches a label (:func:`~gui_app.core.teaching.teach`:
    learn, then replay earlier rows), so a trained model equals a session's model given the
    same labels in the same order; only the vectors the replay memory may still use are
    kept. The predict before learning drives the progressive
    accuracy; every ``time_every``-th sample also times a separate ``predict_proba``. The
    learn times include the replays.
    """
    result = TrainResult(learner)
    seen = KeyedVectors()
    for _paths, labels, vectors in labelled_blocks(store, label_of, shuffle_seed=shuffle_seed):
        for vector, label in zip(vectors, labels, strict=True):
            if time_every and result.samples % time_every == 0 and learner.can_predict():
                t0 = time.perf_counter()
                learner.predict_proba(vector)
                result.predict_ms.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            teach(learner, vector, label, result.samples, seen)
            seen.add(result.samples, vector)
            result.learn_ms.append((time.perf_counter() - t0) * 1e3)
            result.samples += 1
        seen.keep_only(learner.memory.keys)  # memory stays bounded by what may be replayed
        if progress is not None:
            progress(len(labels))
    return result


def percentiles(values: list[float]) -> tuple[float, float]:
    """(p50, p99) of a list of milliseconds, zeros when empty."""
    if not values:
        return 0.0, 0.0
    arr = np.asarray(values)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def iter_predictions(
    store: FeatureStore, learner: OnlineLearner, *, block_rows: int = 4096
) -> Iterator[tuple[list[str], np.ndarray]]:
    """Yield (paths, probabilities) per block, columns in ``learner.classes`` order."""
    for paths, vectors in store.iter_blocks(block_rows):
        yield paths, learner.score_many(vectors)


Metrics = tuple[float, float, float]  # precision, recall, F1


@dataclass
class Evaluation:
    """Per-class precision, recall, F1 and a confusion matrix (rows: truth, cols: predicted)."""

    classes: list[str]
    confusion: np.ndarray
    unknown_truth: int = 0

    @property
    def total(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / self.total) if self.total else 0.0

    def per_class(self) -> list[tuple[str, float, float, float, int]]:
        """(class, precision, recall, f1, support) rows."""
        rows = []
        for i, name in enumerate(self.classes):
            tp = self.confusion[i, i]
            predicted = self.confusion[:, i].sum()
            support = self.confusion[i, :].sum()
            precision = tp / predicted if predicted else 0.0
            recall = tp / support if support else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            rows.append((name, float(precision), float(recall), float(f1), int(support)))
        return rows

    def averages(self) -> dict[str, Metrics]:
        """``macro`` (plain mean over classes with support) and ``weighted`` (by support).

        Classes the evaluated rows never contain (support 0) are left out of both, as
        scikit-learn's ``classification_report`` does for the labels it is given.
        """
        rows = [r for r in self.per_class() if r[4] > 0]
        if not rows:
            return {"macro": (0.0, 0.0, 0.0), "weighted": (0.0, 0.0, 0.0)}
        metrics = np.array([r[1:4] for r in rows], np.float64)
        support = np.array([r[4] for r in rows], np.float64)
        macro = metrics.mean(axis=0)
        weighted = (metrics * support[:, None]).sum(axis=0) / support.sum()
        return {"macro": tuple(map(float, macro)), "weighted": tuple(map(float, weighted))}

    def format(self) -> str:
        """A plain-text report: metrics per class and averaged, accuracy, confusion matrix."""
        averages = self.averages()
        width = max([len(c) for c in self.classes] + [len("weighted avg")])
        lines = [f"{'class':<{width}}  precision  recall  f1      support"]
        for name, p, r, f1, n in self.per_class():
            lines.append(f"{name:<{width}}  {p:9.4f}  {r:6.4f}  {f1:6.4f}  {n:7d}")
        lines.append("")
        for key in ("macro", "weighted"):
            p, r, f1 = averages[key]
            lines.append(f"{key + ' avg':<{width}}  {p:9.4f}  {r:6.4f}  {f1:6.4f}  {self.total:7d}")
        lines.append(f"accuracy: {self.accuracy:.4f} over {self.total} samples")
        if self.unknown_truth:
            lines.append(
                f"skipped {self.unknown_truth} samples whose true class the model never saw"
            )
        lines.append("")
        lines.append("confusion matrix (rows: true class, columns: predicted class)")
        cell = max([len(c) for c in self.classes] + [len(str(self.confusion.max(initial=0)))])
        lines.append(" " * width + "  " + "  ".join(f"{c:>{cell}}" for c in self.classes))
        for name, row in zip(self.classes, self.confusion, strict=True):
            lines.append(f"{name:<{width}}  " + "  ".join(f"{v:{cell}d}" for v in row))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The JSON form (see the README's ``evaluate --json``)."""
        averages = self.averages()
        return {
            "samples": self.total,
            "accuracy": self.accuracy,
            "classes": [
                {"name": n, "precision": p, "recall": r, "f1": f1, "support": s}
                for n, p, r, f1, s in self.per_class()
            ],
            **{
                key: dict(zip(("precision", "recall", "f1"), averages[key], strict=True))
                for key in ("macro", "weighted")
            },
            "confusion": self.confusion.tolist(),
            "skipped_unknown_class": self.unknown_truth,
        }


def evaluate(store: FeatureStore, label_of: LabelFn, learner: OnlineLearner) -> Evaluation:
    """Score every labelled row with the learner and tally the confusion matrix."""
    classes = list(learner.classes)
    index = {c: i for i, c in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    unknown = 0
    for _paths, labels, vectors in labelled_blocks(store, label_of):
        probs = learner.score_many(vectors)
        if probs.shape[1] == 0:
            unknown += len(labels)
            continue
        predicted = probs.argmax(axis=1)
        for truth, pred in zip(labels, predicted, strict=True):
            if truth not in index:
                unknown += 1
                continue
            confusion[index[truth], pred] += 1
    return Evaluation(classes, confusion, unknown)
