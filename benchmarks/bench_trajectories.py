"""What recording trajectories costs against a summary-only run (a script, not a test).

Measures, each in a fresh process (so that its peak memory is its own), on dyads (the
default two-member partnership) over ``--steps`` months:

- ``summary``: ``simulate(runs=--runs)``, the per-run summary only;
- ``trajectory``: the same with ``record="trajectory"`` (every month), in memory;
- ``trajectory32``: the same with ``trajectory_dtype="float32"``;
- ``store``: ``--store-runs`` runs recorded every month to a Zarr store
  (``simulate(..., store=...)``), with ``--store-dtype``; skipped when ``--store-runs 0``.

Each in-memory mode is timed ``--repeats`` times after a small warm-up run: the best, and the
first (in a fresh process the first run also pays for the operating system handing over new
memory, which for a record of a GiB or more can take seconds on a busy machine); the store is
run once. Printed: seconds, peak resident memory of the process (``ru_maxrss``), the ratio of
each mode's time to the summary's, and the store's size on disk.

``--engine fused`` measures the fused engine instead of the numpy core (the kernel compiled by
the warm-up run).

Usage: python benchmarks/bench_trajectories.py [--runs 100000] [--steps 120] [--repeats 3]
           [--store-runs 1000000] [--store-dtype float64] [--dir DIR] [--engine batch]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DYAD = {"name": "dyad", "members": [{}, {}]}
MODES = {"summary": {"record": "summary"},
         "trajectory": {"record": "trajectory"},
         "trajectory32": {"record": "trajectory", "trajectory_dtype": "float32"}}


def _peak_rss() -> int:
    """Peak resident memory of this process in bytes (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def one(mode: str, runs: int, steps: int, repeats: int, store_dtype: str, where: str,
        engine: str = "batch") -> dict:
    """Time one mode in this process; its peak memory is the process's."""
    from functools import partial

    from cmo_sim import simulate

    simulate = partial(simulate, engine=engine)

    if mode == "store":
        simulate(DYAD, runs=50, steps=3, record=1, store=Path(where) / "warm.zarr")
        path = Path(where) / "runs.zarr"
        started = time.perf_counter()
        results = simulate(DYAD, runs=runs, steps=steps, record="trajectory", store=path,
                           trajectory_dtype=store_dtype, max_memory="inf")
        seconds = time.perf_counter() - started
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        assert results.trajectories.sizes["run"] == runs
        return {"seconds": seconds, "peak": _peak_rss(), "disk": size,
                "record_bytes": int(results.trajectories.nbytes)}
    simulate(DYAD, runs=200, steps=steps, **MODES[mode])  # imports, caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        results = simulate(DYAD, runs=runs, steps=steps, max_memory="inf", **MODES[mode])
        times.append(time.perf_counter() - started)
        del results
    return {"seconds": min(times), "first": times[0], "peak": _peak_rss()}


def _child(mode: str, args: argparse.Namespace, where: str) -> dict:
    runs = args.store_runs if mode == "store" else args.runs
    command = [sys.executable, __file__, "--one", mode, "--runs", str(runs), "--steps",
               str(args.steps), "--repeats", str(args.repeats), "--store-dtype",
               args.store_dtype, "--dir", where, "--engine", args.engine]
    out = subprocess.run(command, check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(
                             [str(Path(__file__).resolve().parents[1]),
                              os.environ.get("PYTHONPATH", "")])})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--store-runs", type=int, default=1_000_000)
    parser.add_argument("--store-dtype", default="float64", choices=("float64", "float32"))
    parser.add_argument("--dir", default=None, help="where the store is written (a temporary "
                        "directory by default, removed afterwards)")
    parser.add_argument("--modes", default="summary,trajectory,trajectory32,store")
    parser.add_argument("--engine", default="batch", choices=("batch", "fused"))
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.runs, args.steps, args.repeats, args.store_dtype,
                             args.dir, args.engine)))
        return
    where = tempfile.mkdtemp(prefix="bench_trajectories.", dir=args.dir)
    try:
        found = {}
        for mode in args.modes.split(","):
            if mode == "store" and args.store_runs <= 0:
                continue
            found[mode] = _child(mode, args, where)
            runs = args.store_runs if mode == "store" else args.runs
            line = (f"{mode:13s} {runs:>9,} dyads x {args.steps} months: "
                    f"{found[mode]['seconds']:8.2f} s, peak memory "
                    f"{found[mode]['peak'] / 2**30:6.2f} GiB")
            if mode in MODES:
                line += f" (first run {found[mode]['first']:.2f} s)"
            if "summary" in found and mode in MODES and mode != "summary":
                line += (f", {found[mode]['seconds'] / found['summary']['seconds']:.2f}x summary"
                         f" (first runs: "
                         f"{found[mode]['first'] / found['summary']['first']:.2f}x)")
            if mode == "store":
                line += (f", {args.store_dtype}, {found[mode]['disk'] / 2**30:.2f} GiB on disk "
                         f"(the record in memory would be "
                         f"{found[mode]['record_bytes'] / 2**30:.1f} GiB)")
            print(line, flush=True)
    finally:
        shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
