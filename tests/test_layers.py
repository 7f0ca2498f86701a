"""Import rules of ARCHITECTURE.md, checked by parsing every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gui_app"
TF_MODULES = {
    "backbones.py",
    "engines.py",
    "gpu.py",
    "export_model.py",
    "export.py",
    "export_int8.py",
    "efficientnet_lite.py",
    "lite0.py",
    "quantize.py",
}


def imports(path: Path) -> list[tuple[str, bool]]:
    """(module name, imported at module level?) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top_level))
    return found


def modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).glob("*.py"))


@pytest.mark.parametrize("path", modules("core"), ids=lambda p: p.name)
def test_core_has_no_qt_and_lazy_tensorflow(path: Path) -> None:
    for name, top in imports(path):
        root = name.split(".")[0]
        assert root != "PySide6", f"{path.name} imports Qt ({name})"
        if root in ("tensorflow", "keras", "ai_edge_litert"):
            assert path.name in TF_MODULES, f"{path.name} imports {name}"
            assert not top, f"{path.name} imports {name} at module level (must be lazy)"


@pytest.mark.parametrize("path", modules("qt"), ids=lambda p: p.name)
def test_qt_adapters_use_no_widgets(path: Path) -> None:
    for name, _top in imports(path):
        assert name != "PySide6.QtWidgets", f"{path.name} imports QtWidgets"
        assert not name.startswith("gui_app.widgets"), f"{path.name} imports {name}"
        assert not name.startswith("tensorflow") and not name.startswith("keras")


@pytest.mark.parametrize("path", modules("widgets"), ids=lambda p: p.name)
def test_widgets_do_not_reach_into_core(path: Path) -> None:
    for name, _top in imports(path):
        assert not name.startswith("gui_app.core"), f"{path.name} imports {name}"
