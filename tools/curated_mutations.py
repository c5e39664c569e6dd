"""Apply known engine bugs one at a time and check that the default test suite catches each.

Each mutation below is a deliberate defect of the kind an engine rebuild can introduce (a flipped
sign, an off-by-one threshold, a counter collision, a row taken from a batch-mate, a non-atomic
write). For each one the script copies the project into a temporary directory, applies the edit
there (the working tree is never touched), runs the tests that should catch it, and expects them
to fail. It exits 1 if any mutation survives, so it can gate an engine rebuild::

    python tools/curated_mutations.py            # every mutation
    python tools/curated_mutations.py --list     # names only
    python tools/curated_mutations.py rng_counter_collision parquet_non_atomic

When the code a mutation edits is rewritten, update its ``old`` text (the script stops with an
error naming the mutation when the text is no longer found, rather than reporting a pass).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: What a copy needs to import the package and run its tests.
COPIED = ("cmo_sim", "tests", "scenarios", "calibration", "docs", "experiments", "benchmarks",
          "tools", "pyproject.toml", "README.md", ".ci")


@dataclass(frozen=True)
class Mutation:
    """One deliberate defect: replace ``old`` by ``new`` in ``path`` and run ``tests``.

    ``also`` holds further ``(path, old, new)`` edits of the same defect (e.g. the same bug in
    the other engine).
    """

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    what: str
    also: tuple[tuple[str, str, str], ...] = ()


CORE_TESTS = ("tests/test_core.py", "tests/test_abm.py", "tests/test_rng.py",
              "tests/test_calibration.py")
MUTATIONS = (
    Mutation(
        "month_term_sign_numpy", "cmo_sim/core/sites.py",
        "value = term_value(term, view.input(term.input, shape))",
        "value = -term_value(term, view.input(term.input, shape))",
        CORE_TESTS, "every month term on a state input (the trust-building loop among them) "
        "flipped, numpy engine only",
    ),
    Mutation(
        "ambition_capped_both", "cmo_sim/core/terms.py",
        "return np.minimum(2.0 * ambition, 1.0)", "return np.minimum(ambition, 1.0)",
        ("tests/test_theory_language.py",),
        "faith's achievement loop counts half the ambition, in both engines alike (shared code)",
    ),
    Mutation(
        "dissolve_below_three_numpy", "cmo_sim/core/step.py",
        "out = moved[m.msum(still[moved].astype(np.float64)) < 2]",
        "out = moved[m.msum(still[moved].astype(np.float64)) < 3]",
        CORE_TESTS, "a partnership dissolves when fewer than 3 members remain (numpy only)",
    ),
    Mutation(
        "member_count_from_padding", "cmo_sim/core/step.py",
        "count = np.maximum(m.msum(w), 1.0)",
        "count = np.full(w.shape[0], float(n))",
        CORE_TESTS, "member count taken from the padded batch width",
    ),
    Mutation(
        "critical_trust_0.10", "cmo_sim/theory/default.yaml",
        "critical_trust: 0.20", "critical_trust: 0.10",
        ("tests/test_calibration.py",), "the critical trust threshold halved",
    ),
    Mutation(
        "critical_trust_0.17", "cmo_sim/theory/default.yaml",
        "critical_trust: 0.20", "critical_trust: 0.17",
        ("tests/test_calibration.py",), "the critical trust threshold 15% lower",
    ),
    Mutation(
        "critical_trust_0.24", "cmo_sim/theory/default.yaml",
        "critical_trust: 0.20", "critical_trust: 0.24",
        ("tests/test_calibration.py",), "the critical trust threshold 20% higher",
    ),
    Mutation(
        "critical_faith_0.13", "cmo_sim/theory/default.yaml",
        "critical_faith: 0.0812", "critical_faith: 0.0706",
        ("tests/test_calibration.py",), "the faith floor 13% lower",
    ),
    Mutation(
        "exit_barrier_0.575", "cmo_sim/theory/default.yaml",
        # The timing calibration no longer pins the barrier (docs/model.md 6.3); the shipped
        # scenarios' table of docs/dynamics.md does, exactly, through the mandated scenarios.
        "mandated_exit_barrier: 0.50", "mandated_exit_barrier: 0.575",
        ("tests/test_calibration.py", "tests/test_docs_theory.py"),
        "the mandated exit barrier 15% higher",
    ),
    Mutation(
        "rng_counter_collision", "cmo_sim/rng.py",
        "(step & 0xFFFFFFFF) << 8 | (stream & 0xFF)", "step + stream",
        ("tests/test_rng.py",),
        "counter step + stream: conflict draws at t equal resolution draws at t - 1",
    ),
    Mutation(
        "exit_handling_from_batch_mates", "cmo_sim/core/step.py",
        'site["exit_shock"][moved]', 'site["exit_shock"][:moved.size]',
        ("tests/test_core.py",), "a leaving member's exit handling read from another run's row",
    ),
    Mutation(
        "chunks_non_atomic", "cmo_sim/sweep/store.py",
        "tmp = self._temporary(self.chunk_name(index))", "tmp = target",
        ("tests/test_sweep.py",), "chunks written in place (a kill leaves half a chunk)",
        also=(("cmo_sim/sweep/store.py", "            _move_into_place(tmp, target)\n", ""),),
    ),
    Mutation(
        "chunk_checksums_ignored", "cmo_sim/sweep/store.py",
        'if digest == record["sha256"]:', "if True:",
        ("tests/test_store_integrity.py",),
        "a chunk's SHA-256 never compared (a flipped byte goes unseen)",
    ),
    Mutation(
        "temporaries_of_live_writers_removed", "cmo_sim/sweep/store.py",
        'if tag == mine or (owner["host"] == _HOST and not _pid_running(int(owner["pid"]))):',
        "if True:",
        ("tests/test_store_integrity.py",),
        "a writer removes every temporary, a running writer's too",
    ),
    Mutation(
        "merger_members_leave", "cmo_sim/scenario.py",
        'if self.form in ("merger", "fixed_term"):', 'if self.form in ("fixed_term",):',
        ("tests/test_forms.py",), "a merger's members leave below a floor like an alliance's",
    ),
    Mutation(
        "contract_exits_a_month_early", "cmo_sim/core/step.py",
        "may_leave = ((period > 0) & ((t + 1) % np.maximum(period, 1) == 0))[:, None]",
        "may_leave = ((period > 0) & (t % np.maximum(period, 1) == 0))[:, None]",
        ("tests/test_forms.py",), "contract exit points a month before the agreement ends, "
        "both engines",
        also=(("cmo_sim/abm/model.py", "may_leave = period > 0 and (view.t + 1) % period == 0",
               "may_leave = period > 0 and view.t % period == 0"),),
    ),
    Mutation(
        "network_never_recruits", "cmo_sim/core/step.py",
        "open_place = params.present & ~out[\"active\"] & (exit_step >= 0) & (exit_step < t)",
        "open_place = params.present & ~out[\"active\"] & (exit_step >= 0) & (exit_step < 0)",
        ("tests/test_forms.py",), "a network never fills the places left, both engines",
        also=(("cmo_sim/abm/model.py", "if not m.active and 0 <= m.exit_step < t]",
               "if not m.active and 0 <= m.exit_step < 0]"),),
    ),
    Mutation(
        "fixed_term_ends_a_month_late", "cmo_sim/core/step.py",
        "due = (params.term == t) & alive & ~dissolved",
        "due = (params.term == t - 1) & alive & ~dissolved",
        ("tests/test_forms.py",), "a fixed term completes a month after its term, both engines",
        also=(("cmo_sim/abm/model.py", "if t == self.term and not self.dissolved:",
               "if t == self.term + 1 and not self.dissolved:"),),
    ),
)


def _copy_project(into: Path) -> None:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", ".pytest_cache", ".hypothesis"))
        elif source.is_file():
            shutil.copy2(source, into / name)


def run_mutation(mutation: Mutation, workers: int | None = None) -> tuple[bool, float, str]:
    """(caught, seconds, last line of pytest) for one mutation, in a fresh copy."""
    with tempfile.TemporaryDirectory(prefix=f"cmo-mutant-{mutation.name}-") as tmp:
        copy = Path(tmp)
        _copy_project(copy)
        for path, old, new in ((mutation.path, mutation.old, mutation.new), *mutation.also):
            target = copy / path
            text = target.read_text()
            if text.count(old) != 1:
                raise SystemExit(f"{mutation.name}: the text to mutate is not found exactly once "
                                 f"in {path}; update MUTATIONS in {Path(__file__).name}")
            target.write_text(text.replace(old, new))
        command = [sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:cacheprovider",
                   *mutation.tests]
        env = {**os.environ, "PYTHONPATH": str(copy)}
        start = time.perf_counter()
        done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        if done.returncode not in (0, 1):
            raise SystemExit(f"{mutation.name}: pytest could not run (exit {done.returncode}):\n"
                             + "\n".join(lines[-20:]) + done.stderr[-2000:])
        return done.returncode == 1, seconds, lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> int:
    """Run the named mutations (all by default); exit 1 if any is not caught."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args(argv)
    known = {mutation.name: mutation for mutation in MUTATIONS}
    if args.list:
        for mutation in MUTATIONS:
            print(f"{mutation.name:32s} {mutation.what}")
        return 0
    unknown = [name for name in args.names if name not in known]
    if unknown:
        parser.error(f"unknown mutation(s): {', '.join(unknown)} (see --list)")
    chosen = [known[name] for name in args.names] or list(MUTATIONS)
    survived = []
    for mutation in chosen:
        caught, seconds, last = run_mutation(mutation)
        verdict = "caught  " if caught else "SURVIVED"
        print(f"{verdict} {mutation.name:32s} {seconds:6.1f} s  {last}", flush=True)
        if not caught:
            survived.append(mutation.name)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} mutations caught")
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main())
