"""kill -9 during feature extraction, at the store level and through the real pipeline.

Complements ``tests/core/test_cli.py`` (a CLI run killed at a random size) and
``tests/core/test_store.py`` (random kills of a writer): here the writer dies at *every* phase
of the two-phase commit, and the real pipeline (tiny Keras backbone) is killed both at a random
moment and exactly between writing a batch's rows and committing them.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pytest

from gui_app.core.h5_repair import clear_write_flag
from gui_app.core.store import FeatureStore, FileKey
from tests.conftest import write_class_images
from tests.reliability.conftest import scaled
from tests.reliability.helpers import REPO, child_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")


def _child(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability._children", *args],
        cwd=REPO,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_writer(path: Path, kill_at: int, when: str) -> tuple[int, str, str]:
    proc = _child("store", str(path), str(kill_at), when)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _store_trial(path: Path, returncode: int, out: str, err: str) -> tuple[str, int, int]:
    assert returncode == -signal.SIGKILL, err
    printed = [int(n) for n in re.findall(r"^committed (\d+)$", out, re.M)]
    promised = max(printed, default=0)

    with FeatureStore(path, "bb", 8) as store:
        if store.recovery_message is not None:  # only acceptable before the first commit
            assert promised == 0, store.recovery_message
            outcome = "rebuilt"
        else:
            outcome = "intact"
        n = len(store)
        assert n >= promised and n % 16 == 0
        np.testing.assert_array_equal(store.vectors(np.arange(n))[:, 0], np.arange(n))
        assert store.paths() == [f"img{i}.jpg" for i in range(n)]
        # Resume: appending over whatever the kill left behind must work.
        keys = [FileKey(f"img{i}.jpg", 100 + i, 7) for i in range(n, n + 40)]
        store.append(keys, np.tile(np.arange(n, n + 40, dtype=np.float32)[:, None], (1, 8)))
    with FeatureStore(path, "bb") as store:
        assert store.recovery_message is None and len(store) == n + 40
        np.testing.assert_array_equal(store.vectors(np.arange(n + 40))[:, 0], np.arange(n + 40))
    return outcome, promised, n


def test_kill_at_every_commit_phase_of_the_feature_store(tmp_path: Path) -> None:
    # Flush 1 creates the table; each append then flushes rows, commit, and every third one
    # also the buffered failure record first: the kills cover every phase several times.
    phases = [(k, when) for k in range(1, scaled(11) + 1) for when in ("before", "after")]
    paths = [tmp_path / f"features-{k}-{when}.h5" for k, when in phases]
    # The writers run in parallel; the files are checked afterwards, one by one: a Popen
    # forking while this process has an HDF5 file open would briefly share its file lock.
    with ThreadPoolExecutor(4) as pool:
        runs = list(
            pool.map(lambda job: _run_writer(job[0], *job[1]), zip(paths, phases, strict=True))
        )
    results = [_store_trial(path, *run) for path, run in zip(paths, runs, strict=True)]
    outcomes = [r[0] for r in results]
    print(dict(zip(phases, results, strict=True)))
    assert outcomes.count("intact") >= len(phases) - 2  # only a kill during creation rebuilds


@pytest.fixture(scope="module")
def pipeline(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory):
    from gui_app.core.backbones import resolve_backbone
    from gui_app.core.engines import create_engine

    spec = resolve_backbone(str(tiny_backbone))
    engines = tmp_path_factory.mktemp("engines")
    engine = create_engine(spec, engines, prefer="tf-function", log=lambda m: None)
    return spec, engine, engines, tiny_backbone


def _extract(folder: Path, h5: Path, spec, engine):
    from gui_app.core.extraction import engine_key, run_extraction
    from gui_app.core.images import scan_images

    paths = scan_images(folder)
    report = run_extraction(
        folder,
        paths,
        h5,
        None,
        spec,
        engine="tf-function",
        engine_cache={engine_key(spec, "tf-function"): engine},
    )
    with FeatureStore(h5, spec.id, readonly=True) as store:
        vectors = store.vectors_for(paths)
    return report, vectors, report.recovery


def _physical_rows(h5: Path, tmp: Path) -> tuple[int, int]:
    """(rows written, rows committed) in a killed writer's file, read from a copy."""
    copy = tmp / "inspect.h5"
    shutil.copy(h5, copy)
    assert clear_write_flag(copy)  # what FeatureStore does before repairing in place
    with h5py.File(copy, "r") as f:
        group = next(g for name, g in f.items() if name.startswith("bb_"))
        return group["paths"].shape[0], int(group.attrs["committed"])


@pytest.mark.slow
def test_extraction_killed_resumes_with_identical_features(tmp_path: Path, pipeline) -> None:
    spec, engine, engines, tiny_backbone = pipeline
    folders = []
    for name in ("random", "mid-commit"):
        folder = tmp_path / name
        write_class_images(folder, per_class=scaled(20), seed=len(folders))
        (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
        folders.append(folder)
    h5s = [f / ".loupe" / "features.h5" for f in folders]
    backbone = str(tiny_backbone)
    killer = _child("extract", str(folders[0]), backbone, str(h5s[0]), str(engines), "0")
    mid = _child("extract", str(folders[1]), backbone, str(h5s[1]), str(engines), "4")

    # Child 1: killed from outside at a random moment once a few batches are committed.
    rng = random.Random(5)
    assert killer.stdout is not None
    promised = 0
    wanted = rng.randrange(3, 8)
    for line in killer.stdout:
        if line.startswith("batch "):
            promised = int(line.split()[1])
            if promised >= 2 * wanted:
                time.sleep(rng.uniform(0.0, 0.03))
                break
    killer.send_signal(signal.SIGKILL)
    rest, err = killer.communicate(timeout=120)
    assert killer.returncode == -signal.SIGKILL, err
    promised = max([promised, *(int(n) for n in re.findall(r"^batch (\d+)$", rest, re.M))])
    assert promised >= 2 * wanted, err

    # Child 2: killed itself after writing batch 4's rows, before committing them.
    out, err = mid.communicate(timeout=240)
    assert mid.returncode == -signal.SIGKILL, err
    assert "killing before commit" in out, err
    written, committed = _physical_rows(h5s[1], tmp_path)
    assert written > committed  # the partial rows are really on disk

    n_images = 2 * scaled(20)
    for folder, h5, floor in ((folders[0], h5s[0], promised), (folders[1], h5s[1], committed)):
        report, vectors, recovery = _extract(folder, h5, spec, engine)
        assert recovery is None, recovery  # reopened in place, nothing moved aside
        assert report.cached >= floor  # every committed batch survived the kill
        assert report.cached + report.extracted == n_images  # the rest was (re)extracted
        assert set(report.unreadable) == {"broken.jpg"}
        reference, ref_vectors, _ = _extract(
            folder, tmp_path / f"ref-{folder.name}.h5", spec, engine
        )
        assert reference.extracted == n_images
        for path, vec in ref_vectors.items():
            np.testing.assert_allclose(vectors[path], vec, rtol=1e-5, atol=1e-5)
    _report, _vectors, _ = _extract(folders[1], h5s[1], spec, engine)
    assert _report.extracted == 0 and _report.cached == n_images  # a third run: all cached
