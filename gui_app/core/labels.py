"""Durable label store: classes, per-image labels and an append-only journal in SQLite.

The database (``<folder>/.loupe/labels.sqlite``) is the single source of truth. Every action is
one ``BEGIN IMMEDIATE`` transaction that changes the state tables *and* appends its journal
row(s); WAL with ``synchronous=FULL`` makes it durable once the method returns.

Journal (``journal`` table; rows are never deleted, and only ``undone`` ever changes)::

    seq INTEGER PRIMARY KEY   event order               grp INTEGER   action group (undo unit)
    kind TEXT                 one of KINDS              time REAL     unix seconds
    path, label, previous, target TEXT                  see Event
    prediction TEXT           JSON distribution shown to the user, or NULL
    data TEXT                 JSON needed to undo/redo (class colour/position/paths, cleared
                              marks) and label context ({"pick": why the image was shown})
    ref INTEGER               undo/redo rows: the group they undid/redid
    undone INTEGER            0/1, flipped by undo/redo in the same transaction
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gui_app.core.label_schema import (  # re-exported: the store's public vocabulary
    _EVENT_COLUMNS,
    _NOT_UNDO,
    _SCHEMA,
    _TABLES,
    _UPSERT,
    APPLICATION_ID,
    FORMAT_VERSION,
    KINDS,
    LABEL_KINDS,
    MARK_KINDS,
    MARKS,
    MAX_CLASS_NAME,
    MIGRATIONS,
    PALETTE,
    ClassInfo,
    Event,
    LabelError,
    check_color,
    check_path,
    check_prediction,
    validate_class_name,
)

__all__ = [
    "FORMAT_VERSION", "KINDS", "LABEL_KINDS", "MARKS", "MAX_CLASS_NAME", "PALETTE",
    "ClassInfo", "Event", "LabelError", "LabelStore", "validate_class_name",
]  # fmt: skip


class LabelStore:
    """Classes, labels, journal and project settings in one SQLite file (see module docstring).

    Parameters
    ----------
    path
        Database file; created (with parent folders) if missing.

    Raises
    ------
    LabelError
        If the file cannot be opened, is not a Loupe label database, or is damaged.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()  # one connection, usable from worker threads
        self._db: sqlite3.Connection | None = None
        db = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._open(db)
        except (OSError, sqlite3.OperationalError) as exc:
            raise LabelError(f"cannot open label database {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise LabelError(
                f"{self.path} is not a Loupe label database or is damaged: {exc}"
            ) from exc
        finally:
            if db is not None and self._db is None:
                db.close()

    def _open(self, db: sqlite3.Connection) -> None:
        db.execute("PRAGMA busy_timeout = 5000")
        if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise LabelError(f"cannot use write-ahead logging for {self.path}")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
        problems = [r[0] for r in db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise LabelError(f"{self.path} is damaged: {'; '.join(problems[:3])}")
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
            raise LabelError(f"{self.path} is not a Loupe label database")
        elif version > FORMAT_VERSION:
            raise LabelError(f"{self.path} was written by a newer Loupe (format {version})")
        elif version < 1 or not _TABLES.issubset(tables):
            raise LabelError(f"{self.path} is damaged: missing tables or format version")
        elif version < FORMAT_VERSION:
            self._migrate(db, version)
        self._db = db

    def _migrate(self, db: sqlite3.Connection, version: int) -> None:
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

    def close(self) -> None:
        """Close the database (idempotent); every returned action is already durable."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise LabelError(f"label database {self.path} is closed")
        return self._db

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._conn().execute(sql, params).fetchall()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:  # disk full, I/O error, read-only, busy
                raise LabelError(
                    f"cannot save to the label database {self.path}: {exc}; nothing was changed"
                ) from exc

    @staticmethod
    def _find(db: sqlite3.Connection, name: str) -> ClassInfo:
        key = unicodedata.normalize("NFC", name.strip()) if isinstance(name, str) else name
        row = db.execute("SELECT name, color, position FROM classes WHERE name = ?", (key,))
        if (found := row.fetchone()) is None:
            raise LabelError(f'no class named "{name}"')
        return ClassInfo(*found)

    @staticmethod
    def _check_free(db: sqlite3.Connection, name: str, ignore: str | None = None) -> None:
        for (other,) in db.execute("SELECT name FROM classes"):
            if other != ignore and other.casefold() == name.casefold():
                case = "" if other == name else " (names differ only in letter case)"
                raise LabelError(f'class "{other}" already exists{case}')

    @staticmethod
    def _new_group(db: sqlite3.Connection) -> int:
        return db.execute("SELECT coalesce(max(grp), 0) + 1 FROM journal").fetchone()[0]

    def _act(self, db: sqlite3.Connection, kind: str, grp: int | None = None, **row: Any) -> Event:
        """Apply one action row to the state tables and append it to the journal."""
        grp = self._new_group(db) if grp is None else grp
        if kind not in ("undo", "redo"):
            self._effect(db, kind, row, forward=True)
        now, pred, data = time.time(), row.get("prediction"), row.get("data")
        fields = [row.get(k) for k in ("path", "label", "previous", "target")]
        cur = db.execute(
            "INSERT INTO journal(grp, kind, time, path, label, previous, target, prediction, data,"
            " ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (grp, kind, now, *fields, None if pred is None else json.dumps(pred),
             None if data is None else json.dumps(data), row.get("ref")),
        )  # fmt: skip
        return Event(cur.lastrowid, kind, now, *fields, pred, False)

    def _effect(self, db: sqlite3.Connection, kind: str, row: dict, forward: bool) -> None:
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
            self._insert_class(db, label, data["color"], data["position"])
        elif kind == "add_class":
            self._remove_class(db, label)
        elif kind == "rename_class":
            old, new = (prev, target) if forward else (target, prev)
            ex("UPDATE classes SET name = ?, n = 0 WHERE name = ?", (new, old))  # cascade recounts
        elif kind in ("merge_classes", "delete_class") and forward:
            if kind == "merge_classes":
                ex("UPDATE labels SET label = ? WHERE label = ?", (target, label))
            else:
                ex("DELETE FROM labels WHERE label = ?", (label,))
            self._remove_class(db, label)
        elif kind in ("merge_classes", "delete_class"):
            self._insert_class(db, label, data["color"], data["position"])
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

    @staticmethod
    def _insert_class(db: sqlite3.Connection, name: str, color: str, position: int) -> None:
        db.execute("UPDATE classes SET position = position + 1 WHERE position >= ?", (position,))
        db.execute("INSERT INTO classes(name, color, position) VALUES (?, ?, ?)",
                   (name, color, position))  # fmt: skip

    @staticmethod
    def _remove_class(db: sqlite3.Connection, name: str) -> None:
        (position,) = db.execute("SELECT position FROM classes WHERE name = ?", (name,)).fetchone()
        db.execute("DELETE FROM classes WHERE name = ?", (name,))
        db.execute("UPDATE classes SET position = position - 1 WHERE position > ?", (position,))

    def _add_class(self, db: sqlite3.Connection, name: str, color: str | None, grp=None) -> Event:
        self._check_free(db, name)
        used = [r[0] for r in db.execute("SELECT color FROM classes")]
        if color is None:
            color = next((c for c in PALETTE if c not in used), PALETTE[len(used) % len(PALETTE)])
        data = {"color": check_color(color), "position": len(used)}
        return self._act(db, "add_class", grp, label=name, data=data)

    # ------------------------------------------------------------------ queries
    def classes(self) -> list[ClassInfo]:
        """All classes in display order."""
        rows = self._read("SELECT name, color, position FROM classes ORDER BY position")
        return [ClassInfo(*r) for r in rows]

    def class_names(self) -> list[str]:
        """Class names in display order."""
        return [r[0] for r in self._read("SELECT name FROM classes ORDER BY position")]

    def labels(self) -> dict[str, str]:
        """Current label of every labelled image, ``{path: class name}``, sorted by path."""
        return dict(self._read("SELECT path, label FROM labels ORDER BY path"))

    def label_of(self, path: str) -> str | None:
        """Current label of ``path``, or None."""
        rows = self._read("SELECT label FROM labels WHERE path = ?", (path,))
        return rows[0][0] if rows else None

    def counts(self) -> dict[str, int]:
        """Number of labelled images per class, every class present, in display order."""
        return dict(self._read("SELECT name, n FROM classes ORDER BY position"))

    def last_seq(self) -> int:
        """Sequence number of the newest journal row (0 for an empty journal); O(1)."""
        rows = self._read("SELECT COALESCE(MAX(seq), 0) FROM journal")
        return int(rows[0][0])

    def label_count(self) -> int:
        """Number of labelled images."""
        return int(self._read("SELECT COUNT(*) FROM labels")[0][0])

    def journal(self, include_undone: bool = True, *, since: int = 0) -> list[Event]:
        """Journal events with ``seq > since`` in ``seq`` order (optionally without undone ones)."""
        where = "seq > ?" + ("" if include_undone else " AND undone = 0")
        rows = self._read(
            f"SELECT {_EVENT_COLUMNS} FROM journal WHERE {where} ORDER BY seq", (since,)
        )
        return [Event(*r[:7], _json(r[7]), bool(r[8]), _json(r[9])) for r in rows]

    def training_events(self) -> list[tuple[int, str, str]]:
        """Label events to replay into a fresh learner, as ``(seq, path, class name)``.

        Rule: the journal's ``label``/``relabel``/``confirm`` rows that are not undone, in ``seq``
        order, each with its label mapped through every later not-undone rename and merge to
        today's class name. Dropped: events whose class was later deleted (not undone), and
        events of a path that precede a later not-undone ``unlabel`` of that path or a later
        not-undone ``delete_class`` that unlabelled it. Depends only on the journal, so it is
        deterministic.
        """
        kinds = (*LABEL_KINDS, "unlabel", "rename_class", "merge_classes", "delete_class")
        rows = self._read(
            "SELECT seq, kind, path, label, target, data FROM journal WHERE undone = 0 AND kind"
            f" IN ({', '.join('?' * len(kinds))}) ORDER BY seq DESC",
            kinds,
        )
        alias: dict[str, str | None] = {}  # class name at that time -> today's (None: deleted)
        gone: set[str] = set()  # paths unlabelled after the row being looked at
        out: list[tuple[int, str, str]] = []
        for seq, kind, path, label, target, data in rows:  # newest first
            if kind in LABEL_KINDS:
                name = alias.get(label, label)
                if name is not None and path not in gone:
                    out.append((seq, path, name))
            elif kind == "unlabel":
                gone.add(path)
            elif kind == "delete_class":
                alias[label] = None
                gone.update(json.loads(data)["paths"])
            else:  # rename/merge: the old name now means whatever the new one means later
                alias[label] = alias.get(target, target)
        return out[::-1]

    def group_rows(self, event: Event) -> list[Event]:
        """The journal rows of the group an ``undo``/``redo`` row acted on, in ``seq`` order."""
        rows = self._read(
            f"SELECT {_EVENT_COLUMNS} FROM journal WHERE grp ="
            " (SELECT ref FROM journal WHERE seq = ?) ORDER BY seq",
            (event.seq,),
        )
        return [Event(*r[:7], _json(r[7]), bool(r[8]), _json(r[9])) for r in rows]

    def labels_of(self, paths: Iterable[str]) -> dict[str, str | None]:
        """Current label (or None) of each path."""
        out: dict[str, str | None] = dict.fromkeys(paths)
        items = list(out)
        for start in range(0, len(items), 500):  # SQLite's bound-parameter limit
            part = items[start : start + 500]
            rows = self._read(
                f"SELECT path, label FROM labels WHERE path IN ({', '.join('?' * len(part))})",
                tuple(part),
            )
            out.update(rows)
        return out

    @staticmethod
    def _undo_target(db: sqlite3.Connection) -> int | None:
        row = db.execute(
            f"SELECT grp FROM journal WHERE undone = 0 AND {_NOT_UNDO} ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    @staticmethod
    def _redo_target(db: sqlite3.Connection) -> int | None:
        # Redoable: groups undone since the latest new action, most recently undone first.
        row = db.execute(
            "SELECT u.ref FROM journal u WHERE u.kind = 'undo' AND u.seq > coalesce((SELECT seq"
            f" FROM journal WHERE {_NOT_UNDO} ORDER BY seq DESC LIMIT 1), 0) AND EXISTS (SELECT 1"
            " FROM journal g WHERE g.grp = u.ref AND g.undone = 1) ORDER BY u.seq DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def can_undo(self) -> bool:
        """Whether `undo` has an action group to undo."""
        with self._lock:
            return self._undo_target(self._conn()) is not None

    def can_redo(self) -> bool:
        """Whether `redo` has an undone group to re-apply (any new action clears redo)."""
        with self._lock:
            return self._redo_target(self._conn()) is not None

    # ------------------------------------------------------------------ actions
    def add_class(self, name: str, color: str | None = None) -> Event:
        """Append a class; its colour defaults to the first unused `PALETTE` entry."""
        name = validate_class_name(name)
        with self._tx() as db:
            return self._add_class(db, name, color)

    def set_label(
        self,
        path: str,
        label: str,
        prediction: dict[str, float] | None = None,
        *,
        pick: str | None = None,
    ) -> Event:
        """Label ``path`` (kind ``label``/``relabel``/``confirm``), creating the class if needed.

        ``prediction`` (the distribution shown to the user) is stored in the journal, and
        ``pick`` says why the image was shown (``"uncertain"``, ``"audit-random"``, ...). A created
        class is journaled as its own ``add_class`` row in the same undo group; a name that
        differs from an existing class only in letter case is rejected. The image's marks
        (unsure, reviewed) are cleared; undo restores them.
        """
        return self.set_labels([(path, label)], {path: prediction}, pick=pick)[-1]

    def set_labels(
        self,
        items: Sequence[tuple[str, str]],
        predictions: Mapping[str, dict[str, float] | None] | None = None,
        *,
        pick: str | None = None,
    ) -> list[Event]:
        """Label many images in one transaction and one undo group (bulk actions, imports).

        Parameters
        ----------
        items
            ``(path, class name)`` pairs; a path given twice keeps its last class.
        predictions
            The distribution each image showed before the action (journaled), by path.
        pick
            Why these images were shown, stored with each label event.

        Returns
        -------
        list of Event
            One label event per item, in order (``add_class`` rows are not included).
        """
        if not items:
            raise LabelError("no images to label")
        predictions = predictions or {}
        checked = [(check_path(p), validate_class_name(c)) for p, c in items]
        preds = {p: check_prediction(predictions.get(p)) for p, _ in checked}
        context = {"pick": pick} if pick else {}
        with self._tx() as db:
            grp = self._new_group(db)
            events = []
            for path, label in checked:
                if db.execute("SELECT 1 FROM classes WHERE name = ?", (label,)).fetchone() is None:
                    self._add_class(db, label, None, grp)
                row = db.execute("SELECT label FROM labels WHERE path = ?", (path,)).fetchone()
                prev = row[0] if row else None
                kind = "label" if prev is None else "confirm" if prev == label else "relabel"
                cleared = [
                    m for (m,) in db.execute("SELECT mark FROM marks WHERE path = ?", (path,))
                ]
                data = {**context, "cleared": cleared} if cleared else context or None
                events.append(
                    self._act(
                        db,
                        kind,
                        grp,
                        path=path,
                        label=label,
                        previous=prev,
                        prediction=preds[path],
                        data=data,
                    )
                )
            return events

    def remove_label(self, path: str, prediction: dict[str, float] | None = None) -> Event:
        """Unlabel ``path`` (kind ``unlabel``); `LabelError` if it has no label."""
        path, pred = check_path(path), check_prediction(prediction)
        with self._tx() as db:
            row = db.execute("SELECT label FROM labels WHERE path = ?", (path,)).fetchone()
            if row is None:
                raise LabelError(f'image "{path}" has no label')
            return self._act(db, "unlabel", path=path, previous=row[0], prediction=pred)

    def mark(self, path: str, mark: str, prediction: dict[str, float] | None = None) -> Event:
        """Give ``path`` a mark (one undo group); `LabelError` if it already has it.

        ``unsure`` on a labelled image also removes the label in the same group: an image the
        user is unsure about is not learned.
        """
        path, pred = check_path(path), check_prediction(prediction)
        if mark not in MARKS:
            raise LabelError(f"unknown mark {mark!r} (choose {', '.join(MARKS)})")
        with self._tx() as db:
            if db.execute(
                "SELECT 1 FROM marks WHERE path = ? AND mark = ?", (path, mark)
            ).fetchone():
                raise LabelError(f'image "{path}" is already marked {mark}')
            grp = self._new_group(db)
            row = db.execute("SELECT label FROM labels WHERE path = ?", (path,)).fetchone()
            if mark == "unsure" and row is not None:
                self._act(db, "unlabel", grp, path=path, previous=row[0], prediction=pred)
            return self._act(db, "mark", grp, path=path, label=mark)

    def unmark(self, path: str, mark: str) -> Event:
        """Remove a mark from ``path``; `LabelError` if it does not have it."""
        path = check_path(path)
        with self._tx() as db:
            if not self._has_mark(db, path, mark):
                raise LabelError(f'image "{path}" is not marked {mark}')
            return self._act(db, "unmark", path=path, label=mark)

    @staticmethod
    def _has_mark(db: sqlite3.Connection, path: str, mark: str) -> bool:
        found = db.execute("SELECT 1 FROM marks WHERE path = ? AND mark = ?", (path, mark))
        return found.fetchone() is not None

    def marked(self, mark: str) -> set[str]:
        """Paths that carry ``mark``."""
        return {p for (p,) in self._read("SELECT path FROM marks WHERE mark = ?", (mark,))}

    def marks_of(self, path: str) -> set[str]:
        """Marks of one image."""
        return {m for (m,) in self._read("SELECT mark FROM marks WHERE path = ?", (path,))}

    def rename_class(self, old: str, new: str) -> Event:
        """Rename a class; its images follow. A change of letter case only is allowed."""
        new = validate_class_name(new)
        with self._tx() as db:
            info = self._find(db, old)
            if new == info.name:
                raise LabelError(f'class "{new}" already has that name')
            self._check_free(db, new, ignore=info.name)
            return self._act(db, "rename_class", label=info.name, previous=info.name, target=new)

    def _remove_with_images(self, kind: str, name: str, target: str | None = None) -> Event:
        with self._tx() as db:
            info = self._find(db, name)
            if target is not None and (target := self._find(db, target).name) == info.name:
                raise LabelError(f'cannot merge class "{info.name}" into itself')
            paths = db.execute("SELECT path FROM labels WHERE label = ?", (info.name,))
            data = {"color": info.color, "position": info.position, "paths": [p for (p,) in paths]}
            previous = info.name if target is not None else None
            return self._act(db, kind, label=info.name, previous=previous, target=target, data=data)

    def merge_classes(self, source: str, target: str) -> Event:
        """Give ``source``'s images the ``target`` label and remove ``source``."""
        return self._remove_with_images("merge_classes", source, target)

    def delete_class(self, name: str) -> Event:
        """Remove a class; its images become unlabelled (undo restores them)."""
        return self._remove_with_images("delete_class", name)

    def recolor_class(self, name: str, color: str) -> Event:
        """Change a class's display colour (``#rrggbb``)."""
        color = check_color(color)
        with self._tx() as db:
            info = self._find(db, name)
            return self._act(
                db, "recolor_class", label=info.name, previous=info.color, target=color
            )

    def move_class(self, name: str, position: int) -> Event:
        """Move a class to 0-based ``position``; the classes in between shift by one."""
        with self._tx() as db:
            info = self._find(db, name)
            (count,) = db.execute("SELECT count(*) FROM classes").fetchone()
            if not isinstance(position, int) or not 0 <= position < count:
                raise LabelError(f"position {position!r} is out of range 0..{count - 1}")
            data = {"from": info.position, "to": position}
            return self._act(db, "move_class", label=info.name, previous=str(info.position),
                             target=str(position), data=data)  # fmt: skip

    def undo(self) -> Event:
        """Undo the latest not-undone action group; returns the new ``undo`` journal row."""
        with self._tx() as db:
            if (grp := self._undo_target(db)) is None:
                raise LabelError("nothing to undo")
            return self._flip(db, grp, "undo")

    def redo(self) -> Event:
        """Re-apply the most recently undone group; returns the new ``redo`` journal row."""
        with self._tx() as db:
            if (grp := self._redo_target(db)) is None:
                raise LabelError("nothing to redo")
            return self._flip(db, grp, "redo")

    def _flip(self, db: sqlite3.Connection, grp: int, kind: str) -> Event:
        cols = ("seq", "kind", "path", "label", "previous", "target", "data")
        query = f"SELECT {', '.join(cols)} FROM journal WHERE grp = ? ORDER BY seq"
        rows = [dict(zip(cols, r, strict=True)) for r in db.execute(query, (grp,))]
        for row in rows if kind == "redo" else rows[::-1]:
            row["data"] = json.loads(row["data"]) if row["data"] else None
            self._effect(db, row["kind"], row, forward=kind == "redo")
        db.execute("UPDATE journal SET undone = ? WHERE grp = ?", (int(kind == "undo"), grp))
        seqs = ",".join(str(r["seq"]) for r in rows)
        last = rows[-1]
        return self._act(db, kind, path=last["path"], label=last["label"],
                         previous=last["previous"], target=seqs, ref=grp)  # fmt: skip

    # ------------------------------------------------------------------ settings
    def get_setting(self, key: str, default: Any = None) -> Any:
        """Project setting ``key`` (a JSON value), or ``default``."""
        rows = self._read("SELECT value FROM settings WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable project setting (not journaled, not undoable)."""
        if not isinstance(key, str) or not key:
            raise LabelError(f"setting key must be a non-empty string, not {key!r}")
        try:
            text = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise LabelError(f'setting "{key}" is not JSON-serialisable: {exc}') from exc
        with self._tx() as db:
            db.execute("INSERT INTO settings VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET"
                       " value = excluded.value", (key, text))  # fmt: skip


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)
