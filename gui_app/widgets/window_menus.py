"""Which action lives in which menu of the main window's menu bar."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMainWindow, QMenu


class WindowMenus(QObject):
    """The translation context of the menu titles (``WindowMenus.tr``; never instantiated)."""


def build_menu_bar(window: QMainWindow, export_menu: QMenu) -> tuple[QMenu, QMenu]:
    """Fill ``window``'s menu bar with its actions; returns the Open Recent and Assign menus.

    ``window`` is the main window: its ``a_*`` actions and its filter menu are used as they are.
    """
    bar = window.menuBar()
    m = bar.addMenu(WindowMenus.tr("&File"))
    m.addAction(window.a_open)
    recent_menu = m.addMenu(WindowMenus.tr("Open &Recent"))
    m.addAction(window.a_close)
    m.addSeparator()
    m.addAction(window.a_import_csv)
    m.addAction(window.a_import_folders)
    m.addMenu(export_menu)
    m.addAction(window.a_unreadable)
    m.addAction(window.a_settings)
    m.addSeparator()
    m.addAction(window.a_quit)
    m = bar.addMenu(WindowMenus.tr("&Edit"))
    for a in (window.a_undo, window.a_redo, None, window.a_remove, window.a_skip, window.a_unsure):
        m.addSeparator() if a is None else m.addAction(a)
    m = bar.addMenu(WindowMenus.tr("&Label"))
    m.addAction(window.a_next_image)
    m.addAction(window.a_confirm)
    m.addSeparator()
    for action in (window.a_more_like, window.a_threshold, window.a_suspects):
        m.addAction(action)
    m.addSeparator()
    m.addAction(window.a_fit_final)
    m.addSeparator()
    assign_menu = m.addMenu(WindowMenus.tr("&Assign"))
    for a in window.a_assign:
        assign_menu.addAction(a)
    m.addAction(window.a_new_class)
    m = bar.addMenu(WindowMenus.tr("&View"))
    m.addAction(window.a_fullscreen)
    m.addAction(window.a_insight)
    m.addSeparator()
    m.addMenu(window.filter_menu)
    m.addSeparator()
    order_menu = m.addMenu(WindowMenus.tr("After an Action &Show"))
    for action in window.a_orders.values():
        order_menu.addAction(action)
    m.addSeparator()
    for a in (window.a_zoom_in, window.a_zoom_out, window.a_zoom_reset):
        m.addAction(a)
    m = bar.addMenu(WindowMenus.tr("E&xtraction"))
    m.addAction(window.a_pause)
    m.addAction(window.a_cancel)
    m = bar.addMenu(WindowMenus.tr("&Help"))
    m.addAction(window.a_shortcuts)
    m.addAction(window.a_about)
    return recent_menu, assign_menu
