"""Suspect labels: journal priors, the cross-validated re-check and their combination."""

from __future__ import annotations

import numpy as np
import pytest

from gui_app.core.journal_reader import iter_journal
from gui_app.core.project import Project
from gui_app.core.recheck import (
    RecheckError,
    cross_check,
    cross_check_snapshot,
    fit_temperature,
    loo_ridge_scores,
)
from gui_app.core.session import LabelingSession
from gui_app.core.suspects import (
    JournalPriors,
    find_suspects,
    journal_priors,
    suspect_reason,
)

DIM = 16


def blobs(n: int = 150, classes: str = "abc", seed: int = 0, spread: float = 0.8):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, (len(classes), DIM))
    truth = [classes[i % len(classes)] for i in range(n)]
    x = centers[np.arange(n) % len(classes)] + rng.normal(0, spread, (n, DIM))
    return [f"img{i:03d}.jpg" for i in range(n)], x.astype(np.float32), truth


@pytest.fixture
def session(tmp_path):
    (tmp_path / "imgs").mkdir()
    s = LabelingSession(Project(tmp_path / "imgs"))
    yield s
    s.close()


def flipped_labels(truth: list[str], k: int, seed: int) -> tuple[list[str], set[int]]:
    rng = np.random.default_rng(seed)
    flips = set(rng.choice(len(truth), k, replace=False).tolist())
    classes = sorted(set(truth))
    noisy = [
        classes[(classes.index(c) + 1) % len(classes)] if i in flips else c
        for i, c in enumerate(truth)
    ]
    return noisy, flips


@pytest.mark.parametrize(("n", "d"), [(30, 50), (60, 8)])  # dual (n <= D) and primal paths
def test_leave_one_out_formula_equals_refitting_without_each_image(n, d):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(n, d))
    z -= z.mean(axis=0)
    t = np.eye(3)[rng.integers(0, 3, n)]
    t -= t.mean(axis=0)
    alphas = (0.3, 3.0)
    fast = loo_ridge_scores(z, t, alphas)
    for alpha, got in zip(alphas, fast, strict=True):
        for i in range(n):
            keep = np.arange(n) != i
            zk, tk = z[keep], t[keep]
            w = np.linalg.solve(zk.T @ zk + alpha * n * np.eye(d), zk.T @ tk)
            np.testing.assert_allclose(got[i], z[i] @ w, atol=2e-4)


def test_temperature_is_the_likelihood_maximum():
    rng = np.random.default_rng(4)
    scores = rng.normal(size=(200, 4))
    y = scores.argmax(axis=1)
    y[:30] = rng.integers(0, 4, 30)
    t, best = fit_temperature(scores, y)
    for other in (t * 0.8, t * 1.25):
        z = scores * other
        lse = np.log(np.exp(z).sum(axis=1))
        assert np.mean(z[np.arange(200), y] - lse) < best


def test_cross_check_ranks_the_flipped_labels_first():
    paths, x, truth = blobs(n=180, spread=1.2)
    noisy, flips = flipped_labels(truth, 9, seed=1)
    check = cross_check(paths, noisy, x, head=7)
    assert check.head == 7 and check.probabilities.shape == (180, 3)
    np.testing.assert_allclose(check.probabilities.sum(axis=1), 1.0, atol=1e-5)
    column = {c: i for i, c in enumerate(check.classes)}
    own = check.probabilities[np.arange(180), [column[c] for c in noisy]]
    top = set(np.argsort(own)[:9].tolist())
    assert len(top & flips) >= 8


def test_cross_check_leaves_small_classes_unjudged_and_needs_two_classes():
    paths, x, truth = blobs(n=40)
    labels = list(truth)
    labels[0] = labels[1] = "rare"
    check = cross_check(paths, labels, x)
    assert np.isnan(check.probabilities[:2]).all()
    assert np.isfinite(check.probabilities[2:]).all()
    single = cross_check(paths[:5], ["a"] * 5, x[:5])
    assert np.isnan(single.probabilities).all()
    x_bad = x.copy()
    x_bad[0, 0] = np.nan
    with pytest.raises(RecheckError, match="NaN"):
        cross_check(paths, labels, x_bad)
    with pytest.raises(RecheckError, match="expected"):
        cross_check(paths, labels[:-1], x)


def check_labels(labels: dict[str, str], paths: list[str], x: np.ndarray):
    """The re-check of the current labels, as the window runs it."""
    rows = [paths.index(p) for p in labels]
    return cross_check(list(labels), list(labels.values()), x[rows])


def label_in_order(session, paths, x, labels, seed=0):
    session.add_vectors(paths, x)
    for i in np.random.default_rng(seed).permutation(len(paths)):
        session.label(paths[i], labels[i])


def test_suspects_found_live_from_journal_and_re_check(session):
    paths, x, truth = blobs(n=150, spread=1.1)
    noisy, flips = flipped_labels(truth, 8, seed=2)
    label_in_order(session, paths, x, noisy)
    priors = journal_priors(session.journal())
    labels = session.labels_by_path()
    check = check_labels(labels, paths, x)
    matrix, present = session.feature_snapshot()
    snapshot = cross_check_snapshot(dict(labels), session.image_index()[1], matrix, present)
    assert sorted(snapshot.paths) == sorted(check.paths)
    order = [snapshot.paths.index(p) for p in check.paths]
    np.testing.assert_allclose(snapshot.probabilities[order], check.probabilities, atol=1e-5)
    flipped = {paths[i] for i in flips}
    for recheck, prior in ((check, priors), (None, priors), (check, {})):
        ranked = find_suspects(labels, prior, recheck, max_own=1.0)
        assert len({s.path for s in ranked[:8]} & flipped) >= 6
    listed = find_suspects(labels, priors, check)
    assert listed and all(s.score >= 0.5 for s in listed)
    first = listed[0]
    assert first.path in flipped and first.reason.startswith(f"labelled {first.label}; ")
    assert first.before is not None and first.after is not None
    assert first.before[0] != first.label


def test_first_examples_and_relabels_have_no_journal_evidence(session):
    paths, x, truth = blobs(n=30)
    session.add_vectors(paths, x)
    for p, c in zip(paths[:12], truth[:12], strict=True):
        session.label(p, c)
    priors = journal_priors(session.journal())
    # The first three images of each class were predicted before the model knew it well.
    assert not {"img000.jpg", "img001.jpg", "img002.jpg", "img003.jpg"} & set(priors)
    assert {"img009.jpg", "img010.jpg", "img011.jpg"} <= set(priors)
    session.label("img009.jpg", "b")  # relabel: predicted by a model that learned it as "a"
    session.label("img010.jpg", truth[10])  # confirm: keeps the evidence of the first label
    again = journal_priors(session.journal())
    assert "img009.jpg" not in again
    assert again["img010.jpg"] == priors["img010.jpg"]


def test_priors_follow_renames_merges_deletions_and_undo(session):
    paths, x, truth = blobs(n=30, classes="abcd")
    session.add_vectors(paths, x)
    for p, c in zip(paths[:24], truth[:24], strict=True):
        session.label(p, c)
    state = JournalPriors()
    state.refresh(session.journal)
    before = state.priors()
    probe = next(p for p, prior in before.items() if prior.label == "a")
    session.rename_class("a", "Forest")
    session.merge_classes("b", "c")
    state.refresh(session.journal)
    after = state.priors()
    assert after[probe].label == "Forest"
    got, old = after[probe].probabilities, before[probe].probabilities
    assert set(got) == {"Forest", "c", "d"}
    assert got["Forest"] == pytest.approx(old["a"])
    assert got["c"] == pytest.approx(old["b"] + old["c"])
    b_image = next(p for p, prior in before.items() if prior.label == "b")
    assert after[b_image].label == "c"
    session.delete_class("d")
    state.refresh(session.journal)
    deleted = state.priors()
    assert all(prior.label != "d" for prior in deleted.values())
    assert set(deleted[probe].probabilities) == {"Forest", "c"}
    assert sum(deleted[probe].probabilities.values()) == pytest.approx(1.0)
    session.undo()  # the deletion: its images and their evidence come back
    state.refresh(session.journal)
    assert state.priors() == after
    assert journal_priors(session.journal()) == after
    worker = JournalPriors()  # as a worker thread reads it: its own connection, an iterator
    worker.refresh(lambda since: iter_journal(session.project.labels_path, since))
    assert worker.priors() == after
    session.unlabel(probe)
    state.refresh(session.journal)
    assert probe not in state.priors()


def test_reviewed_images_are_excluded_until_relabelled(session):
    paths, x, truth = blobs(n=90, spread=1.0)
    noisy, _flips = flipped_labels(truth, 5, seed=3)
    label_in_order(session, paths, x, noisy)
    labels = session.labels_by_path()
    check = check_labels(labels, paths, x)
    priors = journal_priors(session.journal())
    top = find_suspects(labels, priors, check)[0]
    session.mark_reviewed(top.path)
    kept = find_suspects(labels, priors, check, session.marked("reviewed"))
    assert top.path not in {s.path for s in kept}
    assert len(kept) == len(find_suspects(labels, priors, check)) - 1
    session.label(top.path, top.label if top.label != "a" else "b")  # a new label clears it
    assert top.path not in session.marked("reviewed")


def test_reason_texts():
    assert (
        suspect_reason("Forest", ("River", 0.94), ("River", 0.941))
        == "labelled Forest; the model said River 0.94 before and after"
    )
    assert (
        suspect_reason("Forest", ("River", 0.94), ("River", 0.81))
        == "labelled Forest; the model said River 0.94 before, 0.81 after"
    )
    assert (
        suspect_reason("Forest", ("River", 0.94), ("Pasture", 0.6))
        == "labelled Forest; the model said River 0.94 before, Pasture 0.60 after"
    )
    assert (
        suspect_reason("Forest", None, ("Forest", 0.41))
        == "labelled Forest; the model said Forest only 0.41 in a cross-check"
    )
    assert (
        suspect_reason("Forest", ("River", 0.7), None)
        == "labelled Forest; the model said River 0.70 before learning it"
    )
    assert suspect_reason("Forest", None, None) == "labelled Forest"
