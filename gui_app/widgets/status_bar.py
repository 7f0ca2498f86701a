"""Status bar: device, counts, extraction progress with pause/cancel, and the job state."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QStatusBar, QToolButton, QWidget

from gui_app.qt.viewstate import (
    StatusInfo,
    format_count,
    format_eta,
    format_rate,
    plural,
)

#: Job states while the progress bar (and pause / cancel) are shown.
RUNNING_STATES = ("scanning", "loading model", "extracting", "paused")

STATE_TEXT = {
    "idle": "Idle",
    "scanning": "Scanning folder…",
    "loading model": "Loading model…",
    "extracting": "Extracting features",
    "paused": "Paused",
    "done": "All features ready",
    "cancelled": "Extraction cancelled",
    "error": "Extraction stopped (error)",
}


def counts_text(info: StatusInfo) -> str:
    """``'400 images · 6 labeled · 1 unreadable · 3 classes'`` (unreadable only when > 0)."""
    parts = [plural(info.images, "image"), f"{format_count(info.labeled)} labeled"]
    if info.unreadable:
        parts.append(f"{format_count(info.unreadable)} unreadable")
    parts.append(plural(info.classes, "class", "classes"))
    return " · ".join(parts)


def progress_text(info: StatusInfo) -> str:
    """``'123 / 400 · 37 img/s · ETA 12 s'``; rate and ETA omitted when unknown."""
    parts = [f"{format_count(info.extracted)} / {format_count(info.total)}"]
    rate = format_rate(info.rate)
    if rate:
        parts.append(rate)
    if info.eta is not None and info.state == "extracting":
        parts.append(f"ETA {format_eta(info.eta)}")
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
        self.device_label = QLabel("")
        self.counts_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(fm.averageCharWidth() * 36)
        self.progress.setMaximumHeight(round(fm.height() * 1.4))
        self.progress.setAccessibleName("Feature extraction progress")
        self.pause_button = QToolButton()
        self.pause_button.setText("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Pause / resume feature extraction")
        self.pause_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop feature extraction (labels are kept)")
        self.cancel_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        self.state_label = QLabel("")
        gap = max(2, fm.height() // 3)
        for label in (self.device_label, self.counts_label, self.state_label):
            label.setTextFormat(Qt.TextFormat.PlainText)
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
        ):
            self.addPermanentWidget(widget)
        self._set_running(False)

    def set_status(self, info: StatusInfo) -> None:
        """Show *info*: device, counts, progress (hidden when not extracting), state."""
        self.device_label.setText(info.device)
        tip = f"Feature extractor: {info.backbone}" if info.backbone else ""
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
            self.progress.setFormat(progress_text(info) if info.total > 0 else "")
        paused = info.state == "paused"
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.blockSignals(False)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.state_label.setText(STATE_TEXT.get(info.state, info.state.capitalize()))

    def show_message(self, text: str, timeout_ms: int = 5000) -> None:
        """Transient message on the left of the bar."""
        self.showMessage(text, timeout_ms)

    def _set_running(self, running: bool) -> None:
        for widget in (self.progress, self.pause_button, self.cancel_button):
            widget.setVisible(running)

    def _on_pause_toggled(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_toggled.emit(paused)
