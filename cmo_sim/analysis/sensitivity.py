"""Sensitivity of sweep outcomes to the varied contexts: Sobol indices and elementary effects.

Both work on the per-design-point mean of an outcome over its replicates. Because replicate
``r`` of every point shares its random numbers, two points that differ in one factor differ only
through that factor: a factor with no effect gets indices of exactly zero.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from cmo_sim.sweep.designs import Sweep, level_index
from cmo_sim.sweep.results import SweepResults

__all__ = ["elementary_effects", "sobol_indices"]


def _check_results(results: Any) -> SweepResults:
    if not isinstance(results, SweepResults):
        raise ValueError(f"results: {results!r} is not SweepResults (from cmo_sim.run_sweep)")
    return results


def _check_level(conf_level: Any) -> float:
    if isinstance(conf_level, bool) or not isinstance(conf_level, int | float) or not (
        0.0 < conf_level < 1.0
    ):
        raise ValueError(f"conf_level: {conf_level!r} is not allowed (a number in (0, 1))")
    return float(conf_level)


def _point_means(results: SweepResults, outcome: str) -> np.ndarray:
    y = results.point_means(outcome)
    missing = np.flatnonzero(~np.isfinite(y))
    if missing.size:
        why = (
            " (dissolved_at is defined only for runs that dissolved)"
            if outcome == "dissolved_at" else " (is the sweep unfinished?)"
        )
        raise ValueError(
            f"outcome: '{outcome}' has no value at {missing.size} design points, e.g. point "
            f"{missing[0]}{why}"
        )
    if np.ptp(y) == 0.0:
        raise ValueError(
            f"outcome: '{outcome}' is {float(y[0])!r} at every design point, so it has no variance "
            "to apportion (choose another outcome or wider ranges)"
        )
    return y


def sobol_indices(
    results: SweepResults,
    outcome: str,
    *,
    num_resamples: int = 200,
    conf_level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """First-order and total Sobol indices of an outcome, with bootstrap confidence intervals.

    The outcome is averaged over each design point's replicates and analysed with
    :func:`SALib.analyze.sobol.analyze` on the sweep's Sobol/Saltelli design.

    Parameters
    ----------
    results : SweepResults
        Of a sweep with ``design="sobol"``.
    outcome : str
        A numeric summary column, e.g. ``"dissolved"`` (the share dissolved) or
        ``"performance"``.
    num_resamples : int
        Bootstrap resamples for the confidence intervals.
    conf_level : float
        Confidence level of the intervals.
    seed : int
        Seeds the bootstrap (its own generator; nothing global).

    Returns
    -------
    pandas.DataFrame
        Index: the factor paths. Columns ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (SALib's
        half-widths: the interval is ``S1 +/- S1_conf``), and the bounds ``S1_low``,
        ``S1_high``, ``ST_low``, ``ST_high``.

    Raises
    ------
    ValueError
        If the sweep is not a Sobol design, the outcome is unknown, missing at some point or
        the same at every point.
    """
    results = _check_results(results)
    sweep = results.sweep
    if sweep.design != "sobol":
        raise ValueError(
            f"results: Sobol indices need a Sobol design (design='sobol'), not "
            f"'{sweep.design}'; use elementary_effects for a quick screen"
        )
    if isinstance(num_resamples, bool) or not isinstance(num_resamples, int) or num_resamples < 2:
        raise ValueError(f"num_resamples: {num_resamples!r} is not allowed (an int >= 2)")
    conf_level = _check_level(conf_level)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: {seed!r} is not allowed (an int >= 0)")
    y = _point_means(results, outcome)
    from SALib.analyze import sobol as salib_sobol

    # SALib falls back to numpy's global generator for a falsy seed: always pass a non-zero one.
    bootstrap = int(np.random.SeedSequence(int(seed)).generate_state(1)[0]) or 1
    with np.errstate(divide="ignore", invalid="ignore"):
        indices = salib_sobol.analyze(
            sweep.problem(), y, calc_second_order=False, num_resamples=num_resamples,
            conf_level=conf_level, seed=bootstrap,
        )
    table = pd.DataFrame(
        {name: np.asarray(indices[name], dtype=np.float64)
         for name in ("S1", "S1_conf", "ST", "ST_conf")},
        index=pd.Index(sweep.paths, name="factor"),
    )
    for name in ("S1", "ST"):
        table[f"{name}_low"] = table[name] - table[f"{name}_conf"]
        table[f"{name}_high"] = table[name] + table[f"{name}_conf"]
    table.attrs.update(outcome=outcome, conf_level=conf_level, base_samples=sweep.samples)
    return table


def _positions(sweep: Sweep) -> np.ndarray:
    """Each point's position on each factor's axis in [0, 1] (levels evenly for lists)."""
    pos = np.array(sweep.unit, dtype=np.float64, copy=True)
    for j, factor in enumerate(sweep.factors):
        if not factor.is_range:
            levels = len(factor.values)
            index = level_index(sweep.unit[:, j], factor)
            pos[:, j] = index / (levels - 1) if levels > 1 else 0.0
    return pos


def _pairs(sweep: Sweep) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each factor, the point pairs that differ in that factor only."""
    d = len(sweep.factors)
    if sweep.design == "sobol":
        # SALib's rows come in blocks [A, AB_1 .. AB_d, B]: A and AB_j differ in factor j only.
        block = d + 2
        starts = np.arange(0, sweep.n_points, block)
        return [(starts, starts + 1 + j) for j in range(d)]
    if sweep.design == "grid":
        levels = [
            sweep.samples if f.is_range else len(f.values) for f in sweep.factors
        ]
        strides = [math.prod(levels[j + 1 :]) for j in range(d)]
        points = np.arange(sweep.n_points)
        pairs = []
        for j in range(d):
            level = (points // strides[j]) % levels[j]
            low = points[level < levels[j] - 1]
            pairs.append((low, low + strides[j]))
        return pairs
    raise ValueError(
        f"results: elementary effects need a design with one-at-a-time steps, a grid or a "
        f"Sobol design, not '{sweep.design}'"
    )


def elementary_effects(
    results: SweepResults, outcome: str, *, conf_level: float = 0.95
) -> pd.DataFrame:
    """A one-at-a-time screen: elementary effects of each factor on an outcome.

    An elementary effect is the change of the outcome's point mean between two design points
    that differ in one factor only, divided by the step on that factor's axis scaled to [0, 1]
    (the full range, or the first to last listed value): the change over the whole range if the
    effect were linear. Grid designs give every step between neighbouring levels; Sobol designs
    give the radial steps from each base point (Campolongo, Saltelli & Cariboni 2011).

    Parameters
    ----------
    results : SweepResults
        Of a grid or Sobol sweep.
    outcome : str
        A numeric summary column.
    conf_level : float
        Level of the normal-approximation interval of ``mu_star``.

    Returns
    -------
    pandas.DataFrame
        Index: the factor paths. Columns ``mu`` (mean effect), ``mu_star`` (mean absolute
        effect: the importance), ``sigma`` (spread: non-linearity or interactions),
        ``mu_star_conf`` (interval half-width) and ``n`` (effects computed).
    """
    results = _check_results(results)
    conf_level = _check_level(conf_level)
    sweep = results.sweep
    pairs = _pairs(sweep)
    y = _point_means(results, outcome)
    pos = _positions(sweep)
    z = float(norm.ppf(0.5 + conf_level / 2))
    rows = []
    for j, (a, b) in enumerate(pairs):
        step = pos[b, j] - pos[a, j]
        keep = step != 0.0  # a listed factor may land on the same value twice
        effects = (y[b][keep] - y[a][keep]) / step[keep]
        n = effects.size
        rows.append(
            {
                "mu": effects.mean() if n else np.nan,
                "mu_star": np.abs(effects).mean() if n else np.nan,
                "sigma": effects.std(ddof=1) if n > 1 else np.nan,
                "mu_star_conf": z * np.abs(effects).std(ddof=1) / math.sqrt(n) if n > 1
                else np.nan,
                "n": n,
            }
        )
    table = pd.DataFrame(rows, index=pd.Index(sweep.paths, name="factor"))
    table.attrs.update(outcome=outcome, conf_level=conf_level)
    return table
