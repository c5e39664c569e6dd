"""Full recompute vs per-run caching of the numpy core's fixed terms, in one run.

For networks of 4, 8 and 16 members (10^4 runs each by default), runs the whole batch with a
StepCache that recomputes every run's fixed terms when any run still going gains or loses a
member (``per_run=False``) and with the per-run cache (the default), checks the results are
the same bit for bit, and prints CPU times and their ratio.

    python benchmarks/bench_cache.py [--runs 10000] [--steps 120] [--widths 4 8 16]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import time

import numpy as np

import cmo_sim
from cmo_sim.core import StepCache, run
from cmo_sim.params import compile_params

runner = importlib.import_module("cmo_sim.core.runner")


def network(n: int):
    return cmo_sim.load_scenario(
        {"name": f"network{n}", "form": "network", "lead": 0,
         "members": [{"culture": (0.37 * k) % 1.0, "size": 300.0 * (k + 1),
                      "resources": 0.3 + 0.05 * (k % 8)} for k in range(n)]})


def timed(params, steps: int, per_run: bool):
    made = []

    def cache():
        made.append(StepCache(per_run=per_run))
        return made[-1]

    runner.StepCache = cache
    try:
        start = time.process_time()
        out = run(params, steps)
        return time.process_time() - start, out, made[0].counts
    finally:
        runner.StepCache = StepCache


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--widths", type=int, nargs="+", default=[4, 8, 16])
    args = ap.parse_args()
    print(f"{args.runs} runs x {args.steps} months, CPU seconds")
    print(f"{'members':>7} {'full':>8} {'per-run':>8} {'ratio':>6}  recomputes (full / per-run)")
    for n in args.widths:
        params = compile_params([network(n)], replicates=args.runs, seed=0)
        t_full, a, c_full = timed(params, args.steps, per_run=False)
        t_run, b, c_run = timed(params, args.steps, per_run=True)
        same = all(np.array_equal(getattr(a.final, f.name), getattr(b.final, f.name))
                   for f in dataclasses.fields(a.final))
        assert same and np.array_equal(a.synergy_mean, b.synergy_mean), "results differ"
        print(f"{n:>7} {t_full:8.2f} {t_run:8.2f} {t_full / t_run:6.2f}  "
              f"{c_full['full']} / {c_run['full']} full + {c_run['per_run']} per-run")


if __name__ == "__main__":
    main()
