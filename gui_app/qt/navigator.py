"""Which image is current, how the grid is filtered and sorted, where an action moves on to.

After an action the navigator moves on in the chosen order: the model's pick (Teach, Audit:
:class:`~gui_app.qt.picker.NextPicker`) or the grid's order. A pick remembers why it was shown,
so the label given to it is journaled with that reason (audits are counted apart).
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from gui_app.core.sampling import Pick
from gui_app.qt.image_model import ImageListModel
from gui_app.qt.orders import MODEL_ORDERS, normal_order
from gui_app.qt.picker import NextPicker
from gui_app.qt.presenter import Presenter
from gui_app.qt.preview import PreviewLoader
from gui_app.qt.project_host import ProjectHost
from gui_app.qt.settings import AppSettings
from gui_app.qt.viewstate import GridFilter


class Navigator(QObject):
    """Owns the current image; every change of it goes through :meth:`go_to`."""

    def __init__(
        self,
        host: ProjectHost,
        model: ImageListModel,
        presenter: Presenter,
        previews: PreviewLoader,
        settings: AppSettings,
        picker: NextPicker,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._host = host
        self._model = model
        self._presenter = presenter
        self._previews = previews
        self._settings = settings
        self._picker = picker
        self.current = ""
        self.current_pick: Pick | None = None  # why Next showed the current image
        self.order = normal_order(settings.advance)

    def reset(self) -> None:
        self._set("")

    def _set(self, path: str, pick: Pick | None = None) -> None:
        self.current = path
        self.current_pick = pick
        self._presenter.current_path = path
        self._presenter.pick_reason = pick.reason if pick is not None else ""
        self._host.current_path = path

    @property
    def pick_kind(self) -> str:
        """How the current image was chosen, for the journal ('manual' when by hand)."""
        return self.current_pick.kind if self.current_pick is not None else "manual"

    def go_to(self, path: str, pick: Pick | None = None) -> None:
        """Make ``path`` current: caption, bars, preview, and its features first."""
        if not path or (path == self.current and pick is None):
            return
        self._set(path, pick)
        self._presenter.show_current()
        root = self._host.root
        if root is not None:
            self._previews.request(path, root / path)
        self._host.prioritise([path])

    def set_current_row(self, row: int) -> None:
        path = self._model.path_at(row)
        if path is not None:
            self.go_to(path)

    def move(self, delta: int) -> None:
        row = self._model.row_of(self.current) if self.current else -1
        self.set_current_row(min(max(row + delta, 0), self._model.rowCount() - 1))

    def set_visible_rows(self, first: int, last: int) -> None:
        paths = self._model.view_paths(first, last)
        self._host.prioritise(([self.current] if self.current else []) + paths)

    def advance(self) -> None:
        """Move on after an action, in the chosen order; stays put when nothing is left."""
        reviewing = self._model.filter.kind == "rows"  # a list to work through, in its order
        if self.order in MODEL_ORDERS and self._host.session is not None and not reviewing:
            found = self._picker.pick(self.order, self.current)
            if found is not None:
                self.go_to(*found)
            return
        row = self._model.row_of(self.current)
        n = self._model.rowCount()
        if n == 0:
            return
        if self.order == "in-order-unlabeled":
            labels, reasons = self._model.labels, self._model.reasons
            for step in range(1, n + 1):
                candidate = (row + step) % n
                path = self._model.path_at(candidate)
                if path not in labels and path not in reasons:
                    self.set_current_row(candidate)
                    return
        self.set_current_row(min(row + 1, n - 1))

    def set_order(self, order: str) -> None:
        """Teach, Audit, in grid order or in grid order unlabeled only (remembered)."""
        self.order = normal_order(order)
        self._settings.advance = self.order

    def set_filter(self, grid_filter: GridFilter) -> None:
        self._model.set_filter(grid_filter)
        self.reselect()

    def set_sort(self, kind: str) -> None:
        self._model.set_sort(kind)
        self.reselect()

    def reselect(self) -> None:
        """After the view changed: keep the current image, else take the first one shown."""
        row = self._model.row_of(self.current) if self.current else -1
        if row < 0 and self._model.rowCount():
            self._set("")
            self.set_current_row(0)
        else:
            self._presenter.show_current()
