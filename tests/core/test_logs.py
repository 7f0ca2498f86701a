"""The rotating log file and the native-stderr redirection of gui_app.logs."""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gui_app.logs import LOG_NAME, NATIVE_LOG_NAME, log_path, setup_logging


@pytest.fixture
def log_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LOUPE_LOG_DIR", str(tmp_path / "logs"))
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield tmp_path / "logs"
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def test_plain_lines_with_time_and_level_in_a_rotating_file(log_dir: Path) -> None:
    path = setup_logging(verbose=False)
    assert path == log_dir / LOG_NAME == log_path()
    setup_logging(verbose=False)  # a second call replaces, never duplicates
    logging.getLogger("gui_app.test").info("hello %s", "log")
    logging.getLogger("gui_app.test").debug("not kept without verbose")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_loupe", False)]
    assert len(ours) == 1 and isinstance(ours[0], logging.handlers.RotatingFileHandler)
    ours[0].flush()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO gui_app.test: hello log", lines[0]
    )
    assert ours[0].maxBytes > 0 and ours[0].backupCount > 0


def test_unwritable_log_folder_falls_back(tmp_path: Path, monkeypatch, log_dir) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LOUPE_LOG_DIR", str(blocker / "logs"))
    path = setup_logging()
    assert path.parent != blocker / "logs" and path.name == LOG_NAME


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX descriptors in a child")
def test_native_stderr_goes_to_the_log_folder_python_stderr_stays(tmp_path: Path) -> None:
    script = (
        "import os, sys\n"
        "from gui_app.logs import native_stderr_to_log\n"
        "with native_stderr_to_log() as target:\n"
        "    os.write(2, b'E0000 failed call to cuInit: native noise\\n')\n"
        "    print('loupe: a note for the user', file=sys.stderr)\n"
        "os.write(2, b'after: back on the terminal\\n')\n"
    )
    env = dict(os.environ, LOUPE_LOG_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "loupe: a note for the user",
        "after: back on the terminal",
    ]
    native = (tmp_path / NATIVE_LOG_NAME).read_text(encoding="utf-8")
    assert "failed call to cuInit" in native and native.startswith("--- ")
