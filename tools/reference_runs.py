"""Write or check the reference runs of the default theory on the shipped scenarios.

``python tools/reference_runs.py write`` records, for every shipped scenario, 200 ten-year runs
(seed 7): each run's summary and, for the first 20 of them, the monthly trust and faith
(member means), synergy, ambition, performance, conflict events and shared vision, as Parquet
in ``tests/data/``. ``python tools/reference_runs.py check`` reruns them and prints the largest
difference of every column; tests/test_theory_language.py makes the same check. The files were
written by the engine in which every rule was a hand-written expression, before rules became
terms at sites, so the check shows that the theory written as terms runs the same model.

The runs use frozen copies in ``tests/data/reference/``: the scenarios as they were then (every
value written out) and that day's default theory (``theory.yaml``, with the baseline constants
added since then set so that they change nothing). The default theory has moved on since; the
check is about the engine: given the same theory and scenarios, it must give the same runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

import cmo_sim

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
RUNS, STEPS, SEED = 200, 120, 7
#: Replicates of each scenario whose monthly values are kept.
MONTHLY = 20


FROZEN = DATA / "reference"


def scenarios():
    """The frozen scenarios, in file-name order."""
    return [cmo_sim.load_scenario(p) for p in sorted(FROZEN.glob("*.yaml"))
            if p.name != "theory.yaml"]


def theory():
    """The frozen theory."""
    return cmo_sim.load_theory(FROZEN / "theory.yaml")


def current() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summaries and monthly means of the reference runs under the installed engine."""
    results = cmo_sim.simulate(scenarios(), runs=RUNS, steps=STEPS, seed=SEED, record="trajectory",
                               theory=theory())
    summary = results.summary.reset_index(drop=True)
    traj = results.trajectories.where(results.trajectories["replicate"] < MONTHLY, drop=True)
    monthly = pd.DataFrame({
        **{name: traj[name].mean("member").values.ravel() for name in ("trust", "faith")},
        **{name: traj[name].values.ravel()
           for name in ("synergy", "ambition", "performance", "conflict_events", "vision")},
    })
    monthly.insert(0, "step", np.tile(traj["step"].values, traj.sizes["run"]))
    monthly.insert(0, "run", np.repeat(traj["run"].values, traj.sizes["step"]))
    return summary, monthly


def differences(summary: pd.DataFrame, monthly: pd.DataFrame) -> dict[str, float]:
    """Largest absolute difference of every numeric column from the stored reference."""
    ref_s = pd.read_parquet(DATA / "reference_summary.parquet")
    ref_m = pd.read_parquet(DATA / "reference_monthly.parquet")
    out = {}
    for label, ref, new in (("", ref_s, summary), ("monthly ", ref_m, monthly)):
        for col in ref.columns:
            if pd.api.types.is_numeric_dtype(ref[col]):
                a = ref[col].to_numpy(dtype=float)
                b = new[col].to_numpy(dtype=float)
                diff = float(np.nanmax(np.abs(a - b))) if a.size else 0.0
            else:
                diff = float((ref[col].astype(str) != new[col].astype(str)).sum())
            out[label + col] = diff
    return out


def main(argv: list[str]) -> int:
    """Write the reference files (``write``) or print the differences from them."""
    summary, monthly = current()
    if argv[:1] == ["write"]:
        DATA.mkdir(parents=True, exist_ok=True)
        summary.to_parquet(DATA / "reference_summary.parquet")
        monthly.to_parquet(DATA / "reference_monthly.parquet")
        print(f"wrote {len(summary)} runs, {len(monthly)} run-months")
        return 0
    for col, diff in differences(summary, monthly).items():
        print(f"{col:16s} {diff:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
