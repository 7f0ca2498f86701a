"""The window under trouble: closing mid-extraction, read-only folders, bad images and backbones."""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from gui_app.core.backbones import resolve_backbone
from gui_app.core.store import FeatureStore
from gui_app.qt.image_model import Roles
from tests.conftest import write_class_images
from tests.gui.apphelpers import close_window, open_window

pytestmark = pytest.mark.slow


def test_closing_during_extraction_stops_cleanly(qtbot, tmp_path, tiny_backbone, errors):
    folder = tmp_path / "many"
    write_class_images(folder, per_class=150, size=64)
    controller, window = open_window(qtbot, tmp_path, folder, tiny_backbone, wait=False)
    qtbot.waitUntil(lambda: controller.extraction_state in ("loading model", "extracting"))
    close_window(qtbot, window, controller)  # asserts the feature thread has stopped
    spec = resolve_backbone(str(tiny_backbone))
    with FeatureStore(folder / ".loupe" / "features.h5", spec.id, 16) as store:
        assert store.recovery_message is None
        assert len(store) <= 300
    # Reopening resumes from the cache and completes.
    controller, window = open_window(qtbot, tmp_path, folder, None)
    assert len(controller.session.vectors) == 300 and errors == []
    close_window(qtbot, window, controller)


def test_read_only_folder_offers_another_location(
    qtbot, tmp_path, class_images, tiny_backbone, monkeypatch, errors
):
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).is_relative_to(class_images):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    elsewhere = tmp_path / "elsewhere"
    asked = []

    def ask(parent, folder, reason, suggested):
        asked.append((folder, reason, suggested))
        return str(elsewhere)

    monkeypatch.setattr("gui_app.widgets.main_window.ask_project_location", ask)
    controller, window = open_window(qtbot, tmp_path, class_images, tiny_backbone, wait=False)
    assert asked and "read-only" in asked[0][1]
    qtbot.waitUntil(lambda: controller.extraction_state == "done", timeout=60000)
    assert controller.session.project.dir == elsewhere.resolve()
    assert (elsewhere / "labels.sqlite").is_file() and not (class_images / ".loupe").exists()
    close_window(qtbot, window, controller)


def test_unreadable_images_are_listed_with_reasons(qtbot, tmp_path, class_images, tiny_backbone):
    (class_images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    (class_images / "empty.png").write_bytes(b"")
    controller, window = open_window(qtbot, tmp_path, class_images, tiny_backbone)
    model = controller.model
    assert set(model.reasons) == {"broken.jpg", "empty.png"}
    assert model.reasons["empty.png"] == "empty file (0 bytes)"
    row = model.row_of("empty.png")
    assert model.data(model.index(row), Roles.REASON) == "empty file (0 bytes)"
    assert "Unreadable: empty file" in model.data(model.index(row), Qt.ItemDataRole.ToolTipRole)
    controller.set_current_row(row)
    assert "Unreadable image" in window.bars.message()
    controller.set_filter("unreadable")
    assert model.rowCount() == 2
    from PySide6.QtWidgets import QLabel

    status = " ".join(label.text() for label in window.status.findChildren(QLabel))
    assert "2 unreadable" in status
    assert sorted(p for p, _ in window._unreadable) == ["broken.jpg", "empty.png"]
    close_window(qtbot, window, controller)


def test_backbone_error_is_shown_in_the_window(qtbot, tmp_path, class_images, errors):
    missing = tmp_path / "gone.keras"
    controller, window = open_window(qtbot, tmp_path, class_images, missing)
    assert any("gone.keras" in e for e in errors), errors
    assert controller.extraction_state == "error"
    assert controller.model.rowCount() == 12  # the images are still browsable
    close_window(qtbot, window, controller)


def test_filters_sorts_and_next_unlabeled(qtbot, tmp_path, class_images, tiny_backbone):
    controller, window = open_window(qtbot, tmp_path, class_images, tiny_backbone)
    model = controller.model
    controller.set_advance("next-unlabeled")
    controller.set_current_row(model.row_of("cat.0.jpg"))
    controller.assign_class("cat")
    controller.set_current_row(model.row_of("dog.0.jpg"))
    controller.assign_class("dog")
    assert controller.current_path == "dog.1.jpg"
    controller.set_current_row(model.row_of("cat.1.jpg"))
    controller.assign_class("cat")
    assert controller.current_path == "cat.2.jpg"  # cat.1 done, the next unlabeled one
    qtbot.waitUntil(
        lambda: model.data(model.index(model.row_of("dog.5.jpg")), Roles.PREDICTION) is not None
    )
    controller.set_filter("labeled")
    assert model.rowCount() == 3
    controller.set_filter("class", "dog")
    assert [model.path_at(r) for r in range(model.rowCount())] == ["dog.0.jpg"]
    controller.set_filter("all")
    controller.set_sort("confidence")
    confidences = [model.data(model.index(r), Roles.CONFIDENCE) for r in range(model.rowCount())]
    assert confidences == sorted(confidences)
    controller.set_filter("prediction", "dog")
    assert all(
        model.data(model.index(r), Roles.PREDICTION) == "dog" for r in range(model.rowCount())
    )
    close_window(qtbot, window, controller)


def test_export_from_the_window(qtbot, tmp_path, class_images, tiny_backbone, errors):
    controller, window = open_window(qtbot, tmp_path, class_images, tiny_backbone)
    model = controller.model
    for name, label in (("cat.0.jpg", "cat"), ("dog.0.jpg", "dog"), ("cat.1.jpg", "cat")):
        controller.set_current_row(model.row_of(name))
        controller.assign_class(label)
    messages: list[str] = []
    controller.message.connect(lambda text, _ms: messages.append(text))
    out = tmp_path / "out"
    controller.export_labels(str(out / "labels.csv"), "csv")
    qtbot.waitUntil(lambda: any(m.startswith("Exported 3 labels") for m in messages))
    controller.export_predictions(str(out / "predictions.csv"), 0.5)
    qtbot.waitUntil(lambda: any("predictions of 12 images" in m for m in messages))
    lines = (out / "predictions.csv").read_text().splitlines()
    assert lines[0] == "path,predicted,cat,dog" and len(lines) == 13
    assert errors == []
    close_window(qtbot, window, controller)


def test_second_window_on_the_same_folder_is_refused(
    qtbot, tmp_path, class_images, tiny_backbone, errors
):
    first, window1 = open_window(qtbot, tmp_path, class_images, tiny_backbone)
    assert first.session is not None
    second, window2 = open_window(qtbot, tmp_path / "two", class_images, None, wait=False)
    assert second.session is None
    assert any("open in another Loupe window" in e for e in errors), errors
    close_window(qtbot, window2, second)
    close_window(qtbot, window1, first)
    third, window3 = open_window(qtbot, tmp_path, class_images, None)
    assert third.session is not None  # released on close
    close_window(qtbot, window3, third)


def test_rename_merge_delete_recolor_from_the_window(qtbot, tmp_path, class_images, tiny_backbone):
    controller, window = open_window(qtbot, tmp_path, class_images, tiny_backbone)
    model = controller.model
    for name, label in (("cat.0.jpg", "cat"), ("dog.0.jpg", "dog"), ("dog.1.jpg", "pup")):
        controller.set_current_row(model.row_of(name))
        controller.assign_class(label)
    controller.set_current_row(model.row_of("cat.3.jpg"))

    def bar_names():
        return sorted(b.name for b in window.bars.bars())

    assert bar_names() == ["cat", "dog", "pup"]
    controller.rename_class("cat", "kitten")
    assert bar_names() == ["dog", "kitten", "pup"]
    assert model.data(model.index(model.row_of("cat.0.jpg")), Roles.LABEL) == "kitten"
    controller.merge_classes("pup", "dog")
    assert bar_names() == ["dog", "kitten"]
    assert controller.session.labels.counts() == {"kitten": 1, "dog": 2}
    controller.recolor_class("dog", "#123456")
    assert model.data(model.index(model.row_of("dog.0.jpg")), Roles.LABEL_COLOR) == "#123456"
    assert [b.color for b in window.bars.bars() if b.name == "dog"] == ["#123456"]
    controller.delete_class("kitten")
    assert window.bars.message() == "Label two classes to see predictions"
    assert model.data(model.index(model.row_of("cat.0.jpg")), Roles.LABEL) is None
    controller.undo()  # the deleted class and its label come back, and so do the bars
    assert bar_names() == ["dog", "kitten"]
    assert controller.session.labels.label_of("cat.0.jpg") == "kitten"
    close_window(qtbot, window, controller)


def test_about_lists_library_versions_and_device(qtbot, tmp_path, class_images, tiny_backbone):
    controller, window = open_window(qtbot, tmp_path, class_images, tiny_backbone)
    text = "\n".join(controller.about_lines())
    for name in ("TensorFlow", "Keras", "river", "Qt"):
        assert name in text
    assert "Device: CPU" in text or "Device: GPU" in text or "features cached" in text
    close_window(qtbot, window, controller)
