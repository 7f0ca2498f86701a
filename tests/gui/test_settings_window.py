"""Edit ▸ Settings in the real window: the engine re-extracts, the Dask scheduler is checked."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox

from gui_app.widgets.settings_dialog import SettingsDialog
from tests.gui.apphelpers import close_window, open_window

pytestmark = pytest.mark.slow


def drive_settings(qtbot, window, steps) -> list[str]:
    """Open Settings with its shortcut's action; ``steps(dialog)`` runs inside the dialog."""
    seen: list[str] = []

    def inside() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, SettingsDialog)
        steps(dialog)
        seen.append("done")

    QTimer.singleShot(0, inside)
    window.a_settings.trigger()
    assert seen == ["done"]
    return seen


def ok(dialog: SettingsDialog) -> None:
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()


def test_engine_change_reextracts_and_a_bad_scheduler_is_refused_in_the_dialog(
    qtbot, tmp_path, class_images, tiny_backbone, errors, monkeypatch
):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    controller, window = open_window(qtbot, tmp_path, class_images, tiny_backbone)
    session = controller.session
    assert session.vector_count == 12

    def choose_tensorflow(dialog: SettingsDialog) -> None:
        assert dialog.values()["engine"] == session.settings.engine
        dialog.engine.setCurrentIndex(dialog.engine.findData("tensorflow"))
        ok(dialog)

    drive_settings(qtbot, window, choose_tensorflow)
    assert session.settings.engine == "tensorflow"  # stored with the project
    assert controller.settings.engine == "tensorflow"  # and the default of new projects
    qtbot.waitUntil(lambda: controller.extraction_state == "done", timeout=60000)
    assert session.vector_count == 12  # extracted again with the chosen engine

    messages: list[str] = []
    controller.message.connect(lambda text, _ms: messages.append(text))
    refused: list[str] = []

    def bad_then_good(dialog: SettingsDialog) -> None:
        qtbot.keyClicks(dialog.scheduler, "my laptop")
        ok(dialog)
        assert dialog.isVisible() and dialog.scheduler_error.isVisible()
        refused.append(dialog.scheduler_error.text())
        dialog.scheduler.clear()
        qtbot.keyClicks(dialog.scheduler, "local:2")
        ok(dialog)
        assert not dialog.isVisible()

    drive_settings(qtbot, window, bad_then_good)
    assert "not a Dask scheduler: 'my laptop'" in refused[0]
    assert controller.settings.scheduler == "local:2"
    assert controller.current_settings()["scheduler"] == "local:2"
    assert any("local:2" in m and "next extraction" in m for m in messages)
    assert session.settings.engine == "tensorflow" and controller.extraction_state == "done"
    assert errors == []
    close_window(qtbot, window, controller)
