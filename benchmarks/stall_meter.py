"""The event-loop stall meter shared by the window benchmarks (Qt; common.py stays Qt-free)."""

from __future__ import annotations

from PySide6.QtCore import QElapsedTimer, QTimer


class StallMeter:
    """Records the longest gap between ticks of a 1 ms timer on the GUI thread."""

    def __init__(self) -> None:
        self.timer = QTimer(interval=1)
        self.clock = QElapsedTimer()
        self.worst = 0.0
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        if self.clock.isValid():
            self.worst = max(self.worst, self.clock.nsecsElapsed() / 1e6)
        self.clock.restart()

    def start(self) -> None:
        self.worst = 0.0
        self.clock.invalidate()
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return self.worst
