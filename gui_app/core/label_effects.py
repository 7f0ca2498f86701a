"""What each journal row does to the state tables (forwards and back), and opening a database.

Functions of an open :mod:`sqlite3` connection inside the caller's transaction;
:class:`gui_app.core.labels.LabelStore` wraps them in one transaction per user action.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from pathlib import Path

from gui_app.core.label_schema import (
    _NOT_UNDO,
    _SCHEMA,
    _TABLES,
    _UPSERT,
    APPLICATION_ID,
    FORMAT_VERSION,
    LABEL_KINDS,
    MARK_KINDS,
    MIGRATIONS,
    ClassInfo,
    LabelError,
)


def open_database(db: sqlite3.Connection, path: Path) -> None:
    db.execute("PRAGMA busy_timeout = 5000")
    if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
        raise LabelError(f"cannot use write-ahead logging for {path}")
    # Commits do not wait for the disk; wal_sync.WalFlusher fsyncs the log and checkpoints it
    # on its own thread (a checkpoint here would run on the labelling thread).
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA wal_autocheckpoint = 0")
    db.execute("PRAGMA foreign_keys = ON")
    problems = [r[0] for r in db.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise LabelError(f"{path} is damaged: {'; '.join(problems[:3])}")
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if app_id == 0 and version == 0 and not tables:
        try:
            db.executescript(
                f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA application_id = {APPLICATION_ID};"
                f" PRAGMA user_version = {FORMAT_VERSION}; COMMIT;"
            )
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    elif app_id != APPLICATION_ID:
        raise LabelError(f"{path} is not a Loupe label database")
    elif version > FORMAT_VERSION:
        raise LabelError(f"{path} was written by a newer Loupe (format {version})")
    elif version < 1 or not _TABLES.issubset(tables):
        raise LabelError(f"{path} is damaged: missing tables or format version")
    elif version < FORMAT_VERSION:
        migrate(db, version)


def migrate(db: sqlite3.Connection, version: int) -> None:
    """Upgrade an older database in place, one transaction (all or nothing)."""
    try:
        db.execute("BEGIN IMMEDIATE")
        for old in range(version, FORMAT_VERSION):
            for statement in MIGRATIONS[old].split(";"):
                if statement.strip():
                    db.execute(statement)
        db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def find_class(db: sqlite3.Connection, name: str) -> ClassInfo:
    key = unicodedata.normalize("NFC", name.strip()) if isinstance(name, str) else name
    row = db.execute("SELECT name, color, position FROM classes WHERE name = ?", (key,))
    if (found := row.fetchone()) is None:
        raise LabelError(f'no class named "{name}"')
    return ClassInfo(*found)


def check_free(db: sqlite3.Connection, name: str, ignore: str | None = None) -> None:
    for (other,) in db.execute("SELECT name FROM classes"):
        if other != ignore and other.casefold() == name.casefold():
            case = "" if other == name else " (names differ only in letter case)"
            raise LabelError(f'class "{other}" already exists{case}')


def new_group(db: sqlite3.Connection) -> int:
    return db.execute("SELECT coalesce(max(grp), 0) + 1 FROM journal").fetchone()[0]


def apply_row(db: sqlite3.Connection, kind: str, row: dict, forward: bool) -> None:
    """Apply (``forward``) or revert the state change of one journal row."""
    path, label, prev, target = (row.get(k) for k in ("path", "label", "previous", "target"))
    data, ex = row.get("data") or {}, db.execute
    if kind in LABEL_KINDS or kind == "unlabel":
        new = label if forward else prev
        if new is None:
            ex("DELETE FROM labels WHERE path = ?", (path,))
        else:
            ex(_UPSERT, (path, new))
        cleared = data.get("cleared") or ()
        if forward:
            ex("DELETE FROM marks WHERE path = ?", (path,))
        else:
            db.executemany("INSERT INTO marks VALUES (?, ?)", ((path, m) for m in cleared))
    elif kind in MARK_KINDS:
        if (kind == "mark") == forward:
            ex("INSERT INTO marks VALUES (?, ?)", (path, label))
        else:
            ex("DELETE FROM marks WHERE path = ? AND mark = ?", (path, label))
    elif kind == "add_class" and forward:
        insert_class(db, label, data["color"], data["position"])
    elif kind == "add_class":
        remove_class(db, label)
    elif kind == "rename_class":
        old, new = (prev, target) if forward else (target, prev)
        ex("UPDATE classes SET name = ?, n = 0 WHERE name = ?", (new, old))  # cascade recounts
    elif kind in ("merge_classes", "delete_class") and forward:
        if kind == "merge_classes":
            ex("UPDATE labels SET label = ? WHERE label = ?", (target, label))
        else:
            ex("DELETE FROM labels WHERE label = ?", (label,))
        remove_class(db, label)
    elif kind in ("merge_classes", "delete_class"):
        insert_class(db, label, data["color"], data["position"])
        db.executemany(_UPSERT, ((p, label) for p in data["paths"]))
    elif kind == "recolor_class":
        ex("UPDATE classes SET color = ? WHERE name = ?", (target if forward else prev, label))
    elif kind == "move_class":
        old, new = (data["from"], data["to"]) if forward else (data["to"], data["from"])
        lo, hi, step = (old + 1, new, -1) if old < new else (new, old - 1, 1)
        ex("UPDATE classes SET position = position + ? WHERE position BETWEEN ? AND ?",
           (step, lo, hi))  # fmt: skip
        ex("UPDATE classes SET position = ? WHERE name = ?", (new, label))
    else:
        raise LabelError(f"unknown journal kind {kind!r}")


def insert_class(db: sqlite3.Connection, name: str, color: str, position: int) -> None:
    db.execute("UPDATE classes SET position = position + 1 WHERE position >= ?", (position,))
    db.execute("INSERT INTO classes(name, color, position) VALUES (?, ?, ?)",
               (name, color, position))  # fmt: skip


def remove_class(db: sqlite3.Connection, name: str) -> None:
    (position,) = db.execute("SELECT position FROM classes WHERE name = ?", (name,)).fetchone()
    db.execute("DELETE FROM classes WHERE name = ?", (name,))
    db.execute("UPDATE classes SET position = position - 1 WHERE position > ?", (position,))


def undo_target(db: sqlite3.Connection) -> int | None:
    row = db.execute(
        f"SELECT grp FROM journal WHERE undone = 0 AND {_NOT_UNDO} ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def redo_target(db: sqlite3.Connection) -> int | None:
    # Redoable: groups undone since the latest new action, most recently undone first.
    row = db.execute(
        "SELECT u.ref FROM journal u WHERE u.kind = 'undo' AND u.seq > coalesce((SELECT seq"
        f" FROM journal WHERE {_NOT_UNDO} ORDER BY seq DESC LIMIT 1), 0) AND EXISTS (SELECT 1"
        " FROM journal g WHERE g.grp = u.ref AND g.undone = 1) ORDER BY u.seq DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def has_mark(db: sqlite3.Connection, path: str, mark: str) -> bool:
    found = db.execute("SELECT 1 FROM marks WHERE path = ? AND mark = ?", (path, mark))
    return found.fetchone() is not None
