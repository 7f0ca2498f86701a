"""Writing ``model.pkl`` from any thread without an older snapshot replacing a newer one.

The window pickles the model on its own thread (milliseconds: a consistent state) and leaves
the file write, with its fsyncs, to a background task: on a busy disk an fsync took up to a
quarter of a second. Writes of several threads are ordered by the journal position each
snapshot reflects: a write older than the last one written is dropped.
"""

from __future__ import annotations

import threading
from pathlib import Path

from gui_app.core.atomic import atomic_write_bytes


class SnapshotWriter:
    """Atomic, monotonic writes of one model snapshot file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._written = -1  # journal position of the last snapshot written

    def write(self, data: bytes, journal_seq: int) -> bool:
        """Write ``data`` (the snapshot at ``journal_seq``) unless a later one is on disk.

        Raises ``OSError`` when the file cannot be written (nothing changes then).
        """
        with self._lock:
            if journal_seq < self._written:
                return False
            atomic_write_bytes(self.path, data)
            self._written = journal_seq
            return True
