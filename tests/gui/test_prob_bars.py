"""Tests for the custom-painted probability bars."""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QColor, QFont, QHelpEvent, QImage, QPainter, QTextDocument
from PySide6.QtWidgets import QApplication, QToolTip

from gui_app.widgets.prob_bars import (
    DEFAULT_MESSAGE,
    BarItem,
    ProbabilityBars,
    format_percent,
    sort_bars,
    text_direction,
    tooltip_markup,
    tooltip_text,
)

RED, GREEN, BLUE = "#d62728", "#2ca02c", "#1f77b4"


def close(a: QColor, b: QColor, tol: int = 6) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a.getRgb()[:3], b.getRgb()[:3], strict=True))


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Record every string passed to QPainter.drawText, with whether the font was bold."""
    calls: list[tuple[str, bool]] = []
    original = QPainter.drawText

    def spy(self: QPainter, *args: object) -> object:
        text = next(a for a in args if isinstance(a, str))
        calls.append((text, self.font().bold()))
        return original(self, *args)

    monkeypatch.setattr(QPainter, "drawText", spy)
    return calls


@pytest.fixture
def bars_widget(qtbot) -> ProbabilityBars:
    widget = ProbabilityBars()
    qtbot.addWidget(widget)
    widget.resize(420, 200)
    return widget


def three() -> list[BarItem]:
    return [
        BarItem("dog", 0.2, GREEN, 2),
        BarItem("cat", 0.732, RED, 1),
        BarItem("bird", 0.068, BLUE, 3),
    ]


def grab(widget: ProbabilityBars) -> QImage:
    return widget.grab().toImage()


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.732, "73.2 %"),
        (0.001, "0.1 %"),
        (0.0004, "<0.1 %"),
        (0.0, "0 %"),
        (-0.2, "0 %"),
        (1.0, "100 %"),
        (1.7, "100 %"),
        (0.9996, ">99.9 %"),
        (0.5, "50.0 %"),
        (math.nan, "– %"),
    ],
)
def test_format_percent(p: float, text: str) -> None:
    assert format_percent(p) == text


def test_sort_desc_ties_by_name_nan_last() -> None:
    items = [
        BarItem("b", 0.3, RED, None),
        BarItem("z", math.nan, RED, None),
        BarItem("a", 0.3, RED, None),
        BarItem("c", 0.4, RED, None),
    ]
    assert [b.name for b in sort_bars(items)] == ["c", "a", "b", "z"]


def test_bars_sorted_and_top_row_painted(bars_widget: ProbabilityBars) -> None:
    bars_widget.set_bars(three(), user_label=None)
    assert [b.name for b in bars_widget.bars()] == ["cat", "dog", "bird"]
    assert bars_widget.message() is None
    image = grab(bars_widget)
    background = bars_widget.palette().color(bars_widget.backgroundRole())
    for row, color in enumerate([RED, GREEN, BLUE]):
        track = bars_widget.bar_rect(row)
        inside = QPoint(track.left() + 3, track.center().y())
        assert close(image.pixelColor(inside), QColor(color)), row
    # The top row has a highlighted background; the others show the plain background.
    for row, highlighted in [(0, True), (1, False), (2, False)]:
        track, rect = bars_widget.bar_rect(row), bars_widget.row_rect(row)
        above_bar = QPoint(track.center().x(), rect.top() + (track.top() - rect.top()) // 2)
        assert close(image.pixelColor(above_bar), background) != highlighted, row


def test_bar_width_proportional(bars_widget: ProbabilityBars) -> None:
    bars_widget.set_bars([BarItem("half", 0.5, RED, 1), BarItem("rest", 0.5, GREEN, 2)], None)
    image = grab(bars_widget)
    track = bars_widget.bar_rect(0)
    y = track.center().y()
    assert close(image.pixelColor(track.left() + track.width() // 2 - 4, y), QColor(RED))
    assert not close(image.pixelColor(track.left() + track.width() // 2 + 4, y), QColor(RED))


def test_top_name_bold_and_percentages_drawn(
    bars_widget: ProbabilityBars, drawn: list[tuple[str, bool]]
) -> None:
    bars_widget.set_bars(three(), user_label="dog")
    grab(bars_widget)
    texts = dict(drawn)
    assert texts["cat"] is True
    assert texts["dog"] is False
    assert texts["bird"] is False
    for s in ("73.2 %", "20.0 %", "6.8 %", "1", "2", "3"):
        assert s in texts


def test_names_are_plain_text(
    bars_widget: ProbabilityBars, drawn: list[tuple[str, bool]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*_: object) -> None:
        raise AssertionError("rich text used")

    monkeypatch.setattr(QTextDocument, "setHtml", forbidden)
    name = "<b>x</b>"
    bars_widget.set_bars([BarItem(name, 0.9, RED, 1), BarItem("y", 0.1, GREEN, 2)], name)
    grab(bars_widget)
    assert name in [text for text, _ in drawn]


def test_tooltip_text_and_escaping() -> None:
    item = BarItem("cat", 0.732, RED, 1)
    assert tooltip_text(item, True) == "cat — 73.2 % (your label)"
    assert tooltip_text(item, False) == "cat — 73.2 %"
    evil = BarItem("<b>x</b> & co", 0.5, RED, None)
    markup = tooltip_markup(evil, False)
    assert "<b>" not in markup
    assert "&lt;b&gt;x&lt;/b&gt; &amp; co" in markup
    doc = QTextDocument()
    doc.setHtml(markup)
    assert doc.toPlainText() == tooltip_text(evil, False)


def test_tooltip_event_per_row(bars_widget: ProbabilityBars) -> None:
    bars_widget.set_bars(three(), user_label="cat")
    bars_widget.show()
    assert bars_widget.tooltip_for_row(0) == "cat — 73.2 % (your label)"
    pos = bars_widget.row_rect(1).center()
    assert bars_widget.row_at(pos) == 1
    event = QHelpEvent(QEvent.Type.ToolTip, pos, bars_widget.mapToGlobal(pos))
    QApplication.sendEvent(bars_widget, event)
    assert "dog — 20.0 %" in QToolTip.text()
    QToolTip.hideText()
    below = QPoint(5, bars_widget.row_rect(2).bottom() + 5)
    assert bars_widget.row_at(below) is None


def test_user_label_marker(bars_widget: ProbabilityBars) -> None:
    bars_widget.set_bars(three(), user_label="bird")
    assert bars_widget.user_label() == "bird"
    assert [b.name for b in bars_widget.bars()].index("bird") == 2
    image = grab(bars_widget)
    background = bars_widget.palette().color(bars_widget.backgroundRole())

    def outline_present(row: int) -> bool:
        rect = bars_widget.row_rect(row)
        y = rect.center().y()
        return any(not close(image.pixelColor(rect.left() + dx, y), background) for dx in range(3))

    assert outline_present(2)
    assert not outline_present(1)


def test_empty_state_message(bars_widget: ProbabilityBars, drawn: list[tuple[str, bool]]) -> None:
    bars_widget.set_bars([], None)
    assert bars_widget.message() == DEFAULT_MESSAGE
    grab(bars_widget)
    assert DEFAULT_MESSAGE in [t for t, _ in drawn]
    drawn.clear()
    bars_widget.set_bars(three(), "cat", message="Training…")
    assert bars_widget.message() == "Training…"
    assert bars_widget.row_at(bars_widget.row_rect(0).center()) is None
    grab(bars_widget)
    assert [t for t, _ in drawn] == ["Training…"]


def test_size_hint_grows_with_rows_and_font(bars_widget: ProbabilityBars) -> None:
    bars_widget.set_bars(three(), None)
    small = bars_widget.sizeHint()
    many = [BarItem(f"class {i:02d}", (i + 1) / 325, RED, None) for i in range(25)]
    bars_widget.set_bars(many, None)
    big = bars_widget.sizeHint()
    row = bars_widget.row_rect(0).height()
    assert big.height() - small.height() == 22 * row
    assert bars_widget.minimumSizeHint().height() == big.height()
    assert bars_widget.minimumSizeHint().width() <= big.width()
    assert row == round(1.8 * bars_widget.fontMetrics().height())
    assert bars_widget.bars()[0].name == "class 24"
    font = QFont(bars_widget.font())
    font.setPointSizeF(font.pointSizeF() * 2)
    bars_widget.setFont(font)
    assert bars_widget.sizeHint().height() > big.height() * 1.5
    grab(bars_widget)  # 25 rows paint without error


def test_text_direction() -> None:
    ltr, rtl = Qt.LayoutDirection.LeftToRight, Qt.LayoutDirection.RightToLeft
    assert text_direction("cat", rtl) == ltr
    assert text_direction("قطة", ltr) == rtl
    assert text_direction("חתול 2", ltr) == rtl
    assert text_direction("42 ☃", rtl) == rtl
    assert text_direction("", ltr) == ltr


def test_rtl_layout_mirrors_bars(bars_widget: ProbabilityBars, drawn) -> None:
    bars_widget.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
    bars_widget.set_bars([BarItem("قطة", 0.3, RED, 1), BarItem("dog", 0.1, GREEN, 2)], "قطة")
    image = grab(bars_widget)
    track = bars_widget.bar_rect(0)
    y = track.center().y()
    assert track.right() > bars_widget.width() // 2 > track.left()
    assert close(image.pixelColor(track.right() - 3, y), QColor(RED))
    assert not close(image.pixelColor(track.left() + 3, y), QColor(RED))
    assert "قطة" in [t for t, _ in drawn]


def test_unchanged_data_does_not_repaint(bars_widget: ProbabilityBars, qtbot) -> None:
    bars_widget.show()
    qtbot.waitExposed(bars_widget)
    bars_widget.set_bars(three(), "cat")
    painted: list[int] = []
    original = ProbabilityBars.paintEvent

    def counting(self: ProbabilityBars, event: object) -> None:
        painted.append(1)
        original(self, event)

    ProbabilityBars.paintEvent = counting  # type: ignore[method-assign]
    try:
        qtbot.wait(20)
        painted.clear()
        bars_widget.set_bars(list(reversed(three())), "cat")  # same content, other order
        qtbot.wait(20)
        assert painted == []
        bars_widget.set_bars(three(), "dog")
        qtbot.waitUntil(lambda: len(painted) > 0, timeout=2000)
    finally:
        ProbabilityBars.paintEvent = original  # type: ignore[method-assign]


def test_opaque_paint_attribute(bars_widget: ProbabilityBars) -> None:
    assert bars_widget.testAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
