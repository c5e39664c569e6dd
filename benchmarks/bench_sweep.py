"""Throughput, memory and process scaling of run_sweep (a script, not a test).

Measures, in one run on this machine, for a sweep of dyads (a voluntary alliance; an LHS design
over history and leadership; 1,000 replicates per point) with summary recording:
- run_sweep locally (no store) against calling the core directly on the same runs in the same
  chunks (compile_params + core.runner.run, no summary table): the time ratio (target <= 1.15);
- peak memory of run_sweep in a fresh process: numpy/Python allocations (tracemalloc) and the
  resident high-water mark (target < 2 GiB);
- the cost of a resumable Parquet store, as a time ratio to no store, and the part of it that
  describing each chunk costs (design values as columns, meanings and units: target <= 10%);
- 2 process workers against 1 on the same sweep and chunks (target >= 1.6).

Usage: python benchmarks/bench_sweep.py [--runs 1000000] [--steps 120]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import cmo_sim
from cmo_sim.core.runner import run
from cmo_sim.params import compile_params

BASE = os.path.join(os.path.dirname(__file__), "..", "scenarios", "voluntary_alliance.yaml")
REPLICATES = 1000


def make_sweep(runs: int) -> cmo_sim.Sweep:
    replicates = min(REPLICATES, runs)
    points = max(2, runs // replicates)
    return cmo_sim.Sweep(
        cmo_sim.load_scenario(BASE),
        vary={"history": (-0.6, 0.6), "leadership": (0.2, 0.8)},
        design="lhs", samples=points, replicates=replicates, name="bench",
    )


def timed_sweep(sweep: cmo_sim.Sweep, steps: int, **kwargs) -> tuple[float, cmo_sim.SweepResults]:
    start = time.perf_counter()
    res = cmo_sim.run_sweep(sweep, steps=steps, progress=False, **kwargs)
    return time.perf_counter() - start, res


def timed_core(sweep: cmo_sim.Sweep, steps: int, chunk: int) -> float:
    """The core alone: compile every point's runs once, then run them chunk by chunk."""
    start = time.perf_counter()
    scenarios = [sweep.scenario(p) for p in range(sweep.n_points)]
    params = compile_params(scenarios, replicates=sweep.replicates, seed=0)
    for first in range(0, params.n_runs, chunk):
        run(params.take(slice(first, first + chunk)), steps)
    return time.perf_counter() - start


def memory_child(runs: int, steps: int) -> None:
    import tracemalloc

    sweep = make_sweep(runs)
    tracemalloc.start()
    res = cmo_sim.run_sweep(sweep, steps=steps, progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_bytes": peak, "maxrss_kib": rss, "rows": res.n_runs}))


def chunk_description_cost(sweep: cmo_sim.Sweep, chunk: int) -> float:
    """Seconds the design columns and field metadata add to writing every chunk's Parquet file.

    The same chunk summaries are written twice, as plain Parquet and as the store writes them
    (with each run's design values and every column's meaning and unit); the difference is
    what describing the chunks costs.
    """
    import pyarrow.parquet as pq

    from cmo_sim.sweep.executors import tidy_chunk
    from cmo_sim.sweep.store import _parquet_table

    results = cmo_sim.run_sweep(sweep, steps=12, progress=False, chunk_runs=chunk)
    summary = results.summary[[c for c in results.summary.columns if c not in sweep.paths]]
    chunks = [tidy_chunk(summary.iloc[i:i + chunk]) for i in range(0, len(summary), chunk)]
    manifest = {"sweep": sweep.spec(), "steps": 12, "seed": 0, "theory": {},
                "record": "summary"}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for k, frame in enumerate(chunks):
            frame.to_parquet(os.path.join(tmp, f"plain-{k}.parquet"), index=False)
        plain = time.perf_counter() - start
        start = time.perf_counter()
        for k, frame in enumerate(chunks):
            pq.write_table(_parquet_table(frame, sweep.values, manifest),
                           os.path.join(tmp, f"described-{k}.parquet"))
        described = time.perf_counter() - start
    return max(described - plain, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--scaling-runs", type=int, default=None,
                        help="runs for the store and process comparisons (default runs / 4)")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.runs, args.steps)
        return
    steps = args.steps
    sweep = make_sweep(args.runs)
    print(f"run_sweep: {sweep.n_points} LHS points x {sweep.replicates} replicates = "
          f"{sweep.n_runs} dyad runs x {steps} steps, summary recording, {os.cpu_count()} cores")

    # Memory first, in a fresh process (Linux carries a parent's peak RSS across exec).
    child = subprocess.run(
        [sys.executable, __file__, "--memory-child", "--runs", str(args.runs),
         "--steps", str(steps)], capture_output=True, text=True, check=True,
    )
    memory = json.loads(child.stdout)
    cmo_sim.run_sweep(make_sweep(2000), steps=5, progress=False)  # warm-up

    seconds, res = timed_sweep(sweep, steps)
    chunk = res.meta["chunk_runs"]
    core = timed_core(sweep, steps, chunk)
    print(f"  local run_sweep: {seconds:7.2f} s, {sweep.n_runs / seconds:9.0f} runs/s "
          f"({res.meta['n_chunks']} chunks of {chunk}); share dissolved "
          f"{res.summary['dissolved'].mean():.2f}")
    print(f"  core directly (compile_params + runner.run, same chunks): {core:7.2f} s, "
          f"{sweep.n_runs / core:9.0f} runs/s")
    print(f"  run_sweep / core time: {seconds / core:.3f} (target <= 1.15)")
    peak_mib, rss_mib = memory["peak_bytes"] / 2**20, memory["maxrss_kib"] / 1024
    print(f"  memory (fresh process): peak allocated {peak_mib:.0f} MiB, peak resident "
          f"{rss_mib:.0f} MiB: {rss_mib / 2048:.2f}x the 2 GiB budget")
    del res

    small = make_sweep(args.scaling_runs or max(args.runs // 4, 2000))
    chunk = max(1, small.n_runs // 16)
    print(f"store and processes: {small.n_runs} runs in 16 chunks of {chunk}")
    plain, _ = timed_sweep(small, steps, chunk_runs=chunk)
    with tempfile.TemporaryDirectory() as tmp:
        stored, _ = timed_sweep(small, steps, chunk_runs=chunk, store=os.path.join(tmp, "s"))
    print(f"  Parquet store / no store time: {stored / plain:.3f}")
    design_cost = chunk_description_cost(small, chunk)
    print(f"  of which each chunk's design columns and metadata: {design_cost:.3f} s, "
          f"{design_cost / plain:.1%} of the sweep (target <= 10%)")
    cold = {}
    for workers in (1, 2):
        cold[workers], _ = timed_sweep(small, steps, chunk_runs=chunk,
                                       executor=f"processes:{workers}")
    warm, results = {}, {}
    for workers in (1, 2):
        # A started pool whose workers have imported the package: steady-state throughput.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            # Submitted together, these start every worker (an idle pool spawns no more).
            list(pool.map(time.sleep, [1.0] * workers))
            cmo_sim.run_sweep(make_sweep(2000), steps=5, progress=False, chunk_runs=500,
                              executor=pool)
            warm[workers], results[workers] = timed_sweep(small, steps, chunk_runs=chunk,
                                                          executor=pool)
    same = results[1].summary.equals(results[2].summary)
    print(f"  started pools: 1 worker {warm[1]:6.2f} s, 2 workers {warm[2]:6.2f} s: "
          f"2 workers are {warm[1] / warm[2]:.2f}x one (target >= 1.6); identical: {same}")
    print(f"  executor='processes:N' (pool start and imports included): 1 worker "
          f"{cold[1]:6.2f} s, 2 workers {cold[2]:6.2f} s: {cold[1] / cold[2]:.2f}x")

if __name__ == "__main__":
    main()
