"""The simulated value of each target's measure, from a simulation's Results.

Months follow the engine: ``dissolved_at`` (and ``ended_at``) is the 0-based step in which a
run ended, so it is no longer in place at recorded step ``dissolved_at + 1``. "By month m" is
therefore ``ended_at < m``, and the year ending at month ``m`` holds steps ``m - 12 .. m - 1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cmo_sim.calibrate._targets import END_STATES, Target
from cmo_sim.results import Results

__all__ = ["record_for", "simulated_values"]

#: End states read from the trajectories' ``regime`` codes at a month before the last.
_REGIME_STATES = ("thriving", "struggling")


def _needs_trajectory(target: Target, steps: int) -> bool:
    """Whether a target needs the recorded regime (a thriving/struggling share before the end)."""
    return (target.measure == "share" and target.state in _REGIME_STATES
            and target.month < steps)


def record_for(targets: Sequence[Target], steps: int) -> str | int:
    """What ``simulate`` must record: ``"summary"``, or every k months (k the gcd of months).

    The per-run summary gives every measure except the share thriving or struggling at a
    month before the last, which needs the recorded regime at that month.
    """
    months = [t.month for t in targets if _needs_trajectory(t, steps)]
    return math.gcd(*months) if months else "summary"


def _ended_at(summary: pd.DataFrame) -> np.ndarray:
    column = "ended_at" if "ended_at" in summary else "dissolved_at"
    return summary[column].to_numpy(dtype=np.float64)


def _share_at(results: Results, rows: np.ndarray, target: Target, steps: int) -> float:
    summary = results.summary
    state = target.state
    month = target.month
    if state in ("dissolved", "completed"):
        ended = _ended_at(summary)[rows]
        if state == "dissolved":
            hit = summary["dissolved"].to_numpy(dtype=bool)[rows]
        else:
            hit = summary["end_state"].to_numpy(dtype=object)[rows] == "completed"
        return float(np.mean(hit & (ended < month)))
    if month >= steps:
        return float(np.mean(summary["end_state"].to_numpy(dtype=object)[rows] == state))
    traj = results.trajectories
    regime = traj["regime"].sel(step=month).to_numpy()
    run_ids = summary["run"].to_numpy()[rows]
    position = pd.Index(traj["run"].to_numpy()).get_indexer(run_ids)
    return float(np.mean(regime[position] == _regime_code(traj["regime"].attrs, state)))


def _regime_code(attrs: dict, state: str) -> int:
    """The ``regime`` code of an end state: from the variable's CF flag attributes if given."""
    meanings = str(attrs.get("flag_meanings", "")).split()
    values = list(attrs.get("flag_values", []))
    if state in meanings and len(values) == len(meanings):
        return int(values[meanings.index(state)])
    return END_STATES.index(state)


def annual_hazard(ended: np.ndarray, dissolved: np.ndarray, dissolved_at: np.ndarray,
                  month: int) -> float:
    """Share of the runs in place at ``month - 12`` that dissolved in the year before ``month``.

    ``ended`` is each run's month of ending (NaN while in place), ``dissolved`` whether it
    dissolved and ``dissolved_at`` when (NaN if not); NaN when no run is at risk.
    """
    at_risk = ~(ended < month - 12)
    events = dissolved & (dissolved_at >= month - 12) & (dissolved_at < month)
    n_at_risk = int(at_risk.sum())
    return float(events.sum() / n_at_risk) if n_at_risk else math.nan


def _value(results: Results, rows: np.ndarray, target: Target, steps: int) -> float:
    summary = results.summary
    month = target.month
    ended = _ended_at(summary)[rows]
    if target.measure == "in_place":
        return float(np.mean(~(ended < month)))
    if target.measure == "share":
        return _share_at(results, rows, target, steps)
    dissolved = summary["dissolved"].to_numpy(dtype=bool)[rows]
    dissolved_at = summary["dissolved_at"].to_numpy(dtype=np.float64)[rows]
    if target.measure == "dissolved_by":
        return float(np.mean(dissolved & (dissolved_at < month)))
    if target.measure == "hazard":
        return annual_hazard(ended, dissolved, dissolved_at, month)
    if target.measure == "achieved":
        result = summary["result"].to_numpy(dtype=object)[rows]
        return float(np.mean((result == "achieved") & (ended < month)))
    if target.measure == "median_ended":
        ended_by = ended[ended < month]
        return float(np.median(ended_by)) if ended_by.size else math.nan
    raise ValueError(f"measure: {target.measure!r} is not known")  # pragma: no cover


def simulated_values(results: Results, targets: Sequence[Target], steps: int) -> np.ndarray:
    """Each target's measure in ``results`` (NaN where it is undefined, e.g. none at risk)."""
    scenario = results.summary["scenario"].to_numpy(dtype=object)
    rows_of = {name: np.flatnonzero(scenario == name) for name in {t.scenario for t in targets}}
    return np.array([_value(results, rows_of[t.scenario], t, steps) for t in targets],
                    dtype=np.float64)
