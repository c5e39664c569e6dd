"""Mandated versus voluntary partnerships under collaborative or combative leadership.

Claim examined (review, Table 3 "Leadership" rows 1-3 and "Power" row 3; prose "Leadership" and
"Point of entry into collaborating"): mandated partnering creates power imbalances and lowers
initial trust. A collaborative leadership style builds trust and achievement. A combative style
(pushing dissenters out) is workable in a mandated, low-trust partnership, where it creates a
shared vision, but in a voluntary partnership it produces a dominating hierarchy and erodes
trust.

How: the typical dyad, voluntary or mandated (member 0 the lead), with leadership 0.1
(combative), 0.5 or 0.9 (collaborative), common random numbers across the six. Reported:
initial trust, shared vision after two years, the other member's mean trust in the lead over the
first two years, share dissolved, mean synergy and performance.

Usage: python experiments/mandate_leadership.py [--runs 1000] [--steps 120] [--out DIR]
"""

from __future__ import annotations

import sys

import numpy as np
from _common import PALETTE, Experiment, plt, typical

STYLES = {"combative (0.1)": 0.1, "middle (0.5)": 0.5, "collaborative (0.9)": 0.9}


def main(argv=None) -> dict:
    exp = Experiment("mandate_leadership", __doc__, argv)
    cells = [(m, style) for m in (False, True) for style in STYLES]
    scenarios = [typical(name=f"{'mandated' if m else 'voluntary'}, {style}", mandated=m,
                         leadership=STYLES[style]) for m, style in cells]
    res = exp.simulate(scenarios, record=1)
    traj = res.trajectories
    s = res.summary.copy()
    s["initial_trust"] = traj["trust"].sel(step=0).mean("member").to_numpy()
    s["vision_2y"] = traj["vision"].sel(step=min(24, exp.steps)).to_numpy()
    # In a dyad member 1's recorded trust is its trust in member 0, the lead.
    s["trust_in_lead_2y"] = traj["trust"].sel(member=1, step=slice(1, 24)).mean("step").to_numpy()
    by = s.groupby("scenario", sort=False).agg(
        initial_trust=("initial_trust", "mean"), vision_2y=("vision_2y", "mean"),
        trust_in_lead_2y=("trust_in_lead_2y", "mean"), dissolved=("dissolved", "mean"),
        synergy_mean=("synergy_mean", "mean"), performance=("performance", "mean"))
    by.insert(0, "leadership", [style for _, style in cells])
    by.insert(0, "partnership", ["mandated" if m else "voluntary" for m, _ in cells])
    table = by.set_index(["partnership", "leadership"])
    exp.table("Per partnership and leadership style", table,
              "vision 2y: shared vision at month 24 (starts at 0.5); trust in lead 2y: the "
              "other member's mean trust in the lead over months 1-24.")
    v, m = table.xs("voluntary"), table.xs("mandated")
    exp.text("Combative against middle leadership",
             f"Voluntary: trust in the lead {v.loc['combative (0.1)', 'trust_in_lead_2y']:.3f} vs "
             f"{v.loc['middle (0.5)', 'trust_in_lead_2y']:.3f}, shared vision "
             f"{v.loc['combative (0.1)', 'vision_2y']:.3f} vs "
             f"{v.loc['middle (0.5)', 'vision_2y']:.3f}. Mandated: trust in the lead "
             f"{m.loc['combative (0.1)', 'trust_in_lead_2y']:.3f} vs "
             f"{m.loc['middle (0.5)', 'trust_in_lead_2y']:.3f}, shared vision "
             f"{m.loc['combative (0.1)', 'vision_2y']:.3f} vs "
             f"{m.loc['middle (0.5)', 'vision_2y']:.3f}.")

    months = traj["step"].to_numpy()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for k, (mandated, style) in enumerate(cells):
        name = scenarios[k].name
        rows = (s["scenario"] == name).to_numpy()
        colour = PALETTE[[3, 7, 2][list(STYLES).index(style)]]
        ls = "-" if mandated else "--"
        label = name
        axes[0].plot(months, traj["vision"].to_numpy()[rows].mean(axis=0), color=colour, ls=ls,
                     label=label)
        axes[1].plot(months, np.nanmean(traj["trust"].sel(member=1).to_numpy()[rows], axis=0),
                     color=colour, ls=ls, label=label)
        alive = 1 - (traj["active"].to_numpy()[rows].sum(axis=2) < 2).mean(axis=0)
        axes[2].plot(months, alive, color=colour, ls=ls, label=label)
    axes[0].set_ylabel("mean shared vision")
    axes[1].set_ylabel("mean trust in the lead")
    axes[2].set_ylabel("share still in place")
    for ax in axes:
        ax.set_xlabel("month")
        ax.set_xlim(0, exp.steps)
    axes[0].legend(frameon=False, fontsize=7)
    fig.suptitle("solid: mandated, dashed: voluntary")
    fig.tight_layout()
    exp.figure(fig, "mandate_leadership.png", main=True)
    exp.finish()
    return {"table": table, "out": exp.out}


if __name__ == "__main__":
    main(sys.argv[1:])
