"""The installed ``loupe`` command, run as a user would (subprocess): exit codes, stderr, files."""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gui_app.cli import main

pytestmark = pytest.mark.slow

LOUPE = shutil.which("loupe") or str(Path(sys.executable).with_name("loupe"))
NOISE = ("cuInit", "oneDNN", "absl::InitializeLog", "XNNPACK", "Traceback")


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOUPE_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # the CLI must quieten TF itself
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)


def loupe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LOUPE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=240,
        stdin=subprocess.DEVNULL,
    )


def many(*commands: tuple[str, ...]) -> list[subprocess.CompletedProcess]:
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda c: loupe(*c), commands))


def last_line(result: subprocess.CompletedProcess) -> str:
    return result.stdout.strip().splitlines()[-1]


def one_error_line(result: subprocess.CompletedProcess, status: int = 1, alone: bool = True) -> str:
    """The ``loupe: error:`` line: the only line (``alone``) or the last after notes."""
    assert result.returncode == status, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("loupe: error: ")]
    assert errors == lines[-1:] and "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 or not alone, result.stderr
    return lines[-1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_extract_train_predict_evaluate(class_images, tiny_backbone, tmp_path):
    (class_images / "empty.jpg").write_bytes(b"")
    old = os.umask(0o022)
    try:
        result = loupe("extract", str(class_images), "--backbone", str(tiny_backbone))
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    assert last_line(result) == "images: 13  extracted: 12  cached: 0  unreadable: 1"
    assert not any(word in result.stderr for word in NOISE), result.stderr
    assert "\r" not in result.stderr  # stderr is not a terminal: no progress-bar frames
    unreadable = class_images / ".loupe" / "unreadable.csv"
    assert list(csv.reader(unreadable.open())) == [
        ["path", "reason"],
        ["empty.jpg", "empty file (0 bytes)"],
    ]
    assert mode(unreadable) == 0o644
    log = (tmp_path / "logs" / "loupe.log").read_text(encoding="utf-8")
    assert " INFO gui_app.cli: loupe extract " in log and "result: {" in log

    again = loupe("extract", str(class_images), "--json", "--quiet")  # the remembered backbone
    assert again.returncode == 0 and again.stderr == "", again.stderr
    summary = json.loads(again.stdout)
    assert {k: summary[k] for k in ("images", "extracted", "cached", "unreadable")} == {
        "images": 13, "extracted": 0, "cached": 12, "unreadable": 1
    }  # fmt: skip
    assert summary["command"] == "extract" and summary["backbone"].startswith("tiny_backbone")

    model = tmp_path / "model.pkl"
    trained = loupe(
        "train", str(class_images), "--label-from", "filename", "--model", "softmax",
        "--shuffle", "1", "--out", str(model),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert (
        "--model is deprecated in 'train'" in trained.stderr and "use --learner" in trained.stderr
    )
    lines = trained.stdout.strip().splitlines()
    assert lines[-2].startswith("progressive accuracy: ") and lines[-2].endswith("over 12 samples")
    assert "learn latency p50" in lines[-1] and model.is_file()

    default = loupe("train", str(class_images), "--label-from", "filename", "--batch", "--json",
                    "--out", str(tmp_path / "m2.pkl"))  # fmt: skip
    assert default.returncode == 0, default.stderr
    info = json.loads(default.stdout)
    assert f"shuffle seed: {info['shuffle_seed']}" in default.stderr  # shuffled by default
    assert info["learner"] == "logistic" and info["samples"] == 12
    assert 0 <= info["progressive_accuracy"] <= 1 and set(info["latency_ms"]) == {
        "learn_p50", "learn_p99", "predict_p50", "predict_p99"
    }  # fmt: skip
    batch = info["batch"]
    assert batch["model"] == str(class_images / ".loupe" / "batch_model.pkl")
    assert batch["folds"] == 5 and 0 <= batch["cv_accuracy"] <= 1 and batch["C"] > 0

    predicted = loupe("predict", str(class_images), "--model", batch["model"], "--out", "-")
    assert predicted.returncode == 0, predicted.stderr
    table = list(csv.DictReader(predicted.stdout.splitlines()))
    assert len(table) == 12 and set(table[0]) == {"path", "predicted", "cat", "dog"}
    assert not (Path.cwd() / "-").exists()

    evaluated, holdout, nothing, model_to_stdout, no_labels = many(
        ("evaluate", str(class_images / ".loupe" / "features.h5"), "--label-from", "filename",
         "--model", str(model), "--json"),
        ("evaluate", str(class_images), "--label-from", "filename", "--holdout", "0.5",
         "--shuffle", "3"),
        ("evaluate", str(class_images), "--label-from", "folder", "--holdout", "0.2"),
        ("export", str(class_images), "--what", "model", "--out", "-"),
        ("train", str(class_images)),
    )  # fmt: skip
    assert "no feature vector has a label from folder" in one_error_line(nothing)
    assert "standard output" in one_error_line(model_to_stdout)
    assert "no labels yet" in one_error_line(no_labels)
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["samples"] == 12 and [c["name"] for c in report["classes"]] == ["dog", "cat"]
    assert set(report["macro"]) == set(report["weighted"]) == {"precision", "recall", "f1"}
    assert sum(map(sum, report["confusion"])) == 12
    assert holdout.returncode == 0, holdout.stderr
    assert "macro avg" in holdout.stdout and "weighted avg" in holdout.stdout
    assert "over 6 samples" in holdout.stdout  # half of each class held out


def test_user_errors_are_one_line_and_never_start_qt(class_images, tmp_path):
    never = tmp_path / "never-opened"
    never.mkdir()
    (never / "a.jpg").write_bytes(b"\xff\xd8\xff")
    results = many(
        ("extrct", str(class_images)),
        (str(tmp_path / "nonexistent"),),
        ("train", str(tmp_path / "nonexistent"), "--label-from", "filename"),
        ("predict", str(never / "a.jpg"), "--model", "nope", "--out", "x.csv"),
        ("export", str(never), "--what", "labels", "--out", str(tmp_path / "l.csv")),
        ("extract", str(class_images), "--backbone", "vgg99"),
        ("train", str(class_images), "--learner", "nope", "--label-from", "filename"),
        (str(class_images),),
    )
    typo, missing, train_missing, bad_model, unopened, backbone, learner, no_display = results
    assert "did you mean 'extract'?" in one_error_line(typo, 2)
    assert "folder does not exist" in one_error_line(missing)
    assert "does not exist" in one_error_line(train_missing)
    assert "cannot read model file nope" in one_error_line(bad_model)
    assert "no Loupe project in" in one_error_line(unopened)
    assert not (never / ".loupe").exists() and not (tmp_path / "l.csv").exists()
    assert backbone.returncode == 2 and 'unknown backbone "vgg99"' in backbone.stderr
    assert learner.returncode == 2 and "invalid choice: 'nope'" in learner.stderr
    assert "no display" in one_error_line(no_display)
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from gui_app.cli import main; "
         f"rc = main(['extrct', {str(class_images)!r}]); print(rc, 'PySide6' in sys.modules)"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert probe.stdout.split() == ["2", "False"], probe.stderr


def test_remembered_backbone_survives_a_failed_extraction(class_images, tiny_backbone, tmp_path):
    from gui_app.core.labels import LabelStore
    from gui_app.core.store import list_backbone_ids
    from tests.conftest import build_tiny_backbone

    assert loupe("extract", str(class_images), "--backbone", str(tiny_backbone)).returncode == 0
    broken = tmp_path / "broken.keras"
    with zipfile.ZipFile(tiny_backbone) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, b"damaged" if item.filename.endswith(".h5") else data)
    failed = loupe("extract", str(class_images), "--backbone", str(broken), "--engine", "keras")
    assert "cannot load model file" in one_error_line(failed, alone=False)
    h5 = class_images / ".loupe" / "features.h5"
    assert len(list_backbone_ids(h5)) == 1  # no empty group left behind
    with LabelStore(class_images / ".loupe" / "labels.sqlite") as labels:
        assert labels.get_setting("backbone") == str(tiny_backbone)

    other = build_tiny_backbone(tmp_path / "other.keras", seed=1)
    extracted = loupe("extract", str(class_images), "--backbone", str(other), "--engine", "keras")
    assert extracted.returncode == 0, extracted.stderr
    assert len(list_backbone_ids(h5)) == 2
    trained = loupe("train", str(class_images), "--label-from", "filename", "--json",
                    "--out", str(tmp_path / "m.pkl"))  # fmt: skip
    assert trained.returncode == 0, trained.stderr  # picks the remembered (latest) backbone
    with LabelStore(class_images / ".loupe" / "labels.sqlite") as labels:
        assert labels.get_setting("backbone") == str(other)


def test_import_preview_dry_run_and_one_action(class_images, tmp_path):
    from gui_app.core.labels import LabelStore

    labels_csv = tmp_path / "labels.csv"
    labels_csv.write_text(
        "path,label\n" + "".join(f"cat.{i}.jpg,cat\n" for i in range(3)) + "nope.jpg,cat\n",
        encoding="utf-8",
    )
    sorted_dir = tmp_path / "sorted"
    (sorted_dir / "dog").mkdir(parents=True)
    for i in range(2):
        shutil.copy(class_images / f"dog.{i}.jpg", sorted_dir / "dog")
    dry = loupe("import", str(class_images), "--from", str(labels_csv), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "matched: 3 images" in dry.stdout and "unmatched nope.jpg" in dry.stdout
    assert "nothing changed" in dry.stdout and not (class_images / ".loupe").exists()

    done = loupe("import", str(class_images), "--from", str(labels_csv))
    folders = loupe("import", str(class_images), "--from", str(sorted_dir), "--json")
    assert done.returncode == 0 and "imported 3 labels as one undoable action" in done.stdout
    assert folders.returncode == 0, folders.stderr
    assert json.loads(folders.stdout)["imported"] == 2
    with LabelStore(class_images / ".loupe" / "labels.sqlite") as labels:
        assert labels.labels() == {
            **{f"cat.{i}.jpg": "cat" for i in range(3)},
            **{f"dog.{i}.jpg": "dog" for i in range(2)},
        }
        labels.undo()  # the class-folder import is one action
        assert len(labels.labels()) == 3


def test_export_labels_predictions_folders_model_features(class_images, tiny_backbone, tmp_path):
    from gui_app.core.export import import_labels
    from gui_app.core.export_model import load_portable
    from gui_app.core.feature_export import read_features
    from gui_app.core.labels import LabelStore

    assert loupe("extract", str(class_images), "--backbone", str(tiny_backbone)).returncode == 0
    with LabelStore(class_images / ".loupe" / "labels.sqlite") as labels:
        for i in range(3):
            labels.set_label(f"cat.{i}.jpg", "cat")
            labels.set_label(f"dog.{i}.jpg", "=dog")  # a formula-looking class name

    out = tmp_path / "exports"
    old = os.umask(0o022)
    try:
        results = many(
            ("export", str(class_images), "--what", "labels", "--out", str(out / "l.csv")),
            ("export", str(class_images), "--what", "folders", "--out", str(out / "f")),
            ("export", str(class_images), "--what", "predictions", "--out", str(out / "p.csv")),
            ("export", str(class_images), "--what", "features", "--out", str(out / "v.npy")),
            ("export", str(class_images), "--what", "labels", "--out", "-", "--format", "json"),
        )
    finally:
        os.umask(old)
    for result in results:
        assert result.returncode == 0, result.stderr
    text = (out / "l.csv").read_text(encoding="utf-8")
    assert ",'=dog," in text and mode(out / "l.csv") == 0o644
    assert import_labels(out / "l.csv")["dog.0.jpg"] == "=dog"  # escaping undone on import
    assert sorted(p.name for p in (out / "f" / "=dog").iterdir()) == [
        f"dog.{i}.jpg" for i in range(3)
    ]
    header = (out / "p.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "path,predicted,cat,'=dog" and mode(out / "p.csv") == 0o644
    paths, vectors = read_features(out / "v.npy")
    assert len(paths) == 12 and vectors.shape == (12, 16)
    assert json.loads(results[-1].stdout)["format"] == "loupe-labels"

    result = loupe("export", str(class_images), "--what", "model", "--out", str(out / "m"))
    assert result.returncode == 0, result.stderr
    names = {p.name for p in (out / "m").iterdir()}
    assert {"model.pkl", "portable", "classifier.keras", "classifier.tflite"} <= names
    assert load_portable(out / "m" / "portable").classes == ["cat", "=dog"]


def test_progress_lines_without_a_terminal(tmp_path, tiny_backbone):
    from tests.conftest import write_class_images

    folder = tmp_path / "some"
    write_class_images(folder, per_class=40)
    result = loupe(
        "extract", str(folder), "--backbone", str(tiny_backbone), "--batch-size", "8",
        "--engine", "keras", env={"LOUPE_PROGRESS_SECONDS": "0"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("extract: ")]
    assert len(progress) >= 3 and progress[-1].startswith("extract: 80/80 img (100%)")
    assert "\r" not in result.stderr


def test_read_only_folder_suggests_project_dir(class_images, monkeypatch, capsys):
    import errno
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert main(["extract", str(class_images), "--backbone", "mobilenet_v2"]) == 1
    err = capsys.readouterr().err
    assert "Read-only file system (the folder is read-only)" in err
    assert "--project-dir" in err


def test_killed_extract_resumes_and_truncated_cache_is_rebuilt(tmp_path, tiny_backbone):
    import signal
    import time

    from tests.conftest import write_class_images

    folder = tmp_path / "many"
    write_class_images(folder, per_class=150)
    h5 = folder / ".loupe" / "features.h5"
    args = ["extract", str(folder), "--backbone", str(tiny_backbone), "--batch-size", "2",
            "--engine", "tf-function"]  # fmt: skip
    proc = subprocess.Popen([LOUPE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if h5.exists() and h5.stat().st_size > 40_000:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    resumed = loupe("extract", str(folder))
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    images, extracted, cached = (int(x) for x in last_line(resumed).split()[1:6:2])
    assert images == 300 and extracted + cached == 300

    size = h5.stat().st_size
    with h5.open("r+b") as fh:
        fh.truncate(size // 2)
    rebuilt = loupe("extract", str(folder))
    assert rebuilt.returncode == 0 and "Traceback" not in rebuilt.stderr
    assert "feature cache was damaged" in rebuilt.stderr
    assert last_line(rebuilt) == "images: 300  extracted: 300  cached: 0  unreadable: 0"
    assert list((folder / ".loupe").glob("features.h5.damaged-*"))


def test_every_command_has_a_description_an_example_and_documented_options():
    import argparse

    from gui_app.cli import SUBCOMMANDS, build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) == set(SUBCOMMANDS)
    for name, sub in commands.choices.items():
        if name == "report":  # registered by its own module (issue of the Insight panel)
            continue
        assert sub.description and sub.epilog.startswith("example:\n  loupe " + name), name
        for action in sub._actions:
            if action.dest in ("help", "deprecated_model"):
                continue
            assert action.help, f"{name} {action.option_strings} has no help"
            shown = action.default not in (None, False) and not action.required
            if shown:
                assert "%(default)s" in action.help, f"{name} {action.dest}: default not shown"
    result = loupe("extract", "--help")
    assert result.returncode == 0 and "example:\n  loupe extract" in result.stdout
    assert "default: the project's remembered choice" in result.stdout
