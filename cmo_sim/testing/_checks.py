"""Checks for users' own tests: the model's invariants, and the direction of a CMO effect."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from cmo_sim._errors import closest
from cmo_sim._simulate import simulate
from cmo_sim.core.ends import END_STATES
from cmo_sim.core.state import CAUSE_NAMES, COUNTERS
from cmo_sim.results import SUMMARY_COLUMNS, Results
from cmo_sim.scenario import (
    MEMBER_FIELDS,
    PARTNERSHIP_FIELDS,
    Scenario,
    field_bounds,
    load_scenario,
)
from cmo_sim.theory import Theory

__all__ = ["Effect", "assert_effect", "check_invariants"]

#: Trajectory variables that live in [0, 1].
_UNIT_VARIABLES = ("trust", "faith", "intra_conflict", "synergy", "inertia", "ambition", "vision")
#: Trajectory variables frozen once a run has dissolved.
_FROZEN_VARIABLES = ("trust", "faith", "intra_conflict", "synergy", "ambition", "performance",
                     "vision", "active")
_TOLERANCE = 1e-9
_SHOWN = 3


# -- invariants ------------------------------------------------------------------------------------
def check_invariants(results: Results) -> None:
    """Raise ``AssertionError`` listing every violated invariant of simulated results.

    Checked on the summary: no NaN; trust, faith and synergy in [0, 1]; performance in
    [0, months]; a run is dissolved exactly when it has a month and a cause of dissolution;
    an alive run keeps at least two members; counters are non-negative and consistent
    (constructive + destructive = conflicts; one task a month alive; a dissolved run had an
    exit). On trajectories, when recorded: every state variable in range and free of NaN for
    real members; inertia = 1 - synergy; performance never falls; achievement at most the
    ambition; dissolution is absorbing (nothing changes after it, no more events); a member
    that has left never returns.

    Parameters
    ----------
    results : Results
        From :func:`cmo_sim.simulate` (any engine, any ``record``).

    Raises
    ------
    AssertionError
        One line per violated invariant, naming it, how many runs break it and example runs.
    """
    if not isinstance(results, Results):
        raise ValueError(f"results: {results!r} is not Results (from cmo_sim.simulate)")
    problems: list[str] = []
    steps = int(results.meta.get("steps", 0)) or None
    _check_summary(results, steps, problems)
    if results.trajectories is not None:
        _check_trajectories(results, problems)
    if problems:
        raise AssertionError(
            f"{len(problems)} invariant(s) violated:\n" + "\n".join(f"- {p}" for p in problems))


def _report(problems: list[str], what: str, bad: np.ndarray, runs: np.ndarray) -> None:
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        shown = ", ".join(str(int(r)) for r in runs[bad][:_SHOWN])
        more = ", ..." if bad.sum() > _SHOWN else ""
        problems.append(f"{what}: {int(bad.sum())} run(s), e.g. run {shown}{more}")


def _check_summary(results: Results, steps: int | None, problems: list[str]) -> None:
    s = results.summary
    missing = [c for c in SUMMARY_COLUMNS if c not in s.columns]
    if missing:
        problems.append(f"summary lacks columns: {', '.join(missing)}")
        return
    runs = s["run"].to_numpy()
    numeric = s.select_dtypes("number")
    for column in numeric.columns:
        bad = ~np.isfinite(numeric[column].to_numpy(dtype=float))
        if column == "dissolved_at":  # missing for a run that did not dissolve
            bad &= s["dissolved"].to_numpy(bool)
        if column == "ended_at":  # missing for a run still in place
            bad &= s["end_state"].isin(["dissolved", "completed"]).to_numpy()
        _report(problems, f"{column} is NaN or infinite", bad, runs)
    for column in ("trust_final", "faith_final", "synergy_mean", "synergy_final"):
        v = s[column].to_numpy(float)
        _report(problems, f"{column} outside [0, 1]",
                (v < -_TOLERANCE) | (v > 1 + _TOLERANCE), runs)
    performance = s["performance"].to_numpy(float)
    top = steps if steps else np.inf
    _report(problems, f"performance outside [0, {steps or 'steps'}]",
            (performance < -_TOLERANCE) | (performance > top + _TOLERANCE), runs)
    dissolved = s["dissolved"].to_numpy(bool)
    at = s["dissolved_at"].to_numpy()
    cause = s["cause"].astype(str).to_numpy()
    _report(problems, "cause is not one of none, trust, faith", ~np.isin(cause, CAUSE_NAMES), runs)
    at = at.astype(np.float64)
    _report(problems, "dissolved but without a month of dissolution", dissolved & ~(at >= 0),
            runs)
    _report(problems, "not dissolved but with a month of dissolution", ~dissolved & (at >= 0),
            runs)
    _report(problems, "dissolved without a cause", dissolved & (cause == "none"), runs)
    _report(problems, "not dissolved but with a cause", ~dissolved & (cause != "none"), runs)
    if steps:
        _report(problems, f"dissolution month outside 0 .. {steps - 1}", at >= steps, runs)
    members_final = s["members_final"].to_numpy()
    _report(problems, "alive with fewer than two members", ~dissolved & (members_final < 2),
            runs)
    _report(problems, "more members at the end than at the start",
            members_final > s["n_members"].to_numpy(), runs)
    for column in COUNTERS:
        _report(problems, f"counter {column} is negative", s[column].to_numpy() < 0, runs)
    _report(problems, "constructive + destructive resolutions differ from conflicts",
            s["constructive"] + s["destructive"] != s["conflicts"], runs)
    state = s["end_state"].astype(str).to_numpy()
    result = s["result"].astype(str).to_numpy()
    ended_at = s["ended_at"].to_numpy(float)
    completed = state == "completed"
    _report(problems, "end_state is not one of " + ", ".join(END_STATES),
            ~np.isin(state, END_STATES), runs)
    _report(problems, "dissolved differs from end_state dissolved",
            dissolved != (state == "dissolved"), runs)
    _report(problems, "ended_at differs from the month of dissolution",
            dissolved & (ended_at != at), runs)
    _report(problems, "completed without a result or with a month outside the run",
            completed & (~np.isin(result, ("achieved", "not_achieved")) | ~(ended_at >= 0)),
            runs)
    _report(problems, "a result for a run that did not complete", ~completed & (result != ""),
            runs)
    _report(problems, "completed but not a fixed-term arrangement",
            completed & (s["form"].astype(str).to_numpy() != "fixed_term"), runs)
    _report(problems, "ended but in no ended state", (ended_at >= 0) & ~(dissolved | completed),
            runs)
    _report(problems, "joins in a partnership that is not a network",
            (s["joins"].to_numpy() > 0) & (s["form"].astype(str).to_numpy() != "network"), runs)
    if steps:
        months = np.where(dissolved | completed, ended_at + 1, steps)
        _report(problems, "successes + failures differ from the months alive (one task a month)",
                (s["successes"] + s["failures"]).to_numpy() != months, runs)
    merger = s["form"].astype(str).to_numpy() == "merger"  # a de-merger needs no exit
    _report(problems, "dissolved without any exit",
            dissolved & ~merger & (s["exits"].to_numpy() < 1), runs)
    _report(problems, "a merger member left", merger & (s["exits"].to_numpy() > 0), runs)


def _check_trajectories(results: Results, problems: list[str]) -> None:
    traj = results.trajectories
    s = results.summary.set_index("run")
    runs = traj["run"].to_numpy()
    n_members = s.loc[runs, "n_members"].to_numpy()
    width = traj.sizes.get("member", 0)
    real = np.arange(width)[None, :] < n_members[:, None]  # [run, member]
    steps = traj["step"].to_numpy()
    for name in _UNIT_VARIABLES:
        if name not in traj:
            continue
        v = traj[name].to_numpy()
        mask = real[:, None, :] if v.ndim == 3 else np.ones(v.shape, dtype=bool)
        nan = np.isnan(v) & mask
        _report(problems, f"trajectory {name} is NaN for a real member or run",
                nan.reshape(len(runs), -1).any(axis=1), runs)
        out = ((v < -_TOLERANCE) | (v > 1 + _TOLERANCE)) & mask
        _report(problems, f"trajectory {name} outside [0, 1]",
                out.reshape(len(runs), -1).any(axis=1), runs)
    if "synergy" in traj and "inertia" in traj:
        gap = np.abs(traj["inertia"].to_numpy() + traj["synergy"].to_numpy() - 1.0)
        _report(problems, "trajectory inertia differs from 1 - synergy",
                (gap > 1e-9).any(axis=1), runs)
    if "performance" in traj:
        perf = traj["performance"].to_numpy()
        _report(problems, "trajectory performance falls",
                (np.diff(perf, axis=1) < -1e-12).any(axis=1), runs)
    if "achievement" in traj and "ambition" in traj:
        _report(problems, "achievement exceeds the agreed ambition",
                (traj["achievement"].to_numpy() > traj["ambition"].to_numpy() + 1e-12)
                .any(axis=1), runs)
    if "active" in traj:
        active = traj["active"].to_numpy().astype(bool)
        network = s.loc[runs, "form"].astype(str).to_numpy() == "network"  # places refill
        _report(problems, "a member that left is active again",
                (active[:, 1:] & ~active[:, :-1]).any(axis=(1, 2)) & ~network, runs)
    if "regime" in traj:
        last = traj["regime"].to_numpy()[:, -1]
        codes = {name: k for k, name in enumerate(END_STATES)}
        final = np.array([codes.get(x, -1) for x in s.loc[runs, "end_state"].astype(str)])
        if steps.size and int(steps[-1]) == results.meta.get("steps"):
            _report(problems, "the last recorded regime differs from end_state",
                    last != final, runs)
    # Absorbing ends: recorded after the month a run dissolved or completed, nothing changes.
    at = s.loc[runs, "ended_at"].to_numpy(float)
    at = np.where(np.isnan(at), -1, at)
    after = (at[:, None] >= 0) & (steps[None, :] > at[:, None] + 1)  # [run, step]
    if after.any():
        for name in _FROZEN_VARIABLES:
            if name not in traj:
                continue
            v = traj[name].to_numpy()
            # The last state before the freeze: label dissolved_at + 1 (or the last recorded).
            index = np.clip(np.searchsorted(steps, at + 1), 0, len(steps) - 1)
            frozen = np.take_along_axis(
                v, index.reshape((-1, 1) + (1,) * (v.ndim - 2)), axis=1)
            changed = ~((v == frozen) | (np.isnan(v) & np.isnan(frozen)))
            if v.ndim == 3:
                changed = changed.any(axis=2)
            _report(problems, f"trajectory {name} changes after dissolution",
                    (changed & after).any(axis=1), runs)
        for name in ("conflict_events", "achievement"):
            if name in traj:
                v = traj[name].to_numpy()
                _report(problems, f"trajectory {name} is not 0 after the end",
                        ((v != 0) & after).any(axis=1), runs)


# -- a CMO effect ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Effect:
    """An estimated effect: mean paired difference high - low and its confidence interval."""

    context: str
    outcome: str
    mean: float
    low: float
    high: float
    replicates: int
    level: float

    def __str__(self) -> str:
        return (f"effect of raising {self.context} on {self.outcome}: {self.mean:+.4g} "
                f"({100 * self.level:g}% CI {self.low:+.4g} .. {self.high:+.4g}; "
                f"{self.replicates} paired replicates)")


_DIRECTIONS = {"increase": 1, "decrease": -1, 1: 1, -1: -1}


def assert_effect(
    context: str,
    outcome: str | Callable[[Results], Any],
    direction: str | int,
    *,
    base: Scenario | str | Path | Mapping | Sequence | None = None,
    low: Any = None,
    high: Any = None,
    replicates: int = 200,
    steps: int = 120,
    seed: int = 0,
    theory: Theory | str | None = None,
    level: float = 0.95,
    record: str | int = "summary",
) -> Effect:
    """Assert that raising ``context`` moves ``outcome`` in ``direction``, with confidence.

    Each base scenario is simulated at ``low`` and at ``high`` with common random numbers
    (replicate ``r`` of both shares its random numbers); the context is held at that value for
    the whole run (timeline changes of it are dropped). The effect is the mean paired
    difference high - low, averaged over the bases in each replicate; its interval is the t
    interval over replicates. The assertion holds when the effect has the stated direction and
    the interval excludes zero.

    Parameters
    ----------
    context : str
        A partnership context (``"accountability"``), a member attribute set for every member
        (``"flexibility"``), or one member's (``"members[1].size"``).
    outcome : str or callable
        A column of ``Results.summary`` (``"performance"``, ``"dissolved"``, ``"trust_final"``,
        ...), or a function of the Results returning one number per run (in summary order).
    direction : "increase" or "decrease" (or +1 / -1)
    base : scenario, path, mapping, or a list of them, optional
        Where the context is raised (default: the typical voluntary dyad). With several, the
        claim is tested across them.
    low, high : optional
        The two values of the context (default: 10% in from each end of its range; for sizes
        100 and 10,000 staff; for a bool False and True).
    replicates, steps, seed : int
        Paired replicates per base, months simulated, random seed.
    theory : Theory or path, optional
        The programme theory (default: the review's).
    level : float
        Confidence level of the interval.
    record : "summary", "trajectory" or int
        What :func:`cmo_sim.simulate` records; an ``outcome`` function that reads trajectories
        needs ``"trajectory"`` (or every k months).

    Returns
    -------
    Effect
        The estimate, when the assertion holds.

    Raises
    ------
    AssertionError
        With the estimate and its interval, when the direction does not hold.
    ValueError
        For an unknown context or outcome (with the closest valid name) or a bad argument.
    """
    if direction not in _DIRECTIONS or isinstance(direction, bool):
        raise ValueError(f"direction: {direction!r} is not allowed "
                         "(allowed: 'increase', 'decrease', 1 or -1)")
    sign = _DIRECTIONS[direction]
    path = _context_path(context)
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 2:
        raise ValueError(f"replicates: {replicates!r} is not allowed (an int >= 2)")
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise ValueError(f"level: {level!r} is not allowed (a number in (0, 1))")
    if base is None:
        from cmo_sim.cli import DEFAULT_SCENARIO

        base = DEFAULT_SCENARIO
    bases = list(base) if isinstance(base, Sequence) and not isinstance(base, str) else [base]
    if not bases:
        raise ValueError("base: the list of base scenarios is empty")
    default_low, default_high = _default_levels(path)
    low = default_low if low is None else low
    high = default_high if high is None else high
    if isinstance(outcome, str) and outcome not in SUMMARY_COLUMNS:
        raise ValueError(f"outcome: unknown summary column '{outcome}'"
                         f"{closest(outcome, SUMMARY_COLUMNS)} (allowed: "
                         f"{', '.join(SUMMARY_COLUMNS[3:])}, or a function of the Results)")
    if not isinstance(outcome, str) and not callable(outcome):
        raise ValueError(f"outcome: {outcome!r} is not a summary column or a function")
    scenarios = []
    for k, scenario in enumerate(bases):
        scenario = load_scenario(scenario)
        for side, value in (("low", low), ("high", high)):
            scenarios.append(_set(scenario, path, value).with_values({"name": f"{k}:{side}"}))
    results = simulate(scenarios, runs=replicates, steps=steps, seed=seed, theory=theory,
                       record=record)
    if isinstance(outcome, str):
        values = results.summary[outcome].to_numpy(dtype=float)
        label = outcome
    else:
        values = np.asarray(outcome(results), dtype=float)
        label = getattr(outcome, "__name__", "outcome")
        if values.shape != (results.n_runs,):
            raise ValueError(f"outcome: the function returned shape {values.shape}, not one "
                             f"number per run ({results.n_runs})")
    values = values.reshape(len(bases), 2, replicates)
    per_replicate = (values[:, 1] - values[:, 0]).mean(axis=0)
    mean = float(per_replicate.mean())
    se = float(per_replicate.std(ddof=1)) / math.sqrt(replicates)
    half = float(stats.t.ppf(0.5 + level / 2, replicates - 1)) * se
    effect = Effect(path, label, mean, mean - half, mean + half, replicates, float(level))
    if not (np.sign(mean) == sign and (effect.low > 0 or effect.high < 0)):
        word = "increase" if sign > 0 else "decrease"
        why = ("the interval includes 0" if effect.low <= 0 <= effect.high
               else "it goes the other way")
        raise AssertionError(f"expected raising {path} from {low!r} to {high!r} to {word} "
                             f"{label}, but {why}: {effect}")
    return effect


def _context_path(context: Any) -> str:
    if not isinstance(context, str):
        raise ValueError(f"context: {context!r} is not a context name")
    if context in PARTNERSHIP_FIELDS or context in MEMBER_FIELDS:
        return context
    try:
        if field_bounds(context) is not None or context.startswith("members["):
            return context
    except KeyError:
        pass
    allowed = PARTNERSHIP_FIELDS + MEMBER_FIELDS
    raise ValueError(f"context: unknown context '{context}'{closest(context, allowed)} "
                     f"(allowed: {', '.join(allowed)}, or members[i].<attribute>)")


def _default_levels(path: str) -> tuple[Any, Any]:
    name = path.split(".")[-1]
    if name == "size":
        return 100.0, 10_000.0
    bounds = field_bounds(path if path not in MEMBER_FIELDS else f"members[0].{path}")
    if bounds is None:
        return False, True
    lo, hi = bounds
    return lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo)


def _set(scenario: Scenario, path: str, value: Any) -> Scenario:
    """``scenario`` with ``path`` at ``value`` for the whole run (its timeline changes dropped)."""
    if path in MEMBER_FIELDS:
        changes = {f"members[{i}].{path}": value for i in range(scenario.n_members)}
    else:
        changes = {path: value}
    if scenario.timeline:
        held = set(changes)
        events = []
        for event in scenario.to_dict().get("timeline", []):
            kept = {k: v for k, v in event["changes"].items() if k not in held}
            if kept:
                events.append({**event, "changes": kept})
        data = scenario.to_dict()
        data["timeline"] = events
        scenario = load_scenario(data)
    return scenario.with_values(changes)
