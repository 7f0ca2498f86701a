"""File ▸ Import Labels and Label ▸ Fit Final Model in the real window."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox

from tests.gui.apphelpers import close_window, open_window

pytestmark = pytest.mark.slow


def test_import_preview_apply_undo_then_fit_and_export_the_final_model(
    qtbot, tmp_path, class_images, tiny_backbone, errors, monkeypatch
):
    asked: list[str] = []
    monkeypatch.setattr(  # the user reads the preview and declines; the test applies itself
        QMessageBox, "question", lambda _p, _t, text, *a: asked.append(text) or QMessageBox.No
    )
    controller, window = open_window(qtbot, tmp_path, class_images, tiny_backbone)
    session = controller.session
    csv = tmp_path / "labels.csv"
    rows = [f"{k}.{i}.jpg,{k}" for k in ("cat", "dog") for i in range(6)]
    csv.write_text("path,label\n" + "\n".join([*rows, "missing.jpg,cat"]) + "\n")
    with qtbot.waitSignal(controller.import_preview, timeout=10000) as previewed:
        controller.plan_import(str(csv))
    preview = previewed.args[0]
    assert preview.to_label == 12 and any("unmatched: 1" in line for line in preview.lines)
    assert asked and "Import 12 labels" in asked[0] and "unmatched: 1" in asked[0]
    assert session.label_count == 0  # nothing changes before the user confirms
    controller.apply_import()
    qtbot.waitUntil(lambda: session.label_count == 12, timeout=10000)
    imported = [e for e in session.journal() if e.data and e.data.get("pick") == "import"]
    assert len(imported) == 12
    controller.undo()  # one action
    qtbot.waitUntil(lambda: session.label_count == 0, timeout=10000)
    controller.redo()
    qtbot.waitUntil(lambda: session.label_count == 12 and controller.idle(), timeout=10000)

    messages: list[str] = []
    controller.message.connect(lambda text, _ms: messages.append(text))
    controller.fit_final_model()
    qtbot.waitUntil(lambda: any("cross-validated" in m for m in messages), timeout=60000)
    assert (session.project.dir / "batch_model.pkl").is_file()
    out = tmp_path / "final"
    controller.export_final_model(str(out))
    qtbot.waitUntil(lambda: any("Exported the final model" in m for m in messages), timeout=120000)
    assert (out / "model.pkl").is_file() and (out / "classifier.tflite").is_file()
    assert errors == []
    close_window(qtbot, window, controller)
