"""An outside program reproduces Loupe's probabilities from the exported classifier.

The app extracts features of real JPEGs (smaller than the 32 px input, 3x and 9x larger,
non-square, EXIF-rotated), learns, and writes ``predictions.csv``. A client script, run as a
separate isolated Python with a clean environment, imports only numpy, OpenCV, the exported
``loupe_preprocess.py`` and LiteRT (never ``gui_app``), runs ``classifier.tflite`` and must
agree with the CSV within 1e-3: once without Pillow (the OpenCV-only path) and once with it.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gui_app.core.backbones import resolve_backbone
from gui_app.core.engines import create_engine
from gui_app.core.export_client import MODULE_NAME
from gui_app.core.export_model import (
    classifier_metadata,
    export_keras,
    export_predictions,
    export_tflite,
    metadata_path,
)
from gui_app.core.features import WorkQueue, extract_features, stat_files
from gui_app.core.images import scan_images
from gui_app.core.learner import OnlineLearner
from gui_app.core.preprocess_rule import recipe
from gui_app.core.store import FeatureStore
from tests.core.test_export_model import tflite_predict
from tests.core.test_preprocess_rule import RULE_FILE, write_rule_images

pytestmark = pytest.mark.slow

TINTS = {"cat": (170, 110, 90), "dog": (90, 110, 170)}

CLIENT = '''\
"""A client of an exported Loupe classifier: numpy, OpenCV, loupe_preprocess, LiteRT."""
import json
import sys

export_dir, images, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
if mode == "no-pillow":
    sys.modules["PIL"] = None  # as on a machine without Pillow: "import PIL" fails
sys.path.insert(0, export_dir)

import cv2  # noqa: E402,F401  (the module's only non-numpy dependency)
import numpy as np  # noqa: E402
import loupe_preprocess  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

with open(f"{export_dir}/classifier.tflite.json", encoding="utf-8") as fh:
    meta = json.load(fh)
size = meta["preprocessing"]["input_size"]
batch = loupe_preprocess.load_batch(images, (size["height"], size["width"]))
interp = Interpreter(model_path=f"{export_dir}/classifier.tflite")
inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
interp.resize_tensor_input(inp["index"], list(batch.shape), strict=True)
interp.allocate_tensors()
interp.set_tensor(inp["index"], batch)
interp.invoke()
probabilities = np.asarray(interp.get_tensor(out["index"]), np.float64)
modules = sorted({name.split(".")[0] for name, m in sys.modules.items() if m is not None})
print(json.dumps({"classes": meta["classes"], "probabilities": probabilities.tolist(),
                  "modules": modules}))
'''


def app_predictions(path: Path) -> dict[str, dict[str, float]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {r["path"]: {k: float(v) for k, v in r.items() if k not in ("path", "predicted")}
            for r in rows}  # fmt: skip


def run_client(script: Path, export_dir: Path, images: list[Path], mode: str, home: Path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LC_ALL": "C.UTF-8"}
    args = [sys.executable, "-I", str(script), str(export_dir), json.dumps(list(map(str, images)))]
    done = subprocess.run(
        [*args, mode], env=env, cwd=home, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_outside_client_reproduces_the_apps_probabilities(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    spec = resolve_backbone(str(tiny_backbone))
    assert spec.input_size == (32, 32)
    root = tmp_path / "project"
    for name, tint in TINTS.items():  # the same sizes/orientations for both classes
        for path in write_rule_images(root / "new", tint, seed=len(name) * 100 + tint[0]):
            path.rename(root / f"{name}.{path.stem}.jpg")
    (root / "new").rmdir()
    paths = scan_images(root)
    assert len(paths) == 18

    # The app: extraction pipeline into the HDF5 cache, learn every label, predictions.csv.
    engine = create_engine(spec, tmp_path / "engines", log=lambda m: None)
    keys, missing = stat_files(root, paths)
    assert not missing
    with FeatureStore(tmp_path / "features.h5", spec.id, 16) as store:
        report = extract_features(root, WorkQueue(keys), spec, store, engine, batch_size=8)
        assert report.extracted == 18 and not report.unreadable
        learner = OnlineLearner("logistic")
        learner.set_classes(list(TINTS))
        for block_paths, vectors in store.iter_blocks():
            for rel, vector in zip(block_paths, vectors, strict=True):
                learner.learn(vector, rel.split(".")[0])
        export_predictions(store, learner, tmp_path / "predictions.csv")
    expected = app_predictions(tmp_path / "predictions.csv")
    assert len(expected) == 18

    out = tmp_path / "export"
    keras_path = export_keras(spec, learner, out / "classifier.keras")
    lite = export_tflite(keras_path, out / "classifier.tflite")
    meta = json.loads(metadata_path(lite).read_text(encoding="utf-8"))
    assert meta == classifier_metadata(spec, learner)
    assert meta["preprocessing"] == recipe(spec.input_size)
    assert (out / MODULE_NAME).read_bytes() == RULE_FILE.read_bytes()
    readme = (out / "README.txt").read_text(encoding="utf-8")
    assert "classifier.keras and classifier.tflite" in readme and "(32, 32)" in readme

    script = tmp_path / "client.py"
    script.write_text(CLIENT, encoding="utf-8")
    images = [root / p for p in paths]
    home = tmp_path / "home"
    home.mkdir()
    for mode in ("no-pillow", "pillow-allowed"):
        got = run_client(script, out, images, mode, home)
        assert "gui_app" not in got["modules"] and "tensorflow" not in got["modules"]
        assert "keras" not in got["modules"]
        assert ("PIL" in got["modules"]) == (mode == "pillow-allowed")
        probs = np.asarray(got["probabilities"])
        want = np.array([[expected[p][c] for c in got["classes"]] for p in paths])
        assert probs.shape == (18, 2) and got["classes"] == list(TINTS)
        assert np.abs(probs - want).max() <= 1e-3, (mode, np.abs(probs - want).max(axis=1))

    # The contract this replaces ("resize like Loupe": OpenCV read + INTER_AREA) fails here.
    naive = np.stack([plain_resize(path, spec.input_size) for path in images])
    lite_probs = np.asarray(tflite_predict(lite, naive), np.float64)
    assert np.abs(lite_probs - want).max() > 1e-3


def plain_resize(path: Path, size: tuple[int, int]) -> np.ndarray:
    import cv2

    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    shrink = rgb.shape[0] >= size[0] and rgb.shape[1] >= size[1]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(rgb, size[::-1], interpolation=interpolation).astype(np.float32)
