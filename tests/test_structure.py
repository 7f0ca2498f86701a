"""House rules of the code base that a reader relies on, checked by parsing the sources.

- Core imports no upper layer; the Qt layer and the widgets never import the front ends
  (command line, exports, report, self-test).
- The Qt layer changes the model, labels and vectors only through the session's own methods:
  no reach-through into ``session.learner``, ``session.labels`` or ``session.vectors``.
- No module of gui_app/ is over 400 lines unless its first docstring line says why.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.test_layers import PACKAGE, imports

FRONT_ENDS = ("gui_app.cli", "gui_app.commands", "gui_app.export_command", "gui_app.selftest",
              "gui_app.report_command")  # fmt: skip
MAX_LINES = 400
REASON = re.compile(r"(?i)\b(over|longer than|more than) 400 lines\b")


def sources(*layers: str) -> list[Path]:
    return sorted(p for layer in layers for p in (PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("path", sources("qt", "widgets"), ids=lambda p: p.name)
def test_views_and_adapters_do_not_import_front_ends(path: Path) -> None:
    for name, _top in imports(path):
        assert not name.startswith(FRONT_ENDS), f"{path.name} imports the front end {name}"


@pytest.mark.parametrize("path", sources("core"), ids=lambda p: p.name)
def test_core_imports_no_upper_layer(path: Path) -> None:
    for name, _top in imports(path):
        assert not name.startswith(("gui_app.qt", "gui_app.widgets", *FRONT_ENDS)), (
            f"{path.name} imports {name}: core must run headless, below every other layer"
        )


@pytest.mark.parametrize("path", sources("qt"), ids=lambda p: p.name)
def test_qt_layer_does_not_reach_into_the_session(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("learner", "labels", "vectors")
            and isinstance(node.value, ast.Attribute | ast.Name)
            and (node.value.attr if isinstance(node.value, ast.Attribute) else node.value.id)
            == "session"
        ):
            pytest.fail(f"{path.name}:{node.lineno} reaches into session.{node.attr}")


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_long_modules_say_why(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) <= MAX_LINES:
        return
    doc = ast.get_docstring(ast.parse("\n".join(lines))) or ""
    first = doc.splitlines()[0] if doc else ""
    assert REASON.search(first), (
        f"{path.relative_to(PACKAGE.parent)} has {len(lines)} lines: split it where its "
        "responsibilities part, or say in the first docstring line why it is over 400 lines"
    )


def test_every_package_is_installed() -> None:
    import tomllib

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.relative_to(PACKAGE.parent).parts[:-1])
        for p in PACKAGE.rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found | {"gui_app.resources"} == listed, "list new packages in pyproject.toml"
