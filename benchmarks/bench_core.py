"""Throughput, memory and scaling of the numpy core (a script, not a test).

Measures, in one run on this machine:
- member-steps per second through ``cmo_sim.simulate`` for dyads and 8-member networks
  (nominal: runs x members x steps, the work a user asks for) and the share of run-steps
  actually computed (dissolved runs are frozen and leave the working set);
- the same without dropping dissolved runs, as a ratio;
- peak resident memory of a separate process running 10^5 dyads x 120 steps with summary
  recording;
- linearity: time ratios when runs or steps double.

Usage: python benchmarks/bench_core.py [--runs 100000] [--steps 120]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import cmo_sim
from cmo_sim.core import runner
from cmo_sim.params import compile_params

DYAD = {"name": "dyad", "members": [{}, {}]}
NETWORK = {"name": "network8", "members": [{"culture": 0.3 + 0.05 * k} for k in range(8)]}


def timed_run(scenario: dict, runs: int, steps: int) -> tuple[float, cmo_sim.Results]:
    start = time.perf_counter()
    res = cmo_sim.simulate(cmo_sim.load_scenario(scenario), runs=runs, steps=steps, seed=0)
    return time.perf_counter() - start, res


def memory_child(runs: int, steps: int) -> None:
    # Peak of memory allocated during the simulation (numpy reports its buffers to
    # tracemalloc), plus the process's resident high-water mark for reference.
    import tracemalloc

    scenario = cmo_sim.load_scenario(DYAD)
    tracemalloc.start()
    res = cmo_sim.simulate(scenario, runs=runs, steps=steps, seed=0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_bytes": peak, "maxrss_kib": rss, "rows": len(res.summary)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.runs, args.steps)
        return
    runs, steps = args.runs, args.steps
    # Memory first, in a fresh process (Linux carries a parent's peak RSS across exec).
    child = subprocess.run(
        [sys.executable, __file__, "--memory-child", "--runs", str(runs), "--steps", str(steps)],
        capture_output=True, text=True, check=True,
    )
    memory = json.loads(child.stdout)
    cmo_sim.simulate(cmo_sim.load_scenario(DYAD), runs=100, steps=5)  # warm-up

    print(f"numpy core, {runs} runs x {steps} steps, summary recording")
    rates = {}
    for scenario, members, n in ((DYAD, 2, runs), (NETWORK, 8, runs // 4)):
        seconds, res = timed_run(scenario, n, steps)
        s = res.summary
        computed = (s.dissolved_at.where(s.dissolved, steps - 1) + 1).sum() / (n * steps)
        rate = n * members * steps / seconds
        rates[scenario["name"]] = rate
        print(f"  {scenario['name']:9s} {n:>7d} runs: {seconds:6.2f} s, "
              f"{rate / 1e6:5.2f} M member-steps/s (nominal); "
              f"{computed:.0%} of run-steps computed (dissolved: {s.dissolved.mean():.0%})")

    params = compile_params([cmo_sim.load_scenario(DYAD)], replicates=runs // 4)
    start = time.perf_counter()
    runner.run(params, steps)
    compacted = time.perf_counter() - start
    saved, runner.COMPACT_BELOW = runner.COMPACT_BELOW, 0.0
    try:
        start = time.perf_counter()
        runner.run(params, steps)
        full = time.perf_counter() - start
    finally:
        runner.COMPACT_BELOW = saved
    print(f"  dyads, every run computed every step: {runs // 4 * 2 * steps / full / 1e6:.2f} M "
          f"member-steps/s; dropping dissolved runs is {full / compacted:.2f}x faster")
    print(f"  target 5 M member-steps/s for dyads: {rates['dyad'] / 5e6:.2f}x the target")

    peak_mib, rss_mib = memory["peak_bytes"] / 2**20, memory["maxrss_kib"] / 1024
    print(f"  memory, {runs} dyads x {steps} steps, summary recording (fresh process): "
          f"peak allocated during the simulation {peak_mib:.0f} MiB "
          f"({peak_mib / 2048:.2f}x the 2 GiB budget); process peak resident {rss_mib:.0f} MiB")

    print("linearity (time ratios; 2.00 is linear)")
    base_n = max(runs // 8, 1000)
    t1, _ = timed_run(DYAD, base_n, steps)
    t2, _ = timed_run(DYAD, 2 * base_n, steps)
    t3, _ = timed_run(DYAD, base_n, 2 * steps)
    print(f"  2x runs ({base_n} -> {2 * base_n}): {t2 / t1:.2f}; "
          f"2x steps ({steps} -> {2 * steps}): {t3 / t1:.2f}")


if __name__ == "__main__":
    main()
