"""Translation: the translators the app installs, counted texts, and a pseudo-translation.

How Loupe's strings are written (README, "Translating Loupe"):

- In a method of a QObject subclass: ``self.tr("…")``; the context is the class name.
  PySide6 looks it up by the *runtime* class name, so a class that calls ``self.tr`` is never
  subclassed (tests/gui/test_translation.py checks it).
- In a module-level function: ``Owner.tr("…")``, ``Owner`` being the module's QObject class
  the text belongs to; a module without one declares a small context class
  (``class WindowMenus(QObject)``, never instantiated).
- A module-level constant: ``QT_TRANSLATE_NOOP("Context", "…")``, and
  ``QCoreApplication.translate("Context", CONSTANT)`` where it is shown.
- A count: both forms are translated with ``n`` and :func:`plural` picks one, so a
  translation gives every numerus form its language needs and English keeps its wording.
  Counted texts always go through a ``tr`` (pyside6-lupdate drops or flattens
  ``QCoreApplication.translate(…, n)`` calls).
- User data (file, folder and class names, paths, numbers) is inserted with ``.format`` after
  translating; sentences are never built by concatenating translated pieces.

Error reasons from :mod:`gui_app.core` (``LoupeError.reason``, pick and suspect reasons,
import previews) stay English: the core has no Qt.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
from collections.abc import Iterator

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QObject, QTranslator

from gui_app.qt.viewstate import format_count

LANG_ENV = "LOUPE_LANG"  # e.g. de, pt_BR, or 'pseudo' (longer accented strings, for layouts)
CATALOGUE = "loupe"  # resources/translations/loupe_<lang>.qm
TRANSLATIONS_DIR = "translations"


def plural(n: int, one: str, many: str, *, grouped: bool = True) -> str:
    """``one`` when ``n == 1`` else ``many``, with ``{n}`` replaced by the count.

    Both are translated templates, each with ``n`` (``self.tr("{n} image", "", n)``), so a
    translation gives every numerus form its language needs and English keeps its wording.
    ``grouped``: thousands grouped as :func:`format_count` does (``'12 345'``), else ``'12345'``.
    """
    return (one if n == 1 else many).replace("{n}", format_count(n) if grouped else str(n))


def translations_dir() -> str:
    """Where ``loupe_<lang>.qm`` files are (``resources/translations``)."""
    from gui_app.core.resources import resources_dir

    return str(resources_dir() / TRANSLATIONS_DIR)


def install_translators(app: QCoreApplication, language: str | None = None) -> list[QTranslator]:
    """Install Qt's own translations (qtbase) and Loupe's for ``language``.

    ``language`` defaults to ``$LOUPE_LANG``, else the system locale; ``'pseudo'`` installs a
    :class:`PseudoTranslator`. A language without a catalogue keeps English. Returns the
    translators installed (parented to ``app``).
    """
    language = language or os.environ.get(LANG_ENV) or ""
    installed: list[QTranslator] = []
    if language == "pseudo":
        pseudo = PseudoTranslator(parent=app)
        app.installTranslator(pseudo)
        return [pseudo]
    locale = QLocale(language) if language else QLocale.system()
    if language:
        QLocale.setDefault(locale)
    qt_dir = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    for name, folder in (("qtbase", qt_dir), (CATALOGUE, translations_dir())):
        translator = QTranslator(app)
        if translator.load(locale, name, "_", folder):
            app.installTranslator(translator)
            installed.append(translator)
        else:
            translator.deleteLater()
    return installed


# -- pseudo-translation ---------------------------------------------------------------------

#: Kept as they are: format fields, Qt's %1/%n, markup, entities, mnemonics, line breaks.
_KEEP = re.compile(r"\{[^{}]*\}|%L?\d+|%L?n|<[^<>]*>|&[A-Za-z]+;|&&|&\S|\n|\t")
_ACCENTS = str.maketrans("aeiouycnAEIOUYCN", "áéíóúýçñÁÉÍÓÚÝÇÑ")
OPEN, CLOSE = "«", "»"  # around every pseudo-translated text
GROWTH = 0.35  # each line grows by this share of its length, plus the two brackets
#: Qt's own contexts that are pseudo-translated too (button texts of standard dialogs);
#: the others (key names: QShortcut...) stay as they are so shortcuts keep parsing.
QT_CONTEXTS = ("QPlatformTheme", "QDialogButtonBox", "QMessageBox", "QFileDialog")


def pseudo(text: str) -> str:
    """``text`` accented and about 35 % longer, between « and »; placeholders unchanged."""
    lines = []
    for line in text.split("\n"):
        parts, last = [], 0
        for match in _KEEP.finditer(line):
            parts.append(line[last : match.start()].translate(_ACCENTS))
            parts.append(match.group())
            last = match.end()
        parts.append(line[last:].translate(_ACCENTS))
        pad = "~" * math.ceil(len(line) * GROWTH) if line else ""
        lines.append("".join(parts) + pad)
    return OPEN + "\n".join(lines) + CLOSE


_python_translators = 0  # PseudoTranslators created in this process
_IMAGE_IO_LOCK = threading.Lock()


@contextlib.contextmanager
def image_io() -> Iterator[None]:
    """Around Qt image reading on any thread: one reader at a time while a Python translator
    exists, else nothing.

    An image plugin may translate a text while it holds Qt's plugin-loader mutex; a translator
    written in Python then needs the GIL, while another thread that holds the GIL waits for
    that mutex inside ``QImageReader.size()``: both wait forever (seen with
    :class:`PseudoTranslator` and two thumbnail threads). Translators loaded from ``.qm``
    files are C++ and never need the GIL.
    """
    if not _python_translators:
        yield
        return
    with _IMAGE_IO_LOCK:
        yield


class PseudoTranslator(QTranslator):
    """Translates every string with :func:`pseudo`: shows what is not translated, and
    whether layouts survive longer texts.

    ``known`` (``{(context, source)}``, e.g. read from a ``.ts`` file) limits it to those
    strings, so a string shown under another context than the one extracted stays English.
    """

    def __init__(
        self, known: set[tuple[str, str]] | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        global _python_translators
        _python_translators += 1  # see image_io()
        self.known = known
        self.asked: set[tuple[str, str]] = set()

    def isEmpty(self) -> bool:
        return False

    def translate(
        self, context: str, source: str, disambiguation: str | None = None, n: int = -1
    ) -> str | None:
        """The pseudo-translation, or None (a null string: Qt then keeps looking)."""
        if not source:
            return None
        if context.startswith("Q"):
            if context not in QT_CONTEXTS:
                return None
        elif self.known is not None and (context, source) not in self.known:
            return None
        self.asked.add((context, source))
        return pseudo(source)
