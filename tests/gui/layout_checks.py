"""What a pseudo-translated window is checked for: untranslated text, clipping, overlaps."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QTabBar,
    QTableWidget,
    QToolBar,
    QWidget,
)

from gui_app.qt.i18n import CLOSE, OPEN, PseudoTranslator

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("gui_app",)  # the extraction command of the README (core has no tr: finds nothing)
_SEGMENT = re.compile(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}")
_WORD = re.compile(r"[^\W\d_]{2,}")


def lupdate() -> str | None:
    """The pyside6-lupdate executable, or None."""
    return shutil.which("pyside6-lupdate")


def extract(ts_file: Path) -> Path:
    """Run the README's extraction command into ``ts_file``."""
    exe = lupdate()
    assert exe is not None
    command = [exe, "-extensions", "py", "-no-obsolete", "-locations", "none", *SOURCES]
    subprocess.run([*command, "-ts", str(ts_file)], cwd=ROOT, check=True, capture_output=True)
    return ts_file


def ts_messages(ts_file: Path) -> dict[tuple[str, str], bool]:
    """``{(context, source): numerus}`` of a .ts file."""
    found = {}
    for context in ET.parse(ts_file).getroot().iter("context"):
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            found[(name, message.findtext("source") or "")] = message.get("numerus") == "yes"
    return found


def install_pseudo(known: set[tuple[str, str]] | None) -> PseudoTranslator:
    translator = PseudoTranslator(known)
    QCoreApplication.installTranslator(translator)
    return translator


def untranslated(text: str, data: tuple[str, ...]) -> str:
    """What of ``text`` is neither pseudo-translated, nor user data, nor digits/symbols."""
    rest = text
    while True:
        stripped = _SEGMENT.sub(" ", rest)
        if stripped == rest:
            break
        rest = stripped
    for item in sorted(data, key=len, reverse=True):
        rest = rest.replace(item, " ")
    return " ".join(_WORD.findall(rest.replace("&", "")))


def shown_texts(window: QWidget) -> list[tuple[str, str]]:
    """``(where, text)`` of every text the user can see or hear (tooltips, accessible names)."""
    texts = [("window title", window.windowTitle())]
    for widget in window.findChildren(QWidget):
        if not widget.isVisibleTo(window) or type(widget).__module__.startswith("pyqtgraph"):
            continue
        where = f"{type(widget).__name__} {widget.objectName()}".strip()
        if isinstance(widget, QLabel | QAbstractButton):
            texts.append((where, widget.text()))
        elif isinstance(widget, QComboBox):
            texts += [(where, widget.itemText(i)) for i in range(widget.count())]
        elif isinstance(widget, QLineEdit):
            texts.append((where, widget.placeholderText()))
        elif isinstance(widget, QTabBar):
            texts += [(where, widget.tabText(i)) for i in range(widget.count())]
        elif isinstance(widget, QProgressBar) and widget.isTextVisible():
            texts.append((where, widget.text()))
        elif isinstance(widget, QTableWidget):
            headers = [widget.horizontalHeaderItem(i) for i in range(widget.columnCount())]
            texts += [(f"{where} header", item.text()) for item in headers if item is not None]
        texts += [(f"{where} tooltip", widget.toolTip()), (where, widget.accessibleName())]
    for action in window.findChildren(QAction):
        if action.isSeparator() or not (action.text() or action.iconText()):
            continue
        if type(action.parent()).__module__.startswith("pyqtgraph"):
            continue  # the charts' own menus, disabled
        texts += [("action", action.text()), ("action tooltip", action.toolTip())]
        texts.append(("action icon text", action.iconText()))
    for menu in window.findChildren(QMenu):
        texts.append(("menu", menu.title()))
    return [(where, text) for where, text in texts if text]


def not_translated(window: QWidget, data: tuple[str, ...]) -> list[str]:
    return [f"{where}: {text!r}" for where, text in shown_texts(window) if untranslated(text, data)]


def clipped(root: QWidget) -> list[str]:
    """Visible labels, buttons and combos under ``root`` smaller than their text needs.

    A word-wrapped label needs its height for its width; a label with the property
    ``elides`` draws an elided text on purpose and is left out.
    """
    found = []
    for widget in [root, *root.findChildren(QWidget)]:
        if not widget.isVisible() or widget.property("elides"):
            continue
        need = widget.sizeHint()
        if isinstance(widget, QLabel) and widget.wordWrap():
            if widget.height() < widget.heightForWidth(widget.width()):
                found.append(f"wrapped label {widget.text()!r} {widget.size()}")
        elif isinstance(widget, QLabel | QAbstractButton) and widget.text():
            if widget.width() < need.width() or widget.height() < widget.minimumSizeHint().height():
                found.append(f"{type(widget).__name__} {widget.text()!r} {widget.size()} < {need}")
        elif isinstance(widget, QComboBox) and widget.width() < widget.minimumSizeHint().width():
            found.append(f"combo {widget.currentText()!r} {widget.size()}")
    return found


def hidden_in_toolbar(bar: QToolBar) -> list[str]:
    """Widgets and actions a toolbar had to move into its overflow menu."""
    found = []
    for action in bar.actions():
        widget = bar.widgetForAction(action)
        if widget is not None and action.isVisible() and not widget.isVisible():
            found.append(action.text() or type(widget).__name__)
    return found


def overlaps(root: QWidget) -> list[str]:
    """Visible sibling widgets laid out by the same layout that overlap each other."""
    found = []
    for parent in [root, *root.findChildren(QWidget)]:
        layout = parent.layout()
        if layout is None or not parent.isVisible():
            continue
        children = [
            w
            for w in parent.findChildren(QWidget, "", Qt.FindChildOption.FindDirectChildrenOnly)
            if w.isVisible() and layout.indexOf(w) >= 0
        ]
        for a, b in combinations(children, 2):
            if a.geometry().intersects(b.geometry()):
                found.append(f"{_name(a)} overlaps {_name(b)} in {_name(parent)}")
    return found


def _name(widget: QWidget) -> str:
    text = widget.text() if isinstance(widget, QLabel | QAbstractButton) else ""
    return f"{type(widget).__name__}({text!r})"
