"""Entry script of the PyInstaller bundle: the ``loupe`` command line, plus ``--self-test``.

``Loupe --self-test [--backbone B] [--weights W]`` is handled here directly, so a bundle can be
checked whether or not :mod:`gui_app.cli` knows the option; everything else goes to
:func:`gui_app.cli.main`.
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def _ensure_streams() -> None:
    """Give a windowed (no console) Windows build usable ``sys.stdout``/``sys.stderr``.

    Attaches to the console of the parent process when there is one (so ``Loupe.exe
    --self-test`` prints in cmd/PowerShell), else discards output instead of crashing on None.
    """
    if sys.stdout is not None and sys.stderr is not None:
        return
    if sys.platform == "win32":
        import ctypes

        if ctypes.windll.kernel32.AttachConsole(-1):  # ATTACH_PARENT_PROCESS
            sys.stdout = open("CONOUT$", "w", encoding="utf-8")  # noqa: SIM115
            sys.stderr = sys.stdout
            return
    devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    sys.stdout = sys.stdout or devnull
    sys.stderr = sys.stderr or devnull


def main(argv: list[str] | None = None) -> int:
    """Run the self-test or the ``loupe`` command line; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _ensure_streams()
    if argv[:1] == ["--self-test"]:
        from gui_app.selftest import main as self_test_main

        return self_test_main(argv[1:])
    from gui_app.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    multiprocessing.freeze_support()
    raise SystemExit(main())
