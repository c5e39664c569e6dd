"""Plot of a lever analysis: which change, when."""

from __future__ import annotations

from typing import Any

import numpy as np

from cmo_sim.plot._style import OUTCOME_LABELS, group_colour, panels

__all__ = ["levers"]


def levers(report: Any, ax: Any = None):
    """The effect of each lever on the report's first outcome against the month it is pulled.

    Parameters
    ----------
    report : LeverReport
        From :func:`cmo_sim.analysis.levers`.
    ax : Axes, optional
    """
    from cmo_sim.analysis._levers import BETTER, LeverReport

    if not isinstance(report, LeverReport):
        raise ValueError(f"report: {report!r} is not a LeverReport (use "
                         "cmo_sim.analysis.levers)")
    fig, (panel,), created = panels(ax, 1, what="a lever report", figsize=(7.5, 4.2))
    outcome = report.meta["outcomes"][0]
    rows = report.table[report.table["outcome"] == outcome]
    names = list(dict.fromkeys(rows["lever"]))
    months = sorted(set(rows["month"]))
    spread = 0.15 * (np.diff(months).min() if len(months) > 1 else 1.0)
    for k, name in enumerate(names):
        mine = rows[rows["lever"] == name].sort_values("month")
        offset = (k - (len(names) - 1) / 2) * spread / max(len(names) - 1, 1)
        x = mine["month"].to_numpy(dtype=float) + offset
        panel.errorbar(x, mine["effect"], yerr=[mine["effect"] - mine["ci_low"],
                                                mine["ci_high"] - mine["effect"]],
                       fmt="o-", color=group_colour(k), capsize=3, label=name)
    panel.axhline(0.0, color="black", linewidth=0.8)
    panel.set_xticks(months)
    panel.set_xlabel("month the change is made")
    better = BETTER.get(outcome, "higher")
    panel.set_ylabel(f"effect on {OUTCOME_LABELS.get(outcome, outcome)}\n({better} is better)")
    panel.set_title(f"Levers for {report.meta.get('scenario')}: changed minus unchanged, "
                    f"{100 * report.meta.get('level', 0.95):g}% interval", fontsize=10)
    panel.grid(alpha=0.3)
    panel.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), title="lever",
                 title_fontsize=8)
    if created:
        fig.tight_layout()
    return fig
