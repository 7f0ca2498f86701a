"""Bring existing labels into a project: from a labels file or from class folders.

A labels file is a CSV with ``path,label`` columns (paths relative to the image folder, or
absolute inside it) or a Loupe labels export (CSV or JSON). Class folders are
``DIR/<class>/<file>``; a file matches the image at the same relative path inside the image
folder, else the only image with its file name.

:func:`plan_import` only reads and says what would happen (:class:`ImportPlan`); the window shows
it as a preview and the CLI prints it. :func:`apply_import` then writes the plan's labels as ONE
journaled action (one undo group, ``pick="import"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from gui_app.core.export import ExportError, import_labels
from gui_app.core.images import scan_images
from gui_app.core.label_schema import LabelError, validate_class_name

if TYPE_CHECKING:
    from gui_app.core.labels import LabelStore

IMPORT_PICK = "import"


@dataclass
class ImportPlan:
    """What importing ``source`` would do.

    Attributes
    ----------
    items
        ``(relative path, class)`` pairs :func:`apply_import` will label.
    unmatched
        ``(entry as given, reason)``: no such image, ambiguous file name, outside the folder.
    conflicts
        ``(path, current class, imported class)`` of images labelled otherwise; they are in
        ``items`` only when planned with ``replace=True``.
    new_classes
        Classes the import creates, in order of first use.
    unchanged
        Images that already carry the imported class (left alone).
    invalid
        ``(path, class, reason)`` of entries whose class name is refused.
    """

    source: Path
    kind: str  # 'file' or 'folders'
    replace: bool = False
    items: list[tuple[str, str]] = field(default_factory=list)
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[tuple[str, str, str]] = field(default_factory=list)
    new_classes: list[str] = field(default_factory=list)
    unchanged: int = 0
    invalid: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def matched(self) -> int:
        """Entries that name an image of the folder with a usable class."""
        kept = len(self.conflicts) if not self.replace else 0
        return len(self.items) + self.unchanged + kept

    def preview(self, limit: int = 10) -> list[str]:
        """Human-readable lines: counts, then up to ``limit`` examples of each problem."""
        conflict_note = "replaced" if self.replace else "kept; --replace to overwrite"
        lines = [
            f"matched: {self.matched} images ({len(self.items)} to label, "
            f"{self.unchanged} already labelled the same)",
            f"conflicts with existing labels: {len(self.conflicts)} ({conflict_note})",
            f"unmatched: {len(self.unmatched)}",
            f"new classes: {', '.join(self.new_classes) if self.new_classes else 'none'}",
        ]
        if self.invalid:
            lines.insert(3, f"refused class names: {len(self.invalid)}")
        for path, old, new in self.conflicts[:limit]:
            lines.append(f"  conflict {path}: {old} -> {new}")
        for entry, reason in self.unmatched[:limit]:
            lines.append(f"  unmatched {entry}: {reason}")
        for path, label, reason in self.invalid[:limit]:
            lines.append(f"  refused {path} ({label!r}): {reason}")
        return lines

    def to_dict(self) -> dict:
        """Counts and lists for JSON output."""
        return {
            "source": str(self.source),
            "matched": self.matched,
            "to_label": len(self.items),
            "unchanged": self.unchanged,
            "conflicts": [list(c) for c in self.conflicts],
            "unmatched": [list(u) for u in self.unmatched],
            "invalid": [list(i) for i in self.invalid],
            "new_classes": list(self.new_classes),
        }


def _relative(entry: str, root: Path) -> str | None:
    """``entry`` as a relative POSIX path inside ``root``, or None when it points outside."""
    text = entry.replace("\\", "/")
    if PurePosixPath(text).is_absolute() or Path(entry).is_absolute():
        try:
            return Path(entry).resolve().relative_to(root).as_posix()
        except (ValueError, OSError):
            return None
    parts = PurePosixPath(text).parts
    if ".." in parts:
        return None
    return PurePosixPath(*parts).as_posix() if parts else None


def _file_entries(source: Path, root: Path, images: set[str], plan: ImportPlan):
    for entry, label in import_labels(source).items():
        rel = _relative(entry, root)
        if rel is None:
            plan.unmatched.append((entry, "outside the image folder"))
        elif rel in images:
            yield rel, label
        elif rel.startswith("'") and rel[1:] in images:  # a formula-escaped cell
            yield rel[1:], label
        else:
            plan.unmatched.append((entry, "no such image in the folder"))


def _folder_entries(source: Path, images: set[str], plan: ImportPlan):
    by_name: dict[str, list[str]] = {}
    for rel in images:
        by_name.setdefault(PurePosixPath(rel).name, []).append(rel)
    seen: dict[str, str] = {}
    for class_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        if class_dir.name.startswith("."):
            continue
        for inner in scan_images(class_dir):
            entry = f"{class_dir.name}/{inner}"
            named = by_name.get(PurePosixPath(inner).name, [])
            if inner in images:
                rel = inner
            elif len(named) == 1:
                rel = named[0]
            else:
                why = "no image with this path or file name in the folder"
                if named:
                    why = f"file name matches {len(named)} images; keep the same relative path"
                plan.unmatched.append((entry, why))
                continue
            if rel in seen and seen[rel] != class_dir.name:
                plan.unmatched.append((entry, f"also in class folder {seen[rel]!r}"))
                continue
            seen[rel] = class_dir.name
            yield rel, class_dir.name
    for stray in sorted(p.name for p in source.iterdir() if p.is_file()):
        plan.unmatched.append((stray, "not inside a class folder"))


def plan_import(
    project_root: Path,
    labels_store: LabelStore | None,
    source: Path,
    *,
    replace: bool = False,
    images: Iterable[str] | None = None,
) -> ImportPlan:
    """Match ``source`` (labels file or class-folder tree) against the project's images.

    Parameters
    ----------
    project_root
        The image folder.
    labels_store
        The project's labels (None for a project not created yet: no existing labels).
    replace
        Whether images labelled with another class take the imported one.
    images
        The folder's relative image paths when the caller has them (else scanned).

    Raises
    ------
    ExportError
        ``source`` is missing or an unreadable / malformed labels file.
    """
    root = Path(project_root).expanduser().resolve()
    source = Path(source).expanduser()
    if not source.exists():
        raise ExportError(f"no such labels file or folder: {source}")
    kind = "folders" if source.is_dir() else "file"
    plan = ImportPlan(source, kind, replace)
    known = set(images) if images is not None else set(scan_images(root))
    entries = (
        _folder_entries(source, known, plan)
        if kind == "folders"
        else _file_entries(source, root, known, plan)
    )
    current = labels_store.labels() if labels_store is not None else {}
    existing = labels_store.class_names() if labels_store is not None else []
    by_fold = {c.casefold(): c for c in existing}
    for rel, raw_label in entries:
        try:
            label = validate_class_name(raw_label)
        except LabelError as exc:
            plan.invalid.append((rel, raw_label, exc.reason))
            continue
        same = by_fold.setdefault(label.casefold(), label)
        if same != label:
            reason = f'differs only in letter case from class "{same}"'
            plan.invalid.append((rel, raw_label, reason))
            continue
        if label not in existing and label not in plan.new_classes:
            plan.new_classes.append(label)
        before = current.get(rel)
        if before == label:
            plan.unchanged += 1
            continue
        if before is not None:
            plan.conflicts.append((rel, before, label))
            if not replace:
                continue
        plan.items.append((rel, label))
    used = {label for _rel, label in plan.items}
    plan.new_classes = [c for c in plan.new_classes if c in used]
    return plan


def apply_import(labels_store: LabelStore, plan: ImportPlan) -> int:
    """Label ``plan.items`` as one journaled action (one undo group); returns how many."""
    if not plan.items:
        return 0
    return len(labels_store.set_labels(plan.items, predictions=None, pick=IMPORT_PICK))


def import_summary(plan: ImportPlan, applied: int | None) -> str:
    """The last line of an import: what was done (``applied`` None for a dry run)."""
    if applied is None:
        return f"dry run: {len(plan.items)} labels would be imported; nothing changed"
    return f"imported {applied} labels as one undoable action"
