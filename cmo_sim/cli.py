"""The ``cmo-sim`` command line: a thin layer over the library.

User mistakes (bad files, bad arguments) and system errors (no space left, permission denied)
print one line ``cmo-sim: error: ...`` and exit 1. Every output path is checked before any
work, and outputs are written to a temporary file (or folder) beside their target and moved
into place when complete, so a failure leaves no partial output. Ctrl-C or SIGTERM stops the
work (a process pool's workers too; a sweep store keeps its finished chunks) and exits with
130 or 143.
"""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cmo_sim.results import SUMMARY_FIELDS

__all__ = ["DEFAULT_SCENARIO", "RUN_TABLE_COLUMNS", "main", "summary_table"]

#: The embedded default: a typical voluntary dyad of two mid-size organisations, every context
#: at its typical value (0.5; history and ambition bias neutral).
DEFAULT_SCENARIO = {
    "name": "typical_voluntary_dyad",
    "description": (
        "Two similar mid-size organisations in a voluntary partnership, typical contexts."
    ),
    "members": [{"name": "A", "size": 1500}, {"name": "B", "size": 1200}],
}


class UserError(Exception):
    """A mistake the user can fix; printed as one line."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP) received: unwinds like Ctrl-C, so pools and stores are closed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# -- output paths: checked before the work, written whole or not at all ---------------------------
#: Figure formats the commands write.
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def _missing_parts(path: Path) -> tuple[Path, list[Path]]:
    """The nearest existing ancestor of ``path`` and the folders below it still to create."""
    missing = []
    current = path
    while not os.path.lexists(current):
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    return current, missing[::-1]


def _check_path(path: Path, option: str) -> None:
    """UserError for a path no file system takes: a name too long, a path too long, a NUL."""
    limit = 255
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            raise UserError(f"{option}: {path}: a name in the path is longer than {limit} bytes")
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):  # too long, permission denied, ...
            raise UserError(f"{option}: {path}: {_reason(exc)}") from None
    except ValueError:  # an embedded NUL character
        raise UserError(f"{option}: {path!r} is not a valid path") from None


def _check_folder_for(path: Path, option: str) -> None:
    """UserError unless ``path`` (a file or folder to write) can be created where it is."""
    _check_path(path, option)
    existing, _ = _missing_parts(path.parent)
    if not existing.is_dir():
        raise UserError(f"{option}: {path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{option}: {path}: cannot write in {existing} (permission denied)")
    _probe(existing, f"{option}: {path}: cannot write in {existing}")


def _probe(folder: Path, message: str) -> None:
    """UserError ``message (reason)`` unless a file can be created in ``folder`` (and removed).

    Catches what permissions do not show: a read-only file system, a kernel file system, a
    full inode table, a server that refuses.
    """
    try:
        handle, name = tempfile.mkstemp(prefix=".cmo-sim-probe.", dir=folder)
    except OSError as exc:
        raise UserError(f"{message} ({_reason(exc)})") from None
    os.close(handle)
    os.unlink(name)


def _check_output(path: Path, option: str = "--out") -> None:
    """UserError unless ``path`` can be written as a figure (checked before any work)."""
    _check_path(path, option)
    if path.is_dir():
        raise UserError(f"{option}: {path} is a directory (give a file name such as box.png)")
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise UserError(f"{option}: {path} does not end in .png, .svg or .pdf")
    _check_file_output(path, option)


def _check_file_output(path: Path, option: str) -> None:
    """UserError unless ``path`` can be written (or replaced) as a regular file."""
    _check_path(path, option)
    if path.is_dir():
        raise UserError(f"{option}: {path} is a directory (give a file name)")
    if os.path.lexists(path) and not path.is_file():
        raise UserError(f"{option}: {path} exists and is not a regular file")
    _check_folder_for(path, option)


def _check_folder_output(path: Path, option: str, contents: dict[str, bool]) -> None:
    """UserError unless folder ``path`` can be created or written, with ``contents`` in it.

    ``contents`` maps each name to be written in the folder to whether it is a folder.
    """
    _check_path(path, option)
    if os.path.lexists(path) and not path.is_dir():
        raise UserError(f"{option}: {path} exists and is not a folder")
    if not path.is_dir():
        _check_folder_for(path, option)
    else:  # written inside: only the folder itself must take new files
        if not os.access(path, os.W_OK | os.X_OK):
            raise UserError(f"{option}: cannot write in {path} (permission denied)")
        _probe(path, f"{option}: cannot write in {path}")
        for name, folder in contents.items():
            target = path / name
            if os.path.lexists(target) and target.is_dir() != folder:
                kind = "a folder" if folder else "a file"
                raise UserError(f"{option}: {target} exists and is not {kind}")


def _make_folders(path: Path) -> list[Path]:
    """Create folder ``path`` and missing parents; the folders created, top first."""
    _, missing = _missing_parts(path)
    path.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed write created, deepest first, if they are still empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_file(path: Path, write: Callable[[Path], None]) -> None:
    """Write a file through a temporary file in its folder, moved into place when complete."""
    created = _make_folders(path.parent)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        _remove_empty(created)
        raise


def _write_folder(path: Path, write: Callable[[Path], None]) -> None:
    """Write the entries of folder ``path`` in a temporary folder inside it, then move each.

    An entry that exists already is replaced only once the new one is complete.
    """
    created = _make_folders(path)
    staging = Path(tempfile.mkdtemp(prefix=".cmo-sim-partial.", dir=path))
    try:
        write(staging)
        for entry in sorted(p for p in staging.iterdir() if not p.name.startswith(".")):
            target = path / entry.name
            if entry.is_dir() and target.is_dir():
                old = staging / f".old-{entry.name}"
                os.replace(target, old)
                try:
                    os.replace(entry, target)
                except BaseException:
                    os.replace(old, target)
                    raise
            else:
                os.replace(entry, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created)
        raise
    shutil.rmtree(staging, ignore_errors=True)


def _reason(exc: OSError) -> str:
    """An OSError as a short reason: ``No space left on device``."""
    return exc.strerror or str(exc) or type(exc).__name__


def _os_error_line(exc: OSError) -> str:
    """One line for an OSError: the file(s) and the reason."""
    if exc.errno is None or not exc.strerror:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    hint = {errno.ENOSPC: " (free some space, or write elsewhere)",
            errno.EDQUOT: " (free some space, or write elsewhere)"}.get(exc.errno, "")
    return (f"{' -> '.join(names)}: " if names else "") + exc.strerror + hint


#: The columns of the per-scenario table ``cmo-sim run`` prints (and writes to
#: ``summary_by_scenario.csv``): meaning and unit.
RUN_TABLE_COLUMNS: dict[str, tuple[str, str]] = {
    "runs": ("replicates of the scenario", "count"),
    "thriving": ("share of runs thriving at the end", "0-1"),
    "struggling": ("share of runs struggling at the end", "0-1"),
    "completed": ("share of runs whose fixed term completed (shown when any did)", "0-1"),
    "dissolved": ("share of runs dissolved within the simulated months", "0-1"),
    "median_month": ("median month of dissolution among the runs that dissolved (empty when "
                     "none did)", "month"),
    "by_trust": ("share of runs dissolved by a trust collapse (inter-organisational origin)",
                 "0-1"),
    "by_faith": ("share of runs dissolved by a faith collapse (intra-organisational origin)",
                 "0-1"),
    # The means over runs of summary columns, with the columns' own meanings and units.
    **{name: (f"mean over runs of: {SUMMARY_FIELDS[name][0]}", SUMMARY_FIELDS[name][1])
       for name in ("performance", "synergy_mean", "trust_final", "faith_final")},
}


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per-scenario table: end states, dissolution month and cause, performance, synergy, trust."""
    g = summary.groupby("scenario", sort=False)
    state = summary["end_state"].astype(str) if "end_state" in summary else None
    shares = {
        name: (state == name).groupby(summary["scenario"], sort=False).mean()
        for name in ("thriving", "struggling")
    } if state is not None else {}
    if state is not None and (state == "completed").any():
        shares["completed"] = (state == "completed").groupby(summary["scenario"],
                                                             sort=False).mean()
    table = pd.DataFrame(
        {
            "runs": g.size(),
            **shares,
            "dissolved": g["dissolved"].mean(),
            "median_month": g["dissolved_at"].agg(
                lambda x: float(x[x >= 0].median()) if (x >= 0).any() else float("nan")
            ),
            "by_trust": g["cause"].agg(lambda x: float((x == "trust").mean())),
            "by_faith": g["cause"].agg(lambda x: float((x == "faith").mean())),
            "performance": g["performance"].mean(),
            "synergy_mean": g["synergy_mean"].mean(),
            "trust_final": g["trust_final"].mean(),
            "faith_final": g["faith_final"].mean(),
        }
    )
    return table


def _cmd_run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cmo_sim import load_scenario, simulate
    from cmo_sim.plot import trajectories

    out = Path(args.out)
    _check_folder_output(out, "--out", {"results": True, "summary_by_scenario.csv": False,
                                        "trajectories.png": False})
    scenarios = [load_scenario(p) for p in args.scenarios] or [load_scenario(DEFAULT_SCENARIO)]
    results = simulate(
        scenarios, runs=args.runs, steps=args.steps, seed=args.seed, theory=args.theory,
        record=args.every, engine=args.engine, progress=not args.quiet,
    )
    table = summary_table(results.summary)
    with pd.option_context("display.width", 160, "display.precision", 3):
        print(f"{results.n_runs} runs, {args.steps} months, seed {args.seed}")
        print(table.to_string())
        print("shares of runs; median_month: among the runs that dissolved; performance, "
              "synergy, trust, faith: means over runs (docs/reference.md)")

    def write(folder: Path) -> None:
        results.to_parquet(folder / "results")
        table.to_csv(folder / "summary_by_scenario.csv")
        fig = trajectories(results, ("trust", "faith", "synergy"))
        try:
            fig.savefig(folder / "trajectories.png", dpi=110)
        finally:
            plt.close(fig)

    _write_folder(out, write)
    print(f"wrote {out / 'results'} (Parquet), {out / 'summary_by_scenario.csv'}, "
          f"{out / 'trajectories.png'}")
    return 0


def _cmd_theory_show(args: argparse.Namespace) -> int:
    from cmo_sim import load_theory

    if args.file is not None and args.theory is not None and args.file != args.theory:
        raise UserError("theory show: give the theory file once (FILE or --theory)")
    theory = load_theory(args.file if args.file is not None else args.theory)
    frame = theory.to_frame()
    columns = ["id", "context", "mechanism", "outcome", "sign", "weight", "sites"]
    if args.provenance:
        columns.append("provenance")
    with pd.option_context("display.width", 240, "display.max_rows", None,
                           "display.max_colwidth", 90):
        print(frame[columns].to_string(index=False))
        if theory.user_contexts:
            own = pd.DataFrame([{"context": c.name, "level": c.level,
                                 "range": f"{c.range[0]:g} .. {c.range[1]:g}",
                                 "typical": c.typical, "meaning": c.meaning}
                                for c in theory.user_contexts])
            print("\nContexts the theory declares:")
            print(own.to_string(index=False))
    print(f"{len(theory)} rules ({theory.name})")
    return 0


#: Most problems ``cmo-sim theory check`` lists for one file (then how many more there are).
MAX_PROBLEMS_SHOWN = 50


def _cmd_theory_check(args: argparse.Namespace) -> int:
    from cmo_sim.theory import check_theory, load_theory

    failed = 0
    for path in args.files:
        problems = check_theory(path)
        for problem in problems[:MAX_PROBLEMS_SHOWN]:
            print(f"FAIL {_one_line(problem)}")
        if len(problems) > MAX_PROBLEMS_SHOWN:
            print(f"FAIL {path}: ... and {len(problems) - MAX_PROBLEMS_SHOWN:,} more problems")
        if problems:
            failed += 1
        else:
            theory = load_theory(path)
            print(f"ok   {path}: {theory.name} ({len(theory)} rules)")
    return 1 if failed else 0


def _cmd_scenario_check(args: argparse.Namespace) -> int:
    from cmo_sim import ScenarioError, load_scenario

    failed = 0
    for path in args.files:
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            print(f"FAIL {_one_line(str(exc))}")
            failed += 1
        else:
            print(f"ok   {path}: {scenario.name} ({scenario.n_members} members"
                  f"{', entry point ' + scenario.entry_point if scenario.entry_point else ''})")
    return 1 if failed else 0


def _cmd_scenario_schema(args: argparse.Namespace) -> int:
    import json

    from cmo_sim._reference import scenario_json_schema

    if args.out is not None:
        _check_file_output(Path(args.out), "--out")
    text = json.dumps(scenario_json_schema(args.theory), indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    _write_file(Path(args.out), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print(f"wrote {args.out}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    import warnings

    from cmo_sim.analysis import SobolConvergenceWarning, sensitivity
    from cmo_sim.sweep import read_sweep_file, run_sweep
    from cmo_sim.sweep.store import MANIFEST

    store = Path(args.store)
    if os.path.lexists(store) and not store.is_dir():
        raise UserError(f"--store: {store} exists and is not a folder (a store is a folder)")
    _check_folder_for(store, "--store")
    spec = read_sweep_file(args.file)
    sweep = spec.sweep
    steps = args.steps if args.steps is not None else spec.steps
    seed = args.seed if args.seed is not None else spec.seed
    resumed = (Path(args.store) / MANIFEST).is_file()
    print(f"sweep {sweep.name}: {sweep.n_points} points x {sweep.replicates} replicates = "
          f"{sweep.n_runs} runs, {sweep.design} design over {', '.join(sweep.paths)}; "
          f"{steps} months, seed {seed}")
    results = run_sweep(
        sweep, steps=steps, seed=seed, theory=args.theory, executor=args.executor,
        store=args.store, record=args.record if args.record is not None else spec.record,
        chunk_runs=args.chunk_runs,
        progress=not args.quiet, verify=args.verify,
        engine=args.engine, trajectory_dtype=args.trajectory_dtype,
    )
    meta = results.meta
    already = meta["n_chunks"] - meta["chunks_run"]
    print(f"store {args.store}: {meta['n_chunks']} chunks of {meta['chunk_runs']} runs"
          + (f" ({already} already there, {meta['chunks_run']} run now)" if resumed else ""))
    outcomes = ["dissolved", "performance", "synergy_mean", "trust_final"]
    table = results.aggregate(quantiles=()).sel(statistic="mean")[outcomes].to_dataframe()
    table = pd.concat([results.design, table[outcomes]], axis=1)
    shown = 20
    with pd.option_context("display.width", 160, "display.precision", 3,
                           "display.max_columns", None):
        print("mean per design point (dissolved: share of runs)")
        print(table.head(shown).to_string())
        if len(table) > shown:
            print(f"... {len(table) - shown} more points")
        if sweep.design == "list" or sweep.n_points < 2:
            print("no sensitivity: a list design (or a single point) does not separate the "
                  "factors")
            return 0
        for outcome in ("dissolved", "performance"):
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", SobolConvergenceWarning)
                    frame = sensitivity(results, outcome)
            except ValueError as exc:
                print(f"no sensitivity for {outcome}: {exc}")
                continue
            method = frame.attrs["method"]
            shown_columns = _SENSITIVITY_COLUMNS.get(method)
            print(f"{_SENSITIVITY_TITLES[method]} of {outcome}")
            print((frame[list(shown_columns)] if shown_columns else frame).to_string())
            for warning in caught:
                print(f"note: {warning.message}")
    return 0


#: How ``cmo-sim sweep`` names each sensitivity method, and the columns it prints.
_SENSITIVITY_TITLES = {
    "sobol": "Sobol indices", "morris": "Morris screen", "elementary_effects":
    "elementary effects", "delta": "delta indices (moment-independent)",
}
_SENSITIVITY_COLUMNS = {
    "sobol": ("S1", "S1_conf", "ST", "ST_conf"),
    "delta": ("delta_raw", "delta_raw_conf", "S1", "S1_conf"),
}


def _whole(low: int):
    """An argparse type: a whole number >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is not allowed (a whole number >= {low})")
        return value

    return parse


_positive, _seed = _whole(1), _whole(0)


def _record(text: str) -> str | int:
    """An argparse type: summary, trajectory, or a whole number of months >= 1."""
    if text in ("summary", "trajectory"):
        return text
    try:
        return _positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not allowed (summary, trajectory, or a whole number k >= 1)") from None


def _open_any(path: str):
    """Results written by ``run`` (its output folder, or the ``results`` in it) or a sweep store."""
    from cmo_sim import open_results, open_sweep
    from cmo_sim.sweep.store import MANIFEST

    folder = Path(path)
    if not folder.exists():
        raise UserError(f"{path}: no such results folder or sweep store")
    if (folder / MANIFEST).is_file():
        return open_sweep(folder, allow_partial=True)
    if (folder / "results").is_dir() and (folder / "summary_by_scenario.csv").is_file():
        folder = folder / "results"  # the output folder of 'cmo-sim run'
    return open_results(folder)


PLOT_KINDS = ("trajectories", "compare", "survival", "end_states", "partnership", "regime_map",
              "sensitivity")


def _cmd_plot(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")

    from cmo_sim import plot

    _check_output(Path(args.out))
    results = _open_any(args.results)
    kind = args.kind
    if kind in ("regime_map", "sensitivity") and not hasattr(results, "design"):
        raise UserError(f"--kind {kind} needs a sweep store (made by 'cmo-sim sweep')")
    if kind == "trajectories":
        fig = plot.trajectories(results, args.variables or ("trust", "synergy"), by=args.by)
    elif kind == "compare":
        fig = plot.compare(results, args.outcome or "performance", by=args.by)
    elif kind == "survival":
        fig = plot.survival(results, by=args.by)
    elif kind == "end_states":
        fig = plot.end_states(results, by=args.by)
    elif kind == "partnership":
        fig = plot.partnership(results, args.run)
    elif kind == "regime_map":
        factors = list(results.design.columns)
        x = args.x or factors[0]
        y = args.y or (factors[1] if len(factors) > 1 else None)
        if y is None:
            raise UserError("--kind regime_map needs a sweep over two factors (--x and --y)")
        fig = plot.regime_map(results, x, y, args.outcome or "regime")
    else:
        from cmo_sim.analysis import sobol_indices

        fig = plot.sensitivity(sobol_indices(results, args.outcome or "performance"))
    return _save(fig, Path(args.out), args.dpi)


def _save(fig, out: Path, dpi: int) -> int:
    """Write a figure whole (creating its folder), close it and say where it went."""
    import matplotlib.pyplot as plt

    try:
        _write_file(out, lambda tmp: fig.savefig(tmp, dpi=dpi, format=out.suffix[1:].lower()))
    finally:
        plt.close(fig)
    print(f"wrote {out}")
    return 0


def _cmd_theory_graph(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")

    from cmo_sim import load_theory
    from cmo_sim.plot import theory_graph

    _check_output(Path(args.out))
    theory = load_theory(args.theory)
    if args.without:
        try:
            theory = theory.without(*args.without)
        except KeyError as exc:
            raise UserError(f"--without: {exc.args[0]}") from None
    fig = theory_graph(theory)
    return _save(fig, Path(args.out), args.dpi)


def _cmd_explain(args: argparse.Namespace) -> int:
    from cmo_sim import load_scenario
    from cmo_sim.abm import explain

    scenario = load_scenario(args.scenario) if args.scenario else load_scenario(DEFAULT_SCENARIO)
    explanation = explain(scenario, seed=args.seed, replicate=args.replicate, steps=args.steps,
                          theory=args.theory)
    print(explanation.story)
    if args.events:
        with pd.option_context("display.width", 200, "display.max_rows", None):
            print(explanation.events.to_string(index=False))
    return 0


#: Exit status of ``cmo-sim conformance`` when a rule fails a check (mistakes exit 1).
CONFORMANCE_FAILED = 2


def _cmd_discover(args: argparse.Namespace) -> int:
    from cmo_sim.analysis import discover
    from cmo_sim.sweep import open_sweep

    store = Path(args.store)
    if not (store / "manifest.json").is_file():
        raise UserError(f"{store}: no sweep store here (run 'cmo-sim sweep' first)")
    if args.out is not None:
        _check_output(Path(args.out))
    results = open_sweep(store)
    found = discover(results, args.outcome, threshold=args.threshold, above=not args.below,
                     per=args.per, method=args.method, density=args.density)
    meta = found.meta
    side = "below" if args.below else "above"
    print(f"{meta['outcome']} {side} {meta['threshold']:g}: {meta['of_interest']:.1%} of "
          f"{meta['cases']} {meta['per']}s ({meta['method'].upper()})")
    for k, box in enumerate(found.boxes[:args.boxes], start=1):
        print(f"box {k}: {box}")
        for factor, rules in box.rules.items():
            if rules:
                print(f"  {factor}: {', '.join(rules)}")
    print("feature scores (extra trees):")
    for factor, score in found.feature_scores.items():
        print(f"  {factor:32s} {score:.3f}")
    if args.out is not None:
        import matplotlib

        matplotlib.use("Agg")
        return _save(found.plot(), Path(args.out), 110)
    return 0


def _change(text: str) -> dict:
    """An argparse type: ``path=value[,path=value...]`` as a mapping of typed values."""
    change = {}
    for part in text.split(","):
        path, sep, raw = part.partition("=")
        if not sep or not path.strip() or not raw.strip():
            raise argparse.ArgumentTypeError(
                f"{part!r} is not 'context=value' (e.g. leadership=0.9)")
        raw = raw.strip()
        if raw.lower() in ("true", "false"):
            value: object = raw.lower() == "true"
        else:
            try:
                value = float(raw)
            except ValueError:
                value = raw
        change[path.strip()] = value
    return change


def _cmd_levers(args: argparse.Namespace) -> int:
    from cmo_sim import load_scenario
    from cmo_sim.analysis import levers

    scenario = load_scenario(args.scenario) if args.scenario else load_scenario(DEFAULT_SCENARIO)
    if args.out is not None:
        _check_output(Path(args.out))
    report = levers(scenario, args.change, at=args.at, outcomes=args.outcomes, runs=args.runs,
                    steps=args.steps, seed=args.seed, theory=args.theory,
                    progress=not args.quiet)
    first = report.meta["outcomes"][0]
    print(f"levers for {scenario.name}: {args.runs} paired runs each, {args.steps} months, "
          f"seed {args.seed}; ranked by {first}")
    table = report.table.pivot_table(index=["rank", "lever", "month"], columns="outcome",
                                     values="effect", sort=False).reset_index()
    table = table.sort_values("rank")
    ranking = report.ranking.set_index(["lever", "month"])
    table[f"{first} 95% CI"] = [
        f"[{ranking.loc[(row.lever, row.month), 'ci_low']:+.3f}, "
        f"{ranking.loc[(row.lever, row.month), 'ci_high']:+.3f}]"
        for row in table.itertuples()]
    with pd.option_context("display.width", 160, "display.precision", 3,
                           "display.max_columns", None):
        print(table.to_string(index=False))
    if args.out is not None:
        import matplotlib

        matplotlib.use("Agg")
        return _save(report.plot(), Path(args.out), 110)
    return 0


def _cmd_conformance(args: argparse.Namespace) -> int:
    from cmo_sim.analysis import conformance

    out = Path(args.out)
    _check_file_output(out, "--out")
    if args.rules:
        from cmo_sim import load_theory

        theory = load_theory(args.theory)
        for rule_id in args.rules:
            try:
                theory.rule(rule_id)
            except KeyError as exc:
                raise UserError(f"--rules: {exc.args[0]}") from None

    def progress(rule_id: str) -> None:
        print(f"  {rule_id}", file=sys.stderr, flush=True)

    report = conformance(
        args.theory, replicates=args.replicates, backgrounds=args.backgrounds, steps=args.steps,
        seed=args.seed, rules=args.rules or None, progress=None if args.quiet else progress,
    )
    table = report.table
    text = report.to_markdown()
    _write_file(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print(f"{len(table)} rules: direction {int(table['pass'].sum())} pass, ablation "
          f"{int(table['ablation_pass'].sum())} pass ({report.meta['seconds']:.0f} s)")
    for row in report.failures.to_dict("records"):
        checks = [name for name, ok in (("direction", row["pass"]),
                                        ("ablation", row["ablation_pass"])) if not ok]
        print(f"FAIL {row['rule']}: {' and '.join(checks)} (effect {row['effect']:.3g} "
              f"[{row['ci_low']:.3g}, {row['ci_high']:.3g}], ablated "
              f"{row['effect_ablated']:.3g})")
    print(f"wrote {out}")
    return CONFORMANCE_FAILED if len(report.failures) else 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")

    from cmo_sim import load_scenario
    from cmo_sim._yaml import read_yaml_file
    from cmo_sim.calibrate import CalibrationError, calibrate, load_targets

    out = Path(args.out)
    _check_folder_output(out, "--out", {"calibration": True})
    targets = load_targets(args.targets)
    data = read_yaml_file(args.vary, "vary", CalibrationError)
    if isinstance(data, dict) and set(data) == {"vary"}:
        data = data["vary"]
    if not isinstance(data, dict):
        raise UserError(f"--vary: {args.vary}: expected a mapping of parameter to [low, high], "
                        "e.g. 'faith_initial: [0.4, 0.8]'")
    scenarios = [load_scenario(path) for path in args.scenario]
    result = calibrate(args.theory, scenarios, targets, data, runs=args.runs, steps=args.steps,
                       population=args.population, generations=args.generations,
                       seed=args.seed, workers=args.workers, progress=not args.quiet)
    print(f"calibrated {', '.join(str(k) for k in data)} to {len(targets)} targets: "
          f"{args.runs} runs per scenario, {args.steps} months, population {args.population}, "
          f"at most {args.generations} generations, seed {args.seed}")
    table = result.table.merge(result.predictive[["q05", "q95"]], left_index=True,
                               right_index=True)
    table["state"] = table["state"].fillna("")
    shown = table[["scenario", "measure", "month", "state", "value", "tolerance", "simulated",
                   "within_tolerance", "q05", "q95"]]
    with pd.option_context("display.width", 160, "display.precision", 3,
                           "display.max_columns", None, "display.max_rows", 200):
        print(f"epsilon {result.epsilon:.3g} after {len(result.history)} generations "
              f"({'every target within its tolerance' if result.converged else 'not converged'})")
        print(result.parameters.to_string(index=False))
        print("targets (simulated at the posterior median; q05-q95: posterior-predictive band)")
        print(shown.to_string(index=False))
    _write_folder(out, lambda folder: result.save(folder / "calibration", figures=True))
    print(f"wrote {out / 'calibration'} (Parquet tables, settings.yaml, summary.yaml, "
          "best_theory.yaml, posterior.png, predictive.png)")
    return 0


def _theory_option(parser: argparse.ArgumentParser) -> None:
    """The ``--theory`` option every simulating command shares."""
    parser.add_argument("--theory", default=None, help="theory YAML (default: the review's)")


def _cmd_app(args: argparse.Namespace) -> int:
    from cmo_sim.app._server import app_available, serve

    problem = app_available()
    if problem is not None:
        raise UserError(problem)
    if args.scenario is not None:
        _check_path(Path(args.scenario), "--scenario")
    return serve(args.host, args.port, args.scenario)


class _Help(argparse.HelpFormatter):
    """Help that shows each option's default (unless its text already says it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or default in (None, False, argparse.SUPPRESS)
                or isinstance(default, list | tuple) and not default
                or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 1 for usage errors (the usage line, then one error line)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cmo-sim",
        description="Simulate inter-organisational partnerships from a realist programme theory.",
    )
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("cmo-sim")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        installed = "unknown"
    parser.add_argument("--version", action="version", version=f"cmo-sim {installed}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="simulate scenarios and summarise",
                         description="Simulate scenarios (default: a typical voluntary dyad), "
                         "print a summary table, write results (Parquet) and a trajectory figure.")
    run.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenario YAML files")
    run.add_argument("--runs", type=_positive, default=1000, help="replicates per scenario")
    run.add_argument("--steps", type=_positive, default=120, help="months (default 120)")
    run.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    run.add_argument("--every", type=_positive, default=1, help="record every k months")
    _theory_option(run)
    run.add_argument("--out", default="out", help="output folder (default ./out)")
    run.add_argument("--engine", choices=("batch", "fused", "abm"), default="batch",
                     help="batch (numpy, default), fused (compiled by numba: faster on large "
                     "runs; the fast extra) or abm (the Mesa reference engine; slow)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=_cmd_run)

    theory = sub.add_parser("theory", help="the programme theory",
                            description="Inspect the programme theory.")
    theory_sub = theory.add_subparsers(dest="theory_command", required=True, metavar="COMMAND")
    show = theory_sub.add_parser("show", help="print the rule table",
                                 description="Print the rule table of a theory file (default: "
                                 "the review's theory).")
    show.add_argument("file", nargs="?", default=None, metavar="FILE",
                      help="theory YAML (default: the review's)")
    _theory_option(show)
    show.add_argument("--provenance", action="store_true", help="include provenance")
    show.set_defaults(func=_cmd_theory_show)
    check_theories = theory_sub.add_parser(
        "check", help="validate theory files",
        description="Validate theory files: one line per problem; exit 1 if any file has one.")
    check_theories.add_argument("files", nargs="+", metavar="FILE", help="theory YAML files")
    check_theories.set_defaults(func=_cmd_theory_check)
    graph = theory_sub.add_parser(
        "graph", help="draw the theory as a context -> mechanism -> outcome network",
        description="Draw the programme theory as a network (edges by sign and weight; "
        "ablated rules grey).")
    graph.add_argument("--out", default="theory.png", help="image file (default theory.png)")
    _theory_option(graph)
    graph.add_argument("--without", nargs="+", metavar="RULE", default=(),
                       help="rule ids to ablate (drawn grey)")
    graph.add_argument("--dpi", type=_positive, default=110)
    graph.set_defaults(func=_cmd_theory_graph)

    scenario = sub.add_parser("scenario", help="scenario files",
                              description="Work with scenario files.")
    scenario_sub = scenario.add_subparsers(dest="scenario_command", required=True,
                                           metavar="COMMAND")
    check = scenario_sub.add_parser("check", help="validate scenario files",
                                    description="Validate scenario files; exit 1 if any is bad.")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=_cmd_scenario_check)
    schema = scenario_sub.add_parser(
        "schema", help="write a JSON Schema of scenario files",
        description="Write a JSON Schema (draft 2020-12) of scenario files, with every field's "
        "meaning and allowed values, so an editor can validate and complete them (for VS Code's "
        "YAML extension: '# yaml-language-server: $schema=scenario.schema.json').")
    schema.add_argument("--out", default=None,
                        help="JSON file to write (default: print to standard output)")
    _theory_option(schema)
    schema.set_defaults(func=_cmd_scenario_schema)

    from cmo_sim.core.runner import TRAJECTORY_DTYPES
    from cmo_sim.sweep._run import sweep_engines

    sweep = sub.add_parser(
        "sweep", help="run a scenario sweep into a resumable store",
        description="Run the sweep a sweep file describes (base scenario, factors, design) and "
        "write each finished chunk to the store; run it again with the same store to resume. "
        "Prints the mean outcomes per design point and a sensitivity table.")
    sweep.add_argument("file", metavar="SWEEP", help="sweep YAML file")
    sweep.add_argument("--store", required=True,
                       help="store directory (ending .zarr for Zarr, else Parquet)")
    sweep.add_argument("--executor", default="local",
                       help="local (default), processes, processes:N, or dask://host:port")
    sweep.add_argument("--steps", type=_positive, default=None,
                       help="months (default: the file's, else 120)")
    sweep.add_argument("--seed", type=_seed, default=None,
                       help="random seed (default: the file's, else 0)")
    _theory_option(sweep)
    sweep.add_argument("--chunk-runs", type=_positive, default=None,
                       help="runs per chunk (default: sized to memory and speed, a whole number "
                       "of chunks per worker; a store keeps its own)")
    sweep.add_argument("--record", type=_record, default=None,
                       help="summary, trajectory or a whole number k (every k months) "
                       "(default: the file's record, else summary)")
    sweep.add_argument("--trajectory-dtype", choices=TRAJECTORY_DTYPES, default="float64",
                       help="type of recorded float trajectories (float32 halves them; a "
                       "store is resumed with the type it was made with)")
    sweep.add_argument("--engine", choices=sweep_engines(), default="batch",
                       help="engine that runs the chunks: batch (the numpy core) or fused "
                       "(compiled by numba; the fast extra)")
    sweep.add_argument("--verify", choices=("full", "quick"), default="full",
                       help="on resume, check the finished chunks' checksums (full, default) or "
                       "only their files, row counts and run ranges (quick)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(func=_cmd_sweep)

    plot = sub.add_parser(
        "plot", help="plot saved results or a sweep store",
        description="Plot results written by 'cmo-sim run' (DIR/results) or a sweep store.")
    plot.add_argument("results", metavar="RESULTS", help="results folder or sweep store")
    plot.add_argument("--kind", choices=PLOT_KINDS, default="trajectories")
    plot.add_argument("--out", default="plot.png", help="image file (default plot.png)")
    plot.add_argument("--variables", nargs="+", default=None,
                      help="trajectories: variables (default trust synergy)")
    plot.add_argument("--outcome", default=None,
                      help="compare / sensitivity: a summary column (default performance); "
                      "regime_map: 'regime' (default) or a summary column")
    plot.add_argument("--by", default=None,
                      help="group runs by this column (default: scenario for the results of "
                      "'cmo-sim run', point, labelled by its factor values, for a sweep store)")
    plot.add_argument("--run", type=_seed, default=0, help="partnership: the run id")
    plot.add_argument("--x", default=None, help="regime_map: factor on the x axis")
    plot.add_argument("--y", default=None, help="regime_map: factor on the y axis")
    plot.add_argument("--dpi", type=_positive, default=110)
    plot.set_defaults(func=_cmd_plot)

    find = sub.add_parser(
        "discover", help="find the contexts in which an outcome happens (PRIM, CART)",
        description="Scenario discovery on a sweep store: the box of contexts in which an "
        "outcome is above (or below) a threshold, the theory's rules on each bounding factor, "
        "and every factor's importance. Needs the EMA Workbench: pip install "
        "'cmo-sim[discovery]'.")
    find.add_argument("store", metavar="STORE", help="sweep store made by 'cmo-sim sweep'")
    find.add_argument("--outcome", default="dissolved",
                      help="summary column (default dissolved: the share dissolved per point)")
    find.add_argument("--threshold", type=float, default=0.5,
                      help="a case is of interest above this value (default 0.5)")
    find.add_argument("--below", action="store_true", help="of interest below the threshold")
    find.add_argument("--per", choices=("point", "run"), default="point",
                      help="cases: design points (means over replicates, default) or runs")
    find.add_argument("--method", choices=("prim", "cart"), default="prim",
                      help="prim (default) or cart")
    find.add_argument("--density", type=float, default=0.8,
                      help="PRIM: peel until this density (default 0.8)")
    find.add_argument("--boxes", type=_positive, default=3, help="boxes to print (default 3)")
    find.add_argument("--out", default=None, help="also draw the trajectory and box (.png)")
    find.set_defaults(func=_cmd_discover)

    lever = sub.add_parser(
        "levers", help="rank context changes by their effect, and when to make them",
        description="Pull each candidate change at each month on the scenario's timeline and "
        "compare with the unchanged partnership on the same random numbers.")
    lever.add_argument("scenario", nargs="?", metavar="SCENARIO",
                       help="scenario YAML (default: a typical voluntary dyad)")
    lever.add_argument("--change", type=_change, action="append", required=True,
                       metavar="PATH=VALUE[,PATH=VALUE]",
                       help="a candidate lever (repeat for several), e.g. leadership=0.9")
    lever.add_argument("--at", type=_seed, nargs="+", default=[0, 6, 12, 24], metavar="MONTH",
                       help="months at which to pull each lever (default 0 6 12 24)")
    lever.add_argument("--outcomes", nargs="+", default=["dissolved", "performance"],
                       help="outcomes; the first ranks the levers (default dissolved "
                       "performance)")
    lever.add_argument("--runs", type=_positive, default=1000)
    lever.add_argument("--steps", type=_positive, default=120)
    lever.add_argument("--seed", type=_seed, default=0)
    _theory_option(lever)
    lever.add_argument("--out", default=None, help="also draw the levers (.png)")
    lever.add_argument("--quiet", action="store_true", help="no progress bar")
    lever.set_defaults(func=_cmd_levers)

    why = sub.add_parser(
        "explain", help="tell why one simulated partnership ended as it did",
        description="Run one partnership in the Mesa engine and print the story of why it ended "
        "as it did (and, with --events, its event log).")
    why.add_argument("scenario", nargs="?", metavar="SCENARIO",
                     help="scenario YAML (default: a typical voluntary dyad)")
    why.add_argument("--seed", type=_seed, default=0)
    why.add_argument("--replicate", type=_seed, default=0)
    why.add_argument("--steps", type=_positive, default=120)
    _theory_option(why)
    why.add_argument("--events", action="store_true", help="also print the event log")
    why.set_defaults(func=_cmd_explain)

    conf = sub.add_parser(
        "conformance", help="test every rule's direction and its ablation; write a report",
        description="For every rule, raise its context from low to high across background "
        "scenarios with common random numbers, estimate the effect on its outcome with a "
        "confidence interval, and check that ablating the rule removes the effect. Writes a "
        "Markdown report; see docs/conformance.md. Exit status: 0 when every rule passes, "
        f"{CONFORMANCE_FAILED} when any fails (the report is written either way), 1 on a "
        "mistake.")
    conf.add_argument("--replicates", type=_positive, default=200,
                      help="paired replicates per background (default 200)")
    conf.add_argument("--backgrounds", type=_positive, default=8,
                      help="background scenarios (default 8)")
    conf.add_argument("--steps", type=_positive, default=60, help="months (default 60)")
    conf.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    _theory_option(conf)
    conf.add_argument("--rules", nargs="+", metavar="RULE", default=None,
                      help="test only these rule ids")
    conf.add_argument("--out", default="conformance.md",
                      help="Markdown report (default conformance.md)")
    conf.add_argument("--quiet", action="store_true", help="do not list rules as they run")
    conf.set_defaults(func=_cmd_conformance)

    fit = sub.add_parser(
        "calibrate", help="fit baseline constants and rule weights to observed targets",
        description="Calibrate by ABC-SMC (pyabc): find the baseline constants and rule "
        "weights, within uniform priors, under which the scenarios reproduce the targets within "
        "their tolerances. Writes the posterior, the fit per target and the posterior-"
        "predictive check; see docs/calibration.md. Needs pyabc: pip install "
        "'cmo-sim[calibrate]'.")
    fit.add_argument("targets", metavar="TARGETS", help="targets file (.yaml or .csv)")
    fit.add_argument("--scenario", action="append", required=True, metavar="SCENARIO",
                     help="scenario YAML the targets name (repeat for several)")
    fit.add_argument("--vary", required=True, metavar="VARY",
                     help="YAML mapping of parameter to [low, high]: a baseline constant, or "
                     "rule:<id> for a rule's weight")
    _theory_option(fit)
    fit.add_argument("--runs", type=_positive, default=500,
                     help="replicates per scenario in each evaluation (default 500)")
    fit.add_argument("--steps", type=_positive, default=120, help="months (default 120)")
    fit.add_argument("--population", type=_whole(5), default=100,
                     help="parameter sets per generation (default 100)")
    fit.add_argument("--generations", type=_positive, default=6,
                     help="most generations (default 6; stops once every target is met)")
    fit.add_argument("--workers", type=_positive, default=1,
                     help="processes (default 1: repeatable; more: faster, not repeatable)")
    fit.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    fit.add_argument("--out", required=True, help="output folder")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.set_defaults(func=_cmd_calibrate)

    app = sub.add_parser(
        "app", help="serve the interactive explorer in a web browser",
        description="Serve the explorer (a Solara page): contexts as controls, one partnership "
        "of the Mesa engine stepped live, and 1,000 runs of the numpy core recomputed when a "
        "control moves; see docs/app.md. Needs the app extra: pip install 'cmo-sim[app]'.")
    app.add_argument("--port", type=int, default=8765, help="port to listen on")
    app.add_argument("--host", default="localhost", help="host name or address to listen on")
    app.add_argument("--scenario", metavar="FILE", default=None,
                     help="scenario YAML to start from (default: a typical voluntary dyad)")
    app.set_defaults(func=_cmd_app)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cmo-sim`` command."""
    from cmo_sim import ScenarioError, TheoryError

    parser = _parser()
    args = parser.parse_args(argv)
    previous = _catch_termination()
    try:
        return int(args.func(args))
    except (ScenarioError, TheoryError, UserError, ValueError) as exc:
        print(f"cmo-sim: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except Terminated as exc:
        print(f"cmo-sim: stopped by {signal.Signals(exc.signum).name}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("cmo-sim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of the output went away (``cmo-sim theory show | head``): stop quietly,
        # and keep Python from reporting the closed pipe again at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:  # no space left, permission denied, not a directory, ...
        print(f"cmo-sim: error: {_one_line(_os_error_line(exc))}", file=sys.stderr)
        return 1
    except MemoryError:
        print("cmo-sim: error: out of memory (ask for fewer runs, or set CMO_SIM_MAX_MEMORY "
              "lower so that requests this large are refused before they start)",
              file=sys.stderr)
        return 1
    finally:
        _restore_signals(previous)


def _one_line(message: str) -> str:
    """A message on one line (newlines folded), at most 2,000 characters."""
    from cmo_sim._errors import MAX_MESSAGE_CHARS, shorten

    return shorten(" ".join(message.split()), MAX_MESSAGE_CHARS, middle=True)


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(signum)


def _catch_termination() -> dict[int, object]:
    """Make SIGTERM and SIGHUP unwind like Ctrl-C (so finally blocks close pools and stores).

    Signals that are ignored (``nohup``) stay ignored; outside the main thread nothing changes.
    """
    previous: dict[int, object] = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        try:
            current = signal.getsignal(signum)
            if current is signal.SIG_IGN:
                continue
            signal.signal(signum, _terminate)
        except (ValueError, OSError):  # not the main thread
            continue
        previous[signum] = current
    return previous


def _restore_signals(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        try:
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        except (ValueError, OSError, TypeError):
            pass


if __name__ == "__main__":
    sys.exit(main())
