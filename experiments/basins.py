"""Synergy versus inertia: two basins, and the initial-trust threshold between them.

Claim examined (review, "Partnership performance mechanisms", Table 3 "Synergy and
collaborative inertia", and the Discussion): high functioning and trust lead to synergy and
performance; low functioning and trust to collaborative inertia, where effort goes into keeping
the partnership going. Since trust builds on success and success on synergy, partnerships
should settle into one of two basins, and the initial trust level should decide which: the
review's advice to maximise initial trust "to start on the right foot".

How: the typical voluntary dyad with its prior history from -1 (failed) to +1 (successful),
which moves initial trust from about 0.25 to 0.85. Each run's own initial trust (the mean at
month 0, noise included) is binned; per bin, the share of runs whose mean synergy over the run
is at least 0.7 (synergy basin) or at most 0.3 (inertia basin). The threshold is the initial
trust at which half the runs reach the synergy basin (linear interpolation between bins).

Usage: python experiments/basins.py [--runs 1000] [--steps 120] [--out DIR]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from _common import PALETTE, Experiment, plt, typical

HISTORY = np.round(np.linspace(-1.0, 1.0, 21), 2)
BINS = np.round(np.arange(0.15, 0.951, 0.05), 2)


def threshold(centres: np.ndarray, share: np.ndarray) -> float:
    """Initial trust at which the share in the synergy basin first crosses one half."""
    above = np.flatnonzero(share >= 0.5)
    if above.size == 0 or above[0] == 0:
        return float("nan")
    k = above[0]
    x0, x1, y0, y1 = centres[k - 1], centres[k], share[k - 1], share[k]
    return float(x0 + (0.5 - y0) * (x1 - x0) / (y1 - y0))


def main(argv=None) -> dict:
    exp = Experiment("basins", __doc__, argv)
    scenarios = [typical(name=f"h{h:+.1f}", history=float(h)) for h in HISTORY]
    res = exp.simulate(scenarios, record=exp.steps)
    s = res.summary.copy()
    s["initial_trust"] = res.trajectories["trust"].sel(step=0).mean("member").to_numpy()
    s["synergy_basin"] = s["synergy_mean"] >= 0.7
    s["inertia_basin"] = s["synergy_mean"] <= 0.3
    s["bin"] = pd.cut(s["initial_trust"], BINS)
    by_bin = s.groupby("bin", observed=True).agg(
        runs=("run", "size"), synergy_basin=("synergy_basin", "mean"),
        inertia_basin=("inertia_basin", "mean"), dissolved=("dissolved", "mean"),
        performance=("performance", "mean"))
    by_bin = by_bin[by_bin["runs"] >= max(10, exp.runs // 50)]
    centres = np.array([b.mid for b in by_bin.index])
    cut = threshold(centres, by_bin["synergy_basin"].to_numpy())
    by_bin.index = [f"{b.left:.2f}-{b.right:.2f}" for b in by_bin.index]
    by_bin.index.name = "initial trust"
    exp.table("Basins by initial trust", by_bin,
              f"Half of the runs reach the synergy basin at an initial trust of about {cut:.2f}."
              " Runs are pooled over the history levels and binned by their own initial trust.")
    typ = s[s["scenario"] == "h+0.0"]["synergy_mean"]
    middle = float(((typ > 0.3) & (typ < 0.7)).mean())
    exp.text("The typical dyad (history 0)",
             f"Mean synergy over the run: {float((typ >= 0.7).mean()):.1%} of runs in the synergy "
             f"basin (>= 0.7), {float((typ <= 0.3).mean()):.1%} in the inertia basin (<= 0.3), "
             f"{middle:.1%} in between.")

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ax = axes[0]
    ax.hist(typ, bins=np.linspace(0, 1, 26), color=PALETTE[0])
    ax.set_xlabel("mean synergy over the run")
    ax.set_ylabel("runs")
    ax.set_title("typical dyad: two basins")
    ax = axes[1]
    ax.plot(centres, by_bin["synergy_basin"], marker="o", color=PALETTE[2],
            label="synergy basin (>= 0.7)")
    ax.plot(centres, by_bin["inertia_basin"], marker="s", color=PALETTE[3],
            label="inertia basin (<= 0.3)")
    if np.isfinite(cut):
        ax.axvline(cut, color="grey", ls=":", lw=1)
        ax.annotate(f"threshold {cut:.2f}", (cut, 0.5), xytext=(6, 0),
                    textcoords="offset points", fontsize=8)
    ax.set_xlabel("initial trust (mean at month 0)")
    ax.set_ylabel("share of runs")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("the initial-trust threshold")
    fig.tight_layout()
    exp.figure(fig, "basins.png", main=True)
    exp.finish()
    return {"table": by_bin, "threshold": cut, "middle": middle, "out": exp.out}


if __name__ == "__main__":
    main(sys.argv[1:])
