"""The one base of every error Loupe reports to a user (CLI line, window dialog).

Each subclass is raised for bad input or an unusable file with a short, specific ``reason``;
front ends print ``exc.reason`` and never a traceback. Anything that is not a `LoupeError`
(or one of the few OS errors the CLI names) is a bug and keeps its traceback.
"""

from __future__ import annotations


class LoupeError(Exception):
    """A failure the user can act on; ``reason`` is the one-line explanation.

    Parameters
    ----------
    reason
        Human-readable, specific text (``"empty file (0 bytes)"``); defaults to ``str(args)``.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*args)

    @property
    def reason(self) -> str:
        """The one-line message shown to the user."""
        return str(self.args[0]) if len(self.args) == 1 else str(self)
