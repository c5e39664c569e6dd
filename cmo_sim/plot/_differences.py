"""Plot of a paired comparison: each outcome's difference b - a with its interval."""

from __future__ import annotations

from typing import Any

import numpy as np

from cmo_sim.plot._style import OUTCOME_LABELS, group_colour, panels

__all__ = ["differences"]


def differences(comparison: Any, ax: Any = None):
    """One panel per outcome: the mean paired difference ``b - a`` and its interval per scenario.

    Parameters
    ----------
    comparison : Comparison
        From :func:`cmo_sim.compare`.
    ax : Axes or sequence of Axes, optional
        One Axes per outcome.
    """
    from cmo_sim._compare import Comparison

    if not isinstance(comparison, Comparison):
        raise ValueError(f"comparison: {comparison!r} is not a Comparison (use cmo_sim.compare)")
    table = comparison.table
    outcomes = list(dict.fromkeys(table["outcome"]))
    scenarios = list(dict.fromkeys(table["scenario"]))
    n = len(outcomes)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    if ax is None:
        fig, axes, created = panels(None, nrows * ncols, what="a comparison", nrows=nrows,
                                    figsize=(4.2 * ncols,
                                             0.5 + (0.45 * len(scenarios) + 1.0) * nrows))
    else:
        fig, axes, created = panels(ax, n, what="a comparison (one Axes per outcome)")
    level = comparison.meta.get("level", 0.95)
    for panel, outcome in zip(axes, outcomes, strict=False):
        rows = table[table["outcome"] == outcome].set_index("scenario").reindex(scenarios)
        y = np.arange(len(scenarios))[::-1]
        for k, (scenario, row) in enumerate(rows.iterrows()):
            panel.errorbar(row["difference"], y[k], xerr=[[row["difference"] - row["ci_low"]],
                                                          [row["ci_high"] - row["difference"]]],
                           fmt="o", color=group_colour(k), capsize=3, label=scenario)
        panel.axvline(0.0, color="black", linewidth=0.8)
        panel.set_yticks(y, scenarios)
        unit = OUTCOME_LABELS.get(outcome, outcome)
        panel.set_xlabel(f"{unit}\nb - a, {100 * level:g}% interval", fontsize=8)
        panel.grid(axis="x", alpha=0.3)
    for panel in axes[len(outcomes):]:
        panel.set_visible(False)
    fig.suptitle(f"{comparison.meta.get('b')} minus {comparison.meta.get('a')} "
                 f"(paired runs, common random numbers)", fontsize=10)
    if created:
        fig.tight_layout()
    return fig
