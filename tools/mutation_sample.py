"""Mutation score of the engine from a random sample of mutmut's mutants.

The full run, ``mutmut run`` (configured in pyproject.toml: cmo_sim/core, rng.py, params.py and
sweep/store.py against a fast test selection), makes about 3,000 mutants and takes several hours
on two cores. This script runs a seeded random sample of them instead and reports the sample's
score with a 95% Wilson interval, then lists every mutant that survived, for review::

    python tools/mutation_sample.py                  # 300 mutants, seed 0
    python tools/mutation_sample.py --size 600 --seed 1
    mutmut show <name>                               # the diff of one survivor

A mutant counts as killed when a test fails; as surviving when every test passes; mutants no
selected test executes count as surviving too ("no tests"). A mutant whose tests outrun mutmut's
time limit is listed as a timeout, apart: it may hang the engine, or it may be a survivor on a
busy machine, so it is not counted as killed; check each with ``mutmut run <name>`` on an idle
machine (raise ``timeout_multiplier`` in pyproject.toml if it times out again). Results stay in
``mutants/`` (mutmut's own cache, git-ignored), so a second call with the same sample only runs
what is missing.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
KILLED = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout",
          152: "timeout", 255: "timeout"}
SURVIVED = {0: "survived", 5: "no tests", 33: "no tests"}


def _all_mutants() -> dict[str, int | None]:
    """Every generated mutant's name and exit code (None: not run yet)."""
    found: dict[str, int | None] = {}
    for meta in sorted(MUTANTS.rglob("*.meta")):
        found.update(json.loads(meta.read_text())["exit_code_by_key"])
    return found


def _mutmut(*names: str) -> None:
    subprocess.run(["mutmut", "run", "--max-children", "2", *names], cwd=ROOT, check=False)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial share k / n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def main(argv: list[str] | None = None) -> int:
    """Run the sample and print its score and survivors."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300, help="mutants in the sample")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample")
    args = parser.parse_args(argv)
    if not _all_mutants():
        # Generate the mutants and collect mutmut's test statistics; the pattern matches no
        # mutant, so nothing is run yet (mutmut then stops with "nothing matches").
        _mutmut("no-mutant-is-named-like-this")
    everything = _all_mutants()
    if not everything:
        print("mutmut generated no mutants (see its output above)", file=sys.stderr)
        return 2
    names = sorted(everything)
    rng = np.random.default_rng(args.seed)  # a local generator: the sample only
    sample = sorted(rng.choice(names, size=min(args.size, len(names)), replace=False).tolist())
    pending = [name for name in sample if everything[name] is None]
    if pending:
        _mutmut(*pending)
    codes = _all_mutants()
    status = {name: KILLED.get(codes[name]) or SURVIVED.get(codes[name]) or
              f"other ({codes[name]})" for name in sample}
    killed = sum(s == "killed" for s in status.values())
    timeouts = sorted(name for name, s in status.items() if s == "timeout")
    low, high = wilson(killed, len(sample))
    by_module: dict[str, list[int]] = {}
    for name, s in status.items():
        module = name.split(".x")[0].split(".xǁ")[0]
        counts = by_module.setdefault(module, [0, 0])
        counts[0] += s == "killed"
        counts[1] += 1
    print(f"\nsample: {len(sample)} of {len(names)} mutants (seed {args.seed})")
    for module, (k, n) in sorted(by_module.items()):
        print(f"  {module:28s} {k:4d} of {n:4d} killed")
    print(f"killed: {killed} of {len(sample)} = {killed / len(sample):.1%} (95% interval "
          f"{low:.1%} .. {high:.1%}); timeouts: {len(timeouts)} (check each, see above)")
    survivors = sorted(name for name, s in status.items() if s not in ("killed", "timeout"))
    print(f"\nnot killed ({len(survivors)}), to review (kill with a test, or note why the "
          "mutant is equivalent):")
    for name in survivors:
        print(f"  {status[name]:9s} {name}")
    if timeouts:
        print(f"\ntimeouts ({len(timeouts)}):")
        for name in timeouts:
            print(f"  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
