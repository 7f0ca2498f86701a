"""Large preview of the current image: zoom, pan, fit / 100 % / fill, optional side-by-side.

:class:`ImageView` holds the main :class:`~gui_app.widgets.zoom_view.ZoomView` and, when
"Compare" is on, a second one with the nearest labelled image (the reference). Its actions
(zoom in/out, the three modes, compare) are added to the view with window-wide shortcuts that
do not clash with the main window's label keys; :meth:`ImageView.shortcut_rows` lists them.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QCoreApplication,
    QEvent,
    QObject,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QActionGroup, QImage, QKeySequence
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMenu, QSplitter, QToolButton, QWidget

from gui_app.widgets.dialogs import shortcut_rows
from gui_app.widgets.pane_text import EMPTY_MESSAGE, error_message, zoom_percent
from gui_app.widgets.zoom_view import ZoomView

OVERLAY_MS = 2500  # the buttons hide after this long without mouse movement
# English texts, shown through QCoreApplication.translate("ImageView", ...).
REFERENCE_EMPTY = QT_TRANSLATE_NOOP("ImageView", "No labelled image to compare with yet")
MODE_ACTIONS = (  # mode, menu text, button text, shortcut
    (
        "fit",
        QT_TRANSLATE_NOOP("ImageView", "Fit Preview to Pane"),
        QT_TRANSLATE_NOOP("ImageView", "Fit"),
        "F",
    ),
    ("100", QT_TRANSLATE_NOOP("ImageView", "Preview at 100 % (Actual Pixels)"), "1:1", "Z"),
    (
        "fill",
        QT_TRANSLATE_NOOP("ImageView", "Fill Pane with Preview"),
        QT_TRANSLATE_NOOP("ImageView", "Fill"),
        "Shift+F",
    ),
)
MOUSE_ROWS = [
    (
        QT_TRANSLATE_NOOP("ImageView", "Mouse wheel (preview)"),
        QT_TRANSLATE_NOOP("ImageView", "Zoom around the pointer"),
    ),
    (
        QT_TRANSLATE_NOOP("ImageView", "Drag (zoomed preview)"),
        QT_TRANSLATE_NOOP("ImageView", "Pan"),
    ),
    (
        QT_TRANSLATE_NOOP("ImageView", "Double-click (preview)"),
        QT_TRANSLATE_NOOP("ImageView", "100 % at the pointer, again: fit"),
    ),
    (
        QT_TRANSLATE_NOOP("ImageView", "Arrows (preview focused, zoomed)"),
        QT_TRANSLATE_NOOP("ImageView", "Pan; otherwise the grid moves"),
    ),
    (
        QT_TRANSLATE_NOOP("ImageView", "Escape (preview focused)"),
        QT_TRANSLATE_NOOP("ImageView", "Back to the grid"),
    ),
]


def _text(text: str) -> str:
    return QCoreApplication.translate("ImageView", text)


__all__ = ["EMPTY_MESSAGE", "ImageView", "ZoomView", "error_message"]


class ImageView(QWidget):
    """The preview pane the main window shows; delegates to the main :class:`ZoomView`.

    Signals
    -------
    view_changed(mode, scale)
        The main pane's mode or scale changed.
    reference_toggled(bool)
        The side-by-side pane was shown or hidden (by the user or :meth:`set_reference_visible`).
    full_resolution_wanted(key, path)
        A pane needs the full-resolution image; answer with :meth:`set_full_image`.
    """

    view_changed = Signal(str, float)
    reference_toggled = Signal(bool)
    full_resolution_wanted = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.main = ZoomView(self)
        self.reference = ZoomView(self, empty_message=_text(REFERENCE_EMPTY))
        self.reference.setAccessibleName(self.tr("Nearest labelled image"))
        self.reference.hide()
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.main)
        self.splitter.addWidget(self.reference)
        self.splitter.setChildrenCollapsible(False)
        self.setAccessibleName(self.tr("Image preview"))
        self._build_actions()
        self._build_overlay()
        self.main.view_changed.connect(self.view_changed)
        self.main.view_changed.connect(self._sync_mode_actions)
        for pane in (self.main, self.reference):
            pane.full_resolution_wanted.connect(self.full_resolution_wanted)
            pane.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            pane.customContextMenuRequested.connect(
                lambda pos, pane=pane: self._show_menu(pane, pos)
            )
        self.main.installEventFilter(self)

    # ---------------------------------------------------------------- actions
    def _action(self, text: str, keys: list[str], slot, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.addAction(action)  # window-wide once the view is inside a window
        return action

    def _build_actions(self) -> None:
        self.a_zoom_in = self._action(
            self.tr("Zoom In (Preview)"), ["+", "="], lambda: self.zoom_by(1)
        )
        self.a_zoom_out = self._action(
            self.tr("Zoom Out (Preview)"), ["-"], lambda: self.zoom_by(-1)
        )
        self.mode_group = QActionGroup(self)
        self.mode_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.a_modes: dict[str, QAction] = {}
        for mode, text, short, key in MODE_ACTIONS:
            action = self._action(
                _text(text), [key], lambda _=False, m=mode: self._on_mode(m), True
            )
            action.setIconText(_text(short))
            self.mode_group.addAction(action)
            self.a_modes[mode] = action
        self.a_modes["fit"].setChecked(True)
        self.a_compare = self._action(
            self.tr("Compare with Nearest Labelled Image"), ["C"], self.set_reference_visible, True
        )
        self.a_compare.setIconText(self.tr("Compare"))

    def view_actions(self) -> list[QAction]:
        """The preview's actions (for a View menu)."""
        return [self.a_zoom_in, self.a_zoom_out, *self.a_modes.values(), self.a_compare]

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(keys, action) rows for the Keyboard Shortcuts dialog."""
        return shortcut_rows(self.view_actions()) + [(_text(k), _text(a)) for k, a in MOUSE_ROWS]

    def _on_mode(self, mode: str) -> None:
        self.set_mode(mode)
        self._sync_mode_actions(self.mode())  # clicking the checked mode must not uncheck it

    def _sync_mode_actions(self, mode: str, _scale: float = 0.0) -> None:
        for name, action in self.a_modes.items():
            action.setChecked(name == mode)
        self.zoom_label.setText(zoom_percent(self.main.geometry_.device_scale()))

    def _show_menu(self, pane: ZoomView, pos: QPoint) -> None:
        menu = QMenu(self)
        if pane is self.main:
            for action in self.view_actions():
                menu.addAction(action)
        else:
            menu.addAction(self.tr("Zoom In"), lambda: pane.zoom_by(1))
            menu.addAction(self.tr("Zoom Out"), lambda: pane.zoom_by(-1))
            for mode, text, _short, _key in MODE_ACTIONS:
                menu.addAction(_text(text), lambda m=mode: pane.set_mode(m))
            menu.addSeparator()
            menu.addAction(self.a_compare)
        menu.exec(pane.mapToGlobal(pos))

    # ---------------------------------------------------------------- overlay
    def _build_overlay(self) -> None:
        """Small buttons over the main pane's top-right corner, shown while the mouse moves."""
        self._overlay_timer = QTimer(self, singleShot=True, interval=OVERLAY_MS)
        self._overlay_timer.timeout.connect(self._hide_overlay_when_idle)
        self.main.setMouseTracking(True)
        self.overlay = QFrame(self.main)
        self.overlay.setObjectName("zoomOverlay")
        self.overlay.setStyleSheet(
            "#zoomOverlay { background: rgba(0, 0, 0, 150); border-radius: 4px; }"
            "#zoomOverlay QLabel { color: white; padding: 0px 4px; }"
            "#zoomOverlay QToolButton { color: white; padding: 1px 5px; border: none; }"
            "#zoomOverlay QToolButton:hover { background: rgba(255, 255, 255, 60); }"
            "#zoomOverlay QToolButton:checked { background: white; color: black;"
            " border-radius: 3px; }"
        )
        row = QHBoxLayout(self.overlay)
        row.setContentsMargins(3, 3, 3, 3)
        row.setSpacing(2)
        self.zoom_label = QLabel(zoom_percent(1.0), self.overlay)
        self.zoom_label.setToolTip(self.tr("Zoom: device pixels per image pixel"))
        row.addWidget(self.zoom_label)
        for action in (*self.a_modes.values(), self.a_compare):
            button = QToolButton(self.overlay)
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setAutoRaise(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            row.addWidget(button)
        self.overlay.hide()

    def _place_overlay(self) -> None:
        self.overlay.adjustSize()
        margin = self.fontMetrics().height() // 2
        self.overlay.move(self.main.width() - self.overlay.width() - margin, margin)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.main:
            if event.type() == QEvent.Type.Resize:
                self._place_overlay()
            elif event.type() == QEvent.Type.MouseMove:
                self.set_overlay_visible(True)
            elif event.type() == QEvent.Type.Leave and not self.overlay.underMouse():
                self.set_overlay_visible(False)
        return super().eventFilter(watched, event)

    def _hide_overlay_when_idle(self) -> None:
        if self.overlay.underMouse():
            self._overlay_timer.start()
        else:
            self.overlay.hide()

    def set_overlay_visible(self, visible: bool) -> None:
        """Show the Fit / 1:1 / Fill / Compare buttons (the mouse moved) or hide them."""
        if visible:
            self._place_overlay()
            self.overlay.raise_()
            self._overlay_timer.start()
        else:
            self._overlay_timer.stop()
        self.overlay.setVisible(visible)

    def resizeEvent(self, event: QEvent) -> None:
        # Side by side in a wide pane, one above the other in a tall one.
        wide = self.width() >= self.height()
        self.splitter.setOrientation(Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical)
        # No layout: the panes get their size at once, shown or not.
        self.splitter.setGeometry(self.rect())
        super().resizeEvent(event)

    def sizeHint(self) -> QSize:
        return self.main.sizeHint()

    def minimumSizeHint(self) -> QSize:
        return self.main.minimumSizeHint()

    # ------------------------------------------------------------ preview API
    def set_image(self, image: QImage | None, caption: str = "", error: str | None = None) -> None:
        """Show *image* (a preview) with *caption*; *error* shows a message instead."""
        self.main.set_image(image, caption, error)
        self.setAccessibleDescription(self.main.accessibleDescription())

    def set_full_image(self, key: str, image: object, error: str = "") -> None:
        """Answer to ``full_resolution_wanted``: the ImagePyramid (or QImage) of *key*."""
        for pane in (self.main, self.reference):
            pane.set_full_image(key, image, error)

    def set_key_fallback(self, widget: QWidget | None) -> None:
        """Arrow keys the preview does not use, and Escape, go to *widget* (the grid)."""
        self.main.set_key_fallback(widget)
        self.reference.set_key_fallback(widget)

    def has_image(self) -> bool:
        return self.main.has_image()

    def error_text(self) -> str | None:
        return self.main.error_text()

    def empty_text(self) -> str:
        return self.main.empty_text()

    def caption(self) -> str:
        return self.main.caption()

    def image_area(self) -> QRect:
        """The main pane's image area (its own coordinates)."""
        return self.main.image_area()

    def image_rect(self) -> QRectF:
        """Where the main pane draws the whole image (its own coordinates)."""
        return self.main.image_rect()

    # --------------------------------------------------------------- zoom API
    def zoom_by(self, steps: float, anchor: QPointF | None = None) -> None:
        """Zoom the main pane by ``ZOOM_STEP ** steps`` around *anchor* (default: centre)."""
        self.main.zoom_by(steps, anchor)

    def set_mode(self, mode: str) -> None:
        """'fit', '100' or 'fill'."""
        self.main.set_mode(mode)

    def mode(self) -> str:
        """'fit', '100', 'fill', or 'custom' after a free zoom."""
        return self.main.mode()

    def scale(self) -> float:
        """Main pane: logical widget pixels per full-resolution image pixel."""
        return self.main.scale()

    def center_on(self, image_point: QPointF) -> None:
        self.main.center_on(image_point)

    def map_to_widget(self, image_point: QPointF) -> QPointF:
        return self.main.map_to_widget(image_point)

    def map_to_image(self, widget_point: QPointF) -> QPointF:
        return self.main.map_to_image(widget_point)

    def view_state(self) -> dict:
        """Mode, zoom, relative centre and whether Compare is on: plain values for QSettings."""
        return {**self.main.view_state(), "reference": self.reference_visible()}

    def restore_view_state(self, state: dict) -> None:
        """Apply a :meth:`view_state` (now or to the next image); bad values are ignored."""
        if not isinstance(state, dict):
            return
        self.main.restore_view_state(state)
        self._sync_mode_actions(self.main.mode())
        shown = state.get("reference")
        if isinstance(shown, str):
            shown = shown.lower() == "true"
        if isinstance(shown, bool):
            self.set_reference_visible(shown)

    # -------------------------------------------------------------- reference
    def set_reference(self, image: QImage | None, caption: str = "") -> None:
        """The image shown side by side (None: *caption* is shown as the message)."""
        self.reference.set_image(image, caption)

    def reference_visible(self) -> bool:
        return self.a_compare.isChecked()

    def set_reference_visible(self, visible: bool) -> None:
        """Show or hide the side-by-side pane; emits ``reference_toggled`` on a change."""
        visible = bool(visible)
        changed = visible != self.reference.isVisibleTo(self)
        self.a_compare.setChecked(visible)
        self.reference.setVisible(visible)
        if changed:
            self.reference_toggled.emit(visible)
