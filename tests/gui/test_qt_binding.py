"""Guards against a Qt binding that corrupts Python's reference counts.

PySide6 6.12.0 drops one reference to ``None`` each time an invalid QVariant (a model's
``None`` data) reaches Python, which aborts the interpreter after a few thousand grid paints
on Python 3.11. pyproject.toml excludes that release; this test catches a regression.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QStringListModel, Qt


def test_invalid_qvariant_keeps_none_refcount(qapp):
    model = QStringListModel(["a"])
    index = model.index(0)
    before = sys.getrefcount(None)
    for _ in range(200):
        assert index.data(Qt.ItemDataRole.ToolTipRole) is None
    assert sys.getrefcount(None) - before > -50
