"""Large previews decoded on a thread pool; only the newest request is delivered."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

PREVIEW_MAX_SIDE = 2048


class _Relay(QObject):
    done = Signal(int, str, object, str)


class _PreviewJob(QRunnable):
    def __init__(self, relay: _Relay, ticket: int, key: str, path: Path) -> None:
        super().__init__()
        self.relay, self.ticket, self.key, self.path = relay, ticket, key, path

    def run(self) -> None:
        from gui_app.qt.thumbnails import load_preview

        image, error = load_preview(self.path, PREVIEW_MAX_SIDE)
        self.relay.done.emit(self.ticket, self.key, image, error or "")


class PreviewLoader(QObject):
    """Decode previews off the GUI thread; ``ready(key, QImage | None, error)``."""

    ready = Signal(str, object, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._relay = _Relay(self)
        self._relay.done.connect(self._deliver)
        self._ticket = 0

    def request(self, key: str, path: Path) -> None:
        self._ticket += 1
        self._pool.clear()  # drop previews nobody waits for any more
        self._pool.start(_PreviewJob(self._relay, self._ticket, key, path))

    def _deliver(self, ticket: int, key: str, image, error: str) -> None:
        if ticket == self._ticket:
            self.ready.emit(key, image, error)

    def shutdown(self) -> None:
        self._pool.clear()
        self._pool.waitForDone()
