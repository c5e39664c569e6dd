"""Sweep store integrity and one writer at a time (a script, not a test).

Measures, in one run on this machine:

- **damage**: each of the 22 kinds of damage in ``tools/store_damage.py`` (deleted, truncated,
  bit-flipped, duplicated and foreign chunks; edited manifests; a damaged root group), applied to
  a copy of a finished store (40 runs in 5 chunks, Parquet or Zarr): whether ``open_sweep``
  refuses it with a StoreIntegrityError naming the store and every damaged file, and whether
  running the sweep again repairs it (a StoreWarning naming the files) to results identical to
  the undamaged store's (summary; for Zarr also the consolidated group xarray opens);
- **writers**: trials of two concurrent writer processes (``python -c``, each a full import
  and ``run_sweep``) on one new store, Parquet and Zarr; in half the trials both start at the
  same moment, in the other half the second starts at a random time while the first is
  writing. Counted: trials in which exactly one writer was refused (naming the store and the
  other's host and pid) and the other finished, and corrupted stores (any that does not open
  verified in full to the same results as a sweep without a store, or keeps a temporary or
  the lock);
- **cost**: ``open_sweep`` of a large store with summary records (default 10^6 runs, Parquet;
  ``--cost-formats parquet,zarr`` for Zarr too), verified in full, quickly, and not at all (the
  checks switched off), in a random order in each round: verification's share of the open
  time from the fastest and the median open of each level (target <= 5%), and, in an
  instrumented open verified in full, the share of its time spent inside the checks
  (waiting for the hashing threads included; median over rounds). On a busy machine the wall
  times vary more than the effect; the CPU times (main thread: the open's critical path; all
  threads: the work, hashing threads included) do not.

Usage: python benchmarks/bench_store_integrity.py [--trials 25] [--runs 1000000]
       [--parts damage,writers,cost] [--store PATH]  (PATH: keep or reuse the large store)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from unittest import mock

import pandas as pd
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]  # this checkout's cmo_sim, whatever is installed

from store_damage import DAMAGES  # noqa: E402

import cmo_sim  # noqa: E402
from cmo_sim.sweep import store as store_module  # noqa: E402
from cmo_sim.sweep.store import StoreIntegrityError, StoreWarning  # noqa: E402

BASE = cmo_sim.load_scenario(ROOT / "scenarios" / "voluntary_alliance.yaml")


# -- damage ---------------------------------------------------------------------------------------
def damage_part(tmp: Path) -> dict:
    sweep = cmo_sim.Sweep(BASE, vary={"history": (-0.6, 0.6), "leadership": (0.2, 0.8)},
                          design="grid", samples=2, replicates=10)  # 40 runs: 5 chunks of 8
    run = {"steps": 24, "progress": False}
    for fmt in ("parquet", "zarr"):
        cmo_sim.run_sweep(sweep, store=tmp / f"reference.{fmt}", chunk_runs=8, **run)
        cmo_sim.run_sweep(sweep, store=tmp / f"foreign.{fmt}", chunk_runs=8, seed=1, **run)
    rows = []
    for number, damage in enumerate(DAMAGES):
        fmt = damage.format
        store = tmp / f"damaged-{number}.{fmt}"
        shutil.copytree(tmp / f"reference.{fmt}", store)
        named = damage.apply(store, tmp / f"foreign.{fmt}")
        try:
            cmo_sim.open_sweep(store)
            detected, message = False, "no error"
        except StoreIntegrityError as exc:
            detected = set(named) <= set(exc.files) and str(store) in str(exc)
            message = str(exc)
        except Exception as exc:  # noqa: BLE001 - any other error counts as not detected
            detected, message = False, f"{type(exc).__name__}: {exc}"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            resumed = cmo_sim.run_sweep(sweep, store=store, **run)
        told = " ".join(str(w.message) for w in caught if issubclass(w.category, StoreWarning))
        reference = cmo_sim.open_sweep(tmp / f"reference.{fmt}")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            reopened = cmo_sim.open_sweep(store)
        repaired = (resumed.summary.equals(reference.summary)
                    and reopened.summary.equals(reference.summary)
                    and all(name in told for name in named))
        if fmt == "zarr":
            repaired = repaired and xr.open_zarr(store).load().identical(
                xr.open_zarr(tmp / "reference.zarr").load())
        rows.append({"damage": damage.name, "named": ", ".join(named), "detected": detected,
                     "repaired": repaired, "error": message})
        print(f"  {damage.name:38s} detected {'yes' if detected else 'NO '}  "
              f"repaired {'yes' if repaired else 'NO '}  ({', '.join(named)})", flush=True)
    table = pd.DataFrame(rows)
    return {"kinds": len(table), "detected": int(table["detected"].sum()),
            "repaired": int(table["repaired"].sum()), "table": rows}


# -- two writers ----------------------------------------------------------------------------------
WRITER = """
import json, os, sys, time
from pathlib import Path
from cmo_sim import Sweep, run_sweep
from cmo_sim.sweep.store import StoreLockedError
spec, path, go = json.loads(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
while not go.exists():
    time.sleep(0.002)
try:
    run_sweep(Sweep.from_spec(spec), store=path, steps=60, chunk_runs=50, progress=False)
except StoreLockedError as exc:
    print(json.dumps({"message": str(exc), "pid": exc.pid, "host": exc.host}))
    sys.exit(3)
"""


def writers_part(tmp: Path, trials: int, seed: int = 0) -> dict:
    sweep = cmo_sim.Sweep(BASE, vary={"history": (-0.6, 0.6), "leadership": (0.2, 0.8)},
                          design="grid", samples=3, replicates=200)  # 1,800 runs, 36 chunks
    expected = cmo_sim.run_sweep(sweep, steps=60, progress=False).summary
    rng = random.Random(seed)
    out = {}
    for fmt in ("parquet", "zarr"):
        refusals = corrupted = both_refused = none_refused = 0
        seconds = []
        for trial in range(trials):
            store = tmp / f"w{trial}.{fmt}"
            gates = [tmp / f"w{trial}.{fmt}.go{k}" for k in (0, 1)]
            procs = [subprocess.Popen(
                [sys.executable, "-c", WRITER, json.dumps(sweep.spec()), str(store), str(g)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
                for g in gates]
            time.sleep(4.0)  # both imported (they wait for their gate)
            start = time.perf_counter()
            together = trial % 2 == 0
            gates[0].write_text("")
            if together:
                gates[1].write_text("")
            else:  # the second starts while the first writes (it holds the lock)
                while not (store / store_module.LOCK).exists() and procs[0].poll() is None:
                    time.sleep(0.005)
                time.sleep(rng.uniform(0.0, 1.5))
                gates[1].write_text("")
            results = [p.communicate(timeout=600) for p in procs]
            seconds.append(time.perf_counter() - start)
            codes = [p.returncode for p in procs]
            if sorted(codes) == [0, 3]:
                loser = codes.index(3)
                said = json.loads(results[loser][0])
                winner = procs[1 - loser].pid
                named = (said["pid"] == winner and said["host"] == socket.gethostname()
                         and str(store) in said["message"])
                refusals += named
            elif codes == [3, 3]:
                both_refused += 1
            else:
                none_refused += 1
                if any(c not in (0, 3) for c in codes):
                    print(f"  trial {trial}: exit codes {codes}: "
                          f"{[r[1][-500:] for r in results]}", flush=True)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    got = cmo_sim.open_sweep(store).summary
                bad = (not got.equals(expected)
                       or any(p.name.startswith(".") for p in store.iterdir()))
            except Exception as exc:  # noqa: BLE001 - any failure to open is corruption
                print(f"  trial {trial}: {type(exc).__name__}: {exc}", flush=True)
                bad = True
            corrupted += bad
            print(f"  {fmt} trial {trial + 1:2d}/{trials} "
                  f"({'together' if together else 'staggered'}): exit codes {codes}, "
                  f"{'CORRUPTED' if bad else 'store intact'}", flush=True)
        out[fmt] = {"trials": trials, "refusals": refusals, "corrupted": corrupted,
                    "both_refused": both_refused, "none_refused": none_refused,
                    "median_trial_s": round(statistics.median(seconds), 2)}
    return out


# -- verification cost ----------------------------------------------------------------------------
def _open_unverified(path: Path):
    """open_sweep with every check switched off: the time of reading alone."""
    everything = store_module.Inspection
    with mock.patch.object(store_module.SweepStore, "layout_problems",
                           lambda self, n_runs=None: []), \
         mock.patch.object(store_module.SweepStore, "_check_content", lambda *a, **k: None), \
         mock.patch.object(store_module.SweepStore, "_size_problem", lambda *a, **k: None), \
         mock.patch.object(store_module.SweepStore, "root_problems", lambda *a, **k: []), \
         mock.patch.object(store_module.SweepStore, "inspect",
                           lambda self, verify="quick", sizes=True: everything(
                               finished=list(range(self.n_chunks)))):
        return cmo_sim.open_sweep(path, verify="quick")


#: What open_sweep runs to verify (main-thread time; hashing threads count while waited for).
_CHECKS = ("layout_problems", "inspect", "_size_problem", "_checksum_problem", "_check_content")


def _open_instrumented(path: Path) -> tuple[float, float, float]:
    """Seconds of open_sweep verified in full, of it spent in verification (main thread,
    waits for hashing threads included), and of hashing in any thread (CPU work)."""
    spent = [0.0]
    hashing = [0.0]
    main = threading.main_thread()

    def timed(function, counter=spent, everywhere=False):
        def wrapper(*args, **kwargs):
            if not everywhere and threading.current_thread() is not main:
                return function(*args, **kwargs)
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                counter[0] += time.perf_counter() - start
        return wrapper

    def hashed(function):
        return timed(timed(function), hashing, everywhere=True)

    patches = [mock.patch.object(store_module.SweepStore, name,
                                 timed(getattr(store_module.SweepStore, name)))
               for name in _CHECKS]
    patches += [mock.patch.object(store_module, "_sha_of", hashed(store_module._sha_of)),
                mock.patch.object(store_module.SweepStore, "root_problems",
                                  timed(store_module.SweepStore.root_problems, hashing, True)),
                mock.patch.object(store_module._InBackground, "result",
                                  timed(store_module._InBackground.result))]
    for patch in patches:
        patch.start()
    try:
        start = time.perf_counter()
        cmo_sim.open_sweep(path)
        return time.perf_counter() - start, spent[0], hashing[0]
    finally:
        for patch in patches:
            patch.stop()


def cost_part(tmp: Path, runs: int, repeats: int, keep: Path | None, fmt: str,
              seed: int = 0) -> dict:
    replicates = 1000 if runs >= 1000 else runs
    sweep = cmo_sim.Sweep(BASE, vary={"history": (-0.6, 0.6), "leadership": (0.2, 0.8)},
                          design="lhs", samples=max(2, runs // replicates),
                          replicates=replicates, name="bench")
    path = (keep if keep is not None else tmp / "large").with_suffix(f".{fmt}")
    start = time.perf_counter()
    cmo_sim.run_sweep(sweep, store=path, progress=False)  # resumes (runs nothing) if kept
    built = time.perf_counter() - start
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    times: dict[str, list[float]] = {"none": [], "quick": [], "full": []}
    main_cpu: dict[str, list[float]] = {"none": [], "quick": [], "full": []}
    all_cpu: dict[str, list[float]] = {"none": [], "quick": [], "full": []}
    opened = {"none": _open_unverified, "quick": lambda p: cmo_sim.open_sweep(p, verify="quick"),
              "full": lambda p: cmo_sim.open_sweep(p)}
    opened["full"](path)  # warm the page cache
    rng = random.Random(seed)
    shares, hashing = [], []
    for _ in range(repeats):
        order = list(opened)
        rng.shuffle(order)  # no level always runs first or last in a round
        for level in order:
            start, thread, process = time.perf_counter(), time.thread_time(), time.process_time()
            result = opened[level](path)
            times[level].append(time.perf_counter() - start)
            main_cpu[level].append(time.thread_time() - thread)
            all_cpu[level].append(time.process_time() - process)
            assert result.n_runs == sweep.n_runs
            del result
        total, checking, hashed = _open_instrumented(path)
        shares.append(checking / total)
        hashing.append(hashed)
    median = {level: statistics.median(t) for level, t in times.items()}
    thread_cpu = {level: statistics.median(t) for level, t in main_cpu.items()}
    process_cpu = {level: statistics.median(t) for level, t in all_cpu.items()}
    least = {level: min(t) for level, t in times.items()}
    return {
        "format": fmt, "runs": sweep.n_runs, "chunks": cmo_sim.open_sweep(path).meta["n_chunks"],
        "bytes": size, "build_s": round(built, 1), "repeats": repeats,
        "open_s_median": {k: round(v, 3) for k, v in median.items()},
        "open_s_min": {k: round(v, 3) for k, v in least.items()},
        "full_share_median": round((median["full"] - median["none"]) / median["full"], 4),
        "full_share_min": round((least["full"] - least["none"]) / least["full"], 4),
        "quick_share_min": round((least["quick"] - least["none"]) / least["quick"], 4),
        "inside_checks_share": round(statistics.median(shares), 4),
        "main_thread_cpu_s": {k: round(v, 3) for k, v in thread_cpu.items()},
        "process_cpu_s": {k: round(v, 3) for k, v in process_cpu.items()},
        "full_share_main_thread_cpu": round(
            (thread_cpu["full"] - thread_cpu["none"]) / thread_cpu["full"], 4),
        "full_share_process_cpu": round(
            (process_cpu["full"] - process_cpu["none"]) / process_cpu["full"], 4),
        "quick_share_main_thread_cpu": round(
            (thread_cpu["quick"] - thread_cpu["none"]) / thread_cpu["quick"], 4),
        "hashing_cpu_s": round(statistics.median(hashing), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=25, help="writer trials per format")
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs of the large store")
    parser.add_argument("--repeats", type=int, default=9, help="opens per level (median)")
    parser.add_argument("--parts", default="damage,writers,cost")
    parser.add_argument("--cost-formats", default="parquet",
                        help="formats of the large store (parquet,zarr)")
    parser.add_argument("--store", type=Path, help="where to keep (or reuse) the large store")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    report: dict = {"machine": f"{os.cpu_count()} cores", "host": socket.gethostname(),
                    "cmo_sim": str(Path(cmo_sim.__file__).parent)}
    print(f"cmo_sim from {report['cmo_sim']}")
    with tempfile.TemporaryDirectory(prefix="bench-store-") as name:
        tmp = Path(name)
        if "damage" in parts:
            print("damage (22 kinds): detected with the file named, repaired by resuming")
            report["damage"] = damage_part(tmp / "damage")
            print(f"  -> {report['damage']['detected']} of {report['damage']['kinds']} detected "
                  f"with the damaged file named; {report['damage']['repaired']} of "
                  f"{report['damage']['kinds']} repaired to identical results", flush=True)
        if "writers" in parts:
            print(f"two concurrent writers, {args.trials} trials per format")
            (tmp / "writers").mkdir()
            report["writers"] = writers_part(tmp / "writers", args.trials)
            for fmt, row in report["writers"].items():
                print(f"  -> {fmt}: {row['refusals']} of {row['trials']} trials with one "
                      f"writer refused (store, host and pid named), {row['corrupted']} "
                      f"corrupted stores", flush=True)
        if "cost" in parts:
            report["cost"] = []
            for fmt in args.cost_formats.split(","):
                print(f"verification cost: open_sweep of a {args.runs:,}-run {fmt} store "
                      f"(summary records)", flush=True)
                (tmp / "cost").mkdir(exist_ok=True)
                row = cost_part(tmp / "cost", args.runs, args.repeats, args.store, fmt)
                report["cost"].append(row)
                print(f"  -> {row['runs']:,} runs in {row['chunks']} chunks, "
                      f"{row['bytes'] / 1e6:.0f} MB; open_sweep over {row['repeats']} rounds "
                      f"(min / median): unverified {row['open_s_min']['none']:.3f} / "
                      f"{row['open_s_median']['none']:.3f} s, quick "
                      f"{row['open_s_min']['quick']:.3f} / {row['open_s_median']['quick']:.3f} s, "
                      f"full {row['open_s_min']['full']:.3f} / "
                      f"{row['open_s_median']['full']:.3f} s; full verification costs "
                      f"{100 * row['full_share_min']:.1f}% (min) / "
                      f"{100 * row['full_share_median']:.1f}% (median) of the open, "
                      f"{100 * row['inside_checks_share']:.1f}% measured inside the checks "
                      f"(hashing, partly in threads: {row['hashing_cpu_s']:.3f} s); "
                      f"quick {100 * row['quick_share_min']:.1f}% (min)", flush=True)
                print(f"     CPU time (median): main thread unverified "
                      f"{row['main_thread_cpu_s']['none']:.3f} s, quick "
                      f"{row['main_thread_cpu_s']['quick']:.3f} s, full "
                      f"{row['main_thread_cpu_s']['full']:.3f} s: full verification "
                      f"{100 * row['full_share_main_thread_cpu']:.1f}% of the main thread's "
                      f"time (quick {100 * row['quick_share_main_thread_cpu']:.1f}%); all "
                      f"threads {row['process_cpu_s']['none']:.3f} / "
                      f"{row['process_cpu_s']['full']:.3f} s: "
                      f"{100 * row['full_share_process_cpu']:.1f}% more CPU work", flush=True)
    for row in report.get("damage", {}).get("table", []):
        row.pop("error")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
