"""Make a train / held-out split of a labelled image folder as two folders of symlinks.

Run from the repository root::

    python benchmarks/split_folder.py ../shared/data/eurosat-mini /tmp/loupe-split/eurosat \\
        --label-from folder --train-per-class 100 --test-per-class 50
    python benchmarks/split_folder.py ../shared/data/dogs-vs-cats-mini /tmp/loupe-split/dogs \\
        --label-from filename --test-fraction 0.3

writes ``OUT/train`` and ``OUT/test`` (relative paths kept, so folder labels still work). The
split is stratified and fixed by ``--seed``; running it again with the same arguments leaves
existing folders (and their ``.loupe`` feature caches) as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gui_app.core.images import scan_images  # noqa: E402
from gui_app.core.training import label_source  # noqa: E402


def split_paths(
    paths: list[str],
    labels: list[str],
    *,
    seed: int = 0,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
    test_fraction: float = 0.3,
) -> tuple[list[str], list[str]]:
    """Stratified ``(train, test)`` relative paths, each class shuffled with ``seed``."""
    rng = np.random.default_rng(seed)
    train: list[str] = []
    test: list[str] = []
    for cls in sorted(set(labels)):
        mine = sorted(p for p, lab in zip(paths, labels, strict=True) if lab == cls)
        mine = [mine[i] for i in rng.permutation(len(mine))]
        n_test = test_per_class if test_per_class is not None else round(len(mine) * test_fraction)
        n_train = train_per_class if train_per_class is not None else len(mine) - n_test
        if n_test + n_train > len(mine):
            raise SystemExit(f"class {cls!r} has {len(mine)} images, {n_train + n_test} asked")
        test += mine[:n_test]
        train += mine[n_test : n_test + n_train]
    return sorted(train), sorted(test)


def link_all(source: Path, dest: Path, rels: list[str]) -> None:
    """Symlink every ``source/rel`` as ``dest/rel``."""
    for rel in rels:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_symlink():
            os.symlink(source / rel, target)


def make_split(source: Path, out: Path, label_from: str, **kwargs) -> tuple[Path, Path]:
    """Create (or reuse) ``out/train`` and ``out/test``; returns both folders."""
    source = source.resolve()
    stamp = {"source": str(source), "label_from": label_from, **kwargs}
    marker = out / "split.json"
    train_dir, test_dir = out / "train", out / "test"
    if marker.is_file() and json.loads(marker.read_text()) == stamp:
        return train_dir, test_dir
    if marker.exists() or train_dir.exists() or test_dir.exists():
        raise SystemExit(f"{out} holds another split; remove it first")
    label_of = label_source(label_from)
    paths = [p for p in scan_images(source) if label_of(p)]
    train, test = split_paths(paths, [label_of(p) for p in paths], **kwargs)
    link_all(source, train_dir, train)
    link_all(source, test_dir, test)
    marker.write_text(json.dumps(stamp))
    return train_dir, test_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--label-from", default="folder", choices=("folder", "filename"))
    parser.add_argument("--train-per-class", type=int, default=None)
    parser.add_argument("--test-per-class", type=int, default=None)
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train, test = make_split(
        args.source,
        args.out,
        args.label_from,
        seed=args.seed,
        train_per_class=args.train_per_class,
        test_per_class=args.test_per_class,
        test_fraction=args.test_fraction,
    )
    print(f"{train}  {test}")


if __name__ == "__main__":
    main()
