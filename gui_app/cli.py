"""Command line: ``loupe [FOLDER]`` opens the window; ``loupe extract|train|predict|evaluate``.

Only argument parsing and printing live here; the work is done by ``gui_app.core``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gui_app import __version__

SUBCOMMANDS = ("extract", "train", "predict", "evaluate", "export")


class CliError(Exception):
    """A user-facing error: printed as ``loupe: error: ...`` with exit status 2."""


def _add_backbone_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backbone",
        default=None,
        help="mobilenet_v2 (default), efficientnet_b0, resnet50 or a .keras model file",
    )
    parser.add_argument(
        "--weights",
        default=None,
        help="imagenet (default; Keras downloads and caches them), none, or a local weights file",
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="keep the project files here instead of FOLDER/.loupe (for read-only folders)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The subcommand parser (the window's own options are in :func:`build_gui_parser`)."""
    parser = argparse.ArgumentParser(
        prog="loupe",
        description="Teach an image classifier by working through a folder of images.",
        epilog="Run 'loupe [FOLDER]' without a subcommand to open the window.",
    )
    parser.add_argument("--version", action="version", version=f"loupe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("extract", help="extract CNN features of every image into the HDF5 cache")
    p.add_argument("folder", type=Path)
    _add_backbone_options(p)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", type=Path, default=None, help="features file (default: project cache)")
    p.add_argument(
        "--engine",
        choices=("auto", "litert", "tf-function", "keras"),
        default="auto",
        help="inference engine (auto: LiteRT on CPU, TensorFlow on GPU)",
    )
    p.add_argument("--max-pixels", type=int, default=None, help="refuse larger images")

    p = sub.add_parser("train", help="predict-then-learn over extracted features")
    p.add_argument("source", type=Path, help="a features .h5 file or an image folder")
    p.add_argument("--label-from", required=True, help="filename, folder or a CSV (path,label)")
    p.add_argument("--model", default="logistic", help="logistic, softmax, gaussian-nb, knn, arf")
    p.add_argument("--shuffle", type=int, default=None, metavar="SEED")
    p.add_argument("--out", type=Path, default=None, help="model file (default: model.pkl)")
    _add_backbone_options(p)

    p = sub.add_parser("predict", help="write a predictions CSV for every image")
    p.add_argument("source", type=Path, help="a features .h5 file or an image folder")
    p.add_argument("--model", type=Path, required=True, help="a model.pkl written by train")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threshold", type=float, default=0.0, help="below it the label is 'unknown'")
    _add_backbone_options(p)

    p = sub.add_parser("evaluate", help="precision, recall, F1 and confusion matrix")
    p.add_argument("source", type=Path, help="a features .h5 file or an image folder")
    p.add_argument("--label-from", required=True)
    p.add_argument("--model", type=Path, required=True)
    _add_backbone_options(p)

    from gui_app.export_command import add_parser

    add_parser(sub)
    return parser


def build_gui_parser() -> argparse.ArgumentParser:
    """Options of ``loupe [FOLDER]``."""
    parser = argparse.ArgumentParser(
        prog="loupe",
        description="Open the Loupe window. Subcommands: " + ", ".join(SUBCOMMANDS) + ".",
    )
    parser.add_argument("folder", type=Path, nargs="?", help="image folder to open")
    parser.add_argument("--version", action="version", version=f"loupe {__version__}")
    _add_backbone_options(parser)
    parser.add_argument("--learner", default=None, help="online learner name")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check TensorFlow, the backbone, HDF5, SQLite and the learner, then exit",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``loupe`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if argv and argv[0] == "--self-test":
            from gui_app.selftest import main as self_test_main

            return self_test_main(argv[1:])
        if argv and argv[0] in SUBCOMMANDS:
            args = build_parser().parse_args(argv)
            if args.command == "export":
                from gui_app.export_command import run_export

                return run_export(args)
            from gui_app import commands

            return getattr(commands, f"run_{args.command}")(args)
        if argv and argv[0] in ("-h", "--help") and len(argv) == 1:
            build_gui_parser().print_help()
            print()
            build_parser().print_help()
            return 0
        args = build_gui_parser().parse_args(argv)
        from gui_app.app import run_gui

        return run_gui(args)
    except KeyboardInterrupt:
        print("loupe: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from gui_app.commands import user_error_message

        message = user_error_message(exc)
        if message is None:
            raise
        print(f"loupe: error: {message}", file=sys.stderr)
        return 2
