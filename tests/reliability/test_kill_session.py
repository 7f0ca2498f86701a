"""kill -9 at random moments while a child applies label actions through `LabelingSession`.

Four lanes (separate project folders) run at once; in each, a warm zygote forks one child per
trial that reopens the folder the previous child was killed in, recovers it, then labels,
relabels, undoes, redoes, adds/renames/merges/deletes classes and saves model snapshots until
it is SIGKILLed after a random delay. After every kill the parent checks the promises.
"""

from __future__ import annotations

import json
import random
import re
import signal
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gui_app.core.project import Project
from gui_app.core.session import LabelingSession
from tests.reliability.conftest import scaled
from tests.reliability.helpers import (
    REPO,
    assert_same_predictions,
    child_env,
    image_paths,
    integrity,
    replayed,
    synthetic_vectors,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork and SIGKILL are POSIX-only")

LANES = 4
DIM = 24
IMAGES = 120
COMMITTED = re.compile(r"^committed (\d+) (\S+) (\S+) (\S+)$")


@dataclass
class LaneStats:
    trials: int = 0
    committed: int = 0
    snapshot_loaded: int = 0
    snapshot_discarded: int = 0
    no_labels: int = 0
    leftovers: list[str] = field(default_factory=list)


def _delay(rng: random.Random) -> float:
    # A third of the kills land while the child is still opening / rebuilding the project.
    return rng.uniform(0.0, 0.06) if rng.random() < 0.33 else rng.uniform(0.06, 0.45)


def verify_after_kill(root: Path, log: Path, stats: LaneStats) -> None:
    """Every promise made before a kill holds when the project is reopened."""
    lines = log.read_text(encoding="utf-8").split("\n")[:-1] if log.exists() else []
    committed = [m.groups() for line in lines if (m := COMMITTED.match(line))]
    stats.committed += len(committed)
    project = Project(root)
    assert integrity(project.labels_path) == "ok"
    session = LabelingSession(project)
    try:
        journal = {e.seq: e for e in session.labels.journal()}
        for seq, kind, path, label in committed:
            event = journal.get(int(seq))
            assert event is not None, f"committed action {seq} {kind} is missing from the journal"
            assert (event.kind, event.path or "-", event.label or "-") == (kind, path, label)
        if committed:  # at most the one action in flight was committed after the last line
            last = int(committed[-1][0])
            unreported = {e.seq for e in journal.values() if e.seq > last}
            raw = sqlite3.connect(project.labels_path)
            try:
                groups = raw.execute(
                    "SELECT DISTINCT grp FROM journal WHERE seq > ?", (last,)
                ).fetchall()
            finally:
                raw.close()
            assert len(groups) <= 1, f"unreported action groups after seq {last}: {unreported}"

        head = session.labels.last_seq()
        paths = image_paths(IMAGES)
        vectors = synthetic_vectors(paths, DIM)
        sample = vectors[::6]
        if session.needs_rebuild:
            # The snapshot is missing or stale/damaged: discarded with a message, then replayed.
            assert session.snapshot_message or not project.model_path.exists()
            stats.snapshot_discarded += 1
            session.add_vectors(paths, vectors)
            assert session.ready_to_rebuild
            session.rebuild()
            assert_same_predictions(session.learner, replayed(session), sample)
        else:
            session.add_vectors(paths, vectors)
            if session.labels.label_count() == 0:
                stats.no_labels += 1
            elif session.snapshot_message is None:
                stats.snapshot_loaded += 1
                assert session.learner.journal_seq == head
            # Loaded or fresh, the learner must be exactly the one a replay of the journal gives.
            assert_same_predictions(session.learner, replayed(session), sample)
    finally:
        session.labels.close()  # no snapshot save: the next child recovers what the kill left
    stats.leftovers += [p.name for p in project.dir.glob(".model.pkl.*.tmp")]


def run_lane(lane: int, base: Path, trials: int) -> LaneStats:
    root = base / f"lane{lane}"
    root.mkdir()
    rng = random.Random(1000 + lane)
    stats = LaneStats()
    zygote = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability._children", "zygote"],
        cwd=REPO,
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert zygote.stdin is not None and zygote.stdout is not None
    try:
        for trial in range(trials):
            log = base / f"lane{lane}-trial{trial}.log"
            request = {
                "root": str(root),
                "log": str(log),
                "seed": lane * 10_000 + trial,
                "dim": DIM,
                "images": IMAGES,
                "delay": _delay(rng),
                # some children stop acting after a snapshot save, as an idle user would
                "idle": rng.randrange(1, 15) if rng.random() < 0.3 else -1,
            }
            zygote.stdin.write(json.dumps(request) + "\n")
            zygote.stdin.flush()
            reply = json.loads(zygote.stdout.readline())
            err = Path(str(log) + ".err")
            detail = err.read_text() if err.exists() else ""
            assert reply["signal"] == signal.SIGKILL, f"child ended on its own: {reply}\n{detail}"
            verify_after_kill(root, log, stats)
            stats.trials += 1
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=30)
    return stats


def test_kill_9_during_label_actions_loses_nothing_committed(tmp_path: Path) -> None:
    trials = scaled(60, minimum=LANES)
    per_lane = -(-trials // LANES)
    with ThreadPoolExecutor(LANES) as pool:
        lanes = list(pool.map(lambda i: run_lane(i, tmp_path, per_lane), range(LANES)))
    total = sum(s.trials for s in lanes)
    committed = sum(s.committed for s in lanes)
    loaded = sum(s.snapshot_loaded for s in lanes)
    discarded = sum(s.snapshot_discarded for s in lanes)
    leftovers = {name for s in lanes for name in s.leftovers}
    print(
        f"{total} kills, {committed} committed actions checked, snapshot loaded {loaded}x, "
        f"discarded {discarded}x, leftover temp files {len(leftovers)}"
    )
    assert total >= 50 or trials < 50
    assert committed >= 5 * total, "the children hardly acted before being killed"
    assert discarded > 0  # killed after the last snapshot: the stale one must be replaced
    assert loaded > 0  # killed while idle after a snapshot: it is loaded and equals a replay
