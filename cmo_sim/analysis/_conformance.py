"""Conformance of a programme theory: each rule's claimed direction, tested in simulation.

For each rule, :func:`conformance` raises the rule's context from a low to a high value in each
of a sample of background scenarios (the typical dyad with its other contexts perturbed, so the
claim is tested across circumstances rather than at one point), simulates both with common
random numbers (replicate ``r`` of the low and the high scenario share their random numbers),
and estimates the effect on the rule's outcome as the mean paired difference high - low, with a
t confidence interval over replicates. The rule *passes* when the effect has the rule's sign
and the interval excludes zero. The same is then done with ``theory.without(rule)``: the
*ablation passes* when removing the rule removes the effect, or, where the manipulation also
acts through other rules, the rule's share of it (see :func:`conformance`, Notes).

How each rule's context is raised (its *manipulation*) and how its outcome is read (its
*measure*) is shown in the report. A rule of the default theory, as the default theory has it,
uses its curated probe in :data:`PROBES`; any other rule (a theory's own, or a default rule
given another context, outcome or terms) a probe built from what it declares
(:func:`probe_for`). docs/conformance.md explains the choices.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cmo_sim._simulate import simulate
from cmo_sim.core import StepCache, init, step
from cmo_sim.core import mechanisms as m
from cmo_sim.core.sites import add_prepared
from cmo_sim.core.terms import SITES
from cmo_sim.params import compile_params
from cmo_sim.rng import normalise_seed
from cmo_sim.scenario import MEMBER_FIELDS, PARTNERSHIP_FIELDS, Scenario, field_bounds
from cmo_sim.theory import Theory, load_theory

__all__ = ["OUTCOME_MEASURES", "PROBES", "STATE_PROBES", "ConformanceReport", "Probe",
           "background_scenarios", "conformance", "probe_for"]

#: The typical voluntary dyad the backgrounds are drawn around (as ``cmo-sim run`` uses).
_TYPICAL = {
    "name": "typical_voluntary_dyad",
    "members": [{"name": "A", "size": 1500}, {"name": "B", "size": 1200}],
}
#: Half-width of the uniform perturbation of every other context around the base (so typical
#: 0.5 becomes uniform in [0.3, 0.7]). Member attributes move together by one such draw per
#: background plus a small individual jitter, so the backgrounds do not fill up with member
#: asymmetries (dominance, cultural distance): those are contexts of rules in their own right,
#: raised on purpose where a rule is about them. Sizes move by a shared factor 10**u, u uniform
#: in [-0.3, 0.3] (about x2), and an individual factor up to 10**0.1.
BACKGROUND_SPREAD = 0.2
MEMBER_JITTER = 0.05
SIZE_SPREAD_LOG10 = 0.3
SIZE_JITTER_LOG10 = 0.1
#: Months over which "early" trajectory measures are averaged.
EARLY_MONTHS = 24


# -- manipulations ---------------------------------------------------------------------------------
Setter = Callable[[Scenario, Any], Scenario]


def _context(name: str) -> Setter:
    def setter(scenario: Scenario, value: Any) -> Scenario:
        return scenario.with_values({name: value})

    return setter


def _every_member(attribute: str) -> Setter:
    def setter(scenario: Scenario, value: Any) -> Scenario:
        return scenario.with_values(
            {f"members[{i}].{attribute}": value for i in range(scenario.n_members)}
        )

    return setter


def _size_ratio(scenario: Scenario, ratio: float) -> Scenario:
    """Member 1 ``ratio`` times member 0's size, at the pair's geometric-mean size.

    Keeping the geometric mean keeps the members' mean normalised size (task complexity) and
    their pair size (communication), so the asymmetry acts only through power.
    """
    middle = math.sqrt(scenario.members[0].size * scenario.members[1].size)
    root = math.sqrt(ratio)
    return scenario.with_values({
        "members[0].size": float(np.clip(middle / root, 1.0, 1e7)),
        "members[1].size": float(np.clip(middle * root, 1.0, 1e7)),
    })


def _size_factor(scenario: Scenario, factor: float) -> Scenario:
    """Every member's size times ``factor`` (within the schema's bounds)."""
    return scenario.with_values({
        f"members[{i}].size": float(np.clip(mb.size * factor, 1.0, 1e7))
        for i, mb in enumerate(scenario.members)
    })


def _culture_gap(scenario: Scenario, gap: float) -> Scenario:
    """Members' cultures alternate at ``centre -/+ gap / 2`` around their mean."""
    centre = float(np.mean([mb.culture for mb in scenario.members]))
    centre = float(np.clip(centre, gap / 2, 1 - gap / 2))
    return scenario.with_values({
        f"members[{i}].culture": centre + (gap / 2 if i % 2 else -gap / 2)
        for i in range(scenario.n_members)
    })


def _n_members(scenario: Scenario, n: int) -> Scenario:
    """``n`` members: the first ``n`` kept, or more added as copies of the existing ones in turn."""
    data = scenario.to_dict()
    members = list(data["members"])
    data["members"] = [dict(members[i % len(members)]) for i in range(n)]
    data["lead"] = min(data.get("lead", 0), n - 1)
    data.pop("timeline", None)
    return _as_scenario(data)


# -- measures --------------------------------------------------------------------------------------
def _months_alive(summary: pd.DataFrame, steps: int) -> np.ndarray:
    dissolved_at = summary["dissolved_at"].to_numpy(dtype=float)
    return np.where(summary["dissolved"].to_numpy(), dissolved_at + 1, steps).astype(float)


def _trajectory_mean(name: str):
    def measure(results, steps: int) -> np.ndarray:
        traj = results.trajectories[name]
        if "member" in traj.dims:
            traj = traj.mean("member", skipna=True)
        return traj.sel(step=slice(1, min(EARLY_MONTHS, steps))).mean("step").to_numpy()

    return measure


def _summary(column: str):
    def measure(results, steps: int) -> np.ndarray:
        return results.summary[column].to_numpy(dtype=float)

    return measure


def _success_rate(results, steps: int) -> np.ndarray:
    s = results.summary
    return (s["successes"] / (s["successes"] + s["failures"])).to_numpy(dtype=float)


def _conflict_rate(results, steps: int) -> np.ndarray:
    s = results.summary
    return 12.0 * s["conflicts"].to_numpy(dtype=float) / _months_alive(s, steps)


def _value_per_success(results, steps: int) -> np.ndarray:
    s = results.summary
    return (s["performance"] / s["successes"].where(s["successes"] > 0)).to_numpy(dtype=float)


def _turnover_rate(results, steps: int) -> np.ndarray:
    s = results.summary
    return 12.0 * s["turnovers"].to_numpy(dtype=float) / _months_alive(s, steps)


def _dissolved_by(cause: str):
    def measure(results, steps: int) -> np.ndarray:
        return (results.summary["cause"] == cause).to_numpy(dtype=float)

    return measure


def _trust_requirement(results, steps: int) -> np.ndarray:
    """Trust not turned into aims: least trust given minus the ambition agreed on it.

    The aim agreed in month t (recorded at label t + 1) is set from the trust members give at
    the start of the month (label t); averaged over the first months in which every member is
    still in.
    """
    traj = results.trajectories
    last = min(EARLY_MONTHS, steps)
    trust = traj["trust"].sel(step=slice(0, last - 1)).to_numpy()
    active = traj["active"].sel(step=slice(0, last - 1)).to_numpy()
    present = ~np.isnan(trust)
    ambition = traj["ambition"].sel(step=slice(1, last)).to_numpy()
    everyone = (active | ~present).all(axis=2)  # no member has left yet
    gap = np.nanmin(np.where(present, trust, np.nan), axis=2) - ambition
    gap = np.where(everyone, gap, 0.0)
    return gap.sum(axis=1) / np.maximum(everyone.sum(axis=1), 1)


@dataclass(frozen=True)
class Measure:
    """How a rule's outcome is read from simulated runs."""

    name: str
    description: str
    read: Callable[..., np.ndarray] | None  # (Results, steps) -> per-run values; None: internal
    trajectories: bool = False


MEASURES: dict[str, Measure] = {
    "performance": Measure("performance", "cumulative achievement (summary performance)",
                           _summary("performance")),
    "success_rate": Measure("success_rate", "share of months alive whose task succeeded",
                            _success_rate),
    "trust_early": Measure("trust_early", f"mean trust over months 1-{EARLY_MONTHS}",
                           _trajectory_mean("trust"), trajectories=True),
    "faith_early": Measure("faith_early", f"mean faith over months 1-{EARLY_MONTHS}",
                           _trajectory_mean("faith"), trajectories=True),
    "ambition": Measure("ambition", f"mean agreed ambition over months 1-{EARLY_MONTHS}",
                        _trajectory_mean("ambition"), trajectories=True),
    "vision": Measure("vision", f"mean shared vision over months 1-{EARLY_MONTHS}",
                      _trajectory_mean("vision"), trajectories=True),
    "dissolved_by_trust": Measure(
        "dissolved_by_trust", "share of runs dissolved by trust (inter-organisational origin)",
        _dissolved_by("trust")),
    "dissolved_by_faith": Measure(
        "dissolved_by_faith", "share of runs dissolved by faith (intra-organisational origin)",
        _dissolved_by("faith")),
    "conflict_rate": Measure("conflict_rate", "conflicts per year alive", _conflict_rate),
    "trust_requirement": Measure(
        "trust_requirement",
        f"least trust given minus the aim agreed on it, months 1-{EARLY_MONTHS} (proxy)",
        _trust_requirement, trajectories=True),
    "dissolved": Measure("dissolved", "share of runs dissolved (either cause)",
                         _summary("dissolved")),
    "value_per_success": Measure(
        "value_per_success", "performance per successful month (what an achievement is worth)",
        _value_per_success),
    "synergy": Measure("synergy", "mean synergy over the months alive (summary synergy_mean)",
                       _summary("synergy_mean")),
    "intra_early": Measure(
        "intra_early", f"mean intra-organisational conflict over months 1-{EARLY_MONTHS}",
        _trajectory_mean("intra_conflict"), trajectories=True),
    "experience": Measure(
        "experience", f"mean experience of working together over months 1-{EARLY_MONTHS}",
        _trajectory_mean("experience"), trajectories=True),
    "turnover_rate": Measure(
        "turnover_rate", "changes of members' senior leaders or leads per year alive",
        _turnover_rate),
    "communication": Measure(
        "communication",
        f"mean pairwise communication over months 1-{EARLY_MONTHS} (read from the engine)",
        None),
}


def _mean_communication(params, steps: int) -> np.ndarray:
    """Mean pairwise communication over the first months each run is in place (engine values).

    Communication is not a recorded variable, so it is read from the engine's own
    communication site at each month's start while stepping the pure core.
    """
    months = min(EARLY_MONTHS, steps)
    state = init(params)
    cache = StepCache()
    total = np.zeros(params.n_runs)
    counted = np.zeros(params.n_runs)
    for t in range(months):
        alive = ~state.dissolved
        fixed = cache.get(params, params.contexts_at(t), state.active & alive[:, None], alive)
        fixed.view.state[("trust", "pair")] = state.trust
        comm = np.clip(add_prepared(fixed.site["communication"], fixed.month["communication"],
                                    "pair", fixed.view), 0.0, 1.0)
        pairs = m.msum(m.msum(fixed.pair_w))
        mean = m.msum(m.msum(comm * fixed.pair_w)) / np.maximum(pairs, 1.0)
        total += np.where(alive, mean, 0.0)
        counted += alive
        state = step(state, params, t, cache)
    return total / np.maximum(counted, 1.0)


# -- probes ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    """How one rule is tested: raise a context from ``low`` to ``high``, read ``measure``.

    ``setup`` changes applied to both sides first (e.g. a mandated partnership, four members);
    ``via`` names the other rules through which the manipulation also moves the measure (empty:
    this rule is the manipulation's only path to it).
    """

    manipulation: str
    setter: Setter
    low: Any
    high: Any
    measure: str
    setup: tuple[tuple[Setter, Any], ...] = ()
    via: tuple[str, ...] = ()

    def scenarios(self, background: Scenario) -> tuple[Scenario, Scenario]:
        """The low and the high scenario built on ``background``."""
        for setter, value in self.setup:
            background = setter(background, value)
        return self.setter(background, self.low), self.setter(background, self.high)


_TURNOVER_RAISED = (
    "leadership turnover raised through every member's workforce_stability 0.9 -> 0.1"
)
#: Rules through which workforce stability also acts, by way of leadership turnover.
_TURNOVER_PATHS = ("turnover.workforce_instability", "trust.leadership_turnover",
                   "faith.leadership_turnover", "learning.leadership_turnover")
_INTRA_CONFLICT_RAISED = (
    "intra-organisational conflict raised through every member's staff_involvement 0.9 -> 0.1"
)


def _probe(context: str, low: Any, high: Any, measure: str, *, text: str = "",
           setter: Setter | None = None, setup=(), via=()) -> Probe:
    if setter is None:
        setter = _every_member(context) if context in MEMBER_FIELDS else _context(context)
        where = "every member's " if context in MEMBER_FIELDS else ""
        text = text or f"{where}{context} {low} -> {high}"
    return Probe(text, setter, low, high, measure, tuple(setup), tuple(via))


#: Rules through which a change of trust moves outcomes (a probe's own rule is left out of its
#: list when reported).
_TRUST_PATHS = ("trust.risk_threshold", "faith.trust", "synergy.high_trust", "inertia.low_trust",
                "communication.trust_begets_communication", "dissolution.critical_trust")
_MANDATED = ((_context("mandated"), True),)
_FOUR = ((_n_members, 4),)
_APART = ((_culture_gap, 0.5),)

#: The probe of every rule of the default theory, by rule id.
PROBES: dict[str, Probe] = {
    # Synergy and inertia: trust, faith, communication -> task achievement.
    "synergy.high_trust": _probe(
        "history", 0.0, 0.8, "success_rate",
        text="trust raised in its upper half through history 0 -> 0.8",
        setter=_context("history"), via=_TRUST_PATHS),
    "inertia.low_trust": _probe(
        "history", -0.8, -0.2, "synergy",
        text="trust raised in its lower half through history -0.8 -> -0.2",
        setter=_context("history"), via=_TRUST_PATHS),
    "synergy.faith": _probe(
        "stakeholder_involvement", 0.1, 0.9, "performance",
        text="faith raised through stakeholder_involvement 0.1 -> 0.9",
        via=("dissolution.faith_collapse",)),
    "synergy.communication": _probe(
        "communication", 0.1, 0.9, "performance",
        text="communication raised through the communication context 0.1 -> 0.9",
        via=("communication.builds_trust",)),
    # Task achievement.
    "task.intra_conflict": _probe(
        "staff_involvement", 0.9, 0.1, "performance",
        text=_INTRA_CONFLICT_RAISED,
        via=("faith.intra_conflict",)),
    "task.unambitious_aims": _probe(
        "ambition_bias", -0.8, 0.0, "success_rate",
        via=("trust.underambition", "ambition_bias_scale (baseline)")),
    "task.absent_actors": _probe("absent_actors", 0.1, 0.9, "performance"),
    "task.flexibility": _probe(
        "flexibility", 0.1, 0.9, "performance", via=("conflict.flexibility", "intra.flexibility")),
    "task.workforce_instability": _probe(
        "workforce_stability", 0.1, 0.9, "performance",
        via=("conflict.workforce_churn", "intra.workforce_churn") + _TURNOVER_PATHS),
    "task.evaluation": _probe("evaluation", 0.1, 0.9, "performance",
                              via=("learning.evaluation",)),
    "task.role_clarity": _probe("role_clarity", 0.1, 0.9, "performance",
                                via=("conflict.role_clarity",)),
    "task.resourcing": _probe("resources", 0.1, 0.9, "performance"),
    # Conflict -> trust.
    "conflict.accountability": _probe("accountability", 0.1, 0.9, "trust_early"),
    "conflict.slow_pace": _probe("pace", 0.1, 0.9, "trust_early"),
    "conflict.cultural_compatibility": _probe(
        "cultural_distance", 0.0, 0.6, "trust_early",
        text="members' cultures moved apart: gap 0 -> 0.6", setter=_culture_gap,
        via=("communication.conflicting_cultures",)),
    "conflict.shared_vision": _probe("shared_vision", 0.5, 0.9, "trust_early"),
    "conflict.lack_of_shared_vision": _probe("shared_vision", 0.1, 0.5, "trust_early"),
    "conflict.improper_cessation": _probe(
        "exit_handling", 0.1, 0.9, "trust_early",
        text="exit_handling 0.1 -> 0.9 in a partnership of four members", setup=_FOUR),
    "conflict.task_failure": _probe(
        "absent_actors", 0.1, 0.9, "trust_early",
        text="task failure raised through absent_actors 0.1 -> 0.9",
        via=("trust.failure_loop", "trust.success_loop")),
    "conflict.information_exchange": _probe("information_exchange", 0.1, 0.9, "trust_early",
                                            via=("communication.information_exchange",)),
    "conflict.dominance": _probe(
        "size", 1.0, 1000.0, "trust_early",
        text="dominance raised through a size asymmetry: member 1 1x -> 1000x member 0 "
             "(same geometric mean)",
        setter=_size_ratio, via=("power.size_domination",)),
    "conflict.workforce_churn": _probe(
        "workforce_stability", 0.1, 0.9, "trust_early",
        via=("task.workforce_instability", "intra.workforce_churn") + _TURNOVER_PATHS),
    "conflict.flexibility": _probe(
        "flexibility", 0.1, 0.9, "trust_early", via=("task.flexibility", "intra.flexibility")),
    # Trust.
    "trust.destructive_resolution": _probe("conflict_resolution", 0.1, 0.5, "trust_early"),
    "trust.constructive_resolution": _probe("conflict_resolution", 0.5, 0.9, "trust_early"),
    "trust.successful_history": _probe("history", 0.0, 0.8, "ambition",
                                       via=("learning.successful_history",)),
    "trust.failed_history": _probe("history", -0.8, 0.0, "ambition"),
    "trust.legal_agreements": _probe(
        "formalisation", 0.1, 0.9, "ambition",
        via=("trust.formal_scaffold", "communication.heavy_process")),
    "trust.risk_threshold": _probe(
        "history", -0.5, 0.5, "ambition", text="trust raised through history -0.5 -> 0.5",
        setter=_context("history")),
    "trust.overambition": _probe(
        "ambition_bias", 0.0, 0.8, "trust_early", via=("ambition_bias_scale (baseline)",)),
    "trust.underambition": _probe(
        "ambition_bias", -0.8, 0.0, "faith_early",
        via=("task.unambitious_aims", "ambition_bias_scale (baseline)")),
    "trust.success_loop": _probe(
        "absent_actors", 0.9, 0.1, "trust_early",
        text="task success raised through absent_actors 0.9 -> 0.1",
        via=("trust.failure_loop", "conflict.task_failure")),
    "trust.failure_loop": _probe(
        "absent_actors", 0.1, 0.9, "trust_early",
        text="task failure raised through absent_actors 0.1 -> 0.9",
        via=("trust.success_loop", "conflict.task_failure")),
    "dissolution.critical_trust": _probe(
        "history", -0.5, 0.5, "dissolved_by_trust",
        text="trust raised through history -0.5 -> 0.5", setter=_context("history"),
        via=_TRUST_PATHS),
    "dissolution.faith_collapse": _probe(
        "stakeholder_involvement", 0.1, 0.9, "dissolved_by_faith",
        text="faith raised through stakeholder_involvement 0.1 -> 0.9"),
    # Power.
    "power.size_domination": _probe(
        "size", 1.0, 1000.0, "trust_early",
        text="size asymmetry: member 1 1x -> 1000x member 0 (same geometric mean)",
        setter=_size_ratio, via=("conflict.dominance",)),
    "power.unequal_resources": _probe("resource_equality", 0.1, 0.9, "trust_early"),
    "power.mandated_imbalance": _probe(
        "mandated", False, True, "trust_early", text="mandated false -> true",
        via=("power.mandated_exit_barrier", "leadership.combative_mandated",
             "leadership.combative_voluntary")),
    # Faith.
    "faith.stakeholder_involvement": _probe("stakeholder_involvement", 0.1, 0.9, "faith_early",
                                            via=("vision.stakeholder_involvement",)),
    "faith.authenticity": _probe("authenticity", 0.1, 0.9, "performance",
                                 via=("task.authentic_effort",)),
    "faith.value_realised": _probe(
        "history", -0.5, 0.5, "faith_early",
        text="synergy raised through history -0.5 -> 0.5", setter=_context("history"),
        via=("faith.trust",) + _TRUST_PATHS),
    "faith.priority": _probe("priority", 0.1, 0.9, "faith_early"),
    "faith.leadership_turnover": _probe(
        "workforce_stability", 0.9, 0.1, "faith_early",
        text=_TURNOVER_RAISED, via=("intra.workforce_churn", "faith.intra_conflict")),
    "faith.intra_conflict": _probe(
        "staff_involvement", 0.9, 0.1, "faith_early",
        text=_INTRA_CONFLICT_RAISED,
        via=("task.intra_conflict",)),
    "faith.destructive_conflict": _probe(
        "conflict_resolution", 0.5, 0.1, "faith_early",
        text="destructive resolution raised through conflict_resolution 0.5 -> 0.1, with "
             "history 0.5 (partnerships that last long enough for faith to be read)",
        setup=((_context("history"), 0.5),), via=("faith.trust",)),
    "faith.trust": _probe(
        "history", -0.5, 0.5, "faith_early", text="trust raised through history -0.5 -> 0.5",
        setter=_context("history"), via=("faith.value_realised",) + _TRUST_PATHS),
    # Interpersonal communication.
    "communication.conflicting_cultures": _probe(
        "cultural_distance", 0.0, 0.6, "conflict_rate",
        text="members' cultures moved apart: gap 0 -> 0.6", setter=_culture_gap,
        via=("conflict.cultural_compatibility",)),
    "communication.proximity": _probe("proximity", 0.1, 0.9, "trust_early",
                                      via=("learning.proximity",)),
    "communication.strategies": _probe("communication", 0.1, 0.9, "performance",
                                       via=("learning.communication",)),
    "communication.builds_trust": _probe(
        "communication", 0.1, 0.9, "trust_early",
        text="communication raised through the communication context 0.1 -> 0.9",
        via=("synergy.communication",)),
    "communication.trust_begets_communication": _probe(
        "history", -0.5, 0.5, "communication", text="trust raised through history -0.5 -> 0.5",
        setter=_context("history")),
    # Leadership and cultural integration.
    "leadership.collaborative": _probe(
        "leadership", 0.5, 0.9, "performance", via=("culture.inclusive_integration",)),
    "leadership.combative_mandated": _probe(
        "leadership", 0.1, 0.5, "vision",
        text="leadership 0.1 -> 0.5 in a mandated partnership", setup=_MANDATED),
    "leadership.combative_voluntary": _probe("leadership", 0.1, 0.5, "trust_early"),
    "culture.inclusive_integration": _probe(
        "leadership", 0.5, 0.9, "trust_early",
        text="leadership 0.5 -> 0.9 with members' cultures 0.5 apart", setup=_APART,
        via=("leadership.collaborative",)),
    # Task complexity.
    "complexity.interoperability": _probe("interoperability", 0.1, 0.9, "performance"),
    "complexity.size_trust_requirement": _probe(
        "size", 0.1, 10.0, "trust_requirement",
        text="every member's size 0.1x -> 10x", setter=_size_factor,
        via=("complexity.size_slows_communication",)),
    "complexity.size_slows_communication": _probe(
        "size", 0.1, 10.0, "communication",
        text="every member's size 0.1x -> 10x", setter=_size_factor,
        via=("complexity.size_trust_requirement",)),
    "complexity.problem_simplicity": _probe("problem_simplicity", 0.1, 0.9, "trust_requirement"),
    "complexity.regulation": _probe(
        "regulation", 0.1, 0.5, "performance", via=("entry.regulatory_environment",)),
    "complexity.too_many_partners": _probe(
        "n_members", 2, 6, "performance", text="members 2 -> 6", setter=_n_members,
        via=("every pairwise rule (more pairs)",)),
    # Intra-organisational conflict.
    "intra.staff_involvement": _probe("staff_involvement", 0.1, 0.9, "faith_early"),
    "intra.workforce_churn": _probe(
        "workforce_stability", 0.1, 0.9, "performance",
        via=("task.workforce_instability", "conflict.workforce_churn") + _TURNOVER_PATHS),
    "intra.inertia_workload": _probe(
        "history", 0.5, -0.5, "faith_early",
        text="inertia raised through history 0.5 -> -0.5 (lower trust, less synergy)",
        setter=_context("history"), via=("faith.trust", "faith.value_realised")),
    "intra.flexibility": _probe(
        "flexibility", 0.1, 0.9, "faith_early", via=("task.flexibility", "conflict.flexibility")),
    # Point of entry.
    "entry.competitive_threat": _probe("threat", 0.0, 0.9, "trust_early"),
    # How synergy, ambition, complexity, inertia and a mandate act on the task and on exits.
    "synergy.task_success": _probe(
        "history", -0.5, 0.5, "success_rate",
        text="synergy raised through history -0.5 -> 0.5", setter=_context("history"),
        via=_TRUST_PATHS),
    "task.ambition_difficulty": _probe(
        "ambition_bias", 0.0, 0.8, "success_rate",
        text="ambition raised through ambition_bias 0 -> 0.8",
        via=("trust.overambition", "ambition_bias_scale (baseline)")),
    "complexity.task_difficulty": _probe(
        "problem_simplicity", 0.9, 0.1, "success_rate",
        text="complexity raised through problem_simplicity 0.9 -> 0.1",
        via=("complexity.trust_requirement",)),
    "complexity.trust_requirement": _probe(
        "problem_simplicity", 0.9, 0.1, "ambition",
        text="complexity raised through problem_simplicity 0.9 -> 0.1",
        via=("complexity.task_difficulty",)),
    "inertia.discounted_value": _probe(
        "history", 0.9, 0.3, "value_per_success",
        text="inertia raised through history 0.9 -> 0.3 (lower trust, less synergy)",
        setter=_context("history"), via=_TRUST_PATHS + ("synergy.task_success",)),
    "power.mandated_exit_barrier": _probe(
        "mandated", False, True, "dissolved_by_faith",
        text="mandated false -> true where faith is low (authenticity and stakeholder "
             "involvement 0.1)",
        setup=((_context("authenticity"), 0.1), (_context("stakeholder_involvement"), 0.1)),
        via=("power.mandated_imbalance", "leadership.combative_mandated",
             "leadership.combative_voluntary")),
    # Learning to work together, leadership turnover and the review's other paths.
    "inertia.alignment_time": _probe(
        "evaluation", 0.1, 0.9, "synergy",
        text="experience raised through evaluation 0.1 -> 0.9", setter=_context("evaluation"),
        via=("learning.evaluation", "task.evaluation")),
    "learning.communication": _probe(
        "communication", 0.1, 0.9, "experience",
        text="communication raised through the communication context 0.1 -> 0.9",
        setter=_context("communication")),
    "learning.evaluation": _probe("evaluation", 0.1, 0.9, "experience"),
    "learning.proximity": _probe("proximity", 0.1, 0.9, "experience",
                                 via=("communication.proximity", "learning.communication")),
    "learning.leadership_turnover": _probe(
        "workforce_stability", 0.9, 0.1, "experience", text=_TURNOVER_RAISED,
        via=("conflict.workforce_churn", "trust.leadership_turnover",
             "communication.trust_begets_communication", "learning.communication")),
    "learning.successful_history": _probe(
        "history", 0.0, 0.8, "experience",
        via=("trust.successful_history", "communication.trust_begets_communication",
             "learning.communication")),
    "turnover.workforce_instability": _probe(
        "workforce_stability", 0.1, 0.9, "turnover_rate",
        via=("task.workforce_instability", "conflict.workforce_churn", "intra.workforce_churn")),
    "trust.leadership_turnover": _probe(
        "workforce_stability", 0.9, 0.1, "trust_early", text=_TURNOVER_RAISED,
        via=("conflict.workforce_churn",)),
    "task.authentic_effort": _probe("authenticity", 0.1, 0.9, "performance",
                                    via=("faith.authenticity",)),
    "vision.stakeholder_involvement": _probe("stakeholder_involvement", 0.1, 0.9, "vision"),
    "conflict.role_clarity": _probe("role_clarity", 0.1, 0.9, "trust_early",
                                    via=("task.role_clarity",)),
    "communication.information_exchange": _probe(
        "information_exchange", 0.1, 0.9, "communication",
        via=("conflict.information_exchange",)),
    "trust.formal_scaffold": _probe(
        "formalisation", 0.1, 0.9, "trust_early",
        text="formalisation 0.1 -> 0.9 where trust starts low (history -0.5)",
        setup=((_context("history"), -0.5),),
        via=("trust.legal_agreements", "communication.heavy_process")),
    "communication.heavy_process": _probe(
        "formalisation", 0.5, 0.9, "communication",
        via=("trust.legal_agreements", "trust.formal_scaffold",
             "communication.trust_begets_communication")),
    "entry.regulatory_environment": _probe("regulation", 0.1, 0.9, "trust_early",
                                           via=("complexity.regulation",)),
}


# -- probes of any rule ---------------------------------------------------------------------------
#: How each state input is raised through a built-in context, for a rule that reads it:
#: (setter, low, high, description).
STATE_PROBES: dict[str, tuple[Setter, Any, Any, str]] = {
    "trust": (_context("history"), -0.5, 0.5, "trust raised through history -0.5 -> 0.5"),
    "synergy": (_context("history"), -0.5, 0.5, "synergy raised through history -0.5 -> 0.5"),
    "inertia": (_context("history"), 0.5, -0.5, "inertia raised through history 0.5 -> -0.5"),
    "faith": (_context("stakeholder_involvement"), 0.1, 0.9,
              "faith raised through stakeholder_involvement 0.1 -> 0.9"),
    "communication": (_context("communication"), 0.1, 0.9,
                      "communication raised through the communication context 0.1 -> 0.9"),
    "intra_conflict": (_every_member("staff_involvement"), 0.9, 0.1, _INTRA_CONFLICT_RAISED),
    "shared_vision": (_context("shared_vision"), 0.1, 0.9, "shared_vision 0.1 -> 0.9"),
    "cultural_distance": (_culture_gap, 0.0, 0.6, "members' cultures moved apart: gap 0 -> 0.6"),
    "task_success": (_context("absent_actors"), 0.9, 0.1,
                     "task success raised through absent_actors 0.9 -> 0.1"),
    "task_failure": (_context("absent_actors"), 0.1, 0.9,
                     "task failure raised through absent_actors 0.1 -> 0.9"),
    "ambition": (_context("ambition_bias"), -0.5, 0.5,
                 "ambition raised through ambition_bias -0.5 -> 0.5"),
    "destructive_resolution": (_context("conflict_resolution"), 0.5, 0.1,
                               "destructive resolution raised through conflict_resolution "
                               "0.5 -> 0.1"),
    "dominance": (_size_ratio, 1.0, 1000.0, "dominance raised through a size asymmetry: "
                  "member 1 1x -> 1000x member 0 (same geometric mean)"),
    "n_members": (_n_members, 2, 6, "members 2 -> 6"),
    "experience": (_context("evaluation"), 0.1, 0.9,
                   "experience raised through evaluation 0.1 -> 0.9"),
    "turnover": (_every_member("workforce_stability"), 0.9, 0.1, _TURNOVER_RAISED),
}
#: The measure of each outcome a rule can declare.
OUTCOME_MEASURES: dict[str, str] = {
    "task_achievement": "performance", "trust": "trust_early", "faith": "faith_early",
    "ambition": "ambition", "conflict": "conflict_rate", "dissolution": "dissolved",
    "shared_vision": "vision", "communication": "communication", "synergy": "synergy",
    "intra_conflict": "intra_early", "trust_requirement": "trust_requirement",
    "experience": "experience", "turnover": "turnover_rate",
}


def _user_context(name: str, level: str) -> Setter:
    def setter(scenario: Scenario, value: Any) -> Scenario:
        if level == "partnership":
            return scenario.with_values({f"contexts.{name}": value})
        return scenario.with_values({f"members[{i}].contexts.{name}": value
                                     for i in range(scenario.n_members)})

    return setter


def _declared_setter(name: str, info) -> Setter:
    builtin = name in PARTNERSHIP_FIELDS or name in MEMBER_FIELDS
    if not builtin:
        return _user_context(name, info.level)
    return _every_member(name) if info.level == "member" else _context(name)


def _range_for(term, info) -> tuple[Any, Any, str]:
    """Low and high values of a declared context for a term of ``term.form``."""
    if info.boolean:
        return False, True, ""
    low, high = info.low, info.high
    span = high - low
    centre = info.typical if term.centre is None else term.centre
    centre = min(max(centre, low), high)
    lo, hi = low + 0.1 * span, high - 0.1 * span
    if term.form == "upper":
        lo = centre
    elif term.form == "lower":
        hi = centre
    elif term.form == "threshold":
        lo, hi = max(low, centre - 0.1 * span), min(high, centre + 0.1 * span)
    note = f" ({term.form} half)" if term.form in ("upper", "lower") else ""
    return round(lo, 6), round(hi, 6), note


def _condition_setup(rule, theory) -> tuple[list[tuple[Setter, Any]], list[str]]:
    """Setters making the rule's conditions on contexts hold, and its conditions on state.

    A condition on the month's state cannot be set by a scenario: it is returned as text.
    """
    from cmo_sim.core.terms import parse_condition

    contexts = theory.contexts
    setup, state = [], []
    for term in rule.term_models():
        site = SITES[term.site]
        for text in term.when:
            cond = parse_condition(text)
            info = contexts.get(cond.context)
            if info is None or (cond.context in site.inputs and site.stage == "month"):
                state.append(text)
                continue
            if info.boolean:
                value: Any = cond.op in (">", ">=")
            else:
                low, high = (1.0, 1e7) if cond.context == "size" else (info.low, info.high)
                above = cond.op in (">", ">=")
                value = (cond.value + high) / 2 if above else (low + cond.value) / 2
                value = min(max(value, low), high)
            setup.append((_declared_setter(cond.context, info), value))
    return setup, list(dict.fromkeys(state))


def probe_for(rule, theory: Theory) -> Probe:
    """How ``rule`` is tested: its curated probe, or one built from what it declares.

    The curated probe is used for a default rule as the default theory has it.

    The built probe raises the rule's context across its range (for a rule on one half of the
    range, across that half; a state input through the built-in context in
    :data:`STATE_PROBES`), with the rule's conditions on contexts set on both sides, and reads
    the measure of the rule's outcome (:data:`OUTCOME_MEASURES`). ``via`` lists the theory's
    other rules on the same context.
    """
    default = load_theory()
    if rule.id in PROBES and rule.id in default.ids:
        original = default.rule(rule.id)
        if (original.context, original.outcome, original.term_models()) == (
                rule.context, rule.outcome, rule.term_models()):
            return PROBES[rule.id]
    term = rule.term_models()[0]
    site = SITES[term.site]
    contexts = theory.contexts
    setup, state_conditions = _condition_setup(rule, theory)
    if site.kind == "floor" or (rule.context in site.inputs and site.stage == "month") or (
            rule.context not in contexts):
        setter, low, high, text = STATE_PROBES[rule.context]
    else:
        info = contexts[rule.context]
        low, high, note = _range_for(term, info)
        if rule.context == "size":
            setter, low, high = _size_factor, 0.1, 10.0
            text = "every member's size 0.1x -> 10x"
        else:
            setter = _declared_setter(rule.context, info)
            where = "every member's " if info.level == "member" else ""
            text = f"{where}{rule.context} {low} -> {high}{note}"
    if setup:
        text += " with " + ", ".join(t for term in rule.term_models() for t in term.when
                                     if t not in state_conditions)
    if state_conditions:
        text += " (acting where " + " and ".join(state_conditions) + ")"
    via = tuple(r.id for r in theory.rules
                if r.id != rule.id and r.weight > 0 and r.context == rule.context)
    return Probe(text, setter, low, high, OUTCOME_MEASURES[rule.outcome], tuple(setup), via)


# -- backgrounds -----------------------------------------------------------------------------------
def background_scenarios(
    n: int, *, seed: Any = 0, base: Scenario | Mapping | None = None
) -> list[Scenario]:
    """``n`` background scenarios: ``base`` with every other context perturbed.

    Every numeric partnership context is drawn uniformly within :data:`BACKGROUND_SPREAD` of
    its value in ``base`` (kept inside its bounds). Each member attribute moves by one draw
    within the same spread shared by all members plus an individual jitter within
    :data:`MEMBER_JITTER`; sizes are multiplied by a shared ``10 ** u`` (``|u| <= 0.3``) and an
    individual ``10 ** v`` (``|v| <= 0.1``). ``mandated``, ``lead`` and the timeline are kept.
    The draws depend only on ``seed``.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"backgrounds: {n!r} is not allowed (an int >= 1)")
    base = Scenario.model_validate(_TYPICAL) if base is None else _as_scenario(base)
    rng = np.random.default_rng([normalise_seed(seed), 0x0BAC])
    out = []
    for k in range(n):
        changes: dict[str, Any] = {"name": f"background{k}"}
        for name in PARTNERSHIP_FIELDS:
            bounds = field_bounds(name)
            if bounds is not None:
                value = getattr(base, name)
                changes[name] = _uniform(rng, value - BACKGROUND_SPREAD, value + BACKGROUND_SPREAD,
                                         bounds)
        shared = {name: rng.uniform(-1.0, 1.0) for name in MEMBER_FIELDS}
        for i, member in enumerate(base.members):
            for name in MEMBER_FIELDS:
                value = getattr(member, name)
                if name == "size":
                    log10 = (SIZE_SPREAD_LOG10 * shared[name]
                             + rng.uniform(-SIZE_JITTER_LOG10, SIZE_JITTER_LOG10))
                    changes[f"members[{i}].size"] = float(
                        np.clip(round(value * 10**log10, 1), 1.0, 1e7))
                else:
                    centre = value + BACKGROUND_SPREAD * shared[name]
                    changes[f"members[{i}].{name}"] = _uniform(
                        rng, centre - MEMBER_JITTER, centre + MEMBER_JITTER,
                        field_bounds(f"members[0].{name}"))
        out.append(base.with_values(changes))
    return out


def _uniform(rng: np.random.Generator, low: float, high: float,
             bounds: tuple[float, float]) -> float:
    """A uniform draw in [low, high] clipped into ``bounds`` (rounded to 6 decimals)."""
    value = float(np.clip(rng.uniform(low, high), bounds[0], bounds[1]))
    return round(value, 6)


def _as_scenario(value: Any) -> Scenario:
    from cmo_sim.scenario import load_scenario

    return load_scenario(value)


# -- estimation ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Estimate:
    mean: float
    low: float
    high: float
    per_replicate: np.ndarray
    per_background: np.ndarray
    downstream: _Estimate | None = None


#: The downstream outcome every rule is also measured on, and the smallest effect on it that
#: counts (a rule whose effect is smaller, or whose interval includes 0, is flagged).
DOWNSTREAM = "dissolved"
DOWNSTREAM_MINIMUM = 0.01


def _paired_effect(
    probe: Probe, backgrounds: Sequence[Scenario], theory: Theory, *, replicates: int,
    steps: int, seed: int, level: float,
) -> _Estimate:
    """Mean paired difference high - low over backgrounds and replicates, with its t interval.

    Replicate ``r`` of every scenario shares its random numbers, so the backgrounds' differences
    in replicate ``r`` are averaged first; these per-replicate means are independent across
    replicates, and the interval is the t interval of their mean. The same runs give the
    effect on the downstream outcome (:data:`DOWNSTREAM`).
    """
    scenarios = []
    for k, background in enumerate(backgrounds):
        low, high = probe.scenarios(background)
        scenarios += [low.with_values({"name": f"b{k}_low"}),
                      high.with_values({"name": f"b{k}_high"})]
    measure = MEASURES[probe.measure]
    results = simulate(scenarios, runs=replicates, steps=steps, seed=seed, theory=theory,
                       record="trajectory" if measure.trajectories else "summary")
    if measure.read is None:
        params = compile_params(scenarios, replicates=replicates, seed=seed, theory=theory)
        values = _mean_communication(params, steps)
    else:
        values = measure.read(results, steps)
    downstream = _estimate(MEASURES[DOWNSTREAM].read(results, steps), len(backgrounds),
                           replicates, level)
    return dataclasses.replace(_estimate(values, len(backgrounds), replicates, level),
                               downstream=downstream)


def _estimate(values, n_backgrounds: int, replicates: int, level: float) -> _Estimate:
    # Scenario-major: run = scenario * replicates + replicate.
    values = np.asarray(values, dtype=float).reshape(n_backgrounds, 2, replicates)
    diff = values[:, 1, :] - values[:, 0, :]  # [backgrounds, replicates]
    diff = np.where(np.isfinite(diff), diff, 0.0)  # e.g. a success rate of a run with no month
    per_replicate = diff.mean(axis=0)
    mean = float(per_replicate.mean())
    half = _half_width(per_replicate, level)
    return _Estimate(mean, mean - half, mean + half, per_replicate, diff.mean(axis=1))


def _half_width(values: np.ndarray, level: float) -> float:
    n = values.size
    if n < 2:
        return math.inf
    se = float(values.std(ddof=1)) / math.sqrt(n)
    return float(stats.t.ppf(0.5 + level / 2, n - 1)) * se


# -- the report ------------------------------------------------------------------------------------
#: Columns of :attr:`ConformanceReport.table`.
TABLE_COLUMNS = (
    "rule", "context", "outcome", "sign", "manipulation", "measure", "effect", "ci_low",
    "ci_high", "backgrounds_agree", "pass", "effect_ablated", "ablated_ci_low", "ablated_ci_high",
    "share", "share_ci_low", "share_ci_high", "via", "ablation_pass", "ablation",
    "downstream", "downstream_effect", "downstream_ci_low", "downstream_ci_high",
    "downstream_share", "downstream_share_ci_low", "downstream_share_ci_high", "downstream_flag",
)


@dataclass(frozen=True)
class ConformanceReport:
    """What :func:`conformance` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per rule (columns :data:`TABLE_COLUMNS`): the rule, its context, outcome and
        expected sign; the manipulation and measure used; the effect with its confidence
        interval and whether it passes; the effect with the rule ablated, the rule's share of
        the effect with its interval, and whether the ablation passes.
    per_background : pandas.DataFrame
        The effect of each rule in each background scenario (columns rule, background, effect,
        effect_ablated): where the claim holds and where it is weak.
    backgrounds : list of Scenario
        The background scenarios.
    meta : dict
        Theory name, replicates, backgrounds, steps, seed, level, ablation tolerance, runtime.
    """

    table: pd.DataFrame
    per_background: pd.DataFrame
    backgrounds: list[Scenario] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether every rule passes both its direction and its ablation check."""
        return bool((self.table["pass"] & self.table["ablation_pass"]).all())

    @property
    def failures(self) -> pd.DataFrame:
        """The rows of rules failing either check."""
        return self.table[~(self.table["pass"] & self.table["ablation_pass"])]

    def to_markdown(self) -> str:
        """The report as Markdown: settings, pass counts, then the rule table."""
        t, meta = self.table, self.meta
        lines = [
            "# Conformance of the programme theory",
            "",
            f"Theory `{meta.get('theory', '')}`: {len(t)} rules tested, each across "
            f"{meta.get('backgrounds')} background scenarios x {meta.get('replicates')} "
            f"replicates with common random numbers, {meta.get('steps')} months, seed "
            f"{meta.get('seed')}; {100 * meta.get('level', 0.95):g}% t intervals over replicates.",
            "",
            f"- direction: **{int(t['pass'].sum())} of {len(t)} pass** (sign as stated, interval "
            "excludes 0)",
            f"- ablation: **{int(t['ablation_pass'].sum())} of {len(t)} pass** (removing the rule "
            f"removes the effect, or its share of it; tolerance "
            f"{meta.get('ablation_tolerance', 0.2):g})",
        ]
        if "seconds" in meta:
            lines.append(f"- runtime: {meta['seconds']:.0f} s")
        failing = self.failures
        if len(failing):
            lines += ["", "Rules failing a check: " + ", ".join(f"`{r}`" for r in failing["rule"])]
        small = t[t["downstream_flag"] != ""]
        lines += ["", f"Downstream: each manipulation is also measured on the share of runs "
                  f"dissolved within the run ({DOWNSTREAM}), and so is the rule's own part of "
                  "that effect (with the rule minus without it, paired by replicate); "
                  f"{len(t) - len(small)} of {len(t)} rules' own part is at least "
                  f"{DOWNSTREAM_MINIMUM:g} in size with an interval excluding 0."]
        if len(small):
            lines += ["Below that minimum (flagged, not failed): " + ", ".join(
                f"`{r['rule']}` ({r['downstream_flag']})" for r in small.to_dict("records"))]
        lines += ["", _markdown_table(t), "", "Measures:", ""]
        lines += [f"- `{name}`: {MEASURES[name].description}"
                  for name in dict.fromkeys(t["measure"])]
        other = t[t["via"] != ""]
        if len(other):
            lines += ["", "Other paths of a manipulation to its measure (the ablation check is "
                      "about the rule's share where these exist):", ""]
            lines += [f"- `{r['rule']}`: {r['via']}" for r in other.to_dict("records")]
        return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "**no**"
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return ""
        return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def _markdown_table(t: pd.DataFrame) -> str:
    header = ["rule", "context -> outcome", "sign", "manipulation", "measure", "effect [CI]",
              "agree", "pass", "ablated [CI]", "share", "ablation", "dissolution [CI]",
              "rule's part [CI]"]
    rows = []
    for r in t.to_dict("records"):
        rows.append([
            f"`{r['rule']}`", f"{r['context']} -> {r['outcome']}", f"{r['sign']:+d}",
            r["manipulation"], r["measure"],
            f"{_fmt(r['effect'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]",
            f"{r['backgrounds_agree']:.0%}", _fmt(bool(r["pass"])),
            f"{_fmt(r['effect_ablated'])} [{_fmt(r['ablated_ci_low'])}, "
            f"{_fmt(r['ablated_ci_high'])}]",
            f"{r['share']:.0%}" if math.isfinite(r["share"]) else "",
            f"{_fmt(bool(r['ablation_pass']))} ({r['ablation']})",
            f"{_fmt(r['downstream_effect'])} [{_fmt(r['downstream_ci_low'])}, "
            f"{_fmt(r['downstream_ci_high'])}]",
            f"{_fmt(r['downstream_share'])} [{_fmt(r['downstream_share_ci_low'])}, "
            f"{_fmt(r['downstream_share_ci_high'])}]"
            + (f" **{r['downstream_flag']}**" if r["downstream_flag"] else ""),
        ])
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(out)


# -- the entry point -------------------------------------------------------------------------------
def conformance(
    theory: Theory | str | None = None,
    *,
    replicates: int = 200,
    backgrounds: int = 8,
    steps: int = 60,
    seed: Any = 0,
    level: float = 0.95,
    ablation_tolerance: float = 0.2,
    rules: Sequence[str] | None = None,
    base: Scenario | Mapping | None = None,
    progress: Callable[[str], None] | None = None,
) -> ConformanceReport:
    """Test every rule's stated direction, and that ablating it removes the effect.

    Parameters
    ----------
    theory : Theory or path, optional
        The programme theory (default: the review's).
    replicates : int
        Paired replicates per background and side (common random numbers).
    backgrounds : int
        Background scenarios (the typical dyad, or ``base``, with other contexts perturbed).
    steps : int
        Months simulated.
    seed : int
        Seed of the simulations and of the background draws.
    level : float
        Confidence level of the intervals.
    ablation_tolerance : float
        An ablated effect smaller than this share of the full effect counts as removed.
    rules : sequence of str, optional
        Test only these rule ids (default: every rule).
    base : Scenario or mapping, optional
        The scenario the backgrounds are drawn around (default: the typical voluntary dyad).
    progress : callable, optional
        Called with each rule id before it is tested.

    Returns
    -------
    ConformanceReport

    Notes
    -----
    The direction passes when the effect has the rule's sign and its interval excludes 0. The
    ablation passes when, with ``theory.without(rule)``, the effect's interval includes 0 or its
    size is below ``ablation_tolerance`` times the full effect ("removed"); where the
    manipulation also moves the measure through other rules (``via``), it passes too when the
    rule's share of the effect (full minus ablated, paired by replicate) has the rule's sign and
    an interval excluding 0 ("share").
    """
    started = time.perf_counter()
    if theory is None or isinstance(theory, str | os.PathLike):
        theory = load_theory(theory)
    elif not isinstance(theory, Theory):
        raise ValueError(f"theory: {theory!r} is not a Theory or a path to a theory file")
    for name, value in (("replicates", replicates), ("steps", steps)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 2:
            raise ValueError(f"{name}: {value!r} is not allowed (an int >= 2)")
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise ValueError(f"level: {level!r} is not allowed (a number in (0, 1))")
    if (isinstance(ablation_tolerance, bool) or not isinstance(ablation_tolerance, int | float)
            or not 0 <= ablation_tolerance < 1):
        raise ValueError(
            f"ablation_tolerance: {ablation_tolerance!r} is not allowed (a number in [0, 1))")
    ids = list(theory.ids) if rules is None else [theory.rule(r).id for r in rules]
    seed_int = normalise_seed(seed)
    sample = background_scenarios(backgrounds, seed=seed_int, base=base)
    rows, per_background = [], []
    for rule_id in ids:
        if progress is not None:
            progress(rule_id)
        rule = theory.rule(rule_id)
        probe = probe_for(rule, theory)
        kwargs = dict(replicates=int(replicates), steps=int(steps), seed=seed_int,
                      level=float(level))
        full = _paired_effect(probe, sample, theory, **kwargs)
        ablated = _paired_effect(probe, sample, theory.without(rule_id), **kwargs)
        rows.append(_row(rule, probe, full, ablated, float(level), float(ablation_tolerance)))
        per_background += [
            {"rule": rule_id, "background": k, "effect": float(e), "effect_ablated": float(a)}
            for k, (e, a) in enumerate(zip(full.per_background, ablated.per_background,
                                           strict=True))
        ]
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    meta = {
        "theory": theory.name, "replicates": int(replicates), "backgrounds": int(backgrounds),
        "steps": int(steps), "seed": seed_int, "level": float(level),
        "ablation_tolerance": float(ablation_tolerance),
        "seconds": time.perf_counter() - started,
    }
    return ConformanceReport(table, pd.DataFrame(per_background), sample, meta)


def _row(rule, probe: Probe, full: _Estimate, ablated: _Estimate, level: float,
         tolerance: float) -> dict[str, Any]:
    sign = rule.sign
    passed = np.sign(full.mean) == sign and (full.low > 0 or full.high < 0)
    removed = (ablated.low <= 0 <= ablated.high) or abs(ablated.mean) < tolerance * abs(full.mean)
    drop = full.per_replicate - ablated.per_replicate  # paired: same replicates, same draws
    drop_mean = float(drop.mean())
    half = _half_width(drop, level)
    share_low, share_high = drop_mean - half, drop_mean + half
    via = [v for v in probe.via if v != rule.id]
    share_holds = bool(via) and np.sign(drop_mean) == sign and (
        share_low > 0 or share_high < 0)
    if removed:
        ablation = "removed"
    elif share_holds:
        ablation = "share"
    else:
        ablation = "not removed"
    scale = full.mean if full.mean != 0 else math.nan
    share_ci = sorted((share_low / scale, share_high / scale))
    agree = float(np.mean(np.sign(full.per_background) == sign))
    return {
        "rule": rule.id, "context": rule.context, "outcome": rule.outcome, "sign": sign,
        "manipulation": probe.manipulation, "measure": probe.measure, "effect": full.mean,
        "ci_low": full.low, "ci_high": full.high, "backgrounds_agree": agree,
        "pass": bool(passed), "effect_ablated": ablated.mean, "ablated_ci_low": ablated.low,
        "ablated_ci_high": ablated.high, "share": drop_mean / scale,
        "share_ci_low": share_ci[0], "share_ci_high": share_ci[1],
        "via": ", ".join(via), "ablation_pass": bool(removed or share_holds),
        "ablation": ablation, **_downstream(full.downstream, ablated.downstream, level),
    }


def _downstream(full: _Estimate, ablated: _Estimate, level: float) -> dict[str, Any]:
    """The downstream columns of a rule's row.

    The manipulation's effect on the downstream outcome, and the rule's own part of it: the
    effect with the rule minus the effect without it, paired by replicate. The flag says why
    a rule's own part is small (its interval includes 0, or it is below the minimum).
    """
    own = full.per_replicate - ablated.per_replicate
    mean, half = float(own.mean()), _half_width(own, level)
    flag = ""
    if mean - half <= 0 <= mean + half:
        flag = "interval includes 0"
    elif abs(mean) < DOWNSTREAM_MINIMUM:
        flag = f"below {DOWNSTREAM_MINIMUM:g}"
    return {"downstream": DOWNSTREAM, "downstream_effect": full.mean,
            "downstream_ci_low": full.low, "downstream_ci_high": full.high,
            "downstream_share": mean, "downstream_share_ci_low": mean - half,
            "downstream_share_ci_high": mean + half, "downstream_flag": flag}
