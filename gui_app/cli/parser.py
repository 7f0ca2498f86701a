"""The argument parsers: shared option groups, value checks and the top-level parsers.

Each subcommand's module adds its own parser (a description, an example, every default
documented). Choices come from the registries (:data:`~gui_app.core.learner.LEARNERS`,
:data:`~gui_app.core.engine_choice.ENGINE_CHOICES`, :data:`~gui_app.core.backbones.BACKBONE_NAMES`),
never from literals repeated here.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from gui_app import __version__
from gui_app.core.backbones import BACKBONE_NAMES, DEFAULT_BACKBONE, DEFAULT_WEIGHTS
from gui_app.core.engine_choice import ENGINE_CHOICES, ENGINE_HELP

SUBCOMMANDS = ("extract", "train", "predict", "evaluate", "import", "export", "report")
REMEMBERED = "default: the project's remembered choice"


class _Learners(Sequence[str]):
    """:data:`gui_app.core.learner.LEARNERS`, imported only when argparse checks or prints them.

    Importing river costs about a second; a mistyped command or a missing folder must not.
    """

    @staticmethod
    def _names() -> tuple[str, ...]:
        from gui_app.core.learner import LEARNERS

        return LEARNERS

    def __getitem__(self, index):  # type: ignore[override]
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())


class _DefaultLearner:
    """:data:`gui_app.core.learner.DEFAULT_LEARNER` for help texts, read when help is printed."""

    def __str__(self) -> str:
        from gui_app.core.learner import DEFAULT_LEARNER

        return DEFAULT_LEARNER


LEARNER_CHOICES = _Learners()


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the descriptions' and examples' line breaks; wider option column."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def backbone_arg(value: str) -> str:
    """A registry backbone name (aliases allowed) or a ``.keras`` path; checked without TF."""
    if value.strip().lower().endswith(".keras"):
        return value
    from gui_app.core.backbones import BackboneError, resolve_backbone

    try:
        resolve_backbone(value, "none")
    except BackboneError as exc:
        raise argparse.ArgumentTypeError(exc.reason) from None
    return value


def _unit_number(value: str, *, inclusive: bool) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if inclusive and not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    if not inclusive and not 0.0 < number < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {value}")
    return number


def fraction_arg(value: str) -> float:
    """A number strictly between 0 and 1."""
    return _unit_number(value, inclusive=False)


def probability_arg(value: str) -> float:
    """A number from 0 to 1."""
    return _unit_number(value, inclusive=True)


def _whole_number(value: str, minimum: int, too_small: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < minimum:
        raise argparse.ArgumentTypeError(f"{too_small}, got {value}")
    return number


def positive_int(value: str) -> int:
    """An integer >= 1."""
    return _whole_number(value, 1, "must be at least 1")


def seed_arg(value: str) -> int:
    """A non-negative integer seed."""
    return _whole_number(value, 0, "a seed must be 0 or more")


def common_options() -> argparse.ArgumentParser:
    """The parent parser of every subcommand: ``--quiet`` and ``--verbose``."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("output")
    loud = group.add_mutually_exclusive_group()
    loud.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only the result: no notes or progress on stderr",
    )
    loud.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print debug notes and TensorFlow's own messages on stderr",
    )
    return common


def add_command(
    sub: argparse._SubParsersAction,
    name: str,
    common: argparse.ArgumentParser,
    summary: str,
    description: str,
    example: str,
) -> argparse.ArgumentParser:
    """A subcommand parser with its description and an ``example:`` epilog."""
    return sub.add_parser(
        name,
        parents=[common],
        help=summary,
        description=description,
        epilog="example:\n" + example,
        formatter_class=Formatter,
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    """``--json``."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the summary as one JSON object on stdout (shape in the README)",
    )


def add_backbone_options(parser: argparse.ArgumentParser, *, engine: bool = False) -> None:
    """``--backbone``, ``--weights``, ``--project-dir`` (and ``--engine``)."""
    group = parser.add_argument_group("feature extractor")
    group.add_argument(
        "--backbone",
        type=backbone_arg,
        metavar="NAME|FILE",
        help=f"{', '.join(BACKBONE_NAMES)} or a .keras model file "
        f"({REMEMBERED}; {DEFAULT_BACKBONE} for a new project)",
    )
    group.add_argument(
        "--weights",
        metavar="WEIGHTS",
        help=f"imagenet, none, or a local weights file ({REMEMBERED}; {DEFAULT_WEIGHTS})",
    )
    if engine:
        group.add_argument(
            "--engine",
            choices=ENGINE_CHOICES,
            help=f"inference engine: {ENGINE_HELP}. Features of int8 and float32 engines are "
            f"cached apart and never mixed ({REMEMBERED}; {ENGINE_CHOICES[0]})",
        )
    group.add_argument(
        "--project-dir",
        type=Path,
        metavar="DIR",
        help="the project files live in DIR instead of FOLDER/.loupe (read-only folders)",
    )


def add_label_from(parser: argparse.ArgumentParser) -> None:
    """``--label-from`` (default: the project's labels)."""
    parser.add_argument(
        "--label-from",
        metavar="SOURCE",
        help="where the true classes come from: 'filename' (text before the first dot), "
        "'folder' (parent folder's name) or a labels file (CSV with path,label columns, or a "
        "Loupe labels export) (default: the project's own labels when SOURCE is an image "
        "folder)",
    )


def add_learner(parser: argparse.ArgumentParser, what: str = "online learner") -> None:
    """``--learner`` with the registry's choices."""
    action = parser.add_argument(
        "--learner",
        choices=LEARNER_CHOICES,
        metavar="NAME",
        help=f"{what}: %(choices)s ({REMEMBERED}; %(fallback)s)",
    )
    action.fallback = _DefaultLearner()  # type: ignore[attr-defined]


def add_shuffle(parser: argparse.ArgumentParser, what: str) -> None:
    """``--shuffle SEED`` / ``--no-shuffle``; shuffled with a new random seed by default."""
    order = parser.add_mutually_exclusive_group()
    order.add_argument(
        "--shuffle",
        type=seed_arg,
        metavar="SEED",
        help=f"{what} with this seed (default: a new random seed, printed)",
    )
    order.add_argument(
        "--no-shuffle",
        action="store_true",
        help="keep the file order (biased when the files are sorted by class)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The subcommand parser (the window's own options are in :func:`build_gui_parser`)."""
    from gui_app.cli import evaluate, export, extract, importing, train

    parser = argparse.ArgumentParser(
        prog="loupe",
        description="Teach an image classifier by working through a folder of images.",
        epilog="Run 'loupe [FOLDER]' without a command to open the window; "
        "'loupe COMMAND --help' explains a command.",
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=f"loupe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = common_options()
    for module in (extract, train, evaluate, importing, export):
        module.add_parsers(sub, common)
    from gui_app.report_command import add_parser as add_report

    add_report(sub, common)
    return parser


def build_gui_parser() -> argparse.ArgumentParser:
    """Options of ``loupe [FOLDER]`` (the window)."""
    parser = argparse.ArgumentParser(
        prog="loupe",
        usage="loupe [FOLDER] [options]  |  loupe COMMAND ...",
        description="Open the Loupe window, on FOLDER if given. Commands: "
        + ", ".join(SUBCOMMANDS)
        + " ('loupe COMMAND --help').",
        formatter_class=Formatter,
    )
    parser.add_argument(
        "folder",
        type=Path,
        nargs="*",
        metavar="FOLDER",
        help="image folder (a file opens its folder; file managers may pass several: the "
        "first is opened)",
    )
    parser.add_argument("--version", action="version", version=f"loupe {__version__}")
    add_backbone_options(parser)
    action = parser.add_argument(
        "--learner",
        choices=LEARNER_CHOICES,
        metavar="NAME",
        help="online learner for a new project: %(choices)s (default: %(fallback)s)",
    )
    action.fallback = _DefaultLearner()  # type: ignore[attr-defined]
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check TensorFlow, the backbone, HDF5, SQLite and the learner, then exit",
    )
    return parser
