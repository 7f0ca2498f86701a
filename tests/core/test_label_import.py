"""Importing labels from a CSV or from class folders: a preview, then one undoable action."""

from __future__ import annotations

from pathlib import Path

import pytest

from gui_app.core.export import ExportError, export_labels
from gui_app.core.label_import import apply_import, plan_import
from gui_app.core.labels import LabelStore

IMAGES = ["cat.1.jpg", "dog.1.jpg", "sub/cat.2.jpg", "sub/x.jpg", "other/x.jpg", "=f.jpg"]


@pytest.fixture
def project(tmp_path: Path):
    root = tmp_path / "images"
    for rel in IMAGES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"\xff\xd8\xff")
    with LabelStore(tmp_path / "labels.sqlite") as labels:
        labels.set_label("dog.1.jpg", "dog")
        labels.set_label("sub/cat.2.jpg", "cat")
        yield root, labels


def test_csv_plan_preview_and_one_undoable_action(project, tmp_path: Path) -> None:
    root, labels = project
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(
        "path,label\n"
        "cat.1.jpg,cat\n"  # new label
        f"{root / 'sub' / 'x.jpg'},bird\n"  # absolute inside the folder, new class
        "dog.1.jpg,cat\n"  # conflict with dog
        "sub/cat.2.jpg,cat\n"  # unchanged
        "missing.jpg,cat\n"  # no such image
        "/elsewhere/a.jpg,cat\n"  # outside
        "other/x.jpg,Cat\n"  # differs from "cat" only in case
        "=f.jpg,\u202ecat\n",  # bidi control: refused
        encoding="utf-8",
    )
    plan = plan_import(root, labels, csv_path)
    assert plan.items == [("cat.1.jpg", "cat"), ("sub/x.jpg", "bird")]
    assert plan.conflicts == [("dog.1.jpg", "dog", "cat")] and plan.unchanged == 1
    assert plan.unmatched == [
        ("missing.jpg", "no such image in the folder"),
        ("/elsewhere/a.jpg", "outside the image folder"),
    ]
    assert [i[0] for i in plan.invalid] == ["other/x.jpg", "=f.jpg"]
    assert plan.new_classes == ["bird"] and plan.matched == 4
    preview = "\n".join(plan.preview())
    assert "conflict dog.1.jpg: dog -> cat" in preview and "new classes: bird" in preview

    head = labels.last_seq()
    assert apply_import(labels, plan) == 2
    assert labels.labels() == {"dog.1.jpg": "dog", "sub/cat.2.jpg": "cat", "cat.1.jpg": "cat",
                               "sub/x.jpg": "bird"}  # fmt: skip
    labels.undo()  # the whole import is one action
    assert labels.last_seq() > head and labels.labels() == {"dog.1.jpg": "dog",
                                                            "sub/cat.2.jpg": "cat"}  # fmt: skip
    assert "bird" not in labels.class_names()

    replaced = plan_import(root, labels, csv_path, replace=True)
    assert ("dog.1.jpg", "cat") in replaced.items


def test_class_folders_match_by_relative_path_then_unique_name(project, tmp_path: Path) -> None:
    root, labels = project
    src = tmp_path / "sorted"
    for rel in ("cat/cat.1.jpg", "bird/sub/x.jpg", "bird/dog.1.jpg", "cat/x.jpg", "fish/no.jpg"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(b"\xff\xd8\xff")
    (src / "loose.jpg").write_bytes(b"\xff\xd8\xff")
    plan = plan_import(root, labels, src, images=IMAGES)
    assert sorted(plan.items) == [("cat.1.jpg", "cat"), ("sub/x.jpg", "bird")]
    assert plan.conflicts == [("dog.1.jpg", "dog", "bird")]  # found by its unique file name
    reasons = dict(plan.unmatched)
    assert reasons["cat/x.jpg"].startswith("file name matches 2 images")
    assert reasons["fish/no.jpg"].startswith("no image") and "loose.jpg" in reasons


def test_round_trip_of_an_export_and_bad_sources(project, tmp_path: Path) -> None:
    root, labels = project
    labels.set_label("=f.jpg", "-x")  # formula-looking path and class, escaped in the CSV
    export_labels(labels, tmp_path / "out.csv")
    assert "'=f.jpg" in (tmp_path / "out.csv").read_text(encoding="utf-8")
    with LabelStore(tmp_path / "fresh.sqlite") as fresh:
        plan = plan_import(root, fresh, tmp_path / "out.csv")
        assert apply_import(fresh, plan) == 3
        assert fresh.labels() == labels.labels()
    assert sorted(plan_import(root, None, tmp_path / "out.csv").new_classes) == ["-x", "cat", "dog"]
    with pytest.raises(ExportError, match="no such labels file"):
        plan_import(root, labels, tmp_path / "nope.csv")
    (tmp_path / "bad.csv").write_text("file,class\n", encoding="utf-8")
    with pytest.raises(ExportError, match="path,label"):
        plan_import(root, labels, tmp_path / "bad.csv")
