"""The Settings dialog: feature extractor, engine, learner, order after an action, cluster.

It holds no logic: whether a scheduler address is usable is asked of the controller through
the ``check_scheduler`` callable it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from gui_app.qt.orders import ORDER_TEXT, normal_order, order_text

# (value, English text) choices of the Settings dialog, shown through QCoreApplication.translate.
BACKBONES = (
    (
        "efficientnet_lite0",
        QT_TRANSLATE_NOOP("SettingsDialog", "EfficientNet-Lite0 (ImageNet, offline, fast)"),
    ),
    ("mobilenet_v2", QT_TRANSLATE_NOOP("SettingsDialog", "MobileNetV2 (fast)")),
    ("efficientnet_b0", QT_TRANSLATE_NOOP("SettingsDialog", "EfficientNet-B0")),
    ("resnet50", QT_TRANSLATE_NOOP("SettingsDialog", "ResNet-50 (slow, large)")),
    ("vgg16", QT_TRANSLATE_NOOP("SettingsDialog", "VGG16 (slow, large)")),
)
WEIGHTS = (
    ("imagenet", QT_TRANSLATE_NOOP("SettingsDialog", "ImageNet")),
    ("none", QT_TRANSLATE_NOOP("SettingsDialog", "None (random init)")),
)
LEARNERS = (
    ("logistic", QT_TRANSLATE_NOOP("SettingsDialog", "Logistic regression")),
    ("softmax", QT_TRANSLATE_NOOP("SettingsDialog", "Softmax regression")),
    ("gaussian-nb", QT_TRANSLATE_NOOP("SettingsDialog", "Gaussian naive Bayes")),
    ("knn", QT_TRANSLATE_NOOP("SettingsDialog", "k-nearest neighbours")),
    ("arf", QT_TRANSLATE_NOOP("SettingsDialog", "Adaptive random forest")),
)
ENGINES = (
    ("auto", QT_TRANSLATE_NOOP("SettingsDialog", "Automatic (int8 where it verifies)")),
    ("litert", QT_TRANSLATE_NOOP("SettingsDialog", "LiteRT float32")),
    ("litert-int8", QT_TRANSLATE_NOOP("SettingsDialog", "LiteRT int8 (fastest)")),
    ("tensorflow", QT_TRANSLATE_NOOP("SettingsDialog", "TensorFlow")),
)
CUSTOM = "__custom__"
REEXTRACT_TEXT = QT_TRANSLATE_NOOP(
    "SettingsDialog",
    "Change the feature extractor or its engine?\n\n"
    "Features will be extracted again into a separate cache; the current features and "
    "your labels are kept, and switching back later is instant.",
)


def _settings_text(text: str) -> str:
    return QCoreApplication.translate("SettingsDialog", text)


class _ChoiceCombo(QComboBox):
    """Combo of (value, text) choices plus a 'pick a file…' entry that opens a chooser."""

    def __init__(self, choices, file_text: str, file_filter: str, parent=None) -> None:
        super().__init__(parent)
        self._file_filter = file_filter
        for value, text in choices:
            self.addItem(_settings_text(text), value)
        self.insertSeparator(self.count())
        self.addItem(file_text, CUSTOM)
        self._last = 0
        self.activated.connect(self._on_activated)

    def set_value(self, value: str) -> None:
        i = self.findData(value)
        if i < 0:  # a file path: add it before the separator
            i = self.count() - 2
            self.insertItem(i, Path(value).name, value)
            self.setItemData(i, value, Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(i)
        self._last = i

    def value(self) -> str:
        return str(self.currentData())

    def _on_activated(self, index: int) -> None:
        if self.itemData(index) != CUSTOM:
            self._last = index
            return
        path, _ = QFileDialog.getOpenFileName(
            self, self.itemText(index).rstrip("…"), "", self._file_filter
        )
        if path:
            self.set_value(path)
        else:
            self.setCurrentIndex(self._last)


class SettingsDialog(QDialog):
    """Feature extractor, engine, learner, order and Dask scheduler; :meth:`values` gives them."""

    def __init__(
        self,
        parent: QWidget | None = None,
        backbone: str = "mobilenet_v2",
        weights: str = "imagenet",
        learner: str = "logistic",
        advance: str = "teach",
        *,
        engine: str = "auto",
        scheduler: str = "",
        check_scheduler: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Settings"))
        self._initial = dict(backbone=backbone, weights=weights, engine=engine)
        self._check_scheduler = check_scheduler or (lambda text: None)
        form = QFormLayout()
        form.setSpacing(max(4, self.fontMetrics().height() // 2))
        self.backbone = _ChoiceCombo(
            BACKBONES,
            self.tr("Custom .keras file…"),
            self.tr("Keras models ({patterns})").format(patterns="*.keras"),
        )
        self.backbone.set_value(backbone)
        self.backbone.setToolTip(
            self.tr("The pretrained network that turns each image into features.")
        )
        form.addRow(self.tr("Feature &extractor:"), self.backbone)
        self.weights = _ChoiceCombo(
            WEIGHTS,
            self.tr("Local file…"),
            self.tr("Weights ({patterns})").format(patterns="*.h5 *.weights.h5 *.keras")
            + ";;"
            + self.tr("All files (*)"),
        )
        self.weights.set_value(weights)
        form.addRow(self.tr("&Weights:"), self.weights)
        self.engine = _plain_combo(ENGINES, engine)
        self.engine.setToolTip(
            self.tr(
                "How the extractor runs. int8 is about twice as fast on a CPU; it is checked "
                "against float32 once and Loupe falls back to float32 if it does not match."
            )
        )
        form.addRow(self.tr("E&ngine:"), self.engine)
        self.learner = _plain_combo(LEARNERS, learner)
        self.learner.setToolTip(self.tr("The online classifier that learns from every label."))
        form.addRow(self.tr("&Classifier:"), self.learner)
        self.advance = QComboBox()
        for value in ORDER_TEXT:
            self.advance.addItem(order_text(value), value)
        self.advance.setCurrentIndex(max(0, self.advance.findData(normal_order(advance))))
        self.advance.setToolTip(
            self.tr(
                "Teach: the model shows the image that teaches it most (N). Audit: random and "
                "confident images, an honest check of the model. Or the grid's own order."
            )
        )
        form.addRow(self.tr("&After an action show:"), self.advance)
        self.scheduler = QLineEdit(scheduler)
        self.scheduler.setPlaceholderText(self.tr("this computer"))
        self.scheduler.setClearButtonEnabled(True)
        self.scheduler.setToolTip(
            self.tr(
                "Extract features on a Dask cluster: tcp://HOST:8786, or local:N for N worker "
                "processes here. Empty: in Loupe itself."
            )
        )
        self.scheduler.textChanged.connect(lambda _text: self.scheduler_error.hide())
        form.addRow(self.tr("Extract on &Dask:"), self.scheduler)
        self.scheduler_error = QLabel()
        self.scheduler_error.setTextFormat(Qt.TextFormat.PlainText)
        self.scheduler_error.setWordWrap(True)
        self.scheduler_error.setStyleSheet("color: palette(highlight);")
        self.scheduler_error.hide()
        form.addRow("", self.scheduler_error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def values(self) -> dict[str, str]:
        """``{'backbone', 'weights', 'engine', 'learner', 'advance', 'scheduler'}`` as chosen."""
        return dict(
            backbone=self.backbone.value(),
            weights=self.weights.value(),
            engine=str(self.engine.currentData()),
            learner=str(self.learner.currentData()),
            advance=str(self.advance.currentData()),
            scheduler=self.scheduler.text().strip(),
        )

    def extractor_changed(self) -> bool:
        """Whether the features must be extracted again (extractor, weights or engine)."""
        v = self.values()
        return any(v[key] != self._initial[key] for key in ("backbone", "weights", "engine"))

    def accept(self) -> None:
        problem = self._check_scheduler(self.values()["scheduler"])
        if problem:
            self.scheduler_error.setText(problem)
            self.scheduler_error.show()
            self.scheduler.setFocus()
            return
        if self.extractor_changed():
            answer = QMessageBox.question(
                self,
                self.tr("Extract features again"),
                _settings_text(REEXTRACT_TEXT),
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        super().accept()


def _plain_combo(choices, value: str) -> QComboBox:
    """A combo of (value, English text) choices with ``value`` selected (else the first)."""
    combo = QComboBox()
    for data, text in choices:
        combo.addItem(_settings_text(text), data)
    combo.setCurrentIndex(max(0, combo.findData(value)))
    return combo
