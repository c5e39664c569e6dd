"""Shared plotting helpers: the palette, axis labels with units, argument checks, axes set-up."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "OUTCOME_LABELS",
    "PALETTE",
    "check_choice",
    "default_by",
    "factor_label",
    "group_colour",
    "group_label",
    "months_to_dissolution",
    "panels",
    "summary_frame",
]

#: Okabe-Ito colour-blind-safe palette: blue, orange, bluish green, vermillion, reddish purple,
#: sky blue, yellow, black.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
# Yellow is hard to see as a thin line on white, so it comes last for groups.
_GROUP_ORDER = (0, 1, 2, 3, 4, 5, 7, 6)
GREY = "#999999"

#: Axis labels (with units) of the per-run summary outcomes.
OUTCOME_LABELS = {
    "n_members": "members at the start [count]",
    "dissolved": "share dissolved [0-1]",
    "dissolved_at": "month of dissolution",
    "performance": "cumulative performance [ambition units]",
    "synergy_mean": "mean synergy over the run [0-1]",
    "synergy_final": "final synergy [0-1]",
    "trust_final": "final mean trust [0-1]",
    "faith_final": "final mean faith [0-1]",
    "members_final": "members at the end [count]",
    "conflicts": "conflicts [count]",
    "constructive": "constructively resolved conflicts [count]",
    "destructive": "destructively resolved conflicts [count]",
    "successes": "task successes [count]",
    "failures": "task failures [count]",
    "dominations": "dominations [count]",
    "exits": "member exits [count]",
    "turnovers": "leadership changes at members [count]",
}


def group_colour(k: int) -> str:
    """The palette colour of the ``k``-th group (yellow last, since it is faint on white)."""
    return PALETTE[_GROUP_ORDER[k % len(_GROUP_ORDER)]]


def check_choice(argument: str, value: Any, allowed: Iterable[Any]) -> None:
    """Raise ``ValueError`` naming the argument, the value and the allowed values."""
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(
            f"{argument}: {value!r} is not allowed (allowed: {', '.join(map(str, allowed))})"
        )


def summary_frame(source: Any, argument: str = "results") -> pd.DataFrame:
    """The per-run summary of Results or SweepResults (anything with ``.summary``) or a frame."""
    if isinstance(source, pd.DataFrame):
        return source
    summary = getattr(source, "summary", None)
    if isinstance(summary, pd.DataFrame):
        return summary
    raise ValueError(
        f"{argument}: expected Results, SweepResults or a pandas DataFrame of per-run summaries "
        f"(got {type(source).__name__})"
    )


def default_by(source: Any, by: str | None) -> str:
    """The grouping column: ``by`` if given, else ``point`` for a sweep, ``scenario`` otherwise."""
    if by is not None:
        return by
    return "point" if hasattr(source, "sweep") and hasattr(source, "design") else "scenario"


def group_label(source: Any, by: str, group: Any) -> str:
    """How a group is named in a legend: a sweep's point by its factor values."""
    design = getattr(source, "design", None)
    if by == "point" and isinstance(design, pd.DataFrame) and group in design.index:
        row = design.loc[group]
        return ", ".join(f"{name}={_short(value)}" for name, value in row.items())
    return str(group)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float | np.floating) else str(value)


def months_to_end(summary: pd.DataFrame) -> np.ndarray:
    """Months until each run ended, dissolved or completed (``ended_at + 1``); NaN in place.

    Summaries without ``ended_at`` (written before end states existed) give the months to
    dissolution.
    """
    if "ended_at" not in summary:
        return months_to_dissolution(summary)
    return summary["ended_at"].to_numpy(float) + 1.0


def months_to_dissolution(summary: pd.DataFrame) -> np.ndarray:
    """Months until each run dissolved (``dissolved_at + 1``), NaN for runs still in place.

    ``dissolved_at`` is the index of the step in which the partnership dissolved, so month
    ``dissolved_at + 1`` is the first recorded month without it.
    """
    for column in ("dissolved", "dissolved_at"):
        if column not in summary:
            raise ValueError(f"summary: no '{column}' column (columns: {', '.join(summary)})")
    dissolved = summary["dissolved"].to_numpy(bool)
    return np.where(dissolved, summary["dissolved_at"].to_numpy(float) + 1.0, np.nan)


def factor_label(name: str) -> str:
    """An axis label for a scenario context or member attribute with its range, if known."""
    from cmo_sim.scenario import field_bounds

    if name in OUTCOME_LABELS:
        return OUTCOME_LABELS[name]
    try:
        bounds = field_bounds(name)
    except KeyError:
        return name
    if bounds is None:
        return name
    low, high = bounds
    if (low, high) == (0.0, 1.0):
        return f"{name} [0-1]"
    return f"{name} [{low:g}, {high:g}]"


def panels(ax: Any, n: int, *, what: str, nrows: int = 1, figsize=(6.0, 4.0), **subplot_kw):
    """The figure and ``n`` axes to draw on: new ones, or the caller's (checked).

    Returns
    -------
    (Figure, list of Axes, bool)
        The bool says whether the figure was created here (then the caller lays it out).
    """
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if ax is None:
        fig, axes = plt.subplots(nrows, n // nrows, figsize=figsize, squeeze=False, **subplot_kw)
        return fig, list(axes.ravel()), True
    axes = [ax] if isinstance(ax, Axes) else list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) != n or not all(isinstance(a, Axes) for a in axes):
        kind = "one Axes" if n == 1 else f"a sequence of {n} Axes"
        raise ValueError(f"ax: {what} needs {kind} (got {len(axes)} item(s))")
    return axes[0].figure, axes, False
