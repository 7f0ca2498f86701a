"""Streaming predict-then-learn over the feature store (what `loupe train` runs)."""

from __future__ import annotations

import numpy as np

from gui_app.core.learner import OnlineLearner
from gui_app.core.store import FeatureStore, FileKey
from gui_app.core.training import evaluate, label_source, labelled_blocks, train_stream


def make_store(tmp_path, n=120, dim=8):
    rng = np.random.default_rng(0)
    store = FeatureStore(tmp_path / "f.h5", "bb", dim)
    labels = ["cat" if i % 2 else "dog" for i in range(n)]
    centers = {"cat": np.full(dim, 2.0), "dog": np.full(dim, -2.0)}
    vectors = np.stack([centers[lab] + rng.normal(0, 1, dim) for lab in labels]).astype(np.float32)
    store.append([FileKey(f"{lab}.{i}.jpg", 1, 1) for i, lab in enumerate(labels)], vectors)
    return store


def test_shuffled_blocks_visit_every_labelled_row_once_in_a_new_order(tmp_path):
    store = make_store(tmp_path)
    label_of = label_source("filename")
    plain = [p for paths, _l, _v in labelled_blocks(store, label_of, block_rows=16) for p in paths]
    shuffled = [
        p
        for paths, _l, _v in labelled_blocks(store, label_of, block_rows=16, shuffle_seed=3)
        for p in paths
    ]
    assert sorted(plain) == sorted(shuffled) and len(shuffled) == 120
    assert plain != shuffled
    again = [
        p
        for paths, _l, _v in labelled_blocks(store, label_of, block_rows=16, shuffle_seed=3)
        for p in paths
    ]
    assert again == shuffled  # a seed gives the same pass
    store.close()


def test_train_stream_learns_and_evaluates(tmp_path):
    store = make_store(tmp_path)
    result = train_stream(store, label_source("filename"), OnlineLearner(), shuffle_seed=0)
    assert result.samples == 120 and result.accuracy > 0.9
    report = evaluate(store, label_source("filename"), result.learner)
    assert report.total == 120 and report.accuracy > 0.9
    assert "confusion matrix" in report.format()
    store.close()


def test_evaluation_averages_match_sklearn_and_names_are_whole():
    from sklearn.metrics import precision_recall_fscore_support

    from gui_app.core.training import Evaluation

    classes = ["a very long class name", "b", "c"]
    confusion = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])
    report = Evaluation(classes, confusion)
    truth = np.repeat(np.arange(3), confusion.sum(axis=1))
    predicted = np.concatenate([np.repeat(np.arange(3), row) for row in confusion])
    for key in ("macro", "weighted"):
        want = precision_recall_fscore_support(truth, predicted, average=key)[:3]
        np.testing.assert_allclose(report.averages()[key], want)
    text = report.format()
    assert "macro avg" in text and "weighted avg" in text
    header = text.splitlines()[text.splitlines().index(
        "confusion matrix (rows: true class, columns: predicted class)") + 1]  # fmt: skip
    assert "a very long class name" in header  # no 8-character cut
    data = report.to_dict()
    assert data["samples"] == 16 and data["confusion"] == confusion.tolist()
    assert [c["name"] for c in data["classes"]] == classes


def test_holdout_split_is_stratified_seeded_and_disjoint(tmp_path):
    from gui_app.core.training import holdout_split

    store = make_store(tmp_path)
    label_of = label_source("filename")
    train_of, test_of = holdout_split(store, label_of, 0.25, seed=4)
    paths = store.paths()
    held = [p for p in paths if test_of(p) is not None]
    kept = [p for p in paths if train_of(p) is not None]
    assert len(held) == 30 and len(kept) == 90 and not set(held) & set(kept)
    assert sum(p.startswith("cat") for p in held) == 15  # per class
    again = holdout_split(store, label_of, 0.25, seed=4)[1]
    assert [p for p in paths if again(p) is not None] == held
    store.close()


def test_train_stream_teaches_as_a_session_does(tmp_path):
    """`loupe train` and the app give the same model for the same labels in the same order."""
    store = make_store(tmp_path, n=60)
    label_of = label_source("filename")
    events = [
        (label, vector)
        for _paths, labels, vectors in labelled_blocks(store, label_of, block_rows=16)
        for label, vector in zip(labels, vectors, strict=True)
    ]
    trained = train_stream(store, label_of, OnlineLearner(), time_every=0)
    rebuilt = OnlineLearner.rebuild("logistic", events, ["cat", "dog"])
    assert trained.learner.replay_steps > 0
    probe = np.stack([v for _l, v in events[:10]])
    columns = [trained.learner.classes.index(c) for c in rebuilt.classes]
    np.testing.assert_allclose(
        trained.learner.score_many(probe)[:, columns], rebuilt.score_many(probe), atol=1e-12
    )
    store.close()
