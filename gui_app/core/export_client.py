"""What an exported classifier needs besides its weights: the preprocessing module and a README.

``loupe_preprocess.py`` is :mod:`gui_app.core.preprocess_rule`'s source file copied byte for
byte (the very code every feature extraction runs), so a client prepares images as Loupe did;
``README.txt`` states the input contract and shows the few lines a client needs.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from gui_app.core import preprocess_rule
from gui_app.core.atomic import atomic_write
from gui_app.core.export import ExportError

MODULE_NAME = "loupe_preprocess.py"
README_NAME = "README.txt"

_README = """\
Loupe classifier
================

{models}: images in, class probabilities out.

  input   float32 (N, {h}, {w}, 3), RGB, 0-255 (no scaling: the model normalises itself)
  output  float32 (N, C) probabilities, columns in the order of "classes" in <model>.json
  classes {classes}
  backbone {backbone}

To get Loupe's own probabilities (the ones in its predictions.csv), prepare every image with
loupe_preprocess.py, a copy of the code Loupe itself runs (needs numpy and OpenCV; Pillow is
optional). A plain resize is not the same: Loupe decodes large JPEGs at 1/2, 1/4 or 1/8 scale
(libjpeg DCT scaling) before resizing, which changes the pixels and the probabilities.

    import loupe_preprocess
    from ai_edge_litert.interpreter import Interpreter  # or tflite_runtime / tensorflow.lite

    batch = loupe_preprocess.load_batch(["photo.jpg"], ({h}, {w}))
    interp = Interpreter(model_path="{tflite}")
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(inp["index"], list(batch.shape))
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], batch)
    interp.invoke()
    probabilities = interp.get_tensor(out["index"])

Keras: keras.saving.load_model("{keras}")(batch) gives the same probabilities.

The preprocessing, step by step (also under "preprocessing" in <model>.json):
{steps}
"""

_STEPS = ("header", "decode", "pixels", "orientation", "resize", "colour", "dtype", "reference")


def client_module_source() -> bytes:
    """The bytes written as ``loupe_preprocess.py``: the app's own rule module, verbatim.

    In a PyInstaller build the module runs from bytecode (``__file__`` ends in ``.pyc``); the
    spec ships its ``.py`` beside it. Raises `ExportError` if that source is missing.
    """
    path = Path(preprocess_rule.__file__).with_suffix(".py")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ExportError(f"cannot read {path} to ship with the model: {exc.strerror}") from exc


def readme_text(metadata: dict[str, Any], models: list[str]) -> str:
    """``README.txt`` for the classifier files ``models`` (names) described by ``metadata``."""
    prep = metadata.get("preprocessing", {})
    size = prep.get("input_size")
    size = size if isinstance(size, dict) else {}
    wrap = textwrap.TextWrapper(96, "  ", "     ", break_on_hyphens=False)
    steps = "\n".join(wrap.fill(f"{i}. {n}: {prep.get(n, '')}") for i, n in enumerate(_STEPS, 1))
    tflite = next((m for m in models if m.endswith(".tflite")), "classifier.tflite")
    keras = next((m for m in models if m.endswith(".keras")), "classifier.keras")
    return _README.format(
        models=" and ".join(models) or "The classifier",
        tflite=tflite,
        keras=keras,
        h=size.get("height", "H"),
        w=size.get("width", "W"),
        classes=", ".join(map(str, metadata.get("classes", []))),
        backbone=metadata.get("backbone", ""),
        steps=steps,
    )


def write_client_files(directory: Path, sidecar: str | dict[str, Any]) -> list[Path]:
    """Write ``loupe_preprocess.py`` and ``README.txt`` next to the models in ``directory``.

    ``sidecar`` is the models' JSON sidecar (text or dict); nothing is written when it does
    not state the preprocessing (e.g. a hand-edited one). The README names every ``*.keras`` /
    ``*.tflite`` file there that has a sidecar, so exporting the Keras model and then its
    TFLite conversion into one folder leaves one README for both.
    """
    try:
        metadata = json.loads(sidecar) if isinstance(sidecar, str) else sidecar
    except ValueError:
        return []
    if not isinstance(metadata, dict) or not isinstance(metadata.get("preprocessing"), dict):
        return []
    directory = Path(directory)
    module, readme = directory / MODULE_NAME, directory / README_NAME
    models = sorted(
        p.name
        for p in directory.iterdir()
        if p.suffix in (".keras", ".tflite") and p.with_name(p.name + ".json").is_file()
    )
    source, text = client_module_source(), readme_text(metadata, models)
    atomic_write(module, lambda fh: fh.write(source), binary=True)
    atomic_write(readme, lambda fh: fh.write(text))
    return [module, readme]
