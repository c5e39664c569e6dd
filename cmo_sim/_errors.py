"""Exception types raised for bad user input."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["MAX_MESSAGE_CHARS", "ScenarioError", "TheoryError", "TooLargeError", "closest",
           "shorten"]

#: Longest message an input error carries; a longer one keeps its start (which names the file
#: and the field) and its end, with the middle elided.
MAX_MESSAGE_CHARS = 2000


def shorten(text: str, limit: int, *, middle: bool = False) -> str:
    """``text`` cut to at most ``limit`` characters, marking the cut with ``...``.

    Parameters
    ----------
    text : str
    limit : int
        At least 10.
    middle : bool
        Elide the middle (keeping both ends) instead of the end.
    """
    if len(text) <= limit:
        return text
    if middle:
        tail = (limit - 5) // 3
        return f"{text[:limit - 5 - tail]} ... {text[-tail:]}"
    return text[:limit - 4] + " ..."


class _InputError(ValueError):
    """A ValueError whose message is at most :data:`MAX_MESSAGE_CHARS` characters."""

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str) and len(args[0]) > MAX_MESSAGE_CHARS:
            args = (shorten(args[0], MAX_MESSAGE_CHARS, middle=True),)
        super().__init__(*args)


class ScenarioError(_InputError):
    """A scenario (or sweep) file or mapping is not valid.

    The message names the source, the field path (e.g. ``members[1].size``), the value and
    what is allowed.
    """


class TheoryError(_InputError):
    """A programme-theory file or mapping is not valid; the message names the rule and field."""


class TooLargeError(_InputError):
    """A request that would need more memory (or time) than the configured limit.

    Raised before any work; the message gives the estimate, the limit and how to get the
    result another way (see :mod:`cmo_sim._limits`).
    """


def closest(name: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest valid name, or an empty string."""
    match = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""
