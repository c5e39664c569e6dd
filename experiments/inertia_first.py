"""Through inertia to synergy, and up and down: the paths partnerships take.

Claim examined (review, "Partnership performance mechanisms" and the Discussion; Zwisler et al.
2024): synergy comes after functioning and before effectiveness; a partnership may spend an
early period in collaborative inertia, figuring out how to function, before it reaches synergy,
and partnerships move up and down between inertia and performance as events occur (among them
the turnover of senior leaders and partnership leads).

How: the typical voluntary dyad, a cautious variant (history -0.3, initial trust about 0.46),
and the typical dyad under two ablated theories (common random numbers across the four): without
the start-up cost of a partnership whose members have not yet learned to work together
(``inertia.alignment_time``), and without the three rules through which a change of a member's
leaders acts (``trust.leadership_turnover``, ``faith.leadership_turnover``,
``learning.leadership_turnover``; the changes still happen and are counted). Every month is
recorded. Each run is classed by its synergy path: *no early inertia* (synergy at least 0.4 in
some month 1-6), else by the highest synergy it reaches after month 6: *inertia, then synergy*
(above 0.7), *inertia, then middling* (above 0.5, not 0.7), *stuck in inertia* (never above
0.5). Reported per class: share, initial trust, median month synergy first exceeds 0.7, share
dissolved, the share of the runs reaching 0.7 that later fall below 0.4 (fall back), leadership
changes per year in place; and per scenario the same in total.

Usage: python experiments/inertia_first.py [--runs 1000] [--steps 120] [--out DIR]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from _common import PALETTE, Experiment, months_in_place, plt, typical

import cmo_sim

EARLY = 6
LOW, MIDDLE, HIGH = 0.4, 0.5, 0.7
CLASSES = ("no early inertia", "inertia, then synergy", "inertia, then middling",
           "stuck in inertia")
COLOURS = dict(zip(CLASSES, ("#999999", PALETTE[2], PALETTE[0], PALETTE[3]), strict=True))
TURNOVER_RULES = ("trust.leadership_turnover", "faith.leadership_turnover",
                  "learning.leadership_turnover")
TYPICAL, CAUTIOUS = "typical", "cautious (history -0.3)"
NO_STARTUP, NO_TURNOVER = "typical, no start-up cost", "typical, leadership changes inert"


def classify(synergy: np.ndarray, early: int = EARLY) -> np.ndarray:
    """Class of each run from its synergy path ``[runs, steps + 1]`` (label 0 = month 0)."""
    early_inertia = (synergy[:, 1:early + 1] < LOW).all(axis=1)
    later = synergy[:, early + 1:]
    later_max = later.max(axis=1) if later.shape[1] else np.zeros(synergy.shape[0])
    return np.where(~early_inertia, CLASSES[0],
                    np.where(later_max > HIGH, CLASSES[1],
                             np.where(later_max > MIDDLE, CLASSES[2], CLASSES[3])))


def falls_back(synergy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per run: synergy exceeds 0.7 at some month; and after that falls below 0.4."""
    high = synergy > HIGH
    reach = high.any(axis=1)
    first = np.where(reach, np.argmax(high, axis=1), synergy.shape[1])
    after = np.arange(synergy.shape[1])[None, :] >= first[:, None]
    return reach, reach & ((synergy < LOW) & after).any(axis=1)


def leadership_changes(experience: np.ndarray) -> np.ndarray:
    """``[runs, steps]``: months in which experience fell, i.e. a member's leaders changed.

    In the default theory nothing else lowers experience where communication, evaluation and
    proximity are typical (docs/model.md, learning to work together).
    """
    return np.diff(experience, axis=1) < -1e-12


def _median(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.median()) if len(values) else np.nan


def _describe(g: pd.DataFrame) -> dict:
    reached = g[g["reach"]]
    return {
        "share": np.nan, "initial trust": g["initial_trust"].mean() if len(g) else np.nan,
        "median month to synergy 0.7": _median(g["month_to_high"]),
        "dissolved": g["dissolved"].mean() if len(g) else np.nan,
        "fall back": reached["fell"].mean() if len(reached) else np.nan,
        "leadership changes per year": g["changes_per_year"].mean() if len(g) else np.nan,
    }


def main(argv=None) -> dict:
    exp = Experiment("inertia_first", __doc__, argv)
    theory = cmo_sim.load_theory()
    cases = ((TYPICAL, typical(name=TYPICAL), theory),
             (CAUTIOUS, typical(name=CAUTIOUS, history=-0.3), theory),
             (NO_STARTUP, typical(name=NO_STARTUP), theory.without("inertia.alignment_time")),
             (NO_TURNOVER, typical(name=NO_TURNOVER), theory.without(*TURNOVER_RULES)))
    frames, paths = [], {}
    for name, scenario, th in cases:
        res = exp.simulate(scenario, record="trajectory", theory=th)
        s = res.summary.copy()
        synergy = res.trajectories["synergy"].to_numpy()
        experience = res.trajectories["experience"].to_numpy()
        s["scenario"] = name
        s["class"] = classify(synergy)
        s["initial_trust"] = res.trajectories["trust"].sel(step=0).mean("member").to_numpy()
        s["reach"], s["fell"] = falls_back(synergy)
        s["month_to_high"] = np.where(s["reach"], np.argmax(synergy > HIGH, axis=1), np.nan)
        s["early_inertia"] = s["class"] != CLASSES[0]
        s["dissolved_early"] = s["dissolved"] & (s["dissolved_at"] < 24)
        s["changes_per_year"] = 12 * s["turnovers"] / months_in_place(s, exp.steps)
        frames.append(s)
        paths[name] = (synergy, experience)
    s = pd.concat(frames, ignore_index=True)

    rows = []
    for name, _, _ in cases:
        g = s[s["scenario"] == name]
        for cls in CLASSES:
            c = g[g["class"] == cls]
            row = {"scenario": name, "class": cls, **_describe(c)}
            row["share"] = len(c) / len(g)
            rows.append(row)
    table = pd.DataFrame(rows).set_index(["scenario", "class"])
    exp.table("Synergy paths", table,
              "Every partnership starts at synergy 0.5 with no experience of working together. "
              f"no early inertia: synergy at least {LOW} in some month 1-{EARLY}; the other "
              f"classes stay below {LOW} in months 1-{EARLY} and are told apart by the highest "
              f"synergy after month {EARLY}. fall back: share of the class's runs whose synergy "
              f"exceeds {HIGH} and later falls below {LOW}; leadership changes per year: changes "
              "of a member's senior leaders or partnership lead per year in place.")
    totals = []
    for name, _, _ in cases:
        g = s[s["scenario"] == name]
        totals.append({
            "scenario": name, "early inertia": g["early_inertia"].mean(),
            "inertia, then synergy": (g["class"] == CLASSES[1]).mean(),
            "reach synergy 0.7": g["reach"].mean(),
            "median month to synergy 0.7": _median(g["month_to_high"]),
            "fall back": g.loc[g["reach"], "fell"].mean() if g["reach"].any() else np.nan,
            "dissolved": g["dissolved"].mean(), "dissolved in 24 months": g[
                "dissolved_early"].mean(),
            "leadership changes per year": g["changes_per_year"].mean(),
        })
    overall = pd.DataFrame(totals).set_index("scenario")
    exp.table("Per scenario", overall,
              f"early inertia: synergy below {LOW} in every month 1-{EARLY}; fall back: share of "
              f"the runs reaching synergy {HIGH} that later fall below {LOW}.")

    months = np.arange(exp.steps + 1)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    rng = np.random.default_rng(0)
    for ax, name in zip(axes[:2], (TYPICAL, NO_STARTUP), strict=True):
        synergy, experience = paths[name]
        cls = s.loc[s["scenario"] == name, "class"].to_numpy()
        for c in CLASSES:
            rows_ = np.flatnonzero(cls == c)
            if rows_.size < max(5, 0.02 * cls.size):  # too few runs to draw
                continue
            for r in rng.choice(rows_, size=min(8, rows_.size), replace=False):
                ax.plot(months, synergy[r], color=COLOURS[c], lw=0.5, alpha=0.4)
            ax.plot(months, np.median(synergy[rows_], axis=0), color=COLOURS[c], lw=2.2,
                    label=f"{c} ({rows_.size / cls.size:.0%})")
        ax.plot(months, np.median(experience, axis=0), color="black", ls="--", lw=1.2,
                label="experience (median)")
        ax.axvspan(0, EARLY, color="#eeeeee", zorder=0)
        ax.set_xlim(0, min(exp.steps, 60))
        ax.set_ylim(0, 1.25)  # room for the legend above the paths
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_xlabel("month")
        ax.set_title(name, fontsize=10)
        ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(0.1, 1.0))
    axes[0].set_ylabel("synergy: median and 8 runs per class\n(dissolved runs at last value)")
    ax = axes[2]
    synergy, experience = paths[TYPICAL]
    typ = s[s["scenario"] == TYPICAL]
    fell = np.flatnonzero(typ["fell"].to_numpy())
    changes = leadership_changes(experience)
    for k, r in enumerate(fell[:4]):
        colour = PALETTE[k]
        ax.plot(months, synergy[r], color=colour, lw=1.3)
        for m in np.flatnonzero(changes[r]) + 1:
            ax.plot(m, 0.03 + 0.035 * k, marker="v", color=colour, ms=5)
    ax.axhline(HIGH, color="grey", ls=":", lw=0.8)
    ax.axhline(LOW, color="grey", ls=":", lw=0.8)
    ax.set_ylim(0, 1)
    ax.set_xlim(0, exp.steps)
    ax.set_xlabel("month (triangles: a member's leaders change)")
    ax.set_ylabel("synergy")
    ax.set_title("typical dyad: four runs that fall back", fontsize=10)
    fig.tight_layout()
    exp.figure(fig, "synergy_paths.png", main=True)
    exp.finish()
    return {"table": table, "overall": overall, "out": exp.out}


if __name__ == "__main__":
    main(sys.argv[1:])
