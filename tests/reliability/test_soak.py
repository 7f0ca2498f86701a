"""A scaled-down soak (benchmarks/bench_soak.py's script): no errors, and everything agrees.

Timing is the benchmark's business; here the long mixed session must end with a journal, a
label table, a saved snapshot and a replayed learner that all tell the same story.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from gui_app.core.labels import LABEL_KINDS
from gui_app.core.project import Project
from gui_app.core.session import LabelingSession
from tests.reliability.conftest import scaled
from tests.reliability.helpers import REPO, assert_same_predictions, integrity, replayed


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_soak", REPO / "benchmarks" / "bench_soak.py"
    )
    assert spec is not None and spec.loader is not None
    module = sys.modules.get("bench_soak")
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_soak"] = module  # dataclasses look their module up while defined
        spec.loader.exec_module(module)
    return module


def test_soak_session_stays_consistent(tmp_path: Path) -> None:
    bench = _bench()
    images, dim, classes, seed = scaled(2000), 64, 20, 3
    lines: list[str] = []
    result = bench.run_soak(
        tmp_path,
        actions=scaled(500),
        images=images,
        dim=dim,
        max_classes=classes,
        seed=seed,
        window=100,
        save_every=100,
        out=lines.append,
    )
    assert result.errors == []
    assert result.actions == scaled(500) and len(result.windows) == scaled(500) // 100
    assert {"label", "relabel", "confirm", "undo", "redo", "add_class"} <= set(result.kinds)

    project = Project(tmp_path)
    assert integrity(project.labels_path) == "ok"
    session = LabelingSession(project)
    try:
        # The label table is exactly what the journal says: per image, its latest live label.
        expected: dict[str, str] = {}
        for event in session.labels.journal(include_undone=False):
            if event.kind in LABEL_KINDS:
                expected[event.path] = event.label
        assert session.labels.labels() == dict(sorted(expected.items()))
        counts = session.labels.counts()
        assert sum(counts.values()) == session.labels.label_count() == len(expected)
        assert 2 < len(counts) <= classes

        # The snapshot written at close is current and equals a replay of the journal.
        assert not session.needs_rebuild and session.snapshot_message is None
        assert session.learner.journal_seq == session.labels.last_seq()
        paths = [f"batch{i // 1000:02d}/img{i:05d}.jpg" for i in range(images)]
        features, _truth = bench.synthetic_features(images, dim, classes, seed)
        session.add_vectors(paths, features)
        assert_same_predictions(session.learner, replayed(session), features[::97])
    finally:
        session.labels.close()
