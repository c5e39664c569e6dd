"""How every shipped scenario ends: its form, its end states at month 120 and the checks on them.

Runs every scenario of ``scenarios/`` and prints one line per scenario (the share of runs in
each end state at the last month, the share of fixed terms that achieved their aim, the share
still in place, mean exits and joins), then the annual dissolution hazard of the typical
voluntary dyad, then each requirement on the forms with its measured value. docs/forms.md shows
its output.

Usage: python tools/end_states_report.py [--runs 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cmo_sim
from cmo_sim.results import END_STATES

ROOT = Path(__file__).resolve().parents[1]
STEPS = 120
#: The end states a run of each form can be in at month 120 (a fixed term shorter than that
#: has ended completed: its members cannot leave before the term; the others never complete).
POSSIBLE = {"fixed_term": ("completed",)}
OPEN_ENDED = ("thriving", "struggling", "dissolved")


def scenario_rows(runs: int, seed: int) -> list[dict]:
    """One row per shipped scenario: form, end-state shares, achieved, in place, exits, joins."""
    rows = []
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        s = cmo_sim.simulate(cmo_sim.load_scenario(path), runs=runs, steps=STEPS,
                             seed=seed).summary
        shares = s["end_state"].value_counts(normalize=True)
        rows.append({
            "scenario": path.stem,
            "form": str(s["form"].iloc[0]),
            **{state: float(shares.get(state, 0.0)) for state in END_STATES},
            "achieved": float((s["result"] == "achieved").mean()),
            "in_place": float((~s["ended_at"].notna()).mean()),
            "exits": float(s["exits"].mean()),
            "joins": float(s["joins"].mean()),
            "summary": s,
        })
    return rows


def annual_hazard(summary) -> list[float]:
    """Dissolutions in each year among the runs in place at its start (years 1 .. 10).

    The calibration's ``hazard`` measure (:func:`cmo_sim.calibrate._measures.annual_hazard`)
    at the end of each year.
    """
    from cmo_sim.calibrate._measures import annual_hazard as hazard

    ended = summary["ended_at"].to_numpy(float)
    dissolved = summary["dissolved"].to_numpy(bool)
    dissolved_at = summary["dissolved_at"].to_numpy(float)
    return [hazard(ended, dissolved, dissolved_at, 12 * (year + 1))
            for year in range(STEPS // 12)]


def checks(rows: list[dict]) -> list[tuple[str, float | str, str, bool]]:
    """The requirements on the forms: ``(what, measured, target, met)``."""
    by = {r["scenario"]: r for r in rows}
    out = []
    dyad = by["voluntary_alliance"]
    out.append(("typical dyad: dissolved within ten years", dyad["dissolved"], "0.30 .. 0.70",
                0.30 <= dyad["dissolved"] <= 0.70))
    hazard = annual_hazard(dyad["summary"])
    late = min(hazard[7:10])
    out.append(("typical dyad: smallest annual hazard of years 8, 9, 10", late, "> 0",
                late > 0))
    out.append(("typical dyad: struggling at month 120", dyad["struggling"], ">= 0.10",
                dyad["struggling"] >= 0.10))
    merger = by["mandated_merger"]
    out.append(("mandated merger: ended (de-merged) within ten years", merger["dissolved"],
                "<= 0.10", merger["dissolved"] <= 0.10))
    out.append(("mandated merger: struggling at month 120", merger["struggling"], "> thriving",
                merger["struggling"] > merger["thriving"]))
    buddy = by["buddying"]
    ended = buddy["completed"] + buddy["dissolved"]
    out.append(("buddying: ended by its 24-month term", ended, "= 1", ended == 1.0))
    both = 0.0 < buddy["achieved"] < buddy["completed"]
    out.append(("buddying: turnaround achieved, among all runs", buddy["achieved"],
                "strictly between 0 and the completed share", both))
    network = by["large_network"]
    out.append(("large network: in place (two or more members) at month 120",
                network["in_place"], ">= 0.60", network["in_place"] >= 0.60))
    out.append(("large network: mean exits / joins per run",
                f"{network['exits']:.1f} / {network['joins']:.1f}", "both > 0",
                network["exits"] > 0 and network["joins"] > 0))
    # Every end state the form allows is neither empty nor universal (a form with one
    # possible end state has it for every run: that is definitional).
    extreme = [f"{r['scenario']}: {state} {r[state]:.0%}" for r in rows
               for state in POSSIBLE.get(r["form"], OPEN_ENDED)
               if len(POSSIBLE.get(r["form"], OPEN_ENDED)) > 1 and r[state] in (0.0, 1.0)]
    out.append(("end states the form allows at 0% or 100%", "; ".join(extreme) or "none",
                "none", not extreme))
    return out


def main(argv: list[str]) -> int:
    """Print the table, the dyad's hazard and the checks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = scenario_rows(args.runs, args.seed)
    print(f"shipped scenarios, {args.runs} runs x {STEPS} months, seed {args.seed}")
    head = " ".join(f"{s[:10]:>10}" for s in END_STATES)
    print(f"{'scenario':<30} {'form':<19} {head} {'achieved':>8} {'in place':>8} "
          f"{'exits':>6} {'joins':>6}")
    for r in rows:
        shares = " ".join(f"{r[s]:10.3f}" for s in END_STATES)
        print(f"{r['scenario']:<30} {r['form']:<19} {shares} {r['achieved']:8.3f} "
              f"{r['in_place']:8.3f} {r['exits']:6.1f} {r['joins']:6.1f}")
    dyad = next(r for r in rows if r["scenario"] == "voluntary_alliance")
    hazard = annual_hazard(dyad["summary"])
    print("typical dyad, annual dissolution hazard, years 1-10: "
          + " ".join(f"{h:.3f}" for h in hazard))
    for what, value, target, met in checks(rows):
        shown = f"{value:.3f}" if isinstance(value, float) else value
        print(f"{what:<60} {shown:>12}  target {target:<42} {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
