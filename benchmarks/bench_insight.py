"""F13 Insight panel: key-path update cost and the cost of opening it on a long journal.

- Key path: one label action -> ``tracker.update(new rows)``, ``tracker.view(...)`` and
  ``InsightPanel.set_insight(view)``, at 10,000 labels and 20 classes (target <= 5 ms), with
  each tab of the panel visible; the paint that follows is timed on its own.
- Open: a 100,000-row journal read from SQLite and computed off the GUI thread
  (``iter_journal`` + ``compute_insight``); what the GUI thread then does
  (catch-up ``update`` + ``view`` + ``set_insight``) must stay under 50 ms.

Run from the repository root::

    python benchmarks/bench_insight.py [--labels 10000] [--classes 20] [--events 100000] [--json]

``measure_key_path`` and ``measure_open`` are importable (``benchmarks/bench_gui.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from gui_app.core.insight import build_tracker, compute_insight
from gui_app.core.journal_reader import iter_journal
from gui_app.core.label_schema import PALETTE, ClassInfo, Event
from gui_app.core.labels import LabelStore

PICKS = ("uncertain", "uncertain", "uncertain", "typical", "audit-random", "audit-confident")


def class_list(n_classes: int) -> list[ClassInfo]:
    return [ClassInfo(f"class {i:02d}", PALETTE[i % len(PALETTE)], i) for i in range(n_classes)]


def synthetic_events(n: int, n_classes: int, start_seq: int = 1, seed: int = 0) -> list[Event]:
    """``n`` label rows 4 s apart whose suggestion is right about 80 % of the time."""
    rng = np.random.default_rng(seed + start_seq)
    names = [c.name for c in class_list(n_classes)]
    out = []
    for k in range(n):
        seq = start_seq + k
        true = int(rng.integers(n_classes))
        probs = rng.dirichlet(np.ones(n_classes))
        if rng.random() < 0.8:
            probs[true] += 1.0
        probs /= probs.sum()
        pick = PICKS[int(rng.integers(len(PICKS)))]
        out.append(
            Event(
                seq,
                "label",
                1.7e9 + 4.0 * seq,
                f"part/{seq:07d}.png",
                names[true],
                None,
                None,
                dict(zip(names, probs.tolist(), strict=True)),
                False,
                {"pick": pick},
            )
        )
    return out


def _percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1e3
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


def measure_key_path(
    n_labels: int = 10_000, n_classes: int = 20, actions: int = 200, panel=None
) -> dict[str, dict[str, float]]:
    """Time one label action's insight update (tracker + panel) with each tab visible.

    ``panel`` is an :class:`InsightPanel` to update (one is made and shown when None; a
    QApplication must exist).
    """
    from PySide6.QtWidgets import QApplication

    from gui_app.widgets.insight_panel import InsightPanel

    app = QApplication.instance() or QApplication([])
    classes = class_list(n_classes)
    counts = {c.name: n_labels // n_classes for c in classes}
    tracker = build_tracker(synthetic_events(n_labels, n_classes))
    if panel is None:
        panel = InsightPanel()
        panel.resize(520, 640)
        panel.show()
    panel.set_insight(tracker.view(classes, counts))
    app.processEvents()
    results: dict[str, dict[str, float]] = {}
    new = synthetic_events(actions * panel.tabs.count(), n_classes, start_seq=n_labels + 1)
    for tab in range(panel.tabs.count()):
        panel.tabs.setCurrentIndex(tab)
        app.processEvents()
        update, cpu, paint, paint_cpu = [], [], [], []
        for e in new[tab * actions : (tab + 1) * actions]:
            counts[e.label] += 1
            c0, t0 = time.thread_time(), time.perf_counter()
            tracker.update([e])
            panel.set_insight(tracker.view(classes, counts))
            c1, t1 = time.thread_time(), time.perf_counter()
            app.processEvents()  # the scene's pending changes and the paint
            c2, t2 = time.thread_time(), time.perf_counter()
            paint_cpu.append(c2 - c1)
            update.append(t1 - t0)
            cpu.append(c1 - c0)
            paint.append(t2 - t1)
        name = panel.tabs.tabText(tab).lower()
        results[f"update_{name}"] = _percentiles(update)
        results[f"update_cpu_{name}"] = _percentiles(cpu)
        results[f"paint_{name}"] = _percentiles(paint)
        results[f"paint_cpu_{name}"] = _percentiles(paint_cpu)
    return results


def write_journal(path: Path, events: list[Event]) -> None:
    """A label database whose journal holds ``events`` (written directly, one transaction)."""
    LabelStore(path).close()
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO journal(seq, grp, kind, time, path, label, previous, target, prediction,"
            " data, undone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (
                (
                    e.seq,
                    e.seq,
                    e.kind,
                    e.time,
                    e.path,
                    e.label,
                    None,
                    None,
                    json.dumps(e.prediction),
                    json.dumps(e.data),
                )
                for e in events
            ),
        )
    db.close()


def measure_open(n_events: int = 100_000, n_classes: int = 20, workdir: Path | None = None):
    """Seconds of the off-thread part and milliseconds of the GUI-thread part of opening."""
    from PySide6.QtWidgets import QApplication

    from gui_app.widgets.insight_panel import InsightPanel

    app = QApplication.instance() or QApplication([])
    classes = class_list(n_classes)
    events = synthetic_events(n_events, n_classes)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        db = Path(tmp) / "labels.sqlite"
        write_journal(db, events)
        t0 = time.perf_counter()
        rows = list(iter_journal(db))  # a worker's own read-only connection, in chunks
        t1 = time.perf_counter()
    tracker, _view = compute_insight(rows, classes)
    t2 = time.perf_counter()
    panel = InsightPanel()
    panel.resize(520, 640)
    panel.show()
    app.processEvents()
    later = synthetic_events(3, n_classes, start_seq=n_events + 1)
    gui = {}
    for tab in range(panel.tabs.count()):
        panel.tabs.setCurrentIndex(tab)
        panel.set_insight(None)
        app.processEvents()
        t3 = time.perf_counter()
        tracker.update(later[:0] if tab else later)  # the rows written meanwhile, once
        panel.set_insight(tracker.view(classes))
        t4 = time.perf_counter()
        app.processEvents()
        t5 = time.perf_counter()
        name = panel.tabs.tabText(tab).lower()
        gui[f"set_insight_{name}_ms"] = (t4 - t3) * 1e3
        gui[f"paint_{name}_ms"] = (t5 - t4) * 1e3
    panel.close()
    return {
        "journal_read_s": t1 - t0,
        "compute_s": t2 - t1,
        "events": len(rows),
        **gui,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--actions", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    key = measure_key_path(args.labels, args.classes, args.actions)
    opening = measure_open(args.events, args.classes)
    if args.json:
        print(json.dumps({"key_path": key, "open": opening}, indent=2))
        return 0
    print(f"key path at {args.labels:,} labels, {args.classes} classes (target update <= 5 ms):")
    for name, stats in key.items():
        print(
            f"  {name:<22} p50 {stats['p50_ms']:6.2f} ms  p99 {stats['p99_ms']:6.2f} ms  "
            f"max {stats['max_ms']:6.2f} ms"
        )
    print(
        f"open on {opening['events']:,} journal rows: read {opening['journal_read_s']:.2f} s, "
        f"compute {opening['compute_s']:.2f} s (both off the GUI thread)"
    )
    print("  on the GUI thread:")
    for name, value in opening.items():
        if name.endswith("_ms"):
            print(f"  {name:<26} {value:6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
