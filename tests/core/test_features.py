"""The extraction pipeline end to end with a tiny real Keras backbone and a real HDF5 cache."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from gui_app.core.backbones import build_model, preprocess, resolve_backbone
from gui_app.core.engines import create_engine
from gui_app.core.features import (
    ExtractionReport,
    WorkQueue,
    extract_features,
    partition_cached,
    stat_files,
)
from gui_app.core.images import load_rgb_resized, scan_images
from gui_app.core.store import FeatureStore, FileKey

pytestmark = pytest.mark.slow


def _run(root: Path, spec, engine, store_path: Path, **kwargs) -> ExtractionReport:
    paths = scan_images(root)
    keys, unreadable = stat_files(root, paths)
    with FeatureStore(store_path, spec.id, engine.feature_dim) as store:
        cached, todo, bad = partition_cached(store, keys)
        unreadable.update(bad)
        report = ExtractionReport(images=len(paths), cached=len(cached), unreadable=unreadable)
        return extract_features(
            root, WorkQueue(todo), spec, store, engine, report=report, total=len(paths), **kwargs
        )


@pytest.fixture(scope="module")
def spec_engine(tiny_backbone, tmp_path_factory):
    spec = resolve_backbone(str(tiny_backbone))
    return spec, create_engine(spec, tmp_path_factory.mktemp("engines"), log=lambda m: None)


def test_extracts_caches_and_reextracts_only_changed(class_images, spec_engine, tmp_path):
    spec, engine = spec_engine
    (class_images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    store_path = tmp_path / "f.h5"
    progress = []
    first = _run(class_images, spec, engine, store_path, batch_size=5, progress=progress.append)
    assert (first.images, first.extracted, first.cached) == (13, 12, 0)
    assert list(first.unreadable) == ["broken.jpg"]
    assert "not an image" in first.unreadable["broken.jpg"] or first.unreadable["broken.jpg"]
    assert progress[-1].done == 13 and progress[-1].total == 13

    second = _run(class_images, spec, engine, store_path)
    assert (second.extracted, second.cached, len(second.unreadable)) == (0, 12, 1)

    touched = class_images / "cat.3.jpg"
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    third = _run(class_images, spec, engine, store_path)
    assert (third.extracted, third.cached) == (1, 11)


def test_vectors_equal_keras_on_the_same_images(class_images, spec_engine, tiny_backbone, tmp_path):
    spec, engine = spec_engine
    store_path = tmp_path / "f.h5"
    _run(class_images, spec, engine, store_path)
    model = build_model(spec)
    with FeatureStore(store_path, spec.id, readonly=True) as store:
        got = store.vectors_for(["cat.0.jpg", "dog.5.jpg"])
    batch = np.stack(
        [load_rgb_resized(class_images / p, spec.input_size) for p in ("cat.0.jpg", "dog.5.jpg")]
    )
    want = np.asarray(model(preprocess(spec, batch), training=False))
    np.testing.assert_allclose(got["cat.0.jpg"], want[0], atol=1e-4)
    np.testing.assert_allclose(got["dog.5.jpg"], want[1], atol=1e-4)


def test_cancel_keeps_finished_batches_and_resume_completes(class_images, spec_engine, tmp_path):
    spec, engine = spec_engine
    store_path = tmp_path / "f.h5"
    batches = []
    report = _run(
        class_images,
        spec,
        engine,
        store_path,
        batch_size=4,
        on_batch=lambda paths, vecs: batches.append(paths),
        should_stop=lambda: len(batches) >= 1,
    )
    assert report.cancelled and report.extracted == 4
    resumed = _run(class_images, spec, engine, store_path, batch_size=4)
    assert (resumed.cached, resumed.extracted) == (4, 8)


def test_work_queue_prioritises_from_another_thread():
    keys = [FileKey(f"{i}.jpg", 1, 1) for i in range(10)]
    queue = WorkQueue(keys)
    t = threading.Thread(target=queue.prioritise, args=(["7.jpg", "3.jpg", "missing.jpg"],))
    t.start()
    t.join()
    assert [k.path for k in queue.take(3)] == ["7.jpg", "3.jpg", "0.jpg"]
    assert len(queue) == 7
