"""The offline batch model: cross-validated C, sklearn-exact probabilities, exportable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gui_app.core.batch_model import (
    BatchModel,
    BatchModelError,
    fit_batch_model,
    load_model,
)
from gui_app.core.learner import LearnerError, OnlineLearner


def blobs(classes: int, n: int = 40, dim: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2.5, (classes, dim))
    y = np.repeat([f"c{i}" for i in range(classes)], n)
    X = np.concatenate([centers[i] + rng.normal(0, 1, (n, dim)) for i in range(classes)])
    X[:, 0] = 3.0  # a constant feature (zero variance)
    return X.astype(np.float32), y


@pytest.mark.parametrize("classes", [2, 3])
def test_probabilities_equal_sklearn_and_c_is_cross_validated(classes: int) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = blobs(classes)
    model = fit_batch_model(X, y, grid=(0.01, 1.0), folds=4, seed=1)
    assert model.C in (0.01, 1.0) and model.folds == 4 and model.n_samples == len(y)
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=model.C, max_iter=2000))
    cv = StratifiedKFold(4, shuffle=True, random_state=1)
    scores = {c: cross_val_score(reference.set_params(logisticregression__C=c), X, y, cv=cv)
              for c in (0.01, 1.0)}  # fmt: skip
    assert model.cv_scores == pytest.approx({c: s.mean() for c, s in scores.items()})
    assert model.cv_accuracy == pytest.approx(max(model.cv_scores.values()))
    reference.set_params(logisticregression__C=model.C).fit(X, y)
    test = blobs(classes, n=5, seed=7)[0]
    np.testing.assert_allclose(model.score_many(test), reference.predict_proba(test), atol=1e-6)
    assert model.classes == list(reference.classes_)
    one = model.predict_proba(test[0])
    assert list(one) == model.classes and abs(sum(one.values()) - 1) < 1e-6


def test_portable_export_reproduces_the_batch_model(tmp_path: Path) -> None:
    from gui_app.core.export_model import export_portable, load_portable

    X, y = blobs(3)
    model = fit_batch_model(X, y, folds=3)
    export_portable(model, "bb", tmp_path / "portable")
    portable = load_portable(tmp_path / "portable")
    assert portable.classes == model.classes and portable.kind == "softmax"
    np.testing.assert_allclose(portable.predict_proba(X[:20]), model.score_many(X[:20]), atol=1e-6)


def test_save_load_and_model_files_of_both_kinds(tmp_path: Path) -> None:
    X, y = blobs(2)
    model = fit_batch_model(X, y, folds=3)
    model.save(tmp_path / "batch.pkl")
    loaded = load_model(tmp_path / "batch.pkl")
    assert isinstance(loaded, BatchModel)
    np.testing.assert_array_equal(loaded.score_many(X[:5]), model.score_many(X[:5]))
    online = OnlineLearner()
    online.learn(X[0], "c0")
    online.save(tmp_path / "online.pkl")
    assert isinstance(load_model(tmp_path / "online.pkl"), OnlineLearner)
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(LearnerError, match="not a Loupe model"):
        load_model(tmp_path / "junk.pkl")
    with pytest.raises(LearnerError, match="cannot read"):
        load_model(tmp_path / "missing.pkl")


def test_too_few_labels_are_refused_with_the_reason() -> None:
    X, y = blobs(2, n=3)
    with pytest.raises(BatchModelError, match="at least two classes"):
        fit_batch_model(X[:3], y[:3])
    with pytest.raises(BatchModelError, match="only one for: c1"):
        fit_batch_model(X[:4], y[:4])
    assert fit_batch_model(X, y, folds=5).folds == 3  # lowered to the smallest class
