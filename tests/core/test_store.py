"""Tests for the HDF5 feature cache (gui_app.core.store)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from gui_app.core.store import FORMAT_VERSION, FeatureStore, FileKey, StoreError

REPO = Path(__file__).resolve().parents[2]
DIM = 8


def keys(names: list[str], size: int = 100, mtime: int = 1) -> list[FileKey]:
    return [FileKey(name, size, mtime) for name in names]


def vecs(values: list[float], dim: int = DIM) -> np.ndarray:
    """One row per value, every element equal to it: rows identify themselves."""
    return np.repeat(np.asarray(values, np.float32)[:, None], dim, axis=1)


def filled(path: Path, n: int = 3, backbone: str = "bb") -> None:
    with FeatureStore(path, backbone, DIM) as store:
        store.append(keys([f"img{i}.jpg" for i in range(n)]), vecs(list(range(n))))


def group_of(f: h5py.File) -> h5py.Group:
    (name,) = [n for n in f if n.startswith("bb_")]
    return f[name]


def test_append_reopen_lookup_with_non_ascii_names(tmp_path: Path) -> None:
    folder = tmp_path / "Ünï cödé"
    folder.mkdir()
    (folder / "süß ✓.jpg").write_bytes(b"12345")
    key = FileKey.for_file(folder, "süß ✓.jpg")
    assert (key.path, key.size) == ("süß ✓.jpg", 5)
    path = folder / ".loupe" / "features.h5"
    odd = FileKey("sub/\udcff-undecodable.jpg", 1, 2)  # os.fsdecode of a non-UTF-8 name
    with FeatureStore(path, "keras:Net/ü@224", DIM) as store:
        assert store.recovery_message is None and len(store) == 0
        store.append([key, odd], vecs([1.0, 2.0]))
    with FeatureStore(path, "keras:Net/ü@224") as store:
        assert store.dim == DIM and len(store) == 2 and store.recovery_message is None
        assert store.lookup(key) == 0 and store.lookup(odd) == 1
        np.testing.assert_array_equal(store.vector(1), vecs([2.0])[0])
        assert store.paths() == ["süß ✓.jpg", "sub/\udcff-undecodable.jpg"]


def test_changed_size_or_mtime_is_a_miss(tmp_path: Path) -> None:
    filled(tmp_path / "f.h5")
    with FeatureStore(tmp_path / "f.h5", "bb") as store:
        assert store.lookup(FileKey("img1.jpg", 100, 1)) == 1
        assert store.lookup(FileKey("img1.jpg", 101, 1)) is None
        assert store.lookup(FileKey("img1.jpg", 100, 2)) is None
        assert store.lookup(FileKey("nope.jpg", 100, 1)) is None


def test_status_splits_cached_and_missing(tmp_path: Path) -> None:
    filled(tmp_path / "f.h5")
    asked = [*keys(["img0.jpg", "new.jpg"]), FileKey("img2.jpg", 100, 9), *keys(["img1.jpg"])]
    with FeatureStore(tmp_path / "f.h5", "bb") as store:
        cached, missing = store.status(asked)
    assert cached == [asked[0], asked[3]]
    assert missing == [asked[1], asked[2]]


def test_reextracted_path_supersedes_and_iter_blocks_streams(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with FeatureStore(path, "bb", DIM) as store:
        store.append(keys([f"p{i}" for i in range(10)]), vecs(list(range(10))))
        store.append([FileKey("p3", 5, 5), FileKey("p7", 5, 5)], vecs([30.0, 70.0]))
        store.append(keys(["p10", "p11"]), vecs([10.0, 11.0]))
    with FeatureStore(path, "bb") as store:
        assert len(store) == 14
        assert store.lookup(FileKey("p3", 5, 5)) == 10
        assert store.lookup(FileKey("p3", 100, 1)) is None
        order = ["p0", "p1", "p2", "p4", "p5", "p6", "p8", "p9", "p3", "p7", "p10", "p11"]
        values = [0, 1, 2, 4, 5, 6, 8, 9, 30, 70, 10, 11]
        assert store.paths() == order
        for block_rows in (1, 3, 4, 5, 100):
            blocks = list(store.iter_blocks(block_rows))
            assert [len(p) for p, _ in blocks[:-1]] == [block_rows] * (len(blocks) - 1)
            assert 0 < len(blocks[-1][0]) <= block_rows
            assert [p for ps, _ in blocks for p in ps] == order
            got = np.concatenate([v for _, v in blocks])
            np.testing.assert_array_equal(got, vecs(values))
        got = store.vectors_for(["p7", "missing", "p0"])
        assert list(got) == ["p7", "p0"] and got["p7"][0] == 70.0 and got["p0"][0] == 0.0
    with FeatureStore(tmp_path / "empty.h5", "bb", DIM) as store:
        assert list(store.iter_blocks(4)) == [] and store.paths() == []


def test_vectors_keep_requested_order(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with FeatureStore(path, "bb", DIM) as store:
        store.append(keys([f"p{i}" for i in range(2000)]), vecs(list(range(2000))))
        for rows in ([5, 1, 3, 1, 0], [1999, 2, 1000, 2], np.array([7, 6]), []):
            got = store.vectors(rows)
            assert got.shape == (len(rows), DIM) and got.dtype == np.float32
            np.testing.assert_array_equal(got[:, 0], np.asarray(rows, np.float32))
        with pytest.raises(IndexError):
            store.vectors([0, 2000])
        with pytest.raises(IndexError):
            store.vector(-1)


def test_failures_round_trip_and_are_superseded(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    bad, other = FileKey("bad.jpg", 10, 1), FileKey("ünï.png", 3, 4)
    with FeatureStore(path, "bb", DIM) as store:
        store.record_failure(bad, "cannot identify image file")
        store.record_failure(other, "truncated ✗")
        for i in range(3000):  # thousands scale: one row per failure, no JSON rewrite
            store.record_failure(FileKey(f"many{i}.jpg", i, i), f"reason {i}")
    with FeatureStore(path, "bb") as store:
        assert store.failure(bad) == "cannot identify image file"
        assert store.failure(other) == "truncated ✗"
        assert store.failure(FileKey("bad.jpg", 11, 1)) is None  # changed file: retry it
        assert len(store.failures()) == 3002 and store.failures()["many7.jpg"] == "reason 7"
        fixed = FileKey("bad.jpg", 11, 2)
        store.append([fixed], vecs([1.0]))  # the fixed file was extracted
        assert "bad.jpg" not in store.failures()
        store.record_failure(FileKey("ünï.png", 3, 5), "still bad")
    with FeatureStore(path, "bb") as store:
        assert "bad.jpg" not in store.failures() and store.lookup(fixed) == 0
        assert store.failures()["ünï.png"] == "still bad" and store.failure(other) is None


def test_two_backbones_coexist(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with FeatureStore(path, "net/a:1", 4) as a:
        a.append(keys(["x.jpg"]), vecs([1.0], 4))
    with FeatureStore(path, "net/a:2 ü", 6) as b:
        b.append(keys(["x.jpg", "y.jpg"]), vecs([2.0, 3.0], 6))
    with (
        FeatureStore(path, "net/a:1", readonly=True) as a,
        FeatureStore(path, "net/a:2 ü", readonly=True) as b,
    ):
        assert (a.dim, len(a), b.dim, len(b)) == (4, 1, 6, 2)
        assert a.vector(0)[0] == 1.0 and b.vector(0)[0] == 2.0
    with h5py.File(path, "r") as f:
        assert sorted(f[name].attrs["backbone_id"] for name in f) == ["net/a:1", "net/a:2 ü"]


def test_dim_mismatch_recreates_only_that_group(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    filled(path, backbone="bb")
    filled(path, backbone="other")
    with pytest.raises(StoreError, match="dim"):
        FeatureStore(path, "bb", DIM + 1, readonly=True)
    with FeatureStore(path, "bb", DIM + 1) as store:
        assert store.recovery_message is None and len(store) == 0 and store.dim == DIM + 1
        store.append(keys(["a"]), vecs([5.0], DIM + 1))
    with FeatureStore(path, "bb") as store:
        assert store.dim == DIM + 1 and store.paths() == ["a"]
    with FeatureStore(path, "other") as store:
        assert len(store) == 3


def test_uncommitted_rows_are_ignored_then_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    filled(path, n=5)
    with FeatureStore(path, "bb") as store:
        store.append(keys(["late0", "late1", "img0.jpg"], mtime=7), vecs([50.0, 51.0, 52.0]))
    with h5py.File(path, "r+") as f:  # as if killed between the data flush and the commit
        group_of(f).attrs["committed"] = 5
    with FeatureStore(path, "bb") as store:
        assert len(store) == 5 and store.lookup(FileKey("late0", 100, 7)) is None
        assert store.lookup(FileKey("img0.jpg", 100, 1)) == 0
        assert [p for ps, _ in store.iter_blocks() for p in ps] == [f"img{i}.jpg" for i in range(5)]
        store.append(keys(["new"]), vecs([9.0]))
    with h5py.File(path, "r") as f:
        g = group_of(f)
        assert g.attrs["committed"] == 6 and all(g[n].shape[0] == 6 for n in g if n != "failures")
    with FeatureStore(path, "bb") as store:
        assert store.paths() == [*(f"img{i}.jpg" for i in range(5)), "new"]
        assert store.vector(5)[0] == 9.0


def _truncate(path: Path) -> None:
    filled(path, n=2000)
    os.truncate(path, path.stat().st_size // 2)


def _set_version(path: Path) -> None:
    filled(path)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 41


def _drop_dataset(path: Path) -> None:
    filled(path)
    with h5py.File(path, "r+") as f:
        del group_of(f)["mtimes"]


def _overcommit(path: Path) -> None:
    filled(path)
    with h5py.File(path, "r+") as f:
        group_of(f).attrs["committed"] = 99


DAMAGE: dict[str, tuple[Callable[[Path], object], str]] = {
    "truncated": (_truncate, "truncated file"),
    "garbage": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)), "signature"),
    "empty": (lambda p: p.write_bytes(b""), "file is empty"),
    "wrong_version": (_set_version, "format_version is 42"),
    "missing_dataset": (_drop_dataset, "dataset 'mtimes' missing"),
    "overcommitted": (_overcommit, "committed count 99 exceeds 3"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_file_is_moved_aside_and_rebuilt(tmp_path: Path, kind: str) -> None:
    damage, detail = DAMAGE[kind]
    path = tmp_path / "features.h5"
    damage(path)
    before = path.read_bytes()
    with pytest.raises(StoreError, match=detail):
        FeatureStore(path, "bb", readonly=True)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]
    with FeatureStore(path, "bb", DIM) as store:
        msg = store.recovery_message
        assert msg is not None and msg.startswith("feature cache was damaged (") and detail in msg
        (aside,) = tmp_path.glob("features.h5.damaged-*")
        assert aside.read_bytes() == before and f"moved aside to {aside.name} and rebuilding" in msg
        assert len(store) == 0
        store.append(keys(["a.jpg"]), vecs([1.0]))
    with FeatureStore(path, "bb") as store:
        assert store.recovery_message is None and store.paths() == ["a.jpg"]


def test_readonly_and_closed_store_refuse_use(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with pytest.raises(StoreError, match="does not exist"):
        FeatureStore(path, "bb", readonly=True)
    assert not path.exists()
    filled(path)
    with pytest.raises(StoreError, match="no features"):
        FeatureStore(path, "unknown", readonly=True)
    with pytest.raises(StoreError, match="no dim"):
        FeatureStore(path, "unknown")
    with FeatureStore(path, "bb", readonly=True) as store:
        assert len(store) == 3
        with pytest.raises(StoreError, match="read-only"):
            store.append(keys(["x"]), vecs([1.0]))
        with pytest.raises(StoreError, match="read-only"):
            store.record_failure(FileKey("x", 1, 1), "bad")
    with pytest.raises(StoreError, match="closed"):
        store.vectors([0])
    store.close()  # twice is fine
    with FeatureStore(path, "bb") as store, pytest.raises(ValueError, match="shape"):
        store.append(keys(["x"]), vecs([1.0], DIM + 1))


def test_store_in_use_is_not_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    filled(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreError, match="in use"):
            FeatureStore(path, "bb")
    finally:
        holder.kill()
        holder.wait()
    with FeatureStore(path, "bb", readonly=True), pytest.raises(StoreError, match="in use"):
        FeatureStore(path, "bb")  # same process, read-only handle still open
    assert list(tmp_path.iterdir()) == [path]
    with FeatureStore(path, "bb") as store:
        assert len(store) == 3


HOLD = """
import sys, time
from gui_app.core.store import FeatureStore
store = FeatureStore(sys.argv[1], "bb")
print("open", flush=True)
time.sleep(60)
"""


def test_open_100k_rows_is_fast(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    n = 100_000
    with FeatureStore(path, "bb", 4) as store:
        names = [f"folder/sub/image_{i:06d}.jpg" for i in range(n)]
        store.append(keys(names), np.zeros((n, 4), np.float32))
    start = time.perf_counter()
    with FeatureStore(path, "bb") as store:
        elapsed = time.perf_counter() - start
        assert len(store) == n and store.lookup(FileKey(names[-1], 100, 1)) == n - 1
    assert elapsed < 1.0, f"opening 100k rows took {elapsed:.2f} s"


WRITER = """
import sys
import numpy as np
from gui_app.core.store import FeatureStore, FileKey
store = FeatureStore(sys.argv[1], "bb", 256)
n = len(store)
while True:
    block = [FileKey(f"img{n + i}.jpg", n + i, n + i) for i in range(64)]
    store.append(block, np.tile(np.arange(n, n + 64, dtype=np.float32)[:, None], (1, 256)))
    if n % 256 == 0:
        store.record_failure(FileKey(f"bad{n}.jpg", 1, 1), "unreadable")
    n = len(store)
    sys.stdout.write(f"committed {n}\\n")
    sys.stdout.flush()
"""


def check_rows(store: FeatureStore, n: int) -> None:
    assert len(store) == n
    np.testing.assert_array_equal(store.vectors(np.arange(n))[:, 0], np.arange(n))
    assert store.paths() == [f"img{i}.jpg" for i in range(n)]


@pytest.mark.parametrize("kill_after", [1, 4, 9])
def test_sigkill_while_writing_never_crashes_reopen(tmp_path: Path, kill_after: int) -> None:
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("needs SIGKILL")
    path = tmp_path / "features.h5"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    printed = 0
    try:
        for line in writer.stdout:
            printed = int(line.split()[1])
            if printed >= kill_after * 64:
                break
    finally:
        writer.send_signal(signal.SIGKILL)  # usually lands in the middle of the next append
        writer.wait()
    # a line cut by the kill is ignored: only whole lines were promised
    done = [int(m) for m in re.findall(r"^committed (\d+)\n", writer.stdout.read(), re.M)]
    writer.stdout.close()
    assert printed >= kill_after * 64, "writer died on its own"
    printed = max([printed, *done])

    with FeatureStore(path, "bb", 256) as store:
        if store.recovery_message is not None:  # outcome 2: detected and rebuilt
            assert "damaged" in store.recovery_message and len(store) == 0
            assert list(tmp_path.glob("features.h5.damaged-*"))
        else:  # outcome 1: every printed commit survived intact
            assert len(store) >= printed and len(store) % 64 == 0
            check_rows(store, len(store))
            if len(store) > 64:  # bad0 is buffered until the second append
                assert store.failure(FileKey("bad0.jpg", 1, 1)) == "unreadable"
        n = len(store)  # appending over whatever the kill left behind must work
        for start in (n, n + 700):
            keys_ = [FileKey(f"img{i}.jpg", 1, 1) for i in range(start, start + 700)]
            store.append(keys_, vecs(list(range(start, start + 700)), 256))
    with FeatureStore(path, "bb") as store:
        assert store.recovery_message is None
        check_rows(store, n + 1400)


def test_read_rows_matches_iter_blocks_for_a_shuffled_pass(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path / "f.h5", "bb", 4)
    keys = [FileKey(f"p{i}.jpg", i, i) for i in range(50)]
    store.append(keys, np.arange(200, dtype=np.float32).reshape(50, 4))
    store.append([FileKey("p3.jpg", 99, 99)], np.full((1, 4), -1, np.float32))  # supersedes p3
    rows = store.latest_rows()
    assert len(rows) == 50 and list(rows) == sorted(rows)
    paths, vectors = store.read_rows(rows)
    streamed = {p: v for ps, vs in store.iter_blocks(7) for p, v in zip(ps, vs, strict=True)}
    assert dict(zip(paths, map(tuple, vectors), strict=True)) == {
        p: tuple(v) for p, v in streamed.items()
    }
    assert tuple(vectors[paths.index("p3.jpg")]) == (-1, -1, -1, -1)
    store.close()
