"""Headless training, prediction and evaluation over cached features (the tutorials as code).

Everything here streams over :meth:`FeatureStore.iter_blocks`, so a features file larger
than RAM is processed in constant memory.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from gui_app.core.errors import LoupeError
from gui_app.core.learner import OnlineLearner
from gui_app.core.store import FeatureStore

LabelFn = Callable[[str], str | None]


class LabelSourceError(LoupeError, ValueError):
    """A --label-from value that cannot be used, with the reason."""


def label_source(spec: str) -> LabelFn:
    """Return a function mapping a relative path to its label (or None when unknown).

    ``filename`` takes the text before the first dot (``cat.12.jpg`` -> ``cat``), ``folder``
    the parent folder's name, anything else is a CSV file with columns ``path,label``.
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
    table: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise LabelSourceError(f"{path} needs the columns 'path,label'")
        for row in reader:
            if row["path"] and row["label"]:
                table[PurePosixPath(row["path"].replace("\\", "/")).as_posix()] = row["label"]
    return table.get


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

    ``learner.learn`` predicts before learning, which drives the progressive accuracy; every
    ``time_every``-th sample also times a separate ``predict_proba`` for the latency figures.
    """
    result = TrainResult(learner)
    for _paths, labels, vectors in labelled_blocks(store, label_of, shuffle_seed=shuffle_seed):
        for vector, label in zip(vectors, labels, strict=True):
            if time_every and result.samples % time_every == 0 and learner.can_predict():
                t0 = time.perf_counter()
                learner.predict_proba(vector)
                result.predict_ms.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            learner.learn(vector, label)
            result.learn_ms.append((time.perf_counter() - t0) * 1e3)
            result.samples += 1
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

    def format(self) -> str:
        """A plain-text report with the metrics table and the confusion matrix."""
        width = max([len(c) for c in self.classes] + [9])
        lines = [f"{'class':<{width}}  precision  recall  f1      support"]
        for name, p, r, f1, n in self.per_class():
            lines.append(f"{name:<{width}}  {p:9.4f}  {r:6.4f}  {f1:6.4f}  {n:7d}")
        lines.append(f"accuracy: {self.accuracy:.4f} over {self.total} samples")
        if self.unknown_truth:
            lines.append(
                f"skipped {self.unknown_truth} samples whose true class the model never saw"
            )
        lines.append("")
        lines.append("confusion matrix (rows: true class, columns: predicted class)")
        lines.append(" " * width + "  " + "  ".join(f"{c[:8]:>8}" for c in self.classes))
        for name, row in zip(self.classes, self.confusion, strict=True):
            lines.append(f"{name:<{width}}  " + "  ".join(f"{v:8d}" for v in row))
        return "\n".join(lines)


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
