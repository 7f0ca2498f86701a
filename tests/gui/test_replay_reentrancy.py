"""Replays run off the GUI thread: never nested, and a saved snapshot is always current.

A project with 1,200 labels is opened in the real controller; class renames and merges start
replays on a background task while the snapshot timer fires every few milliseconds, feature
ingestion re-delivers every cached vector and labels keep coming. Every snapshot written must
equal a replay of the journal at the position it is tagged with.
"""

from __future__ import annotations

import pickle
import threading

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QSettings, QTimer

from gui_app.core import rebuild
from gui_app.core.backbones import resolve_backbone
from gui_app.core.labels import LabelStore
from gui_app.core.learner import OnlineLearner
from gui_app.core.store import FeatureStore, FileKey
from gui_app.qt.controller import Controller
from gui_app.qt.settings import AppSettings

N_IMAGES, N_LABELS, CLASSES = 1500, 1200, ("a", "b", "c", "d")
pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path, tiny_backbone):
    root = tmp_path / "imgs"
    root.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for i in range(N_IMAGES):
        cv2.imwrite(str(root / f"i{i:05d}.png"), np.full((4, 4, 3), i % 250, np.uint8))
        paths.append(f"i{i:05d}.png")
    spec = resolve_backbone(str(tiny_backbone), "file")
    centers = rng.normal(0, 2, (len(CLASSES), spec.feature_dim))
    truth = [CLASSES[i % len(CLASSES)] for i in range(N_IMAGES)]
    vectors = centers[[CLASSES.index(t) for t in truth]] + rng.normal(0, 1, (N_IMAGES, 16))
    with FeatureStore(root / ".loupe" / "features.h5", spec.id, spec.feature_dim) as store:
        store.append([FileKey.for_file(root, p) for p in paths], vectors.astype(np.float32))
    with LabelStore(root / ".loupe" / "labels.sqlite") as labels:
        labels.set_labels([(paths[i], truth[i]) for i in range(N_LABELS)])
        labels.set_setting("backbone", spec.model_path)
        labels.set_setting("weights", "file")
    return root


def expected_model(session) -> OnlineLearner:
    events = [(lab, session.vectors.get(p)) for _s, p, lab in session.labels.training_events()]
    return OnlineLearner.rebuild(session.learner_name, events, session.class_names())


def test_replays_never_nest_and_snapshots_are_always_current(qtbot, tmp_path, project, monkeypatch):
    running, most, runs = [0], [0], [0]
    guard = threading.Lock()
    original_run = rebuild.RebuildPlan.run

    def counted_run(self, progress=None, should_stop=None):
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
            runs[0] += 1
        try:
            return original_run(self, progress, should_stop)
        finally:
            with guard:
                running[0] -= 1

    monkeypatch.setattr(rebuild.RebuildPlan, "run", counted_run)
    monkeypatch.setattr("gui_app.qt.rebuilder.INLINE_WORK", 0)  # every replay on the task
    ini = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    controller = Controller(AppSettings(ini))
    saved: list[tuple[int, float]] = []
    assert controller.open_folder(str(project))
    session = controller.session
    original_snapshot = session.snapshot
    probe = np.zeros(16, np.float32)

    def checked_snapshot():
        snapshot = original_snapshot()
        if snapshot is not None:  # what is written must be the replay of the journal at its tag
            written = pickle.loads(snapshot[0])
            assert written.journal_seq == snapshot[1] == session.labels.last_seq()
            want = expected_model(session).predict_proba(probe)
            got = written.predict_proba(probe)
            assert got == pytest.approx(want, abs=1e-9)
            saved.append((written.journal_seq, max(got.values())))
        return snapshot

    session.snapshot = checked_snapshot
    qtbot.waitUntil(lambda: controller.extraction_state == "done", timeout=30000)
    qtbot.waitUntil(lambda: not session.needs_rebuild, timeout=30000)
    snapshot_timer = QTimer(interval=3)
    snapshot_timer.timeout.connect(controller.labelling.save_snapshot)
    snapshot_timer.start()
    try:
        controller.rename_class("a", "alpha")
        controller.host.start_extraction()  # every cached vector is ingested again
        controller.merge_classes("b", "c")  # supersedes the running rename replay
        for i in range(N_LABELS, N_LABELS + 20):  # labels keep coming during the replays
            controller.set_current_row(controller.model.row_of(f"i{i:05d}.png"))
            controller.assign_class("d")
        controller.rename_class("d", "delta")
        qtbot.waitUntil(
            lambda: (
                not session.needs_rebuild
                and controller.idle()
                and controller.extraction_state == "done"
            ),
            timeout=60000,
        )
        qtbot.wait(50)
    finally:
        snapshot_timer.stop()
    assert most[0] == 1 and runs[0] >= 2  # several replays, one at a time
    assert saved and saved[-1][0] == session.labels.last_seq()
    qtbot.waitUntil(  # the task wrote the last snapshot, and no older one replaced it
        lambda: pickle.loads(session.project.model_path.read_bytes()).journal_seq == saved[-1][0]
    )
    assert session.predict("i01300.png")  # the final model predicts with today's classes
    assert set(session.predict("i01300.png")) == {"alpha", "c", "delta"}
    controller.shutdown()
