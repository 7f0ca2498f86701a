"""Tests for off-GUI-thread thumbnail decoding."""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QThread
from PySide6.QtGui import QImage

from gui_app.qt import thumbnails
from gui_app.qt.thumbnails import TOO_LARGE, ThumbnailLoader, decode_image, load_preview

ROTATED = "rotated.jpg"
CORRUPT = "broken.jpg"
UNICODE = "café_猫.png"


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    """20 files: plain JPEG/PNG, EXIF-rotated, corrupt, non-ASCII, RGBA, misnamed."""
    rng = np.random.default_rng(0)
    for i in range(15):
        w, h = 60 + 17 * i, 200 - 7 * i
        array = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        ext = "jpg" if i % 2 else "png"
        Image.fromarray(array).save(tmp_path / f"img_{i:02d}.{ext}")
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise when displayed
    Image.new("RGB", (400, 200), "red").save(tmp_path / ROTATED, exif=exif)
    (tmp_path / CORRUPT).write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg" * 4)
    Image.new("RGB", (90, 30), "blue").save(tmp_path / UNICODE)
    Image.new("RGBA", (50, 50), (0, 255, 0, 128)).save(tmp_path / "alpha.png")
    Image.new("RGB", (70, 20), "white").save(tmp_path / "misnamed.jpg", format="PNG")
    assert len(list(tmp_path.iterdir())) == 20
    return tmp_path


@pytest.fixture
def make_loader(qtbot) -> Iterator[Callable[..., ThumbnailLoader]]:
    loaders: list[ThumbnailLoader] = []

    def make(**kwargs: object) -> ThumbnailLoader:
        loader = ThumbnailLoader(**kwargs)
        loaders.append(loader)
        return loader

    yield make
    for loader in loaders:
        assert loader.shutdown()


class Collector:
    def __init__(self, loader: ThumbnailLoader) -> None:
        self.ready: dict[str, tuple[int, QImage]] = {}
        self.failed: dict[str, tuple[int, str]] = {}
        self.ready_count = 0
        loader.thumbnail_ready.connect(self._ready)
        loader.thumbnail_failed.connect(self._failed)

    def _ready(self, key: str, generation: int, image: QImage) -> None:
        self.ready_count += 1
        self.ready[key] = (generation, image)

    def _failed(self, key: str, generation: int, reason: str) -> None:
        self.failed[key] = (generation, reason)

    def done(self) -> int:
        return len(self.ready) + len(self.failed)


def test_loads_folder(image_dir: Path, make_loader, qtbot) -> None:
    loader = make_loader(size=64)
    got = Collector(loader)
    main_thread = threading.get_ident()
    thread_of_signal: list[int] = []
    loader.thumbnail_ready.connect(lambda *_: thread_of_signal.append(threading.get_ident()))
    files = sorted(image_dir.iterdir())
    for priority, path in enumerate(files):
        loader.request(path.name, path, generation=0, priority=priority)
    qtbot.waitUntil(lambda: got.done() == len(files), timeout=10_000)

    assert set(got.failed) == {CORRUPT}
    generation, reason = got.failed[CORRUPT]
    assert generation == 0
    assert reason
    assert loader.failure(CORRUPT) == reason
    assert loader.pixmap(CORRUPT) is None

    assert len(got.ready) == 19
    assert set(thread_of_signal) == {main_thread}
    for key, (_, image) in got.ready.items():
        assert max(image.width(), image.height()) <= 64, key
        pixmap = loader.pixmap(key)
        assert pixmap is not None
        assert pixmap.size() == image.size()
    rotated = got.ready[ROTATED][1]
    assert rotated.height() > rotated.width()
    assert (rotated.width(), rotated.height()) == (32, 64)
    assert got.ready[UNICODE][1].size().toTuple() == (64, 21)
    assert got.ready["alpha.png"][1].hasAlphaChannel()
    assert got.ready["misnamed.jpg"][1].width() == 64
    assert loader.pending_count() == 0
    assert loader.cached_count() == 19


def test_duplicate_and_cached_requests(image_dir: Path, make_loader, qtbot) -> None:
    loader = make_loader(size=32)
    got = Collector(loader)
    path = image_dir / "img_01.jpg"
    loader.request("a", path, 0)
    loader.request("a", path, 0)
    assert loader.is_pending("a")
    qtbot.waitUntil(lambda: "a" in got.ready, timeout=5000)
    loader.request("a", path, 0)  # cached: nothing to do
    loader.request(CORRUPT, image_dir / CORRUPT, 0)
    qtbot.waitUntil(lambda: CORRUPT in got.failed, timeout=5000)
    loader.request(CORRUPT, image_dir / CORRUPT, 0)  # known failure: not retried
    qtbot.wait(50)
    assert got.ready_count == 1
    assert loader.pending_count() == 0
    loader.invalidate("a")
    loader.request("a", path, 0)
    qtbot.waitUntil(lambda: got.ready_count == 2, timeout=5000)


def test_lru_evicts_least_recently_used(image_dir: Path, make_loader, qtbot) -> None:
    loader = make_loader(size=16, cache_items=5)
    got = Collector(loader)
    paths = sorted(image_dir.glob("img_*"))
    for path in paths[:10]:
        loader.request(path.name, path, 0)
    qtbot.waitUntil(lambda: len(got.ready) == 10, timeout=10_000)
    assert loader.cached_count() == 5
    cached = [name for name in got.ready if loader.pixmap(name) is not None]
    assert len(cached) == 5
    # Touch the oldest cached key, then add one more: the second oldest goes instead.
    order = loader.cached_keys()
    loader.pixmap(order[0])
    extra = paths[10]
    loader.request(extra.name, extra, 0)
    qtbot.waitUntil(lambda: extra.name in got.ready, timeout=5000)
    keys = loader.cached_keys()
    assert len(keys) == 5
    assert order[0] in keys
    assert order[1] not in keys
    assert keys[-1] == extra.name


def test_older_generation_dropped(
    image_dir: Path, make_loader, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    entered: list[str] = []
    decoded: list[str] = []
    original = thumbnails.decode_image

    def gated(path: Path, *args: object) -> QImage:
        entered.append(path.name)
        gate.wait(5)
        decoded.append(path.name)
        return original(path, *args)

    monkeypatch.setattr(thumbnails, "decode_image", gated)
    loader = make_loader(size=16, max_threads=1)
    got = Collector(loader)
    paths = sorted(image_dir.glob("img_*"))
    for path in paths[:5]:
        loader.request(path.name, path, generation=0)
    qtbot.waitUntil(lambda: entered == [paths[0].name], timeout=2000)  # first job decoding
    loader.set_generation(1)
    assert loader.generation() == 1
    assert loader.pending_count() == 0
    loader.request("stale", paths[6], generation=0)  # older than current: ignored
    assert not loader.is_pending("stale")
    loader.request("fresh", paths[7], generation=1)
    gate.set()
    # Queued signals arrive in order: once "fresh" is in, the stale result was dropped.
    qtbot.waitUntil(lambda: "fresh" in got.ready, timeout=5000)
    assert got.ready == {"fresh": (1, got.ready["fresh"][1])}
    assert decoded == [paths[0].name, paths[7].name]  # queued old jobs never decoded
    assert loader.pixmap(paths[0].name) is None
    loader.request(paths[0].name, paths[0], generation=2)  # newer generation becomes current
    assert loader.generation() == 2
    assert loader.pixmap("fresh") is None  # keys of generation 1 may name other files
    qtbot.waitUntil(lambda: paths[0].name in got.ready, timeout=5000)
    assert got.ready[paths[0].name][0] == 2
    loader.set_generation(3, keep_cache=True)
    assert loader.pixmap(paths[0].name) is not None


def test_too_large_not_decoded(image_dir: Path, make_loader, qtbot) -> None:
    loader = make_loader(size=32, max_pixels=1000)
    got = Collector(loader)
    loader.request("big", image_dir / "img_03.jpg", 0)
    qtbot.waitUntil(lambda: "big" in got.failed, timeout=5000)
    assert got.failed["big"] == (0, TOO_LARGE)


def test_shutdown_stops_threads(image_dir: Path, qtbot, thread_watch) -> None:
    loader = ThumbnailLoader(size=32)
    got = Collector(loader)
    for path in sorted(image_dir.iterdir()):
        loader.request(path.name, path, 0)
    assert loader.shutdown()
    assert not loader._tasks.busy()
    assert thread_watch.leaked(wait_ms=0) == []
    loader.request("late", image_dir / "img_00.png", 0)
    assert not loader.is_pending("late")
    qtbot.wait(20)  # results that were already queued are dropped after shutdown
    assert got.done() == 0


def test_thread_watch_names_leaked_qthread(thread_watch) -> None:
    release = threading.Event()

    class Blocking(QThread):
        def run(self) -> None:
            release.wait(5)

    thread = Blocking()
    thread.setObjectName("leaky-worker")
    thread.start()
    try:
        leaked = thread_watch.leaked(wait_ms=0)
        assert any("leaky-worker" in item for item in leaked), leaked
    finally:
        release.set()
        assert thread.wait(5000)
    assert thread_watch.leaked(wait_ms=0) == []


def test_load_preview(image_dir: Path) -> None:
    image, error = load_preview(image_dir / ROTATED, 100)
    assert error is None
    assert image is not None
    assert (image.width(), image.height()) == (50, 100)
    small, error = load_preview(image_dir / UNICODE, 1000)
    assert error is None
    assert small is not None
    assert (small.width(), small.height()) == (90, 30)  # never enlarged
    image, error = load_preview(image_dir / CORRUPT, 100)
    assert image is None
    assert error
    assert load_preview(image_dir / "missing.jpg", 100) == (None, "file not found")
    assert load_preview(image_dir / "img_02.png", 100, max_pixels=10) == (None, TOO_LARGE)


def fake_core_images(monkeypatch: pytest.MonkeyPatch, load_rgb: Callable) -> None:
    module = types.ModuleType("gui_app.core.images")

    class ImageError(Exception):
        pass

    module.ImageError = ImageError  # type: ignore[attr-defined]
    module.load_rgb = lambda path, max_pixels: load_rgb(path, max_pixels, ImageError)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gui_app.core.images", module)


def test_fallback_decoder_used_when_qt_fails(image_dir: Path, monkeypatch) -> None:
    array = np.zeros((40, 80, 3), dtype=np.uint8)
    array[:, :, 1] = 200  # green

    def load_rgb(path: Path, max_pixels: int, error: type) -> np.ndarray:
        assert path.name == CORRUPT
        return array[:, ::-1]  # not C-contiguous on purpose

    fake_core_images(monkeypatch, load_rgb)
    image = decode_image(image_dir / CORRUPT, 40)
    assert (image.width(), image.height()) == (40, 20)
    assert image.pixelColor(10, 10).getRgb()[:3] == (0, 200, 0)
    array[:] = 0  # the QImage owns a copy of the pixels
    assert image.pixelColor(5, 5).green() == 200


def test_fallback_reason_reported(image_dir: Path, monkeypatch) -> None:
    def load_rgb(path: Path, max_pixels: int, error: type) -> np.ndarray:
        raise error("truncated JPEG")

    fake_core_images(monkeypatch, load_rgb)
    assert load_preview(image_dir / CORRUPT, 64) == (None, "truncated JPEG")


def test_requests_of_an_old_generation_are_never_decoded(
    image_dir: Path, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    release = threading.Event()

    def decode(path, *_):
        calls.append(path)
        release.wait(5)  # the first request holds the only thread while the rest queue

    monkeypatch.setattr(thumbnails, "decode_image", decode)
    current = [1]
    path = image_dir / "img_00.png"
    with pytest.raises(thumbnails._Stale):
        thumbnails._decode_task(path, 16, 10**6, 0, lambda: current[0])
    assert calls == []
    loader = ThumbnailLoader(size=16, max_threads=1)
    got = Collector(loader)
    for n in range(50):  # queued behind each other; a new generation drops them undecoded
        loader.request(f"k{n}", path, 0)
    loader.set_generation(1)
    release.set()
    assert loader.pending_count() == 0
    assert loader.shutdown()
    qtbot.wait(20)
    assert len(calls) <= 1 and got.done() == 0
