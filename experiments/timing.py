"""When: the same intervention applied at different months.

Claim examined (review, Discussion, "Implications"): CMO configurations say what works, for
whom and in what circumstances, but are less useful for establishing *when* a context has most
impact; that needs a framework that represents time. A simulation does: the same change of
context can be scheduled at any month and its consequences compared.

How: two partnerships that start without the intervention, each given it at month 0, 3, 6, 12,
24, 36 or 60 (a timeline event), or never, with common random numbers across all timings:

- *legal agreement*: the typical dyad with weak formal agreements (formalisation 0.2) signs
  strong ones (0.9);
- *leadership change*: the typical dyad under combative leadership (0.2) gets a collaborative,
  inclusive leader (0.9).

Reported per intervention and month: share dissolved within the horizon, mean performance, and
the difference from never intervening.

Usage: python experiments/timing.py [--runs 1000] [--steps 120] [--out DIR]
"""

from __future__ import annotations

import sys

import pandas as pd
from _common import PALETTE, Experiment, plt, share_ci, typical

MONTHS = (0, 3, 6, 12, 24, 36, 60)
INTERVENTIONS = {
    "legal agreement": ("formalisation", 0.2, 0.9),
    "leadership change": ("leadership", 0.2, 0.9),
}


def main(argv=None) -> dict:
    exp = Experiment("timing", __doc__, argv)
    scenarios, keys = [], []
    for label, (context, before, after) in INTERVENTIONS.items():
        base = typical(**{context: before})
        scenarios.append(base.with_values({"name": f"{label}: never"}))
        keys.append((label, "never"))
        for month in MONTHS:
            if month >= exp.steps:
                continue
            timed = base.to_dict()
            timed["name"] = f"{label}: month {month}"
            timed["timeline"] = [{"step": month, "changes": {context: after}}]
            scenarios.append(timed)
            keys.append((label, month))
    res = exp.simulate(scenarios)
    s = res.summary
    rows = []
    for (label, month), scenario in zip(keys, res.meta["scenarios"], strict=True):
        g = s[s["scenario"] == scenario["name"]]
        never = s[s["scenario"] == f"{label}: never"]
        diss, ci = share_ci(g["dissolved"])
        rows.append({
            "intervention": label, "month": month, "dissolved": diss, "+-": ci,
            "vs never": diss - never["dissolved"].mean(),
            "performance": g["performance"].mean(),
            "performance vs never": g["performance"].mean() - never["performance"].mean(),
        })
    table = pd.DataFrame(rows).set_index(["intervention", "month"])
    exp.table("Per intervention and timing", table,
              "vs never: difference from the same partnership never given the intervention "
              "(common random numbers, so the differences are paired).")

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for k, label in enumerate(INTERVENTIONS):
        part = table.xs(label).drop(index="never")
        never = table.loc[(label, "never")]
        colour = PALETTE[k]
        axes[0].errorbar(part.index.astype(int), part["dissolved"], yerr=part["+-"],
                         color=colour, marker="o", capsize=3, label=label)
        axes[0].axhline(never["dissolved"], color=colour, ls=":", lw=1)
        axes[1].plot(part.index.astype(int), part["performance"], color=colour, marker="o",
                     label=label)
        axes[1].axhline(never["performance"], color=colour, ls=":", lw=1)
    axes[0].set_ylabel(f"dissolved within {exp.steps} months")
    axes[1].set_ylabel("mean performance")
    for ax in axes:
        ax.set_xlabel("month the intervention takes effect (dotted: never)")
    axes[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    exp.figure(fig, "timing.png", main=True)
    exp.finish()
    return {"table": table, "out": exp.out}


if __name__ == "__main__":
    main(sys.argv[1:])
