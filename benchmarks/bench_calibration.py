"""Wall time of the shipped calibration against its 30-minute target on this machine.

Runs ``experiments/calibrate_shipped.py`` at its default size (the shipped fit: ABC-SMC of the
two form constants, population 40, 5 generations, 100 runs per scenario and evaluation, one
worker), or with ``--joint`` the joint fit of nine constants to every target (population 60, 6
generations, 200 runs), into a temporary folder, and reports the wall time, the final epsilon
and how many of the fitted targets the posterior median meets.

Usage: python benchmarks/bench_calibration.py [--joint] [--target-minutes 30]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    """Time the shipped calibration and print the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-minutes", type=float, default=30.0)
    parser.add_argument("--joint", action="store_true")
    args = parser.parse_args(argv)
    joint = ["--vary", str(ROOT / "calibration" / "vary_joint.yaml"), "--fit-scenarios", "all",
             "--runs", "200", "--population", "60", "--generations", "6"] if args.joint else []
    spec = importlib.util.spec_from_file_location(
        "calibrate_shipped", ROOT / "experiments" / "calibrate_shipped.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "fit"
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            script.main(["--out", str(out), *joint])
        minutes = (time.perf_counter() - start) / 60
        summary = yaml.safe_load((out / "summary.yaml").read_text())
    met = "met" if minutes <= args.target_minutes else "NOT met"
    kind = "joint" if args.joint else "shipped"
    print(f"{kind} calibration: {minutes:.1f} min wall time (target <= "
          f"{args.target_minutes:g} min: {met}); final epsilon {summary['epsilon']:.3g}; "
          f"{summary['targets_within_tolerance']} of {summary['targets']} targets within "
          "tolerance at the posterior median")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
