"""The bar above the grid: which images it shows and in what order (plus View ▸ Show)."""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QSize, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QComboBox, QLabel, QMenu, QSizePolicy, QToolBar, QWidget

from gui_app.qt.viewstate import FilterOption, GridFilter
from gui_app.widgets.elided_label import ElidedLabel

SORTS = (  # (kind, English text shown through QCoreApplication.translate)
    ("name", QT_TRANSLATE_NOOP("FilterBar", "Name")),
    ("confidence", QT_TRANSLATE_NOOP("FilterBar", "Least confident first")),
    ("predicted", QT_TRANSLATE_NOOP("FilterBar", "Predicted class")),
)
ALL_IMAGES = QT_TRANSLATE_NOOP("FilterBar", "All images")
CHOSEN_IMAGES = QT_TRANSLATE_NOOP("FilterBar", "Chosen images")
ALL = FilterOption(GridFilter("all"), ALL_IMAGES)  # the fallback option (translated when shown)


class _Combo(QComboBox):
    """A combo box the toolbar may narrow down to ``min_chars`` (its text is then elided)."""

    def __init__(self, min_chars: int) -> None:
        super().__init__()
        self._min_chars = min_chars

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        room = self.fontMetrics().averageCharWidth() * self._min_chars
        return QSize(min(hint.width(), room + self.iconSize().width()), hint.height())


class FilterBar(QToolBar):
    """Filter and sort choosers; a filter the controller picked itself is listed too.

    Signals: ``filter_chosen(GridFilter)``, ``sort_chosen(str)``.
    """

    filter_chosen = Signal(object)
    sort_chosen = Signal(str)

    def __init__(self, menu: QMenu, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Grid"), parent)
        self.setMovable(False)
        self.filter_combo = QComboBox()
        self.filter_combo.setToolTip(self.tr("Which images the grid shows"))
        self.filter_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.filter_combo.setMinimumContentsLength(16)
        self.sort_combo = _Combo(10)
        self.sort_combo.setToolTip(self.tr("Order of the grid"))
        for kind, text in SORTS:
            self.sort_combo.addItem(QCoreApplication.translate("FilterBar", text), kind)
        self.addWidget(QLabel(" " + self.tr("Show:") + " "))
        self.addWidget(self.filter_combo)
        self.addWidget(QLabel("  " + self.tr("Sort:") + " "))
        self.addWidget(self.sort_combo)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.addWidget(spacer)
        self.order_label = ElidedLabel(min_chars=8)
        self.order_label.setToolTip(
            self.tr("What an action moves on to (View ▸ After an Action Show)")
        )
        self.addWidget(self.order_label)
        self._menu = menu
        self._group = QActionGroup(self)
        self._options: list[FilterOption] = [self._all()]
        self.filter_combo.activated.connect(self._on_chosen)
        self.sort_combo.activated.connect(
            lambda i: self.sort_chosen.emit(str(self.sort_combo.itemData(i)))
        )
        self._fill(0)

    @staticmethod
    def _all() -> FilterOption:
        return FilterOption(ALL.grid_filter, QCoreApplication.translate("FilterBar", ALL_IMAGES))

    @staticmethod
    def _chosen() -> str:
        return QCoreApplication.translate("FilterBar", CHOSEN_IMAGES)

    def add_next_action(self, action: QAction) -> None:
        """The Next button, at the right end of the bar."""
        self.addAction(action)

    def show_order(self, text: str) -> None:
        self.order_label.setText(f"{text}  " if text else "")

    def options(self) -> list[FilterOption]:
        return list(self._options)

    def current(self) -> GridFilter:
        i = self.filter_combo.currentIndex()
        return self._options[i].grid_filter if 0 <= i < len(self._options) else ALL.grid_filter

    def set_options(self, options: list[FilterOption]) -> bool:
        """Offer ``options`` (keeping the chosen one); False when it had to fall back to 'all'.

        A list the controller chose ('rows') stays offered while it is the current one.
        """
        current = self.current()
        options = list(options) or [self._all()]
        if current.kind == "rows":
            options.append(FilterOption(current, current.title or self._chosen()))
        self._options = options
        index = next((i for i, o in enumerate(options) if o.grid_filter == current), -1)
        self._fill(max(0, index))
        return index >= 0

    def show_filter(self, grid_filter: GridFilter) -> None:
        """The controller chose ``grid_filter``: show it as chosen (no signal)."""
        if grid_filter == self.current():
            return
        options = [o for o in self._options if o.grid_filter.kind != "rows"]
        if grid_filter.kind == "rows":
            options.append(FilterOption(grid_filter, grid_filter.title or self._chosen()))
        self._options = options
        index = next((i for i, o in enumerate(options) if o.grid_filter == grid_filter), 0)
        self._fill(index)

    def choose(self, index: int) -> None:
        """Choose option ``index`` as the user would (emits ``filter_chosen``)."""
        self.filter_combo.setCurrentIndex(index)
        self._on_chosen(index)

    def set_sort(self, kind: str) -> None:
        i = self.sort_combo.findData(kind)
        if i >= 0:
            self.sort_combo.setCurrentIndex(i)

    def sort(self) -> str:
        return str(self.sort_combo.currentData())

    def _fill(self, index: int) -> None:
        self.filter_combo.blockSignals(True)
        self.filter_combo.clear()
        for option in self._options:
            self.filter_combo.addItem(option.text)
        self.filter_combo.setCurrentIndex(index)
        self.filter_combo.blockSignals(False)
        self._menu.clear()
        for action in self._group.actions():
            self._group.removeAction(action)
        for n, option in enumerate(self._options):
            action = QAction(option.text.replace("&", "&&"), self._menu, checkable=True)
            action.setChecked(n == index)
            action.triggered.connect(lambda _=False, n=n: self.choose(n))
            self._group.addAction(action)
            self._menu.addAction(action)

    def _on_chosen(self, index: int) -> None:
        actions = self._group.actions()
        if 0 <= index < len(actions):
            actions[index].setChecked(True)
        if 0 <= index < len(self._options):
            self.filter_chosen.emit(self._options[index].grid_filter)
