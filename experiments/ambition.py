"""The trust-building loop and ambition: under- and over-ambition both hurt.

Claim examined (review, "Trust" and "Trust building, synergy, and task achievement", after
Vangen and Huxham; Table 3, Trust rows 5-7): trust sets the partners' risk tolerance and so
the aims they agree; achieved aims reinforce trust, failures reduce it. Modest, realistic aims
build trust; aims far above what trust supports fail and erode trust (over-ambition), aims far
below leave little worth achieving and erode faith (under-ambition). Achievement should
therefore peak at a modest ambition and fall off on both sides.

How: the typical voluntary dyad with ``ambition_bias`` (aims set below (-) or above (+) what
trust supports) from -1 to +1, common random numbers across levels. Reported per level: mean
agreed ambition and task success rate, performance, mean trust and faith over the run,
share dissolved and by which origin (trust: inter-organisational, faith: intra-organisational).

Usage: python experiments/ambition.py [--runs 1000] [--steps 120] [--out DIR]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from _common import PALETTE, Experiment, mean_ci, plt, typical

LEVELS = np.round(np.linspace(-1.0, 1.0, 11), 2)


def main(argv=None) -> dict:
    exp = Experiment("ambition", __doc__, argv)
    scenarios = [typical(name=f"{b:+.1f}", ambition_bias=float(b)) for b in LEVELS]
    res = exp.simulate(scenarios, record=3)
    s = res.summary.copy()
    traj = res.trajectories
    s["ambition"] = traj["ambition"].sel(step=slice(1, None)).mean("step").to_numpy()
    s["trust_mean"] = traj["trust"].mean("member").sel(step=slice(1, None)).mean(
        "step").to_numpy()
    s["faith_mean"] = traj["faith"].mean("member").sel(step=slice(1, None)).mean(
        "step").to_numpy()
    s["success_rate"] = s["successes"] / (s["successes"] + s["failures"])
    rows = []
    for scenario, level in zip(scenarios, LEVELS, strict=True):
        g = s[s["scenario"] == scenario.name]
        perf, perf_ci = mean_ci(g["performance"])
        rows.append({
            "ambition_bias": level, "ambition": g["ambition"].mean(),
            "success rate": g["success_rate"].mean(), "performance": perf, "+-": perf_ci,
            "trust (mean)": g["trust_mean"].mean(), "faith (mean)": g["faith_mean"].mean(),
            "dissolved": g["dissolved"].mean(), "by trust": (g["cause"] == "trust").mean(),
            "by faith": (g["cause"] == "faith").mean(),
        })
    table = pd.DataFrame(rows).set_index("ambition_bias")
    best = float(table["performance"].idxmax())
    exp.table("Per ambition bias", table,
              f"Performance peaks at ambition_bias {best:+.1f}; at -1 it is "
              f"{table['performance'].iloc[0]:.1f} and at +1 {table['performance'].iloc[-1]:.1f} "
              f"(peak {table['performance'].max():.1f}). trust / faith (mean): mean over the "
              "recorded months of the run (frozen at their last value after a dissolution).")

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    ax.errorbar(table.index, table["performance"], yerr=table["+-"], color=PALETTE[0],
                marker="o", capsize=3)
    ax.axvline(best, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("ambition bias (- below, + above what trust supports)", fontsize=8)
    ax.set_ylabel("mean performance")
    ax.set_title("performance peaks at modest aims", fontsize=10)
    ax = axes[1]
    ax.plot(table.index, table["trust (mean)"], marker="o", color=PALETTE[0], label="trust")
    ax.plot(table.index, table["faith (mean)"], marker="s", color=PALETTE[1], label="faith")
    ax.plot(table.index, table["success rate"], marker="^", color=PALETTE[2],
            label="task success rate")
    ax.set_xlabel("ambition bias")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("trust, faith and task success", fontsize=10)
    ax = axes[2]
    ax.bar(table.index, table["by trust"], width=0.15, color=PALETTE[0], label="by trust")
    ax.bar(table.index, table["by faith"], width=0.15, bottom=table["by trust"],
           color=PALETTE[1], label="by faith")
    ax.set_xlabel("ambition bias")
    ax.set_ylabel(f"share dissolved ({exp.steps} months)")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("dissolved, by origin", fontsize=10)
    fig.tight_layout(w_pad=2.5)
    exp.figure(fig, "ambition.png", main=True)
    exp.finish()
    return {"table": table, "best": best, "out": exp.out}


if __name__ == "__main__":
    main(sys.argv[1:])
