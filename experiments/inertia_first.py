"""Through inertia to synergy: partnerships that spend their first months in inertia.

Claim examined (review, "Partnership performance mechanisms" and the Discussion): synergy comes
after functioning and before effectiveness; a partnership may spend an early period in
collaborative inertia, figuring out how to function, before it reaches synergy, and partnerships
can move up and down between inertia and performance as events occur.

How: the typical voluntary dyad and a cautious variant (history -0.3, initial trust about
0.46), every month recorded. Each run is classed by its synergy path: *early synergy* (synergy
reaches 0.5 within 6 months), *inertia first* (below 0.5 for the first 6 months, later above
0.75), *stuck in inertia* (never above 0.5) and *other* (reaches 0.5 late but not 0.75).
Reported per class: share, initial trust, months to reach synergy 0.5, share dissolved, and
how many runs fall back (synergy drops by 0.3 from a peak above 0.75).

Usage: python experiments/inertia_first.py [--runs 1000] [--steps 120] [--out DIR]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from _common import PALETTE, Experiment, plt, typical

EARLY = 6
CLASSES = ("early synergy", "inertia first", "stuck in inertia", "other")
COLOURS = dict(zip(CLASSES, (PALETTE[2], PALETTE[0], PALETTE[3], "#999999"), strict=True))


def classify(synergy: np.ndarray, early: int = EARLY) -> np.ndarray:
    """Class of each run from its synergy path ``[runs, steps + 1]`` (label 0 = month 0)."""
    first_half = np.where((synergy >= 0.5).any(axis=1), np.argmax(synergy >= 0.5, axis=1), -1)
    reaches_high = (synergy[:, early + 1:] > 0.75).any(axis=1)
    out = np.full(synergy.shape[0], "other", dtype=object)
    out[(first_half >= 0) & (first_half <= early)] = "early synergy"
    out[((first_half > early) | (first_half < 0)) & reaches_high] = "inertia first"
    out[first_half < 0] = "stuck in inertia"
    return out


def _median(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.median()) if len(values) else np.nan


def main(argv=None) -> dict:
    exp = Experiment("inertia_first", __doc__, argv)
    scenarios = [typical(name="typical"), typical(name="cautious (history -0.3)", history=-0.3)]
    res = exp.simulate(scenarios, record="trajectory")
    s = res.summary.copy()
    synergy = res.trajectories["synergy"].to_numpy()
    s["class"] = classify(synergy)
    s["initial_trust"] = res.trajectories["trust"].sel(step=0).mean("member").to_numpy()
    reached = np.where((synergy >= 0.5).any(axis=1), np.argmax(synergy >= 0.5, axis=1), -1)
    s["month_to_synergy"] = np.where(reached >= 0, reached, np.nan)
    peak = np.maximum.accumulate(synergy, axis=1)
    s["falls_back"] = ((peak > 0.75) & (peak - synergy > 0.3)).any(axis=1)
    rows = []
    for scenario in scenarios:
        g = s[s["scenario"] == scenario.name]
        for name in CLASSES:
            c = g[g["class"] == name]
            rows.append({
                "scenario": scenario.name, "class": name, "share": len(c) / len(g),
                "initial trust": c["initial_trust"].mean() if len(c) else np.nan,
                "median months to synergy 0.5": _median(c["month_to_synergy"]),
                "dissolved": c["dissolved"].mean() if len(c) else np.nan,
                "fall back later": c["falls_back"].mean() if len(c) else np.nan,
            })
    table = pd.DataFrame(rows).set_index(["scenario", "class"])
    exp.table("Synergy paths", table,
              "months to synergy 0.5: months until synergy first reaches 0.5 (every partnership "
              "starts at synergy 0.3); fall back later: share of the class whose synergy later "
              "drops by more than 0.3 from a peak above 0.75.")

    months = res.trajectories["step"].to_numpy()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    rng = np.random.default_rng(0)
    for ax, scenario in zip(axes, scenarios, strict=True):
        mask = (s["scenario"] == scenario.name).to_numpy()
        for name in CLASSES[:3]:
            rows_ = np.flatnonzero(mask & (s["class"] == name).to_numpy())
            if rows_.size == 0:
                continue
            for r in rng.choice(rows_, size=min(12, rows_.size), replace=False):
                ax.plot(months, synergy[r], color=COLOURS[name], lw=0.6, alpha=0.45)
            ax.plot(months, np.median(synergy[rows_], axis=0), color=COLOURS[name], lw=2.2,
                    label=f"{name} ({rows_.size / mask.sum():.0%})")
        ax.axvspan(0, EARLY, color="#eeeeee", zorder=0)
        ax.set_xlim(0, min(exp.steps, 60))
        ax.set_xlabel("month")
        ax.set_title(scenario.name)
        ax.legend(frameon=False, fontsize=8, loc="lower right")
    axes[0].set_ylabel("synergy (median and 12 runs per class)")
    fig.tight_layout()
    exp.figure(fig, "synergy_paths.png", main=True)
    exp.finish()
    return {"table": table, "out": exp.out}


if __name__ == "__main__":
    main(sys.argv[1:])
