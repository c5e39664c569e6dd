"""``calibrate``: fit baseline constants and rule weights to observed targets by ABC-SMC.

Each parameter set proposed by pyabc's sequential Monte Carlo is run through
:func:`cmo_sim.simulate` on the same seed (common random numbers: two parameter sets differ
only by their effect, not by their random numbers), each target's measure is taken from the
runs, and the distance is the largest ``|simulated - observed| / tolerance`` over the targets,
so a distance of at most 1 means every target is met within its tolerance.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cmo_sim._simulate import as_scenarios, as_theory, simulate
from cmo_sim.calibrate._measures import record_for, simulated_values
from cmo_sim.calibrate._priors import Prior, apply, check_vary
from cmo_sim.calibrate._result import CalibrationResult, weighted_quantile
from cmo_sim.calibrate._targets import (
    CalibrationError,
    Target,
    check_targets,
    load_targets,
    targets_frame,
)
from cmo_sim.rng import normalise_seed
from cmo_sim.scenario import Scenario, check_steps
from cmo_sim.theory import Theory

__all__ = ["MISSING_DISTANCE", "calibrate"]

#: Distance given to a parameter set for which a target's measure is undefined (no run at risk
#: for a hazard, none ended for a median): far worse than any tolerance-scaled miss.
MISSING_DISTANCE = 1e6
#: pyabc's logger (it logs every generation at INFO); quietened while a calibration runs.
_PYABC_LOGGER = "ABC"


def _whole(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise CalibrationError(f"{name}: {value!r} is not allowed (an int >= {low})")
    return int(value)


def _end_states_reported() -> bool:
    """Whether this engine's summaries carry end states (``end_state``, ``ended_at``)."""
    import cmo_sim.results

    return hasattr(cmo_sim.results, "END_STATES")


def _distance(simulated: np.ndarray, observed: np.ndarray, tolerance: np.ndarray) -> float:
    """The largest tolerance-scaled miss; :data:`MISSING_DISTANCE` for an undefined measure."""
    scaled = np.abs(simulated - observed) / tolerance
    scaled = np.where(np.isnan(scaled), MISSING_DISTANCE, scaled)
    return float(np.max(scaled))


@contextlib.contextmanager
def _numpy_global_seed(seed: int):
    """Seed numpy's global RNG, which pyabc draws from, and restore the caller's state after.

    pyabc samples priors and perturbations from ``np.random``; seeding it here is the only way
    to make a single-core calibration repeatable, and the caller's stream is left as it was.
    """
    state = np.random.get_state()  # noqa: NPY002 - pyabc has no generator argument
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


@contextlib.contextmanager
def _quiet_pyabc():
    logger = logging.getLogger(_PYABC_LOGGER)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _progress_bar(total: int, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="calibrating", unit="generation", leave=False)


def calibrate(
    theory: Theory | str | os.PathLike | None,
    scenarios: Scenario | str | os.PathLike | Mapping | Sequence,
    targets: Any,
    vary: Mapping[str, Sequence[float]],
    *,
    runs: int = 500,
    steps: int | None = None,
    population: int = 100,
    generations: int = 6,
    seed: Any = 0,
    workers: int = 1,
    predictive: int = 20,
    progress: bool | None = None,
) -> CalibrationResult:
    """Fit baseline constants and rule weights to observed targets by ABC-SMC (pyabc).

    Parameters
    ----------
    theory : Theory, path or None
        The theory whose parameters are fitted (None: the review's default theory).
    scenarios : Scenario, path, mapping, or a list of them
        The scenarios the targets are about (targets name them by ``Scenario.name``).
    targets : list of Target or mappings, YAML or CSV path, or DataFrame
        See :func:`load_targets`.
    vary : mapping
        Parameter to ``(low, high)`` of its uniform prior: a baseline constant by name
        (``"faith_initial"``) or a rule's weight (``"rule:<id>"``).
    runs : int
        Replicates per scenario in each evaluation.
    steps : int, optional
        Months simulated (default 120); every target's month must be at most this.
    population : int
        Accepted parameter sets per generation (at least 5).
    generations : int
        Most generations; the run stops earlier once epsilon is at most 1 (every target
        within its tolerance).
    seed : int, numpy SeedSequence or Generator
        The seed of every evaluation's simulation (common random numbers) and of the sampler.
    workers : int
        Processes evaluating parameter sets (1: in this process, repeatable; more: pyabc's
        multicore sampler, whose accepted sets depend on the timing of the workers).
    predictive : int
        Posterior draws simulated (on fresh seeds) for the posterior-predictive check (>= 2).
    progress : bool, optional
        A progress bar over generations (default: when stderr is a terminal).

    Returns
    -------
    CalibrationResult

    Raises
    ------
    CalibrationError
        (a ValueError) for a bad target, prior or setting, naming the field; raised before
        anything is simulated. Errors of the theory or scenarios are their own ValueErrors.
    ImportError
        When pyabc is not installed (``pip install 'cmo-sim[calibrate]'``).
    """
    # -- every check before any simulation ---------------------------------------------------
    runs = _whole("runs", runs, 1)
    steps = 120 if steps is None else _whole("steps", steps, 1)
    population = _whole("population", population, 5)
    generations = _whole("generations", generations, 1)
    workers = _whole("workers", workers, 1)
    predictive = _whole("predictive", predictive, 2)
    seed_int = normalise_seed(seed)
    theory = as_theory(theory, CalibrationError)
    scenario_list = as_scenarios(scenarios)
    for scenario in scenario_list:
        check_steps(scenario, steps)
    target_list = load_targets(targets)
    check_targets(target_list, [s.name for s in scenario_list], steps,
                  end_states=_end_states_reported())
    priors = check_vary(vary, theory)
    record = record_for(target_list, steps)
    try:
        import pyabc
    except ImportError as exc:  # pragma: no cover - the extra is not installed
        raise ImportError("calibrate needs pyabc: pip install 'cmo-sim[calibrate]'") from exc

    observed = np.array([t.value for t in target_list])
    tolerance = np.array([t.tolerance for t in target_list])

    def evaluate(values: Mapping[str, float], run_seed: int = seed_int) -> np.ndarray:
        """Each target's simulated value under the parameters ``values`` (by prior name)."""
        variant = apply(theory, priors, values)
        results = simulate(scenario_list, runs=runs, steps=steps, seed=run_seed,
                           theory=variant, record=record, progress=False)
        return simulated_values(results, target_list, steps)

    # One evaluation in this process first: a problem of the simulation itself (too large a
    # request, say) is raised here as it is, not from inside a sampler's worker.
    evaluate({p.name: (p.low + p.high) / 2 for p in priors})

    history, posterior = _run_abc(pyabc, priors, evaluate, observed, tolerance,
                                  population=population, generations=generations,
                                  workers=workers, seed=seed_int, progress=progress)

    # -- the fit at the posterior median, and the posterior-predictive check ------------------
    weights = posterior["weight"].to_numpy()
    median = {p.name: weighted_quantile(posterior[p.name].to_numpy(), weights, 0.5)
              for p in priors}
    at_median = evaluate(median)
    table = targets_frame(target_list)
    table["simulated"] = at_median
    table["within_tolerance"] = np.abs(at_median - observed) <= tolerance
    table = table[["scenario", "measure", "month", "state", "value", "tolerance", "simulated",
                   "within_tolerance", "source"]]
    draws = _predictive(posterior, priors, evaluate, predictive, seed_int)
    predictive_table = _predictive_table(target_list, draws)
    settings = {
        "theory": theory.name,
        "theory_hash": theory.content_hash,
        "scenarios": [s.to_dict() for s in scenario_list],
        "vary": {p.name: [p.low, p.high] for p in priors},
        "runs": runs,
        "steps": steps,
        "record": record,
        "population": population,
        "generations": generations,
        "seed": seed_int,
        "workers": workers,
        "predictive": predictive,
        "minimum_epsilon": 1.0,
        "distance": "max over targets of |simulated - observed| / tolerance",
        "method": f"ABC-SMC (pyabc {pyabc.__version__})",
    }
    return CalibrationResult(
        posterior=posterior, table=table, predictive=predictive_table, history=history,
        targets=tuple(target_list), priors=tuple(priors), theory=theory,
        settings=settings, predictive_draws=draws,
    )


def _run_abc(pyabc: Any, priors: Sequence[Prior], evaluate: Callable[..., np.ndarray],
             observed: np.ndarray, tolerance: np.ndarray, *, population: int,
             generations: int, workers: int, seed: int,
             progress: bool | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run ABC-SMC; the history per generation and the last generation's weighted posterior."""
    names = {f"p{k}": p.name for k, p in enumerate(priors)}  # pyabc-safe parameter names
    prior = pyabc.Distribution(**{key: pyabc.RV("uniform", p.low, p.high - p.low)
                                  for key, p in zip(names, priors, strict=True)})
    keys = [f"t{k}" for k in range(observed.size)]

    def model(parameters: Mapping[str, float]) -> dict[str, float]:
        values = evaluate({names[key]: float(parameters[key]) for key in names})
        return dict(zip(keys, values.tolist(), strict=True))

    def distance(x: Mapping[str, float], x_0: Mapping[str, float]) -> float:
        simulated = np.array([x[k] for k in keys], dtype=np.float64)
        return _distance(simulated, observed, tolerance)

    sampler = (pyabc.sampler.SingleCoreSampler() if workers == 1
               else pyabc.sampler.MulticoreEvalParallelSampler(n_procs=workers))
    abc_seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
    bar = _progress_bar(generations, progress)
    with (tempfile.TemporaryDirectory(prefix="cmo-sim-abc-", ignore_cleanup_errors=True) as tmp,
          _quiet_pyabc(), _numpy_global_seed(abc_seed)):
        abc = pyabc.ABCSMC(model, prior, distance, population_size=population,
                           sampler=sampler, eps=pyabc.MedianEpsilon())
        db = "sqlite:///" + str(Path(tmp) / "calibration.db")
        abc.new(db, dict(zip(keys, observed.tolist(), strict=True)))
        try:
            # pyabc's own loop (ABCSMC.run), one generation at a time for the progress bar.
            t = abc.initialize_components_before_run(
                minimum_epsilon=1.0, max_nr_populations=generations, min_acceptance_rate=0.0,
                max_total_nr_simulations=np.inf, max_walltime=None, min_eps_diff=0.0)
            while True:
                done = abc.run_generation(t=t)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epsilon=f"{abc.eps(t):.3g}",
                                    acceptance=f"{done.get('acceptance_rate', math.nan):.2f}")
                if not done["successful"] or abc.check_terminate(
                        t=t, acceptance_rate=done["acceptance_rate"]):
                    break
                t += 1
        finally:
            if bar is not None:
                bar.close()
        history = abc.history
        frame, weights = history.get_distribution(m=0, t=history.max_t)
        posterior = pd.DataFrame({names[key]: frame[key].to_numpy(dtype=np.float64)
                                  for key in names})
        posterior["weight"] = np.asarray(weights, dtype=np.float64)
        populations = history.get_all_populations()
    populations = populations[populations["t"] >= 0]
    table = pd.DataFrame({
        "generation": populations["t"].to_numpy(dtype=np.int64),
        "epsilon": populations["epsilon"].to_numpy(dtype=np.float64),
        "accepted": populations["particles"].to_numpy(dtype=np.int64),
        "evaluations": populations["samples"].to_numpy(dtype=np.int64),
    })
    table["acceptance"] = table["accepted"] / table["evaluations"]
    return table, posterior


def _predictive(posterior: pd.DataFrame, priors: Sequence[Prior],
                evaluate: Callable[..., np.ndarray], draws: int, seed: int) -> pd.DataFrame:
    """Simulate ``draws`` weighted draws of the posterior, each on fresh random numbers.

    One row per draw and target: ``draw``, the parameters, ``target`` (index) and
    ``simulated``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    weights = posterior["weight"].to_numpy()
    picks = rng.choice(len(posterior), size=draws, replace=True, p=weights / weights.sum())
    seeds = np.random.SeedSequence([seed, 2]).generate_state(draws, dtype=np.uint64)
    rows = []
    for k, (pick, run_seed) in enumerate(zip(picks, seeds, strict=True)):
        values = {p.name: float(posterior[p.name].iloc[pick]) for p in priors}
        simulated = evaluate(values, int(run_seed))
        for j, value in enumerate(simulated):
            rows.append({"draw": k, **values, "target": j, "simulated": float(value)})
    return pd.DataFrame(rows)


def _predictive_table(targets: Sequence[Target], draws: pd.DataFrame) -> pd.DataFrame:
    """Per target: the 5/50/95% quantiles of the predictive draws and whether it lies in them."""
    table = targets_frame(targets)[["scenario", "measure", "month", "state", "value",
                                    "tolerance"]]
    grouped = draws.groupby("target")["simulated"]
    for name, q in (("q05", 0.05), ("q50", 0.5), ("q95", 0.95)):
        table[name] = grouped.quantile(q).reindex(range(len(targets))).to_numpy()
    table["in_band"] = (table["q05"] <= table["value"]) & (table["value"] <= table["q95"])
    return table
