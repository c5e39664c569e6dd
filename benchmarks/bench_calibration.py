"""Wall time of the shipped calibration against its 30-minute target on this machine.

Runs ``experiments/calibrate_shipped.py`` at its default size (the size of the shipped fit:
ABC-SMC, population 60, 6 generations, 200 runs per scenario and evaluation, one worker) into
a temporary folder and reports the wall time, the final epsilon and how many targets the
posterior median meets.

Usage: python benchmarks/bench_calibration.py [--target-minutes 30]
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
    args = parser.parse_args(argv)
    spec = importlib.util.spec_from_file_location(
        "calibrate_shipped", ROOT / "experiments" / "calibrate_shipped.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "fit"
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            script.main(["--out", str(out)])
        minutes = (time.perf_counter() - start) / 60
        summary = yaml.safe_load((out / "summary.yaml").read_text())
    met = "met" if minutes <= args.target_minutes else "NOT met"
    print(f"shipped calibration: {minutes:.1f} min wall time (target <= "
          f"{args.target_minutes:g} min: {met}); final epsilon {summary['epsilon']:.3g}; "
          f"{summary['targets_within_tolerance']} of {summary['targets']} targets within "
          "tolerance at the posterior median")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
