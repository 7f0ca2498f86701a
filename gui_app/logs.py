"""Loupe's log files: a rotating plain-text log, and where native libraries' stderr goes.

``loupe.log`` (1 MB x 4 files) lives in the platform's log folder
(``platformdirs.user_log_dir("Loupe", "Loupe")``: ``~/.local/state/Loupe/log`` on Linux,
``~/Library/Logs/Loupe`` on macOS, ``%LOCALAPPDATA%\\Loupe\\Loupe\\Logs`` on Windows), or in
``$LOUPE_LOG_DIR``. Lines read ``2026-01-31 12:00:00,123 INFO gui_app.cli: message``.

``native.log`` beside it receives what C++ libraries (TensorFlow, LiteRT) print on file
descriptor 2 while :func:`native_stderr_to_log` is active, so a terminal shows Loupe's own
messages only and a crash of native code still leaves its last words on disk.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

LOG_DIR_ENV = "LOUPE_LOG_DIR"
LOG_NAME = "loupe.log"
NATIVE_LOG_NAME = "native.log"
MAX_BYTES = 1 << 20
BACKUPS = 3
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_NOISY = ("tensorflow", "absl", "h5py", "PIL", "matplotlib")  # INFO chatter kept out of the log


class _LoupeFileHandler(logging.handlers.RotatingFileHandler):
    """Marks the handler :func:`setup_logging` installed, so a second call replaces it."""


def log_dir() -> Path:
    """The folder of Loupe's logs: ``$LOUPE_LOG_DIR`` or the platform's user log folder."""
    override = os.environ.get(LOG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_log_dir

    return Path(user_log_dir("Loupe", "Loupe"))


def log_path() -> Path:
    """Path of the current log file (``loupe.log`` in :func:`log_dir`)."""
    return log_dir() / LOG_NAME


def _writable_dir(preferred: Path) -> Path:
    """``preferred``, created; else a per-user folder in the temp dir (read-only homes)."""
    for candidate in (preferred, Path(tempfile.gettempdir()) / f"loupe-logs-{_user()}"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            with open(candidate / LOG_NAME, "a", encoding="utf-8"):
                pass
            return candidate
        except OSError:
            continue
    return preferred


def _user() -> str:
    try:
        return str(os.getuid())
    except AttributeError:  # Windows
        return os.environ.get("USERNAME", "user")


def setup_logging(verbose: bool = False) -> Path:
    """Send Loupe's log records to the rotating ``loupe.log`` and return its path.

    Call once at start-up (the CLI does; the window calls it from ``app.py`` before building
    Qt objects and shows the returned path in its About box and crash dialog). Records at
    INFO and above are kept (DEBUG with ``verbose``); ``verbose`` also echoes them on stderr.
    Calling it again replaces the handlers it installed. Never raises: when no folder is
    writable, logging goes nowhere and the intended path is returned.
    """
    directory = _writable_dir(log_dir())
    path = directory / LOG_NAME
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_loupe", False)]:
        root.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(LOG_FORMAT)
    try:
        handler: logging.Handler = _LoupeFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
        )
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(formatter)
    handlers = [handler]
    if verbose:
        echo = logging.StreamHandler(sys.stderr)
        echo.setFormatter(formatter)
        handlers.append(echo)
    for h in handlers:
        h._loupe = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.captureWarnings(True)
    return path


@contextlib.contextmanager
def native_stderr_to_log(path: Path | None = None) -> Iterator[Path | None]:
    """Point file descriptor 2 at ``native.log`` while Python's ``sys.stderr`` keeps the terminal.

    TensorFlow and LiteRT write their start-up chatter (``failed call to cuInit``, oneDNN and
    XNNPACK notes) from C++ straight to descriptor 2, before any log level applies. Does nothing
    (yields None) when ``sys.stderr`` is not the process's descriptor 2, e.g. under pytest's
    capture. The log is started afresh once it exceeds :data:`MAX_BYTES`.
    """
    stream = sys.stderr
    try:
        usable = stream is sys.__stderr__ and stream is not None and stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        usable = False
    target = Path(path) if path is not None else _writable_dir(log_dir()) / NATIVE_LOG_NAME
    try:
        if not usable:
            raise OSError("stderr is not descriptor 2")
        with contextlib.suppress(OSError):
            if target.stat().st_size > MAX_BYTES:
                target.unlink()
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    except OSError:
        yield None
        return
    stream.flush()
    saved = os.dup(2)
    os.dup2(fd, 2)
    os.close(fd)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    os.write(2, f"--- {stamp} pid {os.getpid()}: {' '.join(sys.argv)}\n".encode(errors="replace"))
    terminal = open(  # noqa: SIM115 - closed in finally, after descriptor 2 is restored
        saved, "w", encoding=stream.encoding, errors=stream.errors, buffering=1, closefd=False
    )
    sys.stderr = terminal
    try:
        yield target
    finally:
        with contextlib.suppress(OSError, ValueError):
            terminal.flush()
        sys.stderr = stream
        os.dup2(saved, 2)
        os.close(saved)
        terminal.close()
