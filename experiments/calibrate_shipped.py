"""Calibrate the shipped theory to the cited patterns of calibration/targets.yaml.

``python experiments/calibrate_shipped.py [--vary FILE] [--fit-scenarios NAME ...] [--out DIR]
[--runs N] [--population P] [--generations G] [--seed S]`` fits the constants of ``--vary``
(default calibration/vary.yaml) by ABC-SMC (:func:`cmo_sim.calibrate`) to the targets of
calibration/targets.yaml about ``--fit-scenarios`` (default: the scenarios whose form the
shipped fit's constants act in; ``all`` for every target), prints the table of targets
(simulated value at the posterior median against the target) and the posterior of each
constant, saves the result (Parquet and YAML) into ``--out`` (default
``experiments/out/calibrate_shipped/``), and prints every target of the file at the chosen
constants. The default size is the one of the shipped fit (docs/forms.md, "Calibration of the
shipped constants"); one worker, so the fit is repeatable.

The shipped constants are the posterior's weighted medians (``CalibrationResult.median``);
the script prints them with every target of the file simulated at them on ``--table-runs``
runs per scenario, and writes them as ``chosen.yaml`` beside the saved result.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

import cmo_sim
from cmo_sim.calibrate import calibrate, load_targets

ROOT = Path(__file__).resolve().parents[1]
#: The scenarios whose form the shipped fit's constants act in (a network's joins, a
#: merger's de-mergers): their targets are the ones those constants can move.
FIT_SCENARIOS = ("large_network", "mandated_merger")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "out"
                        / "calibrate_shipped")
    parser.add_argument("--vary", type=Path, default=ROOT / "calibration" / "vary.yaml")
    parser.add_argument("--fit-scenarios", nargs="+", default=list(FIT_SCENARIOS))
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--population", type=int, default=40)
    parser.add_argument("--generations", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table-runs", type=int, default=2000)
    args = parser.parse_args(argv)
    every = load_targets(ROOT / "calibration" / "targets.yaml")
    fit = set(args.fit_scenarios)
    targets = [t for t in every if "all" in fit or t.scenario in fit]
    if not targets:
        parser.error(f"--fit-scenarios: no target is about {', '.join(sorted(fit))}")
    vary = yaml.safe_load(args.vary.read_text())
    names = sorted({t.scenario for t in targets})
    scenarios = [cmo_sim.load_scenario(ROOT / "scenarios" / f"{n}.yaml") for n in names]
    start = time.perf_counter()
    result = calibrate(None, scenarios, targets, vary, runs=args.runs,
                       population=args.population, generations=args.generations,
                       seed=args.seed, workers=1, progress=True)
    elapsed = time.perf_counter() - start
    print(f"calibrated in {elapsed / 60:.1f} min", file=sys.stderr)  # varies: not on stdout
    print(f"{len(vary)} constants fitted to {len(targets)} targets "
          f"({', '.join(names)}); final epsilon {result.epsilon:.3g} after "
          f"{len(result.history)} generations: "
          f"{'every target within tolerance' if result.converged else 'not every target met'}")
    print(result.table.drop(columns="source").round(4).to_string(index=False))
    print(result.parameters.round(4).to_string(index=False))
    print(result.history.round(4).to_string(index=False))
    saved = result.save(args.out)
    chosen = {name: round(float(value), 4) for name, value in result.median().items()}
    print("shipped constants (posterior medians):")
    print(yaml.safe_dump(chosen, sort_keys=False).rstrip())
    every_scenario = [cmo_sim.load_scenario(ROOT / "scenarios" / f"{n}.yaml")
                      for n in sorted({t.scenario for t in every})]
    table = target_table(cmo_sim.load_theory().with_baseline(**chosen), every_scenario, every,
                         args.table_runs, args.seed)
    print(f"every target at these constants ({args.table_runs} runs, seed {args.seed}):")
    print(table.to_string(index=False))
    (saved / "chosen.yaml").write_text(yaml.safe_dump(chosen, sort_keys=False))
    table.to_parquet(saved / "chosen_table.parquet")
    print(f"saved to {args.out}")
    return 0


def target_table(theory, scenarios, targets, runs: int, seed: int):
    """Each target against its simulated value under ``theory``."""
    import numpy as np
    import pandas as pd

    from cmo_sim.calibrate._measures import record_for, simulated_values

    res = cmo_sim.simulate(scenarios, runs=runs, seed=seed, theory=theory,
                           record=record_for(targets, 120))
    simulated = simulated_values(res, targets, 120)
    observed = np.array([t.value for t in targets])
    tolerance = np.array([t.tolerance for t in targets])
    return pd.DataFrame({
        "scenario": [t.scenario for t in targets], "measure": [t.measure for t in targets],
        "month": [t.month for t in targets], "state": [t.state or "" for t in targets],
        "target": observed, "tolerance": tolerance, "simulated": simulated.round(3),
        "within": np.abs(simulated - observed) <= tolerance,
    })


if __name__ == "__main__":
    raise SystemExit(main())
