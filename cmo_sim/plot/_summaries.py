"""Plots of per-run summaries: outcome distributions by group and partnership survival."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cmo_sim.plot._style import (
    OUTCOME_LABELS,
    check_choice,
    default_by,
    group_colour,
    group_label,
    months_to_dissolution,
    months_to_end,
    panels,
    summary_frame,
)

__all__ = ["compare", "survival"]

#: Summary columns that identify a run rather than measure an outcome.
_NOT_OUTCOMES = {"run", "point", "replicate"}
#: Dissolution causes (``Results.summary["cause"]``): trust collapse is of inter-organisational
#: origin, faith collapse of intra-organisational origin.
_CAUSES = {"trust": "dissolved: trust collapse", "faith": "dissolved: faith collapse",
           "completed": "completed (fixed term)"}
_CAUSE_STYLES = {"trust": "-", "faith": "--", "completed": ":"}
#: Points drawn per group in the strip (a fixed subsample keeps the figure light).
_STRIP_POINTS = 300


def _outcomes(summary: pd.DataFrame) -> list[str]:
    return [
        str(c) for c in summary.columns
        if c not in _NOT_OUTCOMES
        and (pd.api.types.is_numeric_dtype(summary[c]) or pd.api.types.is_bool_dtype(summary[c]))
    ]


def _groups(summary: pd.DataFrame, by: str) -> list:
    check_choice("by", by, [str(c) for c in summary.columns])
    return list(dict.fromkeys(summary[by].tolist()))


def _horizontal_boxplot(ax, data, positions):
    import matplotlib

    style = dict(positions=positions, widths=0.6, showfliers=False, patch_artist=True,
                 medianprops=dict(color="black", linewidth=1.5),
                 boxprops=dict(facecolor="white", edgecolor="black"))
    major, minor = (int(p) for p in matplotlib.__version__.split(".")[:2])
    if (major, minor) >= (3, 10):
        return ax.boxplot(data, orientation="horizontal", **style)
    return ax.boxplot(data, vert=False, **style)  # pragma: no cover - matplotlib < 3.10


def compare(results, outcome: str, *, by: str | None = None, ax=None):
    """Distributions of one summary outcome per group: box plots over a strip of runs.

    Parameters
    ----------
    results : Results, SweepResults or DataFrame
        Anything with a per-run ``.summary`` DataFrame, or that DataFrame.
    outcome : str
        A numeric summary column, e.g. ``"performance"``, ``"synergy_mean"``, ``"conflicts"``.
        ``"dissolved_at"`` shows the months to dissolution of the dissolved runs and annotates
        each group's dissolved share; ``"dissolved"`` shows the share dissolved per group with a
        95% Wilson interval.
    by : str, optional
        The summary column to group by: ``"scenario"`` for Results, ``"point"`` (labelled by its
        factor values) for SweepResults by default.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        One box and one strip (scatter collection) per group with data.
    """
    summary = summary_frame(results)
    check_choice("outcome", outcome, _outcomes(summary))
    by = default_by(results, by)
    groups = _groups(summary, by)
    fig, (panel,), created = panels(ax, 1, what="compare",
                                    figsize=(7.5, 1.2 + 0.42 * len(groups)))
    positions = np.arange(len(groups))[::-1]  # first group on top
    keys = summary[by].to_numpy()
    label = OUTCOME_LABELS.get(outcome, outcome)
    if outcome == "dissolved":
        _share_bars(panel, summary, keys, groups, positions)
        title = "Share of partnerships dissolved (95% Wilson interval)"
    else:
        values = (months_to_dissolution(summary) if outcome == "dissolved_at"
                  else summary[outcome].to_numpy(float))
        data = [values[keys == g] for g in groups]
        data = [v[np.isfinite(v)] for v in data]
        filled = [k for k, v in enumerate(data) if v.size]
        if filled:
            _horizontal_boxplot(panel, [data[k] for k in filled], positions[filled])
        rng = np.random.default_rng(0)  # jitter only; fixed so figures are reproducible
        for k in filled:
            shown = data[k]
            if shown.size > _STRIP_POINTS:
                shown = rng.choice(shown, _STRIP_POINTS, replace=False)
            jitter = rng.uniform(-0.25, 0.25, shown.size)
            panel.scatter(shown, positions[k] + jitter, s=6, alpha=0.35, color=group_colour(k),
                          linewidths=0, zorder=3)
        title = f"{outcome} by {by}"
        if outcome == "dissolved_at":
            title = "Months to dissolution (dissolved runs); share dissolved at right"
            steps = _horizon(results)
            if steps is not None:
                panel.set_xlim(0, steps)
            panel.text(1.01, 1.0, "dissolved", fontsize=8, va="bottom",
                       transform=panel.transAxes)
            for k, g in enumerate(groups):
                share = float(summary["dissolved"].to_numpy(bool)[keys == g].mean())
                panel.text(1.01, positions[k], f"{share:.0%}", va="center", fontsize=8,
                           transform=panel.get_yaxis_transform(), clip_on=False)
    panel.set_yticks(positions, [group_label(results, by, g) for g in groups])
    panel.set_ylim(-0.7, len(groups) - 0.3)
    panel.set_xlabel(label)
    panel.set_ylabel(by)
    panel.set_title(title, fontsize=10)
    panel.grid(axis="x", alpha=0.3)
    if created:
        fig.tight_layout()
    return fig


def _share_bars(panel, summary, keys, groups, positions):
    dissolved = summary["dissolved"].to_numpy(bool)
    for k, g in enumerate(groups):
        n = int((keys == g).sum())
        share = float(dissolved[keys == g].mean())
        low, high = _wilson(share, n)
        panel.barh(positions[k], share, height=0.6, color=group_colour(k),
                   xerr=[[share - low], [high - share]], capsize=3)
    panel.set_xlim(0, 1)


def _wilson(share: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial share."""
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _horizon(results) -> int | None:
    meta = getattr(results, "meta", None)
    steps = meta.get("steps") if isinstance(meta, dict) else None
    return int(steps) if steps is not None else None


def _kaplan_meier(ended: np.ndarray, horizon: int, months: np.ndarray):
    """Share still in place at each month, with its 95% log-log interval (scipy.stats.ecdf).

    ``ended`` holds each run's month of dissolution (NaN for a run still in place, censored at
    ``horizon``). Before the first dissolution the interval is undefined; it is 1 there.
    """
    import warnings

    from scipy import stats

    dissolved = np.isfinite(ended)
    data = stats.CensoredData(uncensored=ended[dissolved],
                              right=np.full(int((~dissolved).sum()), float(horizon)))
    result = stats.ecdf(data)
    in_place = result.sf.evaluate(months)
    if not dissolved.any():
        return in_place, in_place, in_place
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # undefined before the first event
        band = result.sf.confidence_interval(0.95, method="log-log")
        low, high = band.low.evaluate(months), band.high.evaluate(months)
    before = months < np.nanmin(ended[dissolved])
    low = np.where(before | ~np.isfinite(low), np.where(before, 1.0, low), low)
    high = np.where(before | ~np.isfinite(high), 1.0, high)
    gone = in_place <= 0.0  # every run has ended: nothing is uncertain any more
    low, high = np.where(gone, 0.0, low), np.where(gone, 0.0, high)
    return in_place, np.clip(np.nan_to_num(low, nan=0.0), 0, 1), np.clip(high, 0, 1)


def survival(results, *, by: str | None = None, ax=None):
    """Share of partnerships still in place over months, and how the others ended.

    The left panel shows, per group, the Kaplan-Meier estimate of the share still in place
    (step curves with a 95% log-log band from :func:`scipy.stats.ecdf`): a run leaves it when
    it dissolves or completes a fixed term. Every run is followed to the simulated horizon
    (``results.meta["steps"]``), where runs still in place are censored. The right panel
    splits the endings: the cumulative share dissolved by trust collapse (solid), by faith
    collapse (dashed) and completed (dotted, fixed-term arrangements); in place + the three =
    1 at every month.

    Parameters
    ----------
    results : Results
        With ``meta["steps"]`` and a summary with ``dissolved``, ``dissolved_at`` and ``cause``
        (and ``ended_at``, ``end_state`` where fixed terms complete).
    by : str, optional
        The summary column to group by: ``"scenario"`` for Results, ``"point"`` (labelled by its
        factor values) for SweepResults by default.
    ax : sequence of two matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        Left: one band and one step line per group. Right: three step lines per group.
    """
    summary = summary_frame(results)
    steps = _horizon(results)
    if steps is None:
        raise ValueError("results: no meta['steps'] (the simulated horizon in months); "
                         "pass the Results that simulate() returned")
    for column in ("dissolved", "dissolved_at", "cause"):
        if column not in summary:
            raise ValueError(f"results: the summary has no '{column}' column")
    by = default_by(results, by)
    groups = _groups(summary, by)
    fig, (alive, causes), created = panels(ax, 2, what="survival (in place, by ending)",
                                           figsize=(11, 4.6 + 0.18 * len(groups)))
    months = np.arange(steps + 1)
    ended = months_to_end(summary)
    keys = summary[by].to_numpy()
    way = np.where(summary["dissolved"].to_numpy(bool), summary["cause"].astype(str).to_numpy(),
                   np.where(np.isfinite(ended), "completed", "none"))
    for k, g in enumerate(groups):
        colour = group_colour(k)
        mine = keys == g
        n = int(mine.sum())
        in_place, low, high = _kaplan_meier(ended[mine], steps, months)
        alive.fill_between(months, low, high, step="post", color=colour, alpha=0.15,
                           linewidth=0)
        alive.step(months, in_place, where="post", color=colour, linewidth=2,
                   label=f"{group_label(results, by, g)} (n={n})")
        for name, style in _CAUSE_STYLES.items():
            by_way = ended[mine & (way == name)]
            if name == "completed" and not by_way.size:
                continue
            incidence = np.array([(by_way <= m).sum() for m in months]) / n
            causes.step(months, incidence, where="post", color=colour, linestyle=style,
                        linewidth=1.8)
    alive.set_ylim(-0.02, 1.02)
    alive.set_xlim(0, steps)
    alive.set_xlabel("month")
    alive.set_ylabel("share still in place [0-1]")
    alive.set_title("Partnerships in place (Kaplan-Meier, 95% band)", fontsize=10)
    alive.grid(alpha=0.3)
    alive.legend(title=by, fontsize=8, title_fontsize=8, loc="upper center",
                 bbox_to_anchor=(0.5, -0.16), ncol=2 if len(groups) > 3 else 1, frameon=False)
    causes.set_ylim(-0.02, 1.02)
    causes.set_xlim(0, steps)
    causes.set_xlabel("month")
    causes.set_ylabel("cumulative share ended [0-1]")
    causes.set_title("How they ended (cumulative incidence)", fontsize=10)
    causes.grid(alpha=0.3)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="black", linestyle=style, label=_CAUSES[name])
               for name, style in _CAUSE_STYLES.items()]
    causes.legend(handles=handles, title="ending (colour: as left)", fontsize=8,
                  title_fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
                  frameon=False)
    if created:
        fig.tight_layout()
    return fig
