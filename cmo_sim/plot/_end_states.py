"""The share of partnerships in each end state, month by month."""

from __future__ import annotations

import numpy as np

from cmo_sim.plot._style import default_by, group_label, panels
from cmo_sim.plot._sweeps import REGIMES
from cmo_sim.plot._trajectories import recorded_trajectories

__all__ = ["end_states"]

#: Groups drawn at most (one panel each).
MAX_GROUPS = 12


def end_states(results, *, by: str | None = None, ax=None):
    """Stacked shares of runs thriving, struggling, dissolved and completed over months.

    One panel per group; at every recorded month the four shares sum to 1 (docs/model.md
    4.17 defines the end states). Reads the trajectory variable ``regime``.

    Parameters
    ----------
    results : Results
        With trajectories recorded (``record="trajectory"`` or an int k).
    by : str, optional
        The run coordinate to group by (default ``"scenario"``; ``"point"`` for sweeps).
    ax : matplotlib Axes or a sequence of them, optional
        One per group.

    Returns
    -------
    matplotlib.figure.Figure
    """
    traj = recorded_trajectories(results)
    if "regime" not in traj:
        raise ValueError("results: the trajectories have no 'regime' variable (results "
                         "recorded before end states existed); simulate them again")
    by = default_by(results, by)
    if by not in traj.coords:
        allowed = ", ".join(c for c in traj.coords if traj[c].dims == ("run",))
        raise ValueError(f"by: '{by}' is not a run coordinate of the trajectories "
                         f"(allowed: {allowed})")
    keys = traj[by].to_numpy()
    groups = list(dict.fromkeys(keys.tolist()))
    if len(groups) > MAX_GROUPS:
        raise ValueError(f"by: '{by}' has {len(groups)} groups; at most {MAX_GROUPS} panels "
                         "are drawn (select runs first)")
    codes = traj["regime"].to_numpy()
    months = traj["step"].to_numpy()
    cols = min(len(groups), 3)
    rows = -(-len(groups) // cols)
    if ax is None:
        import matplotlib.pyplot as plt

        fig, grid = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows + 0.6),
                                 squeeze=False)
        axes, created = list(grid.ravel()), True
        for extra in axes[len(groups):]:
            extra.set_visible(False)
        axes = axes[:len(groups)]
    else:
        fig, axes, created = panels(ax, len(groups), what="end_states")
    names = list(REGIMES)
    for panel, g in zip(axes, groups, strict=True):
        mine = codes[keys == g]
        shares = np.stack([(mine == k).mean(axis=0) for k in range(len(names))])
        panel.stackplot(months, shares, colors=list(REGIMES.values()), labels=names,
                        step="post", alpha=0.9, linewidth=0)
        panel.set_xlim(months[0], months[-1])
        panel.set_ylim(0, 1)
        panel.set_xlabel("month")
        panel.set_ylabel("share of runs [0-1]")
        panel.set_title(f"{group_label(results, by, g)} (n={mine.shape[0]})", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(names), fontsize=8, frameon=False)
    if created:
        fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig
