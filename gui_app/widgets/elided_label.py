"""A one-line label that elides its text when it gets less room than the text needs.

For status texts of any length (translations run 30 % longer than English): the layout may
shrink it down to a few characters; the full text is then its tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """Plain text on one line, elided (``mode``) below its full width.

    ``sizeHint`` is the whole text, ``minimumSizeHint`` ``min_chars`` average characters. The
    dynamic property ``elides`` marks it for the layout tests (it is cut on purpose).
    """

    def __init__(
        self,
        text: str = "",
        parent: QWidget | None = None,
        *,
        min_chars: int = 8,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight,
    ) -> None:
        super().__init__(text, parent)
        self._min_chars = min_chars
        self._mode = mode
        self._tip = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setProperty("elides", True)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        margins = self.contentsMargins()
        room = self.fontMetrics().averageCharWidth() * self._min_chars
        return QSize(min(hint.width(), room + margins.left() + margins.right()), hint.height())

    def setText(self, text: str) -> None:
        super().setText(text)
        self._sync_tip()

    def setToolTip(self, tip: str) -> None:
        """A tooltip of its own (else the full text is shown when it is elided)."""
        self._tip = tip
        self._sync_tip()

    def elided_text(self) -> str:
        """What is drawn: the text, elided to the width there is."""
        width = self.contentsRect().width()
        return self.fontMetrics().elidedText(self.text(), self._mode, max(0, width))

    def is_elided(self) -> bool:
        return self.elided_text() != self.text()

    def _sync_tip(self) -> None:
        parts = [self.text()] if self.is_elided() else []
        if self._tip:
            parts.append(self._tip)
        super().setToolTip("\n".join(parts))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._sync_tip()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        align = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeading
        painter.drawText(self.contentsRect(), int(align), self.elided_text())
