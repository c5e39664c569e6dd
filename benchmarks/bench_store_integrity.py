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
  checks switched off), in a random order in each round, and the unverified open a second time
  as a control: verification's share of the open time from the fastest and the median open of
  each level and the median over rounds of each round's share (target <= 5%). The control's
  "share" is what noise alone makes of the same work: a share below it is not resolved. Also:
  the CPU time of the opens (user and kernel, all threads), the time SHA-256 takes over the
  chunks in one thread (what full verification costs when it cannot run beside the reading),
  how much faster two hashing threads go than one (whether a second core is free to hide the
  hashing; both measured in every round), how many cores other processes kept busy meanwhile
  (Linux), and, in an instrumented open verified in full, the share of its time the main
  thread spends inside the checks (waits for the hashing threads included). Each open
  allocates its table anew; the kernel's cost of mapping and zeroing those pages varies
  several-fold between opens on some machines, far more than verification's cost:
  ``--steady-memory`` (glibc) keeps freed memory in the process, which removes most of that
  noise.

Usage: python benchmarks/bench_store_integrity.py [--trials 25] [--runs 1000000]
       [--parts damage,writers,cost] [--repeats 21] [--steady-memory]
       [--store PATH]  (PATH: keep or reuse the large store)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
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
#: ``--steady-memory``: glibc's malloc keeps the memory an open frees (no mmap for large
#: blocks, no trimming), so the next open reuses it instead of having the kernel map and zero
#: fresh pages, whose cost varies from open to open far more than verification's.
_STEADY = "MALLOC_MMAP_THRESHOLD_"
_STEADY_ENV = {_STEADY: str(1 << 32), "MALLOC_TRIM_THRESHOLD_": str(1 << 36)}


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


def _hash_floor(path: Path, fmt: str) -> tuple[float, float]:
    """Seconds to SHA-256 a store's chunks (already read) in one thread, and how many times as
    fast two threads hashing them at once go (2.0: a second core is free to hash beside the
    open; 1.0: it is not)."""
    contents = [store_module._read_all(p) for p in sorted(path.glob(f"chunk-*.{fmt}"))]

    def hash_all() -> None:
        for chunk in contents:
            store_module._sha_of(chunk)

    start = time.perf_counter()
    hash_all()
    alone = time.perf_counter() - start
    threads = [threading.Thread(target=hash_all) for _ in range(2)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return alone, 2 * alone / (time.perf_counter() - start)


def _machine_busy() -> float | None:
    """CPU seconds the whole machine has spent busy (every process), or None off Linux."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _cpu() -> tuple[float, float]:
    """User and kernel CPU seconds of this process so far (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _share(value: float, base: float) -> float:
    return round((value - base) / value, 4)


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
    # "control" is the unverified open again, timed as a level of its own: its difference from
    # "none" is what the machine's noise alone makes of the same work.
    opened = {"none": _open_unverified, "control": _open_unverified,
              "quick": lambda p: cmo_sim.open_sweep(p, verify="quick"),
              "full": lambda p: cmo_sim.open_sweep(p)}
    times: dict[str, list[float]] = {level: [] for level in opened}
    user: dict[str, list[float]] = {level: [] for level in opened}
    kernel: dict[str, list[float]] = {level: [] for level in opened}
    opened["full"](path)  # warm the page cache
    rng = random.Random(seed)
    shares, hashing, floors, parallel = [], [], [], []
    busy, own, wall = _machine_busy(), sum(_cpu()), time.perf_counter()
    for _ in range(repeats):
        order = list(opened)
        rng.shuffle(order)  # no level always runs first or last in a round
        for level in order:
            cpu = _cpu()
            start = time.perf_counter()
            result = opened[level](path)
            times[level].append(time.perf_counter() - start)
            after = _cpu()
            user[level].append(after[0] - cpu[0])
            kernel[level].append(after[1] - cpu[1])
            assert result.n_runs == sweep.n_runs
            del result
        total, checking, hashed = _open_instrumented(path)
        shares.append(checking / total)
        hashing.append(hashed)
        floor, speed = _hash_floor(path, fmt)
        floors.append(floor)
        parallel.append(speed)
    others = None
    if busy is not None and (now := _machine_busy()) is not None:  # CPU used by other processes
        others = (now - busy - (sum(_cpu()) - own)) / (time.perf_counter() - wall)
    median = {level: statistics.median(t) for level, t in times.items()}
    least = {level: min(t) for level, t in times.items()}
    paired = {level: statistics.median((t - n) / t for t, n in zip(times[level], times["none"],
                                                                   strict=True))
              for level in opened}
    user_median = {level: statistics.median(t) for level, t in user.items()}
    kernel_median = {level: statistics.median(t) for level, t in kernel.items()}
    floor = statistics.median(floors)
    return {
        "format": fmt, "runs": sweep.n_runs, "chunks": cmo_sim.open_sweep(path).meta["n_chunks"],
        "bytes": size, "build_s": round(built, 1), "repeats": repeats,
        "steady_memory": _STEADY in os.environ,
        "open_s_median": {k: round(v, 3) for k, v in median.items()},
        "open_s_min": {k: round(v, 3) for k, v in least.items()},
        "share_min": {k: _share(least[k], least["none"]) for k in ("control", "quick", "full")},
        "share_median": {k: _share(median[k], median["none"]) for k in ("control", "quick",
                                                                          "full")},
        "share_paired": {k: round(paired[k], 4) for k in ("control", "quick", "full")},
        "inside_checks_share": round(statistics.median(shares), 4),
        "user_cpu_s": {k: round(v, 3) for k, v in user_median.items()},
        "kernel_cpu_s": {k: round(v, 3) for k, v in kernel_median.items()},
        "hashing_cpu_s": round(statistics.median(hashing), 3),
        "sha256_s": round(floor, 3),
        "sha256_floor_share": _share(median["none"] + floor, median["none"]),
        "two_hash_threads_speed": [round(min(parallel), 2), round(statistics.median(parallel), 2),
                                   round(max(parallel), 2)],
        "other_processes_cores": None if others is None else round(others, 2),
    }


def _report_cost(row: dict) -> None:
    def shares(level: str) -> str:
        return (f"{100 * row['share_min'][level]:.1f}% (min) / "
                f"{100 * row['share_median'][level]:.1f}% (median) / "
                f"{100 * row['share_paired'][level]:.1f}% (median of rounds)")

    t_min, t_med = row["open_s_min"], row["open_s_median"]
    print(f"  -> {row['runs']:,} runs in {row['chunks']} chunks, {row['bytes'] / 1e6:.0f} MB"
          f"{'; steady memory' if row['steady_memory'] else ''}; open_sweep over "
          f"{row['repeats']} rounds (min / median): unverified {t_min['none']:.3f} / "
          f"{t_med['none']:.3f} s, unverified again {t_min['control']:.3f} / "
          f"{t_med['control']:.3f} s, quick {t_min['quick']:.3f} / {t_med['quick']:.3f} s, "
          f"full {t_min['full']:.3f} / {t_med['full']:.3f} s", flush=True)
    print(f"     share of the open: full verification {shares('full')}; quick "
          f"{shares('quick')}; control (the unverified open against itself: noise) "
          f"{shares('control')}", flush=True)
    user, kernel = row["user_cpu_s"], row["kernel_cpu_s"]
    low, middle, high = row["two_hash_threads_speed"]
    others = ("" if row["other_processes_cores"] is None else
              f"; other processes kept {row['other_processes_cores']:.2f} of the machine's "
              f"{os.cpu_count()} cores busy meanwhile")
    print(f"     CPU, all threads (median): user unverified {user['none']:.3f} s, quick "
          f"{user['quick']:.3f} s, full {user['full']:.3f} s; kernel {kernel['none']:.3f} / "
          f"{kernel['quick']:.3f} / {kernel['full']:.3f} s", flush=True)
    print(f"     SHA-256 of the chunks: {row['sha256_s']:.3f} s in one thread "
          f"({row['bytes'] / row['sha256_s'] / 1e9:.1f} GB/s), "
          f"{100 * row['sha256_floor_share']:.1f}% of a verified open when it cannot run "
          f"beside the reading; two hashing threads go {low:.2f} / {middle:.2f} / {high:.2f} "
          f"times as fast as one (min / median / max over rounds; 2.00: a free second core)"
          f"{others}; main thread inside the checks "
          f"{100 * row['inside_checks_share']:.1f}% of the open", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=25, help="writer trials per format")
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs of the large store")
    parser.add_argument("--repeats", type=int, default=21,
                        help="rounds of the cost part (each opens the store at every level)")
    parser.add_argument("--parts", default="damage,writers,cost")
    parser.add_argument("--cost-formats", default="parquet",
                        help="formats of the large store (parquet,zarr)")
    parser.add_argument("--store", type=Path, help="where to keep (or reuse) the large store")
    parser.add_argument("--steady-memory", action="store_true",
                        help="run with glibc's malloc keeping freed memory (see _STEADY)")
    args = parser.parse_args(argv)
    if args.steady_memory and _STEADY not in os.environ:  # malloc reads it at start: restart
        script = [sys.executable, str(Path(__file__).resolve()),
                  *(sys.argv[1:] if argv is None else argv)]
        os.execve(sys.executable, script, {**os.environ, **_STEADY_ENV})
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
                _report_cost(row)
    for row in report.get("damage", {}).get("table", []):
        row.pop("error")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
