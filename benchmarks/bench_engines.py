"""The numpy core against the Mesa engine on the same dyad (a script, not a test).

Measures, in one run on this machine, member-steps per second of
- the numpy core (``simulate(engine="batch")``) on ``--numpy-runs`` runs (default 10^4);
- the Mesa engine through the same entry point (``simulate(engine="abm")``, i.e. ``run_abm``)
  on ``--abm-runs`` runs (default 200: it is far slower), which are the first replicates of the
  numpy batch and must give the same summary;
- the Mesa model as a user drives it (``PartnershipModel`` with its DataCollector and event log,
  stepped until it stops) on the same runs;
and prints the ratio (target: the numpy core at least 300x faster at 10^4 runs).

Member-steps are nominal (runs x members x months asked for) and, because both engines stop
computing a partnership once it has dissolved, also alive (months each run was still going);
the ratio is given for both.

Usage: python benchmarks/bench_engines.py [--numpy-runs 10000] [--abm-runs 200] [--steps 120]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import cmo_sim
from cmo_sim.abm import PartnershipModel

SCENARIO_FILE = Path(__file__).resolve().parents[1] / "scenarios" / "voluntary_alliance.yaml"
TARGET = 300.0


def dyad() -> cmo_sim.Scenario:
    if SCENARIO_FILE.is_file():
        return cmo_sim.load_scenario(SCENARIO_FILE)
    return cmo_sim.load_scenario({"name": "dyad", "members": [{}, {}]})


def alive_member_steps(summary: pd.DataFrame, steps: int) -> float:
    months = summary["dissolved_at"].where(summary["dissolved"], steps - 1) + 1
    return float((months * summary["n_members"]).sum())


def timed(engine: str, scenario, runs: int, steps: int, seed: int):
    start = time.perf_counter()
    res = cmo_sim.simulate(scenario, runs=runs, steps=steps, seed=seed, engine=engine)
    return time.perf_counter() - start, res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numpy-runs", type=int, default=10_000)
    parser.add_argument("--abm-runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    scenario, steps, seed = dyad(), args.steps, args.seed
    members = scenario.n_members
    for engine in ("batch", "abm"):  # warm-up
        cmo_sim.simulate(scenario, runs=5, steps=5, seed=seed, engine=engine)

    print(f"scenario {scenario.name} ({members} members), {steps} months, seed {seed}")
    numpy_s, numpy_res = timed("batch", scenario, args.numpy_runs, steps, seed)
    abm_s, abm_res = timed("abm", scenario, args.abm_runs, steps, seed)
    start = time.perf_counter()
    for replicate in range(args.abm_runs):
        model = PartnershipModel(scenario, seed=seed, replicate=replicate, steps=steps)
        while model.running:
            model.step()
    mesa_s = time.perf_counter() - start

    same = numpy_res.summary.iloc[: args.abm_runs].reset_index(drop=True)
    try:
        pd.testing.assert_frame_equal(same, abm_res.summary, check_exact=False, rtol=0,
                                      atol=1e-9)
        agree = "identical (to 1e-9)"
    except AssertionError:
        agree = "DIFFERENT"

    rows = []
    for label, runs, seconds, summary in (
        ("numpy core (simulate, engine='batch')", args.numpy_runs, numpy_s, numpy_res.summary),
        ("Mesa engine (simulate, engine='abm')", args.abm_runs, abm_s, abm_res.summary),
        ("Mesa model + DataCollector + event log", args.abm_runs, mesa_s, abm_res.summary),
    ):
        nominal = runs * members * steps / seconds
        alive = alive_member_steps(summary, steps) / seconds
        rows.append((nominal, alive))
        print(f"  {label:40s} {runs:>6d} runs: {seconds:8.3f} s  {nominal:12,.0f} nominal, "
              f"{alive:12,.0f} alive member-steps/s "
              f"(dissolved: {summary['dissolved'].mean():.0%})")
    print(f"  the ABM was measured on {args.abm_runs} runs (the first replicates of the numpy "
          f"batch); their summaries are {agree}")
    nominal_ratio = rows[0][0] / rows[1][0]
    alive_ratio = rows[0][1] / rows[1][1]
    print(f"numpy core / Mesa engine: {nominal_ratio:,.0f}x per nominal member-step, "
          f"{alive_ratio:,.0f}x per alive member-step "
          f"(target >= {TARGET:.0f}x at 10^4 runs: {'met' if alive_ratio >= TARGET else 'NOT met'}"
          f"); against the Mesa model with its DataCollector {rows[0][1] / rows[2][1]:,.0f}x")


if __name__ == "__main__":
    main()
