"""Fan charts of trajectories over months."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PALETTE", "trajectories"]

#: Okabe-Ito colour-blind-safe palette.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

_LABELS = {
    "trust": "mean trust given [0-1]",
    "faith": "faith [0-1]",
    "synergy": "synergy [0-1]",
    "inertia": "inertia [0-1]",
    "ambition": "agreed ambition [0-1]",
    "performance": "cumulative performance [ambition units]",
    "intra_conflict": "intra-organisational conflict [0-1]",
    "conflict_events": "conflicts per month [count]",
    "vision": "shared vision [0-1]",
    "achievement": "achievement per month [ambition units]",
}


def trajectories(results, variables: Sequence[str] = ("trust", "synergy"), *, by: str = "scenario",
                 ax=None):
    """Fan charts (median, 50% and 90% bands) over months, one panel per variable.

    Parameters
    ----------
    results : Results
        With trajectories recorded (``record="trajectory"`` or an int).
    variables : sequence of str
        Trajectory variables; member variables are averaged over members first.
    by : str
        A run coordinate to colour by (``"scenario"``).
    ax : matplotlib Axes or sequence of Axes, optional
        One per variable; a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    traj = getattr(results, "trajectories", None)
    if traj is None:
        raise ValueError("results: no trajectories recorded (simulate with record='trajectory')")
    variables = [variables] if isinstance(variables, str) else list(variables)
    for name in variables:
        if name not in traj:
            raise ValueError(
                f"variables: '{name}' is not a trajectory variable "
                f"(allowed: {', '.join(sorted(map(str, traj.data_vars)))})"
            )
    if by not in traj.coords:
        raise ValueError(f"by: '{by}' is not a run coordinate (allowed: scenario, replicate)")
    if ax is None:
        fig, axes = plt.subplots(1, len(variables), figsize=(5.2 * len(variables), 3.8),
                                 squeeze=False)
        axes = list(axes[0])
    else:
        axes = list(np.atleast_1d(ax))
        if len(axes) != len(variables):
            raise ValueError(f"ax: {len(axes)} axes given for {len(variables)} variables")
        fig = axes[0].figure
    groups = list(dict.fromkeys(traj[by].values.tolist()))
    months = traj["step"].values
    for panel, name in zip(axes, variables, strict=True):
        data = traj[name]
        if "member" in data.dims:
            data = data.astype(float).mean("member", skipna=True)
        for k, group in enumerate(groups):
            values = data.values[traj[by].values == group].astype(float)
            colour = PALETTE[k % len(PALETTE)]
            q = np.nanquantile(values, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
            panel.fill_between(months, q[0], q[4], color=colour, alpha=0.15, linewidth=0)
            panel.fill_between(months, q[1], q[3], color=colour, alpha=0.3, linewidth=0)
            panel.plot(months, q[2], color=colour, linewidth=2, label=str(group))
        panel.set_xlabel("month")
        panel.set_ylabel(_LABELS.get(name, name))
        panel.set_title(name)
        panel.grid(alpha=0.3)
    axes[0].legend(title=f"{by} (median; 50%, 90% bands)", fontsize=8, title_fontsize=8)
    fig.tight_layout()
    return fig
