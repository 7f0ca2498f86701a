"""Durable label store in SQLite: over 400 lines as every action is one transaction on it.

The database (``<folder>/.loupe/labels.sqlite``) is the single source of truth. Every action is
one ``BEGIN IMMEDIATE`` transaction that changes the state tables *and* appends its journal
row(s); once the method returns it survives the application being killed (WAL), and within a
second a power cut too (:mod:`gui_app.core.wal_sync` fsyncs the log off the caller's thread).

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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gui_app.core.label_effects import (
    apply_row,
    check_free,
    find_class,
    has_mark,
    new_group,
    open_database,
    redo_target,
    undo_target,
)
from gui_app.core.label_schema import (  # re-exported: the store's public vocabulary
    _EVENT_COLUMNS,
    FORMAT_VERSION,
    KINDS,
    LABEL_KINDS,
    MARKS,
    MAX_CLASS_NAME,
    PALETTE,
    ClassInfo,
    Event,
    LabelError,
    check_color,
    check_path,
    check_prediction,
    validate_class_name,
)
from gui_app.core.wal_sync import WalFlusher

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
        self._flusher = WalFlusher(self.path)
        db = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            open_database(db, self.path)
            self._db = db
        except (OSError, sqlite3.OperationalError) as exc:
            raise LabelError(f"cannot open label database {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise LabelError(
                f"{self.path} is not a Loupe label database or is damaged: {exc}"
            ) from exc
        finally:
            if db is not None and self._db is None:
                db.close()

    def close(self) -> None:
        """Close the database (idempotent); every returned action is then on disk."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
        self._flusher.close()

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
                    self._flusher.committed()
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:  # disk full, I/O error, read-only, busy
                raise LabelError(
                    f"cannot save to the label database {self.path}: {exc}; nothing was changed"
                ) from exc

    def _act(self, db: sqlite3.Connection, kind: str, grp: int | None = None, **row: Any) -> Event:
        """Apply one action row to the state tables and append it to the journal."""
        grp = new_group(db) if grp is None else grp
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
        apply_row(db, kind, row, forward)

    def _add_class(self, db: sqlite3.Connection, name: str, color: str | None, grp=None) -> Event:
        check_free(db, name)
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

    def history_group_size(self, undo: bool) -> int:
        """Journal rows in the group the next undo (``undo``) or redo would flip (0: none)."""
        with self._lock:
            db = self._conn()
            grp = undo_target(db) if undo else redo_target(db)
            if grp is None:
                return 0
            return int(
                db.execute("SELECT count(*) FROM journal WHERE grp = ?", (grp,)).fetchone()[0]
            )

    def can_undo(self) -> bool:
        """Whether `undo` has an action group to undo."""
        with self._lock:
            return undo_target(self._conn()) is not None

    def can_redo(self) -> bool:
        """Whether `redo` has an undone group to re-apply (any new action clears redo)."""
        with self._lock:
            return redo_target(self._conn()) is not None

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
            grp = new_group(db)
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
            grp = new_group(db)
            row = db.execute("SELECT label FROM labels WHERE path = ?", (path,)).fetchone()
            if mark == "unsure" and row is not None:
                self._act(db, "unlabel", grp, path=path, previous=row[0], prediction=pred)
            return self._act(db, "mark", grp, path=path, label=mark)

    def unmark(self, path: str, mark: str) -> Event:
        """Remove a mark from ``path``; `LabelError` if it does not have it."""
        path = check_path(path)
        with self._tx() as db:
            if not has_mark(db, path, mark):
                raise LabelError(f'image "{path}" is not marked {mark}')
            return self._act(db, "unmark", path=path, label=mark)

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
            info = find_class(db, old)
            if new == info.name:
                raise LabelError(f'class "{new}" already has that name')
            check_free(db, new, ignore=info.name)
            return self._act(db, "rename_class", label=info.name, previous=info.name, target=new)

    def _remove_with_images(self, kind: str, name: str, target: str | None = None) -> Event:
        with self._tx() as db:
            info = find_class(db, name)
            if target is not None and (target := find_class(db, target).name) == info.name:
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
            info = find_class(db, name)
            return self._act(
                db, "recolor_class", label=info.name, previous=info.color, target=color
            )

    def move_class(self, name: str, position: int) -> Event:
        """Move a class to 0-based ``position``; the classes in between shift by one."""
        with self._tx() as db:
            info = find_class(db, name)
            (count,) = db.execute("SELECT count(*) FROM classes").fetchone()
            if not isinstance(position, int) or not 0 <= position < count:
                raise LabelError(f"position {position!r} is out of range 0..{count - 1}")
            data = {"from": info.position, "to": position}
            return self._act(db, "move_class", label=info.name, previous=str(info.position),
                             target=str(position), data=data)  # fmt: skip

    def undo(self) -> Event:
        """Undo the latest not-undone action group; returns the new ``undo`` journal row."""
        with self._tx() as db:
            if (grp := undo_target(db)) is None:
                raise LabelError("nothing to undo")
            return self._flip(db, grp, "undo")

    def redo(self) -> Event:
        """Re-apply the most recently undone group; returns the new ``redo`` journal row."""
        with self._tx() as db:
            if (grp := redo_target(db)) is None:
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
