"""Measure how the model's dynamics tell the review's story, against stated targets.

Runs the typical voluntary dyad (``scenarios/voluntary_alliance.yaml``) and prints one line per
measure: its value, the target the model aims at, and whether it is met. The measures are those
of the review's story in docs/model.md ("How the dynamics measure up"): trust eroded by both
conflict and task failure, faith as a loop of its own, inertia before synergy, partnerships
that last still moving, and contexts with effects of their own.

Usage: python tools/dynamics_report.py [--runs 2000] [--seed 0] [--scenarios]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import cmo_sim

ROOT = Path(__file__).resolve().parents[1]
STEPS = 120


def _dissolved(scenario, theory, runs, seed) -> float:
    """Share of ``runs`` runs of ``scenario`` dissolved by month 120."""
    return float(cmo_sim.simulate(scenario, runs=runs, steps=STEPS, seed=seed,
                                  theory=theory).summary["dissolved"].mean())


def measures(runs: int, seed: int, theory: cmo_sim.Theory | None = None
             ) -> list[tuple[str, float, str, bool]]:
    """``(measure, value, target, met)`` for every measure (of the default theory by default)."""
    theory = cmo_sim.load_theory() if theory is None else theory
    dyad = cmo_sim.load_scenario(ROOT / "scenarios" / "voluntary_alliance.yaml")
    out = []
    res = cmo_sim.simulate(dyad, runs=runs, steps=STEPS, seed=seed, record="trajectory",
                           theory=theory)
    s, traj = res.summary, res.trajectories
    base = float(s["dissolved"].mean())
    out.append(("ten-year dissolution of the typical dyad", base, "(reference)", True))

    conflict_rules = [r.id for r in theory if r.id.startswith("conflict.")]
    no_conflict = _dissolved(dyad, theory.without(*conflict_rules), runs, seed)
    no_failure = _dissolved(dyad, theory.without("trust.failure_loop"), runs, seed)
    d_conflict, d_failure = abs(base - no_conflict), abs(base - no_failure)
    out.append(("change of dissolution when every conflict.* rule is ablated", d_conflict,
                ">= 0.08", d_conflict >= 0.08))
    out.append(("change when trust.failure_loop alone is ablated, over the conflict rules'",
                d_failure / max(d_conflict, 1e-12), "<= 3", d_failure <= 3 * d_conflict))
    gone = s[s["dissolved"]]
    lost = -(gone["trust_lost_conflict"] + gone["trust_lost_task"] + gone["trust_lost_other"])
    conflict_share = float((-gone["trust_lost_conflict"] / lost).mean())
    task_share = float((-gone["trust_lost_task"] / lost).mean())
    out.append(("share of trust lost through conflict, dissolved runs (mean)", conflict_share,
                ">= 0.25", conflict_share >= 0.25))
    out.append(("share of trust lost through the task's outcome, dissolved runs (mean)",
                task_share, ">= 0.25", task_share >= 0.25))

    swings = {}
    for name, low, high in (("shared_vision", 0.1, 0.9), ("accountability", 0.1, 0.9),
                            ("interoperability", 0.1, 0.9)):
        swings[name] = abs(_dissolved(dyad.with_values({name: high}), theory, runs, seed)
                           - _dissolved(dyad.with_values({name: low}), theory, runs, seed))
    apart = dyad.with_values({"members[0].culture": 0.2, "members[1].culture": 0.8})
    swings["cultural distance"] = abs(_dissolved(apart, theory, runs, seed) - base)
    labels = {"shared_vision": "shared_vision 0.1 -> 0.9",
              "accountability": "accountability 0.1 -> 0.9",
              "cultural distance": "cultures 0.2 and 0.8 against the scenario's"}
    for name in ("shared_vision", "accountability", "cultural distance"):
        out.append((f"dissolution swing: {labels[name]}", swings[name], ">= 0.10",
                    swings[name] >= 0.10))
    largest = min(swings[n] for n in ("shared_vision", "accountability", "cultural distance"))
    out.append(("dissolution swing: interoperability 0.1 -> 0.9", swings["interoperability"],
                f"<= {largest:.3f} (the smallest of the three)",
                swings["interoperability"] <= largest))

    trust24 = traj["trust"].sel(step=24).to_numpy().ravel()
    faith24 = traj["faith"].sel(step=24).to_numpy().ravel()
    keep = np.isfinite(trust24) & np.isfinite(faith24)
    corr = float(np.corrcoef(trust24[keep], faith24[keep])[0, 1])
    out.append(("correlation of a member's trust and faith at month 24", corr, "<= 0.7",
                corr <= 0.7))
    faith_share = float((gone["cause"] == "faith").mean()) if len(gone) else 0.0
    out.append(("faith-origin share of dissolutions, typical dyad", faith_share, ">= 0.15",
                faith_share >= 0.15))
    withered = cmo_sim.load_scenario(ROOT / "scenarios" / "inauthentic_low_priority.yaml")
    ended = cmo_sim.simulate(withered, runs=runs, steps=STEPS, seed=seed, theory=theory).summary
    ended = ended[ended["dissolved"]]
    share = float((ended["cause"] == "faith").mean()) if len(ended) else 0.0
    out.append(("faith-origin share of dissolutions, inauthentic low-priority scenario", share,
                ">= 0.5", share >= 0.5))

    midpoint = cmo_sim.simulate(dyad, runs=runs, steps=STEPS, seed=seed, record="trajectory",
                                theory=theory.with_baseline(synergy_initial=0.5))
    early = midpoint.trajectories["synergy"].to_numpy()
    early_low = (early[:, 1:7] < 0.4).all(axis=1)
    later_high = (early[:, 7:] > 0.7).any(axis=1)
    share = float((early_low & later_high).mean())
    out.append(("synergy < 0.4 in months 1-6, later > 0.7 (synergy_initial 0.5)", share,
                ">= 0.05", share >= 0.05))
    synergy = traj["synergy"].to_numpy()
    alive = ~s["dissolved"].to_numpy()
    final = synergy[alive, -1]
    iqr = float(np.subtract(*np.percentile(final, [75, 25]))) if final.size else 0.0
    out.append(("synergy IQR of dyads in place at month 120", iqr, ">= 0.15", iqr >= 0.15))
    top = float((final > 0.95).mean()) if final.size else 0.0
    out.append(("share of dyads in place at month 120 with synergy > 0.95", top, "<= 0.5",
                top <= 0.5))
    fell = 0
    reached = 0
    for row in synergy:
        above = np.flatnonzero(row > 0.7)
        if above.size:
            reached += 1
            fell += bool((row[above[0]:] < 0.4).any())
    fall = fell / max(reached, 1)
    out.append(("runs that reach synergy > 0.7 and later fall below 0.4", fall, ">= 0.05",
                fall >= 0.05))
    return out


def scenario_table(runs: int, seed: int) -> list[tuple[str, float, float, float]]:
    """``(scenario, dissolved, faith-origin share, median month)`` of every shipped scenario.

    The faith-origin share and the median month (0-based) are over the runs that dissolved.
    """
    rows = []
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        s = cmo_sim.simulate(cmo_sim.load_scenario(path), runs=runs, steps=STEPS,
                             seed=seed).summary
        gone = s[s["dissolved"]]
        rows.append((path.stem, float(s["dissolved"].mean()),
                     float((gone["cause"] == "faith").mean()) if len(gone) else float("nan"),
                     float(gone["dissolved_at"].median()) if len(gone) else float("nan")))
    return rows


def main(argv: list[str]) -> int:
    """Print the measures with their targets (or, with --scenarios, the shipped scenarios)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenarios", action="store_true",
                        help="print every shipped scenario's ten-year dissolution instead")
    args = parser.parse_args(argv)
    if args.scenarios:
        print(f"shipped scenarios, {args.runs} runs x {STEPS} months, seed {args.seed}")
        print(f"{'scenario':<32} {'dissolved':>9} {'by faith':>9} {'median month':>13}")
        for name, gone, faith, month in scenario_table(args.runs, args.seed):
            print(f"{name:<32} {gone:9.3f} {faith:9.3f} {month:13.1f}")
        return 0
    rows = measures(args.runs, args.seed)
    width = max(len(r[0]) for r in rows)
    print(f"typical voluntary dyad, {args.runs} runs x {STEPS} months, seed {args.seed}")
    for name, value, target, met in rows:
        print(f"{name:<{width}}  {value:8.3f}  target {target:<40} {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
