"""Fan charts of trajectories over months."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from cmo_sim.plot._style import (
    PALETTE,
    check_choice,
    default_by,
    group_colour,
    group_label,
    panels,
)

__all__ = ["PALETTE", "TRAJECTORY_LABELS", "trajectories"]

#: Axis labels (with units) of the trajectory variables.
TRAJECTORY_LABELS = {
    "trust": "mean trust given [0-1]",
    "faith": "faith [0-1]",
    "synergy": "synergy [0-1]",
    "inertia": "inertia [0-1]",
    "experience": "experience of working together [0-1]",
    "ambition": "agreed ambition [0-1]",
    "performance": "cumulative performance [ambition units]",
    "intra_conflict": "intra-organisational conflict [0-1]",
    "conflict_events": "conflicts per month [count]",
    "vision": "shared vision [0-1]",
    "achievement": "achievement per month [ambition units]",
    "active": "share of members in place [0-1]",
}


def recorded_trajectories(results):
    """The trajectories Dataset of ``results``; ``ValueError`` if none were recorded."""
    traj = getattr(results, "trajectories", None)
    if traj is None:
        raise ValueError(
            "results: no trajectories recorded (simulate with record='trajectory' or an int k)"
        )
    return traj


def trajectories(results, variables: Sequence[str] = ("trust", "synergy"), *,
                 by: str | None = None, alive_only: bool = False, ax=None):
    """Fan charts (median, 50% and 90% bands) over months, one panel per variable.

    By default every run counts at every month, a dissolved partnership at the values it had
    when it dissolved (the figure says so); ``alive_only=True`` counts at each month only the
    partnerships still in place then (at least two members), so the bands describe the
    partnerships that are still going.

    Parameters
    ----------
    results : Results
        With trajectories recorded (``record="trajectory"`` or an int).
    variables : str or sequence of str
        Trajectory variables; member variables are averaged over members first.
    by : str, optional
        A run coordinate to colour by: ``"scenario"`` for Results, ``"point"`` (labelled by its
        factor values) for SweepResults by default; or ``"replicate"``.
    alive_only : bool
        Only partnerships still in place at each month.
    ax : matplotlib Axes or sequence of Axes, optional
        One per variable; a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        Each panel holds, per group, two bands (``fill_between``) and one median line.
    """
    traj = recorded_trajectories(results)
    variables = [variables] if isinstance(variables, str) else list(variables)
    if not variables:
        raise ValueError("variables: give at least one trajectory variable")
    for name in variables:
        check_choice("variables", name, sorted(map(str, traj.data_vars)))
    run_coords = [str(c) for c in traj.coords if traj[c].dims == ("run",) and c != "run"]
    by = default_by(results, by)
    check_choice("by", by, run_coords)
    fig, axes, created = panels(ax, len(variables), what=f"{len(variables)} variable(s)",
                                figsize=(5.2 * len(variables), 3.8))
    if not isinstance(alive_only, bool):
        raise ValueError(f"alive_only: {alive_only!r} is not allowed (True or False)")
    groups = list(dict.fromkeys(traj[by].values.tolist()))
    months = traj["step"].values
    # A partnership is in place at a month while at least two members are.
    in_place = traj["active"].astype(int).sum("member").values >= 2
    for panel, name in zip(axes, variables, strict=True):
        data = traj[name].astype(float)
        if "member" in data.dims:
            data = data.mean("member", skipna=True)
        values_all = np.where(in_place, data.values, np.nan) if alive_only else data.values
        for k, group in enumerate(groups):
            values = values_all[traj[by].values == group]
            colour = group_colour(k)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a month with none in place
                q = np.nanquantile(values, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
            panel.fill_between(months, q[0], q[4], color=colour, alpha=0.15, linewidth=0)
            panel.fill_between(months, q[1], q[3], color=colour, alpha=0.3, linewidth=0)
            panel.plot(months, q[2], color=colour, linewidth=2,
                       label=group_label(results, by, group))
        panel.set_xlabel("month")
        panel.set_ylabel(TRAJECTORY_LABELS.get(name, name))
        panel.set_title(name)
        panel.grid(alpha=0.3)
    shown = ("partnerships still in place at each month" if alive_only
             else "all runs; dissolved ones at their last values")
    axes[-1].legend(title=f"{by}\n(median; 50%, 90% bands)\n{shown}", fontsize=8,
                    title_fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    if created:
        fig.tight_layout()
    return fig
