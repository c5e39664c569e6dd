"""Global sensitivity (Sobol indices) of the main outcomes to every baseline constant.

Every baseline constant of the default theory (``cmo_sim.load_theory().baseline``, read when
the script runs, so a constant added or a default changed later is covered without editing
this file) is a factor of one Sobol sweep (``design="sobol"``, factors ``"baseline:<name>"``)
run through ``cmo_sim.run_sweep``; ``cmo_sim.analysis.sobol_indices`` gives the first-order
(S1) and total (ST) indices with their bootstrap 95% intervals.

Range of each constant (``constant_range``):

* a constant whose default is 0, or whose documented range (``BASELINE_RANGES``) admits
  negative values (the intercepts and ``synergy_threshold``: their sign can flip), varies over
  ``default +/- 0.2 * max(|default|, 1)``;
* every other constant varies over ``default +/- 20%`` (``default * 0.8 .. default * 1.2``);
* both are then clipped to the constant's ``BASELINE_RANGES``.

Outcomes, per design point (the mean over its replicates): ``dissolved`` (share dissolved by
month 120), ``struggling`` (share whose ``end_state`` is ``"struggling"`` at month 120, an
indicator column added to the sweep's summary), ``performance`` (mean performance) and
``synergy_mean`` (mean synergy).

Usage: python tools/constant_sensitivity.py [--samples 64] [--replicates 128]
       [--network-samples 16] [--network-replicates 16] [--no-network] [--workers 2]

Prints markdown tables (sorted by the total index on the share dissolved) to stdout only.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

import cmo_sim
from cmo_sim.analysis import sobol_indices
from cmo_sim.analysis.sensitivity import SobolConvergenceWarning
from cmo_sim.sweep import Sweep
from cmo_sim.sweep.designs import BASELINE_PREFIX
from cmo_sim.sweep.results import SweepResults
from cmo_sim.theory._model import BASELINE_RANGES

ROOT = Path(__file__).resolve().parents[1]
STEPS = 120
SEED = 0
#: Relative half-width of every range (20% of the default, or of max(|default|, 1)).
RELATIVE = 0.2
#: The outcomes analysed: summary column -> what the table calls it.
OUTCOMES: dict[str, str] = {
    "dissolved": "share dissolved by month 120",
    "struggling": "share struggling at month 120",
    "performance": "mean performance",
    "synergy_mean": "mean synergy",
}
#: The scenarios, with the default base sample N (a power of 2) and replicates per point.
SCENARIOS: dict[str, dict[str, int]] = {
    "voluntary_alliance": {"samples": 64, "replicates": 128},
    "large_network": {"samples": 16, "replicates": 16},
}


def sign_can_flip(name: str, default: float) -> bool:
    """True for a constant at 0 or one whose documented range admits negative values."""
    return default == 0.0 or BASELINE_RANGES[name][0] < 0.0


def constant_range(name: str, default: float) -> tuple[float, float]:
    """``(low, high)`` over which constant ``name`` with default ``default`` is varied.

    ``default +/- 0.2 * max(|default|, 1)`` if :func:`sign_can_flip`, else ``default * (1 -/+
    0.2)``; clipped to ``BASELINE_RANGES[name]``.
    """
    default = float(default)
    half = RELATIVE * (max(abs(default), 1.0) if sign_can_flip(name, default) else abs(default))
    bound_low, bound_high = BASELINE_RANGES[name]
    low, high = max(default - half, bound_low), min(default + half, bound_high)
    if not low < high:
        raise ValueError(f"baseline.{name}: default {default!r} leaves an empty range "
                         f"{low!r} .. {high!r}")
    return low, high


def factors(theory: cmo_sim.Theory | None = None) -> dict[str, tuple[float, float]]:
    """The sweep's ``vary``: ``{"baseline:<name>": (low, high)}`` for every baseline constant."""
    theory = cmo_sim.load_theory() if theory is None else theory
    return {f"{BASELINE_PREFIX}{name}": constant_range(name, value)
            for name, value in theory.baseline.items()}


def _with_indicators(results: SweepResults) -> SweepResults:
    """The results with a numeric ``struggling`` column (``end_state == "struggling"``)."""
    summary = results.summary.copy()
    summary["struggling"] = (summary["end_state"] == "struggling").astype(np.float64)
    summary["dissolved"] = summary["dissolved"].astype(np.float64)
    return SweepResults(results.sweep, summary, results.trajectories, results.meta)


def analyse(scenario: str | Path, *, samples: int, replicates: int, steps: int = STEPS,
            seed: int = SEED, executor: str = "local", theory: cmo_sim.Theory | None = None,
            outcomes: Mapping[str, str] = OUTCOMES) -> dict[str, object]:
    """Run the Sobol sweep of every baseline constant on ``scenario`` and analyse it.

    Returns a mapping with ``tables`` (outcome -> DataFrame of ``S1``, ``S1_conf``, ``ST``,
    ``ST_conf`` indexed by constant name; all NaN when the outcome does not vary), ``means``
    (outcome -> mean over every run), ``notes`` (convergence warnings and constant outcomes),
    ``ranges``, ``points``, ``runs`` and ``seconds``.
    """
    theory = cmo_sim.load_theory() if theory is None else theory
    vary = factors(theory)
    sweep = Sweep(scenario, vary=vary, design="sobol", samples=samples, replicates=replicates,
                  name="constant_sensitivity")
    start = time.perf_counter()
    results = _with_indicators(cmo_sim.run_sweep(sweep, steps=steps, seed=seed, theory=theory,
                                                 executor=executor, progress=False))
    seconds = time.perf_counter() - start
    names = [path.removeprefix(BASELINE_PREFIX) for path in sweep.paths]
    tables, means, notes = {}, {}, []
    for outcome in outcomes:
        means[outcome] = float(results.outcome_values(outcome).mean())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SobolConvergenceWarning)
            try:
                table = sobol_indices(results, outcome, seed=seed)
            except ValueError as exc:  # no variance to apportion
                notes.append(f"{outcome}: {exc}")
                table = pd.DataFrame(np.nan, index=pd.Index(sweep.paths, name="factor"),
                                     columns=["S1", "S1_conf", "ST", "ST_conf"])
        notes += [f"{outcome}: {w.message}" for w in caught
                  if issubclass(w.category, SobolConvergenceWarning)]
        table = table[["S1", "S1_conf", "ST", "ST_conf"]].copy()
        table.index = pd.Index(names, name="constant")
        tables[outcome] = table
    ranges = {path.removeprefix(BASELINE_PREFIX): bounds for path, bounds in vary.items()}
    return {"tables": tables, "means": means, "notes": notes, "ranges": ranges,
            "points": sweep.n_points, "runs": sweep.n_runs, "seconds": seconds}


def _cell(value: float, conf: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f} ± {conf:.2f}"


def markdown(result: Mapping[str, object], theory: cmo_sim.Theory | None = None,
             sort_by: str = "dissolved") -> str:
    """One markdown table: a row per constant, sorted by its total index on ``sort_by``."""
    theory = cmo_sim.load_theory() if theory is None else theory
    tables: dict[str, pd.DataFrame] = result["tables"]  # type: ignore[assignment]
    ranges: dict[str, tuple[float, float]] = result["ranges"]  # type: ignore[assignment]
    order = tables[sort_by]["ST"].fillna(-1.0).sort_values(ascending=False, kind="stable").index
    head = ["constant", "default", "range"]
    for outcome in tables:
        head += [f"{outcome} S1", f"{outcome} ST"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in order:
        low, high = ranges[name]
        row = [f"`{name}`", f"{theory.baseline[name]:g}", f"{low:.4g} .. {high:.4g}"]
        for table in tables.values():
            row += [_cell(table.loc[name, "S1"], table.loc[name, "S1_conf"]),
                    _cell(table.loc[name, "ST"], table.loc[name, "ST_conf"])]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _widths(result: Mapping[str, object]) -> str:
    """Median and largest interval half-widths of S1 and ST per outcome."""
    parts = []
    for outcome, table in result["tables"].items():  # type: ignore[union-attr]
        if table["ST_conf"].isna().all():
            continue
        parts.append(f"{outcome}: S1 ± median {table['S1_conf'].median():.2f} / max "
                     f"{table['S1_conf'].max():.2f}, ST ± median {table['ST_conf'].median():.2f}"
                     f" / max {table['ST_conf'].max():.2f}")
    return "; ".join(parts)


def report(scenario: str, result: Mapping[str, object], samples: int, replicates: int,
           theory: cmo_sim.Theory | None = None) -> str:
    """The section printed for one scenario."""
    means = ", ".join(f"{o} {v:.3f}" for o, v in result["means"].items())  # type: ignore[union-attr]
    lines = [
        f"## {scenario}",
        "",
        f"Sobol base sample N = {samples}, {replicates} replicates per point, "
        f"{result['points']} points, {result['runs']} runs x {STEPS} months, seed {SEED}; "
        f"{result['seconds']:.0f} s.",
        f"Means over all runs: {means}.",
        f"Interval half-widths (95%): {_widths(result)}.",
        "",
        markdown(result, theory),
        "",
    ]
    notes = result["notes"]
    if notes:
        lines += ["Notes:", *[f"- {note}" for note in notes], ""]  # type: ignore[union-attr]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the analysis and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    alliance, network = SCENARIOS["voluntary_alliance"], SCENARIOS["large_network"]
    parser.add_argument("--samples", type=int, default=alliance["samples"],
                        help="Sobol base sample N for the voluntary dyad (a power of 2)")
    parser.add_argument("--replicates", type=int, default=alliance["replicates"])
    parser.add_argument("--network-samples", type=int, default=network["samples"])
    parser.add_argument("--network-replicates", type=int, default=network["replicates"])
    parser.add_argument("--no-network", action="store_true",
                        help="skip scenarios/large_network.yaml")
    parser.add_argument("--workers", type=int, default=2, help="processes (1: in-process)")
    args = parser.parse_args(argv)
    executor = "local" if args.workers <= 1 else f"processes:{args.workers}"
    theory = cmo_sim.load_theory()
    start = time.perf_counter()
    runs = [("voluntary_alliance", args.samples, args.replicates)]
    if not args.no_network:
        runs.append(("large_network", args.network_samples, args.network_replicates))
    print(f"# Sobol sensitivity to the {len(theory.baseline)} baseline constants of theory "
          f"{theory.name!r} ({theory.content_hash[:12]})")
    print()
    print("Ranges: default +/- 20%; default +/- 0.2 * max(|default|, 1) for a constant at 0 or "
          "one whose range admits negative values; clipped to BASELINE_RANGES. "
          "Cells: index ± 95% half-width. Outcomes: "
          + "; ".join(f"{k} = {v}" for k, v in OUTCOMES.items()) + ".")
    print()
    for name, samples, replicates in runs:
        result = analyse(ROOT / "scenarios" / f"{name}.yaml", samples=samples,
                         replicates=replicates, executor=executor, theory=theory)
        print(report(name, result, samples, replicates, theory), flush=True)
    print(f"Total time: {time.perf_counter() - start:.0f} s ({args.workers} worker(s)).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
