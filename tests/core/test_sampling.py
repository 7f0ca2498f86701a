"""Next (F10): Teach, Audit and In order, cold start, audits and reasons (gui_app.core.sampling)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from gui_app.core.project import Project
from gui_app.core.sampling import (
    AUDIT_PICKS,
    PICKS,
    SamplingSettings,
    available_rows,
    cold_start,
    next_pick,
    pick_for,
)
from gui_app.core.session import LabelingSession

DIM = 16
CLASSES = ("cat", "dog", "fox", "owl", "elk")


def blobs(sizes=(120, 30, 30, 30, 30), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs, one per class, of very different sizes (the first one dominates)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (len(sizes), DIM))
    y = np.repeat(np.arange(len(sizes)), sizes)
    X = centres[y] + rng.normal(0, 1.0, (len(y), DIM))
    return X.astype(np.float32), y


@pytest.fixture
def session(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    s = LabelingSession(Project(root))
    X, y = blobs()
    paths = [f"{CLASSES[c]}.{i:03d}.jpg" for i, c in enumerate(y)]
    s.add_vectors(paths, X)
    yield s
    s.close()


def truth(path: str) -> str:
    return path.split(".")[0]


def test_cold_start_is_typical_diverse_and_not_one_class(session):
    cold = cold_start(session.vectors.matrix, session.present_rows(), clusters=8, seed=1)
    assert cold is not None and cold.clusters == 8
    shown, rows = [], []
    for _ in range(8):
        pick = pick_for(session, "teach", cold=cold)
        assert pick.kind == "typical" and pick.reason.startswith("typical of")
        rows.append(pick.row)
        shown.append(truth(session.image_paths()[pick.row]))
        event = session.label(session.image_paths()[pick.row], "seen", pick=pick.kind).event
        stored = session.journal(since=event.seq - 1)[0]
        assert stored.data["pick"] == "typical"  # why it was shown is kept in the journal
    # One class only labelled: the model cannot rank, so every pick is a cold-start pick.
    assert len(set(shown)) == len(CLASSES)  # every blob reached, though one holds 50 %
    assert shown.count("cat") <= 4
    X = session.vectors.matrix[rows]
    gaps = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))[np.triu_indices(len(rows), 1)]
    assert gaps.min() > 1.0  # never two near-duplicates (noise scale is 1)


def test_first_cold_picks_say_unlabelled_cluster(session):
    cold = cold_start(session.vectors.matrix, session.present_rows(), clusters=5, seed=0)
    first = pick_for(session, "teach", cold=cold)
    assert first.reason == "typical of an unlabelled cluster"
    assert cold.typicality[first.row] > np.median(
        cold.typicality[cold.cluster == cold.cluster[first.row]]
    )


def test_without_clusters_cold_start_falls_back_to_random(session):
    pick = pick_for(session, "teach")
    assert pick.kind == "audit-random" and "clusters are not ready" in pick.reason


def teach_two_classes(session: LabelingSession) -> None:
    paths = session.image_paths()
    for i in (0, 1, 2, 120, 121, 122):
        session.label(paths[i], truth(paths[i]))


def test_uncertain_pick_reason_and_ranking_moves_after_a_label(session):
    teach_two_classes(session)
    settings = SamplingSettings(audit_share=0.0)
    first = pick_for(session, "teach", settings=settings)
    assert first.kind == "uncertain"
    match = re.fullmatch(r"uncertain: (\d+) % (\w+) / (\d+) % (\w+)", first.reason)
    assert match and match[2] != match[4] and int(match[1]) >= int(match[3])
    before = margins(session.score_all())
    assert int(match[1]) == round(100 * session.score_all()[first.row].max())
    path = session.image_paths()[first.row]
    session.label(path, truth(path), pick=first.kind)
    second = pick_for(session, "teach", settings=settings)
    assert second.row != first.row
    # The ranking itself moved: the model learned, so the margins of the other images changed.
    after = margins(session.score_all())
    assert np.abs(after - before).max() > 1e-3


def margins(probs: np.ndarray) -> np.ndarray:
    top2 = np.sort(probs, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def test_unsure_and_labelled_images_are_skipped(session):
    teach_two_classes(session)
    settings = SamplingSettings(audit_share=0.0)
    first = pick_for(session, "teach", settings=settings)
    session.mark_unsure(session.image_paths()[first.row])
    available = available_rows(
        session.present_rows(), session.labelled_mask(), session.marked_mask("unsure")
    )
    assert not available[first.row] and available.sum() == len(available) - 7
    for mode in ("teach", "audit", "in-order"):
        for _ in range(5):
            pick = pick_for(session, mode, settings=settings)
            assert pick.row != first.row and available[pick.row]


def test_audit_share_is_kept_and_both_kinds_appear():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), 500).astype(np.float32)
    available = np.ones(500, bool)
    settings = SamplingSettings(audit_share=0.25, seed=7)
    kinds = [
        next_pick(
            "teach", available, probs=probs, classes=list("abcd"), step=s, settings=settings
        ).kind
        for s in range(400)
    ]
    share = sum(k in AUDIT_PICKS for k in kinds) / len(kinds)
    assert 0.18 < share < 0.32
    assert {"audit-random", "audit-confident", "uncertain"} <= set(kinds)
    assert set(kinds) <= set(PICKS)
    none = SamplingSettings(audit_share=0.0)
    assert all(
        next_pick("teach", available, probs=probs, classes=list("abcd"), step=s, settings=none).kind
        == "uncertain"
        for s in range(50)
    )


def test_picks_are_reproducible_from_seed_and_step():
    rng = np.random.default_rng(4)
    probs = rng.dirichlet(np.ones(3), 200).astype(np.float32)
    available = rng.random(200) > 0.3
    args = dict(probs=probs, classes=["x", "y", "z"], settings=SamplingSettings(audit_share=0.5))
    a = [next_pick("teach", available, step=s, **args) for s in range(30)]
    b = [next_pick("teach", available, step=s, **args) for s in range(30)]
    assert a == b


def test_audit_mode_alternates_random_and_confident_with_reasons():
    probs = np.array([[0.5, 0.5], [0.97, 0.03], [0.2, 0.8], [0.6, 0.4]], np.float32)
    available = np.array([True, True, True, False])
    classes = ["forest", "river"]
    confident = next_pick("audit", available, probs=probs, classes=classes, step=1)
    assert confident.kind == "audit-confident" and confident.row == 1
    assert confident.reason == "audit: confident (97 % forest)"
    random_pick = next_pick("audit", available, probs=probs, classes=classes, step=2)
    assert random_pick.kind == "audit-random" and random_pick.reason == "audit: random"
    assert available[random_pick.row]
    # Before the model can predict, an audit can only be random.
    assert next_pick("audit", available, step=1).kind == "audit-random"


def test_in_order_follows_the_display_order_and_skips_unavailable():
    available = np.array([True, False, True, True, True])
    order = np.array([4, 1, 0, 3, 2])
    pick = next_pick("in-order", available, order=order, after=4)
    assert (pick.row, pick.kind, pick.reason) == (0, "in-order", "in order")
    assert next_pick("in-order", available, order=order, after=0).row == 3
    assert next_pick("in-order", available, order=order, after=2).row == 4  # wraps around
    assert next_pick("in-order", available).row == 0  # row order by default


def test_nothing_available_and_bad_mode():
    assert next_pick("teach", np.zeros(3, bool)) is None
    with pytest.raises(ValueError, match="teach, audit, in-order"):
        next_pick("shuffle", np.ones(3, bool))


def test_available_rows_combines_masks():
    present = np.array([True, True, True, False])
    labelled = np.array([True, False, False, False])
    unsure = np.array([False, True, False, False])
    assert available_rows(present, labelled, unsure).tolist() == [False, False, True, False]


def test_cold_start_handles_rows_without_features_and_stops():
    X, _ = blobs()
    present = np.ones(len(X), bool)
    present[::7] = False
    cold = cold_start(X, present, seed=2)
    assert (cold.cluster[~present] == -1).all() and (cold.cluster[present] >= 0).all()
    assert (cold.typicality[~present] == 0).all() and cold.typicality.max() == pytest.approx(1.0)
    assert cold_start(X, present, should_stop=lambda: True) is None
    assert cold_start(X, np.zeros(len(X), bool)) is None
    again = cold_start(X, present, seed=2)
    assert np.array_equal(again.cluster, cold.cluster)  # deterministic


def test_typical_picks_fade_out_as_labels_grow():
    X, _ = blobs()
    cold = cold_start(X, np.ones(len(X), bool), clusters=8, seed=0)
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.ones(3), len(X)).astype(np.float32)
    settings = SamplingSettings(audit_share=0.0, typical_span=2.0)

    def kinds(labelled: np.ndarray) -> list[str]:
        args = dict(probs=probs, classes=list("abc"), labelled=labelled, cold=cold)
        return [
            next_pick("teach", ~labelled, step=s, settings=settings, **args).kind for s in range(60)
        ]

    few = np.zeros(len(X), bool)
    few[:2] = True  # 2 labels of 16 (2 per cluster x 8 clusters): mostly typical picks
    many = np.zeros(len(X), bool)
    many[:16] = True  # two labels per cluster: the uncertainty ranking alone
    assert kinds(few).count("typical") > 40
    assert set(kinds(many)) == {"uncertain"}
    off = SamplingSettings(audit_share=0.0, typical_span=0.0)
    assert next_pick("teach", ~few, probs=probs, classes=list("abc"), labelled=few, cold=cold,
                     settings=off).kind == "uncertain"  # fmt: skip
