"""Power-loss durability of the label journal, off the thread that labels.

The label database runs in WAL mode with ``synchronous=NORMAL``: a committed transaction is in
the write-ahead log at once, so it survives the application being killed, but SQLite would
only fsync the log at checkpoints. With ``synchronous=FULL`` every commit waited for the disk
on the thread that committed, the window's: 100-300 ms now and then on a busy disk
(``benchmarks/bench_gui.py``), a frozen window after a key press. :class:`WalFlusher` fsyncs
the log on its own thread within :data:`FLUSH_DELAY_S` of a commit, which bounds what a power
cut or an operating-system crash can take back to about a second of labelling. It also runs
the checkpoints (copying the log into the database, with their fsyncs) on its own connection,
so SQLite's automatic checkpoint, which runs on the committing thread, is turned off
(``PRAGMA wal_autocheckpoint = 0`` in :func:`gui_app.core.label_effects.open_database`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

FLUSH_DELAY_S = 1.0  # commits within this window share one fsync


class WalFlusher:
    """Fsyncs ``<database>-wal`` on a daemon thread shortly after each :meth:`committed`."""

    def __init__(self, database: Path, delay: float = FLUSH_DELAY_S) -> None:
        self.database = Path(database)
        self.wal = Path(f"{database}-wal")
        self.delay = delay
        self.flushes = 0  # completed fsyncs (tests)
        self._dirty = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._db: sqlite3.Connection | None = None  # the flusher's own, for checkpoints

    def committed(self) -> None:
        """A transaction was committed: make it durable within :attr:`delay` seconds."""
        if self._closing.is_set():
            return
        with self._start_lock:
            if self._thread is None:  # started on the first commit: read-only stores need none
                self._thread = threading.Thread(
                    target=self._run, name="loupe-wal-sync", daemon=True
                )
                self._thread.start()
        self._dirty.set()

    def close(self) -> None:
        """Stop the thread and fsync what is left (idempotent)."""
        self._closing.set()
        self._dirty.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=10)
            self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None

    def flush(self) -> None:
        """Fsync the write-ahead log now (nothing to do when SQLite has removed it)."""
        try:
            fd = os.open(self.wal, os.O_RDWR)  # Windows flushes only files open for writing
        except OSError:
            return
        try:
            os.fsync(fd)
            self.flushes += 1
        except OSError:
            pass  # the next commit tries again; SQLite's own checkpoint fsyncs too
        finally:
            os.close(fd)

    def _run(self) -> None:
        while not self._closing.is_set():
            self._dirty.wait()
            self._closing.wait(self.delay)  # gather the commits of the next second
            self._dirty.clear()
            if not self._closing.is_set():
                self.flush()
                self.checkpoint()

    def checkpoint(self) -> None:
        """Copy the log into the database (``PASSIVE``: never waits for the labelling thread)."""
        try:
            if self._db is None:
                self._db = sqlite3.connect(
                    self.database, isolation_level=None, check_same_thread=False, timeout=1.0
                )
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            if self._db is not None:  # busy or gone: a fresh connection next time
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
                self._db = None
