"""Bulk labels, image marks (unsure, reviewed), the v1 -> v2 migration and bidi class names."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gui_app.core.labels import FORMAT_VERSION, LabelError, LabelStore, validate_class_name


@pytest.fixture
def store(tmp_path: Path):
    with LabelStore(tmp_path / "labels.sqlite") as s:
        yield s


def test_bulk_labels_are_one_undo_group(store: LabelStore) -> None:
    store.set_label("a.jpg", "cat")
    events = store.set_labels(
        [("a.jpg", "dog"), ("b.jpg", "dog"), ("c.jpg", "bird")],
        {"b.jpg": {"cat": 0.4, "dog": 0.6}},
        pick="threshold",
    )
    assert [e.kind for e in events] == ["relabel", "label", "label"]
    assert store.labels() == {"a.jpg": "dog", "b.jpg": "dog", "c.jpg": "bird"}
    journal = {e.path: e for e in store.journal() if e.kind in ("label", "relabel")}
    assert journal["b.jpg"].prediction == {"cat": 0.4, "dog": 0.6}
    assert journal["b.jpg"].data == {"pick": "threshold"}
    store.undo()  # the whole bulk action, classes it created included
    assert store.labels() == {"a.jpg": "cat"}
    assert store.class_names() == ["cat"]
    store.redo()
    assert store.counts() == {"cat": 0, "dog": 2, "bird": 1}


def test_bulk_labels_are_all_or_nothing(store: LabelStore) -> None:
    with pytest.raises(LabelError):
        store.set_labels([("a.jpg", "cat"), ("b.jpg", "bad\nname")])
    assert store.labels() == {} and store.journal() == []
    with pytest.raises(LabelError, match="no images"):
        store.set_labels([])


def test_unsure_removes_the_label_and_undo_restores_it(store: LabelStore) -> None:
    store.set_label("a.jpg", "cat")
    store.mark("a.jpg", "unsure")
    assert store.labels() == {} and store.marked("unsure") == {"a.jpg"}
    assert [seq for seq, _, _ in store.training_events()] == []  # not learned
    with pytest.raises(LabelError, match="already marked"):
        store.mark("a.jpg", "unsure")
    store.undo()
    assert store.labels() == {"a.jpg": "cat"} and store.marked("unsure") == set()
    store.redo()
    store.unmark("a.jpg", "unsure")
    assert store.marks_of("a.jpg") == set()
    with pytest.raises(LabelError, match="not marked"):
        store.unmark("a.jpg", "unsure")


def test_a_label_clears_marks_and_undo_brings_them_back(store: LabelStore) -> None:
    store.set_label("a.jpg", "cat")
    store.mark("a.jpg", "reviewed")
    store.mark("b.jpg", "unsure")
    store.set_labels([("a.jpg", "dog"), ("b.jpg", "dog")])
    assert store.marked("reviewed") == set() and store.marked("unsure") == set()
    store.undo()
    assert store.marked("reviewed") == {"a.jpg"} and store.marked("unsure") == {"b.jpg"}
    with pytest.raises(LabelError, match="unknown mark"):
        store.mark("a.jpg", "maybe")


def test_version_1_database_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as s:
        s.set_label("a.jpg", "cat")
    with sqlite3.connect(path) as db:  # what Loupe 0.1 wrote: no marks table, version 1
        db.execute("DROP TABLE marks")
        db.execute("PRAGMA user_version = 1")
    with LabelStore(path) as s:
        assert s.labels() == {"a.jpg": "cat"}
        s.mark("b.jpg", "unsure")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == FORMAT_VERSION


@pytest.mark.parametrize("name", ["\u202eevil", "a\u2066b", "x\u200fy", "\u061cq"])
def test_bidi_controls_are_refused_in_class_names(name: str) -> None:
    with pytest.raises(LabelError, match="bidirectional"):
        validate_class_name(name)


def test_right_to_left_text_and_joined_emoji_are_fine() -> None:
    assert validate_class_name("חתול") == "חתול"
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # zero-width joiners are kept
    assert validate_class_name(family) == family
