"""Tests for gui_app.core.preprocess_rule: the app's decoding rule, shipped with exported models.

The exported ``loupe_preprocess.py`` is this module's file; here a byte copy of it is loaded
as a stranger would (its own module, with and without Pillow) and must give the app's pixels.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest
from PIL import Image

from gui_app.core import preprocess_rule
from gui_app.core.export import ExportError
from gui_app.core.export_client import MODULE_NAME, client_module_source, write_client_files
from gui_app.core.images import load_rgb_resized
from gui_app.core.preprocess_rule import PreprocessError, reduced_scale

RULE_FILE = Path(preprocess_rule.__file__)
TARGET = (32, 32)  # the tiny test backbone's input
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf'
    b'-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
    b'tiff:Orientation="{o}"/></rdf:RDF></x:xmpmeta>'
)


def photo(width: int, height: int, seed: int, tint: tuple[int, int, int] = (128, 128, 128)):
    """A photo-like RGB image: smooth shapes plus fine grain (so resampling details matter)."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0.0, 60.0, (max(2, height // 16), max(2, width // 16), 3))
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0.0, 30.0, (height, width, 3))
    return np.clip(np.array(tint) + smooth + grain, 0, 255).astype(np.uint8)


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def save(path: Path, rgb: np.ndarray, **params: object) -> Path:
    Image.fromarray(rgb).save(path, **params)
    return path


def write_rule_images(folder: Path, tint: tuple[int, int, int] = (128, 128, 128), seed: int = 0):
    """JPEGs smaller than, around, 3x and 9x the 32 px input, non-square, EXIF/XMP-rotated."""
    folder.mkdir(parents=True, exist_ok=True)
    q = {"quality": 90}
    files = [
        save(folder / "small.jpg", photo(20, 20, seed, tint), **q),  # enlarged
        save(folder / "three.jpg", photo(96, 96, seed + 1, tint), **q),  # 1/2 DCT scale
        save(folder / "nine.jpg", photo(288, 288, seed + 2, tint), **q),  # 1/8 DCT scale
        save(folder / "wide.jpg", photo(300, 100, seed + 3, tint), **q),  # 1/2, non-square
        save(folder / "narrow.jpg", photo(60, 150, seed + 4, tint), **q),  # full, shrunk
        save(folder / "mixed.jpg", photo(200, 24, seed + 5, tint), **q),  # shrink + enlarge
        save(folder / "rot6.jpg", photo(270, 130, seed + 6, tint), exif=exif_bytes(6), **q),
        save(folder / "rot8.jpg", photo(130, 70, seed + 7, tint), exif=exif_bytes(8), **q),
        save(folder / "rot3.jpg", photo(140, 100, seed + 8, tint), exif=exif_bytes(3), **q),
    ]
    return files


def write_other_images(folder: Path) -> list[Path]:
    """Everything else the rule handles: orientations 2-7, XMP, gray, alpha, 16 bits, WebP."""
    folder.mkdir(parents=True, exist_ok=True)
    base, files = photo(90, 50, 42), []
    for o in (2, 4, 5, 7):
        files.append(save(folder / f"o{o}.jpg", base, exif=exif_bytes(o)))
    xmp = XMP.replace(b"{o}", b"6")
    files.append(save(folder / "xmp6.jpg", base, xmp=xmp))
    files.append(save(folder / "bad_orientation.jpg", base, exif=exif_bytes(9)))
    files.append(save(folder / "gray.jpg", base[:, :, 0]))
    Image.fromarray(base).convert("CMYK").save(folder / "cmyk.jpg")
    files.append(folder / "cmyk.jpg")
    rgba = np.dstack([base, np.linspace(0, 255, 90, dtype=np.uint8)[None].repeat(50, 0)])
    files.append(save(folder / "alpha.png", rgba))
    files.append(save(folder / "exif.png", base, exif=exif_bytes(6)))
    ok, buf = cv2.imencode(".png", base.astype(np.uint16) * 257 + 3)
    assert ok
    (folder / "sixteen.png").write_bytes(buf.tobytes())
    files.append(folder / "sixteen.png")
    files.append(save(folder / "exif.webp", base, exif=exif_bytes(8), quality=90))
    files.append(save(folder / "plain.bmp", base))
    files.append(save(folder / "first.gif", base))
    return files


def load_copy(path: Path, name: str = "loupe_preprocess") -> ModuleType:
    """Import a file as its own module, as a client importing the exported copy would."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def exported(tmp_path: Path) -> ModuleType:
    out = tmp_path / "export"
    out.mkdir()
    meta = {"classes": ["a", "b"], "preprocessing": preprocess_rule.recipe(TARGET)}
    write_client_files(out, meta)
    return load_copy(out / MODULE_NAME)


def block_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import PIL`` / ``from PIL import Image`` fail, as on a machine without Pillow."""
    for name in [m for m in sys.modules if m == "PIL" or m.startswith("PIL.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "PIL", None)


# --------------------------------------------------------------------------- one source


def test_rule_module_needs_only_numpy_opencv_and_optional_pillow() -> None:
    tree = ast.parse(RULE_FILE.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    allowed = {"__future__", "io", "re", "struct", "collections", "pathlib", "typing"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            for name in names:
                root = (name or "").split(".")[0]
                assert getattr(node, "level", 0) == 0, "no relative imports"
                if root == "PIL":
                    assert id(node) not in top, "Pillow must stay optional (import it lazily)"
                else:
                    assert root in allowed | {"cv2", "numpy"}, f"{RULE_FILE.name} imports {name}"


def test_exported_module_is_the_apps_rule_byte_for_byte(tmp_path: Path) -> None:
    assert client_module_source() == RULE_FILE.read_bytes()
    meta = {"classes": ["a", "b"], "preprocessing": preprocess_rule.recipe(TARGET)}
    (tmp_path / "m.tflite").write_bytes(b"x")
    (tmp_path / "m.tflite.json").write_text("{}", encoding="utf-8")
    written = write_client_files(tmp_path, meta)
    assert [p.name for p in written] == [MODULE_NAME, "README.txt"]
    assert (tmp_path / MODULE_NAME).read_bytes() == RULE_FILE.read_bytes()
    readme = (tmp_path / "README.txt").read_text(encoding="utf-8")
    assert "m.tflite" in readme and 'load_batch(["photo.jpg"], (32, 32))' in readme
    assert "IMREAD_REDUCED_COLOR_s" in readme and "INTER_AREA" in readme


def test_frozen_builds_ship_the_rule_source(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.core.test_packaging_spec import _exec_spec

    monkeypatch.delenv("LOUPE_BUNDLE_STAGING", raising=False)
    assert (str(RULE_FILE), "gui_app/core") in _exec_spec(monkeypatch)["Analysis"][1]["datas"]
    frozen = tmp_path / "_internal" / "gui_app" / "core"
    frozen.mkdir(parents=True)
    monkeypatch.setattr(preprocess_rule, "__file__", str(frozen / "preprocess_rule.pyc"))
    with pytest.raises(ExportError, match=r"cannot read .*preprocess_rule\.py to ship"):
        client_module_source()
    (frozen / "preprocess_rule.py").write_bytes(RULE_FILE.read_bytes())  # what the spec adds
    assert client_module_source() == RULE_FILE.read_bytes()


def test_no_client_files_without_a_stated_preprocessing(tmp_path: Path) -> None:
    assert write_client_files(tmp_path, "{hand-edited, not JSON") == []
    assert write_client_files(tmp_path, '{"classes": ["a", "b"]}') == []  # an older sidecar
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("pillow", [True, False], ids=["with-pillow", "without-pillow"])
@pytest.mark.parametrize("size", [TARGET, (24, 40)])
def test_exported_copy_reproduces_the_app_pixels(
    exported: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pillow: bool,
    size: tuple[int, int],
) -> None:
    files = write_rule_images(tmp_path / "img") + write_other_images(tmp_path / "other")
    expected = {p.name: load_rgb_resized(p, size) for p in files}  # the app, with Pillow
    if not pillow:
        block_pillow(monkeypatch)
    for path in files:
        got = exported.load_rgb_resized(path, size)
        assert got.dtype == np.uint8 and got.flags.c_contiguous
        assert np.array_equal(got, expected[path.name]), path.name
    batch = exported.load_batch(files[:3], size)
    assert batch.dtype == np.float32 and batch.shape == (3, *size, 3)
    assert np.array_equal(batch, np.stack([expected[p.name] for p in files[:3]]))


def test_header_parser_without_pillow_agrees_with_pillow(tmp_path: Path) -> None:
    files = write_rule_images(tmp_path / "img") + write_other_images(tmp_path / "other")
    for path in files:
        data = path.read_bytes()
        kind = preprocess_rule.sniff(data[:12])
        width, height, orientation = preprocess_rule.read_header(data, kind)  # Pillow
        parsed = preprocess_rule._parse_header(data, kind)
        assert parsed[2] == orientation, path.name
        if kind in ("JPEG", "PNG"):
            assert parsed[:2] == (width, height), path.name
    with Image.open(tmp_path / "other" / "xmp6.jpg") as im:  # the XMP case is really XMP-only
        assert "exif" not in im.info and preprocess_rule.pil_orientation(im) == 6


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("upright", "size", "scale"),
    [
        ((20, 20), (32, 32), 1),
        ((62, 62), (32, 32), 1),
        ((63, 63), (32, 32), 2),  # ceil(63 / 2) == 32
        ((64, 64), (32, 32), 2),
        ((96, 96), (32, 32), 2),
        ((128, 128), (32, 32), 4),
        ((249, 249), (32, 32), 8),  # ceil(249 / 8) == 32
        ((248, 249), (32, 32), 4),  # ceil(248 / 8) == 31 < 32
        ((288, 288), (32, 32), 8),
        ((200, 200), (224, 224), 1),
        ((1000, 750), (224, 224), 2),
        ((300, 100), (32, 32), 2),
        ((300, 100), (32, 64), 2),  # upright (width, height), target (height, width)
        ((100, 300), (32, 64), 1),
    ],
)
def test_reduced_scale_thresholds(upright, size, scale) -> None:
    assert reduced_scale(upright, size) == scale


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_opencv_reduced_decode_rounds_up_as_the_rule_assumes(tmp_path: Path, scale: int) -> None:
    path = save(tmp_path / "odd.jpg", photo(251, 133, 1))
    flags = preprocess_rule.decode_flags("JPEG", scale)
    arr = cv2.imdecode(np.fromfile(path, np.uint8), flags)
    assert arr.shape == (-(-133 // scale), -(-251 // scale), 3)


def test_a_plain_resize_is_not_the_rule(tmp_path: Path) -> None:
    """Why the export ships the module: OpenCV read + resize differs where DCT scaling applies."""
    reduced = 0
    for path in write_rule_images(tmp_path):
        naive = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)  # EXIF applied by OpenCV
        shrink = naive.shape[0] >= TARGET[0] and naive.shape[1] >= TARGET[1]
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        naive = cv2.resize(naive, TARGET[::-1], interpolation=interpolation)
        diff = np.abs(naive.astype(int) - load_rgb_resized(path, TARGET)).max()
        with Image.open(path) as im:
            upright = im.size[::-1] if preprocess_rule.pil_orientation(im) >= 5 else im.size
        if reduced_scale(upright, TARGET) == 1:
            assert diff == 0, path.name
        else:
            reduced += 1
            assert diff >= 5, (path.name, diff)
    assert reduced == 6


def test_client_errors_are_specific(exported: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(exported.PreprocessError, match="empty file"):
        exported.load_rgb_resized(b"", TARGET)
    with pytest.raises(exported.PreprocessError, match="unreadable image header"):
        exported.load_rgb_resized(b"not an image at all", TARGET)
    big = save(tmp_path / "big.jpg", photo(300, 200, 3))
    with pytest.raises(exported.PreprocessError, match="too large: 300x200"):
        exported.load_rgb_resized(big, TARGET, max_pixels=50_000)
    with pytest.raises(ValueError, match="size must be positive"):
        exported.load_rgb_resized(big, (0, 32))
    assert exported.load_batch([], TARGET).shape == (0, 32, 32, 3)
    assert issubclass(PreprocessError, ValueError)


def test_client_errors_without_pillow(
    exported: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = save(tmp_path / "ok.jpg", photo(40, 40, 0)).read_bytes()
    block_pillow(monkeypatch)
    with pytest.raises(exported.PreprocessError, match="Pillow is not installed"):
        exported.load_rgb_resized(b"not an image at all", TARGET)
    assert exported.load_rgb_resized(data, TARGET).shape == (32, 32, 3)  # bytes work too
