"""Insight figures from the journal: known outcomes, undo/redo, class edits, reopen, reference."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from gui_app.core.insight import (
    InsightTracker,
    compute_insight,
    predicted_counts,
    wilson_interval,
)
from gui_app.core.journal_reader import iter_journal
from gui_app.core.label_schema import LABEL_KINDS
from gui_app.core.labels import LabelError, LabelStore
from gui_app.qt.viewstate import InsightView
from tests.core.insight_scenario import (
    AUDIT_CUMULATIVE,
    AUDIT_X,
    CLASS_CUMULATIVE,
    CLASS_X,
    CONFUSION,
    LABELLED,
    OVERALL_CUMULATIVE,
    OVERALL_WINDOW,
    OVERALL_X,
    SESSIONS,
    WINDOW,
    label,
    pred,
    scenario_store,
)


def view_of(store: LabelStore, tracker: InsightTracker | None = None, **kw) -> InsightView:
    """Feed ``tracker`` the rows it has not seen (a new one: the whole journal)."""
    tracker = tracker if tracker is not None else InsightTracker(WINDOW)
    tracker.update(store.journal(since=tracker.last_seq))
    return tracker.view(store.classes(), store.counts(), **kw)


def assert_same(a: InsightView, b: InsightView, pace: bool = True) -> None:
    """Two views hold exactly the same figures (``pace``: the working sessions too)."""
    assert (a.classes, a.colors, a.window_size) == (b.classes, b.colors, b.window_size)
    streams = zip(
        (a.overall, a.audits, *a.per_class), (b.overall, b.audits, *b.per_class), strict=True
    )
    for sa, sb in streams:
        assert (sa.name, sa.correct) == (sb.name, sb.correct)
        for field in ("x", "cumulative", "window", "lower", "upper"):
            np.testing.assert_array_equal(getattr(sa, field), getattr(sb, field), err_msg=field)
    for field in ("x", "seq", "time", "paths", "true", "predicted", "audit"):
        np.testing.assert_array_equal(getattr(a.scored, field), getattr(b.scored, field))
    np.testing.assert_array_equal(a.confusion, b.confusion)
    assert a.deleted_predictions == b.deleted_predictions
    np.testing.assert_array_equal(a.labelled, b.labelled)
    assert a.sessions == b.sessions or not pace


def test_wilson_interval_matches_published_values() -> None:
    lower, upper = wilson_interval(np.array([8, 0, 1, 50]), np.array([10, 1, 1, 100]))
    np.testing.assert_allclose(lower, [0.4902, 0.0, 0.2065, 0.4038], atol=1e-4)
    np.testing.assert_allclose(upper, [0.9433, 0.7935, 1.0, 0.5962], atol=1e-4)


def test_known_sequence_gives_its_curves_matrix_counts_and_pace(tmp_path, clock) -> None:
    store = scenario_store(tmp_path, clock)
    view = view_of(store)
    assert view.classes == ("cat", "dog", "bird")
    np.testing.assert_array_equal(view.overall.x, OVERALL_X)
    np.testing.assert_allclose(view.overall.cumulative, OVERALL_CUMULATIVE)
    np.testing.assert_allclose(view.overall.window, OVERALL_WINDOW)
    hits = np.array(OVERALL_CUMULATIVE) * np.arange(1, 7)
    lower, upper = wilson_interval(np.round(hits), np.arange(1, 7))
    np.testing.assert_allclose(view.overall.lower, lower)
    np.testing.assert_allclose(view.overall.upper, upper)
    assert view.overall.lower[0] == pytest.approx(0.2065, abs=1e-4)  # 1 of 1
    assert (view.overall.correct, view.overall.total) == (4, 6)
    np.testing.assert_array_equal(view.audits.x, AUDIT_X)
    np.testing.assert_allclose(view.audits.cumulative, AUDIT_CUMULATIVE)
    for name in view.classes:
        series = view.class_series(name)
        np.testing.assert_array_equal(series.x, CLASS_X[name])
        np.testing.assert_allclose(series.cumulative, CLASS_CUMULATIVE[name])
    np.testing.assert_array_equal(view.confusion, CONFUSION)
    assert view.deleted_predictions == 0
    np.testing.assert_array_equal(view.labelled, LABELLED)
    assert view.predicted is None
    got = [(s.start, s.end, s.labels, s.bulk, s.labels_per_hour, s.seconds_per_label)
           for s in view.sessions]  # fmt: skip
    assert got == SESSIONS
    assert view.labels_per_hour == pytest.approx(11 / (100 / 3600))
    assert view.cell_paths("bird", "cat") == ["h"]
    assert view.cell_paths("cat", "dog") == ["g"]
    assert view.cell_paths("cat", "cat") == ["c", "f"]
    assert view.cell_paths("dog", "bird") == []


def test_undo_moves_the_curve_back_and_redo_restores_it(tmp_path, clock) -> None:
    store = scenario_store(tmp_path, clock)
    tracker = InsightTracker(WINDOW)
    before = view_of(store, tracker)
    clock.now = 1310
    store.undo()  # l: bird, correct
    undone = view_of(store, tracker)
    np.testing.assert_array_equal(undone.overall.x, OVERALL_X[:-1])
    np.testing.assert_allclose(undone.overall.cumulative, OVERALL_CUMULATIVE[:-1])
    assert undone.confusion[2, 2] == 0
    assert (undone.sessions[-1].labels, undone.sessions[-1].end) == (1, 1310.0)
    clock.now = 1320
    store.redo()
    redone = view_of(store, tracker)
    np.testing.assert_array_equal(redone.overall.x, before.overall.x)
    np.testing.assert_array_equal(redone.confusion, before.confusion)
    clock.now = 1330
    store.undo()
    store.undo()  # k too
    assert len(view_of(store, tracker).overall.x) == 4
    # The view handed out before is unchanged (frozen, never overwritten by later updates).
    np.testing.assert_array_equal(before.overall.x, OVERALL_X)
    assert not before.overall.cumulative.flags.writeable


def test_rename_keeps_the_figures_under_the_new_name_and_a_reused_name_is_new(tmp_path, clock):
    store = scenario_store(tmp_path, clock)
    tracker = InsightTracker(WINDOW)
    before = view_of(store, tracker)
    clock.now = 1400
    store.rename_class("dog", "canine")
    renamed = view_of(store, tracker)
    assert renamed.classes == ("cat", "canine", "bird")
    np.testing.assert_array_equal(renamed.confusion, before.confusion)
    np.testing.assert_array_equal(renamed.class_series("canine").x, CLASS_X["dog"])
    assert renamed.cell_paths("canine", "cat") == ["d"]
    # A new "dog" after the rename is another class: the old labels stay with canine.
    label(store, clock, 1410, "m", "dog", pred(cat=0.1, canine=0.6, bird=0.3))
    view = view_of(store, tracker)
    assert view.classes == ("cat", "canine", "bird", "dog")
    assert view.confusion[3].tolist() == [0, 1, 0, 0]  # label dog, suggested canine
    assert view.confusion[1].tolist() == [1, 2, 0, 0]
    assert_same(view, view_of(store))


def test_merge_maps_labels_and_suggestions_to_the_target(tmp_path, clock) -> None:
    store = scenario_store(tmp_path, clock)
    tracker = InsightTracker(WINDOW)
    before = view_of(store, tracker)
    clock.now = 1400
    store.merge_classes("bird", "cat")
    merged = view_of(store, tracker)
    assert merged.classes == ("cat", "dog")
    # h (bird, suggested cat) is now cat/cat; l (bird/bird) too.
    np.testing.assert_array_equal(merged.confusion, [[4, 1], [1, 2]])
    np.testing.assert_allclose(merged.overall.cumulative, [1, 1 / 2, 2 / 3, 3 / 4, 4 / 5, 5 / 6])
    clock.now = 1410
    store.undo()
    assert_same(view_of(store, tracker), before, pace=False)  # the edits took time


def test_delete_drops_the_class_labels_and_counts_its_suggestions_apart(tmp_path, clock):
    store = scenario_store(tmp_path, clock)
    tracker = InsightTracker(WINDOW)
    before = view_of(store, tracker)
    clock.now = 1400
    store.delete_class("dog")
    deleted = view_of(store, tracker)
    assert deleted.classes == ("cat", "bird")
    # Scored now: c (cat ok), f (audit ok), g (audit, suggested the deleted dog), h, l.
    np.testing.assert_array_equal(deleted.overall.x, [1, 4, 5])
    np.testing.assert_allclose(deleted.overall.cumulative, [1, 1 / 2, 2 / 3])
    np.testing.assert_array_equal(deleted.audits.x, [2, 3])
    np.testing.assert_array_equal(deleted.confusion, [[2, 0], [1, 1]])
    assert deleted.deleted_predictions == 1
    assert deleted.sessions[0].labels == 9  # the labelling work still happened
    clock.now = 1410
    store.undo()
    assert_same(view_of(store, tracker), before, pace=False)  # the edits took time


def test_figures_are_identical_after_a_reopen(tmp_path, clock) -> None:
    store = scenario_store(tmp_path, clock)
    tracker = InsightTracker(WINDOW)
    view_of(store, tracker)
    clock.now = 1400
    store.rename_class("bird", "heron")
    store.undo()
    store.redo()
    label(store, clock, 1410, "n", "heron", pred(cat=0.2, dog=0.1, heron=0.7), "audit-random")
    live = view_of(store, tracker)
    path = store.path
    store.close()
    with LabelStore(path) as reopened:
        assert_same(view_of(reopened), live)
        _tracker, computed = compute_insight(
            reopened.journal(), reopened.classes(), reopened.counts(), window=WINDOW
        )
    assert_same(computed, live)


def test_rows_read_already_undone_and_rows_seen_twice(tmp_path, clock) -> None:
    store = scenario_store(tmp_path, clock)
    tracker = InsightTracker(WINDOW)
    tracker.update(store.journal(since=0)[:5])
    clock.now = 1400
    store.undo()  # the label and its undo arrive in one batch below
    assert tracker.update(store.journal(since=0))  # the first five rows are skipped
    assert not tracker.update(store.journal(since=0))
    assert_same(tracker.view(store.classes(), store.counts()), view_of(store))
    assert len(view_of(store).overall.x) == 5


def test_view_is_cached_until_something_changes(tmp_path, clock) -> None:
    store = scenario_store(tmp_path, clock)
    tracker = InsightTracker(WINDOW)
    view = view_of(store, tracker)
    assert tracker.view(store.classes(), store.counts()) is view
    assert tracker.view(store.classes(), store.counts(), {"cat": 3}) is not view
    label(store, clock, 1310, "o", "cat", pred(cat=0.8, dog=0.1, bird=0.1))
    assert view_of(store, tracker) is not view
    for array in (view.confusion, view.labelled, view.scored.paths, view.per_class[0].x):
        assert not array.flags.writeable


def test_predicted_counts_over_chosen_rows() -> None:
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    assert predicted_counts(scores, ["cat", "dog"]) == {"cat": 2, "dog": 2}
    mask = np.array([False, True, True, False])
    assert predicted_counts(scores, ["cat", "dog"], mask) == {"cat": 0, "dog": 2}
    assert predicted_counts(np.zeros((4, 0)), []) == {}


def test_the_full_computation_runs_off_the_owner_thread(tmp_path, clock) -> None:
    store = scenario_store(tmp_path, clock)
    rows, classes = store.journal(), store.classes()
    with ThreadPoolExecutor(1) as pool:
        tracker, first = pool.submit(compute_insight, rows, classes, window=WINDOW).result()
    label(store, clock, 1310, "p", "dog", pred(cat=0.4, dog=0.6))  # written meanwhile
    tracker.update(store.journal(since=tracker.last_seq))
    caught_up = tracker.view(store.classes(), store.counts())
    assert len(caught_up.overall.x) == len(first.overall.x) + 1
    assert_same(caught_up, view_of(store))


def reference(store: LabelStore, names: tuple[str, ...]) -> tuple[list[bool], np.ndarray, int]:
    """A plain reading of the journal: correctness of the non-audit scored labels in order,
    the confusion matrix and the suggestions of deleted classes (as training_events maps)."""
    alias: dict[str, str | None] = {}
    found = []
    for e in reversed(store.journal(include_undone=False)):
        if e.kind in LABEL_KINDS:
            top = max(e.prediction, key=e.prediction.__getitem__) if e.prediction else None
            suggested = None if top is None else alias.get(top, top) or "(deleted)"
            found.append((e, alias.get(e.label, e.label), suggested))
        elif e.kind == "delete_class":
            alias[e.label] = None
        elif e.kind in ("rename_class", "merge_classes"):
            alias[e.label] = alias.get(e.target, e.target)
    correct, deleted = [], 0
    matrix = np.zeros((len(names), len(names)), np.int64)
    for e, true, suggested in reversed(found):
        pick = (e.data or {}).get("pick") or ""
        if e.kind == "confirm" or suggested is None or true is None or pick == "threshold":
            continue
        if suggested == "(deleted)":
            deleted += 1
        else:
            matrix[names.index(true), names.index(suggested)] += 1
        if not pick.startswith("audit"):
            correct.append(true == suggested)
    return correct, matrix, deleted


@pytest.mark.parametrize("seed", range(6))
def test_random_histories_match_a_plain_reading_of_the_journal(tmp_path, clock, seed) -> None:
    rng = random.Random(seed)
    store = LabelStore(tmp_path / "labels.sqlite")
    tracker = InsightTracker(window=4)
    paths = [f"img{i}.png" for i in range(12)]
    pool = ["cat", "dog", "bird", "fish", "ant"]
    picks = [None, "uncertain", "audit-random", "threshold", "typical"]
    for step in range(120):
        clock.now += rng.choice([1.0, 5.0, 30.0, 2000.0])
        names = store.class_names()
        action = rng.random()
        try:
            if action < 0.55 or not names:
                shown = {n: rng.random() for n in names} if len(names) >= 2 else None
                store.set_label(rng.choice(paths), rng.choice(pool), shown, pick=rng.choice(picks))
            elif action < 0.62:
                shown = {n: rng.random() for n in names}
                chosen = rng.sample(paths, 3)
                store.set_labels([(p, rng.choice(names)) for p in chosen],
                                 dict.fromkeys(chosen, shown), pick=rng.choice(picks))  # fmt: skip
            elif action < 0.72:
                store.undo()
            elif action < 0.8:
                store.redo()
            elif action < 0.86:
                store.rename_class(rng.choice(names), rng.choice([*pool, "owl", "bee"]))
            elif action < 0.92 and len(names) > 1:
                store.merge_classes(*rng.sample(names, 2))
            elif action < 0.96:
                store.delete_class(rng.choice(names))
            else:
                store.remove_label(rng.choice(paths))
        except LabelError:
            continue
        if step % 7 == 0 or step > 110:
            live = view_of(store, tracker)
            correct, matrix, deleted = reference(store, live.classes)
            np.testing.assert_allclose(
                live.overall.cumulative, np.cumsum(correct) / np.arange(1, len(correct) + 1)
            )
            np.testing.assert_array_equal(live.confusion, matrix)
            assert live.deleted_predictions == deleted
            assert_same(live, view_of(store, InsightTracker(window=4)))


def test_panel_accuracy_equals_the_learners_own_record(tmp_path: Path) -> None:
    """Labels given through a real session: the journal's curve is the learner's record."""
    from gui_app.core.project import Project
    from gui_app.core.session import LabelingSession

    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    session = LabelingSession(Project(tmp_path / "imgs"))
    centres = rng.normal(0, 1, (3, 8))
    paths = [f"{i}.png" for i in range(40)]
    classes = rng.integers(0, 3, len(paths))
    session.add_images(paths)
    session.add_vectors(paths, (centres[classes] + rng.normal(0, 0.8, (40, 8))).astype("f4"))
    tracker = InsightTracker()
    for path, cls in zip(paths, classes, strict=True):
        session.label(path, ["a", "b", "c"][cls])
        tracker.update(session.journal(since=tracker.last_seq))
    view = tracker.view(session.classes(), session.counts())
    record = session.progressive
    assert record.total > 25
    assert (view.overall.correct, view.overall.total) == (record.correct, record.total)
    session.close()


def test_the_journal_read_on_its_own_connection_equals_the_stores(tmp_path, clock) -> None:
    store = scenario_store(tmp_path, clock)
    clock.now = 1400
    store.undo()
    assert list(iter_journal(store.path, chunk=3)) == store.journal()
    assert list(iter_journal(store.path, since=10, chunk=4)) == store.journal(since=10)
    with pytest.raises(LabelError, match="cannot read the label journal"):
        list(iter_journal(tmp_path / "missing.sqlite"))
