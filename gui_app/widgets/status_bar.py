"""Status bar: device, counts, extraction progress with pause/cancel, and the job state."""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, Signal
from PySide6.QtWidgets import QFrame, QProgressBar, QStatusBar, QToolButton, QWidget

from gui_app.qt.i18n import plural
from gui_app.qt.viewstate import StatusInfo, format_count, format_eta, format_rate
from gui_app.widgets.elided_label import ElidedLabel

#: Job states while the progress bar (and pause / cancel) are shown.
RUNNING_STATES = ("scanning", "loading model", "extracting", "paused")

STATE_TEXT = {  # English; shown through QCoreApplication.translate("LoupeStatusBar", ...)
    "idle": QT_TRANSLATE_NOOP("LoupeStatusBar", "Idle"),
    "scanning": QT_TRANSLATE_NOOP("LoupeStatusBar", "Scanning folder…"),
    "loading model": QT_TRANSLATE_NOOP("LoupeStatusBar", "Loading model…"),
    "extracting": QT_TRANSLATE_NOOP("LoupeStatusBar", "Extracting features"),
    "paused": QT_TRANSLATE_NOOP("LoupeStatusBar", "Paused"),
    "done": QT_TRANSLATE_NOOP("LoupeStatusBar", "All features ready"),
    "cancelled": QT_TRANSLATE_NOOP("LoupeStatusBar", "Extraction cancelled"),
    "error": QT_TRANSLATE_NOOP("LoupeStatusBar", "Extraction stopped (error)"),
}


def state_text(state: str) -> str:
    """The job state as shown (an unknown state capitalised as it is)."""
    text = STATE_TEXT.get(state)
    return QCoreApplication.translate("LoupeStatusBar", text) if text else state.capitalize()


def counts_text(info: StatusInfo) -> str:
    """``'400 images · 6 labeled · 1 unreadable · 3 classes'`` (unreadable only when > 0)."""
    n, labeled, unreadable = info.images, info.labeled, info.unreadable
    parts = [
        plural(n, LoupeStatusBar.tr("{n} image", "", n), LoupeStatusBar.tr("{n} images", "", n)),
        LoupeStatusBar.tr("{n} labeled", "", labeled).format(n=format_count(labeled)),
    ]
    if unreadable:
        text = LoupeStatusBar.tr("{n} unreadable", "", unreadable)
        parts.append(text.format(n=format_count(unreadable)))
    n = info.classes
    parts.append(
        plural(n, LoupeStatusBar.tr("{n} class", "", n), LoupeStatusBar.tr("{n} classes", "", n))
    )
    return " · ".join(parts)


def progress_text(info: StatusInfo) -> str:
    """``'123 / 400 · 37 img/s · ETA 12 s'``; rate and ETA omitted when unknown."""
    parts = [f"{format_count(info.extracted)} / {format_count(info.total)}"]
    rate = format_rate(info.rate, LoupeStatusBar.tr("{rate} img/s"))
    if rate:
        parts.append(rate)
    if info.eta is not None and info.state == "extracting":
        units = (
            LoupeStatusBar.tr("{h} h {m:02d} min"),
            LoupeStatusBar.tr("{m} min {s:02d} s"),
            LoupeStatusBar.tr("{s} s"),
        )
        parts.append(LoupeStatusBar.tr("ETA {time}").format(time=format_eta(info.eta, units)))
    return " · ".join(parts)


def _separator() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.VLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line


class LoupeStatusBar(QStatusBar):
    """Permanent widgets for the background work; transient messages via :meth:`show_message`.

    Signals: ``pause_toggled(bool paused)``, ``cancel_clicked()``.
    """

    pause_toggled = Signal(bool)
    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        fm = self.fontMetrics()
        # Labels elide when a long translation and a narrow window meet (full text as tooltip).
        self.device_label = ElidedLabel(min_chars=10)
        self.counts_label = ElidedLabel(min_chars=16)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self._progress_min = fm.averageCharWidth() * 24  # widened to fit its text
        self.progress.setMinimumWidth(self._progress_min)
        self.progress.setMaximumHeight(round(fm.height() * 1.4))
        self.progress.setAccessibleName(self.tr("Feature extraction progress"))
        self.pause_button = QToolButton()
        self.pause_button.setText(self.tr("Pause"))
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip(self.tr("Pause / resume feature extraction"))
        self.pause_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.cancel_button = QToolButton()
        self.cancel_button.setText(self.tr("Cancel"))
        self.cancel_button.setToolTip(self.tr("Stop feature extraction (labels are kept)"))
        self.cancel_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        self.state_label = ElidedLabel(min_chars=10)
        self.busy_label = ElidedLabel(min_chars=12)
        self.busy_bar = QProgressBar()
        self.busy_bar.setMaximumWidth(fm.averageCharWidth() * 10)
        self.busy_bar.setMaximumHeight(round(fm.height() * 1.4))
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setAccessibleName(self.tr("Model update progress"))
        gap = max(2, fm.height() // 3)
        for label in (self.device_label, self.counts_label, self.state_label, self.busy_label):
            label.setContentsMargins(gap, 0, gap, 0)
        for widget in (
            self.device_label,
            _separator(),
            self.counts_label,
            _separator(),
            self.progress,
            self.pause_button,
            self.cancel_button,
            self.state_label,
            self.busy_label,
            self.busy_bar,
        ):
            self.addPermanentWidget(widget)
        self._set_running(False)
        self.set_busy("", 0, 0)

    def set_status(self, info: StatusInfo) -> None:
        """Show *info*: device, counts, progress (hidden when not extracting), state."""
        self.device_label.setText(info.device)
        tip = (
            self.tr("Feature extractor: {name}").format(name=info.backbone) if info.backbone else ""
        )
        self.device_label.setToolTip(tip)
        self.counts_label.setText(counts_text(info))
        running = info.state in RUNNING_STATES and (info.total <= 0 or info.extracted < info.total)
        self._set_running(running)
        if running:
            if info.total > 0:
                self.progress.setRange(0, info.total)
                self.progress.setValue(min(info.extracted, info.total))
            else:
                self.progress.setRange(0, 0)  # busy indicator while scanning
            text = progress_text(info) if info.total > 0 else ""
            self.progress.setFormat(text)
            pad = self.fontMetrics().height()
            width = self.fontMetrics().horizontalAdvance(text) + pad
            self.progress.setMinimumWidth(max(self._progress_min, width))
        paused = info.state == "paused"
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.blockSignals(False)
        self.pause_button.setText(self.tr("Resume") if paused else self.tr("Pause"))
        self.state_label.setText(state_text(info.state))

    def set_busy(self, text: str, done: int, total: int) -> None:
        """A long background operation (a model update): its text and progress, never modal.

        ``total <= 0`` hides it.
        """
        visible = total > 0
        self.busy_label.setVisible(visible)
        self.busy_bar.setVisible(visible)
        if visible:
            self.busy_label.setText(text)
            # QProgressBar.setValue repaints at once whenever the bar grows, and a synchronous
            # repaint paints every dirty widget of the window (the grid too), competing with
            # the replay for the GIL: queue the repaint instead.
            self.busy_bar.setUpdatesEnabled(False)
            self.busy_bar.setRange(0, total)
            self.busy_bar.setValue(min(done, total))
            self.busy_bar.setUpdatesEnabled(True)
            self.busy_bar.update()

    def busy_text(self) -> str:
        """What :meth:`set_busy` shows ('' when hidden)."""
        return self.busy_label.text() if not self.busy_label.isHidden() else ""

    def show_message(self, text: str, timeout_ms: int = 5000) -> None:
        """Transient message on the left of the bar."""
        self.showMessage(text, timeout_ms)

    def _set_running(self, running: bool) -> None:
        for widget in (self.progress, self.pause_button, self.cancel_button):
            widget.setVisible(running)

    def _on_pause_toggled(self, paused: bool) -> None:
        self.pause_button.setText(self.tr("Resume") if paused else self.tr("Pause"))
        self.pause_toggled.emit(paused)
