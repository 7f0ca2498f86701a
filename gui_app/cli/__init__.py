"""Command line: ``loupe [FOLDER]`` opens the window; ``loupe COMMAND ...`` works headless.

Exit status: 0 success, 1 a user error (one ``loupe: error: ...`` line on stderr, also in the
log), 2 a usage error (argparse), 130 interrupted. Anything else is a bug and keeps its
traceback. The argument checks run before Qt or TensorFlow is imported: a missing folder or a
mistyped command never opens a window.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gui_app.cli.parser import SUBCOMMANDS, build_gui_parser, build_parser

__all__ = ["SUBCOMMANDS", "build_gui_parser", "build_parser", "main"]
_log = logging.getLogger("gui_app.cli")


def _error(message: str, status: int = 1) -> int:
    _log.error("%s", message)
    print(f"loupe: error: {message}", file=sys.stderr, flush=True)
    return status


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for an expected failure, or None for a real bug."""
    from gui_app.core.errors import LoupeError

    if isinstance(exc, LoupeError):
        return exc.reason
    if isinstance(exc, OSError):  # missing files, permissions, a full disk...
        text = exc.strerror or str(exc)
        return f"{text}: {exc.filename}" if exc.filename else text
    return None


def _quiet_tensorflow(verbose: bool) -> None:
    """Before TensorFlow is imported: its log levels (C++ and Python)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    level = logging.DEBUG if verbose else logging.ERROR
    for name in ("tensorflow", "absl", "keras"):
        logging.getLogger(name).setLevel(level)


def _typo(word: str) -> int | None:
    """``loupe extrct``: a usage error naming the command meant, when one is close."""
    if word.startswith("-") or Path(word).exists():
        return None
    close = difflib.get_close_matches(word, SUBCOMMANDS, n=1, cutoff=0.6)
    if close:
        return _error(f"unknown command '{word}': did you mean '{close[0]}'?", 2)
    return None


def _window_folder(paths: list[Path]) -> Path | None:
    """The folder to open from ``loupe PATH...`` (a desktop "Open with" passes files too)."""
    if not paths:
        return None
    first = paths[0]
    return first.parent if first.is_file() else first


def _check_window_request(folder: Path | None) -> int | None:
    """Refuse a missing folder or a missing display before Qt starts."""
    if folder is not None and not folder.exists():
        return _error(
            f"folder does not exist: {folder} (commands: {', '.join(SUBCOMMANDS)}; "
            "'loupe --help' for more)"
        )
    if folder is not None and not folder.is_dir():
        return _error(f"not a folder: {folder}")
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM")
    )
    if headless:
        return _error(
            "cannot open the window: no display (DISPLAY is not set). Over SSH use the "
            "commands ('loupe --help') or connect with 'ssh -X'"
        )
    return None


def _run_command(argv: list[str]) -> int:
    from gui_app.cli.output import Output
    from gui_app.logs import native_stderr_to_log, setup_logging

    args = build_parser().parse_args(argv)
    out = Output(quiet=args.quiet, verbose=args.verbose, json=getattr(args, "json", False))
    setup_logging(args.verbose)
    _quiet_tensorflow(args.verbose)
    _log.info("loupe %s", " ".join(argv))
    with contextlib.ExitStack() as stack:
        if not args.verbose:
            stack.enter_context(native_stderr_to_log())
        return _dispatch(args, out)


def _dispatch(args, out) -> int:
    from gui_app import report_command
    from gui_app.cli import evaluate, export, extract, importing, train

    runners = {
        "extract": extract.run,
        "train": train.run,
        "predict": evaluate.run_predict,
        "evaluate": evaluate.run_evaluate,
        "import": importing.run,
        "export": export.run,
        "report": report_command.run_report,
    }
    return runners[args.command](args, out)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``loupe`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from gui_app.logs import setup_logging

    setup_logging(verbose="-v" in argv or "--verbose" in argv)
    try:
        if argv and argv[0] == "--self-test":
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            from gui_app.selftest import main as self_test_main

            return self_test_main(argv[1:])
        if argv and argv[0] in SUBCOMMANDS:
            return _run_command(argv)
        if argv and argv[0] in ("-h", "--help") and len(argv) == 1:
            build_gui_parser().print_help()
            print()
            build_parser().print_help()
            return 0
        typo = _typo(argv[0]) if argv else None
        if typo is not None:
            return typo
        args = build_gui_parser().parse_args(argv)
        args.folder = _window_folder(args.folder)
        refused = _check_window_request(args.folder)
        if refused is not None:
            return refused
        if args.backbone and args.backbone.endswith(".keras"):
            args.backbone = str(Path(args.backbone).expanduser().resolve())
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from gui_app.app import run_gui

        return run_gui(args)
    except KeyboardInterrupt:
        return _error("interrupted", 130)
    except BrokenPipeError:  # e.g. 'loupe export ... --out - | head'
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        message = user_error_message(exc)
        if message is None:
            _log.exception("unexpected error")
            raise
        _log.debug("user error", exc_info=True)
        return _error(message)
