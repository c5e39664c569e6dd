"""Exception types raised for bad user input."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["ScenarioError", "TheoryError", "closest"]


class ScenarioError(ValueError):
    """A scenario (or sweep) file or mapping is not valid.

    The message names the source, the field path (e.g. ``members[1].size``), the value and
    what is allowed.
    """


class TheoryError(ValueError):
    """A programme-theory file or mapping is not valid; the message names the rule and field."""


def closest(name: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest valid name, or an empty string."""
    match = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""
