"""Process-wide interpreter settings that keep the window's thread responsive.

Three things, all measured with ``benchmarks/bench_gui.py`` (2 cores, 100,000 images):

- The GIL switch interval. Every Qt call from Python releases the GIL; while a background
  thread runs Python (a model replay, feature ingestion), getting it back costs up to one
  switch interval. A grid repaint makes hundreds of such calls: with CPython's default 5 ms a
  repaint took 150 ms, with 0.5 ms 40 ms, with 0.1 ms 10 ms (3 ms alone). Background threads
  lose nothing while the window is idle.
- One BLAS thread per caller (:func:`single_threaded_blas`).
- The cyclic garbage collector (:func:`settle_heap`). A full collection walks every container
  object and holds the GIL: with a large project open it took 100-300 ms, on whichever thread
  triggered it. Objects that live as long as the project (image index, journal, model) are
  moved out of its sight once they exist, so later collections only walk what is new.
"""

from __future__ import annotations

import gc
import sys

GIL_SWITCH_INTERVAL = 0.0001  # seconds


def tune_for_interaction() -> None:
    """Short GIL switch interval and single-threaded BLAS (idempotent)."""
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL))
    single_threaded_blas()


def single_threaded_blas() -> None:
    """One BLAS thread per caller, process-wide.

    OpenBLAS runs one call at a time on its thread pool: while a background task (clustering,
    a re-check) multiplies large matrices, the GUI thread's re-score waited for the pool, up to
    a quarter of a second. Single-threaded calls run side by side in their own threads, and
    on two cores the pool gained the GUI nothing.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # comes with scikit-learn; without it BLAS keeps its default
        return
    threadpool_limits(limits=1, user_api="blas")


def settle_heap() -> None:
    """Exempt every object alive now from later garbage collections (``gc.freeze``).

    Call it when large long-lived structures have just been built (a folder indexed, cached
    features loaded, a model swapped in), not on every event: cyclic garbage alive at that
    moment is never reclaimed, which is why it is done a handful of times per session.
    """
    gc.freeze()
