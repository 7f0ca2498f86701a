"""Zoom, pan, fit / 100 % / fill, full-resolution swap and side-by-side of the preview."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, QSettings, Qt
from PySide6.QtGui import QColor, QImage, QImageReader, QPainter, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolButton, QWidget

from gui_app.qt.full_image import FullImageLoader, ImagePyramid, decode_pyramid
from gui_app.qt.preview import PreviewLoader, preview_source, tag_preview
from gui_app.widgets.image_view import ImageView
from gui_app.widgets.zoom_geometry import ZOOM_STEP, ZoomGeometry
from gui_app.widgets.zoom_view import ZoomView


# ------------------------------------------------------------------ helpers
def gradient(width: int, height: int) -> QImage:
    """Every pixel distinct enough to tell where it came from."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = x
    rgb[..., 1] = y
    rgb[..., 2] = 128
    image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.convertToFormat(QImage.Format.Format_RGB32)


def write_jpeg(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """A textured JPEG: fine detail the preview cannot hold."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height // 8, width // 8, 3), np.uint8)
    image = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = rng.integers(0, 60, (height, width, 1), np.uint8)
    cv2.imwrite(str(path), image // 2 + noise, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


def wheel(widget: QWidget, pos: QPointF, notches: float) -> None:
    """A real wheel event at *pos* (widget coordinates)."""
    event = QWheelEvent(
        QPointF(pos),
        QPointF(widget.mapToGlobal(pos.toPoint())),
        QPoint(0, 0),
        QPoint(0, round(120 * notches)),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def close(a: QPointF, b: QPointF, tol: float = 1e-6) -> bool:
    return abs(a.x() - b.x()) <= tol and abs(a.y() - b.y()) <= tol


@pytest.fixture
def view(qtbot) -> ImageView:
    widget = ImageView()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    qtbot.waitExposed(widget)
    widget.activateWindow()
    qtbot.waitUntil(widget.isActiveWindow)
    return widget


@pytest.fixture
def loader(qtbot):
    previews = PreviewLoader()
    yield previews
    previews.shutdown()


def load_preview(qtbot, loader: PreviewLoader, path: Path, max_side: int) -> QImage:
    with qtbot.waitSignal(loader.ready, timeout=10000) as blocker:
        loader.request(path.name, path, max_side)
    image = blocker.args[1]
    assert isinstance(image, QImage), blocker.args
    return image


# ------------------------------------------------------------------ zooming
def test_wheel_zoom_keeps_point_under_cursor(view: ImageView) -> None:
    view.set_image(gradient(2000, 1500))
    assert view.mode() == "fit"
    assert view.scale() == pytest.approx(0.2)
    changes: list[tuple[str, float]] = []
    view.view_changed.connect(lambda mode, scale: changes.append((mode, scale)))
    for pos, notches in [(QPointF(100, 80), 1), (QPointF(300, 220), 2), (QPointF(50, 250), -1)]:
        before = view.scale()
        under = view.map_to_image(pos)
        wheel(view.main, pos, notches)
        assert view.scale() == pytest.approx(before * ZOOM_STEP**notches)
        assert close(view.map_to_widget(under), pos, 1e-6), (pos, view.map_to_widget(under))
    assert view.mode() == "custom"
    assert changes and changes[-1] == ("custom", view.scale())
    wheel(view.main, QPointF(200, 150), -40)  # all the way out: back to fit
    assert view.mode() == "fit"
    assert view.scale() == pytest.approx(0.2)


def test_keys_zoom_around_the_centre(view: ImageView) -> None:
    view.set_image(gradient(2000, 1500))
    centre = QRectF(view.image_area()).center()
    under = view.map_to_image(centre)
    QTest.keyClick(view.main, Qt.Key.Key_Plus)
    assert view.scale() == pytest.approx(0.2 * ZOOM_STEP)
    assert close(view.map_to_image(centre), under, 1e-6)
    QTest.keyClick(view.main, Qt.Key.Key_Equal)
    assert view.scale() == pytest.approx(0.2 * ZOOM_STEP**2)
    QTest.keyClick(view.main, Qt.Key.Key_Minus)
    assert view.scale() == pytest.approx(0.2 * ZOOM_STEP)


def test_zoom_passing_100_percent_stops_there(view: ImageView) -> None:
    view.set_image(gradient(2000, 1500))
    for _ in range(12):
        view.zoom_by(1)
        if view.scale() >= 1:
            break
    assert view.scale() == pytest.approx(1.0)
    assert view.mode() == "100"


def test_drag_pans_with_the_mouse(qtbot, view: ImageView) -> None:
    view.set_image(gradient(2000, 1500))
    view.set_mode("100")
    start, end = QPoint(200, 150), QPoint(260, 110)
    grabbed = view.map_to_image(QPointF(start))
    qtbot.mousePress(view.main, Qt.MouseButton.LeftButton, pos=start)
    assert view.main.hasFocus()  # a zoomed preview takes focus for the arrow keys
    qtbot.mouseMove(view.main, QPoint(230, 130))
    qtbot.mouseMove(view.main, end)
    qtbot.mouseRelease(view.main, Qt.MouseButton.LeftButton, pos=end)
    assert close(view.map_to_widget(grabbed), QPointF(end), 1e-6)
    assert view.mode() == "100" and view.scale() == pytest.approx(1.0)


def test_drag_stops_at_the_image_edge(qtbot, view: ImageView) -> None:
    view.set_image(gradient(2000, 1500))
    view.set_mode("100")
    for _ in range(5):  # drag right and down, far beyond the top-left corner
        qtbot.mousePress(view.main, Qt.MouseButton.LeftButton, pos=QPoint(10, 10))
        qtbot.mouseMove(view.main, QPoint(390, 290))
        qtbot.mouseRelease(view.main, Qt.MouseButton.LeftButton, pos=QPoint(390, 290))
    assert close(view.map_to_widget(QPointF(0, 0)), QPointF(0, 0), 1e-6)  # top-left corner


def test_fitted_image_is_not_dragged_and_keeps_no_focus(qtbot, view: ImageView) -> None:
    view.set_image(gradient(2000, 1500))
    view.main.clearFocus()
    rect = view.image_rect()
    qtbot.mousePress(view.main, Qt.MouseButton.LeftButton, pos=QPoint(200, 150))
    qtbot.mouseMove(view.main, QPoint(250, 190))
    qtbot.mouseRelease(view.main, Qt.MouseButton.LeftButton, pos=QPoint(250, 190))
    assert view.image_rect() == rect
    assert not view.main.hasFocus()


def test_arrow_keys_pan_only_when_focused_and_zoomed(qtbot, view: ImageView) -> None:
    grid = QWidget(view)  # stands for the grid: records the keys it gets
    keys: list[int] = []
    grid.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    grid.show()
    grid.keyPressEvent = lambda event: keys.append(event.key())  # type: ignore[method-assign]
    view.set_key_fallback(grid)
    view.set_image(gradient(2000, 1500))
    view.set_mode("100")
    view.main.setFocus()
    before = view.map_to_image(QPointF(200, 150))
    QTest.keyClick(view.main, Qt.Key.Key_Right)
    after = view.map_to_image(QPointF(200, 150))
    assert after.x() > before.x() and after.y() == pytest.approx(before.y())
    QTest.keyClick(view.main, Qt.Key.Key_Down)
    assert view.map_to_image(QPointF(200, 150)).y() > after.y()
    assert keys == []
    view.set_mode("fit")  # nothing to pan: arrows belong to the grid again
    QTest.keyClick(view.main, Qt.Key.Key_Down)
    assert keys == [Qt.Key.Key_Down]
    assert grid.hasFocus()
    view.main.setFocus()
    QTest.keyClick(view.main, Qt.Key.Key_Escape)
    assert grid.hasFocus()


def test_modes_toggle_with_keys_and_buttons(view: ImageView) -> None:
    view.set_image(gradient(800, 400))  # 2:1 in a 4:3 pane
    QTest.keyClick(view.main, Qt.Key.Key_Z)
    assert view.mode() == "100" and view.scale() == pytest.approx(1.0)
    assert view.a_modes["100"].isChecked()
    QTest.keyClick(view.main, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)
    assert view.mode() == "fill" and view.scale() == pytest.approx(300 / 400)
    area = QRectF(view.image_area())
    assert view.image_rect().contains(area)  # covers the pane
    QTest.keyClick(view.main, Qt.Key.Key_F)
    assert view.mode() == "fit" and view.scale() == pytest.approx(400 / 800)
    assert area.contains(view.image_rect())
    view.set_overlay_visible(True)
    assert view.overlay.isVisible()
    buttons = {b.text(): b for b in view.overlay.findChildren(QToolButton)}
    QTest.mouseClick(buttons["1:1"], Qt.MouseButton.LeftButton)
    assert view.mode() == "100"
    QTest.mouseClick(buttons["Fit"], Qt.MouseButton.LeftButton)
    assert view.mode() == "fit"


def test_double_click_toggles_100_percent_at_the_pointer(qtbot, view: ImageView) -> None:
    view.set_image(gradient(2000, 1500))
    pos = QPoint(120, 100)
    under = view.map_to_image(QPointF(pos))
    qtbot.mouseDClick(view.main, Qt.MouseButton.LeftButton, pos=pos)
    assert view.mode() == "100"
    assert close(view.map_to_widget(under), QPointF(pos), 1e-6)
    qtbot.mouseDClick(view.main, Qt.MouseButton.LeftButton, pos=pos)
    assert view.mode() == "fit"


def test_100_percent_honours_device_pixel_ratio(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    pane = ZoomView()
    qtbot.addWidget(pane)
    monkeypatch.setattr(pane, "devicePixelRatioF", lambda: 2.0)
    pane.resize(400, 300)
    pane.set_image(gradient(2000, 1500))
    pane.set_mode("100")
    assert pane.scale() == pytest.approx(0.5)  # one image pixel per device pixel
    assert pane.geometry_.device_scale() == pytest.approx(1.0)


def test_window_shortcuts_do_not_clash(qtbot, tmp_path: Path) -> None:
    from gui_app.qt.controller import Controller
    from gui_app.qt.settings import AppSettings
    from gui_app.widgets.main_window import MainWindow
    from tests.gui.apphelpers import close_window

    ini = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    controller = Controller(AppSettings(ini))
    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    seen: dict[str, str] = {}
    actions = [*window.actions(), *window.image_view.actions()]
    for action in {id(a): a for a in actions}.values():
        for text in {key.toString() for key in action.shortcuts()}:
            assert text not in seen, f"{text}: {seen.get(text)} and {action.text()}"
            seen[text] = action.text()
    for key in ("F", "Z", "Shift+F", "+", "-", "C"):
        assert key in seen
    field = window.label_panel.new_class  # typing a class name must not zoom or compare
    field.setFocus()
    qtbot.waitUntil(field.hasFocus)
    qtbot.keyClicks(field, "Fcz+-")
    assert field.text() == "Fcz+-"
    assert window.image_view.mode() == "fit" and not window.image_view.reference_visible()
    window.grid.setFocus()  # from the grid the same keys act on the preview
    QTest.keyClick(window.grid, Qt.Key.Key_C)
    assert window.image_view.reference_visible()
    close_window(qtbot, window, controller)


# ------------------------------------------------------------- full resolution
def test_preview_carries_its_source_and_full_size(qtbot, loader, tmp_path: Path) -> None:
    path = write_jpeg(tmp_path / "big.jpg", 1200, 800)
    preview = load_preview(qtbot, loader, path, 300)
    assert (preview.width(), preview.height()) == (300, 200)
    source = preview_source(preview)
    assert source is not None
    assert (source.key, source.path) == ("big.jpg", str(path))
    assert (source.full_size.width(), source.full_size.height()) == (1200, 800)
    assert preview_source(gradient(10, 10)) is None


def test_exif_rotated_full_size(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    Image.new("RGB", (600, 200), "red").save(path, exif=exif)
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    shown = reader.read()
    assert (shown.width(), shown.height()) == (200, 600)
    from gui_app.qt.preview import oriented_size

    size = oriented_size(path)
    assert size is not None and (size.width(), size.height()) == (200, 600)
    tagged = preview_source(tag_preview(shown.scaled(50, 150), "k", path, size))
    assert tagged is not None and tagged.full_size.height() == 600


def test_full_image_requested_and_swapped_in_place(qtbot, loader, tmp_path: Path) -> None:
    path = write_jpeg(tmp_path / "photo.jpg", 2400, 1600)
    preview = load_preview(qtbot, loader, path, 600)  # 600 x 400: 1/4 of the pixels per side
    view = ImageView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)
    wanted: list[tuple[str, str]] = []
    view.full_resolution_wanted.connect(lambda k, p: wanted.append((k, p)))
    view.full_resolution_wanted.connect(loader.request_full)
    loader.full_ready.connect(view.set_full_image)
    view.set_image(preview, "photo.jpg")
    assert view.scale() == pytest.approx(400 / 2400)
    view.zoom_by(2)  # 0.24 device pixels per image pixel: the 1/4 preview is still sharp
    assert wanted == [] and view.main.full_state() == "none"
    view.grab()
    assert view.main.painted_level_width() == 600
    anchor = QPointF(150, 100)
    with qtbot.waitSignal(loader.full_ready, timeout=20000) as blocker:
        wheel(view.main, anchor, 4)  # past the preview's resolution
        assert wanted == [("photo.jpg", str(path))]
        assert view.main.full_state() == "pending"
        scale, corner = view.scale(), view.map_to_widget(QPointF(0, 0))
    assert isinstance(blocker.args[1], ImagePyramid)
    assert view.main.full_state() == "ready"
    assert view.scale() == scale and close(view.map_to_widget(QPointF(0, 0)), corner)
    view.set_mode("100")
    shot = view.grab().toImage()
    assert view.main.painted_level_width() == 2400  # drawn from the full image now
    reader = QImageReader(str(path))
    full = reader.read()
    for x, y in [(100, 80), (250, 200), (30, 270)]:  # pixel for pixel at 100 %
        source = view.map_to_image(QPointF(x + 0.5, y + 0.5))
        want = full.pixelColor(int(source.x()), int(source.y()))
        got = shot.pixelColor(x, y)
        assert all(
            abs(a - b) <= 3 for a, b in zip(got.getRgb()[:3], want.getRgb()[:3], strict=True)
        )
    view.set_image(preview, "photo.jpg · labeled cat")  # a new caption keeps the full image
    assert view.main.full_state() == "ready" and view.mode() == "100"
    view.zoom_by(1)
    assert len(wanted) == 1  # asked once per image


def test_full_image_failure_is_remembered(qtbot, loader, tmp_path: Path) -> None:
    path = write_jpeg(tmp_path / "gone.jpg", 1600, 1200)
    preview = load_preview(qtbot, loader, path, 400)
    path.unlink()
    pane = ZoomView()
    qtbot.addWidget(pane)
    pane.resize(400, 300)
    pane.full_resolution_wanted.connect(loader.request_full)
    loader.full_ready.connect(pane.set_full_image)
    pane.set_image(preview)
    pane.set_mode("100")  # answered at once: the file is gone
    assert pane.full_state() == "failed"
    pane.zoom_by(1)
    assert pane.full_state() == "failed" and pane.has_image()
    drawn: list[str] = []
    original = QPainter.drawText

    def spy(self: QPainter, *args: object) -> object:
        drawn.append(next(a for a in args if isinstance(a, str)))
        return original(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(QPainter, "drawText", spy)
        pane.grab()
    assert "Full resolution unavailable: file not found" in drawn  # the blur is explained


def test_paint_draws_only_the_visible_part(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    pane = ZoomView()
    qtbot.addWidget(pane)
    pane.resize(400, 300)
    full = gradient(3000, 2000)
    preview = tag_preview(full.scaled(750, 500), "k", Path("k.jpg"), full.size())
    pane.set_image(preview)
    pane.zoom_by(12)
    pane.set_full_image("k", ImagePyramid((full, full.scaled(1500, 1000))))
    sources: list[QRectF] = []
    scaled: list[int] = []
    draw, scale = QPainter.drawImage, QImage.scaled

    def spy_draw(self, target, image, source, *args):
        sources.append(QRectF(source))
        return draw(self, target, image, source, *args)

    def spy_scaled(self, *args, **kwargs):
        scaled.append(self.width())
        return scale(self, *args, **kwargs)

    monkeypatch.setattr(QPainter, "drawImage", spy_draw)
    monkeypatch.setattr(QImage, "scaled", spy_scaled)
    for steps in (1, 1, -1, -1, -1):
        pane.zoom_by(steps, QPointF(120, 90))
        pane.pan_by(17, -9)
        pane.grab()
    assert 3000 not in scaled and 1500 not in scaled  # the big levels are never rescaled
    assert sources and max(s.width() * s.height() for s in sources) < 3000 * 2000 / 4


def test_full_loader_caches_and_limits(qtbot, tmp_path: Path) -> None:
    paths = [write_jpeg(tmp_path / f"{i}.jpg", 1200, 900, seed=i) for i in range(3)]
    one = decode_pyramid(paths[0])
    budget = one.nbytes * 2 + 1
    full = FullImageLoader(cache_bytes=budget, cache_items=3)
    try:
        for i, path in enumerate(paths):
            with qtbot.waitSignal(full.full_ready, timeout=20000) as blocker:
                full.request_full(str(i), path)
            assert blocker.args[0] == str(i) and blocker.args[2] == ""
        assert full.cache_bytes() <= budget
        assert full.cached(paths[0]) is None  # least recently used went first
        answers: list[tuple] = []
        full.full_ready.connect(lambda *a: answers.append(a))
        full.request_full("again", paths[2])  # cached: answered at once
        assert answers and answers[0][0] == "again"
        full.request_full("missing", tmp_path / "nope.jpg")
        assert answers[-1][0] == "missing" and answers[-1][2] == "file not found"
    finally:
        full.shutdown()


# ------------------------------------------------------------------ side by side
def test_side_by_side_shows_the_reference(
    qtbot, view: ImageView, monkeypatch: pytest.MonkeyPatch
) -> None:
    red = QImage(200, 100, QImage.Format.Format_RGB32)
    red.fill(QColor("#ff0000"))
    blue = QImage(100, 100, QImage.Format.Format_RGB32)
    blue.fill(QColor("#0000ff"))
    view.set_image(red, "current.jpg")
    assert not view.reference.isVisible()
    with qtbot.waitSignal(view.reference_toggled) as blocker:
        QTest.keyClick(view.main, Qt.Key.Key_C)
    assert blocker.args == [True] and view.reference_visible()
    drawn: list[str] = []
    original = QPainter.drawText

    def spy(self: QPainter, *args: object) -> object:
        drawn.append(next(a for a in args if isinstance(a, str)))
        return original(self, *args)

    caption = "cat.7.jpg · cat · similarity 0.93"
    view.set_reference(blue, caption)
    qtbot.waitUntil(lambda: view.reference.isVisible() and view.reference.width() > 50)
    monkeypatch.setattr(QPainter, "drawText", spy)
    shot = view.grab().toImage()
    monkeypatch.undo()
    assert caption in drawn and "current.jpg" in drawn
    ref = view.reference
    centre = ref.mapTo(view, ref.image_rect().center().toPoint())
    assert shot.pixelColor(centre) == QColor("#0000ff")
    main_centre = view.main.mapTo(view, view.main.image_rect().center().toPoint())
    assert shot.pixelColor(main_centre) == QColor("#ff0000")
    assert view.main.width() + ref.width() <= view.width()  # side by side in a wide pane
    view.set_reference(None, "No labelled image of class cat")
    assert ref.empty_text() == "No labelled image of class cat"
    with qtbot.waitSignal(view.reference_toggled) as blocker:
        view.a_compare.trigger()
    assert blocker.args == [False] and not ref.isVisible()


# ------------------------------------------------------------------ view state
def test_view_state_round_trips_through_qsettings(qtbot, view: ImageView, tmp_path: Path) -> None:
    view.set_image(gradient(2000, 1500))
    view.zoom_by(5, QPointF(100, 100))
    view.center_on(QPointF(700, 500))
    view.set_reference_visible(True)
    state = view.view_state()
    assert state["mode"] == "custom" and state["reference"] is True
    settings = QSettings(str(tmp_path / "view.ini"), QSettings.Format.IniFormat)
    settings.setValue("preview/view", state)
    settings.sync()
    stored = QSettings(str(tmp_path / "view.ini"), QSettings.Format.IniFormat).value("preview/view")
    again = ImageView()
    qtbot.addWidget(again)
    again.resize(400, 300)
    again.show()
    qtbot.waitExposed(again)
    again.restore_view_state(stored)  # before any image: applied to the first one
    again.set_image(gradient(2000, 1500))
    assert again.mode() == "custom"
    assert again.scale() == pytest.approx(view.scale())
    assert close(again.map_to_image(QPointF(200, 150)), QPointF(700, 500), 1e-6)
    assert again.reference_visible()
    again.restore_view_state({"mode": "sideways", "zoom": "nan", "center_x": 7})  # ignored
    assert again.mode() == "custom"


def test_next_image_keeps_mode_and_relative_centre(view: ImageView) -> None:
    view.set_image(gradient(2000, 1500))
    view.set_mode("100")
    view.center_on(QPointF(500, 375))
    view.set_image(gradient(4000, 3000))
    assert view.mode() == "100" and view.scale() == pytest.approx(1.0)
    assert close(view.map_to_image(QPointF(200, 150)), QPointF(1000, 750), 1e-6)
    view.set_image(None, "No image matches this filter")
    view.set_image(gradient(4000, 3000))
    assert view.mode() == "100"


def test_geometry_clamps_and_centres() -> None:
    g = ZoomGeometry()
    g.set_area(QRectF(0, 0, 400, 300), 1.0)
    g.set_image_size(100, 50)  # smaller than the pane: fit enlarges, 100 % is smaller
    assert g.mode() == "fit" and g.scale() == pytest.approx(4.0)
    g.zoom_by(-20)
    assert g.scale() == pytest.approx(1.0) and g.mode() == "100"
    assert g.image_rect() == QRectF(150, 125, 100, 50)  # centred, not pannable
    g.pan_by(50, 50)
    assert g.image_rect() == QRectF(150, 125, 100, 50)
    with pytest.raises(ValueError):
        g.set_mode("custom")


@pytest.mark.parametrize("dpr", [1.0, 2.0])
def test_whole_zoom_levels_are_pixel_exact(qtbot, monkeypatch: pytest.MonkeyPatch, dpr) -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (300, 500, 3), np.uint8)
    image = QImage(rgb.data, 500, 300, 1500, QImage.Format.Format_RGB888).convertToFormat(
        QImage.Format.Format_RGB32
    )
    pane = ZoomView()
    qtbot.addWidget(pane)
    monkeypatch.setattr(pane, "devicePixelRatioF", lambda: dpr)
    pane.resize(200, 150)
    pane.set_image(image)
    for mode_steps in ("100", 4):  # 100 %, then 200 % (four steps double the size)
        if mode_steps == "100":
            pane.set_mode("100")
        else:
            pane.zoom_by(mode_steps)
        pane.pan_by(0.3, -0.7)  # off the pixel grid on purpose
        shot = QImage(round(200 * dpr), round(150 * dpr), QImage.Format.Format_RGB32)
        shot.setDevicePixelRatio(dpr)
        pane.render(shot)
        factor = pane.geometry_.device_scale()
        assert factor == pytest.approx(1.0 if mode_steps == "100" else 2.0)
        # Each device pixel shows one image pixel unblended (the zoom badge is top-left).
        for lx, ly in [(120, 60), (101, 77), (183, 140)]:
            x, y = round(lx * dpr), round(ly * dpr)
            source = pane.map_to_image(QPointF((x + 0.5) / dpr, (y + 0.5) / dpr))
            sx, sy = round(source.x() - 0.5), round(source.y() - 0.5)
            candidates = {
                image.pixel(min(max(cx, 0), 499), min(max(cy, 0), 299))
                for cx in (sx - 1, sx, sx + 1)
                for cy in (sy - 1, sy, sy + 1)
            }
            assert shot.pixel(x, y) in candidates, (mode_steps, x, y)


@pytest.mark.parametrize("size", [(7, 5), (640, 481), (3, 2)])
def test_halve_averages_two_by_two_blocks(size) -> None:
    from gui_app.qt.full_image import halve

    width, height = size
    rng = np.random.default_rng(width)
    rgb = rng.integers(0, 256, (height, width, 3), np.uint8)
    image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    half = halve(image)
    assert (half.width(), half.height()) == (width // 2, height // 2)
    for x, y in [(0, 0), (width // 2 - 1, height // 2 - 1)]:
        block = rgb[2 * y : 2 * y + 2, 2 * x : 2 * x + 2].reshape(4, 3).mean(axis=0)
        got = half.pixelColor(x, y)
        assert np.allclose([got.red(), got.green(), got.blue()], block, atol=1)
