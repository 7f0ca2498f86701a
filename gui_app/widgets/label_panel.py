"""Label panel: classes with swatch / shortcut / count, new-class field, honesty box, buttons.

Everything user-named is shown as plain text; dialogs keep user text off their first line so
Qt's rich-text guess never applies to it.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QEvent, QPoint, QRect, Qt, Signal
from PySide6.QtGui import QAction, QFont, QKeyEvent, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui_app.qt.i18n import plural
from gui_app.qt.viewstate import ClassRow
from gui_app.widgets.class_dialogs import ask_colour, ask_new_name, confirm_delete, confirm_merge
from gui_app.widgets.class_row_delegate import ROW_ROLE, ClassRowDelegate

PLACEHOLDER = QT_TRANSLATE_NOOP("LabelPanel", "New class… (type a name, Enter)")


def accuracy_text(value: float | None, n: int, audit: float | None = None, audit_n: int = 0) -> str:
    """``'Last 50 suggestions: 86 % correct (43/50), all picks · audits: 80 % of 10'``.

    Every label given one at a time counts (predict-then-learn); Next's audits, a random and
    confident sample, are an unbiased estimate and are shown apart when there are any.
    """
    if value is None or n <= 0:
        return LabelPanel.tr("No suggestions yet")
    text = plural(
        n,
        LabelPanel.tr("Last {n} suggestion: {pct} % correct ({correct}/{n}), all picks", "", n),
        LabelPanel.tr("Last {n} suggestions: {pct} % correct ({correct}/{n}), all picks", "", n),
    ).format(pct=round(value * 100), correct=round(value * n))
    if audit is not None and audit_n > 0:
        audits = LabelPanel.tr("audits: {pct} % of {n}", "", audit_n)
        text += " · " + audits.format(pct=round(audit * 100), n=audit_n)
    return text


ACCURACY_TIP = QT_TRANSLATE_NOOP(
    "LabelPanel",
    "How often the model's top suggestion was the label you then gave, measured before it "
    "learned from it. It counts every label given one at a time, whatever showed the image "
    "(Next's uncertain picks make it look lower). Audits (Next in Audit mode, and a share of "
    "Teach picks) are a random and confident sample: their figure is the honest one.",
)


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
    split_requested = Signal(str)  # start a new class from the selected images of this one
    accept_requested = Signal(str)  # accept the predictions of this class above a threshold
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

        self.title = QLabel(self.tr("Classes"))
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
        self.list.setAccessibleName(self.tr("Classes"))
        layout.addWidget(self.list, 1)

        self.new_class = ClassNameEdit()
        self.new_class.setPlaceholderText(QCoreApplication.translate("LabelPanel", PLACEHOLDER))
        self.new_class.setClearButtonEnabled(True)
        self.new_class.setAccessibleName(self.tr("New class name"))
        self.new_class.setToolTip(
            self.tr(
                "Type a class name and press Enter to label the current image "
                "with it (Ctrl+N). Escape returns to the grid."
            )
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
        self.accuracy_label.setWordWrap(True)
        self.accuracy_label.setToolTip(
            self.tr(
                "How often the top suggestion matched your label, measured before each update "
                "(predict, then learn)."
            )
        )
        self.labeled_label = QLabel(self._labeled_text(0))
        self.labeled_label.setTextFormat(Qt.TextFormat.PlainText)
        self.labeled_label.setWordWrap(True)
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
                self.tr("Confirm"),
                self.tr("Label with the top suggestion (Enter / Space)"),
                self.confirm_clicked,
            ),
            (
                "skip",
                self.tr("Skip"),
                self.tr("Go to the next image without labeling (S)"),
                self.skip_clicked,
            ),
            (
                "remove",
                self.tr("Remove"),
                self.tr("Remove the label of this image (⌫ Backspace)"),
                self.remove_clicked,
            ),
            (
                "undo",
                self.tr("Undo"),
                self.tr("Undo the last label action (Ctrl+Z)"),
                self.undo_clicked,
            ),
            ("redo", self.tr("Redo"), self.tr("Redo (Ctrl+Shift+Z / Ctrl+Y)"), self.redo_clicked),
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
        n = len(self._rows)
        self.title.setText(self.tr("Classes ({n})").format(n=n) if n else self.tr("Classes"))
        self._select_current()

    @staticmethod
    def _fill_item(item: QListWidgetItem, row: ClassRow) -> None:
        item.setData(ROW_ROLE, row)
        # QToolTip guesses rich text, so the plain name is escaped into markup.
        count = plural(
            row.count,
            LabelPanel.tr("{n} image", "", row.count),
            LabelPanel.tr("{n} images", "", row.count),
        )
        tip = f"{row.name} — {count}"
        if row.shortcut is not None:
            tip += " — " + LabelPanel.tr("press {key}").format(key=row.shortcut)
        item.setToolTip("<p style='white-space:pre'>" + html.escape(tip) + "</p>")
        item.setData(Qt.ItemDataRole.AccessibleTextRole, tip)

    def set_current_label(self, name: str | None) -> None:
        """Highlight the class of the current image (None: no highlight)."""
        self._current_label = name
        self._select_current()

    def set_accuracy(
        self, value: float | None, n: int, audit: float | None = None, audit_n: int = 0
    ) -> None:
        """Live honesty box: accuracy of the last *n* suggestions, audits apart."""
        self.accuracy_label.setText(accuracy_text(value, n, audit, audit_n))
        self.accuracy_label.setToolTip(QCoreApplication.translate("LabelPanel", ACCURACY_TIP))

    def set_labeled_count(self, n: int) -> None:
        self.labeled_label.setText(self._labeled_text(n))

    def _labeled_text(self, n: int) -> str:
        return plural(n, self.tr("{n} image labeled", "", n), self.tr("{n} images labeled", "", n))

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
        rename = QAction(self.tr("Rename…"), menu)
        rename.triggered.connect(lambda: self._rename(name))
        menu.addAction(rename)
        merge = menu.addMenu(self.tr("Merge into"))
        others = [r.name for r in self._rows if r.name != name]
        for other in others:
            action = QAction(other, merge)  # QAction text is never rich text
            action.triggered.connect(lambda _=False, t=other: self._merge(name, t))
            merge.addAction(action)
        merge.setEnabled(bool(others))
        recolor = QAction(self.tr("Recolour…"), menu)
        recolor.triggered.connect(lambda: self._recolor(name))
        menu.addAction(recolor)
        split = QAction(self.tr("Split Off the Selected Images…"), menu)
        split.setToolTip(
            self.tr("A new class from the selected images; similar ones are offered too")
        )
        split.triggered.connect(lambda: self.split_requested.emit(name))
        menu.addAction(split)
        accept = QAction(self.tr("Accept Predictions Above a Threshold…"), menu)
        accept.triggered.connect(lambda: self.accept_requested.emit(name))
        menu.addAction(accept)
        menu.addSeparator()
        delete = QAction(self.tr("Delete…"), menu)
        delete.triggered.connect(lambda: self._delete(name))
        menu.addAction(delete)
        return menu

    def _rename(self, old: str) -> None:
        new = ask_new_name(self, old)
        if new is not None:
            self.rename_requested.emit(old, new)

    def _merge(self, source: str, target: str) -> None:
        row = self._row(source)
        if confirm_merge(self, source, target, row.count if row else 0):
            self.merge_requested.emit(source, target)

    def _recolor(self, name: str) -> None:
        row = self._row(name)
        color = ask_colour(self, row.color if row else "")
        if color is not None:
            self.recolor_requested.emit(name, color)

    def _delete(self, name: str) -> None:
        row = self._row(name)
        if confirm_delete(self, name, row.count if row else 0):
            self.delete_requested.emit(name)
