"""model.pkl written from several threads: never an older snapshot over a newer one."""

from __future__ import annotations

import threading
from pathlib import Path

from gui_app.core.snapshots import SnapshotWriter


def test_an_older_snapshot_never_replaces_a_newer_one(tmp_path: Path):
    writer = SnapshotWriter(tmp_path / "model.pkl")
    assert writer.write(b"seq 5", 5)
    assert not writer.write(b"seq 3", 3)  # a task that finished late
    assert writer.path.read_bytes() == b"seq 5"
    assert writer.write(b"seq 5 again", 5)  # the same position: the same model
    assert writer.write(b"seq 9", 9)
    assert writer.path.read_bytes() == b"seq 9"


def test_concurrent_writers_leave_the_latest_position(tmp_path: Path):
    writer = SnapshotWriter(tmp_path / "model.pkl")
    threads = [
        threading.Thread(target=writer.write, args=(f"seq {i}".encode(), i))
        for i in [3, 8, 1, 7, 8, 2, 6]
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert writer.path.read_bytes() == b"seq 8"
    assert not list(tmp_path.glob("*.tmp*"))  # no temporary file left behind
