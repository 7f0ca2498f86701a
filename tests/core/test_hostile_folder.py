"""`loupe extract` on a folder that mixes good images with every kind of bad one."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from gui_app.cli import main
from gui_app.core.backbones import resolve_backbone
from gui_app.core.store import FeatureStore

pytestmark = pytest.mark.slow


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def _scene(h: int = 48, w: int = 72) -> np.ndarray:
    """An asymmetric RGB picture: rotating it changes what a CNN sees."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 3] = (230, 30, 30)
    img[h // 2 :, w // 3 :] = (30, 30, 230)
    img[:, -6:] = (250, 250, 40)
    return img


def build_hostile_folder(folder: Path) -> dict[str, str | None]:
    """Write the files; return name -> expected reason fragment (None for good files)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (64, 64, 3), np.uint8)
    Image.fromarray(noisy).save(folder / "good.jpg", quality=95)
    data = (folder / "good.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "garbage.jpg").write_bytes(rng.integers(0, 256, 4000, np.uint8).tobytes())
    (folder / "huge.png").write_bytes(_png_claiming(30000, 30000))
    deep = (np.linspace(0, 65535, 48 * 48).reshape(48, 48)).astype(np.uint16)
    cv2.imwrite(str(folder / "sixteen-bit.png"), np.dstack([deep, deep[::-1], deep.T]))
    Image.fromarray(_scene()).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    rgba = np.dstack([_scene(), np.full((48, 72), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    Image.fromarray(_scene()).convert("L").save(folder / "gray.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(_scene()).save(folder / "rotated.jpg", exif=exif, quality=100)
    Image.fromarray(np.rot90(_scene(), k=-1).copy()).save(folder / "upright.jpg", quality=100)
    Image.fromarray(_scene()).save(folder / "sideways.jpg", quality=100)
    Image.fromarray(noisy).save(folder / "Ünïcödé 猫 photo.png")
    return {
        "good.jpg": None,
        "truncated.jpg": "truncated JPEG",
        "zero.jpg": "empty file (0 bytes)",
        "garbage.jpg": "not an image",
        "huge.png": "too large: 30000x30000",
        "sixteen-bit.png": None,
        "cmyk.jpg": None,
        "alpha.png": None,
        "gray.png": None,
        "rotated.jpg": None,
        "upright.jpg": None,
        "sideways.jpg": None,
        "Ünïcödé 猫 photo.png": None,
    }


def test_every_bad_file_has_its_reason_and_every_good_one_features(tmp_path, tiny_backbone, capsys):
    folder = tmp_path / "mixed folder"
    expected = build_hostile_folder(folder)
    assert main(["extract", str(folder), "--backbone", str(tiny_backbone)]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert out == "images: 13  extracted: 9  cached: 0  unreadable: 4"

    reasons = dict(
        line.split(",", 1)
        for line in (folder / ".loupe" / "unreadable.csv").read_text().splitlines()[1:]
    )
    bad = {name: frag for name, frag in expected.items() if frag}
    assert set(reasons) == set(bad)
    for name, fragment in bad.items():
        assert fragment in reasons[name], (name, reasons[name])
    assert len(set(reasons.values())) == len(reasons), "each bad file needs its own reason"

    spec = resolve_backbone(str(tiny_backbone))
    with FeatureStore(folder / ".loupe" / "features.h5", spec.id, readonly=True) as store:
        vectors = store.vectors_for(expected)
    good = {name for name, frag in expected.items() if frag is None}
    assert set(vectors) == good
    for name in good:
        assert np.isfinite(vectors[name]).all()
    # The EXIF-rotated photo is read upright: it matches the upright copy, not the raw pixels.
    to_upright = np.linalg.norm(vectors["rotated.jpg"] - vectors["upright.jpg"])
    to_sideways = np.linalg.norm(vectors["rotated.jpg"] - vectors["sideways.jpg"])
    assert to_upright < 0.25 * to_sideways
