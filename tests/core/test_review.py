"""Bulk review: nearest neighbours, threshold ranking, class split (gui_app.core.review)."""

from __future__ import annotations

import numpy as np
import pytest

from gui_app.core import review
from gui_app.core.review import (
    CosineIndex,
    ReviewError,
    nearest,
    query_vector,
    rank_for_threshold,
    rank_split,
    two_group_cut,
)


def table(n: int = 300, d: int = 16, absent: tuple[int, ...] = (3, 50, 299), seed: int = 0):
    """A matrix with some all-zero (absent) rows and its cosine index."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    present = np.ones(n, bool)
    present[list(absent)] = False
    x[~present] = 0.0
    index = CosineIndex()
    index.sync(x, present)
    return x, present, index


def brute_force(x, present, query, candidates=None):
    """Every allowed row sorted by cosine similarity to the mean normalised query vector."""
    units = x.astype(np.float64)
    norms = np.linalg.norm(units, axis=1)
    units[present] /= norms[present, None]
    q = units[query].mean(axis=0)
    q /= np.linalg.norm(q)
    sims = units @ q
    allowed = present.copy()
    if candidates is not None:
        allowed &= candidates
    allowed[query] = False
    rows = np.flatnonzero(allowed)
    order = np.lexsort((rows, -sims[rows]))
    return rows[order], sims[rows][order]


@pytest.mark.parametrize("query", [[7], [7, 8, 120], [0, 298]])
def test_neighbours_are_exactly_the_brute_force_ranking(query, monkeypatch):
    x, present, index = table()
    monkeypatch.setattr(review, "NEIGHBOUR_CHUNK", 37)  # several chunks, a ragged last one
    found = nearest(x, index.inv_norms(len(x)), query, k=None)
    rows, sims = brute_force(x, present, query)
    np.testing.assert_array_equal(found.rows, rows)
    np.testing.assert_allclose(found.scores, sims, atol=1e-5)
    assert not set(query) & set(found.rows.tolist())
    assert not set(np.flatnonzero(~present)) & set(found.rows.tolist())


def test_neighbours_top_k_and_candidates_only():
    x, present, index = table()
    unlabelled = np.zeros(len(x), bool)
    unlabelled[::3] = True
    found = nearest(x, index.inv_norms(len(x)), [10], k=12, candidates=unlabelled)
    rows, sims = brute_force(x, present, [10], unlabelled)
    np.testing.assert_array_equal(found.rows, rows[:12])
    np.testing.assert_allclose(found.scores, sims[:12], atol=1e-5)
    assert np.all(found.rows % 3 == 0)


def test_neighbours_stop_when_asked_and_refuse_queries_without_vectors():
    x, _present, index = table()
    inv = index.inv_norms(len(x))
    assert nearest(x, inv, [1], should_stop=lambda: True) is None
    with pytest.raises(ReviewError, match="features"):
        nearest(x, inv, [3, 50])  # both absent
    with pytest.raises(ReviewError, match="out of range"):
        query_vector(x, inv, [len(x)])


def test_cosine_index_follows_arriving_and_replaced_vectors():
    x, _present, index = table(n=20, absent=(5,))
    assert index.inv_norms(20)[5] == 0.0
    x[5] = 2.0
    assert index.sync(x, np.ones(20, bool)) == 1  # only the new row is computed
    assert index.inv_norms(20)[5] == pytest.approx(1 / np.linalg.norm(x[5]))
    x[6] *= 10  # a re-extracted file: the caller passes the new vector
    index.update([6], x[6:7])
    assert index.inv_norms(20)[6] == pytest.approx(1 / np.linalg.norm(x[6]))
    copy = index.inv_norms(25)
    assert copy.shape == (25,) and copy[20:].sum() == 0.0
    copy[:] = 7.0  # a copy: the index is untouched
    assert index.inv_norms(20)[0] != 7.0
    index.clear()
    assert index.inv_norms(20).sum() == 0.0


def test_threshold_counts_match_a_direct_count_for_every_threshold():
    rng = np.random.default_rng(1)
    probs = rng.random((500, 3)).astype(np.float32)
    probs[:40, 1] = 0.5  # ties, and values exactly at a threshold
    candidates = rng.random(500) < 0.7
    ranking = rank_for_threshold(probs, ["a", "b", "c"], "b", candidates)
    column = probs[:, 1]
    thresholds = np.linspace(0, 1, 101)
    for t in thresholds:
        expected = np.count_nonzero(candidates & (column >= np.float32(t)))
        assert ranking.count_at(t) == expected
    np.testing.assert_array_equal(
        ranking.counts_at(thresholds), [ranking.count_at(t) for t in thresholds]
    )
    top = ranking.rows_at(0.5)
    assert len(top) == ranking.count_at(0.5)
    assert np.all(candidates[top]) and np.all(np.diff(column[top]) <= 0)
    tied = top[column[top] == np.float32(0.5)]
    assert np.all(np.diff(tied) > 0)  # ties in row order


def test_threshold_needs_a_learned_class():
    with pytest.raises(ReviewError, match="no predictions"):
        rank_for_threshold(np.zeros((4, 2), np.float32), ["a", "b"], "c", np.ones(4, bool))


def two_groups(n_a: int = 60, n_b: int = 30, d: int = 24, seed: int = 2):
    """One old class made of two groups A and B (rows 0..n_a-1 and n_a..)."""
    rng = np.random.default_rng(seed)
    base_a, base_b = rng.normal(size=d), rng.normal(size=d)
    a = base_a + 0.35 * rng.normal(size=(n_a, d))
    b = base_b + 0.35 * rng.normal(size=(n_b, d))
    x = np.vstack([a, b, rng.normal(size=(10, d))]).astype(np.float32)  # + 10 other images
    index = CosineIndex()
    index.sync(x, np.ones(len(x), bool))
    return x, index.inv_norms(len(x)), np.arange(n_a), np.arange(n_a, n_a + n_b)


@pytest.mark.parametrize("max_references", [1000, 20])
def test_split_ranks_the_new_group_first(max_references):
    x, inv, group_a, group_b = two_groups()
    new = group_b[:3]
    old = np.concatenate([group_a, group_b])  # the old class still holds the new examples
    ranked = rank_split(x, inv, new, old, max_references=max_references)
    rest_b = set(group_b[3:].tolist())
    assert len(ranked) == len(old) - 3 and not set(new.tolist()) & set(ranked.rows.tolist())
    assert set(ranked.rows[: len(rest_b)].tolist()) == rest_b
    assert ranked.suggested == len(rest_b)
    assert np.all(np.diff(ranked.scores) <= 0)


def test_split_edge_cases():
    x, inv, group_a, group_b = two_groups()
    with pytest.raises(ReviewError, match="features"):
        rank_split(x, np.zeros_like(inv), group_b[:2], group_a)
    assert len(rank_split(x, inv, group_b, group_b)) == 0  # nothing left in the old class
    one = rank_split(x, inv, group_b[:2], [int(group_a[0])])
    assert one.rows.tolist() == [int(group_a[0])] and np.isfinite(one.scores).all()
    assert one.suggested == 0


def test_two_group_cut():
    assert two_group_cut(np.array([0.9, 0.85, 0.8, 0.1, 0.05])) == 3
    assert two_group_cut(np.array([0.5, 0.5, 0.5])) == 0
    assert two_group_cut(np.array([0.3])) == 0
    assert two_group_cut(np.array([0.9, 0.5, 0.5, 0.5, 0.1])) in (1, 4)  # never inside a tie
