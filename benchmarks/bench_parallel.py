"""One worker against two, pool start-up included (a script, not a test).

Measures, side by side in one run, ``run_sweep`` of a sweep of dyads (a voluntary alliance;
an LHS design over history and leadership; 1,000 replicates per point; summary recording)
with its default chunk size, wall-clock time from the call to the results (``--members N``:
networks of N members instead):

- ``local``: in this process, no pool (for reference);
- ``processes:1`` and ``processes:2``: a fresh spawn process pool of one or two workers,
  its start-up (spawning, importing cmo-sim, warming the theory) included;
- ``dask 1`` and ``dask 2`` (unless ``--no-dask``): a fresh Dask ``LocalCluster`` of one or
  two single-threaded worker processes, started and closed within the timing.

Prints each time, its runs per second, the ratio of one worker's time to two workers', the
pool start-up time (a pool made as ``run_sweep`` makes it, until every worker has started
and warmed the theory) and whether every executor gave the same summary. The ratio means
something only on an otherwise idle machine: the cores other processes keep busy are
measured for a few seconds before the start, and beside each time is the CPU other processes
used meanwhile, in cores (the machine's busy time from ``/proc/stat`` less this process's and
its finished children's): near 0 for a fair measurement. ``--repeats`` runs the whole
comparison again (each repetition in the same order) and reports the best time of each
executor, with the other load of that run.

Usage: python benchmarks/bench_parallel.py [--runs 1000000] [--steps 120] [--repeats 1]
           [--members 2] [--chunk-runs N] [--no-dask] [--no-local]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import cmo_sim
from cmo_sim._simulate import as_theory
from cmo_sim.sweep.executors import make_executor

BASE = os.path.join(os.path.dirname(__file__), "..", "scenarios", "voluntary_alliance.yaml")
REPLICATES = 1000


def network(n: int) -> cmo_sim.Scenario:
    return cmo_sim.load_scenario(
        {"name": f"network{n}", "form": "network", "lead": 0,
         "members": [{"culture": (0.37 * k) % 1.0, "size": 300.0 * (k + 1),
                      "resources": 0.3 + 0.05 * (k % 8)} for k in range(n)]})


def make_sweep(runs: int, members: int = 2) -> cmo_sim.Sweep:
    replicates = min(REPLICATES, runs)
    points = max(1, runs // replicates)
    return cmo_sim.Sweep(
        cmo_sim.load_scenario(BASE) if members == 2 else network(members),
        vary={"history": (-0.6, 0.6), "leadership": (0.2, 0.8)},
        design="lhs", samples=points, replicates=replicates, name="bench",
    )


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (Linux ``/proc/stat``)."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def others_now(seconds: float = 3.0) -> float:
    """Cores other processes keep busy, measured over ``seconds`` while this one sleeps."""
    busy, own = _busy_seconds(), _own_seconds()
    time.sleep(seconds)
    return max((_busy_seconds() - busy) - (_own_seconds() - own), 0.0) / seconds


def _own_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (pool workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pool_start(workers: int) -> float:
    """Seconds from making a process pool as run_sweep does until every worker is warm.

    Each worker gets a task that waits a moment (so that an idle worker does not take them
    all); that wait is taken off.
    """
    wait = 0.25
    start = time.perf_counter()
    pool = make_executor(f"processes:{workers}", warm=(as_theory(None), "batch"))
    try:
        list(pool.pool.map(time.sleep, [wait] * workers))
        return time.perf_counter() - start - wait
    finally:
        pool.close()


def timed(sweep: cmo_sim.Sweep, steps: int, executor: str, chunk_runs: int | None,
          engine: str = "batch"):
    """Seconds of one run_sweep on ``executor`` (a Dask cluster is started and closed inside),
    the results, and the cores other processes kept busy meanwhile."""
    busy, own = _busy_seconds(), _own_seconds()
    start = time.perf_counter()
    if executor.startswith("dask"):
        import distributed

        workers = int(executor.split()[-1])
        with (distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                       processes=True, dashboard_address=None) as cluster,
              distributed.Client(cluster) as client):
            res = cmo_sim.run_sweep(sweep, steps=steps, executor=client, progress=False,
                                    chunk_runs=chunk_runs, engine=engine)
    else:
        res = cmo_sim.run_sweep(sweep, steps=steps, executor=executor, progress=False,
                                chunk_runs=chunk_runs, engine=engine)
    seconds = time.perf_counter() - start
    others = (_busy_seconds() - busy) - (_own_seconds() - own)
    return seconds, res, max(others, 0.0) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs in the sweep")
    parser.add_argument("--steps", type=int, default=120, help="months per run")
    parser.add_argument("--members", type=int, default=2,
                        help="members per partnership (2: the voluntary alliance dyad)")
    parser.add_argument("--repeats", type=int, default=1, help="repetitions (best is kept)")
    parser.add_argument("--chunk-runs", type=int, default=None,
                        help="runs per chunk (default: run_sweep's own choice)")
    parser.add_argument("--engine", default="batch", choices=("batch", "fused"),
                        help="the engine that runs the chunks")
    parser.add_argument("--no-dask", action="store_true", help="leave out Dask")
    parser.add_argument("--no-local", action="store_true", help="leave out the local run")
    args = parser.parse_args()

    sweep = make_sweep(args.runs, args.members)
    kind = "dyad" if args.members == 2 else f"{args.members}-member network"
    executors = ([] if args.no_local else ["local"]) + ["processes:1", "processes:2"]
    if not args.no_dask:
        executors += ["dask 1", "dask 2"]
    others = others_now()
    print(f"{sweep.n_points} LHS points x {sweep.replicates} replicates = {sweep.n_runs:,} "
          f"{kind} runs x {args.steps} months, summary recording; {os.cpu_count()} cores; "
          f"other processes before the start: {others:.2f} cores busy")
    if others > 0.1:
        print("  note: the machine is not idle; the ratios below are not the idle ones")
    cmo_sim.run_sweep(make_sweep(2000), steps=5, progress=False)  # this process warm

    best: dict[str, float] = {}
    other: dict[str, float] = {}
    starts: dict[int, float] = {}
    summaries = {}
    chunks = {}
    for _ in range(args.repeats):
        for workers in (1, 2):
            seconds = pool_start(workers)
            starts[workers] = min(starts.get(workers, seconds), seconds)
        for executor in executors:
            seconds, res, others = timed(sweep, args.steps, executor, args.chunk_runs,
                                         args.engine)
            if seconds < best.get(executor, float("inf")):
                best[executor], other[executor] = seconds, others
            chunks[executor] = (res.meta["n_chunks"], res.meta["chunk_runs"])
            if executor not in summaries:
                summaries[executor] = res.summary
            del res

    reference = summaries[executors[0]]
    print(f"{'executor':<12} {'seconds':>8} {'runs/s':>9} {'chunks':>12}  {'other load':>10}  "
          "same summary")
    for executor in executors:
        n_chunks, size = chunks[executor]
        same = summaries[executor].equals(reference)
        print(f"{executor:<12} {best[executor]:8.2f} {sweep.n_runs / best[executor]:9.0f} "
              f"{n_chunks:>4} x {size:<6}  {other[executor]:10.2f}  {same}")
    print(f"pool start-up (spawn, import, warm): 1 worker {starts[1]:.2f} s, "
          f"2 workers {starts[2]:.2f} s")
    ratio = best["processes:1"] / best["processes:2"]
    print(f"processes: 2 workers are {ratio:.2f}x one, pool start-up included (target >= 1.6)")
    if not args.no_dask:
        print(f"dask LocalCluster: 2 workers are {best['dask 1'] / best['dask 2']:.2f}x one, "
              "cluster start-up included")
    print(f"other processes after the end: {others_now():.2f} cores busy")


if __name__ == "__main__":
    main()
