"""Paired comparison of two theories, scenarios or sets of results on common random numbers.

Replicate ``r`` of a scenario draws the same random numbers whatever the theory or the other
contexts (counter-based streams keyed by seed and replicate), so the difference ``b - a`` of an
outcome is taken run by run and its interval comes from the spread of those paired differences:
far narrower than comparing two independent samples.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cmo_sim._simulate import as_scenarios, as_theory, simulate
from cmo_sim.results import Results
from cmo_sim.scenario import Scenario
from cmo_sim.theory import Theory

__all__ = ["COMPARED_OUTCOMES", "Comparison", "compare"]

#: Outcomes compared when none are named (per-run summary columns).
COMPARED_OUTCOMES = ("dissolved", "performance", "synergy_mean", "trust_final", "faith_final",
                     "conflicts")
#: Summary columns that can be compared: numeric outcomes, not run identifiers.
_COMPARABLE = ("dissolved", "dissolved_at", "performance", "synergy_mean", "synergy_final",
               "trust_final", "faith_final", "members_final", "conflicts", "constructive",
               "destructive", "successes", "failures", "dominations", "exits")
#: Columns of :attr:`Comparison.table`.
TABLE_COLUMNS = ("scenario", "outcome", "mean_a", "mean_b", "difference", "ci_low", "ci_high",
                 "pairs", "sd_difference", "independent_ci_half_width")


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scenario and outcome (columns ``TABLE_COLUMNS``): the means under ``a``
        and ``b``, the mean paired difference ``b - a`` with its t interval, the number of
        pairs, the standard deviation of the paired differences, and the half-width an
        interval from two independent samples of the same size would have (what pairing
        saves).
    differences : pandas.DataFrame
        The paired differences run by run: ``scenario``, ``replicate`` and one column per
        outcome.
    meta : dict
        What was compared (``a`` and ``b`` labels), seed, steps, runs, level.
    """

    table: pd.DataFrame
    differences: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def plot(self, ax: Any = None):
        """The differences with their intervals (:func:`cmo_sim.plot.differences`)."""
        from cmo_sim.plot import differences

        return differences(self, ax=ax)

    def __repr__(self) -> str:
        return (f"Comparison({self.meta.get('b')!r} - {self.meta.get('a')!r}, "
                f"{len(self.table)} rows)")


def _is_theory(value: Any) -> bool:
    return isinstance(value, Theory)


def _label(value: Any) -> str:
    if isinstance(value, Theory):
        return value.name
    if isinstance(value, Scenario):
        return value.name
    if isinstance(value, Results):
        return str(value.meta.get("theory", "results"))
    if isinstance(value, str | os.PathLike):
        return Path(value).stem
    if isinstance(value, Mapping):
        return str(value.get("name", "scenario"))
    return type(value).__name__


def compare(
    a: Any,
    b: Any,
    *,
    scenarios: Any = None,
    theory: Theory | str | os.PathLike | None = None,
    outcomes: Sequence[str] | None = None,
    runs: int = 1000,
    steps: int = 120,
    seed: Any = 0,
    level: float = 0.95,
    progress: bool | None = None,
) -> Comparison:
    """Compare ``b`` with ``a`` run by run on common random numbers.

    Parameters
    ----------
    a, b : Theory, scenario or Results
        Two theories (each run on ``scenarios``), two scenarios (each run under ``theory``; a
        Scenario, a path or a mapping), or two Results already simulated on the same scenarios,
        replicates, seed and months (paired by scenario and replicate).
    scenarios : scenario or list, optional
        With two theories: the scenarios to run (default: the typical voluntary dyad).
    theory : Theory or path, optional
        With two scenarios: the theory to run them under (default: the review's).
    outcomes : sequence of str, optional
        Summary columns to compare (default :data:`COMPARED_OUTCOMES`). ``dissolved_at`` is
        compared over the pairs in which both runs dissolved.
    runs, steps, seed : int
        Replicates per scenario, months, seed (ignored when comparing Results).
    level : float
        Confidence level of the intervals.
    progress : bool, optional
        Progress bars while simulating.

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        For an unknown outcome (naming the allowed ones), ``a`` and ``b`` of different kinds,
        or Results that are not paired (different seed, months, scenarios or replicates).
    """
    names = list(COMPARED_OUTCOMES if outcomes is None else outcomes)
    if isinstance(outcomes, str):
        names = [outcomes]
    unknown = [o for o in names if o not in _COMPARABLE]
    if unknown or not names:
        raise ValueError(f"outcomes: {unknown or names!r} not allowed (allowed: "
                         f"{', '.join(_COMPARABLE)})")
    level = check_level(level)
    kinds = {_kind(a), _kind(b)}
    if len(kinds) != 1:
        raise ValueError(f"a, b: compare two theories, two scenarios or two Results (got a "
                         f"{_kind(a)} and a {_kind(b)})")
    kind = kinds.pop()
    labels = (_label(a), _label(b))
    if kind == "results":
        first, second = a, b
        _check_paired(first, second)
        seed_used, steps_used = first.meta.get("seed"), first.meta.get("steps")
    elif kind == "theory":
        if theory is not None:
            raise ValueError("theory: not used when comparing two theories (give scenarios)")
        if scenarios is None:
            from cmo_sim.cli import DEFAULT_SCENARIO

            scenarios = DEFAULT_SCENARIO
        common = dict(runs=runs, steps=steps, seed=seed, progress=progress)
        first = simulate(scenarios, theory=a, **common)
        second = simulate(scenarios, theory=b, **common)
        seed_used, steps_used = first.meta["seed"], steps
    else:
        if scenarios is not None:
            raise ValueError("scenarios: not used when comparing two scenarios")
        resolved = as_theory(theory)
        left, right = as_scenarios([a]), as_scenarios([b])
        common = dict(runs=runs, steps=steps, seed=seed, theory=resolved, progress=progress)
        first, second = simulate(left, **common), simulate(right, **common)
        # Two scenarios are one comparison: pair their runs under one label.
        labels = (left[0].name, right[0].name)
        first = _relabel(first, f"{labels[0]} -> {labels[1]}")
        second = _relabel(second, f"{labels[0]} -> {labels[1]}")
        seed_used, steps_used = first.meta["seed"], steps
    return _paired(first, second, names, level, labels, seed_used, steps_used)


def check_level(level: Any) -> float:
    """A confidence level in (0, 1); ValueError naming ``level`` otherwise."""
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise ValueError(f"level: {level!r} is not allowed (a number in (0, 1))")
    return float(level)


def paired_statistics(x: np.ndarray, y: np.ndarray, level: float) -> dict[str, float]:
    """Mean paired difference ``y - x`` with its t interval, and what independence would give.

    Returns ``mean_a``, ``mean_b``, ``difference``, ``ci_low``, ``ci_high``, ``pairs``,
    ``sd_difference`` and ``independent_ci_half_width`` (the half-width of the interval of a
    difference of two independent samples of the same size and spreads).
    """
    d = np.asarray(y, dtype=np.float64) - np.asarray(x, dtype=np.float64)
    n = d.size
    mean = float(d.mean()) if n else math.nan
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    t = float(stats.t.ppf(0.5 + level / 2, n - 1)) if n > 1 else math.nan
    half = t * sd / math.sqrt(n) if n > 1 else math.inf
    pooled = (math.sqrt((np.var(x, ddof=1) + np.var(y, ddof=1)) / n) if n > 1 else math.nan)
    return {"mean_a": float(np.mean(x)) if n else math.nan,
            "mean_b": float(np.mean(y)) if n else math.nan,
            "difference": mean, "ci_low": mean - half, "ci_high": mean + half, "pairs": n,
            "sd_difference": sd, "independent_ci_half_width": t * pooled}


def _kind(value: Any) -> str:
    if isinstance(value, Theory):
        return "theory"
    if isinstance(value, Results):
        return "results"
    if isinstance(value, Scenario | str | os.PathLike | Mapping):
        return "scenario"
    raise ValueError(f"a, b: {value!r} is not a Theory, a scenario or Results")


def _relabel(results: Results, name: str) -> Results:
    summary = results.summary.copy()
    summary["scenario"] = name
    return Results(summary, None, dict(results.meta))


def _check_paired(a: Results, b: Results) -> None:
    problems = []
    for key in ("seed", "steps"):
        if a.meta.get(key) != b.meta.get(key):
            problems.append(f"{key} {a.meta.get(key)!r} vs {b.meta.get(key)!r}")
    keys_a = a.summary[["scenario", "replicate"]].apply(tuple, axis=1)
    keys_b = b.summary[["scenario", "replicate"]].apply(tuple, axis=1)
    if sorted(keys_a) != sorted(keys_b):
        problems.append("different scenarios or replicates")
    if keys_a.duplicated().any() or keys_b.duplicated().any():
        problems.append("a scenario and replicate appear twice")
    if problems:
        raise ValueError("a, b: the results are not paired on common random numbers ("
                         + "; ".join(problems) + "): simulate both with the same scenarios, "
                         "runs, seed and steps")


def _values(summary: pd.DataFrame, outcome: str) -> pd.Series:
    values = summary[outcome].astype(np.float64)
    if outcome == "dissolved_at":
        values = values.where(summary["dissolved"].astype(bool))
    return values


def _paired(a: Results, b: Results, outcomes: list[str], level: float, labels, seed, steps):
    key = ["scenario", "replicate"]
    left = a.summary.set_index(key).sort_index()
    right = b.summary.set_index(key).sort_index()
    diffs = pd.DataFrame(index=left.index)
    rows = []
    for outcome in outcomes:
        va, vb = _values(left, outcome), _values(right, outcome)
        diffs[outcome] = vb - va
        for scenario in dict.fromkeys(left.index.get_level_values("scenario")):
            x = va.xs(scenario, level="scenario")
            y = vb.xs(scenario, level="scenario")
            both = (x.notna() & y.notna()).to_numpy()
            rows.append({"scenario": scenario, "outcome": outcome,
                         **paired_statistics(x.to_numpy()[both], y.to_numpy()[both], level)})
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    meta = {"a": labels[0], "b": labels[1], "seed": seed, "steps": steps, "level": level,
            "runs": int(len(left))}
    return Comparison(table, diffs.reset_index(), meta)
