"""The preview in the real window: side-by-side with the most similar labelled image, zoom keys."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.gui.apphelpers import close_window, open_window

pytestmark = pytest.mark.slow


def test_compare_shows_the_most_similar_labelled_image_of_the_class(
    qtbot, tmp_path, class_images, tiny_backbone, errors
):
    controller, window = open_window(qtbot, tmp_path, class_images, tiny_backbone)
    model = controller.model
    for path, label in (("cat.0.jpg", "cat"), ("dog.0.jpg", "dog"), ("cat.1.jpg", "cat")):
        controller.set_current_row(model.row_of(path))
        controller.assign_class(label)
    controller.set_current_row(model.row_of("cat.4.jpg"))
    qtbot.waitUntil(window.image_view.has_image, timeout=10000)
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_C)  # the preview's Compare key
    assert window.image_view.reference_visible()
    reference = window.image_view.reference
    qtbot.waitUntil(reference.has_image, timeout=10000)
    caption = reference.caption()
    assert caption.startswith(("cat.0.jpg", "cat.1.jpg")) and "labelled cat" in caption
    want = controller.session.most_similar_labelled("cat.4.jpg", "cat")
    assert caption.startswith(want[0]) and f"{want[1]:.2f}" in caption
    # Moving on updates the comparison; an unlabelled class shows why there is none.
    controller.set_current_row(model.row_of("dog.3.jpg"))
    qtbot.waitUntil(lambda: "dog.0.jpg" in reference.caption(), timeout=10000)
    qtbot.keyClick(window.grid, Qt.Key.Key_C)
    assert not window.image_view.reference_visible()
    assert errors == []
    close_window(qtbot, window, controller)
