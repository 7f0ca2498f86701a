"""Review bars shown above the grid: accept above a threshold (F11) and suspect labels (F12).

Views only: they show a frozen view state (:class:`ThresholdView`, :class:`SuspectView`) and
emit what the user asks for; the controller decides what happens. User text (class names,
reasons) is shown as plain text.
"""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QEvent, Qt, Signal
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui_app.qt.i18n import plural
from gui_app.qt.viewstate import THRESHOLD_STEPS, SuspectView, ThresholdView, format_count

KEEP_KEY = "K"
SUSPECT_HINT = QT_TRANSLATE_NOOP(
    "SuspectBar", "Correct it with 1–9 or a click on a class · K keeps the label · Esc closes"
)


def _plain(label: QLabel) -> QLabel:
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


class _Bar(QFrame):
    """A styled panel that keeps ``KEPT_KEYS`` from window shortcuts while focus is inside it."""

    KEPT_KEYS: tuple[Qt.Key, ...] = (Qt.Key.Key_Escape,)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.layout_ = QHBoxLayout(self)
        gap = max(4, self.fontMetrics().height() // 2)
        self.layout_.setContentsMargins(gap, gap // 2, gap, gap // 2)
        self.layout_.setSpacing(gap)

    def event(self, event: QEvent) -> bool:
        # Window-wide shortcuts (Enter confirms a label) must not fire while the bar has focus.
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and event.key() in self.KEPT_KEYS
        ):
            event.accept()
            return True
        return super().event(event)


def threshold_text(threshold: float) -> str:
    """``'≥ 0.90'``."""
    return f"≥ {threshold:.2f}"


def accept_count_text(count: int, label: str | None) -> str:
    """``'123 unlabelled images'`` / ``'no unlabelled image'`` at the current threshold."""
    if label is None:
        return ThresholdBar.tr("no class learned yet")
    if count == 0:
        return ThresholdBar.tr("no unlabelled image")
    return plural(
        count,
        ThresholdBar.tr("{n} unlabelled image", "", count),
        ThresholdBar.tr("{n} unlabelled images", "", count),
    )


class ThresholdBar(_Bar):
    """Accept above a threshold: class chooser, slider with the live count, Accept, Cancel.

    Signals: ``class_changed(str)``, ``threshold_changed(float)`` (every slider step; the
    grid shows those images), ``accept_requested(str label, float threshold)`` (Accept or
    Enter), ``cancelled()`` (Cancel or Escape).
    """

    class_changed = Signal(str)
    threshold_changed = Signal(float)
    accept_requested = Signal(str, float)
    cancelled = Signal()
    KEPT_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = ThresholdView((), None, 0.9, ())
        title = _plain(QLabel(self.tr("Accept predictions of")))
        self.class_combo = QComboBox()
        self.class_combo.setAccessibleName(self.tr("Class to accept"))
        self.class_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.class_combo.activated.connect(self._on_class)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, THRESHOLD_STEPS)
        self.slider.setPageStep(5)
        self.slider.setAccessibleName(self.tr("Probability threshold"))
        self.slider.setMinimumWidth(self.fontMetrics().averageCharWidth() * 16)
        self.slider.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.slider.valueChanged.connect(self._on_slider)
        self.value_label = _plain(QLabel(threshold_text(0.9)))
        self.count_label = _plain(QLabel(""))
        self.count_label.setAccessibleName(self.tr("Images at or above the threshold"))
        self.accept_button = QPushButton(self.tr("Accept"))
        self.accept_button.setToolTip(self.tr("Give every image shown the class (one undo step)"))
        self.accept_button.clicked.connect(self._accept)
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.clicked.connect(self.cancelled)
        # Two rows, so that long translations fit the grid's width.
        rows = QVBoxLayout()
        rows.setSpacing(self.layout_.spacing() // 2)
        for widgets in (
            (title, self.class_combo, self.count_label),
            (self.slider, self.value_label, self.accept_button, self.cancel_button),
        ):
            row = QHBoxLayout()
            row.setSpacing(self.layout_.spacing())
            for widget in widgets:
                row.addWidget(widget)
            rows.addLayout(row)
        rows.itemAt(0).layout().addStretch(1)
        self.layout_.addLayout(rows)
        self._refresh()

    @property
    def threshold(self) -> float:
        return self.slider.value() / THRESHOLD_STEPS

    def set_view(self, view: ThresholdView) -> None:
        """Show ``view`` (classes, chosen class, threshold, counts, busy)."""
        self._view = view
        self.class_combo.blockSignals(True)
        if [self.class_combo.itemText(i) for i in range(self.class_combo.count())] != list(
            view.classes
        ):
            self.class_combo.clear()
            self.class_combo.addItems(list(view.classes))
        self.class_combo.setCurrentIndex(
            view.classes.index(view.label) if view.label in view.classes else -1
        )
        self.class_combo.blockSignals(False)
        self.slider.blockSignals(True)
        self.slider.setValue(round(view.threshold * THRESHOLD_STEPS))
        self.slider.blockSignals(False)
        self._refresh()

    def _count(self) -> int:
        return self._view.count_at(self.threshold)

    def _refresh(self) -> None:
        view, count = self._view, self._count()
        self.value_label.setText(threshold_text(self.threshold))
        if view.busy:
            self.count_label.setText(self.tr("counting…"))
        else:
            self.count_label.setText(accept_count_text(count, view.label))
        ok = view.label is not None and not view.busy and count > 0
        self.accept_button.setEnabled(ok)
        accept = self.tr("Accept {n}", "", count).replace("{n}", format_count(count))
        self.accept_button.setText(accept if ok else self.tr("Accept"))
        self.slider.setEnabled(view.label is not None)

    def _on_class(self, index: int) -> None:
        if 0 <= index < len(self._view.classes):
            self.class_changed.emit(self._view.classes[index])

    def _on_slider(self, _value: int) -> None:
        self._refresh()
        self.threshold_changed.emit(self.threshold)

    def _accept(self) -> None:
        if self.accept_button.isEnabled() and self._view.label is not None:
            self.accept_requested.emit(self._view.label, self.threshold)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._accept()
        elif event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
        else:
            super().keyPressEvent(event)
            return
        event.accept()


def suspect_position_text(view: SuspectView) -> str:
    """``'Suspect 3 of 41'`` or ``'No suspect labels'``."""
    if view.total <= 0:
        return SuspectBar.tr("No suspect labels")
    return SuspectBar.tr("Suspect {position} of {total}", "", view.total).format(
        position=format_count(view.position), total=format_count(view.total)
    )


class SuspectBar(_Bar):
    """The suspect under review: position, reason, Keep label (K), previous / next, close.

    ``keep_action`` (shortcut K) works window-wide while the bar is shown; correcting uses the
    window's usual label keys. Signals: ``keep_requested()``, ``previous_requested()``,
    ``next_requested()``, ``closed()`` (Close or Escape).
    """

    keep_requested = Signal()
    previous_requested = Signal()
    next_requested = Signal()
    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = SuspectView(0, 0, "", "", "")
        self.position_label = _plain(QLabel(""))
        self.reason_label = _plain(QLabel(""))
        self.reason_label.setWordWrap(True)
        self.reason_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.reason_label.setAccessibleName(self.tr("Why this label is suspect"))
        self.checking_label = _plain(QLabel(self.tr("re-checking labels…")))
        self.hint_label = _plain(QLabel(QCoreApplication.translate("SuspectBar", SUSPECT_HINT)))
        self.hint_label.setWordWrap(True)
        hint_font = self.hint_label.font()
        hint_font.setPointSizeF(hint_font.pointSizeF() * 0.9)
        self.hint_label.setFont(hint_font)
        self.hint_label.setEnabled(False)  # drawn in the disabled (secondary) colour
        self.keep_action = QAction(self.tr("Keep label ({key})").format(key=KEEP_KEY), self)
        self.keep_action.setShortcut(QKeySequence(KEEP_KEY))
        self.keep_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.keep_action.triggered.connect(self._keep)
        self.addAction(self.keep_action)
        self.keep_button = QToolButton()
        self.keep_button.setDefaultAction(self.keep_action)
        self.keep_button.setToolTip(self.tr("The label is right: mark it reviewed and go on"))
        self.previous_button = QToolButton()
        self.previous_button.setText("◀")
        self.previous_button.setToolTip(self.tr("Previous suspect"))
        self.previous_button.setAccessibleName(self.tr("Previous suspect"))
        self.previous_button.clicked.connect(self.previous_requested)
        self.next_button = QToolButton()
        self.next_button.setText("▶")
        self.next_button.setToolTip(self.tr("Next suspect"))
        self.next_button.setAccessibleName(self.tr("Next suspect"))
        self.next_button.clicked.connect(self.next_requested)
        self.close_button = QToolButton()
        self.close_button.setText(self.tr("Close"))
        self.close_button.clicked.connect(self.closed)
        # Position and buttons above the reason and the hint, which wrap: long texts fit.
        top, notes = QHBoxLayout(), QHBoxLayout()
        for widget in (self.position_label, self.previous_button, self.next_button):
            top.addWidget(widget)
        top.addStretch(1)
        for widget in (self.keep_button, self.close_button):
            top.addWidget(widget)
        notes.addWidget(self.checking_label)
        notes.addWidget(self.hint_label, 1)
        rows = QVBoxLayout()
        rows.setSpacing(self.layout_.spacing() // 2)
        rows.addLayout(top)
        rows.addWidget(self.reason_label)
        rows.addLayout(notes)
        self.layout_.addLayout(rows)
        self.set_view(self._view)

    def set_view(self, view: SuspectView) -> None:
        """Show ``view``: which suspect, its reason, whether a re-check runs."""
        self._view = view
        has = view.total > 0 and view.position > 0
        self.position_label.setText(suspect_position_text(view))
        self.reason_label.setText(view.reason if has else "")
        self.reason_label.setVisible(has)
        self.reason_label.setToolTip(view.name if has else "")
        self.checking_label.setVisible(view.checking)
        self.keep_action.setEnabled(has)
        self.previous_button.setEnabled(has and view.position > 1)
        self.next_button.setEnabled(has and view.position < view.total)
        self.hint_label.setVisible(has)

    def _keep(self) -> None:
        if self.keep_action.isEnabled():
            self.keep_requested.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.closed.emit()
            event.accept()
            return
        super().keyPressEvent(event)
