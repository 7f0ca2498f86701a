"""What a label database holds: schema and migrations, journal kinds, rows, value checks.

:mod:`gui_app.core.labels` applies actions to it; this module only describes it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from gui_app.core.errors import LoupeError

MAX_CLASS_NAME = 100
FORMAT_VERSION = 2  # 2: image marks (unsure, reviewed)
APPLICATION_ID = 0x4C4F5550  # b"LOUP" in the SQLite header marks a Loupe label database
#: Qualitative palette, most distinct first; each has contrast >= 3 on white and on #1e1e1e.
PALETTE = (
    "#dd0044", "#009900", "#0066ff", "#117788", "#ff00dd", "#aa7700", "#bb77bb",
    "#ff5500", "#9922ff", "#778855", "#1177cc", "#cc7766", "#dd1188", "#bb66ee",
    "#778800", "#009966", "#bb4466", "#dd6633", "#7766cc", "#8888bb",
)  # fmt: skip
LABEL_KINDS = ("label", "relabel", "confirm")
MARK_KINDS = ("mark", "unmark")
KINDS = (*LABEL_KINDS, "unlabel", "add_class", "rename_class", "merge_classes", "delete_class",
         "recolor_class", "move_class", *MARK_KINDS, "undo", "redo")  # fmt: skip
#: Marks an image can carry: "unsure" (F5: not learned, skipped by Next) and "reviewed" (a
#: suspect label the user kept). Giving an image a label clears its marks.
MARKS = ("unsure", "reviewed")

_SCHEMA = """
CREATE TABLE classes(name TEXT PRIMARY KEY, color TEXT NOT NULL, position INTEGER NOT NULL,
                     n INTEGER NOT NULL DEFAULT 0);  -- n: labelled images, kept by triggers
CREATE TABLE labels(path TEXT PRIMARY KEY,
                    label TEXT NOT NULL REFERENCES classes(name) ON UPDATE CASCADE) WITHOUT ROWID;
CREATE INDEX labels_by_label ON labels(label);
CREATE TRIGGER count_insert AFTER INSERT ON labels
BEGIN UPDATE classes SET n = n + 1 WHERE name = NEW.label; END;
CREATE TRIGGER count_delete AFTER DELETE ON labels
BEGIN UPDATE classes SET n = n - 1 WHERE name = OLD.label; END;
CREATE TRIGGER count_update AFTER UPDATE OF label ON labels WHEN OLD.label IS NOT NEW.label
BEGIN UPDATE classes SET n = n - 1 WHERE name = OLD.label;
      UPDATE classes SET n = n + 1 WHERE name = NEW.label; END;
CREATE TABLE journal(
    seq INTEGER PRIMARY KEY, grp INTEGER NOT NULL, kind TEXT NOT NULL, time REAL NOT NULL,
    path TEXT, label TEXT, previous TEXT, target TEXT, prediction TEXT, data TEXT, ref INTEGER,
    undone INTEGER NOT NULL DEFAULT 0 CHECK (undone IN (0, 1)));
CREATE INDEX journal_by_grp ON journal(grp);
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER journal_immutable BEFORE UPDATE OF
    seq, grp, kind, time, path, label, previous, target, prediction, data, ref ON journal
BEGIN SELECT RAISE(ABORT, 'journal rows are immutable except their undone flag'); END;
CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE marks(path TEXT NOT NULL, mark TEXT NOT NULL, PRIMARY KEY (path, mark)) WITHOUT ROWID;
"""
#: Upgrades from each older format version to the next one, run in one transaction.
MIGRATIONS = {
    1: "CREATE TABLE marks(path TEXT NOT NULL, mark TEXT NOT NULL, PRIMARY KEY (path, mark))"
    " WITHOUT ROWID;",
}
_TABLES = {"classes", "labels", "journal", "settings"}  # of format version 1
_EVENT_COLUMNS = "seq, kind, time, path, label, previous, target, prediction, undone, data"
_UPSERT = "INSERT INTO labels VALUES (?, ?) ON CONFLICT(path) DO UPDATE SET label = excluded.label"
_NOT_UNDO = "kind NOT IN ('undo', 'redo')"
# Explicit bidirectional formatting characters (Unicode UAX #9): they reorder displayed text.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


class LabelError(LoupeError, ValueError):
    """A label action or database was rejected; ``str(exc)`` is a human-readable reason."""


def validate_class_name(name: str) -> str:
    """Return ``name`` stripped and NFC-normalised, or raise `LabelError` saying why it is invalid.

    Any script, emoji, ``/`` and markup are fine; control characters (category Cc such as
    ``\\x00``, ``\\n``, ``\\t``), line/paragraph separators and bidirectional controls (overrides,
    embeddings, isolates, marks) are not; at most 100 characters.
    """
    if not isinstance(name, str):
        raise LabelError(f"class name must be text, not {type(name).__name__}")
    cleaned = unicodedata.normalize("NFC", name.strip())
    categories = {unicodedata.category(c) for c in cleaned}
    if not cleaned:
        raise LabelError("class name is empty")
    if categories & {"Cc", "Zl", "Zp"}:
        raise LabelError("class name contains control characters")
    if any(c in _BIDI_CONTROLS for c in cleaned):
        raise LabelError(
            "class name contains bidirectional control characters (they can disguise text)"
        )
    if "Cs" in categories:
        raise LabelError("class name contains invalid (surrogate) characters")
    if len(cleaned) > MAX_CLASS_NAME:
        raise LabelError(f"class name is longer than {MAX_CLASS_NAME} characters")
    return cleaned


@dataclass(frozen=True)
class ClassInfo:
    """A class: its name, display colour ``#rrggbb`` and 0-based position (shortcut order)."""

    name: str
    color: str
    position: int


@dataclass(frozen=True)
class Event:
    """One journal row.

    Image kinds (``label``, ``relabel``, ``confirm``, ``unlabel``): ``path``, the new ``label``
    (None for unlabel) and the image's ``previous`` label. Class kinds: ``label`` is the class
    acted on (named as before the action); rename/merge put that old name in ``previous`` and the
    new name / destination in ``target``; recolor/move put the old and new colour / position in
    ``previous``/``target``. ``undo``/``redo`` copy ``path``, ``label`` and ``previous`` from the
    last row of the group they act on and list the group's seqs, comma-separated, in ``target``.
    Marks (``mark``/``unmark``): ``path`` and the mark name in ``label``.
    """

    seq: int
    kind: str
    time: float
    path: str | None
    label: str | None
    previous: str | None
    target: str | None
    prediction: dict[str, float] | None
    undone: bool
    data: dict[str, Any] | None = None  # label kinds: {"pick": why Next showed it, ...}


def check_color(color: str) -> str:
    if not isinstance(color, str) or not re.fullmatch(r"#[0-9a-fA-F]{6}", color):
        raise LabelError(f"colour {color!r} is not of the form #rrggbb")
    return color.lower()


def check_path(path: str) -> str:
    if not isinstance(path, str) or not path:
        raise LabelError(f"image path must be a non-empty string, not {path!r}")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LabelError(f"image path {path!r} cannot be stored: {exc}") from exc
    return path


def check_prediction(prediction: Any) -> dict[str, float] | None:
    if prediction is None:
        return None
    try:
        return {str(k): float(v) for k, v in prediction.items()}
    except (AttributeError, TypeError, ValueError) as exc:
        raise LabelError(f"prediction must map class names to numbers: {exc}") from exc
