"""The learners a user can choose, and how each one's (river or river-like) pipeline is built."""

from __future__ import annotations

from typing import Any

from river import compose, forest, linear_model, naive_bayes, neighbors, preprocessing

from gui_app.core.linear_sgd import LinearOvR

LEARNERS: tuple[str, ...] = ("logistic", "softmax", "gaussian-nb", "knn", "arf")
DEFAULT_LEARNER = "logistic"


def make_pipeline(name: str = "logistic", seed: int = 0) -> Any:
    """Build the (river or river-like) pipeline for a learner name.

    Parameters
    ----------
    name
        One of :data:`LEARNERS`.
    seed
        Seed for learners with internal randomness (``knn`` search graph, ``arf``).

    Returns
    -------
    river.compose.Pipeline or LinearOvR
        A fresh, untrained pipeline.
    """
    if name == "logistic":
        return LinearOvR()
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
