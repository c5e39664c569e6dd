"""Entry points compared: how the reason for partnering shapes initial trust, synergy and survival.

Claim examined (review, Table 2 and "Point of entry into collaborating"): the point of entry
shapes the relationship that follows. Existing interdependence is unlikely to be pursued without
a positive relationship, so initial trust is elevated; policy directives (mandated partnering)
and partnering to avoid competitive threats lower it, and what starts low is at risk of
inertia and dissolution.

How: the typical voluntary dyad with each of the six entry points' presets applied (and once
with none), simulated with common random numbers. Reported per entry point: mean initial trust,
share dissolved within the horizon (by cause), median month of dissolution, share whose synergy
exceeds 0.7 at some month, mean synergy and performance.

Usage: python experiments/entry_points.py [--runs 1000] [--steps 120] [--out DIR]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from _common import PALETTE, Experiment, mean_ci, plt, share_ci

from cmo_sim import load_scenario, plot
from cmo_sim.cli import DEFAULT_SCENARIO
from cmo_sim.scenario import ENTRY_POINT_PRESETS, ENTRY_POINTS

#: Table 2 row of each entry point.
TABLE_2_ROW = {e: k + 1 for k, e in enumerate(ENTRY_POINTS)}


def _preset_text(entry: str) -> str:
    preset = dict(ENTRY_POINT_PRESETS[entry])
    members = preset.pop("members", {})
    parts = [f"{k} {v}" for k, v in preset.items()]
    parts += [f"members' {k} {v}" for k, v in members.items()]
    return ", ".join(parts)


def main(argv=None) -> dict:
    exp = Experiment("entry_points", __doc__, argv)
    scenarios = [load_scenario({**DEFAULT_SCENARIO, "name": "none"})]
    scenarios += [load_scenario({**DEFAULT_SCENARIO, "name": e, "entry_point": e})
                  for e in ENTRY_POINTS]
    res = exp.simulate(scenarios, record=1)
    s = res.summary
    initial = res.trajectories["trust"].sel(step=0).mean("member").to_pandas()
    reach = (res.trajectories["synergy"].to_numpy() > 0.7).any(axis=1)
    s = s.assign(initial_trust=initial.to_numpy(), reach_synergy=reach)
    rows = []
    for scenario in scenarios:
        g = s[s["scenario"] == scenario.name]
        diss, diss_ci = share_ci(g["dissolved"])
        months = g.loc[g["dissolved"], "dissolved_at"] + 1
        rows.append({
            "entry point": scenario.name,
            "Table 2 row": TABLE_2_ROW.get(scenario.name, ""),
            "preset": _preset_text(scenario.name) if scenario.name in ENTRY_POINTS else "",
            "initial trust": g["initial_trust"].mean(),
            "dissolved": diss, "+-": diss_ci,
            "by faith": (g["cause"] == "faith").mean(),
            "median month": float(months.median()) if len(months) else np.nan,
            "reach synergy 0.7": g["reach_synergy"].mean(),
            "mean synergy": g["synergy_mean"].mean(),
            "performance": g["performance"].mean(),
        })
    table = pd.DataFrame(rows).set_index("entry point")
    exp.table("Per entry point", table,
              "dissolved: share of runs dissolved within the horizon (+- its 95% interval); "
              "by faith: share dissolved through loss of faith; reach synergy 0.7: share of "
              "runs whose synergy exceeds 0.7 at some month.")

    order = table.sort_values("initial trust").index
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, column, label in zip(axes, ("initial trust", "dissolved", "reach synergy 0.7"),
                                 ("mean initial trust", f"dissolved within {exp.steps} months",
                                  "synergy above 0.7 at some month"), strict=True):
        values = [table.loc[e, column] for e in order]
        errors = [mean_ci(s.loc[s["scenario"] == e, "initial_trust"])[1] if column ==
                  "initial trust" else share_ci(
                      s.loc[s["scenario"] == e, "dissolved" if column == "dissolved"
                            else "reach_synergy"])[1] for e in order]
        colours = [PALETTE[3] if e in ("policy_directive", "competitive_threat") else
                   PALETTE[2] if e == "existing_interdependence" else PALETTE[0] for e in order]
        ax.barh(range(len(order)), values, xerr=errors, color=colours)
        ax.set_yticks(range(len(order)), [e.replace("_", " ") for e in order])
        ax.set_xlabel(label)
        ax.set_xlim(0, 1)
    for ax in axes[1:]:
        ax.set_yticklabels([])
    fig.suptitle("Entry points (review Table 2) on the typical voluntary dyad")
    fig.tight_layout()
    exp.figure(fig, "entry_points.png", main=True)
    exp.figure(plot.survival(res), "survival.png")
    exp.finish()
    return {"table": table, "out": exp.out}


if __name__ == "__main__":
    main(sys.argv[1:])
