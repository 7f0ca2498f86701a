"""Tests for the large image preview."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter

from gui_app.widgets.image_view import EMPTY_MESSAGE, ImageView, error_message


def solid(width: int, height: int, color: str = "#ff0000") -> QImage:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(color))
    return image


def same(a: QColor, b: QColor, tol: int = 4) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a.getRgb()[:3], b.getRgb()[:3], strict=True))


@pytest.fixture
def view(qtbot) -> ImageView:
    widget = ImageView()
    qtbot.addWidget(widget)
    widget.resize(300, 300)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    texts: list[str] = []
    original = QPainter.drawText

    def spy(self: QPainter, *args: object) -> object:
        texts.append(next(a for a in args if isinstance(a, str)))
        return original(self, *args)

    monkeypatch.setattr(QPainter, "drawText", spy)
    return texts


def test_wide_image_letterboxed(view: ImageView) -> None:
    view.set_image(solid(200, 100))
    assert view.has_image()
    assert view.image_rect() == QRectF(0, 75, 300, 150)
    image = view.grab().toImage()
    background = view.palette().color(view.backgroundRole())
    red = QColor("#ff0000")
    for x, y in [(150, 10), (5, 70), (295, 230), (150, 295)]:
        assert same(image.pixelColor(x, y), background), (x, y)
    for x, y in [(150, 150), (2, 80), (297, 222)]:
        assert same(image.pixelColor(x, y), red), (x, y)


def test_tall_image_pillarboxed_and_upscaled(view: ImageView) -> None:
    view.set_image(solid(10, 40, "#0000ff"))
    assert view.image_rect() == QRectF(112.5, 0, 75, 300)
    image = view.grab().toImage()
    background = view.palette().color(view.backgroundRole())
    assert same(image.pixelColor(20, 150), background)
    assert same(image.pixelColor(280, 150), background)
    assert same(image.pixelColor(150, 150), QColor("#0000ff"))


def test_caption_strip_is_plain_text(view: ImageView, drawn: list[str]) -> None:
    caption = "<b>a</b>.jpg · cat"
    view.set_image(solid(300, 300), caption)
    assert view.caption() == caption
    area = view.image_area()
    assert area.height() < 300
    assert view.image_rect().bottom() <= area.bottom() + 1
    image = view.grab().toImage()
    assert caption in drawn
    background = view.palette().color(view.backgroundRole())
    assert same(image.pixelColor(2, 298), background)  # caption strip, not image


def test_error_state(view: ImageView, drawn: list[str]) -> None:
    view.set_image(solid(100, 100), "bad.jpg", error="truncated JPEG")
    assert not view.has_image()
    assert view.error_text() == "truncated JPEG"
    assert view.image_rect().isEmpty()
    image = view.grab().toImage()
    assert error_message("truncated JPEG") == "⚠ Unreadable: truncated JPEG"
    assert "⚠ Unreadable: truncated JPEG" in drawn
    assert "bad.jpg" in drawn
    assert not same(image.pixelColor(150, 150), QColor("#ff0000"))


def test_empty_state(view: ImageView, drawn: list[str]) -> None:
    assert not view.has_image()
    drawn.clear()
    view.grab()
    assert drawn == [EMPTY_MESSAGE]
    view.set_image(solid(10, 10))
    view.set_image(QImage())  # a null image is the empty state too
    assert not view.has_image()
    assert view.error_text() is None
    drawn.clear()
    view.set_image(None, "No image matches this filter")  # caption replaces the hint
    assert view.empty_text() == "No image matches this filter"
    assert view.image_area() == view.rect()
    view.grab()
    assert drawn == ["No image matches this filter"]


def test_scaled_pixmap_cached_per_size(view: ImageView, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = QImage.scaled

    def counting(self: QImage, *args: object, **kwargs: object) -> QImage:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QImage, "scaled", counting)
    view.set_image(solid(640, 480))
    view.grab()
    assert len(calls) == 1
    view.grab()
    view.grab()
    assert len(calls) == 1  # repaints reuse the fitted copy
    view.resize(200, 200)
    view.grab()
    assert len(calls) == 2
    view.set_image(solid(640, 480))
    view.grab()
    assert len(calls) == 3


def test_high_dpi_pixmap(view: ImageView, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(view.main, "devicePixelRatioF", lambda: 2.0)
    view.set_image(solid(1000, 500))
    pixmap = view.main.fitted_pixmap()
    assert pixmap is not None
    assert pixmap.devicePixelRatio() == 2.0
    assert (pixmap.width(), pixmap.height()) == (600, 300)
    assert pixmap.deviceIndependentSize().toSize() == view.image_rect().size().toSize()
