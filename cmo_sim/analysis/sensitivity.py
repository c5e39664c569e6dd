"""Sensitivity of sweep outcomes to the varied factors, for every kind of design.

Every method works on the per-design-point mean of an outcome over its replicates. Because
replicate ``r`` of every point shares its random numbers, two points that differ in one factor
differ only through that factor: a factor with no effect gets one-at-a-time indices of exactly
zero.

=========  =====================================================================
design     methods
=========  =====================================================================
sobol      :func:`sobol_indices` (first-order and total), :func:`elementary_effects`
morris     :func:`morris_indices` (SALib's Morris screen)
grid       :func:`elementary_effects`
lhs        :func:`delta_indices`, :func:`pawn_indices`, :func:`rbd_fast_indices`
=========  =====================================================================

:func:`sensitivity` picks the first method of the sweep's design. The random-design methods
(delta, PAWN, RBD-FAST) also work on Sobol, Morris and grid sweeps, whose points are spread over
the whole space too. A list design has no sensitivity: its factors move together.
"""

from __future__ import annotations

import math
import types
import warnings
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
from scipy.stats import norm

from cmo_sim.sweep.designs import Sweep, level_index
from cmo_sim.sweep.results import SweepResults

__all__ = [
    "SobolConvergenceWarning",
    "delta_indices",
    "elementary_effects",
    "morris_indices",
    "pawn_indices",
    "rbd_fast_indices",
    "sensitivity",
    "sobol_indices",
]

#: A Sobol interval half-width above this is called wide (an index known to within +/- 0.1).
WIDE_INTERVAL = 0.1


class SobolConvergenceWarning(UserWarning):
    """Sobol indices whose intervals say the sample was too small to trust them."""


def _check_results(results: Any) -> SweepResults:
    if not isinstance(results, SweepResults):
        raise ValueError(f"results: {results!r} is not SweepResults (from cmo_sim.run_sweep)")
    return results


def _check_count(name: str, value: Any, low: int) -> int:
    """An int >= ``low``; ValueError naming the argument otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name}: {value!r} is not allowed (an int >= {low})")
    return int(value)


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
            f"'{sweep.design}'; for this design use {_FITS[sweep.design]}"
        )
    _check_count("num_resamples", num_resamples, 2)
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
    table.attrs.update(outcome=outcome, conf_level=conf_level, base_samples=sweep.samples,
                       method="sobol")
    _warn_if_unconverged(table, sweep.samples)
    return table


def _warn_if_unconverged(table: pd.DataFrame, base_samples: int) -> None:
    """Warn when an index lies outside [0, 1] beyond its interval, or an interval is wide."""
    outside = [f"{name} {factor}: {table.loc[factor, name]:.3g}"
               for factor in table.index for name in ("S1", "ST")
               if table.loc[factor, f"{name}_high"] < 0 or table.loc[factor, f"{name}_low"] > 1]
    widest = float(np.nanmax(table[["S1_conf", "ST_conf"]].to_numpy()))
    if not outside and widest <= WIDE_INTERVAL:
        return
    # Interval widths shrink as 1 / sqrt(N): the base sample that would bring the widest
    # interval to WIDE_INTERVAL / 2, rounded up to a power of 2.
    factor = (widest / (WIDE_INTERVAL / 2)) ** 2
    needed = 1 << math.ceil(math.log2(max(base_samples * factor, base_samples * 2)))
    reasons = []
    if outside:
        reasons.append("indices outside [0, 1] beyond their interval (" + "; ".join(outside[:3])
                       + ")")
    if widest > WIDE_INTERVAL:
        reasons.append(f"an interval half-width of {widest:.2f}")
    warnings.warn(
        f"Sobol indices of '{table.attrs.get('outcome')}' look unconverged: "
        f"{' and '.join(reasons)} with base samples {base_samples}; about {needed} base samples "
        "would narrow every interval to +/- 0.05",
        SobolConvergenceWarning, stacklevel=3,
    )


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
        f"Sobol design, not '{sweep.design}'; for this design use {_FITS[sweep.design]}"
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
    table.attrs.update(outcome=outcome, conf_level=conf_level, method="elementary_effects")
    return table


#: What fits each design (named in refusals).
_FITS = {
    "sobol": "sobol_indices or elementary_effects",
    "morris": "morris_indices",
    "grid": "elementary_effects (or delta_indices, pawn_indices, rbd_fast_indices)",
    "lhs": "delta_indices, pawn_indices or rbd_fast_indices",
    "list": "nothing: a list design moves every factor together (use grid, lhs or sobol)",
}


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: {seed!r} is not allowed (an int >= 0)")
    return int(seed)


def _spread_design(results: SweepResults, method: str) -> tuple[np.ndarray, Sweep]:
    sweep = results.sweep
    if sweep.design == "list":
        raise ValueError(f"results: {method} needs points spread over the factors' space; a list "
                         "design moves every factor together (use grid, lhs, sobol or morris)")
    return _positions(sweep), sweep


def _table(sweep: Sweep, columns: dict[str, Any], outcome: str, method: str, **attrs: Any):
    table = pd.DataFrame({name: np.asarray(values, dtype=np.float64)
                          for name, values in columns.items()},
                         index=pd.Index(sweep.paths, name="factor"))
    table.attrs.update(outcome=outcome, method=method, **attrs)
    return table


class _LocalRandomNumpy(types.ModuleType):
    """numpy, but with ``numpy.random`` a seeded local RandomState (for SALib's delta method).

    SALib's delta bootstrap draws from numpy's global generator; handing it this module instead
    keeps its draws reproducible without seeding or touching the global generator.
    """

    def __init__(self, seed: int) -> None:
        super().__init__("numpy")
        self.random = np.random.RandomState(seed)

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


class _OwnWarnings(types.ModuleType):
    """``warnings`` for a library that changes filters and formats: those changes stay here."""

    def __init__(self) -> None:
        super().__init__("warnings")

    def simplefilter(self, *args: Any, **kwargs: Any) -> None:
        """Ignored: the caller's filters stay in force."""

    def __getattr__(self, name: str) -> Any:
        return getattr(warnings, name)


def delta_indices(
    results: SweepResults, outcome: str, *, num_resamples: int = 100, conf_level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Borgonovo's moment-independent delta and first-order indices (SALib's delta method).

    For random designs (LHS) and any design that spreads points over the space.

    Returns
    -------
    pandas.DataFrame
        Index: the factor paths. Columns ``delta_raw`` (Borgonovo's estimate from given data),
        ``delta_balanced`` (with its small-sample bias reduced), ``S1`` (first-order index
        from the same data), each with its bootstrap half-width ``*_conf``.
    """
    results = _check_results(results)
    conf_level = _check_level(conf_level)
    seed = _check_seed(seed)
    _check_count("num_resamples", num_resamples, 2)
    x, sweep = _spread_design(results, "the delta method")
    y = _point_means(results, outcome)
    from SALib.analyze import delta as salib_delta

    # SALib's delta would also reset the process's warning filters and format: it gets a
    # warnings module of its own for the call.
    with mock.patch.object(salib_delta, "np", _LocalRandomNumpy(seed)), \
            mock.patch.object(salib_delta, "warnings", _OwnWarnings()), \
            warnings.catch_warnings():
        # SALib prints its bin merges as warnings and divides by zero on flat bins: neither is
        # a problem of the user's data.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        indices = salib_delta.analyze(sweep.problem(), x, y, num_resamples=num_resamples,
                                      conf_level=conf_level, seed=None)
    names = ("delta_raw", "delta_raw_conf", "delta_balanced", "delta_balanced_conf", "S1",
             "S1_conf")
    return _table(sweep, {name: indices[name] for name in names}, outcome, "delta",
                  conf_level=conf_level)


def pawn_indices(results: SweepResults, outcome: str, *, slices: int = 10) -> pd.DataFrame:
    """PAWN indices (SALib): Kolmogorov-Smirnov distance of conditional outcome distributions.

    The outcome's point means are split into ``slices`` slices along each factor; columns
    ``minimum``, ``mean``, ``median``, ``maximum``, ``CV`` of the KS statistics (the median is
    the usual index).
    """
    results = _check_results(results)
    _check_count("slices", slices, 2)
    x, sweep = _spread_design(results, "PAWN")
    y = _point_means(results, outcome)
    if y.size < 2 * slices:
        raise ValueError(f"slices: {slices} slices need at least {2 * slices} design points "
                         f"(the sweep has {y.size})")
    from SALib.analyze import pawn as salib_pawn

    indices = salib_pawn.analyze(sweep.problem(), x, y, S=slices, seed=None)  # deterministic
    return _table(sweep, {name: indices[name] for name in ("minimum", "mean", "median",
                                                            "maximum", "CV")},
                  outcome, "pawn", slices=slices)


def rbd_fast_indices(
    results: SweepResults, outcome: str, *, harmonics: int = 10, num_resamples: int = 100,
    conf_level: float = 0.95, seed: int = 0,
) -> pd.DataFrame:
    """First-order indices by RBD-FAST (SALib), with bootstrap intervals.

    Columns ``S1`` and ``S1_conf``.
    """
    results = _check_results(results)
    conf_level = _check_level(conf_level)
    seed = _check_seed(seed)
    _check_count("harmonics", harmonics, 1)
    x, sweep = _spread_design(results, "RBD-FAST")
    y = _point_means(results, outcome)
    if y.size <= 2 * harmonics:
        raise ValueError(f"harmonics: {harmonics} harmonics need more than {2 * harmonics} design "
                         f"points (the sweep has {y.size})")
    from SALib.analyze import rbd_fast as salib_rbd

    indices = salib_rbd.analyze(sweep.problem(), x, y, M=harmonics, num_resamples=num_resamples,
                                conf_level=conf_level, seed=np.random.default_rng(seed))
    return _table(sweep, {"S1": indices["S1"], "S1_conf": indices["S1_conf"]}, outcome,
                  "rbd_fast", conf_level=conf_level)


def morris_indices(
    results: SweepResults, outcome: str, *, num_resamples: int = 1000, conf_level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """The Morris screen (SALib) of a Morris sweep.

    Columns ``mu``, ``mu_star``, ``sigma`` and ``mu_star_conf``. Effects are on the unit axis
    of each factor (the full range, or the listed values evenly).
    """
    results = _check_results(results)
    conf_level = _check_level(conf_level)
    seed = _check_seed(seed)
    sweep = results.sweep
    if sweep.design != "morris":
        raise ValueError(f"results: the Morris screen needs a Morris design (design='morris'), "
                         f"not '{sweep.design}'; for this design use {_FITS[sweep.design]}")
    y = _point_means(results, outcome)
    from SALib.analyze import morris as salib_morris

    from cmo_sim.sweep.designs import MORRIS_LEVELS

    indices = salib_morris.analyze(sweep.problem(), np.asarray(sweep.unit, dtype=np.float64), y,
                                   num_resamples=num_resamples, conf_level=conf_level,
                                   num_levels=MORRIS_LEVELS, seed=np.random.default_rng(seed))
    return _table(sweep, {name: indices[name] for name in ("mu", "mu_star", "sigma",
                                                            "mu_star_conf")},
                  outcome, "morris", conf_level=conf_level, trajectories=sweep.samples)


#: The method :func:`sensitivity` uses for each design.
_DEFAULT_METHOD = {"sobol": "sobol", "morris": "morris", "grid": "elementary_effects",
                   "lhs": "delta"}
_METHODS = {"sobol": sobol_indices, "morris": morris_indices,
            "elementary_effects": elementary_effects, "delta": delta_indices,
            "pawn": pawn_indices, "rbd_fast": rbd_fast_indices}


def sensitivity(results: SweepResults, outcome: str, *, method: str | None = None,
                **options: Any) -> pd.DataFrame:
    """Sensitivity of ``outcome`` by the method that fits the sweep's design (or ``method``).

    sobol -> :func:`sobol_indices`, morris -> :func:`morris_indices`, grid ->
    :func:`elementary_effects`, lhs -> :func:`delta_indices`; ``method`` (one of ``sobol``,
    ``morris``, ``elementary_effects``, ``delta``, ``pawn``, ``rbd_fast``) chooses another, and
    ``options`` go to it. The table's ``attrs["method"]`` names the method used.
    """
    results = _check_results(results)
    if method is None:
        design = results.sweep.design
        if design not in _DEFAULT_METHOD:
            raise ValueError(f"results: no sensitivity for a '{design}' design: "
                             f"{_FITS.get(design, '')}")
        method = _DEFAULT_METHOD[design]
    if method not in _METHODS:
        raise ValueError(f"method: {method!r} is not allowed (allowed: {', '.join(_METHODS)})")
    table = _METHODS[method](results, outcome, **options)
    table.attrs.setdefault("method", method)
    return table
