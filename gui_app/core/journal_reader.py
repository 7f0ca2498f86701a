"""Read a label journal through a read-only connection of its own, in chunks.

For worker threads that need the whole journal (the Insight panel opening on a long history):
a :class:`~gui_app.core.labels.LabelStore` serialises every read behind its lock, so one
100,000-row read would hold up the GUI thread's next label action for the whole query. Under
WAL, this separate reader never blocks the writer, and each chunk is one short query.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from gui_app.core.label_schema import _EVENT_COLUMNS, Event, LabelError

CHUNK_ROWS = 10_000


def iter_journal(path: Path, since: int = 0, chunk: int = CHUNK_ROWS) -> Iterator[Event]:
    """Journal rows with ``seq > since`` in ``seq`` order, as `LabelStore.journal` gives them.

    Rows appended while iterating are included; an ``undone`` flag that changes meanwhile is
    carried by the later ``undo``/``redo`` row, so a consumer such as
    :class:`~gui_app.core.insight.InsightTracker` stays exact.

    Raises
    ------
    LabelError
        The database cannot be opened or read.
    """
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        raise LabelError(f"cannot read the label journal {path}: {exc}") from exc
    try:
        while True:
            try:
                rows = db.execute(
                    f"SELECT {_EVENT_COLUMNS} FROM journal WHERE seq > ? ORDER BY seq LIMIT ?",
                    (since, chunk),
                ).fetchall()
            except sqlite3.Error as exc:
                raise LabelError(f"cannot read the label journal {path}: {exc}") from exc
            if not rows:
                return
            for r in rows:
                yield Event(*r[:7], _json(r[7]), bool(r[8]), _json(r[9]))
            since = rows[-1][0]
    finally:
        db.close()


def _json(text: str | None):
    return None if text is None else json.loads(text)
