"""How close each engine comes to this machine's memory-bandwidth limit (a script, not a test).

Measures, in one run on this machine:
- the memory bandwidth one core reaches copying a large array (bytes read plus bytes written
  per second, the best of several copies);
- the bytes of a partnership's state per member (every field of ``State``: trust matrix, faith,
  conflict, culture, counters, trust account ...) for 2, 4, 8 and 16 members. A month must at
  least read and write the whole state once, so ``2 x state bytes`` per member-step is the
  least traffic any engine can have, and ``bandwidth / (2 x state bytes)`` member-steps per
  second is the bandwidth bound;
- each engine's member-steps per second (nominal: runs x members x months, with ``simulate``)
  and its fraction of that bound: the numpy core and the fused engine on ``--runs`` runs (the
  fused kernel compiled beforehand), the Mesa engine on ``--abm-runs``.

The bound counts the state only: an engine also reads its parameters and, the numpy core, writes
and reads temporaries of every array operation, so a fraction well below 1 says how much traffic
beyond the state an engine makes (or how far it is from being bandwidth-bound at all). The fused
engine keeps a partnership whose members cannot change (a dyad, a merger) in cache for many
months at a time, so it can pass the bound: its months then do not stream the state at all.

Usage: python benchmarks/bench_limit.py [--runs 10000] [--abm-runs 10] [--steps 120]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

import cmo_sim
from cmo_sim.core.step import init
from cmo_sim.params import compile_params

MEMBERS = (2, 4, 8, 16)
#: Size of each array copied to measure the bandwidth (far beyond any cache).
COPY_BYTES = 256 * 2**20


def bandwidth(repeats: int = 7) -> float:
    """Bytes read plus bytes written per second by one core copying a large float64 array."""
    src = np.ones(COPY_BYTES // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch every page first
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * COPY_BYTES / best


def scenario(n: int) -> cmo_sim.Scenario:
    """A partnership of ``n`` typical members whose cultures differ a little."""
    return cmo_sim.load_scenario({"name": f"members{n}",
                                  "members": [{"culture": 0.3 + 0.4 * k / n} for k in range(n)]})


def state_bytes(n: int) -> float:
    """Bytes of one run's State with ``n`` members (every field)."""
    params = compile_params([scenario(n)], replicates=8, seed=0)
    state = init(params)
    total = sum(getattr(state, f.name).nbytes for f in dataclasses.fields(state))
    return total / params.n_runs


def throughput(n: int, runs: int, steps: int, engine: str) -> float:
    """Nominal member-steps per second of ``engine`` on ``runs`` runs of ``n`` members."""
    start = time.process_time()
    cmo_sim.simulate(scenario(n), runs=runs, steps=steps, seed=0, engine=engine, progress=False)
    return runs * n * steps / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--abm-runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=120)
    args = parser.parse_args()
    bw = bandwidth()
    print(f"copy bandwidth, one core: {bw / 1e9:.1f} GB/s (bytes read + written per second)")
    from cmo_sim.core.runner import warm

    warm(cmo_sim.load_theory(), "fused")
    print(f"{'members':>7} {'state B/member':>14} {'bound Mstep/s':>13} "
          f"{'numpy Mstep/s':>13} {'fraction':>8} {'fused Mstep/s':>13} {'fraction':>8} "
          f"{'Mesa Mstep/s':>12} {'fraction':>9}")
    for n in MEMBERS:
        per_member = state_bytes(n) / n
        bound = bw / (2 * per_member)
        numpy_rate = throughput(n, args.runs, args.steps, "batch")
        fused_rate = throughput(n, args.runs, args.steps, "fused")
        mesa_rate = throughput(n, args.abm_runs, args.steps, "abm")
        print(f"{n:>7} {per_member:>14.0f} {bound / 1e6:>13.0f} {numpy_rate / 1e6:>13.2f} "
              f"{numpy_rate / bound:>8.4f} {fused_rate / 1e6:>13.2f} {fused_rate / bound:>8.4f} "
              f"{mesa_rate / 1e6:>12.4f} {mesa_rate / bound:>9.6f}")
    print(f"numpy and fused: {args.runs} runs, Mesa: {args.abm_runs} runs, {args.steps} months "
          "each; CPU time of this process; nominal member-steps (runs x members x months)")


if __name__ == "__main__":
    main()
