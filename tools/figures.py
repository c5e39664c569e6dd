"""Redraw every figure of README.md and docs/ (and the numbers they show), in one command.

Usage::

    python tools/figures.py             # every figure: the gallery, then every experiment
    python tools/figures.py --only gallery entry_points

The gallery (``experiments/gallery.py``) draws the README figures into docs/img and writes the
numbers each one shows to docs/img/figures.json (tests/test_figures.py recomputes them); each
experiment script draws its docs/experiments.md figure into docs/img at the page's size
(1,000 replicates, 120 months, seed 0) and its tables into experiments/out/<name>/ (the slow
test of docs/experiments.md checks the page's tables against them). 54 s on two cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The experiment scripts whose figure docs/experiments.md shows.
EXPERIMENTS = ("entry_points", "ambition", "basins", "inertia_first", "conflict", "power",
               "mandate_leadership", "timing")
JOBS = ("gallery", *EXPERIMENTS)


def command(job: str) -> list[str]:
    """The command that redraws ``job``'s figures."""
    script = str(ROOT / "experiments" / f"{job}.py")
    if job == "gallery":
        return [sys.executable, script]
    return [sys.executable, script, "--docs-img", str(ROOT / "docs" / "img")]


def main(argv: list[str] | None = None) -> int:
    """Redraw the chosen figures; 1 if a script fails (its output is shown)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=JOBS, metavar="JOB",
                        help=f"redraw only these ({', '.join(JOBS)})")
    args = parser.parse_args(argv)
    for job in args.only or JOBS:
        started = time.perf_counter()
        done = subprocess.run(command(job), cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            sys.stderr.write(done.stdout + done.stderr)
            print(f"{job}: failed", file=sys.stderr)
            return 1
        print(f"{job}: redrawn in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
