"""Synergy versus inertia: where partnerships go, and how far initial trust sets their course.

Claim examined (review, "Partnership performance mechanisms", Table 3 "Synergy and
collaborative inertia", and the Discussion): high functioning and trust lead to synergy and
performance; low functioning and trust to collaborative inertia, where effort goes into keeping
the partnership going. Since trust builds on success and success on synergy, partnerships might
settle into one of two basins, with the initial trust level deciding which: the review's advice
to maximise initial trust "to start on the right foot".

How: (1) the typical voluntary dyad, every month recorded: the synergy of the dyads still in
place at months 12, 24, 60 and 120, to see whether they split into two groups. (2) The typical
dyad with its initial trust moved alone, through the theory's intercept ``trust_initial`` from
0.2 to 0.9 (history would also bring experience of working together; the run-to-run spread of
+-0.1 stays), common random numbers across levels. Reported per level: mean initial trust,
share dissolved within the horizon and within the first two years, share whose synergy ever
exceeds 0.7, median synergy at month 60 of the dyads still in place, performance. The
transition is summarised by the initial trust at which half the runs dissolve and by the
largest change of dissolution between neighbouring levels (a threshold would put most of the
fall into one step).

Usage: python experiments/basins.py [--runs 1000] [--steps 120] [--out DIR]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from _common import PALETTE, Experiment, plt, typical

import cmo_sim

LEVELS = np.round(np.arange(0.2, 0.901, 0.05), 2)
#: Months at which the typical dyad's synergy is looked at.
LOOK = (12, 24, 60, 120)
#: Months that count as the start (dissolved "early").
EARLY = 24
#: Levels whose median synergy path is drawn.
PATHS = (0.3, 0.55, 0.8)


def crossing(levels: np.ndarray, share: np.ndarray, at: float = 0.5) -> float:
    """Level at which a falling ``share`` first drops to ``at`` (linear interpolation)."""
    below = np.flatnonzero(share <= at)
    if below.size == 0 or below[0] == 0:
        return float("nan")
    k = below[0]
    x0, x1, y0, y1 = levels[k - 1], levels[k], share[k - 1], share[k]
    return float(x0 + (at - y0) * (x1 - x0) / (y1 - y0))


def in_place(traj) -> np.ndarray:
    """``[runs, steps + 1]``: the partnership is in place (at least two members active)."""
    return traj["active"].to_numpy().sum(axis=2) >= 2


def main(argv=None) -> dict:
    exp = Experiment("basins", __doc__, argv)
    theory = cmo_sim.load_theory()

    # (1) Where the typical dyad's runs are, month by month.
    res = exp.simulate(typical(name="typical"), record="trajectory")
    synergy, alive = res.trajectories["synergy"].to_numpy(), in_place(res.trajectories)
    rows = []
    for month in (m for m in LOOK if m <= exp.steps):
        here = synergy[alive[:, month], month]
        rows.append({
            "month": month, "in place": alive[:, month].mean(),
            "synergy < 0.4": (here < 0.4).mean() if here.size else np.nan,
            "0.4-0.7": ((here >= 0.4) & (here <= 0.7)).mean() if here.size else np.nan,
            "> 0.7": (here > 0.7).mean() if here.size else np.nan,
            "p10": np.percentile(here, 10) if here.size else np.nan,
            "median": np.median(here) if here.size else np.nan,
            "p90": np.percentile(here, 90) if here.size else np.nan,
        })
    spread = pd.DataFrame(rows).set_index("month")
    exp.table("The typical dyad: synergy of the dyads in place", spread,
              "in place: share of runs not dissolved; the other columns describe the dyads in "
              "place at that month (shares of them below 0.4, between 0.4 and 0.7, above 0.7; "
              "10th percentile, median, 90th percentile of their synergy).")

    # (2) Initial trust moved alone.
    frames, paths = [], {}
    for level in LEVELS:
        r = exp.simulate(typical(name=f"{level:.2f}"), record="trajectory",
                         theory=theory.with_baseline(trust_initial=float(level)))
        s = r.summary.copy()
        traj = r.trajectories
        syn, here = traj["synergy"].to_numpy(), in_place(traj)
        s["level"] = level
        s["initial_trust"] = traj["trust"].sel(step=0).mean("member").to_numpy()
        s["early"] = s["dissolved"] & (s["dissolved_at"] < EARLY)
        s["reach"] = (syn > 0.7).any(axis=1)
        month = min(60, exp.steps)
        s["synergy_60"] = np.where(here[:, month], syn[:, month], np.nan)
        frames.append(s)
        if level in PATHS:
            paths[level] = (syn, here)
    s = pd.concat(frames, ignore_index=True)
    table = s.groupby("level").agg(
        initial_trust=("initial_trust", "mean"), dissolved=("dissolved", "mean"),
        dissolved_early=("early", "mean"), reach_synergy=("reach", "mean"),
        synergy_60_in_place=("synergy_60", "median"), performance=("performance", "mean"))
    diss = table["dissolved"].to_numpy()
    half = crossing(LEVELS, diss)
    step = float(np.max(-np.diff(diss)))
    exp.table("Per initial trust", table,
              f"dissolved early: within the first {EARLY} months; reach synergy: share of runs "
              "whose synergy exceeds 0.7 at some month; synergy 60 in place: median synergy at "
              "month 60 of the dyads still in place.")
    exp.text("The transition",
             f"Half the runs dissolve at an initial trust of about {half:.2f}. Dissolution falls "
             f"from {diss[0]:.1%} at initial trust {LEVELS[0]:.2f} to {diss[-1]:.1%} at "
             f"{LEVELS[-1]:.2f}; the largest change between neighbouring levels (0.05 apart) is "
             f"{step:.1%}.")

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    ax = axes[0]
    bins = np.linspace(0, 1, 26)
    for k, month in enumerate(spread.index):
        ax.hist(synergy[alive[:, month], month], bins=bins, histtype="step", lw=1.6,
                color=PALETTE[k], density=True,
                label=f"month {month} ({spread.loc[month, 'in place']:.0%} in place)")
    ax.set_xlabel("synergy of the dyads in place")
    ax.set_ylabel("density")
    ax.set_title("typical dyad: one spread, moving up", fontsize=10)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    ax = axes[1]
    ax.plot(table["initial_trust"], table["dissolved"], marker="o", color=PALETTE[3],
            label=f"dissolved, {exp.steps} months")
    ax.plot(table["initial_trust"], table["dissolved_early"], marker="o", ls="--",
            color=PALETTE[3], label=f"dissolved, first {EARLY} months")
    ax.plot(table["initial_trust"], table["reach_synergy"], marker="s", color=PALETTE[2],
            label="synergy > 0.7 at some month")
    if np.isfinite(half):
        ax.axvline(half, color="grey", ls=":", lw=1)
    ax.set_xlabel("initial trust (mean at month 0)")
    ax.set_ylabel("share of runs")
    ax.set_ylim(0, 1.35)  # room for the legend above the curves
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.legend(frameon=False, fontsize=7, loc="upper center")
    ax.set_title("initial trust: a gradient, not a threshold", fontsize=10)
    ax = axes[2]
    months = np.arange(exp.steps + 1)
    for k, (level, (syn, here)) in enumerate(paths.items()):
        held = np.where(here, syn, np.nan)
        with np.errstate(all="ignore"):
            counted = here.sum(axis=0) >= 10
            median = np.where(counted, np.nanmedian(held, axis=0), np.nan)
            low = np.where(counted, np.nanpercentile(held, 10, axis=0), np.nan)
            high = np.where(counted, np.nanpercentile(held, 90, axis=0), np.nan)
        colour = PALETTE[[3, 0, 2][k]]
        ax.plot(months, median, color=colour, lw=2, label=f"initial trust {level:.2f}")
        ax.fill_between(months, low, high, color=colour, alpha=0.15, lw=0)
    ax.set_xlabel("month")
    ax.set_ylabel("synergy (in place)")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, exp.steps)
    ax.legend(frameon=False, fontsize=7, loc="lower right")
    ax.set_title("median and 10-90% of those in place", fontsize=10)
    fig.tight_layout(w_pad=2.5)
    exp.figure(fig, "basins.png", main=True)
    exp.finish()
    return {"table": table, "spread": spread, "half": half, "largest_step": step,
            "out": exp.out}


if __name__ == "__main__":
    main(sys.argv[1:])
