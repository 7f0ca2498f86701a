"""Translation: every string is extractable and goes through tr(); layouts take longer texts.

A pseudo-translation (:class:`gui_app.qt.i18n.PseudoTranslator`: every text accented, about
35 % longer and between « ») limited to the strings pyside6-lupdate extracts is installed
before the window is built; then nothing shown may be left English, and at 1280x800 nothing
in the right pane, the status bar, the filter bar or the review bars may be cut or overlap.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QLocale, QSettings, QStandardPaths
from PySide6.QtGui import QColor, QImage

from gui_app.qt import i18n
from gui_app.qt.i18n import PseudoTranslator, install_translators, plural, pseudo
from gui_app.qt.viewstate import BarItem, CurrentImage, SplitView, SuspectView, ThresholdView
from gui_app.widgets.elided_label import ElidedLabel
from gui_app.widgets.status_bar import counts_text
from tests.gui import layout_checks as checks
from tests.gui.apphelpers import close_window, open_window
from tests.gui.test_widgets_standalone import CLASSES, FakeController, _status

PACKAGE = checks.ROOT / "gui_app"
SIZE = (1280, 800)
#: Strings every window shows, with their contexts (a sample the extraction must find).
SAMPLE = [
    ("MainWindow", "&Open Folder…"),
    ("WindowMenus", "&File"),
    ("LabelPanel", "Classes"),
    ("LoupeStatusBar", "{n} images"),
    ("FilterBar", "Least confident first"),
    ("orders", "Teach: the model picks"),
    ("Presenter", "Updating the model from your labels…"),
    ("ZoomView", "Open a folder to start (File ▸ Open Folder…)"),
    ("ThresholdBar", "Accept predictions of"),
    ("SuspectBar", "Correct it with 1–9 or a click on a class · K keeps the label · Esc closes"),
    ("Labelling", "Cannot label"),
    ("InsightPanel", "Export PNG…"),
]


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> dict[tuple[str, str], bool]:
    """``{(context, source): numerus}`` as the README's pyside6-lupdate command extracts them."""
    if checks.lupdate() is None:
        pytest.skip("pyside6-lupdate is not installed")
    ts_file = tmp_path_factory.mktemp("ts") / "loupe_xx.ts"
    return checks.ts_messages(checks.extract(ts_file))


def test_lupdate_extracts_the_window_strings(extracted) -> None:
    contexts = {context for context, _source in extracted}
    assert len(extracted) >= 400 and len(contexts) >= 35
    assert sum(extracted.values()) >= 40  # counted texts have numerus forms
    missing = [pair for pair in SAMPLE if pair not in extracted]
    assert not missing
    assert extracted[("LoupeStatusBar", "{n} images")]  # a numerus form


def _sources() -> list[Path]:
    return sorted([*PACKAGE.glob("qt/*.py"), *PACKAGE.glob("widgets/*.py")])


def _calls(tree: ast.AST, names: set[str]) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        )
        in names
    ]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.name)
def test_translated_texts_are_literal_templates(path: Path) -> None:
    """No f-string or concatenation inside tr(): lupdate could not extract them."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for call in _calls(tree, {"tr", "translate", "QT_TRANSLATE_NOOP"}):
        args = call.args
        if len(args) < 2 and getattr(call.func, "attr", "") == "translate":
            continue  # str.translate
        text = (
            args[1]
            if getattr(call.func, "attr", getattr(call.func, "id", ""))
            in (
                "translate",
                "QT_TRANSLATE_NOOP",
            )
            else args[0]
        )
        where = f"{path.name}:{call.lineno}"
        assert not isinstance(text, ast.JoinedStr | ast.BinOp), f"{where}: built text in tr()"
        if not isinstance(call.func, ast.Attribute) or call.func.attr != "tr":
            assert isinstance(args[0], ast.Constant), f"{where}: the context must be a literal"


def test_classes_calling_self_tr_are_not_subclassed() -> None:
    """PySide6 looks self.tr() up under the runtime class name, lupdate under the defining one."""
    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in PACKAGE.rglob("*.py")]
    trees += [ast.parse(p.read_text(encoding="utf-8")) for p in checks.ROOT.glob("tests/**/*.py")]
    using, bases = set(), set()
    for tree in trees:
        for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
            bases |= {
                b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in cls.bases
            }
            for call in _calls(cls, {"tr"}):
                if isinstance(call.func.value, ast.Name) and call.func.value.id == "self":
                    using.add(cls.name)
    assert using and not (using & bases), sorted(using & bases)


def test_plural_and_pseudo_keep_placeholders() -> None:
    assert plural(1, "{n} image", "{n} images") == "1 image"
    assert plural(12345, "{n} image", "{n} images") == "12\u202f345 images"
    assert plural(12345, "{n} image", "{n} images", grouped=False) == "12345 images"
    text = pseudo("Exported {n} files to {folder}\n&Open %1 <b>x</b>")
    assert text.startswith("«") and text.endswith("»") and len(text) >= 1.3 * 50
    for kept in ("{n}", "{folder}", "&O", "%1", "<b>", "</b>", "\n"):
        assert kept in text
    assert pseudo("{m:02d} min").count("{m:02d}") == 1


@pytest.fixture
def default_locale():
    """Restore the default QLocale a translation loader sets."""
    before = QLocale()
    yield
    QLocale.setDefault(before)


def test_env_override_installs_the_pseudo_translator(qapp, monkeypatch, default_locale) -> None:
    monkeypatch.setenv("LOUPE_LANG", "pseudo")
    installed = install_translators(qapp)
    try:
        assert [type(t) for t in installed] == [PseudoTranslator]
        assert QCoreApplication.translate("LabelPanel", "Classes") == pseudo("Classes")
        assert QCoreApplication.translate("QShortcut", "Ctrl") == "Ctrl"  # keys keep parsing
    finally:
        for translator in installed:
            QCoreApplication.removeTranslator(translator)
    monkeypatch.setenv("LOUPE_LANG", "xx_YY")  # no catalogue: English stays
    for translator in install_translators(qapp):
        QCoreApplication.removeTranslator(translator)
    assert QCoreApplication.translate("LabelPanel", "Classes") == "Classes"


def test_a_compiled_catalogue_is_loaded_with_its_plural_forms(
    qapp, tmp_path, monkeypatch, extracted, default_locale
) -> None:
    """The README's workflow end to end: extract, translate two strings, lrelease, load."""
    lrelease = shutil.which("pyside6-lrelease")
    if lrelease is None:
        pytest.skip("pyside6-lrelease is not installed")
    ts_file = checks.extract(tmp_path / "loupe_de.ts")
    tree = ET.parse(ts_file)
    tree.getroot().set("language", "de")
    for context in tree.getroot().iter("context"):
        name = context.findtext("name")
        for message in context.iter("message"):
            key, translation = (name, message.findtext("source")), message.find("translation")
            if key == ("LabelPanel", "Classes"):
                translation.text = "Klassen"
            elif key in (("LoupeStatusBar", "{n} image"), ("LoupeStatusBar", "{n} images")):
                forms = translation.findall("numerusform")
                forms[0].text, forms[1].text = "{n} Bild", "{n} Bilder"
            else:
                continue
            del translation.attrib["type"]
    tree.write(ts_file, encoding="utf-8")
    subprocess.run([lrelease, str(ts_file)], check=True, capture_output=True)
    monkeypatch.setattr(i18n, "translations_dir", lambda: str(tmp_path))
    installed = install_translators(qapp, "de")
    try:
        assert any(t.filePath().endswith("loupe_de.qm") for t in installed)
        assert QCoreApplication.translate("LabelPanel", "Classes") == "Klassen"
        status = _status(images=1, classes=2)
        assert counts_text(status).startswith("1 Bild · ")
        assert counts_text(_status(images=400)).startswith("400 Bilder · ")
    finally:
        for translator in installed:
            QCoreApplication.removeTranslator(translator)


# -- the window under a pseudo-translation ------------------------------------------------
@pytest.fixture
def pseudo_window(qtbot, tmp_path, extracted):
    """A MainWindow (fake controller) built under the pseudo-translation, at 1280x800."""
    fmt, scope = QSettings.Format.NativeFormat, QSettings.Scope.UserScope
    QSettings.setPath(fmt, scope, str(tmp_path))
    translator = checks.install_pseudo(set(extracted))
    from gui_app.widgets.main_window import MainWindow

    controller = FakeController()
    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.resize(*SIZE)
    window.show()
    qtbot.waitExposed(window)
    yield window, controller, translator
    QCoreApplication.removeTranslator(translator)
    default = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    QSettings.setPath(fmt, scope, default)


def _fill(window, c) -> None:
    """Show everything the window can show at once: classes, bars, status, review bars."""
    c.project_opened.emit("/data/pets")
    c.classes_changed.emit(CLASSES)
    current = CurrentImage(2, "sub/img_2.jpg", "img_2.jpg", "cat", None, "3 / 5", "uncertain")
    c.current_changed.emit(current)
    image = QImage(320, 240, QImage.Format.Format_RGB32)
    image.fill(QColor("#4080c0"))
    c.preview_ready.emit("sub/img_2.jpg", image, "")
    c.order_changed.emit("in-order-unlabeled")
    shares = zip(CLASSES, (0.7, 0.2, 0.1), strict=True)
    bars = [BarItem(r.name, p, r.color, r.shortcut) for r, p in shares]
    c.bars_changed.emit(bars, "cat", None)
    c.status_changed.emit(_status(audit_accuracy=0.8, audit_n=10))
    c.busy.emit(
        QCoreApplication.translate("ModelRebuilder", "Updating the model from your labels…"),
        40,
        400,
    )
    c.undo_state_changed.emit(True, True)
    c.unreadable_changed.emit([("bad.jpg", "truncated")])
    counts = tuple(range(101, 0, -1))
    c.threshold_view.emit(ThresholdView(("cat", "dog", "<b>bird</b>"), "cat", 0.9, counts))
    reason = "labelled cat; the model said dog 0.94 before and after"
    c.suspect_view.emit(SuspectView(3, 41, "img_2.jpg", "cat", reason, checking=True))


DATA = (  # user data and core texts the fake controller shows (never translated)
    "cat", "dog", "<b>bird</b>", "bird", "img_2.jpg", "img_", ".jpg", "sub/", "pets", "Loupe",
    "CPU · LiteRT (XNNPACK)", "MobileNetV2", "bad.jpg", "truncated",
    "labelled cat; the model said dog 0.94 before and after", "uncertain",
    "All images", "Labeled: cat",  # the fake controller's filter options
)  # fmt: skip


def test_every_shown_text_of_the_window_is_translated(qtbot, pseudo_window) -> None:
    window, c, translator = pseudo_window
    _fill(window, c)
    qtbot.wait(50)
    assert checks.not_translated(window, DATA) == []
    painted = [window.image_view.caption(), window.bars.message() or "", window.status.busy_text()]
    assert all(not checks.untranslated(text, DATA) for text in painted)
    assert len(translator.asked) > 150


def test_layouts_survive_longer_texts(qtbot, pseudo_window) -> None:
    window, c, _translator = pseudo_window
    empty = window.minimumSizeHint()  # no folder open: the big Open Folder button
    assert empty.width() <= SIZE[0] and empty.height() <= SIZE[1], empty
    assert checks.clipped(window.empty_state) == []
    _fill(window, c)
    qtbot.wait(50)
    hint = window.minimumSizeHint()
    assert hint.width() <= SIZE[0] and hint.height() <= SIZE[1], hint
    assert (window.width(), window.height()) == SIZE
    regions = [
        window.label_panel,
        window.status,
        window.filter_bar,
        window.threshold_bar,
        window.suspect_bar,
    ]
    problems = [p for region in regions for p in checks.clipped(region)]
    problems += [p for region in regions for p in checks.overlaps(region)]
    problems += checks.hidden_in_toolbar(window.filter_bar)
    assert problems == []


def test_dialogs_under_pseudo_translation(qtbot, extracted) -> None:
    """The dialogs' texts are translated, nothing in them is cut, and they fit the screen."""
    from gui_app.widgets.dialogs import ShortcutsDialog, UnreadableDialog
    from gui_app.widgets.settings_dialog import SettingsDialog
    from gui_app.widgets.split_dialog import SplitClassDialog

    translator = checks.install_pseudo(set(extracted))
    try:
        rows = [("Ctrl+O", QCoreApplication.translate("MainWindow", "&Open Folder…"))]
        dialogs = [
            SettingsDialog(None, "mobilenet_v2", "imagenet", "logistic", "teach"),
            UnreadableDialog([("a.jpg", "truncated"), ("b.png", "truncated")]),
            ShortcutsDialog(rows),
            SplitClassDialog(SplitView("cat", 3, 24, 10, ("cat", "dog"))),
        ]
        for dialog in dialogs:
            qtbot.addWidget(dialog)
            dialog.show()
            qtbot.waitExposed(dialog)
            data = ("a.jpg", "b.png", "truncated", "cat", "Ctrl+O")
            assert checks.not_translated(dialog, data) == [], type(dialog).__name__
            hint = dialog.minimumSizeHint()
            assert hint.width() <= SIZE[0] and hint.height() <= SIZE[1], type(dialog).__name__
            assert checks.clipped(dialog) == [] and checks.overlaps(dialog) == []
    finally:
        QCoreApplication.removeTranslator(translator)


def test_english_status_and_filter_bars_are_not_elided_at_1280(qtbot, tmp_path) -> None:
    """Without a translation nothing needs eliding while features are extracted."""
    fmt, scope = QSettings.Format.NativeFormat, QSettings.Scope.UserScope
    QSettings.setPath(fmt, scope, str(tmp_path))
    from gui_app.widgets.main_window import MainWindow

    c = FakeController()
    window = MainWindow(c)
    qtbot.addWidget(window)
    window.resize(*SIZE)
    window.show()
    qtbot.waitExposed(window)
    c.project_opened.emit("/data/pets")
    c.order_changed.emit("in-order-unlabeled")
    c.status_changed.emit(_status())
    qtbot.wait(20)
    labels = [*window.status.findChildren(ElidedLabel), window.filter_bar.order_label]
    assert [label.text() for label in labels if label.is_elided()] == []
    default = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    QSettings.setPath(fmt, scope, default)


@pytest.mark.slow
def test_real_window_under_pseudo_translation(
    qtbot, tmp_path, class_images, tiny_backbone, extracted, errors
) -> None:
    """The real controller's texts (messages, filters, bars, status) are translated too."""
    translator = checks.install_pseudo(set(extracted))
    try:
        controller, window = open_window(qtbot, tmp_path, class_images, tiny_backbone)
        for name, label in (("cat.0.jpg", "cat"), ("cat.1.jpg", "cat"), ("dog.0.jpg", "dog")):
            controller.set_current_row(controller.model.row_of(name))
            controller.assign_class(label)
        qtbot.waitUntil(lambda: controller.idle() and len(window.bars.bars()) == 2, timeout=20000)
        controller.start_threshold("cat")
        controller.show_suspects()
        qtbot.waitUntil(lambda: window.suspect_bar.isVisible(), timeout=20000)
        qtbot.wait(50)
        session, ex = controller.session, controller.host.extraction
        data = (
            *controller.model.paths, class_images.name, "Loupe", "cat", "dog",
            ex.device, ex.backbone, *(s.reason for s in controller.review.suspects),
        )  # fmt: skip
        assert session is not None and checks.not_translated(window, data) == []
        assert errors == []
        assert window.filter_combo.itemText(0) == pseudo("All images")  # from the presenter
        asked = {context for context, _source in translator.asked}
        assert {"Presenter", "LoupeStatusBar", "ThresholdBar", "SuspectBar", "orders"} <= asked
        regions = [window.label_panel, window.status, window.filter_bar, window.threshold_bar]
        problems = [p for region in [*regions, window.suspect_bar] for p in checks.clipped(region)]
        problems += [p for region in regions for p in checks.overlaps(region)]
        problems += checks.hidden_in_toolbar(window.filter_bar)
        assert problems == []
        close_window(qtbot, window, controller)
    finally:
        QCoreApplication.removeTranslator(translator)


def test_elided_label_shows_the_whole_text_as_tooltip_when_cut(qtbot) -> None:
    label = ElidedLabel("A rather long status text that will not fit", min_chars=6)
    label.setToolTip("What it is")
    qtbot.addWidget(label)
    label.resize(label.sizeHint())
    label.show()
    assert not label.is_elided() and label.toolTip() == "What it is"
    assert label.minimumSizeHint().width() < label.sizeHint().width()
    label.resize(label.minimumSizeHint())
    assert label.is_elided() and label.elided_text().endswith("…")
    assert label.toolTip() == "A rather long status text that will not fit\nWhat it is"


def test_image_reading_is_serialised_once_a_python_translator_exists(qapp):
    """A Python translator called under Qt's plugin-loader mutex needs the GIL, which a thread
    waiting for that mutex in QImageReader may hold: readers take turns then (no deadlock)."""
    import threading
    import time

    from gui_app.qt.i18n import image_io

    PseudoTranslator()  # exists: image_io serialises from now on in this process
    inside, overlaps = [0], []

    def read() -> None:
        with image_io():
            inside[0] += 1
            overlaps.append(inside[0])
            time.sleep(0.02)
            inside[0] -= 1

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert overlaps == [1, 1, 1, 1]
