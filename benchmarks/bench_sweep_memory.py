"""Peak memory of a trajectory sweep to a Zarr store, against its run count (a script, not a test).

For each run count, a sweep of dyads (a voluntary alliance; a grid over history, 1,000
replicates per point) recording every month of ``--steps`` months is run to a Zarr store in a
fresh process, so that the peak resident memory (``ru_maxrss``) is the sweep's own:

- ``sweep``: ``run_sweep(..., record="trajectory", store=...)``: every chunk run and written,
  the root group consolidated, the results read back (the summary in memory, the trajectories
  read from the store as used). Reported with the peak reached before the consolidation began,
  the time, the chunk size, the store's size on disk and how much the trajectories would take
  in memory;
- ``open``: ``open_sweep(store, verify="full")`` in another fresh process (each chunk hashed);
- ``aggregate``: ``open_sweep(store, verify="quick").aggregate()``, which reads every
  trajectory once, design point by design point (skipped with ``--no-aggregate``).

Memory should not grow with the run count beyond the summary (one row per run, reported as
``summary``): the chunk size stops growing at its memory budget, and no step holds more than
about one chunk's record. Target: 10^6 dyads x 120 months in at most 2 GiB.

Usage: python benchmarks/bench_sweep_memory.py [--runs 10000,100000] [--million]
           [--steps 120] [--dtype float32] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "scenarios" / "voluntary_alliance.yaml"
REPLICATES = 1000
TARGET_RUNS, TARGET_PEAK = 1_000_000, 2 * 2**30


def _peak_rss() -> int:
    """Peak resident memory of this process in bytes (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def make_sweep(runs: int):
    import cmo_sim

    replicates = min(REPLICATES, runs)
    return cmo_sim.Sweep(cmo_sim.load_scenario(BASE), vary={"history": (-0.6, 0.6)},
                         design="grid", samples=max(1, runs // replicates),
                         replicates=replicates, name="memory")


def _lazy(results) -> bool:
    """Whether every trajectory variable is still on disk (Dask-backed, not loaded)."""
    import dask.array as da

    return all(isinstance(v.data, da.Array) for v in results.trajectories.data_vars.values())


def one(mode: str, runs: int, steps: int, dtype: str | None, store: str) -> dict:
    """One measurement in this process; its peak memory is the process's."""
    import cmo_sim
    from cmo_sim.sweep import store as store_module

    if mode == "sweep":
        before = {}
        consolidate = store_module.SweepStore.consolidate

        def timed_consolidate(self, design):  # the peak of running and writing the chunks
            before["peak"], before["at"] = _peak_rss(), time.perf_counter()
            consolidate(self, design)
            before["seconds"] = time.perf_counter() - before["at"]

        store_module.SweepStore.consolidate = timed_consolidate
        extra = {}
        if dtype is not None:
            if "trajectory_dtype" not in inspect.signature(cmo_sim.run_sweep).parameters:
                raise SystemExit("--dtype: this run_sweep takes no trajectory_dtype")
            extra["trajectory_dtype"] = dtype
        started = time.perf_counter()
        results = cmo_sim.run_sweep(make_sweep(runs), steps=steps, record="trajectory",
                                    store=store, progress=False, max_memory="inf", **extra)
        seconds = time.perf_counter() - started
        disk = sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file())
        assert results.n_runs == runs and results.trajectories.sizes["run"] == runs
        return {"seconds": seconds, "peak": _peak_rss(), "peak_chunks": before.get("peak"),
                "consolidate_seconds": before.get("seconds"), "disk": disk,
                "chunk_runs": results.meta["chunk_runs"], "n_chunks": results.meta["n_chunks"],
                "record_bytes": int(results.trajectories.nbytes), "lazy": _lazy(results),
                "summary_bytes": int(results.summary.memory_usage(deep=True).sum()),
                "dtype": str(results.trajectories["trust"].dtype)}
    started = time.perf_counter()
    results = cmo_sim.open_sweep(store, verify="full" if mode == "open" else "quick")
    if mode == "aggregate":
        aggregate = results.aggregate()
        assert int(aggregate["runs"].sum()) == runs
    seconds = time.perf_counter() - started
    assert results.n_runs == runs
    return {"seconds": seconds, "peak": _peak_rss(), "lazy": _lazy(results)}


def _child(mode: str, runs: int, args: argparse.Namespace, store: Path) -> dict:
    command = [sys.executable, __file__, "--one", mode, "--runs", str(runs), "--steps",
               str(args.steps), "--store", str(store)]
    if args.dtype:
        command += ["--dtype", args.dtype]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _gib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**30:.2f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="10000,100000",
                        help="run counts, comma-separated (default: 10000,100000)")
    parser.add_argument("--million", action="store_true",
                        help="also 10^6 runs (the target; about 15 GB on disk and 10 minutes)")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--dtype", default=None, choices=("float64", "float32"),
                        help="trajectory_dtype of run_sweep (default: run_sweep's own)")
    parser.add_argument("--no-aggregate", action="store_true",
                        help="skip aggregate() over the stored trajectories")
    parser.add_argument("--dir", default=None, help="where the stores are written (a temporary "
                        "directory by default)")
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--store", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    counts = [int(n) for n in args.runs.split(",") if n.strip()]
    if args.one:
        print(json.dumps(one(args.one, counts[0], args.steps, args.dtype, args.store)))
        return
    if args.million and TARGET_RUNS not in counts:
        counts.append(TARGET_RUNS)
    where = Path(tempfile.mkdtemp(prefix="bench_sweep_memory.", dir=args.dir))
    modes = ("sweep", "open") + (() if args.no_aggregate else ("aggregate",))
    print(f"dyads x {args.steps} months recorded every month to a Zarr store, "
          f"{REPLICATES:,} replicates per point; peak resident memory of a fresh process")
    try:
        for runs in counts:
            store = where / f"sweep-{runs}.zarr"
            found = {}
            for mode in modes:
                found[mode] = _child(mode, runs, args, store)
                got = found[mode]
                line = (f"{runs:>9,} runs  {mode:9s} {got['seconds']:8.1f} s  peak "
                        f"{_gib(got['peak'])}")
                if mode == "sweep":
                    line += (f" (before consolidating {_gib(got['peak_chunks'])}; "
                             f"consolidating {got['consolidate_seconds']:.1f} s); "
                             f"{got['n_chunks']} chunks of {got['chunk_runs']:,} runs, "
                             f"{got['dtype']}; trajectories {_gib(got['record_bytes'])} in "
                             f"memory, {_gib(got['disk'])} on disk (chunks and root group); "
                             f"summary {_gib(got['summary_bytes'])}")
                line += "" if got["lazy"] else "  TRAJECTORIES LOADED"
                print(line, flush=True)
            if runs == TARGET_RUNS:
                peak = max(got["peak"] for got in found.values())
                verdict = "met" if peak <= TARGET_PEAK else "NOT met"
                print(f"target: 10^6 runs in <= {_gib(TARGET_PEAK)} peak: {verdict} "
                      f"({_gib(peak)})", flush=True)
            if not args.keep:
                shutil.rmtree(store, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(where, ignore_errors=True)
        else:
            print(f"stores kept in {where}")


if __name__ == "__main__":
    main()
