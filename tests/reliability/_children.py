"""Child processes for the kill -9 tests: ``python -m tests.reliability._children MODE ...``.

Modes
-----
zygote
    Imports Loupe once, then for each JSON request on stdin forks a child that opens a
    `LabelingSession` on the request's folder and applies label actions until it is killed
    (SIGKILL after ``delay`` seconds). Replies one JSON line with how the child ended. Forking
    from a warm process keeps each trial at a few milliseconds of start-up instead of seconds.
store H5 KILL_AT WHEN
    Appends blocks of rows to a `FeatureStore` and SIGKILLs itself ``WHEN`` (before/after) its
    KILL_AT-th HDF5 flush, i.e. at one precise phase of the two-phase commit.
extract FOLDER BACKBONE H5 ENGINES KILL_AT_COMMIT
    Runs the real extraction pipeline (tiny Keras backbone); prints ``batch <committed rows>``
    after every committed batch; with KILL_AT_COMMIT > 0 it SIGKILLs itself when it is about to
    mark that batch committed (rows written and flushed, commit attribute not yet set).

Every child reports progress as whole lines written with one ``write`` each (flushed at once),
so a line that was printed is a promise the parent can check after the kill.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sys
import time
import traceback
from pathlib import Path

from tests.reliability.helpers import image_paths, synthetic_vectors

MAX_CLASSES = 9


def _writer(path: str):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def say(text: str) -> None:
        os.write(fd, (text + "\n").encode("utf-8"))

    return say


def _fresh_name(rng: random.Random, names: list[str]) -> str:
    taken = {n.casefold() for n in names}
    while True:
        name = f"k{rng.randrange(1000)}"
        if name.casefold() not in taken:
            return name


def _act(session, rng: random.Random, paths: list[str]):
    """One random valid action (never one that fails: see the orphan-undo-snapshot report)."""
    names = session.labels.class_names()
    if rng.random() < 0.3:
        session.prepare_undo()  # what the window does in idle time between actions
    r = rng.random()
    if r < 0.10:
        session.save_snapshot()
        return "snapshot", session.learner.journal_seq if not session.needs_rebuild else -1
    if r < 0.22 and session.labels.can_undo():
        return "event", session.undo().event
    if r < 0.29 and session.labels.can_redo():
        return "event", session.redo().event
    if r < 0.33 and len(names) < MAX_CLASSES:
        return "event", session.add_class(_fresh_name(rng, names)).event
    labelled = session.labels.labels()
    if r < 0.38 and labelled:
        return "event", session.unlabel(rng.choice(sorted(labelled))).event
    if r < 0.41 and len(names) >= 3:
        return "event", session.rename_class(rng.choice(names), _fresh_name(rng, names)).event
    if r < 0.44 and len(names) >= 3:
        source, target = rng.sample(names, 2)
        return "event", session.merge_classes(source, target).event
    if r < 0.46 and len(names) >= 4:
        return "event", session.delete_class(rng.choice(names)).event
    if not names or (rng.random() < 0.08 and len(names) < MAX_CLASSES):
        label = _fresh_name(rng, names)
    else:
        label = rng.choice(names)
    path = rng.choice(paths[:80])  # a small pool, so relabels and confirms happen too
    return "event", session.label(path, label).event


def session_actions(
    root: str, log: str, seed: int, dim: int, n_images: int, idle_after: int = -1
) -> None:
    """Open the project, recover it, then act until killed, logging every returned action.

    With ``idle_after >= 0`` the child saves a snapshot after that many actions and then
    idles, as a user who stopped labelling while the snapshot timer ran.
    """
    from gui_app.core.project import Project
    from gui_app.core.session import LabelingSession

    say = _writer(log)
    rng = random.Random(seed)
    session = LabelingSession(Project(Path(root)))
    say(f"open {session.labels.last_seq()} {int(session.needs_rebuild)}")
    paths = image_paths(n_images)
    session.add_vectors(paths, synthetic_vectors(paths, dim))
    if session.needs_rebuild:
        session.rebuild()
        say("rebuilt")
    done = 0
    while True:
        if done == idle_after:
            session.save_snapshot()
            say(f"snapshot {session.learner.journal_seq} idle")
            time.sleep(3600)
        done += 1
        what, result = _act(session, rng, paths)
        if what == "snapshot":
            say(f"snapshot {result}")
        else:
            e = result
            say(f"committed {e.seq} {e.kind} {e.path or '-'} {e.label or '-'}")


def zygote() -> None:
    import gui_app.core.project
    import gui_app.core.session  # noqa: F401  (warm imports shared by every forked child)

    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the child: never returns into the loop
            code = 0
            try:
                err = os.open(req["log"] + ".err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(err, 2)
                session_actions(
                    req["root"], req["log"], req["seed"], req["dim"], req["images"], req["idle"]
                )
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stderr.flush()
                os._exit(code)
        time.sleep(req["delay"])
        with contextlib.suppress(ProcessLookupError):  # it may have died on its own
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        reply = {
            "pid": pid,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        }
        print(json.dumps(reply), flush=True)


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)  # never reached


def store_writer(h5: str, kill_at: int, when: str) -> None:
    import h5py
    import numpy as np

    from gui_app.core.store import FeatureStore, FileKey

    real_flush = h5py.File.flush
    count = 0

    def flush(self) -> None:
        nonlocal count
        count += 1
        if count == kill_at and when == "before":
            _kill_self()
        real_flush(self)
        if count == kill_at and when == "after":
            _kill_self()

    h5py.File.flush = flush
    say = _writer("/dev/stdout")
    with FeatureStore(Path(h5), "bb", 8) as store:
        block = 0
        while True:
            start = len(store)
            keys = [FileKey(f"img{i}.jpg", 100 + i, 7) for i in range(start, start + 16)]
            vecs = np.tile(np.arange(start, start + 16, dtype=np.float32)[:, None], (1, 8))
            if block % 3 == 1:
                store.record_failure(FileKey(f"bad{block}.jpg", 1, 1), f"reason {block}")
            store.append(keys, vecs)
            say(f"committed {len(store)}")
            block += 1


def extract(folder: str, backbone: str, h5: str, engines: str, kill_at_commit: int) -> None:
    import h5py

    from gui_app.core.backbones import resolve_backbone
    from gui_app.core.engines import create_engine
    from gui_app.core.extraction import ExtractionCallbacks, engine_key, run_extraction
    from gui_app.core.images import scan_images

    say = _writer("/dev/stdout")
    root = Path(folder)
    spec = resolve_backbone(backbone)
    engine = create_engine(spec, Path(engines), prefer="tf-function", log=lambda m: None)
    if kill_at_commit > 0:
        real_setitem = h5py.AttributeManager.__setitem__
        commits = 0

        def setitem(self, name, value) -> None:
            nonlocal commits
            owner = h5py.h5i.get_name(self._id).decode()
            if name == "committed" and value > 0 and not owner.endswith("/failures"):
                commits += 1  # a main-table commit (not the failures table's)
                if commits == kill_at_commit:
                    say(f"killing before commit {value}")
                    _kill_self()
            real_setitem(self, name, value)

        h5py.AttributeManager.__setitem__ = setitem
    paths = scan_images(root)
    say("ready")
    committed = 0

    def on_batch(batch: list[str], vectors) -> None:
        nonlocal committed
        committed += len(batch)  # rows committed to this fresh file so far
        say(f"batch {committed}")

    run_extraction(
        root,
        paths,
        Path(h5),
        Path(engines),
        spec,
        engine="tf-function",
        batch_size=2,
        callbacks=ExtractionCallbacks(extracted=on_batch),
        engine_cache={engine_key(spec, "tf-function"): engine},
        decode_workers=1,
    )
    say("done")


def main(argv: list[str]) -> None:
    mode, args = argv[0], argv[1:]
    if mode == "zygote":
        zygote()
    elif mode == "store":
        store_writer(args[0], int(args[1]), args[2])
    elif mode == "extract":
        extract(args[0], args[1], args[2], args[3], int(args[4]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
