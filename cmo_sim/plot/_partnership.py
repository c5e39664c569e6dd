"""One partnership's history: each member's trust given and faith, exits, conflicts."""

from __future__ import annotations

import numpy as np

from cmo_sim.plot._style import GREY, group_colour, panels
from cmo_sim.plot._trajectories import recorded_trajectories

__all__ = ["partnership"]

_LINESTYLES = ("-", "--", ":", "-.")


def _member_names(results, scenario: str, n: int) -> list[str]:
    """Member names from the scenarios kept in ``results.meta``; ``member k`` otherwise."""
    meta = getattr(results, "meta", None) or {}
    for data in meta.get("scenarios", []) or []:
        if isinstance(data, dict) and data.get("name") == scenario:
            members = data.get("members") or []
            names = [str(m.get("name") or f"member {k}") if isinstance(m, dict)
                     else f"member {k}" for k, m in enumerate(members)]
            return (names + [f"member {k}" for k in range(len(names), n)])[:n]
    return [f"member {k}" for k in range(n)]


def partnership(results, run: int = 0, *, ax=None):
    """One run's history: per-member trust given and faith over months.

    Trajectories hold each member's mean trust given to the other members (not every directed
    pair), so the top panel has one trust line per member and the bottom one faith line per
    member. A cross marks the month a member left (while the partnership went on); a dashed
    vertical line marks dissolution, labelled with its cause (later months shaded); ticks along
    the bottom of both panels mark the months in which conflicts broke out.

    Parameters
    ----------
    results : Results
        With trajectories recorded (``record="trajectory"`` or an int).
    run : int
        The run id (``results.summary["run"]``).
    ax : sequence of two matplotlib Axes, optional
        Trust on the first, faith on the second.

    Returns
    -------
    matplotlib.figure.Figure
        Per panel: one line per member, a tick line for conflict months, a dissolution line if
        the run dissolved, a cross per member exit before dissolution.
    """
    traj = recorded_trajectories(results)
    runs = traj["run"].values
    if isinstance(run, bool) or not isinstance(run, int | np.integer) or run not in runs:
        raise ValueError(f"run: {run!r} is not a recorded run id "
                         f"(allowed: {int(runs.min())} .. {int(runs.max())})")
    for name in ("trust", "faith", "active", "conflict_events"):
        if name not in traj:
            raise ValueError(f"results: the trajectories have no '{name}' variable")
    one = traj.sel(run=int(run))
    summary = results.summary.set_index("run").loc[int(run)]
    scenario = str(one["scenario"].values)
    n = int(summary["n_members"])
    names = _member_names(results, scenario, n)
    months = one["step"].values.astype(float)
    active = one["active"].values[:, :n].astype(bool)
    dissolved = bool(summary["dissolved"])
    end = float(summary["dissolved_at"]) + 1 if dissolved else None
    conflict_months = months[one["conflict_events"].values > 0]
    fig, axes, created = panels(ax, 2, what="partnership (trust, faith)", nrows=2,
                                figsize=(9.0, 6.2), sharex=True)
    crosses = 0
    for panel, variable, label in ((axes[0], "trust", "mean trust given [0-1]"),
                                   (axes[1], "faith", "faith [0-1]")):
        values = one[variable].values[:, :n].astype(float)
        for k in range(n):
            gone = np.flatnonzero(~active[:, k])
            left = int(gone[0]) if gone.size else None  # first recorded month out
            shown = values[:, k].copy()
            if left is not None:
                shown[left + 1:] = np.nan
            if end is not None:  # a last member may stay "active" alone after dissolution
                shown[months > end] = np.nan
            style = dict(color=group_colour(k), linestyle=_LINESTYLES[(k // 7) % 4])
            panel.plot(months, shown, linewidth=1.6, label=names[k], **style)
            if left is not None and (end is None or months[left] < end):
                panel.plot(months[left], values[left, k], marker="X", markersize=9,
                           markeredgecolor="black", markeredgewidth=0.6, linestyle="none",
                           color=style["color"], zorder=4)
                crosses += 1
        if end is not None:
            panel.axvline(end, color="black", linestyle="--", linewidth=1.2,
                          label=f"dissolved ({summary['cause']} collapse)")
            panel.axvspan(end, months[-1], color=GREY, alpha=0.15, linewidth=0)
        panel.plot(conflict_months, np.zeros_like(conflict_months), linestyle="none",
                   marker="|", markersize=9, color="black", alpha=0.7,
                   transform=panel.get_xaxis_transform(), clip_on=False,
                   label="month with conflict(s)")
        panel.set_ylim(0, 1)
        panel.set_ylabel(label)
        panel.grid(alpha=0.3)
    axes[0].set_title(f"{scenario}, replicate {int(summary['replicate'])} (run {int(run)})",
                      fontsize=10)
    axes[1].set_xlabel("month")
    axes[1].set_xlim(months[0], months[-1])
    from matplotlib.lines import Line2D

    handles, labels = axes[0].get_legend_handles_labels()
    if crosses:
        handles.append(Line2D([], [], marker="X", color="grey", markeredgecolor="black",
                              linestyle="none"))
        labels.append("member left")
    axes[0].legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1),
                   title="member", title_fontsize=8)
    if created:
        fig.tight_layout()
    return fig
