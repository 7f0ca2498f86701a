"""Hostile input: class names, foreign model snapshots, pickles that would run code."""

from __future__ import annotations

import importlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from gui_app.core.labels import LabelError
from gui_app.core.learner import LearnerError, OnlineLearner
from gui_app.core.project import Project
from gui_app.core.session import LabelingSession
from tests.reliability.helpers import (
    assert_same_predictions,
    image_paths,
    replayed,
    synthetic_vectors,
)

DIM = 12
PATHS = image_paths(30)
VECTORS = synthetic_vectors(PATHS, DIM)


@pytest.fixture
def session(tmp_path: Path):
    s = LabelingSession(Project(tmp_path))
    s.add_vectors(PATHS, VECTORS)
    yield s
    s.labels.close()


REJECTED = {
    "newline": ("cat\ndog", "control characters"),
    "tab": ("cat\tdog", "control characters"),
    "nul": ("cat\x00", "control characters"),
    "escape sequence": ("\x1b[31mred", "control characters"),
    "delete char": ("a\x7fb", "control characters"),
    "line separator": ("cat\u2028dog", "control characters"),
    "paragraph separator": ("cat\u2029dog", "control characters"),
    "lone surrogate": ("cat\ud800", "surrogate"),
    "10,000 characters": ("x" * 10_000, "longer than 100 characters"),
    "101 characters": ("é" * 101, "longer than 100 characters"),
    "empty": ("", "empty"),
    "only spaces": ("   ", "empty"),
    "not text": (42, "must be text"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_bad_class_names_are_rejected_with_a_reason_and_change_nothing(session, case) -> None:
    name, reason = REJECTED[case]
    session.label(PATHS[0], "cat")
    head, classes = session.labels.last_seq(), session.labels.class_names()
    learned = session.learner.n_learned
    attempts = [
        lambda: session.label(PATHS[1], name),
        lambda: session.add_class(name),
        lambda: session.rename_class("cat", name),
    ]
    for attempt in attempts:
        with pytest.raises(LabelError, match=reason):
            attempt()
    assert session.labels.last_seq() == head and session.labels.class_names() == classes
    assert session.learner.n_learned == learned and session.labels.label_of(PATHS[1]) is None


ACCEPTED = {
    "html": "<b>x</b>",
    "script": "<script>alert(1)</script>",
    "hebrew (rtl)": "חתול",
    "arabic (rtl)": "قطة",
    "mixed rtl/ltr": "cat قطة 3",
    "forward slash": "cats/big",
    "backslash": "cats\\big",
    "dots": "../..",
    "sql": "x'); DROP TABLE labels; --",
    "emoji": "🐈‍⬛ cat",
    "percent and braces": "%s {0} %(x)s",
    "exactly 100": "y" * 100,
}


def test_unusual_but_valid_class_names_are_stored_verbatim(session, tmp_path) -> None:
    for i, name in enumerate(ACCEPTED.values()):
        session.label(PATHS[i], name)
    session.label(PATHS[20], "e\u0301t\u00e9")  # decomposed é: stored NFC
    labels = session.labels.labels()
    for i, name in enumerate(ACCEPTED.values()):
        assert labels[PATHS[i]] == name
    assert labels[PATHS[20]] == "été"
    assert set(ACCEPTED.values()) <= set(session.labels.class_names())
    with pytest.raises(LabelError, match="already exists"):
        session.add_class("<B>X</B>")  # case-insensitive duplicate of the HTML name
    session.close()

    reopened = LabelingSession(Project(tmp_path))  # verbatim after a round trip, model intact
    try:
        assert not reopened.needs_rebuild
        assert reopened.labels.labels() == labels
        reopened.add_vectors(PATHS, VECTORS)
        assert_same_predictions(reopened.learner, replayed(reopened), VECTORS[::3])
        probs = reopened.predict(PATHS[25])
        assert "<b>x</b>" in probs and "חתול" in probs
    finally:
        reopened.labels.close()


# ----------------------------------------------------------------------------- model.pkl


class _Boom:
    """Unpickling this object creates a marker file: proof that a pickle ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _learner() -> OnlineLearner:
    learner = OnlineLearner("logistic")
    for i in range(10):
        learner.learn(VECTORS[i], f"c{i % 2}")
    return learner


def test_snapshot_is_only_unpickled_from_the_projects_own_folder(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    project = Project(tmp_path / "images")
    outside = tmp_path / "elsewhere" / "model.pkl"
    outside.parent.mkdir()
    marker = tmp_path / "pwned"
    outside.write_bytes(pickle.dumps(_Boom(marker)))

    with pytest.raises(LearnerError, match="refusing to load a model snapshot outside"):
        OnlineLearner.load(outside, project.dir)
    with pytest.raises(LearnerError, match="refusing"):
        OnlineLearner.load(project.dir / ".." / ".." / "elsewhere" / "model.pkl", project.dir)
    project.model_path.symlink_to(outside)  # a link planted inside .loupe pointing out
    with pytest.raises(LearnerError, match="refusing"):
        OnlineLearner.load(project.model_path, project.dir)
    session = LabelingSession(project)  # the session reports it and carries on
    try:
        assert "refusing to load a model snapshot outside" in (session.snapshot_message or "")
    finally:
        session.labels.close()
    assert not marker.exists()

    good = tmp_path / "good.pkl"
    _learner().save(good)
    with pytest.raises(LearnerError, match="refusing"):  # even a genuine snapshot elsewhere
        OnlineLearner.load(good, project.dir)


# ----------------------------------------------------------------------------- portable export


def _portable_module():
    for name in ("gui_app.core.export_model", "gui_app.core.export"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "load_portable") and hasattr(module, "export_portable"):
            return module
    pytest.skip("no portable export (export_portable/load_portable) in gui_app.core yet")


def test_portable_export_loads_without_pickle(tmp_path: Path, monkeypatch) -> None:
    module = _portable_module()
    learner = OnlineLearner("logistic")
    names = ["<b>x</b>", "חתול", "cat"]
    for i in range(24):
        learner.learn(VECTORS[i], names[i % 3])
    out = module.export_portable(learner, "bb-test", tmp_path / "portable")

    def no_pickle(*args, **kwargs):
        raise AssertionError("load_portable used pickle")

    for attr in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, attr, no_pickle)
    model = module.load_portable(out)
    monkeypatch.undo()
    assert model.classes == names or sorted(model.classes) == sorted(names)
    probs = model.predict_proba(VECTORS[24:])
    for row, vector in zip(probs, VECTORS[24:], strict=True):
        expected = learner.predict_proba(vector)
        for c, p in zip(model.classes, row, strict=True):
            assert abs(expected[c] - p) < 1e-6


def test_portable_weights_with_a_pickled_object_are_refused(tmp_path: Path) -> None:
    module = _portable_module()
    learner = _learner()
    out = module.export_portable(learner, "bb-test", tmp_path / "portable")
    marker = tmp_path / "pwned"
    arrays = dict(np.load(out / "weights.npz"))
    arrays["coef"] = np.array([_Boom(marker)], dtype=object)  # would run code if unpickled
    with open(out / "weights.npz", "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(Exception) as info:
        module.load_portable(out)
    assert type(info.value).__name__ in ("ExportError", "ValueError")
    assert "pickle" in str(info.value).lower() or "cannot read" in str(info.value)
    assert not marker.exists()
    assert os.listdir(out)  # nothing deleted
