"""The orders an action moves on in: chosen by the model (Next) or the grid's own order."""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication

ORDERS = ("teach", "audit", "in-order", "in-order-unlabeled")
MODEL_ORDERS = ("teach", "audit")
ORDER_TEXT = {  # English; shown through order_text()
    "teach": QT_TRANSLATE_NOOP("orders", "Teach: the model picks"),
    "audit": QT_TRANSLATE_NOOP("orders", "Audit: check the model"),
    "in-order": QT_TRANSLATE_NOOP("orders", "In grid order"),
    "in-order-unlabeled": QT_TRANSLATE_NOOP("orders", "In grid order, unlabeled only"),
}
LEGACY = {"next": "in-order", "next-unlabeled": "in-order-unlabeled"}


def order_text(order: str) -> str:
    """The translated name of ``order`` ('' for an unknown one)."""
    text = ORDER_TEXT.get(order)
    return QCoreApplication.translate("orders", text) if text else ""


def normal_order(order: str) -> str:
    """An order name, accepting the names of earlier versions ('next', 'next-unlabeled')."""
    order = LEGACY.get(order, order)
    return order if order in ORDERS else "teach"
