"""Render every plot kind of ``cmo_sim.plot`` from the shipped scenarios into PNG files.

Usage::

    python experiments/gallery.py [--out experiments/out/gallery] [--runs 200] [--steps 120]

Writes one PNG per figure into ``--out`` and small copies of a few of them (900 px wide) into
``--docs`` (``docs/img``) for the README. The regime map comes from a grid over two contexts of
the voluntary alliance: through ``cmo_sim.run_sweep`` when the sweep module provides it, else
by simulating one scenario variant per grid cell. The sensitivity figure comes from
``cmo_sim.analysis.sobol_indices`` when available, else from SALib run directly on a Sobol
sample of scenario variants; without either nothing is computed and the figure is skipped.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import io
import itertools
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import cmo_sim  # noqa: E402
from cmo_sim import plot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
#: Scenarios shown where one panel holds one curve per scenario (more would be unreadable).
FEATURED = ("voluntary_alliance", "mandated_merger", "modest_first_steps",
            "overambitious_integrated_care")
SURVIVAL = (*FEATURED, "leadership_turnover", "aco_alliance")
#: One scenario of each kind of ending: the end states over months.
FORMS = ("voluntary_alliance", "mandated_merger", "buddying", "large_network")
#: The partnership whose single-run history is drawn (six members, exits before dissolution).
PARTNERSHIP = "aco_alliance"
#: The regime-map grid: two contexts of the base scenario and their levels.
GRID_BASE = "voluntary_alliance"
GRID = {"leadership": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
        "ambition_bias": (-0.8, -0.4, 0.0, 0.4, 0.8)}
#: Sobol factors (ranges) and the outcome analysed.
SOBOL_FACTORS = {"leadership": (0.0, 1.0), "shared_vision": (0.0, 1.0),
                 "conflict_resolution": (0.0, 1.0), "ambition_bias": (-1.0, 1.0)}
SOBOL_OUTCOME = "performance"
#: Figures copied small into docs/img for the README.
README_FIGURES = ("trajectories", "survival", "end_states", "regime_map", "theory_graph")
README_WIDTH_PX = 900
README_DPI = 90
README_MAX_BYTES = 150_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "out" / "gallery",
                        help="directory for the PNG files (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=200,
                        help="replicates per scenario and per grid cell (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=120,
                        help="months simulated (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sobol-samples", type=int, default=64,
                        help="Sobol base sample size, a power of 2 (default: %(default)s)")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "img",
                        help="directory for the small README copies (default: %(default)s)")
    parser.add_argument("--no-docs", action="store_true", help="do not write the README copies")
    args = parser.parse_args(argv)
    for name in ("runs", "steps", "sobol_samples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: must be >= 1")
    return args


def scenario(name: str) -> cmo_sim.Scenario:
    return cmo_sim.load_scenario(SCENARIOS / f"{name}.yaml")


def grid_summary(args: argparse.Namespace) -> pd.DataFrame:
    """Per-run summary over the regime grid, one column per grid factor."""
    base = scenario(GRID_BASE)
    run_sweep = getattr(cmo_sim, "run_sweep", None)
    if run_sweep is not None:
        from cmo_sim.sweep import Sweep

        sweep = Sweep(base, vary={k: list(v) for k, v in GRID.items()}, design="grid",
                      replicates=args.runs)
        accepted = inspect.signature(run_sweep).parameters
        options = {k: v for k, v in (("steps", args.steps), ("seed", args.seed),
                                     ("progress", False)) if k in accepted}
        summary = run_sweep(sweep, **options).summary
        if set(GRID) <= set(summary.columns):
            print(f"regime map: {sweep.n_runs} runs through cmo_sim.run_sweep")
            return summary
        print(f"run_sweep's summary lacks the factor columns {list(GRID)}; "
              "simulating the grid cell by cell instead")
    cells = list(itertools.product(*GRID.values()))
    variants = [base.with_values({"name": f"cell{k:03d}", **dict(zip(GRID, values,
                                                                       strict=True))})
                for k, values in enumerate(cells)]
    results = cmo_sim.simulate(variants, runs=args.runs, steps=args.steps, seed=args.seed)
    print(f"regime map: {results.n_runs} runs simulated cell by cell")
    summary = results.summary.copy()
    cell = summary["scenario"].str.removeprefix("cell").astype(int).to_numpy()
    for j, factor in enumerate(GRID):
        summary[factor] = np.array([values[j] for values in cells])[cell]
    return summary


def sobol(args: argparse.Namespace):
    """Sobol indices of the Sobol factors on performance, or None (with a note) if unavailable."""
    base = scenario(GRID_BASE)
    try:
        analysis = importlib.import_module("cmo_sim.analysis")
    except ImportError:
        analysis = None
    sobol_indices = getattr(analysis, "sobol_indices", None)
    run_sweep = getattr(cmo_sim, "run_sweep", None)
    if sobol_indices is not None and run_sweep is not None:
        from cmo_sim.sweep import Sweep

        sweep = Sweep(base, vary=SOBOL_FACTORS, design="sobol", samples=args.sobol_samples,
                      replicates=max(1, args.runs // 25))
        accepted = inspect.signature(run_sweep).parameters
        options = {k: v for k, v in (("steps", args.steps), ("seed", args.seed),
                                     ("progress", False)) if k in accepted}
        print(f"sensitivity: {sweep.n_runs} runs, cmo_sim.analysis.sobol_indices")
        return sobol_indices(run_sweep(sweep, **options), SOBOL_OUTCOME)
    try:
        from SALib.analyze import sobol as sobol_analyze
        from SALib.sample import sobol as sobol_sample
    except ImportError:
        print("sensitivity: skipped; the sensitivity figure needs the analysis module "
              "(cmo_sim.analysis.sobol_indices) or SALib")
        return None
    names = list(SOBOL_FACTORS)
    problem = {"num_vars": len(names), "names": names,
               "bounds": [list(SOBOL_FACTORS[n]) for n in names]}
    design = sobol_sample.sample(problem, args.sobol_samples, calc_second_order=False,
                                 seed=args.seed)
    variants = [base.with_values({"name": f"point{k:05d}",
                                  **{n: float(v) for n, v in zip(names, row, strict=True)}})
                for k, row in enumerate(design)]
    replicates = max(1, args.runs // 25)
    results = cmo_sim.simulate(variants, runs=replicates, steps=args.steps, seed=args.seed)
    print(f"sensitivity: {results.n_runs} runs, SALib's Sobol analysis")
    # The outcome of a point is its mean over replicates (common random numbers across points).
    outcome = (results.summary.groupby("scenario", sort=False)[SOBOL_OUTCOME].mean()
               .reindex([v.name for v in variants]).to_numpy())
    return sobol_analyze.analyze(problem, outcome, calc_second_order=False, seed=args.seed)


def telling_run(results: cmo_sim.Results, name: str) -> int:
    """A run of scenario ``name`` in which members left before it dissolved (median lifetime).

    Falls back to dissolved runs, then to any run of the scenario.
    """
    summary = results.summary
    mine = summary[summary["scenario"] == name]
    n = int(mine["n_members"].iloc[0])
    active = results.trajectories["active"].sel(run=mine["run"].to_numpy()).values[..., :n]
    # Members out at the last month before dissolution (month dissolved_at) left early.
    at = mine["dissolved_at"].fillna(0).to_numpy().astype(np.int64)  # missing: never dissolved
    last = np.clip(at, 0, active.shape[1] - 1)
    early = (~active[np.arange(len(mine)), last]).any(axis=1) & mine["dissolved"].to_numpy()
    for chosen in (mine[early], mine[mine["dissolved"]], mine):
        if len(chosen):
            chosen = chosen.sort_values(["dissolved_at", "run"])
            return int(chosen["run"].iloc[len(chosen) // 2])
    raise ValueError(f"no runs of {name}")


#: Months at which the figures' numbers are recorded (beyond the steps simulated: the last).
CHECK_MONTHS = (12, 60, 120)
#: End states in the order the figures list them.
END_STATES = ("thriving", "struggling", "dissolved", "completed")


def _months(steps: np.ndarray) -> list[int]:
    return sorted({int(steps[np.searchsorted(steps, min(m, steps[-1]))]) for m in CHECK_MONTHS})


def _r(x: float) -> float:
    return round(float(x), 4)


def figure_numbers(featured: cmo_sim.Results, detailed: cmo_sim.Results,
                   forms: cmo_sim.Results, grid: pd.DataFrame,
                   theory: cmo_sim.Theory) -> dict:
    """The numbers each README figure shows, computed from the results it is drawn from.

    trajectories: per scenario and variable, the 5/50/95% quantiles over all runs (a dissolved
    run at its last values, as the figure draws it) of the member mean, at a few months;
    survival: the share of runs still in place (not dissolved, not completed) at those months;
    end_states: the share in each end state at those months; regime_map: per cell, the
    majority end state and its share; theory_graph: how many rules, contexts, mechanisms and
    outcomes it draws.
    """
    out: dict = {"trajectories": {}, "survival": {}, "end_states": {}, "regime_map": {}}
    traj = featured.trajectories
    months = _months(traj["step"].values)
    for name in dict.fromkeys(traj["scenario"].values.tolist()):
        runs = traj["scenario"].values == name
        for var in ("trust", "faith", "synergy"):
            data = traj[var].isel(run=np.flatnonzero(runs)).astype(float)
            if "member" in data.dims:
                data = data.mean("member", skipna=True)
            for m in months:
                q = np.nanquantile(data.sel(step=m).values, [0.05, 0.5, 0.95])
                out["trajectories"][f"{name}|{var}|{m}"] = [_r(v) for v in q]
    summary = detailed.summary
    for name, rows in summary.groupby("scenario", sort=False):
        ended = rows["ended_at"].to_numpy()
        for m in months:
            out["survival"][f"{name}|{m}"] = _r(np.mean(~(ended <= m)))
    regime = forms.trajectories["regime"]
    for name in dict.fromkeys(regime["scenario"].values.tolist()):
        codes = regime.isel(run=np.flatnonzero(regime["scenario"].values == name))
        for m in _months(regime["step"].values):
            at = codes.sel(step=m).values
            out["end_states"][f"{name}|{m}"] = [_r(np.mean(at == k))
                                                for k in range(len(END_STATES))]
    x, y = GRID
    for (a, b), rows in grid.groupby([x, y], sort=True):
        shares = rows["end_state"].value_counts(normalize=True)
        top = max(END_STATES, key=lambda state: (shares.get(state, 0.0),
                                                -END_STATES.index(state)))
        out["regime_map"][f"{x}={a:g}|{y}={b:g}"] = [top, _r(shares.get(top, 0.0))]
    rules = list(theory)
    out["theory_graph"] = {
        "rules": len(rules), "contexts": len({r.context for r in rules}),
        "mechanisms": len({r.mechanism for r in rules}),
        "outcomes": len({r.outcome for r in rules})}
    return out


def save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    return path


def save_small(fig, path: Path) -> Path:
    """Save ``fig`` 900 px wide (10 in at 90 dpi, relaid out) under 150 KB for the README.

    A figure whose PNG is larger is reduced to a palette of fewer colours (Pillow).
    """
    from PIL import Image

    width, height = fig.get_size_inches()
    fig.set_size_inches(README_WIDTH_PX / README_DPI, height * README_WIDTH_PX / README_DPI / width)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=README_DPI)
    data = buffer.getvalue()
    colours = 256
    while len(data) > README_MAX_BYTES and colours >= 16:
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
        out = io.BytesIO()
        image.quantize(colors=colours).save(out, format="PNG", optimize=True)
        data = out.getvalue()
        colours //= 2
    path.write_bytes(data)
    return path


def readme_results(args: argparse.Namespace):
    """The results the README figures are drawn from.

    ``(featured, detailed, forms, grid, theory)``: the featured scenarios' trajectories, the
    survival scenarios, one scenario of each kind of ending (recorded every 6 months), the
    regime grid's summary and the default theory.
    """
    detailed = cmo_sim.simulate([scenario(n) for n in SURVIVAL], runs=args.runs,
                                steps=args.steps, seed=args.seed, record="trajectory")
    featured = detailed.summary["scenario"].isin(FEATURED).to_numpy()
    subset = cmo_sim.Results(detailed.summary[featured],
                             detailed.trajectories.isel(run=np.flatnonzero(featured)),
                             detailed.meta)
    forms = cmo_sim.simulate([scenario(n) for n in FORMS], runs=args.runs, steps=args.steps,
                             seed=args.seed, record=min(6, args.steps))
    return subset, detailed, forms, grid_summary(args), cmo_sim.load_theory()


def main(argv: list[str] | None = None) -> dict[str, Path]:
    """Render the gallery; returns the written files by figure name."""
    args = parse_args(argv)
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    figures = {}

    every = sorted(SCENARIOS.glob("*.yaml"))
    overview = cmo_sim.simulate(every, runs=args.runs, steps=args.steps, seed=args.seed)
    figures["compare_performance"] = plot.compare(overview, "performance")
    figures["compare_dissolved_at"] = plot.compare(overview, "dissolved_at")

    subset, detailed, forms, grid, theory = readme_results(args)
    figures["trajectories"] = plot.trajectories(subset, ("trust", "faith", "synergy"))
    figures["survival"] = plot.survival(detailed)
    figures["end_states"] = plot.end_states(forms)
    run = telling_run(detailed, PARTNERSHIP)
    figures["partnership"] = plot.partnership(detailed, run)

    x, y = GRID
    figures["regime_map"] = plot.regime_map(grid, x, y, "regime")
    figures["regime_map_dissolved"] = plot.regime_map(grid, x, y, "dissolved")

    figures["theory_graph"] = plot.theory_graph(theory)
    figures["theory_graph_ablated"] = plot.theory_graph(
        theory.without("trust.success_loop", "trust.failure_loop"))

    indices = sobol(args)
    if indices is not None:
        figures["sensitivity"] = plot.sensitivity(indices)

    numbers = figure_numbers(subset, detailed, forms, grid, theory)
    written = {}
    if not args.no_docs:
        args.docs.mkdir(parents=True, exist_ok=True)
        target = args.docs / "figures.json"
        settings = {"runs": args.runs, "steps": args.steps, "seed": args.seed}
        target.write_text(json.dumps({"settings": settings, **numbers}, indent=1) + "\n",
                          encoding="utf-8")
        written["docs/figures.json"] = target
    for name, fig in figures.items():
        written[name] = save(fig, args.out / f"{name}.png")
        if not args.no_docs and name in README_FIGURES:
            args.docs.mkdir(parents=True, exist_ok=True)
            written[f"docs/{name}"] = save_small(fig, args.docs / f"{name}.png")
        plt.close(fig)
    for path in written.values():
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    print(f"{len(written)} files in {time.perf_counter() - started:.1f} s")
    return written


if __name__ == "__main__":
    main(sys.argv[1:])
