"""Tests for gui_app.core.labels: validation, actions, undo/redo, replay, durability."""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gui_app.core.labels import (
    MAX_CLASS_NAME,
    PALETTE,
    ClassInfo,
    LabelError,
    LabelStore,
    validate_class_name,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path):
    s = LabelStore(tmp_path / ".loupe" / "labels.sqlite")
    yield s
    s.close()


def exact(message: str) -> str:
    return f"^{re.escape(message)}$"


def snapshot(s: LabelStore) -> tuple:
    return s.labels(), s.classes(), s.counts()


def seeded(s: LabelStore) -> LabelStore:
    s.add_class("cat", "#112233")
    s.add_class("dog")
    s.add_class("bird")
    s.set_label("a.jpg", "cat")
    s.set_label("b.jpg", "cat")
    s.set_label("c.jpg", "dog")
    s.set_label("d.jpg", "bird")
    return s


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "class name is empty"),
        ("   \t ", "class name is empty"),
        ("\x00", "class name contains control characters"),
        ("cat\x00", "class name contains control characters"),
        ("a\nb", "class name contains control characters"),
        ("a\tb", "class name contains control characters"),
        ("a\u2028b", "class name contains control characters"),
        ("x" * (MAX_CLASS_NAME + 1), "class name is longer than 100 characters"),
    ],
)
def test_validate_rejects(raw: str, message: str) -> None:
    with pytest.raises(LabelError, match=exact(message)):
        validate_class_name(raw)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  cat \n", "cat"),
        ("x" * MAX_CLASS_NAME, "x" * MAX_CLASS_NAME),
        ("قطة برية", "قطة برية"),
        ("猫", "猫"),
        ("🐱\u200d👤", "🐱\u200d👤"),
        ("e\u0301", "\u00e9"),
        ("a/b", "a/b"),
        ("..", ".."),
        ("<b>html</b>", "<b>html</b>"),
    ],
)
def test_validate_accepts(raw: str, clean: str) -> None:
    assert validate_class_name(raw) == clean


def test_validate_rejects_non_string() -> None:
    with pytest.raises(LabelError, match="must be text"):
        validate_class_name(None)  # type: ignore[arg-type]


def test_any_script_round_trips_through_reopen(tmp_path: Path) -> None:
    names = ["قطة", "猫", "🐱\u200d👤", "a/b", "..", "<b>html</b>", "e\u0301"]
    db = tmp_path / "labels.sqlite"
    with LabelStore(db) as s:
        for i, name in enumerate(names):
            s.set_label(f"img{i}.png", name)
    with LabelStore(db) as s:
        expected = [validate_class_name(n) for n in names]
        assert s.class_names() == expected
        assert s.labels() == {f"img{i}.png": n for i, n in enumerate(expected)}


def test_palette_is_distinct_and_legible() -> None:
    def lum(color: str) -> float:
        def lin(c: float) -> float:
            return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = (lin(int(color[i : i + 2], 16) / 255) for i in (1, 3, 5))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    assert len(PALETTE) == len(set(PALETTE)) == 20
    for color in PALETTE:
        assert (1.05) / (lum(color) + 0.05) >= 3  # on white
        assert (lum(color) + 0.05) / (lum("#1e1e1e") + 0.05) >= 3  # on dark


# ---------------------------------------------------------------- actions
def test_add_class_colors_order_and_errors(store: LabelStore) -> None:
    for i in range(22):
        store.add_class(f"c{i}")
    infos = store.classes()
    assert [c.position for c in infos] == list(range(22))
    assert [c.color for c in infos[:20]] == list(PALETTE)
    store.add_class("custom", "#ABCDEF")
    assert store.classes()[-1] == ClassInfo("custom", "#abcdef", 22)
    with pytest.raises(LabelError, match=exact('class "c1" already exists')):
        store.add_class(" c1 ")
    with pytest.raises(LabelError, match=r'class "c1" already exists .*letter case'):
        store.add_class("C1")
    with pytest.raises(LabelError, match="#rrggbb"):
        store.add_class("bad", "red")
    assert store.counts()["c0"] == 0


def test_set_label_kinds_and_auto_class(store: LabelStore) -> None:
    e1 = store.set_label("a.jpg", "cat")
    assert (e1.kind, e1.label, e1.previous) == ("label", "cat", None)
    assert store.class_names() == ["cat"]
    kinds = [e.kind for e in store.journal()]
    assert kinds == ["add_class", "label"]
    e2 = store.set_label("a.jpg", "dog")
    assert (e2.kind, e2.label, e2.previous) == ("relabel", "dog", "cat")
    e3 = store.set_label("a.jpg", "dog")
    assert (e3.kind, e3.previous) == ("confirm", "dog")
    assert store.label_of("a.jpg") == "dog"
    assert store.label_of("zzz.jpg") is None
    assert store.counts() == {"cat": 0, "dog": 1}
    with pytest.raises(LabelError, match="non-empty"):
        store.set_label("", "cat")
    with pytest.raises(LabelError, match="cannot be stored"):
        store.set_label("bad\udcff.jpg", "cat")


def test_remove_label(store: LabelStore) -> None:
    store.set_label("a.jpg", "cat")
    event = store.remove_label("a.jpg", {"cat": 0.9})
    assert (event.kind, event.previous, event.prediction) == ("unlabel", "cat", {"cat": 0.9})
    assert store.labels() == {}
    with pytest.raises(LabelError, match=exact('image "a.jpg" has no label')):
        store.remove_label("a.jpg")


def test_class_action_errors(store: LabelStore) -> None:
    seeded(store)
    with pytest.raises(LabelError, match=exact('no class named "x"')):
        store.delete_class("x")
    with pytest.raises(LabelError, match='class "dog" already exists'):
        store.rename_class("cat", "dog")
    with pytest.raises(LabelError, match="already has that name"):
        store.rename_class("cat", "cat")
    with pytest.raises(LabelError, match="into itself"):
        store.merge_classes("cat", "cat")
    with pytest.raises(LabelError, match=re.escape("out of range 0..2")):
        store.move_class("cat", 3)
    store.rename_class("cat", "Cat")  # a case fix of the same class is allowed
    assert store.class_names() == ["Cat", "dog", "bird"]


ACTIONS: dict[str, Callable[[LabelStore], object]] = {
    "add_class": lambda s: s.add_class("fish", "#010203"),
    "label_new_class": lambda s: s.set_label("e.jpg", "fish", {"fish": 0.2}),
    "label": lambda s: s.set_label("e.jpg", "dog"),
    "relabel": lambda s: s.set_label("a.jpg", "dog"),
    "confirm": lambda s: s.set_label("a.jpg", "cat"),
    "unlabel": lambda s: s.remove_label("b.jpg"),
    "rename": lambda s: s.rename_class("cat", "kitty"),
    "merge": lambda s: s.merge_classes("cat", "bird"),
    "delete_first": lambda s: s.delete_class("cat"),
    "delete_middle": lambda s: s.delete_class("dog"),
    "recolor": lambda s: s.recolor_class("dog", "#FFEE00"),
    "move_down": lambda s: s.move_class("cat", 2),
    "move_up": lambda s: s.move_class("bird", 0),
}


@pytest.mark.parametrize("name", list(ACTIONS))
def test_action_undo_redo_restore_exact_state(store: LabelStore, name: str) -> None:
    seeded(store)
    before = snapshot(store)
    ACTIONS[name](store)
    after = snapshot(store)
    if name != "confirm":
        assert after != before
    assert store.can_undo() and not store.can_redo()
    store.undo()
    assert snapshot(store) == before
    assert store.can_redo()
    store.redo()
    assert snapshot(store) == after
    assert not store.can_redo()


def test_specific_action_effects(store: LabelStore) -> None:
    seeded(store)
    store.merge_classes("cat", "bird")
    assert store.labels() == {"a.jpg": "bird", "b.jpg": "bird", "c.jpg": "dog", "d.jpg": "bird"}
    assert store.classes() == [ClassInfo("dog", PALETTE[0], 0), ClassInfo("bird", PALETTE[1], 1)]
    store.undo()
    store.delete_class("dog")
    assert store.labels() == {"a.jpg": "cat", "b.jpg": "cat", "d.jpg": "bird"}
    assert [(c.name, c.position) for c in store.classes()] == [("cat", 0), ("bird", 1)]
    store.undo()
    store.rename_class("cat", "kitty")
    assert store.counts() == {"kitty": 2, "dog": 1, "bird": 1}
    store.move_class("bird", 0)
    assert store.class_names() == ["bird", "kitty", "dog"]


def test_undo_of_auto_created_class_removes_both(store: LabelStore) -> None:
    store.set_label("a.jpg", "cat")
    event = store.undo()
    assert (event.kind, event.path, event.label) == ("undo", "a.jpg", "cat")
    assert event.target == "1,2"
    assert snapshot(store) == ({}, [], {})
    assert [e.undone for e in store.journal()] == [True, True, False]
    assert not store.can_undo()
    with pytest.raises(LabelError, match=exact("nothing to undo")):
        store.undo()


CHAIN: list[Callable[[LabelStore], object]] = [
    lambda s: s.add_class("cat", "#112233"),
    lambda s: s.add_class("dog"),
    lambda s: s.set_label("a.jpg", "cat"),
    lambda s: s.set_label("b.jpg", "dog"),
    lambda s: s.set_label("c.jpg", "bird", {"bird": 0.9}),
    lambda s: s.set_label("a.jpg", "dog"),
    lambda s: s.set_label("a.jpg", "dog"),
    lambda s: s.rename_class("cat", "kitty"),
    lambda s: s.set_label("d.jpg", "kitty"),
    lambda s: s.recolor_class("dog", "#abcdef"),
    lambda s: s.move_class("bird", 0),
    lambda s: s.merge_classes("kitty", "bird"),
    lambda s: s.remove_label("b.jpg"),
    lambda s: s.delete_class("bird"),
    lambda s: s.set_label("e.jpg", "dog"),
]


def test_multi_step_undo_redo_chain(store: LabelStore) -> None:
    states = [snapshot(store)]
    for action in CHAIN:
        action(store)
        states.append(snapshot(store))
    for expected in reversed(states[:-1]):
        store.undo()
        assert snapshot(store) == expected
    assert not store.can_undo()
    for expected in states[1:]:
        store.redo()
        assert snapshot(store) == expected
    assert not store.can_redo()
    with pytest.raises(LabelError, match=exact("nothing to redo")):
        store.redo()
    # and back down halfway, then up again
    for expected in reversed(states[7:-1]):
        store.undo()
        assert snapshot(store) == expected
    for expected in states[8:]:
        store.redo()
        assert snapshot(store) == expected


def test_redo_cleared_by_new_action(store: LabelStore) -> None:
    store.set_label("a.jpg", "cat")  # group A
    store.set_label("b.jpg", "cat")  # group B
    store.undo()
    assert store.can_redo()
    store.set_label("c.jpg", "cat")  # group C clears redo
    assert not store.can_redo()
    with pytest.raises(LabelError, match="nothing to redo"):
        store.redo()
    store.undo()  # undoes C
    store.undo()  # undoes A (B stays undone)
    assert snapshot(store) == ({}, [], {})
    store.redo()  # A
    assert store.labels() == {"a.jpg": "cat"}
    store.redo()  # C
    assert store.labels() == {"a.jpg": "cat", "c.jpg": "cat"}
    assert not store.can_redo()


def test_undo_redo_interleaved(store: LabelStore) -> None:
    for i in range(3):
        store.set_label(f"{i}.jpg", "x")
    store.undo()
    store.undo()
    store.redo()
    assert store.labels() == {"0.jpg": "x", "1.jpg": "x"}
    store.undo()
    store.redo()
    store.redo()
    assert store.labels() == {"0.jpg": "x", "1.jpg": "x", "2.jpg": "x"}
    assert not store.can_redo()


def test_failed_action_rolls_back(store: LabelStore, monkeypatch: pytest.MonkeyPatch) -> None:
    seeded(store)
    before = snapshot(store)
    journal = store.journal()
    real = store._effect

    def failing(db, kind, row, forward):
        real(db, kind, row, forward)
        if kind in ("merge_classes", "label"):
            raise RuntimeError("boom")

    monkeypatch.setattr(store, "_effect", failing)
    with pytest.raises(RuntimeError):
        store.merge_classes("cat", "dog")
    with pytest.raises(RuntimeError):
        store.set_label("z.jpg", "newclass")  # class creation must roll back too
    assert snapshot(store) == before
    assert store.journal() == journal


def test_journal_is_append_only(store: LabelStore) -> None:
    store.set_label("a.jpg", "cat")
    raw = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("DELETE FROM journal")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        raw.execute("UPDATE journal SET label = 'dog'")
    raw.close()


def test_journal_records_predictions_and_times(store: LabelStore) -> None:
    t0 = time.time()
    store.set_label("a.jpg", "cat", {"cat": 0.25, "dog": 0.75})
    store.set_label("b.jpg", "dog")
    store.rename_class("dog", "hound")
    store.undo()
    t1 = time.time()
    events = store.journal()
    assert [e.kind for e in events] == [
        "add_class", "label", "add_class", "label", "rename_class", "undo",
    ]  # fmt: skip
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert all(t0 <= e.time <= t1 for e in events)
    assert events[1].prediction == {"cat": 0.25, "dog": 0.75}
    assert events[3].prediction is None
    assert (events[4].previous, events[4].target, events[4].undone) == ("dog", "hound", True)
    assert events[5].target == "5"
    assert [e.seq for e in store.journal(include_undone=False)] == [1, 2, 3, 4, 6]
    assert [e.seq for e in store.journal(since=4)] == [5, 6]
    with pytest.raises(LabelError, match="prediction"):
        store.set_label("c.jpg", "cat", {"cat": "high"})


def test_random_actions_keep_counts_order_and_replay_consistent(store: LabelStore) -> None:
    store._conn().execute("PRAGMA synchronous = OFF")  # correctness only; keep the test fast
    rng = random.Random(1234)
    names = ["a", "b", "c", "d", "Δ", "猫"]
    paths = [f"p{i}.jpg" for i in range(25)]
    steps: list[Callable[[], object]] = [
        lambda: store.set_label(rng.choice(paths), rng.choice(names)),
        lambda: store.set_label(rng.choice(paths), rng.choice(names)),
        lambda: store.set_label(rng.choice(paths), rng.choice(names)),
        lambda: store.remove_label(rng.choice(paths)),
        lambda: store.add_class(rng.choice(names)),
        lambda: store.rename_class(rng.choice(names), rng.choice(names)),
        lambda: store.merge_classes(rng.choice(names), rng.choice(names)),
        lambda: store.delete_class(rng.choice(names)),
        lambda: store.move_class(rng.choice(names), rng.randrange(4)),
        lambda: store.recolor_class(rng.choice(names), f"#{rng.randrange(1 << 24):06x}"),
        store.undo,
        store.undo,
        store.redo,
    ]
    done = 0
    for _ in range(400):
        try:
            rng.choice(steps)()
            done += 1
        except LabelError:
            continue
        current = store.labels()
        expected = {c: 0 for c in store.class_names()}
        for label in current.values():
            expected[label] += 1
        assert store.counts() == expected
        assert [c.position for c in store.classes()] == list(range(len(expected)))
        last = {path: label for _, path, label in store.training_events()}
        assert last == current
    assert done > 150


# ---------------------------------------------------------------- replay
def replay(s: LabelStore) -> list[tuple[str, str]]:
    return [(path, label) for _, path, label in s.training_events()]


def test_training_events_basic_and_confirm(store: LabelStore) -> None:
    store.set_label("a.jpg", "cat")
    store.set_label("a.jpg", "dog")
    store.set_label("a.jpg", "dog")
    events = store.training_events()
    assert [seq for seq, _, _ in events] == sorted(seq for seq, _, _ in events)
    assert replay(store) == [("a.jpg", "cat"), ("a.jpg", "dog"), ("a.jpg", "dog")]


def test_training_events_rename_and_merge(store: LabelStore) -> None:
    store.set_label("a.jpg", "x")
    store.set_label("b.jpg", "y")
    store.rename_class("x", "x2")
    store.rename_class("x2", "x3")
    store.merge_classes("y", "x3")
    store.set_label("c.jpg", "x3")
    assert replay(store) == [("a.jpg", "x3"), ("b.jpg", "x3"), ("c.jpg", "x3")]
    store.undo()  # undo label c
    store.undo()  # undo merge
    assert replay(store) == [("a.jpg", "x3"), ("b.jpg", "y")]


def test_training_events_name_reused_after_rename(store: LabelStore) -> None:
    store.set_label("a.jpg", "x")
    store.rename_class("x", "y")
    store.set_label("b.jpg", "x")  # a new, different class called "x"
    assert replay(store) == [("a.jpg", "y"), ("b.jpg", "x")]


def test_training_events_delete(store: LabelStore) -> None:
    store.set_label("a.jpg", "x")
    store.set_label("b.jpg", "y")
    store.set_label("p.jpg", "x")
    store.set_label("p.jpg", "y")  # p was x, then y
    store.set_label("q.jpg", "y")
    store.set_label("q.jpg", "x")  # q was y, then x
    store.delete_class("x")
    # Events of x are dropped; q's earlier y event precedes its unlabelling by the deletion.
    assert replay(store) == [("b.jpg", "y"), ("p.jpg", "y")]
    store.undo()
    assert len(replay(store)) == 6


def test_training_events_unlabel_and_undo(store: LabelStore) -> None:
    store.set_label("a.jpg", "x")
    store.remove_label("a.jpg")
    store.set_label("b.jpg", "x")
    store.set_label("a.jpg", "y")
    assert replay(store) == [("b.jpg", "x"), ("a.jpg", "y")]
    store.undo()
    store.undo()
    assert replay(store) == []
    store.redo()
    assert replay(store) == [("b.jpg", "x")]


# ---------------------------------------------------------------- persistence
def test_reopen_restores_everything(tmp_path: Path) -> None:
    db = tmp_path / "labels.sqlite"
    s = seeded(LabelStore(db))
    s.set_label("e.jpg", "fish", {"fish": 1.0})
    s.recolor_class("dog", "#000000")
    s.move_class("bird", 0)
    s.undo()
    state, journal, events = snapshot(s), s.journal(), s.training_events()
    s.set_setting("threshold", 0.5)
    s.close()
    s.close()  # idempotent
    with pytest.raises(LabelError, match="closed"):
        s.labels()
    with LabelStore(db) as again:
        assert snapshot(again) == state
        assert again.journal() == journal
        assert again.training_events() == events
        assert again.can_redo()
        again.redo()
        assert again.class_names()[0] == "bird"
        assert again.get_setting("threshold") == 0.5


def test_settings_round_trip(store: LabelStore) -> None:
    assert store.get_setting("missing") is None
    assert store.get_setting("missing", 3) == 3
    value = {"model": "mobilenet", "sizes": [1, 2], "on": True, "name": "猫"}
    store.set_setting("engine", value)
    assert store.get_setting("engine") == value
    store.set_setting("engine", None)
    assert store.get_setting("engine", "default") is None
    with pytest.raises(LabelError, match="JSON"):
        store.set_setting("bad", object())
    with pytest.raises(LabelError, match="key"):
        store.set_setting("", 1)
    assert store.journal() == []  # settings are not journaled


def test_random_bytes_file_is_rejected(tmp_path: Path) -> None:
    db = tmp_path / "labels.sqlite"
    db.write_bytes(os.urandom(16384))
    with pytest.raises(LabelError, match="is not a Loupe label database or is damaged"):
        LabelStore(db)


def test_foreign_sqlite_database_is_rejected(tmp_path: Path) -> None:
    db = tmp_path / "other.sqlite"
    raw = sqlite3.connect(db)
    raw.execute("CREATE TABLE t(x)")
    raw.commit()
    raw.close()
    with pytest.raises(LabelError, match=r"is not a Loupe label database$"):
        LabelStore(db)


def test_newer_format_is_rejected(tmp_path: Path) -> None:
    db = tmp_path / "labels.sqlite"
    LabelStore(db).close()
    raw = sqlite3.connect(db)
    raw.execute("PRAGMA user_version = 99")
    raw.close()
    with pytest.raises(LabelError, match="newer Loupe"):
        LabelStore(db)


def test_damaged_pages_are_reported(tmp_path: Path) -> None:
    db = tmp_path / "labels.sqlite"
    with LabelStore(db) as s:
        for i in range(120):
            s.set_label(f"{'deep/' * 20}image_{i:05d}.jpg", f"class{i % 4}")
    size = db.stat().st_size
    assert size > 8 * 4096
    with db.open("r+b") as fh:
        fh.seek(3 * 4096)
        fh.write(b"\xa5" * (size - 4 * 4096))
    with pytest.raises(LabelError, match="damaged"):
        LabelStore(db)


def test_many_set_label_calls(store: LabelStore) -> None:
    # Sanity and scaling only: skip fsync so the test does not time the disk (see the benchmark).
    store._conn().execute("PRAGMA synchronous = OFF")
    for i in range(2000):
        store.set_label(f"dir/{i:05d}.jpg", f"c{i % 5}", {"c0": 0.5})
    assert len(store.labels()) == 2000
    assert sum(store.counts().values()) == 2000
    assert len(store.training_events()) == 2000


CHILD = r"""
import sys
from pathlib import Path
from gui_app.core.labels import LabelStore

store = LabelStore(Path(sys.argv[1]))
i = len(store.labels())
while True:
    if i % 10 == 0 and f"extra{i}" not in store.class_names():
        store.add_class(f"extra{i}")
    store.set_label(f"img{i}.jpg", f"c{i % 3}", {"c0": 0.5})
    print(f"committed {i}", flush=True)
    i += 1
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")
def test_sigkill_mid_way_loses_nothing_committed(tmp_path: Path) -> None:
    db = tmp_path / "labels.sqlite"
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    committed: list[int] = []
    for lines_before_kill in (60, 45):  # the second child reopens the recovered database
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None and proc.stderr is not None
        output = []
        while len(output) < lines_before_kill:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            output.append(line)
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        committed += [int(line.split()[1]) for line in [*output, *rest.splitlines()] if line]
        raw = sqlite3.connect(db)
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        raw.close()
    assert len(committed) >= 105
    with LabelStore(db) as s:
        labels, names = s.labels(), set(s.class_names())
        for n in committed:
            assert labels[f"img{n}.jpg"] == f"c{n % 3}"
            if n % 10 == 0:
                assert f"extra{n}" in names
        label_events = {e.path for e in s.journal() if e.kind == "label"}
        assert {f"img{n}.jpg" for n in committed} <= label_events
