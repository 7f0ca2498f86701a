"""Tests for gui_app.core.images (all images are generated in tmp_path)."""

from __future__ import annotations

import io
import os
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from gui_app.core import images
from gui_app.core.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    ImageError,
    iter_images,
    load_rgb,
    load_rgb_resized,
    read_image_size,
    scan_images,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def quadrants(h: int = 40, w: int = 60) -> np.ndarray:
    """RGB image: red top-left, green top-right, blue bottom-left, white bottom-right."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[: h // 2, : w // 2] = RED
    arr[: h // 2, w // 2 :] = GREEN
    arr[h // 2 :, : w // 2] = BLUE
    arr[h // 2 :, w // 2 :] = WHITE
    return arr


def save(path: Path, arr: np.ndarray, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kwargs)
    return path


def assert_close(pixel: np.ndarray, expected: tuple[int, int, int], tol: int = 12) -> None:
    diff = np.abs(pixel.astype(int) - np.array(expected))
    assert diff.max() <= tol, f"{pixel.tolist()} != {expected}"


def check_rgb(arr: np.ndarray, shape: tuple[int, int]) -> None:
    assert arr.dtype == np.uint8
    assert arr.shape == (*shape, 3)
    assert arr.flags.c_contiguous


def reason(path: Path, **kwargs: object) -> str:
    with pytest.raises(ImageError) as info:
        load_rgb(path, **kwargs)
    assert str(info.value) == info.value.reason
    return info.value.reason


# ------------------------------------------------------------------ constants / basic decode


def test_constants() -> None:
    assert {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"} == IMAGE_EXTENSIONS
    assert DEFAULT_MAX_PIXELS == 100_000_000


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".jpg"])
def test_formats_decode_to_rgb(tmp_path: Path, ext: str) -> None:
    src = quadrants()
    kwargs = {"lossless": True} if ext == ".webp" else {}
    arr = load_rgb(save(tmp_path / f"q{ext}", src, **kwargs))
    check_rgb(arr, (40, 60))
    corners = [(5, 5), (5, 55), (35, 5), (35, 55)]
    for (y, x), colour in zip(corners, [RED, GREEN, BLUE, WHITE], strict=True):
        assert_close(arr[y, x], colour, tol=0 if ext != ".jpg" else 12)


def test_unicode_and_space_path(tmp_path: Path) -> None:
    path = save(tmp_path / "my photos" / "Ünïcödé 猫 photo.jpg", quadrants())
    arr = load_rgb(path)
    check_rgb(arr, (40, 60))
    assert_close(arr[5, 5], RED)
    assert read_image_size(path) == (60, 40)
    assert scan_images(tmp_path) == ["my photos/Ünïcödé 猫 photo.jpg"]


def test_grayscale(tmp_path: Path) -> None:
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    arr = load_rgb(save(tmp_path / "g.png", gray))
    check_rgb(arr, (16, 16))
    assert (arr == gray[:, :, None]).all()


def test_grayscale_alpha_composited_on_white(tmp_path: Path) -> None:
    la = np.zeros((8, 8, 2), np.uint8)
    la[:, :4] = (0, 255)  # opaque black
    la[:, 4:] = (0, 0)  # transparent black -> white
    arr = load_rgb(save(tmp_path / "la.png", la))
    check_rgb(arr, (8, 8))
    assert (arr[:, :4] == 0).all() and (arr[:, 4:] == 255).all()


def test_rgba_alpha_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 3, 4), np.uint8)
    rgba[0] = (255, 0, 0, 255)  # opaque red
    rgba[1] = (10, 20, 30, 0)  # fully transparent
    rgba[2] = (0, 0, 0, 128)  # half black
    rgba[3] = (0, 0, 255, 255)
    arr = load_rgb(save(tmp_path / "a.png", rgba))
    check_rgb(arr, (4, 3))
    assert (arr[0] == RED).all()
    assert (arr[1] == WHITE).all()
    assert (arr[2] == 127).all()
    assert (arr[3] == BLUE).all()


def test_transparent_gif_pixel_becomes_white(tmp_path: Path) -> None:
    im = Image.new("P", (6, 6), 2)
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    im.paste(0, (0, 0, 3, 6))
    im.save(tmp_path / "t.gif", transparency=2)
    arr = load_rgb(tmp_path / "t.gif")
    assert (arr[:, :3] == RED).all() and (arr[:, 3:] == WHITE).all()


def test_animated_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in (GREEN, RED)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert (load_rgb(tmp_path / "anim.gif") == GREEN).all()


def test_16bit_gray_and_rgb_png(tmp_path: Path) -> None:
    gray = np.arange(0, 65536, 256, dtype=np.uint16).reshape(16, 16)
    gray[0, :4] = (0, 128, 129, 65535)
    cv2.imwrite(str(tmp_path / "g16.png"), gray)
    arr = load_rgb(tmp_path / "g16.png")
    check_rgb(arr, (16, 16))
    expected = (gray / 257).round().astype(np.uint8)
    assert (arr == expected[:, :, None]).all()
    assert arr[0, :4, 0].tolist() == [0, 0, 1, 255]

    rgb16 = np.zeros((4, 4, 3), np.uint16)
    rgb16[..., 0] = 65535  # red channel full
    rgb16[..., 1] = 30000
    cv2.imwrite(str(tmp_path / "c16.png"), rgb16[:, :, ::-1])  # cv2 writes BGR
    arr = load_rgb(tmp_path / "c16.png")
    check_rgb(arr, (4, 4))
    assert arr[0, 0].tolist() == [255, round(30000 / 257), 0]


def test_16bit_rgba_png(tmp_path: Path) -> None:
    bgra = np.zeros((2, 2, 4), np.uint16)
    bgra[0] = (0, 0, 65535, 65535)  # opaque red
    bgra[1] = (0, 0, 65535, 0)  # transparent
    cv2.imwrite(str(tmp_path / "a16.png"), bgra)
    arr = load_rgb(tmp_path / "a16.png")
    assert (arr[0] == RED).all() and (arr[1] == WHITE).all()


def test_cmyk_jpeg_stays_red(tmp_path: Path) -> None:
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    arr = load_rgb(tmp_path / "cmyk.jpg")
    check_rgb(arr, (32, 32))
    assert_close(arr[16, 16], RED, tol=20)


def test_grayscale_jpeg(tmp_path: Path) -> None:
    arr = load_rgb(save(tmp_path / "g.jpg", np.full((8, 8), 200, np.uint8)))
    check_rgb(arr, (8, 8))
    assert_close(arr[4, 4], (200, 200, 200), tol=2)


def test_uppercase_extension_loads(tmp_path: Path) -> None:
    arr = load_rgb(save(tmp_path / "UP.PNG", quadrants(), format="PNG"))
    check_rgb(arr, (40, 60))


# ------------------------------------------------------------------ EXIF orientation


def exif(orientation: int) -> Image.Exif:
    data = Image.Exif()
    data[0x0112] = orientation
    return data


def test_jpeg_exif_orientation_6_is_upright(tmp_path: Path) -> None:
    path = save(tmp_path / "o6.jpg", quadrants(40, 60), exif=exif(6), quality=95)
    arr = load_rgb(path)
    # Orientation 6: rotate 90 degrees clockwise to display; stored top-left lands top-right.
    check_rgb(arr, (60, 40))
    assert_close(arr[5, 35], RED)  # top-right
    assert_close(arr[55, 35], GREEN)  # bottom-right
    assert_close(arr[5, 5], BLUE)  # top-left
    assert read_image_size(path) == (40, 60)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_orientation_matches_opencv(tmp_path: Path, orientation: int) -> None:
    # cv2.imdecode(IMREAD_COLOR) applies EXIF orientation for JPEG: results must be identical.
    path = save(tmp_path / "o.jpg", quadrants(40, 60), exif=exif(orientation))
    expected = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert np.array_equal(load_rgb(path), expected)


@pytest.mark.parametrize("ext", [".png", ".webp", ".tif"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow(tmp_path: Path, ext: str, orientation: int) -> None:
    src = quadrants(4, 6)
    src[0, 0] = (1, 2, 3)  # make every orientation distinguishable
    kwargs = {"lossless": True} if ext == ".webp" else {}
    path = save(tmp_path / f"o{ext}", src, exif=exif(orientation), **kwargs)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    arr = load_rgb(path)
    assert np.array_equal(arr, expected)
    assert read_image_size(path) == (arr.shape[1], arr.shape[0])


# ------------------------------------------------------------------ failures


def test_missing_file(tmp_path: Path) -> None:
    assert reason(tmp_path / "nope.jpg") == "cannot read file: No such file or directory"
    with pytest.raises(ImageError, match="No such file"):
        read_image_size(tmp_path / "nope.jpg")


def test_directory_path(tmp_path: Path) -> None:
    (tmp_path / "folder.jpg").mkdir()
    assert reason(tmp_path / "folder.jpg").startswith("cannot read file: ")
    with pytest.raises(ImageError, match="cannot read file: "):
        read_image_size(tmp_path / "folder.jpg")


def test_unsupported_extension(tmp_path: Path) -> None:
    path = save(tmp_path / "notes.txt", quadrants(), format="PNG")
    assert reason(path) == "unsupported file type: .txt"
    (tmp_path / "README").write_text("x")
    assert reason(tmp_path / "README") == "unsupported file type: (no extension)"


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").touch()
    assert reason(tmp_path / "empty.jpg") == "empty file (0 bytes)"
    with pytest.raises(ImageError, match=r"empty file \(0 bytes\)"):
        read_image_size(tmp_path / "empty.jpg")


def test_random_bytes_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "noise.jpg"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    assert reason(path) == "not an image (unrecognised file header)"
    with pytest.raises(ImageError, match="not an image"):
        read_image_size(path)


def png_bytes(width: int, height: int) -> bytes:
    """A tiny 1x1 PNG whose IHDR (with a valid CRC) claims width x height."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_png_helper_is_valid(tmp_path: Path) -> None:
    (tmp_path / "one.png").write_bytes(png_bytes(1, 1))
    assert load_rgb(tmp_path / "one.png").tolist() == [[list(RED)]]


def test_too_large_refused_from_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bytes(30000, 30000))

    def no_decode(*args: object) -> None:
        raise AssertionError("must not decode pixels")

    monkeypatch.setattr(cv2, "imdecode", no_decode)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        msg = reason(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < 50_000_000
    assert msg == "too large: 30000x30000 = 900.0 Mpx exceeds limit of 100.0 Mpx"
    assert read_image_size(path) == (30000, 30000)


def test_custom_pixel_limit(tmp_path: Path) -> None:
    path = save(tmp_path / "q.png", quadrants(40, 60))
    assert reason(path, max_pixels=2000) == (
        "too large: 60x40 = 0.0024 Mpx exceeds limit of 0.002 Mpx"
    )
    assert load_rgb(path, max_pixels=2400).shape == (40, 60, 3)


def noisy(h: int = 64, w: int = 64) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (h, w, 3), np.uint8)


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_jpeg(tmp_path: Path, keep: float) -> None:
    data = save(tmp_path / "full.jpg", noisy()).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: int(len(data) * keep)])
    assert reason(tmp_path / "cut.jpg") == "truncated JPEG (missing end-of-image marker)"


def test_jpeg_missing_only_eoi(tmp_path: Path) -> None:
    data = save(tmp_path / "full.jpg", noisy()).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:-2])
    assert reason(tmp_path / "cut.jpg") == "truncated JPEG (missing end-of-image marker)"


def test_jpeg_cut_inside_headers(tmp_path: Path) -> None:
    # Cut inside the headers, before any scan data.
    data = save(tmp_path / "full.jpg", noisy(), exif=exif(1)).read_bytes()
    sos = data.index(b"\xff\xda")
    (tmp_path / "cut.jpg").write_bytes(data[: sos - 10])
    assert reason(tmp_path / "cut.jpg").startswith("truncated JPEG")


def test_truncated_jpeg_with_eoi_in_thumbnail(tmp_path: Path) -> None:
    # An EXIF thumbnail carries its own FFD8..FFD9 inside APP1: it must not count as the EOI.
    data = save(tmp_path / "full.jpg", noisy()).read_bytes()
    payload = b"Exif\x00\x00" + b"\xff\xd8\xff\xdb" + b"\x00" * 40 + b"\xff\xd9"
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    with_thumb = data[:2] + app1 + data[2:]
    (tmp_path / "thumb.jpg").write_bytes(with_thumb)
    assert load_rgb(tmp_path / "thumb.jpg").shape == (64, 64, 3)
    (tmp_path / "cut.jpg").write_bytes(with_thumb[: len(with_thumb) * 3 // 4])
    assert reason(tmp_path / "cut.jpg") == "truncated JPEG (missing end-of-image marker)"


def test_jpeg_with_padding_or_trailer_is_fine(tmp_path: Path) -> None:
    data = save(tmp_path / "full.jpg", quadrants()).read_bytes()
    (tmp_path / "pad.jpg").write_bytes(data + b"\x00" * 32 + b"\r\n")
    (tmp_path / "trailer.jpg").write_bytes(data + b"SEFT trailer \x01\x02\xff" * 8)
    for name in ("pad.jpg", "trailer.jpg"):
        assert_close(load_rgb(tmp_path / name)[5, 5], RED)


def test_progressive_jpeg_truncated(tmp_path: Path) -> None:
    data = save(tmp_path / "p.jpg", noisy(), progressive=True).read_bytes()
    assert load_rgb(tmp_path / "p.jpg").shape == (64, 64, 3)
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 2 // 3])
    assert reason(tmp_path / "cut.jpg").startswith("truncated JPEG")


@pytest.mark.parametrize("cut", [12, 200])
def test_truncated_png(tmp_path: Path, cut: int) -> None:
    data = save(tmp_path / "full.png", noisy()).read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:-cut])
    assert reason(tmp_path / "cut.png") == "truncated PNG (missing IEND chunk)"


def test_truncated_gif_and_webp_fail_specifically(tmp_path: Path) -> None:
    for ext in (".gif", ".webp"):
        data = save(tmp_path / f"full{ext}", noisy()).read_bytes()
        (tmp_path / f"cut{ext}").write_bytes(data[: len(data) // 2])
        msg = reason(tmp_path / f"cut{ext}")
        assert msg.startswith(("decoder failed: ", f"corrupt {ext[1:].upper()} header: ")), msg
        assert len(msg) > len("decoder failed: ")


def test_corrupt_png_header(tmp_path: Path) -> None:
    data = bytearray(png_bytes(4, 4))
    data[20] ^= 0xFF  # break the IHDR so its CRC no longer matches
    (tmp_path / "bad.png").write_bytes(bytes(data))
    assert reason(tmp_path / "bad.png") == "corrupt PNG header"


def test_pillow_fallback_when_opencv_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cv2, "imdecode", lambda buf, flags: None)
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0] = (255, 0, 0, 255)
    assert (load_rgb(save(tmp_path / "a.png", rgba))[1] == WHITE).all()
    arr = load_rgb(save(tmp_path / "q.gif", quadrants()))
    assert arr[5, 5].tolist() == list(RED) and arr[35, 5].tolist() == list(BLUE)
    for ext in (".png", ".tif"):
        arr = load_rgb(save(tmp_path / f"o{ext}", quadrants(), exif=exif(6)))
        assert arr.shape == (60, 40, 3) and arr[5, 35].tolist() == list(RED)


# ------------------------------------------------------------------ resizing


@pytest.mark.parametrize("size", [(10, 15), (7, 100), (80, 120), (40, 60), (1, 1)])
def test_load_rgb_resized_shape(tmp_path: Path, size: tuple[int, int]) -> None:
    arr = load_rgb_resized(save(tmp_path / "q.png", quadrants(40, 60)), size)
    check_rgb(arr, size)


def test_load_rgb_resized_large_jpeg_uses_reduced_decode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save(tmp_path / "big.jpg", quadrants(800, 1200), exif=exif(6), quality=95)
    seen: list[int] = []
    real = cv2.imdecode

    def spy(buf: np.ndarray, flags: int) -> np.ndarray:
        seen.append(flags)
        return real(buf, flags)

    monkeypatch.setattr(cv2, "imdecode", spy)
    arr = load_rgb_resized(path, (224, 224))
    check_rgb(arr, (224, 224))
    assert seen == [cv2.IMREAD_REDUCED_COLOR_2 | cv2.IMREAD_IGNORE_ORIENTATION]
    # Orientation 6 still applied: stored top-left red ends up top-right.
    assert_close(arr[10, 200], RED)
    assert_close(arr[10, 10], BLUE)

    seen.clear()
    check_rgb(load_rgb_resized(path, (100, 50)), (100, 50))
    assert seen == [cv2.IMREAD_REDUCED_COLOR_8 | cv2.IMREAD_IGNORE_ORIENTATION]
    seen.clear()
    check_rgb(load_rgb_resized(path, (1000, 10)), (1000, 10))  # taller than 1/2 scale
    assert seen == [cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION]


def test_load_rgb_resized_rejects_bad_size(tmp_path: Path) -> None:
    path = save(tmp_path / "q.png", quadrants())
    with pytest.raises(ValueError):
        load_rgb_resized(path, (0, 10))


def test_load_rgb_resized_errors_are_image_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.png").touch()
    with pytest.raises(ImageError, match="empty file"):
        load_rgb_resized(tmp_path / "empty.png", (8, 8))


# ------------------------------------------------------------------ scanning


def touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")


def test_scan_filters_sorts_and_skips_hidden(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "b.jpg",
        "A.JPG",
        "c.Png",
        "notes.txt",
        "noext",
        ".hidden.jpg",
        ".loupe/thumb.jpg",
        ".git/x.png",
        "sub/z.webp",
        "sub/a.tiff",
        "sub/deeper/k.gif",
        "sub/.cache/x.jpg",
        "a_dir/m.bmp",
        "z.jpeg",
    )
    result = scan_images(tmp_path)
    assert result == [
        "A.JPG",
        "a_dir/m.bmp",
        "b.jpg",
        "c.Png",
        "sub/a.tiff",
        "sub/deeper/k.gif",
        "sub/z.webp",
        "z.jpeg",
    ]
    assert result == sorted(result, key=lambda p: p.split("/"))
    assert list(iter_images(tmp_path)) == result
    assert scan_images(tmp_path) == result  # deterministic


def test_scan_accepts_str_root_and_yields_relative_posix(tmp_path: Path) -> None:
    touch(tmp_path, "x/y/z.jpg")
    assert scan_images(str(tmp_path)) == ["x/y/z.jpg"]  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_scan_symlink_loop_terminates(tmp_path: Path) -> None:
    touch(tmp_path, "a.jpg", "sub/b.jpg")
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "sub" / "self").symlink_to(tmp_path / "sub", target_is_directory=True)
    result = scan_images(tmp_path)
    assert result == ["a.jpg", "sub/b.jpg"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_scan_follows_symlinked_folder_once(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    touch(outside, "o.png")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "link2").symlink_to(outside, target_is_directory=True)
    (root / "broken.jpg").symlink_to(tmp_path / "missing.jpg")
    assert scan_images(root) == ["link/o.png"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read anything")
def test_scan_skips_unreadable_folder(tmp_path: Path) -> None:
    touch(tmp_path, "a.jpg", "locked/b.jpg", "z/c.jpg")
    (tmp_path / "locked").chmod(0)
    try:
        assert scan_images(tmp_path) == ["a.jpg", "z/c.jpg"]
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_scan_skips_unreadable_folder_simulated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    touch(tmp_path, "a.jpg", "locked/b.jpg", "z/c.jpg")
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if os.path.basename(path) == "locked":
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(images.os, "scandir", scandir)
    assert scan_images(tmp_path) == ["a.jpg", "z/c.jpg"]


def test_scan_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        scan_images(tmp_path / "missing")


def test_scan_many_files_is_fast(tmp_path: Path) -> None:
    for d in range(20):
        sub = tmp_path / f"d{d:02d}"
        sub.mkdir()
        for i in range(250):
            (sub / f"{i:04d}.jpg").touch()
    start = time.perf_counter()
    result = scan_images(tmp_path)
    assert len(result) == 5000
    assert time.perf_counter() - start < 1.0


# ------------------------------------------------------------------ fast headers


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def encode(im: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def header_variants() -> dict[str, bytes]:
    """JPEG/PNG files whose headers exercise every branch of the fast header parsers."""
    src = Image.fromarray(noisy(37, 53))
    jpg = encode(src, "JPEG")
    # Big-endian TIFF header, IFD0 at 8: one entry (orientation, SHORT, 1 value: 6), no next IFD.
    mm = (
        b"MM\x00*\x00\x00\x00\x08\x00\x01"
        + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00"
        + bytes(4)
    )
    xmp = b'http://ns.adobe.com/xap/1.0/\x00<r tiff:Orientation="8"/>'
    dpi = exif(6)
    dpi[0x0128], dpi[0x011A] = 2, 300.0
    out = {f"exif{o}.jpg": encode(src, "JPEG", exif=exif(o)) for o in (0, 1, 3, 6, 8, 9)}
    return out | {
        "plain.jpg": jpg,
        "dpi.jpg": encode(src, "JPEG", exif=dpi),
        "progressive-gray.jpg": encode(src.convert("L"), "JPEG", progressive=True),
        "cmyk.jpg": encode(src.convert("CMYK"), "JPEG"),
        "icc.jpg": encode(src, "JPEG", icc_profile=b"icc" * 100),
        "big-endian.jpg": jpg[:2] + segment(0xE1, b"Exif\0\0" + mm) + jpg[2:],
        "xmp.jpg": jpg[:2] + segment(0xE1, xmp) + jpg[2:],
        "xmp-exif.jpg": jpg[:2] + segment(0xE1, b"Exif\0\0" + mm) + segment(0xE1, xmp) + jpg[2:],
        "mpf.jpg": jpg[:2] + segment(0xE2, b"MPF\0II*\0\x08\0\0\0\0\0") + jpg[2:],
        "fill.jpg": jpg[:2] + b"\xff" + jpg[2:],
        "rgb.png": encode(src, "PNG", dpi=(72, 72)),
        "palette.png": encode(src.convert("P"), "PNG", transparency=3),
        "exif.png": encode(src, "PNG", exif=exif(6)),
        "sixteen.png": cv2.imencode(".png", noisy().astype(np.uint16) * 257)[1].tobytes(),
    }


def fast_header(data: bytes) -> object:
    """What the fast parsers say: a header, None (ask Pillow) or an ImageError reason."""
    check = {"JPEG": images._check_jpeg, "PNG": images._check_png}.get(images._sniff(data[:12]))
    try:
        return check(data) if check else None
    except ImageError as e:
        return e.reason


def test_fast_headers_agree_with_pillow() -> None:
    # Wherever the fast parsers answer, Pillow gives the same size and orientation, also for
    # damaged headers (seeded mutations of the first 300 bytes); elsewhere they defer to Pillow.
    rng = np.random.default_rng(3)
    fast = set()
    for name, data in header_variants().items():
        for k in range(60):
            buf = bytearray(data)
            for pos in rng.integers(0, min(300, len(data)), size=k and int(rng.integers(1, 4))):
                buf[pos] = int(rng.integers(0, 256)) if k % 2 else buf[pos] ^ 1 << k % 8
            header = fast_header(bytes(buf))
            if isinstance(header, images._Header):
                kind = images._sniff(bytes(buf[:12]))
                assert header == images._read_header(io.BytesIO(bytes(buf)), kind), (name, k)
                if k == 0:
                    fast.add(name)
    assert set(header_variants()) - fast == {"exif.png", "fill.jpg", "mpf.jpg", "xmp.jpg"}


def test_ordinary_files_never_open_pillow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pillow(*args: object) -> None:
        raise AssertionError("Pillow must not be needed")

    monkeypatch.setattr(images.Image, "open", no_pillow)
    for name in ("exif6.jpg", "dpi.jpg", "cmyk.jpg", "rgb.png", "palette.png", "sixteen.png"):
        (tmp_path / name).write_bytes(header_variants()[name])
        upright = (53, 37) if name in ("exif6.jpg", "dpi.jpg") else (37, 53)
        check_rgb(load_rgb(tmp_path / name), (64, 64) if name == "sixteen.png" else upright)
        check_rgb(load_rgb_resized(tmp_path / name, (16, 16)), (16, 16))


@pytest.mark.parametrize("name", ["rgb.png", "palette.png", "sixteen.png", "exif6.jpg"])
@pytest.mark.parametrize("size", [(32, 32), (224, 224), (7, 100), (37, 53)])
def test_resizing_before_rgb_conversion_is_exact(
    tmp_path: Path, name: str, size: tuple[int, int]
) -> None:
    path = tmp_path / name
    path.write_bytes(header_variants()[name])
    rgb = load_rgb(path)
    shrinking = size[0] <= rgb.shape[0] and size[1] <= rgb.shape[1]
    inter = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    expected = cv2.resize(rgb, size[::-1], interpolation=inter) if rgb.shape[:2] != size else rgb
    assert np.array_equal(load_rgb_resized(path, size), expected)
