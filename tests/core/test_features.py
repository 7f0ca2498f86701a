"""The extraction pipeline end to end with a tiny real Keras backbone and a real HDF5 cache."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from gui_app.core.backbones import build_model, preprocess, resolve_backbone
from gui_app.core.engines import create_engine
from gui_app.core.extraction import ExtractionCallbacks, engine_key, run_extraction
from gui_app.core.features import ExtractionReport, WorkQueue
from gui_app.core.images import load_rgb_resized, scan_images
from gui_app.core.store import FeatureStore, FileKey, list_backbone_ids

pytestmark = pytest.mark.slow


def _run(root: Path, spec, engine, store_path: Path, **kwargs) -> ExtractionReport:
    callbacks = ExtractionCallbacks(
        progress=kwargs.pop("progress", None),
        extracted=kwargs.pop("on_batch", None),
        should_stop=kwargs.pop("should_stop", None),
    )
    return run_extraction(
        root,
        scan_images(root),
        store_path,
        None,
        spec,
        callbacks=callbacks,
        engine_cache={engine_key(spec, "auto"): engine},
        **kwargs,
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


def test_every_vector_is_its_own_images_across_reused_buffers_and_failures(
    class_images, spec_engine, tmp_path
):
    """Batches share two input buffers and a broken file leaves a hole mid-batch: each stored
    vector is still the engine's output for that very image."""
    spec, engine = spec_engine
    (class_images / "cat.05-broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    store_path = tmp_path / "f.h5"
    report = _run(class_images, spec, engine, store_path, batch_size=5)
    assert list(report.unreadable) == ["cat.05-broken.jpg"] and report.extracted == 12
    paths = [p for p in scan_images(class_images) if p != "cat.05-broken.jpg"]
    with FeatureStore(store_path, spec.id, readonly=True) as store:
        got = store.vectors_for(paths)
    for path in paths:
        alone = engine(
            preprocess(spec, load_rgb_resized(class_images / path, spec.input_size)[None])
        )
        np.testing.assert_allclose(got[path], alone[0], atol=1e-5, err_msg=path)


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


def test_work_queue_extend_keeps_queued_paths_in_place():
    queue = WorkQueue([FileKey("a.jpg", 1, 1)])
    queue.extend([FileKey("b.jpg", 1, 1), FileKey("a.jpg", 2, 2)])
    assert [(k.path, k.size) for k in queue.take(5)] == [("a.jpg", 1), ("b.jpg", 1)]


def test_run_extraction_tells_the_caller_everything(class_images, spec_engine, tmp_path):
    spec, engine = spec_engine
    (class_images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    store_path = tmp_path / "f.h5"
    heard: dict[str, list] = {k: [] for k in ("cached", "extracted", "failures", "engine")}
    queue = WorkQueue()
    prioritised = []

    def on_extracted(paths, vectors) -> None:
        if not prioritised:  # the caller reorders the queue while the job runs
            queue.prioritise(["dog.5.jpg"])
            prioritised.append(True)
        heard["extracted"].append(list(paths))
        assert vectors.dtype == np.float32 and vectors.shape == (len(paths), 16)

    callbacks = ExtractionCallbacks(
        cached=lambda paths, vectors: heard["cached"].append((list(paths), vectors.shape)),
        extracted=on_extracted,
        failures=heard["failures"].append,
        engine_ready=heard["engine"].append,
    )
    cache = {engine_key(spec, "auto"): engine}
    report = run_extraction(
        class_images, scan_images(class_images), store_path, None, spec,
        batch_size=4, callbacks=callbacks, queue=queue, engine_cache=cache,
    )  # fmt: skip
    assert (report.images, report.extracted, report.cached) == (13, 12, 0)
    assert heard["failures"] == [{"broken.jpg": report.unreadable["broken.jpg"]}]
    assert heard["engine"] == [engine.name] and heard["cached"] == []
    assert heard["extracted"][2][0] == "dog.5.jpg"  # the next batch is decoding already
    assert sum(map(len, heard["extracted"])) == 12 and len(queue) == 0

    heard = {k: [] for k in heard}
    again = run_extraction(
        class_images, scan_images(class_images), store_path, None, spec,
        callbacks=ExtractionCallbacks(
            cached=lambda paths, vectors: heard["cached"].append((list(paths), vectors.shape)),
            failures=heard["failures"].append,
            engine_ready=heard["engine"].append,
        ),
        engine_cache=cache, cached_block=5,
    )  # fmt: skip
    assert (again.extracted, again.cached, list(again.unreadable)) == (0, 12, ["broken.jpg"])
    assert [shape for _paths, shape in heard["cached"]] == [(5, 16), (5, 16), (2, 16)]
    assert heard["failures"] == [{"broken.jpg": report.unreadable["broken.jpg"]}]  # remembered
    assert heard["engine"] == []  # everything cached: no model needed


def test_damaged_cache_is_reported_as_a_notice(class_images, spec_engine, tmp_path):
    spec, engine = spec_engine
    store_path = tmp_path / "f.h5"
    store_path.write_bytes(b"not an HDF5 file at all" * 100)
    notices: list[str] = []
    report = run_extraction(
        class_images, scan_images(class_images), store_path, None, spec,
        callbacks=ExtractionCallbacks(notice=notices.append),
        engine_cache={engine_key(spec, "auto"): engine},
    )  # fmt: skip
    assert report.extracted == 12 and report.recovery and report.recovery in notices


def test_failed_engine_leaves_no_empty_feature_group(class_images, spec_engine, tmp_path,
                                                     monkeypatch):  # fmt: skip
    from gui_app.core import engines
    from gui_app.core.backbones import BackboneError

    spec, engine = spec_engine
    store_path = tmp_path / "f.h5"
    _run(class_images, spec, engine, store_path)
    other = resolve_backbone("mobilenet_v2", "imagenet")

    def offline(*args, **kwargs):
        raise BackboneError("cannot download the ImageNet weights (offline)")

    monkeypatch.setattr(engines, "create_engine", offline)
    with pytest.raises(BackboneError):
        run_extraction(class_images, scan_images(class_images), store_path, None, other)
    assert list_backbone_ids(store_path) == [spec.id]
    with pytest.raises(BackboneError):
        run_extraction(class_images, scan_images(class_images), tmp_path / "new.h5", None, other)
    assert not (tmp_path / "new.h5").exists()


def test_stop_before_the_engine_loads_cancels_cleanly(class_images, spec_engine, tmp_path):
    spec, _engine = spec_engine
    report = run_extraction(
        class_images, scan_images(class_images), tmp_path / "f.h5", None, spec,
        callbacks=ExtractionCallbacks(should_stop=lambda: True),
    )  # fmt: skip
    assert report.cancelled and report.extracted == 0 and not (tmp_path / "f.h5").exists()
