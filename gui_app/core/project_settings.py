"""A project's remembered choices (backbone, weights, learner, engine), defaults in one place.

They live in the project's label database (``settings`` table), so the window, the CLI and
exports of one project always use the same feature extractor and learner. Front ends start from
:data:`DEFAULTS` (or their own user-level defaults) and never repeat these literals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from gui_app.core.backbones import DEFAULT_BACKBONE, DEFAULT_WEIGHTS, absolute_choice
from gui_app.core.learner import DEFAULT_LEARNER

if TYPE_CHECKING:
    from gui_app.core.labels import LabelStore

DEFAULT_ENGINE = "auto"
_KEYS = ("backbone", "weights", "learner", "engine")


@dataclass(frozen=True)
class ProjectSettings:
    """What a project extracts features with and learns with.

    ``backbone`` is a registry name or an absolute ``.keras`` path; ``weights`` is
    ``'imagenet'``, ``'none'``, ``'file'`` or an absolute weights-file path.
    """

    backbone: str = DEFAULT_BACKBONE
    weights: str = DEFAULT_WEIGHTS
    learner: str = DEFAULT_LEARNER
    engine: str = DEFAULT_ENGINE

    @classmethod
    def load(cls, labels: LabelStore, fallback: ProjectSettings | None = None) -> ProjectSettings:
        """The settings stored in ``labels``; missing keys come from ``fallback`` (or defaults)."""
        base = fallback or cls()
        stored = {k: labels.get_setting(k) for k in _KEYS}
        return replace(base, **{k: str(v) for k, v in stored.items() if v})

    def save(self, labels: LabelStore) -> None:
        """Store every field in ``labels`` (not journaled; one small transaction each)."""
        for key in _KEYS:
            if labels.get_setting(key) != getattr(self, key):
                labels.set_setting(key, getattr(self, key))

    def with_backbone(self, backbone: str | None, weights: str | None = None) -> ProjectSettings:
        """These settings with another backbone choice (paths made absolute).

        A new backbone without weights takes the default weights; ``None`` keeps a field.
        """
        if backbone is None and weights is None:
            return self
        new_backbone = backbone or self.backbone
        new_weights = weights or (DEFAULT_WEIGHTS if backbone else self.weights)
        new_backbone, new_weights = absolute_choice(new_backbone, new_weights)
        return replace(self, backbone=new_backbone, weights=new_weights)

    @property
    def backbone_choice(self) -> tuple[str, str]:
        """``(backbone, weights)`` as :func:`gui_app.core.backbones.resolve_backbone` takes them."""
        return self.backbone, self.weights

    def describe(self) -> str:
        """One line for logs: ``backbone=… weights=… learner=… engine=…``."""
        weights = Path(self.weights).name if "/" in self.weights else self.weights
        parts = (f"backbone={self.backbone}", f"weights={weights}", f"learner={self.learner}")
        return " ".join((*parts, f"engine={self.engine}"))
