"""Print the dissolution timing table of docs/model.md section 6.3 (about 20 s).

    python tools/dissolution_timing.py [--runs 50000] [--seed 1]

Three dyads, each guarding one exit threshold; then each guarded threshold scaled by 0.85 and
1.15 in its own dyad. Months count from 0; a year's hazard is the share of the runs still in
place at the start of the year that dissolve during it ("—" when none is left).
"""

from __future__ import annotations

import argparse

import numpy as np

import cmo_sim
from cmo_sim.cli import DEFAULT_SCENARIO

SCENARIOS = {
    "typical voluntary": {},
    "typical, mandated": {"mandated": True},
    "hollow": {"history": 0.6, "formalisation": 0.8, "authenticity": 0.1,
               "stakeholder_involvement": 0.1,
               "members": [{"staff_involvement": 0.1}, {"staff_involvement": 0.1}]},
}
GUARDS = {"typical voluntary": "critical_trust", "typical, mandated": "mandated_exit_barrier",
          "hollow": "critical_faith"}


def scenario(name: str) -> cmo_sim.Scenario:
    """The dyad ``name`` of :data:`SCENARIOS`."""
    changes = SCENARIOS[name]
    if "members" in changes:
        return cmo_sim.load_scenario({"name": name, **changes})
    return cmo_sim.load_scenario(DEFAULT_SCENARIO).with_values({"name": name, **changes})


def timing(name: str, runs: int, seed: int, theory=None) -> tuple[float, float, float, list]:
    """Share dissolved, mean dissolution month, its SE, and ``(hazard, at risk)`` by year.

    Years 1-5 (a hazard is NaN once no run is left at risk); ``tests/test_calibration.py``
    checks the docs with this function too.
    """
    s = cmo_sim.simulate(scenario(name), runs=runs, seed=seed, theory=theory).summary
    dissolved, month = s["dissolved"].to_numpy(), s["dissolved_at"].to_numpy()
    year = np.where(dissolved, month // 12, 99)
    at_risk, hazards = runs, []
    for y in range(5):
        ended = int((year == y).sum())
        hazards.append((ended / at_risk if at_risk else float("nan"), at_risk))
        at_risk -= ended
    ended_months = month[dissolved]
    return (float(dissolved.mean()), float(ended_months.mean()),
            float(ended_months.std() / np.sqrt(ended_months.size)), hazards)


def main() -> None:
    """Print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print("| dyad | dissolved | mean month (SE) | hazard year 1 | 2 | 3 | 4 | 5 |")
    print("|---|---|---|---|---|---|---|---|")
    for name in SCENARIOS:
        share, mean, se, hazards = timing(name, args.runs, args.seed)
        print(f"| {name} | {share:.4f} | {mean:.2f} ({se:.2f}) | "
              + " | ".join("—" if np.isnan(h) else f"{h:.4f}" for h, _ in hazards) + " |")
    theory = cmo_sim.load_theory()
    print("\n| dyad | threshold x factor | dissolved | mean month |")
    print("|---|---|---|---|")
    for name, threshold in GUARDS.items():
        for factor in (0.85, 1.15):
            changed = theory.with_baseline(**{threshold: theory.baseline[threshold] * factor})
            share, mean, _, _ = timing(name, args.runs, args.seed, changed)
            print(f"| {name} | {threshold} x {factor} | {share:.4f} | {mean:.2f} |")


if __name__ == "__main__":
    main()
