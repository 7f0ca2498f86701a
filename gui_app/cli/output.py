"""What the CLI prints: notes on stderr, the result on stdout, progress bars, ``--out -``.

Notes and progress go to stderr (silenced by ``--quiet``) and to the log file; the result goes
to stdout, as text or, with ``--json``, as one JSON object. Progress is a tqdm bar when stderr
is a terminal and a plain line every :data:`PLAIN_EVERY` seconds otherwise, so log files never
get carriage-return frames.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gui_app.core.errors import LoupeError

STDOUT = "-"
PLAIN_EVERY = float(os.environ.get("LOUPE_PROGRESS_SECONDS", "10"))
_log = logging.getLogger("gui_app.cli")
T = TypeVar("T")


class UserError(LoupeError):
    """A command-line request that cannot be done (printed as one line, exit status 1)."""


@dataclass
class Output:
    """The printing side of one command run."""

    quiet: bool = False
    verbose: bool = False
    json: bool = False

    def note(self, message: str) -> None:
        """A progress note or explanation: stderr (unless quiet) and the log."""
        _log.info("%s", message)
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def debug(self, message: str) -> None:
        """Only with --verbose (and in the log)."""
        _log.debug("%s", message)
        if self.verbose:
            print(message, file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        """``loupe: warning: ...`` on stderr, also when quiet."""
        _log.warning("%s", message)
        print(f"loupe: warning: {message}", file=sys.stderr, flush=True)

    def result(self, text: str, data: dict[str, Any]) -> None:
        """The command's summary: ``text`` lines, or ``data`` as one JSON object."""
        _log.info("result: %s", json.dumps(data, default=str))
        if self.json:
            print(json.dumps(data, default=str, ensure_ascii=False), flush=True)
        elif text:
            print(text, flush=True)

    def progress(self, total: int, unit: str, label: str) -> Progress:
        """A progress display for ``total`` items."""
        return Progress(self, total, unit, label)


class Progress:
    """tqdm on a terminal, plain periodic lines otherwise, nothing when quiet."""

    def __init__(self, out: Output, total: int, unit: str, label: str) -> None:
        self.out, self.total, self.unit, self.label = out, total, unit, label
        self.done = 0
        self._bar = None
        self._last = time.monotonic()
        self._printed = False
        if not out.quiet and total > 0 and _is_terminal(sys.stderr):
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=unit, desc=label, file=sys.stderr, leave=False)

    def update(self, done: int, postfix: str = "") -> None:
        """Set the count of finished items (absolute, not an increment)."""
        self.done = done
        if self.out.quiet:
            return
        if self._bar is not None:
            self._bar.n = done
            if postfix:
                self._bar.set_postfix_str(postfix, refresh=False)
            self._bar.refresh()
        elif time.monotonic() - self._last >= PLAIN_EVERY:
            self._plain(postfix)

    def _plain(self, postfix: str) -> None:
        self._last = time.monotonic()
        self._printed = True
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        tail = f", {postfix}" if postfix else ""
        self.out.note(f"{self.label}: {self.done}/{self.total} {self.unit}{share}{tail}")

    def close(self) -> None:
        """Remove the bar (or print a final plain line if any was printed)."""
        if self._bar is not None:
            self._bar.close()
        elif self._printed and not self.out.quiet:
            self._plain("")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def to_stdout_allowed(out: str, what: str) -> None:
    """Refuse ``--out -`` for an output that cannot go to standard output."""
    if out == STDOUT:
        raise UserError(f"--out - (standard output) works for CSV and JSON files only, not {what}")


def write_output(out: str, write: Callable[[Path], T], suffix: str = ".csv") -> T:
    """Call ``write(path)`` with the file named by ``--out``, or stream it to stdout for ``-``.

    For ``-`` the file is written to a temporary folder first (the writers replace files
    atomically) and then copied to stdout in blocks, so memory stays constant.
    """
    if out != STDOUT:
        return write(Path(out))
    with tempfile.TemporaryDirectory(prefix="loupe-out-") as tmp:
        path = Path(tmp) / f"out{suffix}"
        result = write(path)
        sys.stdout.flush()
        with path.open("rb") as fh, _stdout_binary() as sink:
            shutil.copyfileobj(fh, sink)
    return result


@contextlib.contextmanager
def _stdout_binary() -> Iterator[Any]:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        yield buffer
        buffer.flush()
        return

    # e.g. pytest's capture: a text stream only
    class _Text:
        def write(self, data: bytes) -> int:
            return sys.stdout.write(data.decode("utf-8", "surrogateescape"))

    yield _Text()
