"""When: the same intervention applied at different months.

Claim examined (review, Discussion, "Implications"): CMO configurations say what works, for
whom and in what circumstances, but are less useful for establishing *when* a context has most
impact; that needs a framework that represents time. A simulation does: the same change of
context can be scheduled at any month and its consequences compared.

How: three partnerships that start without the intervention, each given it at month 0, 3, 6,
12, 24, 36 or 60 (a timeline event), or never, with common random numbers across all timings:

- *legal agreement*: the typical dyad with weak formal agreements (formalisation 0.2) signs
  agreements of typical strength (0.5);
- *heavy formal process*: the same dyad signs strong, process-heavy agreements (0.9), which
  also act through ``communication.heavy_process`` (formalisation above 0.5 takes from
  communication);
- *leadership change*: the typical dyad under combative leadership (0.2) gets a collaborative,
  inclusive leader (0.9).

Reported per intervention and month: share dissolved within the horizon, mean performance, and
the difference from never intervening. The two formal agreements are also run with
``trust.formal_scaffold`` and then ``communication.heavy_process`` removed, to see through which
rule an agreement acts after month 0.

Usage: python experiments/timing.py [--runs 1000] [--steps 120] [--out DIR]
"""

from __future__ import annotations

import sys

import pandas as pd
from _common import PALETTE, Experiment, plt, share_ci, typical

import cmo_sim

MONTHS = (0, 3, 6, 12, 24, 36, 60)
#: Rules removed in turn to see through which one formal agreements act after month 0.
ABLATED = ("trust.formal_scaffold", "communication.heavy_process")
INTERVENTIONS = {
    "legal agreement": ("formalisation", 0.2, 0.5),
    "heavy formal process": ("formalisation", 0.2, 0.9),
    "leadership change": ("leadership", 0.2, 0.9),
}


def schedule(exp: Experiment, labels) -> tuple[list, list]:
    """Scenarios (and their ``(intervention, month)`` keys) for the given interventions."""
    scenarios, keys = [], []
    for label in labels:
        context, before, after = INTERVENTIONS[label]
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
    return scenarios, keys


def dissolved_by_key(summary: pd.DataFrame, keys) -> dict:
    """Share dissolved per ``(intervention, month)`` key (scenario names as ``schedule``)."""
    rate = summary.groupby("scenario", sort=False)["dissolved"].mean()
    return {key: float(rate[f"{key[0]}: {'never' if key[1] == 'never' else f'month {key[1]}'}"])
            for key in keys}


def main(argv=None) -> dict:
    exp = Experiment("timing", __doc__, argv)
    scenarios, keys = schedule(exp, INTERVENTIONS)
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

    # The rules through which formal agreements act after month 0, each removed in turn.
    formal = [label for label in INTERVENTIONS if INTERVENTIONS[label][0] == "formalisation"]
    formal_scenarios, formal_keys = schedule(exp, formal)
    theory = cmo_sim.load_theory()
    columns = {"default theory": dissolved_by_key(s, formal_keys)}
    for rule in ABLATED:
        ablated = exp.simulate(formal_scenarios, theory=theory.without(rule)).summary
        columns[f"without {rule}"] = dissolved_by_key(ablated, formal_keys)
    rules = pd.DataFrame(columns)
    rules.index = pd.MultiIndex.from_tuples(rules.index, names=["intervention", "month"])
    exp.table("Formal agreements: the rules responsible", rules,
              "Share dissolved within the horizon under the default theory and with one rule "
              "removed (common random numbers throughout). trust.legal_agreements sets initial "
              "trust; trust.formal_scaffold moves a pair's trust while it is below 0.5; "
              "communication.heavy_process takes from communication above formalisation 0.5.")

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.9))
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
    return {"table": table, "rules": rules, "summary": s, "out": exp.out}


if __name__ == "__main__":
    main(sys.argv[1:])
