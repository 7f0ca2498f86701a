"""Tests for gui_app.core.export: labels CSV/JSON, safe folder names and class-folder export."""

from __future__ import annotations

import csv
import errno
import json
import os
import unicodedata
from datetime import datetime
from pathlib import Path

import pytest

from gui_app.core import export as export_mod
from gui_app.core.export import (
    LABELS_CSV_COLUMNS,
    ExportError,
    atomic_write,
    export_class_folders,
    export_labels,
    import_labels,
)
from gui_app.core.labels import LabelStore
from gui_app.core.safe_names import (
    MAX_FOLDER_BYTES,
    class_folder_names,
    safe_file_name,
    safe_folder_name,
)

HOSTILE = [
    "../../evil", "/abs", "a/b", "a\\b", "..", ".", "...", "CON", "con", "nul.txt", "Com1",
    "LPT9.tar.gz", "AUX .txt", "x:y", "\u202eRTL", "a" * 300, "<b>html</b>", "", "   ", "\t\n",
    "trailing. . ", "what?*|\"", "zero\u200bwidth", "\x00nul", "日本語" * 40, "é" * 120,
]  # fmt: skip
WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{d}{i}" for d in ("COM", "LPT") for i in range(10)
}


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if not p.is_dir() or p.is_symlink()}


# --------------------------------------------------------------------------- labels


@pytest.fixture
def store(tmp_path: Path) -> LabelStore:
    """Labels with non-ASCII paths and classes, a relabel, a rename, an undo and a confirm."""
    db = LabelStore(tmp_path / "project" / "labels.sqlite")
    db.set_label("ünï/çà 1.jpg", "chat", {"chat": 0.5, "chien": 0.5})
    db.set_label("日本/猫.png", "chien")  # no prediction shown (first image)
    db.set_label("b.jpg", "chat", {"chat": 0.25, "chien": 0.75})
    db.set_label("b.jpg", "chien", {"chat": 0.1, "chien": 0.9})  # relabel
    db.undo()  # b.jpg back to chat, set by the first event
    db.set_label('c,quoted".jpg', "chien", {"chat": 0.8, "chien": 0.2})
    db.set_label('c,quoted".jpg', "chien", {"chat": 0.3, "chien": 0.7})  # confirm
    db.set_label("line\nbreak\r\n.jpg", "chat")  # POSIX file names may hold newlines
    db.rename_class("chien", "Hund 🐕")
    yield db
    db.close()


def test_labels_csv_columns_and_round_trip(store: LabelStore, tmp_path: Path) -> None:
    out = tmp_path / "out" / "labels.csv"
    assert export_labels(store, out, "csv") == 5
    assert import_labels(out) == store.labels()
    with out.open(newline="", encoding="utf-8") as fh:
        rows = {r["path"]: r for r in csv.DictReader(fh)}
        fh.seek(0)
        assert tuple(next(csv.reader(fh))) == LABELS_CSV_COLUMNS
    b = rows["b.jpg"]
    assert (b["label"], b["predicted"], b["probability"]) == ("chat", "chien", "0.750000")
    assert json.loads(b["prediction"]) == {"chat": 0.25, "chien": 0.75}
    confirmed = rows['c,quoted".jpg']  # renamed class; the latest (confirm) event counts
    assert confirmed["label"] == "Hund 🐕"
    assert json.loads(confirmed["prediction"]) == {"chat": 0.3, "chien": 0.7}
    assert rows["日本/猫.png"]["prediction"] == rows["日本/猫.png"]["predicted"] == ""
    events = {e.path: e for e in store.journal(include_undone=False) if e.kind == "label"}
    when = datetime.fromisoformat(rows["b.jpg"]["when"])
    assert rows["b.jpg"]["when"].endswith("Z") and when.tzinfo is not None
    assert abs(when.timestamp() - events["b.jpg"].time) < 1e-3
    assert list(out.parent.iterdir()) == [out]  # no temp file left behind


def test_labels_json_round_trip(store: LabelStore, tmp_path: Path) -> None:
    out = tmp_path / "labels.json"
    assert export_labels(store, out, "json") == 5
    assert import_labels(out) == store.labels()
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["format"] == "loupe-labels" and doc["version"] == 1
    assert doc["classes"] == ["chat", "Hund 🐕"]
    by_path = {r["path"]: r for r in doc["labels"]}
    assert by_path["ünï/çà 1.jpg"]["prediction"] == {"chat": 0.5, "chien": 0.5}
    assert by_path["日本/猫.png"]["prediction"] is None
    assert "ünï/çà 1.jpg" in out.read_text(encoding="utf-8")  # real UTF-8, not \u escapes


def test_import_labels_plain_csv_and_errors(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("label,path\ncat,sub\\x.jpg\n,y.jpg\ndog,z.jpg\n", encoding="utf-8-sig")
    assert import_labels(plain) == {"sub/x.jpg": "cat", "z.jpg": "dog"}
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{"path": "a.jpg", "label": "x"}]), encoding="utf-8")
    assert import_labels(listed) == {"a.jpg": "x"}
    for name, text in {"bad.json": "{nope", "cols.csv": "file,class\na,b\n",
                       "shape.json": '{"labels": 3}'}.items():  # fmt: skip
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(ExportError):
            import_labels(tmp_path / name)
    with pytest.raises(ExportError, match="cannot read"):
        import_labels(tmp_path / "missing.csv")


def test_export_labels_rejects_unknown_format(store: LabelStore, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="csv or json"):
        export_labels(store, tmp_path / "x.txt", "xml")


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "f.csv"
    out.write_text("old", encoding="utf-8")

    def boom(fh) -> None:
        fh.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(out, boom)
    assert out.read_text(encoding="utf-8") == "old"
    assert list(tmp_path.iterdir()) == [out]


# --------------------------------------------------------------------------- safe names


@pytest.mark.parametrize("name", HOSTILE)
def test_safe_folder_name_is_one_safe_component(name: str, tmp_path: Path) -> None:
    safe = safe_folder_name(name)
    assert safe and safe not in (".", "..") and not safe.startswith(".")
    assert not set(safe) & set('/\\:*?"<>|')
    assert all(unicodedata.category(c)[0] != "C" for c in safe)
    assert safe == safe.rstrip(". ") and safe == safe.lstrip(" ")
    assert safe.split(".")[0].rstrip(" ").upper() not in WINDOWS_RESERVED
    assert len(safe.encode("utf-8")) <= MAX_FOLDER_BYTES
    made = tmp_path / safe
    made.mkdir()
    assert made.resolve().parent == tmp_path.resolve()
    assert safe_folder_name(safe) == safe  # idempotent


def test_safe_folder_name_examples() -> None:
    assert safe_folder_name("CON") == "_CON"
    assert safe_folder_name("nul.txt") == "_nul.txt"
    assert safe_folder_name("x:y") == "x_y"
    assert safe_folder_name("../../evil") == "_.._evil"
    assert safe_folder_name("..") == safe_folder_name("") == "_"
    assert safe_folder_name("\u202eRTL") == "_RTL"
    assert safe_folder_name("a" * 300) == "a" * 100
    assert safe_folder_name("<b>html</b>") == "_b_html_b_"
    assert safe_folder_name("Café au lait 猫") == "Café au lait 猫"  # letters of any script kept
    cut = safe_folder_name("日本語" * 40)  # 3 bytes per letter: cut at a letter boundary
    assert cut == "日本語" * 11 and len(cut.encode("utf-8")) == 99
    assert safe_file_name("con.txt") == "_con.txt"
    assert safe_file_name("x" * 300 + ".jpeg").endswith("x.jpeg")
    assert len(safe_file_name("x" * 300 + ".jpeg").encode("utf-8")) <= 200
    assert safe_file_name(".bashrc") == "bashrc"


def test_class_folder_names_distinct_and_deterministic() -> None:
    classes = ["a/b", "a_b", "A:B", "a\\b", "CON", "_CON", "a" * 150, "a" * 101]
    names = class_folder_names(classes)
    assert names == class_folder_names(reversed(classes))
    assert len({n.casefold() for n in names.values()}) == len(classes)
    assert names["a_b"] == "a_b" and names["_CON"] == "_CON"  # exact names keep theirs
    assert names["A:B"] == "A_B (2)" and names["CON"] == "_CON (2)"
    assert all(len(n.encode("utf-8")) <= MAX_FOLDER_BYTES for n in names.values())


# --------------------------------------------------------------------------- class folders


def make_images(root: Path, rels: list[str]) -> dict[str, bytes]:
    data = {}
    for i, rel in enumerate(rels):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data[rel] = f"image {i} {rel}".encode()
        path.write_bytes(data[rel])
    return data


def test_hostile_class_names_never_write_outside(tmp_path: Path) -> None:
    root, out = tmp_path / "images", tmp_path / "export" / "out"
    rels = [f"img{i}.jpg" for i in range(len(HOSTILE))]
    data = make_images(root, rels)
    before = files_under(tmp_path)
    report = export_class_folders(root, dict(zip(rels, HOSTILE, strict=True)), out)
    assert report.skipped == [] and report.copied == len(rels)
    written = files_under(tmp_path) - before
    assert len(written) == len(rels)
    real_out = out.resolve()
    for path in written:
        assert path.resolve().parent.parent == real_out
    for name in set(HOSTILE):
        folder = out / report.folders[name]
        assert folder.is_dir() and folder.resolve().parent == real_out
    assert (out / "_CON" / "img7.jpg").read_bytes() == data["img7.jpg"]
    assert len({n.casefold() for n in report.folders.values()}) == len(set(HOSTILE))


def test_name_collisions_resolved_in_path_order(tmp_path: Path) -> None:
    root, out = tmp_path / "images", tmp_path / "out"
    rels = ["x/a.jpg", "y/a.jpg", "z/A.jpg", "a (2).jpg", "w/con.jpg"]
    data = make_images(root, rels)
    report = export_class_folders(root, dict.fromkeys(rels, "cat"), out)
    got = {p.name: p.read_bytes() for p in (out / "cat").iterdir()}
    # sorted paths: "a (2).jpg", "w/con.jpg", "x/a.jpg", "y/a.jpg", "z/A.jpg"
    assert got == {
        "a (2).jpg": data["a (2).jpg"],
        "_con.jpg": data["w/con.jpg"],
        "a.jpg": data["x/a.jpg"],
        "a (3).jpg": data["y/a.jpg"],
        "A (4).jpg": data["z/A.jpg"],
    }
    assert report.counts == {"cat": 5} and report.written == 5


def test_symlink_mode_makes_relative_links(tmp_path: Path) -> None:
    root, out = tmp_path / "images", tmp_path / "out"
    data = make_images(root, ["s/p.jpg", "q.jpg"])
    report = export_class_folders(root, {"s/p.jpg": "a", "q.jpg": "b"}, out, "symlink")
    assert report.symlinked == 2
    link = out / "a" / "p.jpg"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    assert link.read_bytes() == data["s/p.jpg"]
    moved = tmp_path / "moved"
    moved.mkdir()
    root.rename(moved / "images")
    out.rename(moved / "out")
    assert (moved / "out" / "a" / "p.jpg").read_bytes() == data["s/p.jpg"]  # moved together


def test_hardlink_mode_and_cross_device_fallback(tmp_path: Path, monkeypatch) -> None:
    root, out = tmp_path / "images", tmp_path / "out"
    make_images(root, ["a.jpg", "b.jpg"])
    report = export_class_folders(root, {"a.jpg": "x"}, out, "hardlink")
    assert report.hardlinked == 1 and report.notes == []
    assert os.path.samefile(out / "x" / "a.jpg", root / "a.jpg")
    again = export_class_folders(root, {"a.jpg": "x"}, out, "hardlink")
    assert again.unchanged == 1 and again.skipped == []

    def cross_device(src, dst, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(export_mod.os, "link", cross_device)
    report = export_class_folders(root, {"b.jpg": "x"}, out, "hardlink")
    assert report.copied == 1 and report.hardlinked == 0
    assert "copied instead" in report.notes[0]
    assert not os.path.samefile(out / "x" / "b.jpg", root / "b.jpg")
    assert (out / "x" / "b.jpg").read_bytes() == (root / "b.jpg").read_bytes()


def test_missing_unsafe_and_existing_files_are_reported(tmp_path: Path) -> None:
    root, out = tmp_path / "images", tmp_path / "out"
    make_images(root, ["a.jpg", "sub/b.jpg"])
    (tmp_path / "secret.jpg").write_bytes(b"outside")
    labels = {"a.jpg": "x", "gone.jpg": "x", "../secret.jpg": "x", "/etc/passwd": "x"}
    report = export_class_folders(root, labels, out)
    reasons = dict(report.skipped)
    assert reasons["gone.jpg"] == "missing"
    assert reasons["../secret.jpg"] == reasons["/etc/passwd"] == "path is outside the image folder"
    assert sorted(p.name for p in (out / "x").iterdir()) == ["a.jpg"]
    (root / "a.jpg").write_bytes(b"changed")
    kept = export_class_folders(root, {"a.jpg": "x"}, out)
    assert "already exists" in dict(kept.skipped)["a.jpg"]
    assert (out / "x" / "a.jpg").read_bytes() != b"changed"
    replaced = export_class_folders(root, {"a.jpg": "x"}, out, overwrite=True)
    assert replaced.replaced == 1 and (out / "x" / "a.jpg").read_bytes() == b"changed"
    assert [p.name for p in (out / "x").iterdir()] == ["a.jpg"]  # no temp files left


def test_planted_symlink_folder_is_refused(tmp_path: Path) -> None:
    root, out, elsewhere = tmp_path / "images", tmp_path / "out", tmp_path / "elsewhere"
    make_images(root, ["a.jpg"])
    out.mkdir()
    elsewhere.mkdir()
    (out / "cat").symlink_to(elsewhere, target_is_directory=True)
    report = export_class_folders(root, {"a.jpg": "cat"}, out)
    assert report.written == 0 and "does not resolve" in report.skipped[0][1]
    assert list(elsewhere.iterdir()) == []


def test_overlapping_folders_and_bad_mode_are_rejected(tmp_path: Path) -> None:
    root = tmp_path / "images"
    make_images(root, ["a.jpg"])
    for out in (root, root / "export", tmp_path):
        with pytest.raises(ExportError, match="overlaps"):
            export_class_folders(root, {"a.jpg": "cat"}, out)
    with pytest.raises(ExportError, match="copy, hardlink or symlink"):
        export_class_folders(root, {"a.jpg": "cat"}, tmp_path / "o", "move")
    assert not (root / "cat").exists()


def test_report_summary(tmp_path: Path) -> None:
    root = tmp_path / "images"
    make_images(root, ["a.jpg"])
    report = export_class_folders(root, {"a.jpg": "cat", "b.jpg": "dog"}, tmp_path / "o")
    assert report.summary() == "1 files in 2 folders, 1 copied, 1 skipped"


# --------------------------------------------------------------------------- CSV injection


@pytest.mark.parametrize(
    ("cell", "escaped"),
    [("=HYPERLINK(1)", "'=HYPERLINK(1)"), ("+1", "'+1"), ("-2.jpg", "'-2.jpg"),
     ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("'=x", "''=x"),
     ("cat.jpg", "cat.jpg"), ("", ""), ("a=b", "a=b")],
)  # fmt: skip
def test_safe_csv_cell_neutralises_formulas_and_round_trips(cell: str, escaped: str) -> None:
    from gui_app.core.export import safe_csv_cell, unescape_csv_cell

    assert safe_csv_cell(cell) == escaped
    assert unescape_csv_cell(safe_csv_cell(cell)) == cell


def test_unreadable_csv_cells_are_neutralised(tmp_path: Path) -> None:
    from gui_app.core.project import write_unreadable_csv

    write_unreadable_csv(tmp_path / "u.csv", {"=cmd|' /C calc'!A0.jpg": "-1 bytes"})
    rows = list(csv.reader((tmp_path / "u.csv").open(newline="", encoding="utf-8")))
    assert rows[1] == ["'=cmd|' /C calc'!A0.jpg", "'-1 bytes"]
