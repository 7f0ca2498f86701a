"""The label journal's log reaches the disk off the labelling thread (gui_app.core.wal_sync)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from gui_app.core import wal_sync
from gui_app.core.labels import LabelStore


def _wait(condition, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_label_is_fsynced_and_checkpointed_by_the_flusher_thread(tmp_path: Path, monkeypatch):
    synced_on: list[str] = []
    real_fsync = wal_sync.os.fsync

    def recording_fsync(fd: int) -> None:
        synced_on.append(threading.current_thread().name)
        real_fsync(fd)

    monkeypatch.setattr(wal_sync.os, "fsync", recording_fsync)
    store = LabelStore(tmp_path / "labels.sqlite")
    try:
        store._flusher.delay = 0.05
        store.set_label("a.jpg", "cat", {"cat": 0.5, "dog": 0.5})
        assert _wait(lambda: store._flusher.flushes >= 1)
        assert synced_on and set(synced_on) == {"loupe-wal-sync"}
        # The checkpoint copied the label into the database file itself: a reader that
        # ignores the log (immutable=1) sees it.
        assert _wait(lambda: _label_in_main_file(tmp_path / "labels.sqlite") == "cat")
    finally:
        store.close()


def _label_in_main_file(db: Path) -> str | None:
    uri = f"file:{db}?immutable=1"
    con = sqlite3.connect(uri, uri=True)
    try:
        row = con.execute("SELECT label FROM labels WHERE path = 'a.jpg'").fetchone()
    except sqlite3.Error:
        return None
    finally:
        con.close()
    return row[0] if row else None


def test_close_flushes_and_stops_the_thread(tmp_path: Path):
    store = LabelStore(tmp_path / "labels.sqlite")
    store._flusher.delay = 30.0  # no timed flush before close
    store.set_label("a.jpg", "cat")
    thread = store._flusher._thread
    assert thread is not None and thread.is_alive()
    store.close()
    assert not thread.is_alive()
    assert store._flusher.flushes >= 1 or not store._flusher.wal.exists()
    with LabelStore(tmp_path / "labels.sqlite") as again:
        assert again.labels() == {"a.jpg": "cat"}


def test_a_store_that_only_reads_starts_no_thread(tmp_path: Path):
    LabelStore(tmp_path / "labels.sqlite").close()
    store = LabelStore(tmp_path / "labels.sqlite")
    try:
        store.labels()
        assert store._flusher._thread is None
    finally:
        store.close()
