"""Hostile inputs refused fast: YAML bombs, huge files and huge requests.

Each case runs in a fresh interpreter (so one case's memory does not hide another's): the
script imports cmo-sim, notes its resident memory, times the one call that must be refused,
and reports the seconds, the peak resident memory the call added (``ru_maxrss``) and the
peak the process reached, and the first words of the error. The numbers the issue asks for:
a 458-byte alias bomb and a 50 MB file each refused in < 1 s and < 100 MB; huge requests
(a billion runs, a trillion months, 10^15 replicates, a 256^4 grid) refused in < 1 s.

Usage: python benchmarks/bench_loaders.py [--case NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLIANCE = ROOT / "scenarios" / "voluntary_alliance.yaml"

#: The "billion laughs": nine levels of nine aliases (9^9 strings expanded), padded to 458 bytes.
_LAUGHS = "".join(
    ['a0: &a0 ["lol"' + ',"lol"' * 8 + "]\n"]
    + [f"a{k}: &a{k} [" + ",".join([f"*a{k - 1}"] * 9) + "]\n" for k in range(1, 9)]
)
BOMB = "# billion laughs" + "!" * (458 - len(_LAUGHS) - 17) + "\n" + _LAUGHS


def _path(name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"cmo-sim-bench-{name}"


def prepare() -> None:
    """Write the hostile files (once, in the parent: a case's memory excludes making them)."""
    _path("bomb.yaml").write_text(BOMB, encoding="utf-8")
    huge, size = _path("50mb.yaml"), 50 * 10**6
    if not huge.exists() or huge.stat().st_size != size:
        with huge.open("w", encoding="utf-8") as handle:  # a real 50 MB flow list
            handle.write("members: [")
            for _ in range(size // 10**6 - 1):
                handle.write("0.5, " * 200_000)
            handle.write("1]\n")
            handle.write(" " * (size - handle.tell()))
    _path("million.yaml").write_text("members: [" + "0.5, " * 10**6 + "1]\n", encoding="utf-8")
    # The worst a file within the size limit can do: 2 MB of a flow list, refused once it
    # holds more than MAX_NODES values.
    _path("2mb-list.yaml").write_text("members: [" + "1, " * 690_000 + "1]\n", encoding="utf-8")
    _path("deep.yaml").write_text("name: " + "[" * 2000 + "]" * 2000 + "\n", encoding="utf-8")
    _path("forgot_design.yaml").write_text(
        f"base: {ALLIANCE}\nsamples: 256\nreplicates: 64\nvary: {{shared_vision: {{low: 0.1, "
        "high: 0.9}, leadership: {low: 0.1, high: 0.9}, communication: {low: 0.1, high: 0.9}, "
        "pace: {low: 0.1, high: 0.9}}\n", encoding="utf-8")


def _cases() -> dict[str, tuple[str, object]]:
    """Case name -> (what it is, a function making the call that must be refused)."""
    import cmo_sim
    from cmo_sim.cli import DEFAULT_SCENARIO
    from cmo_sim.sweep import read_sweep_file

    four = {"history": (-1, 1), "pace": (0, 1), "leadership": (0, 1), "shared_vision": (0, 1)}
    bomb, huge, million = _path("bomb.yaml"), _path("50mb.yaml"), _path("million.yaml")
    return {
        "bomb-scenario": ("458-byte alias bomb as a scenario",
                          lambda: cmo_sim.load_scenario(bomb)),
        "bomb-theory": ("458-byte alias bomb as a theory", lambda: cmo_sim.load_theory(bomb)),
        "bomb-sweep": ("458-byte alias bomb as a sweep file", lambda: read_sweep_file(bomb)),
        "50mb-scenario": ("50 MB flow list as a scenario", lambda: cmo_sim.load_scenario(huge)),
        "50mb-theory": ("50 MB flow list as a theory", lambda: cmo_sim.load_theory(huge)),
        "million-list": ("10^6-element list (5 MB)", lambda: cmo_sim.load_scenario(million)),
        "2mb-list": ("2 MB flow list (under the size limit)",
                     lambda: cmo_sim.load_scenario(_path("2mb-list.yaml"))),
        "nested-2000": ("2,000-deep nesting as a theory",
                        lambda: cmo_sim.load_theory(_path("deep.yaml"))),
        "runs-1e9": ("simulate(runs=10**9)",
                     lambda: cmo_sim.simulate(DEFAULT_SCENARIO, runs=10**9)),
        "steps-1e12": ("simulate(steps=10**12, record=10**12)",
                       lambda: cmo_sim.simulate(DEFAULT_SCENARIO, steps=10**12, record=10**12)),
        "replicates-1e15": ("run_sweep of 3 points x 10**15 replicates", lambda: cmo_sim.run_sweep(
            cmo_sim.Sweep(DEFAULT_SCENARIO, vary={"history": (-1, 1)}, samples=3,
                          replicates=10**15), progress=False)),
        "grid-256^4": ("Sweep grid of 256 levels x 4 ranges",
                       lambda: cmo_sim.Sweep(DEFAULT_SCENARIO, vary=four, samples=256)),
        "grid-1e5^2": ("Sweep grid of samples=10**5 x 2 ranges", lambda: cmo_sim.Sweep(
            DEFAULT_SCENARIO, vary={"history": (-1, 1), "pace": (0, 1)}, samples=10**5)),
        "sweep-file-no-design": ("sweep file: 4 ranges, samples 256, no design:",
                                 lambda: read_sweep_file(_path("forgot_design.yaml"))),
    }


def _kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def run_case(name: str) -> dict:
    """Make one case's call in this process; its numbers."""
    what, call = _cases()[name]
    before = _kib()
    started = time.perf_counter()
    try:
        call()
        error = "ACCEPTED (not refused)"
    except ValueError as exc:
        error = f"{type(exc).__name__}: {str(exc)[:110]}"
    seconds = time.perf_counter() - started
    return {"case": name, "what": what, "seconds": seconds,
            "added_mib": (_kib() - before) / 1024, "peak_mib": _kib() / 1024, "error": error}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default=None, help="run one case in this process")
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case)))
        return 0
    prepare()
    names = list(_cases())
    print(f"{'case':22s} {'seconds':>8s} {'added MiB':>10s} {'peak MiB':>9s}  error")
    worst = 0.0
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True,
                             text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        row = json.loads(out.stdout.strip().splitlines()[-1])
        worst = max(worst, row["seconds"])
        print(f"{name:22s} {row['seconds']:8.3f} {row['added_mib']:10.1f} "
              f"{row['peak_mib']:9.1f}  {row['error']}")
    cli = [sys.executable, "-m", "cmo_sim.cli", "run", "--runs", str(10**9), "--quiet", "--out",
           str(_path("never"))]
    started = time.perf_counter()
    done = subprocess.run(cli, capture_output=True, text=True)
    print(f"{'cli run --runs 1e9':22s} {time.perf_counter() - started:8.3f} {'':10s} {'':9s}  "
          f"exit {done.returncode}, including start-up: {done.stderr.strip()[:90]}")
    print(f"slowest refusal: {worst:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
