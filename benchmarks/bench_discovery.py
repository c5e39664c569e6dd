"""Scenario discovery on a large LHS sweep: time beyond the sweep itself.

    python benchmarks/bench_discovery.py

A 2,000-point x 50-replicate LHS sweep of six contexts (100,000 runs, 120 months) of the
shipped voluntary alliance; then PRIM and CART on "share dissolved > 0.5" per point, and PRIM
per run. Target: each discovery within 30 s on two cores (the sweep's own time reported apart).
"""

from __future__ import annotations

import time
from pathlib import Path

import cmo_sim
from cmo_sim.analysis import discover

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    base = cmo_sim.load_scenario(ROOT / "scenarios" / "voluntary_alliance.yaml")
    vary = {name: (0.1, 0.9) for name in ("shared_vision", "accountability", "leadership",
                                          "interoperability", "pace")}
    vary["history"] = (-0.8, 0.8)
    sweep = cmo_sim.Sweep(base, vary=vary, design="lhs", samples=2000, replicates=50)
    start = time.perf_counter()
    results = cmo_sim.run_sweep(sweep, steps=120, progress=False)
    swept = time.perf_counter() - start
    print(f"sweep: {results.n_runs:,} runs in {swept:.1f} s")
    for label, kwargs in (("PRIM per point", {}), ("CART per point", {"method": "cart"}),
                          ("PRIM per run", {"per": "run"})):
        start = time.perf_counter()
        found = discover(results, "dissolved", threshold=0.5, **kwargs)
        seconds = time.perf_counter() - start
        verdict = "met" if seconds <= 30 else "NOT met"
        print(f"{label}: {seconds:.1f} s (target <= 30 s: {verdict}); box 1: {found.boxes[0]}")


if __name__ == "__main__":
    main()
