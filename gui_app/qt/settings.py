"""Application settings (QSettings): defaults for new projects, recent folders, window state.

Project-specific choices (backbone, weights, learner) live in the project's own database.
"""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from PySide6.QtCore import QSettings

from gui_app.core.project import default_project_dir_for
from gui_app.selftest import bundled_backbone

MAX_RECENT = 10


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
        return self._get("defaults/backbone", bundled[0] if bundled else "mobilenet_v2")

    @backbone.setter
    def backbone(self, value: str) -> None:
        self.q.setValue("defaults/backbone", value)

    @property
    def weights(self) -> str:
        bundled = bundled_backbone()  # an offline installer ships its weights
        return self._get("defaults/weights", bundled[1] if bundled else "imagenet")

    @weights.setter
    def weights(self, value: str) -> None:
        self.q.setValue("defaults/weights", value)

    @property
    def learner(self) -> str:
        return self._get("defaults/learner", "logistic")

    @learner.setter
    def learner(self, value: str) -> None:
        self.q.setValue("defaults/learner", value)

    @property
    def advance(self) -> str:
        value = self._get("labeling/advance", "next")
        return value if value in ("next", "next-unlabeled") else "next"

    @advance.setter
    def advance(self, value: str) -> None:
        self.q.setValue("labeling/advance", value)

    def recent(self) -> list[str]:
        """Recent folders that still exist, newest first."""
        value = self.q.value("recent/folders", []) or []
        items = [value] if isinstance(value, str) else list(value)
        return [p for p in items if Path(p).is_dir()][:MAX_RECENT]

    def add_recent(self, folder: str) -> None:
        items = [folder] + [p for p in self.recent() if p != folder]
        self.q.setValue("recent/folders", items[:MAX_RECENT])
