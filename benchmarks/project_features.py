"""Features of every image of a folder, through Loupe's pipeline and the project's own cache.

The vectors are kept in ``<folder>/.loupe/features.h5`` (one group per backbone), exactly where
the window and ``loupe extract`` keep them, so a second run costs nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gui_app.core.backbones import BackboneSpec, resolve_backbone  # noqa: E402
from gui_app.core.images import scan_images  # noqa: E402
from gui_app.core.project import Project  # noqa: E402
from gui_app.core.store import FeatureStore  # noqa: E402

CIFAR8 = REPO.parent / "shared" / "backbones" / "cifar8_backbone.keras"


def backbone_spec(backbone: str) -> BackboneSpec:
    """``efficientnet_lite0`` (ImageNet), ``cifar8`` or a ``.keras`` file."""
    if backbone == "cifar8":
        return resolve_backbone(str(CIFAR8), "file")
    if backbone.endswith(".keras"):
        return resolve_backbone(str(Path(backbone).resolve()), "file")
    return resolve_backbone(backbone, "imagenet")


def folder_features(
    folder: Path, backbone: str, log=lambda m: print(f"  {m}", flush=True)
) -> tuple[list[str], np.ndarray]:
    """``(relative paths, (N, D) float32 vectors)`` of every readable image under ``folder``."""
    from gui_app.core.engines import create_engine
    from gui_app.core.features import WorkQueue, extract_features, partition_cached, stat_files

    folder = Path(folder).resolve()
    spec = backbone_spec(backbone)
    project = Project(folder)
    keys, _missing = stat_files(folder, scan_images(folder))
    engine = None
    if not spec.feature_dim:
        engine = create_engine(spec, project.engines_dir, prefer="auto", log=log, allow_int8=False)
    dim = spec.feature_dim or engine.feature_dim
    with FeatureStore(project.features_path, spec.id, dim) as store:
        _cached, todo, _bad = partition_cached(store, keys)
        if todo:
            engine = engine or create_engine(
                spec, project.engines_dir, prefer="auto", log=log, allow_int8=False
            )
            report = extract_features(folder, WorkQueue(todo), spec, store, engine, batch_size=32)
            log(f"{folder}: {report.summary()} ({spec.label})")
        found = store.vectors_for([k.path for k in keys])
    paths = [k.path for k in keys if k.path in found]
    return paths, np.stack([found[p] for p in paths]).astype(np.float32)
