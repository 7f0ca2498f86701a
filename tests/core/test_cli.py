"""The headless CLI: extract, train, predict, evaluate, run as a user would (subprocess)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gui_app.cli import main

pytestmark = pytest.mark.slow


def loupe(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "gui_app", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=240,
    )


def last_line(result: subprocess.CompletedProcess) -> str:
    return result.stdout.strip().splitlines()[-1]


def test_extract_train_predict_evaluate(class_images, tiny_backbone, tmp_path):
    (class_images / "empty.jpg").write_bytes(b"")
    result = loupe("extract", str(class_images), "--backbone", str(tiny_backbone))
    assert result.returncode == 0, result.stderr
    assert last_line(result) == "images: 13  extracted: 12  cached: 0  unreadable: 1"
    rows = list(csv.reader((class_images / ".loupe" / "unreadable.csv").open()))
    assert rows == [["path", "reason"], ["empty.jpg", "empty file (0 bytes)"]]

    again = loupe("extract", str(class_images), "--backbone", str(tiny_backbone))
    assert last_line(again) == "images: 13  extracted: 0  cached: 12  unreadable: 1"

    model = tmp_path / "model.pkl"
    trained = loupe(
        "train",
        str(class_images),
        "--label-from",
        "filename",
        "--shuffle",
        "1",
        "--out",
        str(model),
    )
    assert trained.returncode == 0, trained.stderr
    lines = trained.stdout.strip().splitlines()
    assert lines[-2].startswith("progressive accuracy: 0.") or lines[-2].startswith(
        "progressive accuracy: 1."
    )
    assert lines[-2].endswith("over 12 samples")
    assert "learn latency p50" in lines[-1] and "p99" in lines[-1]
    assert model.is_file()

    out = tmp_path / "pred.csv"
    predicted = loupe("predict", str(class_images), "--model", str(model), "--out", str(out))
    assert predicted.returncode == 0, predicted.stderr
    table = list(csv.DictReader(out.open()))
    assert len(table) == 12 and set(table[0]) == {"path", "predicted", "cat", "dog"}
    for row in table:
        assert abs(float(row["cat"]) + float(row["dog"]) - 1) < 1e-4

    unknown = loupe(
        "predict",
        str(class_images),
        "--model",
        str(model),
        "--out",
        str(out),
        "--threshold",
        "1.01",
    )
    assert unknown.returncode == 0
    assert {r["predicted"] for r in csv.DictReader(out.open())} == {"unknown"}

    evaluated = loupe(
        "evaluate",
        str(class_images / ".loupe" / "features.h5"),
        "--label-from",
        "filename",
        "--model",
        str(model),
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert "precision" in evaluated.stdout and "confusion matrix" in evaluated.stdout
    assert "accuracy:" in evaluated.stdout


def test_out_file_and_csv_labels(class_images, tiny_backbone, tmp_path):
    h5 = tmp_path / "out dir" / "féatures.h5"
    result = loupe("extract", str(class_images), "--backbone", str(tiny_backbone), "--out", str(h5))
    assert result.returncode == 0, result.stderr
    assert h5.is_file() and not (class_images / ".loupe").exists()
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "path,label\n"
        + "".join(f"{p.name},{p.name.split('.')[0]}\n" for p in sorted(class_images.glob("*.jpg")))
    )
    trained = loupe("train", str(h5), "--label-from", str(labels), "--out", str(tmp_path / "m.pkl"))
    assert trained.returncode == 0, trained.stderr
    assert "over 12 samples" in trained.stdout


def test_user_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["extract", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["extract", str(tmp_path), "--backbone", "vgg99"]) == 2
    assert 'unknown backbone "vgg99"' in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--label-from", "filename"]) == 2
    assert "run 'loupe extract' first" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--label-from", "nothing.csv"]) == 2
    assert "--label-from must be" in capsys.readouterr().err


def test_read_only_folder_suggests_project_dir(class_images, monkeypatch, capsys, tmp_path):
    import errno
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert main(["extract", str(class_images)]) == 2
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
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gui_app",
            "extract",
            str(folder),
            "--backbone",
            str(tiny_backbone),
            "--batch-size",
            "2",
            "--engine",
            "tf-function",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if h5.exists() and h5.stat().st_size > 40_000:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    resumed = loupe("extract", str(folder), "--backbone", str(tiny_backbone))
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    images, extracted, cached = (int(x) for x in last_line(resumed).split()[1:6:2])
    assert images == 300 and extracted + cached == 300

    size = h5.stat().st_size
    with h5.open("r+b") as fh:
        fh.truncate(size // 2)
    rebuilt = loupe("extract", str(folder), "--backbone", str(tiny_backbone))
    assert rebuilt.returncode == 0 and "Traceback" not in rebuilt.stderr
    assert "feature cache was damaged" in rebuilt.stderr
    assert last_line(rebuilt) == "images: 300  extracted: 300  cached: 0  unreadable: 0"
    assert list((folder / ".loupe").glob("features.h5.damaged-*"))


def test_export_labels_predictions_folders_and_model(class_images, tiny_backbone, tmp_path):
    from gui_app.core.export import import_labels
    from gui_app.core.export_model import load_portable
    from gui_app.core.labels import LabelStore

    assert loupe("extract", str(class_images), "--backbone", str(tiny_backbone)).returncode == 0
    with LabelStore(class_images / ".loupe" / "labels.sqlite") as labels:
        for i in range(3):
            labels.set_label(f"cat.{i}.jpg", "cat")
            labels.set_label(f"dog.{i}.jpg", "dog")

    out = tmp_path / "exports"
    result = loupe("export", str(class_images), "--what", "labels", "--out", str(out / "l.json"))
    assert result.returncode == 0, result.stderr
    assert import_labels(out / "l.json") == {
        **{f"cat.{i}.jpg": "cat" for i in range(3)},
        **{f"dog.{i}.jpg": "dog" for i in range(3)},
    }
    result = loupe("export", str(class_images), "--what", "folders", "--out", str(out / "f"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (out / "f" / "dog").iterdir()) == [
        f"dog.{i}.jpg" for i in range(3)
    ]
    result = loupe(
        "export", str(class_images), "--what", "predictions", "--out", str(out / "p.csv")
    )
    assert result.returncode == 0, result.stderr
    assert len((out / "p.csv").read_text().splitlines()) == 13
    result = loupe("export", str(class_images), "--what", "model", "--out", str(out / "m"))
    assert result.returncode == 0, result.stderr
    names = {p.name for p in (out / "m").iterdir()}
    assert {"model.pkl", "portable", "classifier.keras", "classifier.tflite"} <= names
    assert load_portable(out / "m" / "portable").classes == ["cat", "dog"]
