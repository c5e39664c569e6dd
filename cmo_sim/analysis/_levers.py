"""Levers: which context change, made when, does most for a running partnership.

Each candidate change is scheduled on the scenario's timeline at each candidate month and run
against the unchanged scenario on the same replicates: with common random numbers the runs differ
only through the change, so each effect comes with a narrow paired interval.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cmo_sim._compare import check_level, paired_statistics
from cmo_sim._errors import ScenarioError
from cmo_sim._simulate import as_scenarios, simulate
from cmo_sim.scenario import Scenario, load_scenario
from cmo_sim.theory import Theory

__all__ = ["BETTER", "LeverReport", "levers"]

#: Which way is better for each outcome a lever is ranked by.
BETTER = {"dissolved": "lower", "performance": "higher", "synergy_mean": "higher",
          "synergy_final": "higher", "trust_final": "higher", "faith_final": "higher",
          "conflicts": "lower", "destructive": "lower", "failures": "lower",
          "successes": "higher", "exits": "lower", "members_final": "higher"}
#: Columns of :attr:`LeverReport.table`.
TABLE_COLUMNS = ("lever", "month", "outcome", "effect", "ci_low", "ci_high",
                 "independent_ci_half_width", "rank")


@dataclass(frozen=True)
class LeverReport:
    """What :func:`levers` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per lever, month and outcome: the mean paired effect (changed minus unchanged)
        with its t interval, the half-width two independent samples would give, and ``rank``
        (1 = best) of each lever-and-month by the first outcome in its better direction.
    meta : dict
        Scenario, outcomes, months, runs, steps, seed, level, and the changes of each lever.
    """

    table: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ranking(self) -> pd.DataFrame:
        """The first outcome's rows, best first."""
        first = self.meta["outcomes"][0]
        return self.table[self.table["outcome"] == first].sort_values("rank").reset_index(
            drop=True)

    def plot(self, ax: Any = None):
        """Effect on the first outcome against the month of the change, one line per lever."""
        from cmo_sim.plot import levers as plot_levers

        return plot_levers(self, ax=ax)


def _label(change: Mapping[str, Any]) -> str:
    return ", ".join(f"{path}={value}" for path, value in change.items())


def _named_changes(changes: Any) -> dict[str, dict[str, Any]]:
    if isinstance(changes, Mapping) and changes and all(
            isinstance(v, Mapping) for v in changes.values()):
        named = {str(k): dict(v) for k, v in changes.items()}
    elif isinstance(changes, Sequence) and not isinstance(changes, str) and changes:
        named = {}
        for k, change in enumerate(changes):
            if not isinstance(change, Mapping) or not change:
                raise ValueError(f"changes[{k}]: {change!r} is not a mapping of context to value")
            named[_label(change)] = dict(change)
    else:
        raise ValueError("changes: give a list of {context: value} mappings, or a mapping of "
                         "lever names to such mappings")
    return named


def _with_change(base: Scenario, month: int, change: Mapping[str, Any], name: str) -> Scenario:
    """``base`` with ``change`` scheduled at ``month`` (merged with an event already there)."""
    data = base.to_dict()
    timeline = [dict(event) for event in data.get("timeline", [])]
    for event in timeline:
        if event["step"] == month:
            event["changes"] = {**event["changes"], **change}
            break
    else:
        timeline.append({"step": month, "changes": dict(change)})
    data["timeline"] = sorted(timeline, key=lambda event: event["step"])
    data["name"] = name
    return load_scenario(data)


def levers(
    scenario: Scenario | str | os.PathLike | Mapping,
    changes: Any,
    *,
    at: Sequence[int] = (0, 6, 12, 24),
    outcomes: Sequence[str] = ("dissolved", "performance"),
    runs: int = 1000,
    steps: int = 120,
    seed: Any = 0,
    theory: Theory | str | os.PathLike | None = None,
    level: float = 0.95,
    progress: bool | None = None,
) -> LeverReport:
    """Rank candidate context changes by their effect when made at each of several months.

    Parameters
    ----------
    scenario : Scenario, path or mapping
        The partnership as it is.
    changes : list of mappings, or mapping of names to mappings
        Candidate levers, each ``{context or member path: new value}``, e.g.
        ``[{"leadership": 0.9}, {"conflict_resolution": 0.8, "accountability": 0.8}]``.
    at : sequence of int
        Months at which each lever is pulled (0 = from the start), each below ``steps``.
    outcomes : sequence of str
        Summary columns; the first ranks the levers (see :data:`BETTER` for the direction).
    runs, steps, seed, theory, level, progress
        As for :func:`cmo_sim.simulate`; ``level`` is the intervals' confidence level.

    Raises
    ------
    ValueError
        For an unknown or out-of-range context (a ScenarioError naming it), a month at or beyond
        ``steps``, an unknown outcome, before anything is simulated.
    """
    (base,) = as_scenarios([scenario])
    named = _named_changes(changes)
    months = [at] if isinstance(at, int) else list(at)
    if not months:
        raise ValueError("at: give at least one month")
    for month in months:
        if isinstance(month, bool) or not isinstance(month, int | np.integer):
            raise ValueError(f"at: {month!r} is not a month (an int >= 0)")
        if not 0 <= month < steps:
            raise ValueError(f"at: month {month} is not allowed (0 .. {steps - 1}: a change at "
                             f"or after the last month, {steps}, would never act)")
    outcomes = [outcomes] if isinstance(outcomes, str) else list(outcomes)
    unknown = [o for o in outcomes if o not in BETTER]
    if unknown or not outcomes:
        raise ValueError(f"outcomes: {unknown or outcomes!r} not allowed (allowed: "
                         f"{', '.join(BETTER)})")
    level = check_level(level)
    scenarios = [base.with_values({"name": "unchanged"})]
    keys = []
    for name, change in named.items():
        try:
            base.with_values(change)
        except ScenarioError as exc:
            raise ScenarioError(f"changes['{name}']: {str(exc).split(': ', 1)[-1]}") from None
        for month in months:
            label = f"{name} @ {month}"
            scenarios.append(_with_change(base, int(month), change, label))
            keys.append((name, int(month), label))
    results = simulate(scenarios, runs=runs, steps=steps, seed=seed, theory=theory,
                       progress=progress)
    summary = results.summary
    rows = []
    unchanged = summary[summary["scenario"] == "unchanged"].set_index("replicate")
    for name, month, label in keys:
        changed = summary[summary["scenario"] == label].set_index("replicate")
        for outcome in outcomes:
            x = unchanged[outcome].astype(float)
            y = changed[outcome].astype(float).reindex(x.index)
            paired = paired_statistics(x.to_numpy(), y.to_numpy(), level)
            rows.append({"lever": name, "month": month, "outcome": outcome,
                         "effect": paired["difference"], "ci_low": paired["ci_low"],
                         "ci_high": paired["ci_high"],
                         "independent_ci_half_width": paired["independent_ci_half_width"]})
    table = pd.DataFrame(rows)
    first = outcomes[0]
    sign = -1.0 if BETTER[first] == "lower" else 1.0
    scores = table[table["outcome"] == first].set_index(["lever", "month"])["effect"] * sign
    order = scores.rank(ascending=False, method="first").astype(int)
    table["rank"] = [int(order[(row.lever, row.month)]) for row in table.itertuples()]
    table = table[list(TABLE_COLUMNS)]
    meta = {"scenario": base.name, "outcomes": outcomes, "months": [int(m) for m in months],
            "runs": int(runs), "steps": int(steps), "seed": results.meta["seed"],
            "level": float(level), "changes": named}
    return LeverReport(table, meta)
