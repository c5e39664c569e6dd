"""The fused engine against the numpy core, and what its compilation costs (a script, not a test).

Measures, in one run on this machine:
- CPU seconds of ``cmo_sim.simulate`` with ``engine="batch"`` and ``engine="fused"`` on the same
  runs (10^5 dyads and 10^4 networks of 4, 8 and 16 members by default, 120 months, summary
  recording), the engines alternating, the best of ``--repeats`` each, and their ratio. The
  fused kernel is compiled before the timing;
- the compile cost: the first ``simulate(engine="fused")`` in a fresh process with an empty
  kernel cache (the theory's kernel generated and compiled by numba), and in a second fresh
  process with that cache (loaded from disk). Both are wall-clock seconds of the call alone, the
  import of cmo_sim excluded.

Usage: python benchmarks/bench_fused.py [--dyads 100000] [--networks 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import cmo_sim
from cmo_sim.core.runner import warm

TARGETS = {2: 3.0, 8: 5.0}  # fused / numpy speed-ups the engine is held to


def scenario(n: int) -> cmo_sim.Scenario:
    """A partnership of ``n`` typical members whose cultures differ a little."""
    return cmo_sim.load_scenario({"name": f"members{n}",
                                  "members": [{"culture": 0.3 + 0.4 * k / n} for k in range(n)]})


def cpu_seconds(n: int, runs: int, engine: str) -> float:
    start = time.process_time()
    cmo_sim.simulate(scenario(n), runs=runs, steps=120, seed=0, engine=engine, progress=False)
    return time.process_time() - start


def compile_child() -> None:
    import cmo_sim as sim  # imported before the clock starts

    one = sim.load_scenario({"name": "dyad", "members": [{}, {}]})
    start = time.perf_counter()
    sim.simulate(one, runs=10, steps=12, seed=0, engine="fused", progress=False)
    print(json.dumps({"seconds": time.perf_counter() - start}))


def compile_costs() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, CMO_SIM_CACHE=cache)
        out = []
        for _ in range(2):
            done = subprocess.run([sys.executable, __file__, "--compile-child"], env=env,
                                  capture_output=True, text=True, check=True)
            out.append(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dyads", type=int, default=100_000)
    parser.add_argument("--networks", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compile_child:
        compile_child()
        return
    first, cached = compile_costs()
    print(f"compile: first call {first:.2f} s (empty cache), cached {cached:.2f} s "
          "(targets: <= 5 s, <= 0.5 s)")
    warm(cmo_sim.load_theory(), "fused")
    print(f"{'members':>7} {'runs':>7} {'numpy s':>8} {'fused s':>8} {'fused/numpy':>11} "
          f"{'target':>6}")
    for n, runs in ((2, args.dyads), (4, args.networks), (8, args.networks),
                    (16, args.networks)):
        best = {"batch": float("inf"), "fused": float("inf")}
        for _ in range(args.repeats):
            for engine in best:
                best[engine] = min(best[engine], cpu_seconds(n, runs, engine))
        ratio = best["batch"] / best["fused"]
        target = f">= {TARGETS[n]:g}" if n in TARGETS else ""
        print(f"{n:>7} {runs:>7} {best['batch']:>8.2f} {best['fused']:>8.2f} {ratio:>11.2f} "
              f"{target:>6}")
    print("CPU seconds of simulate(), 120 months, summary recording, best of "
          f"{args.repeats}; the fused kernel compiled beforehand")


if __name__ == "__main__":
    main()
