"""Interpreter settings that keep the window's thread responsive (gui_app.qt.interpreter)."""

from __future__ import annotations

import gc
import sys

from gui_app.qt.interpreter import GIL_SWITCH_INTERVAL, settle_heap, tune_for_interaction


def test_tuning_shortens_the_gil_switch_interval_and_keeps_a_shorter_one():
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        tune_for_interaction()
        assert sys.getswitchinterval() <= GIL_SWITCH_INTERVAL * 1.01
        sys.setswitchinterval(GIL_SWITCH_INTERVAL / 2)
        tune_for_interaction()
        assert sys.getswitchinterval() < GIL_SWITCH_INTERVAL
    finally:
        sys.setswitchinterval(before)


def test_settled_objects_are_left_out_of_later_collections():
    long_lived = [[f"img{i}.jpg"] for i in range(1000)]  # lists are always tracked
    try:
        settle_heap()
        assert gc.get_freeze_count() >= len(long_lived)
        young = [["new.jpg"]]
        tracked = {id(o) for o in gc.get_objects(generation=0)}
        tracked |= {id(o) for o in gc.get_objects(generation=1)}
        tracked |= {id(o) for o in gc.get_objects(generation=2)}
        assert id(long_lived[0]) not in tracked  # a collection never walks it again
        assert id(young[0]) in tracked
    finally:
        gc.unfreeze()
