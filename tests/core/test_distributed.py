"""Extraction on Dask: a LocalCluster of 2 worker processes against the in-process pipeline.

One cluster serves the module. Every run is compared with the single-process extraction of the
same images (tiny real backbone, LiteRT fp32 on both sides): vectors must be bitwise equal.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gui_app.cli import main
from gui_app.core.backbones import resolve_backbone
from gui_app.core.cluster import ClusterError, ShardTask, extract_shard, parse_scheduler
from gui_app.core.distributed import default_shard_dir
from gui_app.core.extraction import ExtractionCallbacks, run_extraction
from gui_app.core.features import ExtractionReport, stat_files
from gui_app.core.images import DEFAULT_MAX_PIXELS, scan_images
from gui_app.core.shards import (
    Shard,
    ShardError,
    list_shards,
    merge_shard,
    read_shard,
    remove_stale_temps,
    shard_folder,
    shard_name,
    write_shard,
)
from gui_app.core.store import FeatureStore, FileKey, list_backbone_ids
from tests.conftest import write_class_images

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


class KillOnce(distributed.WorkerPlugin):
    """Kills its worker process the first time any worker starts a Loupe task (marker file)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish == "executing" and str(key).startswith("loupe-"):
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os._exit(1)


def _engines_held() -> int:
    """On a worker: how many engines its process keeps."""
    from gui_app.core import cluster

    return len(cluster._ENGINES)


@pytest.fixture(scope="module")
def cluster():
    """The scheduler address of a LocalCluster with 2 single-threaded worker processes."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    ) as local:
        yield local.scheduler_address


@pytest.fixture(scope="module")
def spec(tiny_backbone):
    return resolve_backbone(str(tiny_backbone))


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """12 images in two classes plus a truncated JPEG and an empty file."""
    folder = tmp_path / "images"
    write_class_images(folder)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "empty.png").write_bytes(b"")
    return folder


def _run(root: Path, spec, store: Path, scheduler: str | None, **kwargs) -> ExtractionReport:
    return run_extraction(
        root,
        scan_images(root),
        store,
        store.parent / "engines",
        spec,
        batch_size=4,
        scheduler=scheduler,
        **kwargs,
    )


def _contents(path: Path, spec) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    with FeatureStore(path, spec.id, readonly=True) as store:
        return store.vectors_for(store.paths()), store.failures()


def _assert_same_store(got: Path, want: Path, spec) -> None:
    got_vecs, got_bad = _contents(got, spec)
    want_vecs, want_bad = _contents(want, spec)
    assert sorted(got_vecs) == sorted(want_vecs)
    for path, vector in want_vecs.items():
        assert np.array_equal(got_vecs[path], vector), path  # bitwise, not allclose
    assert got_bad == want_bad


@pytest.fixture
def reference(images: Path, spec, tmp_path: Path) -> tuple[Path, ExtractionReport]:
    """The single-process extraction of ``images``."""
    path = tmp_path / "ref" / "features.h5"
    return path, _run(images, spec, path, None)


def test_features_equal_the_single_process_run_exactly(cluster, images, spec, reference, tmp_path):
    ref_path, ref = reference
    progress, notes, extracted, failures = [], [], [], {}
    path = tmp_path / "dask" / "features.h5"
    report = _run(
        images,
        spec,
        path,
        cluster,
        callbacks=ExtractionCallbacks(
            progress=progress.append,
            notice=notes.append,
            extracted=lambda paths, vecs: extracted.extend(paths),
            failures=failures.update,
        ),
    )
    assert (
        report.summary() == ref.summary() == ("images: 14  extracted: 12  cached: 0  unreadable: 2")
    )
    assert report.unreadable == ref.unreadable == failures
    assert set(report.unreadable) == {"broken.jpg", "empty.png"}
    assert report.engine == ref.engine == "litert-xnnpack"
    _assert_same_store(path, ref_path, spec)
    assert sorted(extracted) == sorted(p for p in scan_images(images) if p not in failures)
    assert progress[-1].done == progress[-1].total == 14
    assert any(n.startswith("Dask dashboard: http") for n in notes), notes
    assert not default_shard_dir(path).exists()  # every shard merged and removed
    with distributed.Client(cluster) as client:  # each worker process holds one engine
        held = client.run(_engines_held)
    assert set(held.values()) <= {0, 1} and sum(held.values()) >= 1

    again = _run(images, spec, path, cluster)
    assert (again.extracted, again.cached, len(again.unreadable)) == (0, 12, 2)
    assert again.unreadable == ref.unreadable


def test_a_worker_killed_mid_run_still_gives_a_complete_equal_store(
    cluster, images, spec, reference, tmp_path
):
    ref_path, _ = reference
    marker = tmp_path / "killed.pid"
    with distributed.Client(cluster) as client:
        client.register_plugin(KillOnce(str(marker)), name="kill-once")
        try:
            report = _run(images, spec, tmp_path / "dask" / "features.h5", cluster)
        finally:
            client.unregister_worker_plugin("kill-once")
        killed = int(marker.read_text())
        client.wait_for_workers(2, timeout=120)  # the nanny restarts it for the next tests
        assert killed not in client.run(os.getpid).values()
    assert (report.extracted, report.cached, len(report.unreadable)) == (12, 0, 2)
    _assert_same_store(tmp_path / "dask" / "features.h5", ref_path, spec)


def test_a_killed_client_resumes_from_the_shards_written(
    cluster, images, spec, reference, tmp_path
):
    ref_path, _ = reference
    path = tmp_path / "dask" / "features.h5"
    keys, _ = stat_files(images, scan_images(images))
    folder = shard_folder(default_shard_dir(path), spec.id)
    engines = str(path.parent / "engines")
    # What a client killed after two batches leaves: their shards, never merged.
    for batch in (keys[:4], keys[4:8]):
        name = shard_name(spec.id, "auto", DEFAULT_MAX_PIXELS, batch)
        task = ShardTask(
            str(images), tuple(batch), spec, "auto", engines, DEFAULT_MAX_PIXELS,
            str(folder / name), spec.id, 1,
        )  # fmt: skip
        extract_shard(task)
    (folder / "0torn.h5").write_bytes(b"not an hdf5 file")  # a shard torn by a crash
    assert len(list_shards(folder)) == 3
    notes: list[str] = []
    report = _run(images, spec, path, cluster, callbacks=ExtractionCallbacks(notice=notes.append))
    written = sum(1 for k in keys[:8] if k.path not in ("broken.jpg", "empty.png"))
    assert report.cached == written  # merged first, then counted as cached
    assert report.extracted == 12 - written  # only the missing batches ran
    assert set(report.unreadable) == {"broken.jpg", "empty.png"}
    assert any("shard 0torn.h5 is unreadable" in n for n in notes), notes
    assert any(n.startswith("merged 3 shards") for n in notes), notes
    assert not folder.exists()
    _assert_same_store(path, ref_path, spec)


def test_cli_extract_with_a_local_cluster(images, spec, tiny_backbone, tmp_path, capsys):
    args = ["extract", str(images), "--backbone", str(tiny_backbone), "--batch-size", "4"]
    assert main([*args, "--out", str(tmp_path / "one.h5")]) == 0
    single = capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "dask.h5"), "--scheduler", "local:1"]) == 0
    dask = capsys.readouterr()
    summary = "images: 14  extracted: 12  cached: 0  unreadable: 2\n"
    assert dask.out == single.out == summary
    assert "note: local Dask cluster: 1 worker processes" in dask.err
    assert "note: Dask dashboard: http" in dask.err
    csv = (tmp_path / "dask.unreadable.csv").read_text(encoding="utf-8")
    assert csv == (tmp_path / "one.unreadable.csv").read_text(encoding="utf-8")
    assert "broken.jpg" in csv and "empty.png" in csv
    _assert_same_store(tmp_path / "dask.h5", tmp_path / "one.h5", spec)


def test_the_default_path_never_imports_dask(images, tiny_backbone, tmp_path):
    code = (
        "import sys\n"
        "from gui_app.cli import main\n"
        f"rc = main(['extract', {str(images)!r}, '--backbone', {str(tiny_backbone)!r}, '-q'])\n"
        "found = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "print(rc, found)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "0 []"


def test_scheduler_without_dask_is_a_clear_error(images, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    assert main(["extract", str(images), "--scheduler", "local:2"]) == 1
    err = capsys.readouterr().err
    assert "loupe: error: --scheduler needs Dask distributed" in err
    assert 'pip install "loupe[cluster]"' in err
    assert "Traceback" not in err
    assert not (images / ".loupe").exists()  # refused before anything was written


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("tcp://10.0.0.5:8786", ("tcp://10.0.0.5:8786", 0)),
        ("scheduler.lab:8786", ("scheduler.lab:8786", 0)),
        ("local:3", (None, 3)),
        ("LOCAL", (None, os.cpu_count() or 1)),
    ],
)
def test_parse_scheduler(text, parsed):
    assert parse_scheduler(text) == parsed


@pytest.mark.parametrize(
    ("text", "reason"),
    [("local:0", "needs at least one worker"), ("my scheduler", "not a Dask scheduler")],
)
def test_a_bad_scheduler_is_a_usage_error(images, capsys, text, reason):
    with pytest.raises(SystemExit) as exited:
        main(["extract", str(images), "--scheduler", text])
    assert exited.value.code == 2
    assert reason in capsys.readouterr().err


def test_a_shard_merged_twice_adds_nothing(tmp_path):
    keys = [FileKey("a.jpg", 10, 1), FileKey("b.jpg", 20, 2), FileKey("c.jpg", 30, 3)]
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    shard = Shard("bb", "litert-xnnpack", keys[:2], vectors, [(keys[2], "empty file (0 bytes)")])
    path = tmp_path / shard_name("bb", "auto", 100, keys)
    write_shard(path, shard)
    assert shard_name("bb", "auto", 100, keys) == path.name  # same inputs, same shard
    assert shard_name("bb", "auto", 100, [FileKey("a.jpg", 10, 4)]) != path.name
    assert list_shards(tmp_path) == [path]  # no temp file left behind
    read = read_shard(path)
    assert read.keys == keys[:2] and np.array_equal(read.vectors, vectors)
    assert read.failures == [(keys[2], "empty file (0 bytes)")]
    with FeatureStore(tmp_path / "f.h5", "bb", 3) as store:
        first = merge_shard(store, read)
        second = merge_shard(store, read)
        assert first.paths == ["a.jpg", "b.jpg"] and first.failures == {
            "c.jpg": "empty file (0 bytes)"
        }
        assert (second.paths, second.failures, len(store)) == ([], {}, 2)
        changed = {"a.jpg": FileKey("a.jpg", 10, 9)}  # a.jpg modified since: not merged
        with FeatureStore(tmp_path / "g.h5", "bb", 3) as other:
            assert merge_shard(other, read, changed).paths == []
    stale, young = tmp_path / ".x.h5.1.tmp", tmp_path / ".y.h5.2.tmp"  # killed writes
    stale.write_bytes(b"part")
    young.write_bytes(b"part")
    os.utime(stale, (1, 1))
    assert remove_stale_temps(tmp_path) == 1
    assert not stale.exists() and young.exists()  # a running task may still rename it
    (tmp_path / "torn.h5").write_bytes(b"\x89HDF\r\n")
    with pytest.raises(ShardError, match=r"torn\.h5 is unreadable"):
        read_shard(tmp_path / "torn.h5")


def test_a_worker_that_cannot_see_the_folder_says_so(spec, tmp_path):
    task = ShardTask(
        str(tmp_path / "not-mounted"), (FileKey("a.jpg", 1, 1),), spec, "auto", None,
        DEFAULT_MAX_PIXELS, str(tmp_path / "s.h5"), spec.id, 1,
    )  # fmt: skip
    with pytest.raises(ClusterError, match=r"cannot see the image folder .*not-mounted"):
        extract_shard(task)
    assert not (tmp_path / "s.h5").exists()


def test_an_unreachable_scheduler_is_one_error_line(images, tiny_backbone, monkeypatch, capsys):
    from gui_app.core import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "1s")
    args = ["extract", str(images), "--backbone", str(tiny_backbone)]
    assert main([*args, "--scheduler", "tcp://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert "loupe: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert "Traceback" not in err
    features = images / ".loupe" / "features.h5"
    assert not features.exists() or list_backbone_ids(features) == []  # no empty group


def test_a_worker_whose_engine_differs_in_precision_writes_nothing(images, spec, tmp_path):
    keys, _ = stat_files(images, ["cat.0.jpg"])
    task = ShardTask(
        str(images), tuple(keys), spec, "auto", str(tmp_path / "engines"), DEFAULT_MAX_PIXELS,
        str(tmp_path / "s.h5"), spec.id + "|int8-r1", 1, "int8", False,
    )  # fmt: skip
    with pytest.raises(ClusterError, match=r"loaded as fp32, not int8 as on this machine"):
        extract_shard(task)  # the client planned int8; this worker's engine is float32
    assert not (tmp_path / "s.h5").exists()
