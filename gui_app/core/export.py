"""Exports of the user's work: labels (CSV/JSON) and images sorted into one folder per class.

Exports that involve the learner (predictions CSV, river pickle, portable numpy weights, Keras
and TFLite models) live in :mod:`gui_app.core.export_model`. Every file is written to a temp
name in its target folder and moved into place with ``os.replace``: no reader sees half a file.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from gui_app.core.atomic import atomic_write
from gui_app.core.errors import LoupeError
from gui_app.core.labels import LabelStore
from gui_app.core.safe_names import (
    MAX_FILE_BYTES,
    class_folder_names,
    safe_file_name,
    unique_names,
)

LABEL_FORMATS = ("csv", "json")
FOLDER_MODES = ("copy", "hardlink", "symlink")
LABELS_CSV_COLUMNS = ("path", "label", "when", "predicted", "probability", "prediction")
_FORMAT_TAG = "loupe-labels"


class ExportError(LoupeError, ValueError):
    """An export cannot be done as asked; ``str(exc)`` says why."""


# --------------------------------------------------------------------------- CSV cells

# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_csv_cell(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula.

    Applied to every cell that comes from the user or the file system (paths, class names,
    reasons), never to numbers Loupe formats itself. A cell that already starts with ``'`` gets
    one more, so :func:`unescape_csv_cell` restores every value exactly.
    """
    return "'" + text if text[:1] in CSV_FORMULA_PREFIXES or text[:1] == "'" else text


def unescape_csv_cell(text: str) -> str:
    """Undo :func:`safe_csv_cell` (for CSV files Loupe wrote)."""
    if text[:1] == "'" and (text[1:2] in CSV_FORMULA_PREFIXES or text[1:2] == "'"):
        return text[1:]
    return text


# --------------------------------------------------------------------------- labels


def _iso_utc(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def label_rows(store: LabelStore) -> list[dict[str, Any]]:
    """One row per labelled image: ``path``, ``label``, ``when``, ``prediction`` (dict or None).

    ``when`` and ``prediction`` come from the latest not-undone label/relabel/confirm journal
    event of the image (the one :meth:`LabelStore.training_events` replays last), so a class
    renamed or merged since keeps its original time and the distribution the user saw then.
    """
    setter = {path: seq for seq, path, _name in store.training_events()}  # last one wins
    wanted = set(setter.values())
    events = {e.seq: e for e in store.journal(include_undone=False) if e.seq in wanted}
    rows = []
    for path, label in store.labels().items():
        event = events.get(setter.get(path, -1))
        rows.append({
            "path": path,
            "label": label,
            "when": _iso_utc(event.time) if event is not None else "",
            "prediction": event.prediction if event is not None else None,
        })  # fmt: skip
    return rows


def _top(prediction: dict[str, float] | None) -> tuple[str, str]:
    if not prediction:
        return "", ""
    best = max(prediction, key=prediction.__getitem__)
    return best, f"{prediction[best]:.6f}"


def export_labels(store: LabelStore, out: Path, fmt: str = "csv") -> int:
    """Write the current labels as CSV or JSON; returns the number of rows.

    CSV columns: :data:`LABELS_CSV_COLUMNS` (``predicted``/``probability``: the top class of the
    distribution shown when the label was set, ``prediction``: that whole distribution as JSON;
    all three empty when none was shown). JSON: ``{"format": "loupe-labels", "version": 1,
    "classes": [...], "labels": [{"path", "label", "when", "prediction": {...} | null}]}``.
    Paths are relative POSIX paths inside the image folder; times ISO 8601 UTC.
    """
    if fmt not in LABEL_FORMATS:
        raise ExportError(f'unknown labels format "{fmt}" (choose csv or json)')
    rows = label_rows(store)

    def write_csv(fh: IO[str]) -> None:
        writer = csv.writer(fh)
        writer.writerow(LABELS_CSV_COLUMNS)
        for row in rows:
            pred = row["prediction"]
            full = json.dumps(pred, ensure_ascii=False) if pred else ""
            best, prob = _top(pred)
            cells = (row["path"], row["label"], row["when"], best)
            writer.writerow([*map(safe_csv_cell, cells), prob, full])

    def write_json(fh: IO[str]) -> None:
        doc = {"format": _FORMAT_TAG, "version": 1, "classes": store.class_names(), "labels": rows}
        json.dump(doc, fh, ensure_ascii=False, indent=1)
        fh.write("\n")

    atomic_write(Path(out), write_csv if fmt == "csv" else write_json)
    return len(rows)


def import_labels(path: Path) -> dict[str, str]:
    """Read labels written by :func:`export_labels` (CSV or JSON) or any ``path,label`` CSV.

    The format is taken from the content (JSON starts with ``{`` or ``[``); cells of a Loupe
    labels CSV are un-escaped (:func:`unescape_csv_cell`). Returns
    ``{relative POSIX path: label}``; rows with an empty path or label are left out.

    Raises
    ------
    ExportError
        Unreadable file, invalid JSON, or a CSV without ``path`` and ``label`` columns.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")  # no newline translation: csv does it
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"cannot read labels file {path}: {exc}") from exc
    if text.lstrip()[:1] in ("{", "["):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ExportError(f"labels file {path} is not valid JSON: {exc}") from exc
        items = doc.get("labels") if isinstance(doc, dict) else doc
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ExportError(f'labels file {path} needs a list of {{"path", "label"}} objects')
        pairs: Iterable[tuple[Any, Any]] = ((i.get("path"), i.get("label")) for i in items)
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise ExportError(f"labels file {path} needs the columns 'path,label'")
        ours = tuple(reader.fieldnames) == LABELS_CSV_COLUMNS  # cells escaped by safe_csv_cell
        fix = unescape_csv_cell if ours else (lambda cell: cell)
        pairs = ((fix(r.get("path") or ""), fix(r.get("label") or "")) for r in reader)
    out: dict[str, str] = {}
    for rel, label in pairs:
        if isinstance(rel, str) and isinstance(label, str) and rel and label:
            out[PurePosixPath(rel.replace("\\", "/")).as_posix()] = label
    return out


# --------------------------------------------------------------------------- class folders


@dataclass
class ExportReport:
    """What :func:`export_class_folders` did."""

    out: Path
    mode: str
    folders: dict[str, str] = field(default_factory=dict)  # class -> folder name inside out
    counts: dict[str, int] = field(default_factory=dict)  # class -> files now in its folder
    copied: int = 0
    hardlinked: int = 0
    symlinked: int = 0
    replaced: int = 0  # of those, files that were at their destination before (overwrite)
    unchanged: int = 0  # hard links already in place from an earlier export
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    notes: list[str] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.copied + self.hardlinked + self.symlinked + self.unchanged

    def summary(self) -> str:
        """One line for a status bar or the CLI."""
        parts = [f"{self.written} files in {len(self.folders)} folders"]
        for what, n in (("copied", self.copied), ("hard-linked", self.hardlinked),
                        ("symlinked", self.symlinked), ("replaced", self.replaced),
                        ("skipped", len(self.skipped))):  # fmt: skip
            if n:
                parts.append(f"{n} {what}")
        return ", ".join(parts)


def _relative_ok(rel: str) -> bool:
    parts = PurePosixPath(rel.replace("\\", "/")).parts
    return bool(parts) and not PurePosixPath(rel).is_absolute() and ".." not in parts


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _link_or_copy(src: Path, tmp: Path, mode: str, notes: list[str]) -> str:
    """Create ``tmp`` as a copy, hard link or relative symlink of ``src``; the kind made."""
    if mode == "symlink":
        try:
            target = os.path.relpath(src, tmp.parent)
        except ValueError:  # another drive on Windows: no relative path exists
            target = str(src)
        os.symlink(target, tmp)
        return "symlink"
    if mode == "hardlink":
        try:
            os.link(src, tmp)
            return "hardlink"
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                raise
            note = f"hard links are not possible here ({exc.strerror}); copied instead"
            if note not in notes:
                notes.append(note)
    shutil.copy2(src, tmp)
    return "copy"


def _export_file(src: Path, dest: Path, mode: str, overwrite: bool, report: ExportReport) -> str:
    """Place one file at ``dest`` (temp name + ``os.replace``); returns '' or a skip reason."""
    if not src.is_file():
        return "missing" if not src.exists() else "not a regular file"
    existed = os.path.lexists(dest)
    if existed and dest.is_dir() and not dest.is_symlink():
        return f"a folder named {dest.name} is in the way"
    if existed and mode == "hardlink" and not dest.is_symlink() and _same_file(src, dest):
        report.unchanged += 1  # a rename onto the same inode would be a no-op anyway
        return ""
    if existed and not overwrite:
        return "a file with this name already exists in the export folder"
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        kind = _link_or_copy(src, tmp, mode, report.notes)
        os.replace(tmp, dest)
    except OSError as exc:
        return f"{mode} failed: {exc.strerror or exc}"
    finally:
        tmp.unlink(missing_ok=True)
    report.replaced += existed
    if kind == "copy":
        report.copied += 1
    elif kind == "hardlink":
        report.hardlinked += 1
    else:
        report.symlinked += 1
    return ""


def export_class_folders(
    root: Path, labels: dict[str, str], out: Path, mode: str = "copy", *, overwrite: bool = False
) -> ExportReport:
    """Put every labelled image into ``out/<safe class name>/<safe file name>``.

    Parameters
    ----------
    root
        The image folder the relative ``labels`` paths belong to.
    labels
        ``{relative POSIX path: class}`` (e.g. :meth:`LabelStore.labels`).
    out
        Destination folder (created); it must not overlap the image folder.
    mode
        ``copy`` (with metadata), ``hardlink`` (a copy where the file system cannot link, e.g.
        across devices, with a note) or ``symlink`` (relative link where possible).
    overwrite
        Replace files already at a destination (else they are skipped with a reason).

    Equal file names within a class (``x/a.jpg`` and ``y/a.jpg``) become ``a.jpg`` and
    ``a (2).jpg`` in path order; folder names come from :func:`class_folder_names`. Every
    class folder must resolve to a direct child of ``out`` (a planted symlink is refused).
    Missing, unsafe or failing files are skipped and listed with their reason.
    """
    if mode not in FOLDER_MODES:
        raise ExportError(f'unknown export mode "{mode}" (choose copy, hardlink or symlink)')
    root = Path(root).expanduser().resolve()
    out_dir = Path(out).expanduser().resolve()
    if out_dir.is_relative_to(root) or root.is_relative_to(out_dir):
        raise ExportError(
            f"the export folder {out_dir} overlaps the image folder {root}; choose a folder "
            "outside it"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create export folder {out_dir}: {exc.strerror or exc}") from exc
    report = ExportReport(out_dir, mode, class_folder_names(labels.values()))
    by_class: dict[str, list[str]] = {}
    for rel in sorted(labels):
        by_class.setdefault(labels[rel], []).append(rel)
    for cls, rels in sorted(by_class.items()):
        folder = report.folders[cls]
        report.counts[cls] = 0
        class_dir = out_dir / folder
        try:
            class_dir.mkdir(exist_ok=True)
            real_dir = class_dir.resolve(strict=True)
        except OSError as exc:
            reason = f"cannot create folder {folder}: {exc.strerror or exc}"
            report.skipped += [(rel, reason) for rel in rels]
            continue
        if real_dir != class_dir or not real_dir.is_dir():
            reason = f"folder {folder} does not resolve to a folder inside the export folder"
            report.skipped += [(rel, reason) for rel in rels]
            continue
        report.skipped += [(r, "path is outside the image folder") for r in rels
                           if not _relative_ok(r)]  # fmt: skip
        paths = [r for r in rels if _relative_ok(r)]
        names = [safe_file_name(PurePosixPath(r.replace("\\", "/")).name) for r in paths]
        for rel, name in zip(
            paths, unique_names(names, MAX_FILE_BYTES, keep_ext=True), strict=True
        ):
            dest = real_dir / name
            if dest.parent != real_dir or not dest.is_relative_to(out_dir):  # defence in depth
                report.skipped.append((rel, "destination would be outside the export folder"))
            elif reason := _export_file(root / rel, dest, mode, overwrite, report):
                report.skipped.append((rel, reason))
            else:
                report.counts[cls] += 1
    return report
