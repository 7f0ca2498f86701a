"""Application settings (QSettings): defaults for new projects, recent folders, window state.

Project-specific choices (backbone, weights, learner, engine) live in the project's own database.
"""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from PySide6.QtCore import QSettings

from gui_app.core.project import default_project_dir_for
from gui_app.core.project_settings import ProjectSettings
from gui_app.core.resources import bundled_backbone
from gui_app.qt.orders import normal_order

MAX_RECENT = 10
DEFAULTS = ProjectSettings()


def suggested_project_dir(folder: Path) -> Path:
    """Where to keep the project of a read-only ``folder``."""
    return default_project_dir_for(folder, Path(user_data_dir("Loupe", "Loupe")) / "projects")


class AppSettings:
    """Typed access to the few app-wide settings."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.q = qsettings or QSettings("Loupe", "Loupe")

    def _get(self, key: str, default: str) -> str:
        value = self.q.value(key, default)
        return str(value) if value is not None else default

    @property
    def backbone(self) -> str:
        bundled = bundled_backbone()
        return self._get("defaults/backbone", bundled[0] if bundled else DEFAULTS.backbone)

    @backbone.setter
    def backbone(self, value: str) -> None:
        self.q.setValue("defaults/backbone", value)

    @property
    def weights(self) -> str:
        bundled = bundled_backbone()  # an offline installer ships its weights
        return self._get("defaults/weights", bundled[1] if bundled else DEFAULTS.weights)

    @weights.setter
    def weights(self, value: str) -> None:
        self.q.setValue("defaults/weights", value)

    @property
    def learner(self) -> str:
        return self._get("defaults/learner", DEFAULTS.learner)

    @learner.setter
    def learner(self, value: str) -> None:
        self.q.setValue("defaults/learner", value)

    @property
    def engine(self) -> str:
        """How new projects extract: auto, litert, litert-int8 or tensorflow."""
        return self._get("defaults/engine", DEFAULTS.engine)

    @engine.setter
    def engine(self, value: str) -> None:
        self.q.setValue("defaults/engine", value)

    @property
    def advance(self) -> str:
        """The order after an action: teach, audit, in-order, in-order-unlabeled."""
        return normal_order(self._get("labeling/advance", "teach"))

    @advance.setter
    def advance(self, value: str) -> None:
        self.q.setValue("labeling/advance", value)

    @property
    def scheduler(self) -> str:
        """A Dask scheduler to extract on ('tcp://host:8786', 'local:2'), '' for this process.

        A property of the machine, not of a project: every project of this user uses it.
        """
        return self._get("extraction/scheduler", "")

    @scheduler.setter
    def scheduler(self, value: str) -> None:
        self.q.setValue("extraction/scheduler", value.strip())

    def project_defaults(self) -> ProjectSettings:
        """What a new project starts with (the user's defaults)."""
        return ProjectSettings(self.backbone, self.weights, self.learner, self.engine)

    def recent(self) -> list[str]:
        """Recent folders that still exist, newest first."""
        value = self.q.value("recent/folders", []) or []
        items = [value] if isinstance(value, str) else list(value)
        return [p for p in items if Path(p).is_dir()][:MAX_RECENT]

    def add_recent(self, folder: str) -> None:
        items = [folder] + [p for p in self.recent() if p != folder]
        self.q.setValue("recent/folders", items[:MAX_RECENT])
