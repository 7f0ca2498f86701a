"""Label panel: classes with swatch / shortcut / count, new-class field, honesty box, buttons.

Everything user-named is shown as plain text; dialogs keep user text off their first line so
Qt's rich-text guess never applies to it.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, QModelIndex, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QFont, QFontMetrics, QKeyEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui_app.qt.viewstate import ClassRow, format_count, plural

ROW_ROLE = Qt.ItemDataRole.UserRole + 1
PLACEHOLDER = "New class… (type a name, Enter)"


def accuracy_text(value: float | None, n: int) -> str:
    """``'Last 50 suggestions: 86 % correct (43/50)'`` or ``'No suggestions yet'``."""
    if value is None or n <= 0:
        return "No suggestions yet"
    correct = round(value * n)
    noun = "suggestion" if n == 1 else "suggestions"
    return f"Last {n} {noun}: {round(value * 100)} % correct ({correct}/{n})"


def _confirm(parent: QWidget, title: str, text: str) -> bool:
    answer = QMessageBox.question(
        parent,
        title,
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


class ClassNameEdit(QLineEdit):
    """Line edit that keeps Enter and Escape for itself (window shortcuts must not steal them).

    QLineEdit already claims printable keys and Backspace in ``ShortcutOverride``; Return,
    Enter and Escape are not claimed by default, so a window-wide "Confirm (Enter)" would fire.
    """

    escape_pressed = Signal()

    def event(self, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape)
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.escape_pressed.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class ClassRowDelegate(QStyledItemDelegate):
    """One class row: colour swatch, shortcut badge, elided name, right-aligned count."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        fm = option.fontMetrics
        return QSize(fm.averageCharWidth() * 20, round(fm.height() * 1.7))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        row: ClassRow | None = index.data(ROW_ROLE)
        if row is None:
            return
        pal = option.palette
        fm: QFontMetrics = option.fontMetrics
        r = QRect(option.rect)
        pad = max(2, fm.height() // 3)
        painter.save()
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            selected = bool(option.state & QStyle.StateFlag.State_Selected)
            hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
            text_color = pal.color(QPalette.ColorRole.Text)
            if selected or hover:
                fill = pal.color(QPalette.ColorRole.Highlight)
                fill.setAlphaF(0.25 if selected else 0.10)
                painter.fillRect(r, fill)
            x = r.left() + pad
            # Swatch.
            side = fm.height() * 0.9
            swatch = QRectF(x, r.center().y() - side / 2 + 0.5, side, side)
            color = QColor(row.color)
            painter.setPen(QColor(0, 0, 0, 60))
            painter.setBrush(color if color.isValid() else pal.color(QPalette.ColorRole.Mid))
            painter.drawRoundedRect(swatch, side / 4, side / 4)
            x += round(side) + pad
            # Shortcut badge.
            badge_w = fm.horizontalAdvance("9") + pad * 2
            badge = QRectF(x, r.center().y() - fm.height() / 2 + 0.5, badge_w, fm.height())
            if row.shortcut is not None:
                outline = pal.color(QPalette.ColorRole.PlaceholderText)
                painter.setPen(outline)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                corner = fm.height() / 5
                painter.drawRoundedRect(badge.adjusted(0.5, 0.5, -0.5, -0.5), corner, corner)
                painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, str(row.shortcut))
            x += round(badge_w) + pad
            # Count (right) and name (elided, plain text).
            count_text = format_count(row.count)
            count_w = fm.horizontalAdvance(count_text)
            count_rect = QRect(r.right() - pad - count_w, r.top(), count_w, r.height())
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            right = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
            painter.drawText(count_rect, right, count_text)
            name_rect = QRect(x, r.top(), max(0, count_rect.left() - pad - x), r.height())
            font = QFont(option.font)
            font.setBold(selected)
            painter.setFont(font)
            painter.setPen(text_color)
            elided = QFontMetrics(font).elidedText(
                row.name, Qt.TextElideMode.ElideRight, name_rect.width()
            )
            painter.drawText(
                name_rect, Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextSingleLine, elided
            )
        finally:
            painter.restore()


class LabelPanel(QWidget):
    """Classes list, new-class field, live accuracy and the action buttons.

    Signals: ``class_clicked(str)``, ``new_class_entered(str)``, ``focus_grid_requested()``,
    ``rename_requested(str, str)``, ``merge_requested(str, str)``, ``recolor_requested(str,
    str)``, ``delete_requested(str)``, ``confirm_clicked()``, ``skip_clicked()``,
    ``remove_clicked()``, ``undo_clicked()``, ``redo_clicked()``.
    """

    class_clicked = Signal(str)
    new_class_entered = Signal(str)
    focus_grid_requested = Signal()
    rename_requested = Signal(str, str)
    merge_requested = Signal(str, str)
    recolor_requested = Signal(str, str)
    delete_requested = Signal(str)
    confirm_clicked = Signal()
    skip_clicked = Signal()
    remove_clicked = Signal()
    undo_clicked = Signal()
    redo_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ClassRow] = []
        self._current_label: str | None = None
        fm = self.fontMetrics()
        gap = max(2, fm.height() // 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(gap, gap, gap, gap)
        layout.setSpacing(gap)

        self.title = QLabel("Classes")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        title_font = QFont(self.font())
        title_font.setBold(True)
        self.title.setFont(title_font)
        layout.addWidget(self.title)

        self.list = QListWidget()
        self.list.setItemDelegate(ClassRowDelegate(self.list))
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # digits keep going to the grid
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setMouseTracking(True)
        self.list.setUniformItemSizes(True)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._on_context_menu)
        self.list.itemClicked.connect(self._on_item_clicked)
        self.list.setAccessibleName("Classes")
        layout.addWidget(self.list, 1)

        self.new_class = ClassNameEdit()
        self.new_class.setPlaceholderText(PLACEHOLDER)
        self.new_class.setClearButtonEnabled(True)
        self.new_class.setAccessibleName("New class name")
        self.new_class.setToolTip(
            "Type a class name and press Enter to label the current image "
            "with it (Ctrl+N). Escape returns to the grid."
        )
        self.new_class.returnPressed.connect(self._on_new_class)
        self.new_class.escape_pressed.connect(self.focus_grid_requested)
        layout.addWidget(self.new_class)

        self.honesty = QFrame()
        self.honesty.setFrameShape(QFrame.Shape.StyledPanel)
        box = QVBoxLayout(self.honesty)
        box.setContentsMargins(gap, gap // 2, gap, gap // 2)
        box.setSpacing(0)
        self.accuracy_label = QLabel(accuracy_text(None, 0))
        self.accuracy_label.setTextFormat(Qt.TextFormat.PlainText)
        self.accuracy_label.setToolTip(
            "How often the top suggestion matched your label, measured before each update "
            "(predict, then learn)."
        )
        self.labeled_label = QLabel(f"{plural(0, 'image')} labeled")
        self.labeled_label.setTextFormat(Qt.TextFormat.PlainText)
        self.labeled_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        box.addWidget(self.accuracy_label)
        box.addWidget(self.labeled_label)
        layout.addWidget(self.honesty)

        buttons = QHBoxLayout()
        buttons.setSpacing(gap // 2)
        self.buttons: dict[str, QToolButton] = {}
        for key, text, tip, signal in (
            (
                "confirm",
                "Confirm",
                "Label with the top suggestion (Enter / Space)",
                self.confirm_clicked,
            ),
            ("skip", "Skip", "Go to the next image without labeling (S)", self.skip_clicked),
            (
                "remove",
                "Remove",
                "Remove the label of this image (⌫ Backspace)",
                self.remove_clicked,
            ),
            ("undo", "Undo", "Undo the last label action (Ctrl+Z)", self.undo_clicked),
            ("redo", "Redo", "Redo (Ctrl+Shift+Z / Ctrl+Y)", self.redo_clicked),
        ):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.clicked.connect(signal)
            buttons.addWidget(button)
            self.buttons[key] = button
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.set_undo_state(False, False)

    # ------------------------------------------------------------------ slots
    def set_classes(self, rows: list[ClassRow]) -> None:
        """Show *rows* (in shortcut order); only counts changed -> rows updated in place."""
        same = [(r.name, r.color, r.shortcut) for r in rows] == [
            (r.name, r.color, r.shortcut) for r in self._rows
        ]
        self._rows = list(rows)
        if same:
            for i, row in enumerate(self._rows):
                self._fill_item(self.list.item(i), row)
            return
        self.list.clear()
        for row in self._rows:
            item = QListWidgetItem()
            self._fill_item(item, row)
            self.list.addItem(item)
        self.title.setText(f"Classes ({len(self._rows)})" if self._rows else "Classes")
        self._select_current()

    @staticmethod
    def _fill_item(item: QListWidgetItem, row: ClassRow) -> None:
        item.setData(ROW_ROLE, row)
        # QToolTip guesses rich text, so the plain name is escaped into markup.
        tip = f"{row.name} — {plural(row.count, 'image')}"
        if row.shortcut is not None:
            tip += f" — press {row.shortcut}"
        item.setToolTip("<p style='white-space:pre'>" + html.escape(tip) + "</p>")
        item.setData(Qt.ItemDataRole.AccessibleTextRole, tip)

    def set_current_label(self, name: str | None) -> None:
        """Highlight the class of the current image (None: no highlight)."""
        self._current_label = name
        self._select_current()

    def set_accuracy(self, value: float | None, n: int) -> None:
        """Live honesty box: accuracy of the last *n* suggestions."""
        self.accuracy_label.setText(accuracy_text(value, n))

    def set_labeled_count(self, n: int) -> None:
        self.labeled_label.setText(f"{plural(n, 'image')} labeled")

    def set_undo_state(self, can_undo: bool, can_redo: bool) -> None:
        self.buttons["undo"].setEnabled(can_undo)
        self.buttons["redo"].setEnabled(can_redo)

    def focus_new_class(self) -> None:
        """Put the cursor in the new-class field (Ctrl+N)."""
        self.new_class.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.new_class.selectAll()

    def classes(self) -> list[ClassRow]:
        return list(self._rows)

    def row_rect(self, name: str) -> QRect:
        """Viewport rectangle of class *name* (for tests and tooltips)."""
        for i, row in enumerate(self._rows):
            if row.name == name:
                return self.list.visualItemRect(self.list.item(i))
        return QRect()

    # -------------------------------------------------------------- internals
    def _select_current(self) -> None:
        self.list.blockSignals(True)
        try:
            self.list.clearSelection()
            for i, row in enumerate(self._rows):
                if row.name == self._current_label:
                    self.list.item(i).setSelected(True)
                    self.list.scrollToItem(self.list.item(i))
        finally:
            self.list.blockSignals(False)

    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        row: ClassRow | None = item.data(ROW_ROLE)
        if row is not None:
            self.class_clicked.emit(row.name)
        self._select_current()

    def _on_new_class(self) -> None:
        name = self.new_class.text().strip()
        if not name:
            return
        self.new_class.clear()
        self.new_class_entered.emit(name)
        self.focus_grid_requested.emit()

    def _row(self, name: str) -> ClassRow | None:
        return next((r for r in self._rows if r.name == name), None)

    def _on_context_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        row: ClassRow | None = item.data(ROW_ROLE) if item is not None else None
        if row is None:
            return
        menu = self.context_menu(row.name)
        menu.exec(self.list.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def context_menu(self, name: str) -> QMenu:
        """Build the menu for class *name*: Rename…, Merge into ▸, Recolour…, Delete…."""
        menu = QMenu(self)
        rename = QAction("Rename…", menu)
        rename.triggered.connect(lambda: self._rename(name))
        menu.addAction(rename)
        merge = menu.addMenu("Merge into")
        others = [r.name for r in self._rows if r.name != name]
        for other in others:
            action = QAction(other, merge)  # QAction text is never rich text
            action.triggered.connect(lambda _=False, t=other: self._merge(name, t))
            merge.addAction(action)
        merge.setEnabled(bool(others))
        recolor = QAction("Recolour…", menu)
        recolor.triggered.connect(lambda: self._recolor(name))
        menu.addAction(recolor)
        menu.addSeparator()
        delete = QAction("Delete…", menu)
        delete.triggered.connect(lambda: self._delete(name))
        menu.addAction(delete)
        return menu

    def _rename(self, old: str) -> None:
        new, ok = QInputDialog.getText(
            self, "Rename class", "New name:", QLineEdit.EchoMode.Normal, old
        )
        new = (new or "").strip()
        if ok and new and new != old:
            self.rename_requested.emit(old, new)

    def _merge(self, source: str, target: str) -> None:
        row = self._row(source)
        count = row.count if row else 0
        text = (
            "Merge these classes?\n\n"
            f"All {plural(count, 'image')} labeled “{source}” will be labeled “{target}”, "
            f"and “{source}” will be removed."
        )
        if _confirm(self, "Merge classes", text):
            self.merge_requested.emit(source, target)

    def _recolor(self, name: str) -> None:
        row = self._row(name)
        initial = QColor(row.color) if row else QColor()
        color = QColorDialog.getColor(initial, self, "Class colour")
        if color.isValid():
            self.recolor_requested.emit(name, color.name())

    def _delete(self, name: str) -> None:
        row = self._row(name)
        count = row.count if row else 0
        text = f"Delete this class?\n\n“{name}”: {plural(count, 'image')} will become unlabeled."
        if _confirm(self, "Delete class", text):
            self.delete_requested.emit(name)
