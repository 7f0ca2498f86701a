"""Image fuzzing: hundreds of mutated files never crash decoding or extraction.

Every file either decodes to a valid ``(H, W, 3)`` uint8 RGB array or is flagged with a
non-empty reason (`ImageError`). Mutations are deterministic (seeded): bit flips, truncation,
header edits, swapped magic bytes, wrong extensions, appended junk, zeroed blocks, and headers
claiming absurd sizes.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from gui_app.core.images import ImageError, load_rgb, load_rgb_resized
from tests.reliability.conftest import scaled

# Pillow warns about the damage it skips over (truncated TIFF tags, corrupt EXIF): expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MAGIC = {
    "jpg": b"\xff\xd8\xff\xe0",
    "png": b"\x89PNG\r\n\x1a\n",
    "gif": b"GIF89a",
    "bmp": b"BM",
    "tif": b"II*\x00",
    "webp": b"RIFF\x00\x00\x00\x00WEBP",
}
WRONG_EXT = {"jpg": "png", "png": "jpg", "gif": "bmp", "bmp": "gif", "tif": "jpg", "webp": "tif"}


def _pil(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _cv(rgb: np.ndarray, ext: str, params: tuple = ()) -> bytes:
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), list(params))
    assert ok
    return buf.tobytes()


def base_images() -> dict[str, tuple[str, bytes]]:
    """Small valid images of many flavours: name -> (extension, bytes)."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 27, 3), dtype=np.uint8)
    rgba = np.dstack([rgb, rng.integers(0, 256, (20, 27), dtype=np.uint8)])
    gray16 = rng.integers(0, 65536, (19, 23), dtype=np.uint16)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: exercises the orientation path
    pil = Image.fromarray(rgb)
    return {
        "baseline": ("jpg", _cv(rgb, ".jpg", (cv2.IMWRITE_JPEG_QUALITY, 80))),
        "progressive": ("jpg", _pil(pil, "JPEG", progressive=True, quality=70)),
        "exif-rotated": ("jpg", _pil(pil, "JPEG", exif=exif.tobytes())),
        "rgb": ("png", _cv(rgb, ".png")),
        "rgba": ("png", _pil(Image.fromarray(rgba), "PNG")),
        "gray16": ("png", cv2.imencode(".png", gray16)[1].tobytes()),
        "palette": ("png", _pil(pil.convert("P"), "PNG")),
        "bmp": ("bmp", _cv(rgb, ".bmp")),
        "gif": ("gif", _pil(pil.convert("P"), "GIF")),
        "tiff": ("tif", _pil(pil, "TIFF", compression="tiff_deflate")),
        "webp": ("webp", _cv(rgb, ".webp")),
    }


def _png_with_size(width: int, height: int) -> bytes:
    """A PNG whose (checksummed, valid) header claims ``width`` x ``height``."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    idat = zlib.compress(b"\0" * 64)
    return MAGIC["png"] + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _specials() -> dict[str, bytes]:
    gif_huge = bytearray(_pil(Image.new("P", (4, 4)), "GIF"))
    gif_huge[6:10] = struct.pack("<HH", 65535, 65535)
    bmp_negative = bytearray(_cv(np.zeros((4, 4, 3), np.uint8), ".bmp"))
    bmp_negative[18:26] = struct.pack("<ii", -5, -2_000_000_000)
    return {
        "empty.jpg": b"",
        "one-byte.png": b"\x89",
        "text.jpg": b"hello, I am text with a .jpg name\n" * 10,
        "html.png": b"<html><body>not an image</body></html>",
        "huge-png.png": _png_with_size(50_000, 50_000),
        "zero-size.png": _png_with_size(0, 0),
        "one-pixel-claim.png": _png_with_size(1, 1),
        "huge-gif.gif": bytes(gif_huge),
        "negative-bmp.bmp": bytes(bmp_negative),
        "zeros.jpg": b"\0" * 4096,
        "magic-only.jpg": MAGIC["jpg"],
        "riff-not-webp.webp": b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\0" * 64,
        "noext": b"\xff\xd8\xff",
        "unsupported.txt": b"\xff\xd8\xff\xe0",
    }


def fuzz_corpus(folder: Path) -> list[Path]:
    """Write the mutated images (deterministic) and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = dict(_specials())
    flips = scaled(7)
    for b, (name, (ext, data)) in enumerate(base_images().items()):
        rng = np.random.default_rng(1000 + b)
        n = len(data)
        variants: dict[str, bytes] = {}
        for k in range(flips):  # bit flips anywhere, 1 to 64 of them
            buf = bytearray(data)
            for pos in rng.integers(0, n, size=int(rng.choice([1, 4, 16, 64]))):
                buf[pos] ^= 1 << int(rng.integers(0, 8))
            variants[f"flip{k}"] = bytes(buf)
        for frac in (0.1, 0.5, 0.9):
            variants[f"cut{int(frac * 100)}"] = data[: int(n * frac)]
        variants["cut-last2"] = data[:-2]
        header = bytearray(data)
        header[4:40] = rng.integers(0, 256, 36, dtype=np.uint8).tobytes()
        variants["header-noise"] = bytes(header)
        variants["header-zero"] = b"\0" * 32 + data[32:]
        other = MAGIC["png" if ext != "png" else "jpg"]
        variants["swapped-magic"] = other + data[len(other) :]
        variants["junk-after"] = data + rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
        zeroed = bytearray(data)
        zeroed[n // 3 : n // 3 + 64] = b"\0" * min(64, n - n // 3)
        variants["zeroed-block"] = bytes(zeroed)
        for kind, payload in variants.items():
            files[f"{name}-{kind}.{ext}"] = payload
        files[f"{name}-wrong-ext.{WRONG_EXT[ext]}"] = data
        files[f"{name}-valid.{ext}"] = data
    paths = []
    for fname, payload in sorted(files.items()):
        path = folder / fname
        path.write_bytes(payload)
        paths.append(path)
    return paths


def _check(result: object) -> str | None:
    """None if ``result`` is a valid decoded image, else what is wrong with it."""
    if not isinstance(result, np.ndarray):
        return f"returned {type(result).__name__}"
    if result.dtype != np.uint8 or result.ndim != 3 or result.shape[2] != 3:
        return f"bad array {result.dtype} {result.shape}"
    if min(result.shape[:2]) < 1 or not result.flags.c_contiguous:
        return f"bad layout {result.shape} contiguous={result.flags.c_contiguous}"
    return None


def test_fuzzed_images_decode_or_give_a_reason(tmp_path: Path) -> None:
    paths = fuzz_corpus(tmp_path / "fuzz")
    assert len(paths) >= 200 or scaled(7) < 7
    problems, outcomes = [], {"decoded": 0, "flagged": 0}
    for path in paths:
        for what, call in (
            ("load_rgb", lambda p: load_rgb(p)),
            ("load_rgb_resized", lambda p: load_rgb_resized(p, (32, 32))),
        ):
            try:
                result = call(path)
            except ImageError as exc:
                if not (isinstance(exc.reason, str) and exc.reason.strip()):
                    problems.append(f"{path.name}: {what}: empty reason")
                outcomes["flagged"] += 1
                continue
            except Exception as exc:  # the point of the test: nothing else may escape
                problems.append(f"{path.name}: {what}: {type(exc).__name__}: {exc}")
                continue
            bad = _check(result)
            if bad is None and what == "load_rgb_resized" and result.shape != (32, 32, 3):
                bad = f"resized to {result.shape}"
            if bad:
                problems.append(f"{path.name}: {what}: {bad}")
            outcomes["decoded"] += 1
    print(f"{len(paths)} files: {outcomes}")
    assert not problems, "\n".join(problems)
    assert outcomes["decoded"] >= 40 and outcomes["flagged"] >= 40  # both paths exercised


def test_specific_reasons_for_known_damage(tmp_path: Path) -> None:
    paths = {p.name: p for p in fuzz_corpus(tmp_path / "fuzz")}
    reasons = {}
    for name in ("empty.jpg", "huge-png.png", "unsupported.txt", "noext", "baseline-cut50.jpg",
                 "rgb-cut50.png", "text.jpg", "huge-gif.gif"):  # fmt: skip
        with pytest.raises(ImageError) as info:
            load_rgb(paths[name])
        reasons[name] = info.value.reason
    assert reasons["empty.jpg"] == "empty file (0 bytes)"
    assert reasons["huge-png.png"].startswith("too large: 50000x50000")
    assert reasons["huge-gif.gif"].startswith("too large: 65535x65535")
    assert reasons["unsupported.txt"] == "unsupported file type: .txt"
    assert reasons["noext"] == "unsupported file type: (no extension)"
    assert reasons["baseline-cut50.jpg"].startswith("truncated JPEG")
    assert reasons["rgb-cut50.png"].startswith("truncated PNG")
    assert reasons["text.jpg"] == "not an image (unrecognised file header)"
    for name in ("rgb-wrong-ext.jpg", "baseline-wrong-ext.png", "gif-wrong-ext.bmp"):
        assert _check(load_rgb(paths[name])) is None  # content decides, not the extension


@pytest.mark.slow
def test_fuzzed_folder_through_the_extraction_pipeline(tmp_path: Path, tiny_backbone) -> None:
    from gui_app.core.backbones import resolve_backbone
    from gui_app.core.engines import create_engine
    from gui_app.core.extraction import engine_key, run_extraction
    from gui_app.core.images import scan_images
    from gui_app.core.store import FeatureStore

    folder = tmp_path / "fuzz"
    fuzz_corpus(folder)
    spec = resolve_backbone(str(tiny_backbone))
    engine = create_engine(spec, tmp_path / "engines", prefer="tf-function", log=lambda m: None)
    rel = scan_images(folder)
    report = run_extraction(
        folder,
        rel,
        tmp_path / "f.h5",
        None,
        spec,
        engine="tf-function",
        batch_size=16,
        engine_cache={engine_key(spec, "tf-function"): engine},
    )
    with FeatureStore(tmp_path / "f.h5", spec.id, readonly=True) as store:
        assert report.extracted + len(report.unreadable) == len(rel) >= 200
        assert all(isinstance(r, str) and r.strip() for r in report.unreadable.values())
        assert store.failures() == report.unreadable  # remembered, so reruns skip them
        vectors = store.vectors(np.arange(len(store)))
        assert len(store) == report.extracted and np.isfinite(vectors).all()
    for path in rel:  # the pipeline agrees with the decoder about every file
        try:
            load_rgb_resized(folder / path, spec.input_size)
        except ImageError:
            assert path in report.unreadable, path
        else:
            assert path not in report.unreadable, (path, report.unreadable.get(path))
