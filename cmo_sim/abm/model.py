"""``PartnershipModel``: the Mesa reference engine, and ``run_abm`` over a Params batch.

One model is one run: a partnership of :class:`~cmo_sim.abm.agents.Organisation` agents over
months. Each month every member decides from the previous state, then all decisions take effect
together (synchronous update), in the order of the numpy step (:func:`cmo_sim.core.step.step`):
timeline, leadership turnover, functioning and synergy, learning to work together, ambition,
task, conflict, trust / faith / intra-organisational conflict / culture, shared vision, exits and
dissolution. The contexts of each month come from a
one-run :class:`~cmo_sim.params.Params` and the random draws from :func:`cmo_sim.rng.uniform` with
the numpy engine's ``(step, stream, i, j)`` counters, so both engines give the same run.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from os import PathLike
from typing import Any

import mesa
import numpy as np
import pandas as pd

from cmo_sim._errors import ScenarioError, closest
from cmo_sim._simulate import as_theory
from cmo_sim.abm.agents import (
    Organisation,
    add_terms,
    clip,
    nudge,
    ordered_sum,
    sigmoid,
)
from cmo_sim.core import ends
from cmo_sim.core.runner import Record, RunOutput, record_steps, validate_record
from cmo_sim.core.state import (
    CAUSE_FAITH,
    CAUSE_NAMES,
    CAUSE_NONE,
    CAUSE_TRUST,
    COUNTERS,
    TRUST_ACCOUNT,
    State,
)
from cmo_sim.core.terms import ContextInfo, modulator_value, reduce_pair, size_norm
from cmo_sim.params import Params, compile_params
from cmo_sim.rng import Stream, uniform
from cmo_sim.scenario import (
    FORMS,
    MAX_MEMBERS,
    MEMBER_FIELDS,
    PARTNERSHIP_FIELDS,
    Member,
    Scenario,
    check_steps,
    load_scenario,
)
from cmo_sim.theory import Theory, load_theory

__all__ = ["EVENT_COLUMNS", "MonthlyCollector", "Outlook", "PartnershipModel", "run_abm"]

#: Columns of the event log (:meth:`PartnershipModel.events_frame`).
EVENT_COLUMNS = (
    "step", "mechanism", "outcome", "member", "partner", "members", "rules",
    "d_trust", "d_faith", "d_synergy", "value", "threshold", "driver", "detail",
)
_NAN = float("nan")


@dataclass
class Outlook:
    """What every member sees in month ``t``, and the month's partnership-level outcomes.

    Derived from the previous state; the outcomes (synergy, ambition, task, conflicts) are
    filled in as the month is settled. :meth:`read`, :meth:`modulator` and :meth:`target` give
    the terms of the theory's sites what they read, at one member ``i`` (towards ``j``).

    Pair-keyed mappings use member indices: ``communication[(i, j)]`` is i's communication
    towards j for active ``i != j``; conflict pairs are ``(i, j)`` with ``i < j``.
    """

    t: int
    ctx: dict[str, float]
    members: dict[int, Organisation]
    active: list[Organisation]
    count: float
    power: dict[int, float]
    rank: dict[int, float]
    top: int
    lead: int
    ease: float = _NAN
    complexity: float = _NAN
    communication: dict[tuple[int, int], float] = field(default_factory=dict)
    trust_given: dict[int, float] = field(default_factory=dict)
    mean_trust: float = _NAN
    mean_comm: float = _NAN
    mean_faith: float = _NAN
    intra_mean: float = _NAN
    vision: float = _NAN
    synergy_before: float = _NAN
    faith_before: dict[int, float] = field(default_factory=dict)
    synergy: float = _NAN
    ambition: float = _NAN
    p_success: float = _NAN
    success: bool = False
    alive: bool = True
    destructive_loss: float = _NAN
    conflicts: list[tuple[int, int]] = field(default_factory=list)
    constructive_pairs: set[tuple[int, int]] = field(default_factory=set)
    destructive_pairs: set[tuple[int, int]] = field(default_factory=set)
    culture_centre: float = _NAN
    culture_pull: float = 0.0
    n_pairs: float = 1.0
    experience: float = _NAN
    next_experience: float = _NAN
    turnover: dict[int, float] = field(default_factory=dict)
    turnover_share: float = 0.0

    def dominance(self, member: Organisation, partner: Organisation) -> float:
        """Dominance ``member`` feels from ``partner``.

        ``max(0, p_partner - p_member) + lead_power_partner``: a more powerful partner, and a
        member with lead power (e.g. the lead of a mandated partnership), dominate.
        """
        return max(self.power[partner.index] - self.power[member.index], 0.0) + self.rank[
            partner.index
        ]

    # -- what terms read ----------------------------------------------------------------------
    def read(self, name: str, level: str, reduce: str, shape: str, i: int, j: int,
             raw: bool = False) -> float:
        """The value of context or state input ``name`` at member ``i`` (towards ``j``)."""
        if level == "constant":
            return 0.0
        if level == "partnership":
            return self.ctx[name]
        if level == "member":
            def value(k: int) -> float:
                x = self.members[k].attributes[name]
                return float(size_norm(x)) if name == "size" and not raw else x

            if shape == "run":
                return ordered_sum(value(m.index) for m in self.active) / self.count
            if shape == "member":
                return value(i)
            return reduce_pair(reduce, value(i), value(j))
        return self._state(name, shape, i, j, raw)

    def _state(self, name: str, shape: str, i: int, j: int, raw: bool) -> float:
        members = self.members
        if name == "trust":
            if shape == "pair":
                return members[i].trust[j]
            if shape == "upair":
                return 0.5 * (members[i].trust[j] + members[j].trust[i])
            if shape == "member":
                return self.trust_given[i]
            return self.mean_trust
        if name == "communication":
            if shape == "pair":
                return self.communication[(i, j)]
            if shape == "upair":
                return 0.5 * (self.communication[(i, j)] + self.communication[(j, i)])
            return self.mean_comm
        if name == "faith":
            return members[i].faith if shape == "member" else self.mean_faith
        if name == "intra_conflict":
            return members[i].intra_conflict if shape == "member" else self.intra_mean
        if name == "cultural_distance":
            return abs(members[i].culture - members[j].culture)
        if name == "dominance":
            forward = self.dominance(members[i], members[j])
            if shape == "upair":
                return max(forward, self.dominance(members[j], members[i]))
            return forward
        if name == "destructive_resolution":
            count = ordered_sum(1.0 for pair in self.destructive_pairs if i in pair)
            return count / max(self.count - 1.0, 1.0)
        if name == "n_members":
            return self.count if raw else (self.count - 2.0) / 14.0
        if name == "complexity":
            return self.complexity
        if name == "experience":
            return self.experience
        if name == "turnover":
            return self.turnover[i] if shape == "member" else self.turnover_share
        return {
            "synergy": self.synergy,
            "inertia": 1.0 - self.synergy,
            "shared_vision": self.vision,
            "ambition": self.ambition,
            "task_success": 1.0 if self.success and self.alive else 0.0,
            "task_failure": 0.0 if self.success or not self.alive else 1.0,
        }[name]

    def modulator(self, name: str, shape: str, i: int, j: int) -> float:
        """Modulator ``name`` at member ``i`` (towards ``j``)."""
        if name == "exit_ease":
            return modulator_value(name, ease=self.ease)
        if name == "mistrust":
            return modulator_value(name, mean_trust=self.mean_trust)
        source = {"distrust_odds": "trust", "ambition": "ambition",
                  "ambition_capped": "ambition", "communication": "communication"}[name]
        value = self._state(source, shape, i, j, False)
        return modulator_value(name, trust=value, ambition=value, communication=value)

    def target(self, name: str, shape: str, i: int, j: int) -> float:
        """1.0 if the term's target is the member (``i``) or partner (``j``) it acts on."""
        who = self.lead if name == "lead" else self.top
        return 1.0 if (i if shape == "member" else j) == who else 0.0


def _ids(*lists: Iterable[str]) -> str:
    """Comma-separated rule ids of several lists, each once, in order."""
    return ", ".join(dict.fromkeys(i for ids in lists for i in ids))


#: The floor site of each exit cause.
_FLOOR = {CAUSE_TRUST: "trust_floor", CAUSE_FAITH: "faith_floor"}


#: The model's own keyword arguments (besides the contexts).
MODEL_ARGUMENTS = ("scenario", "members", "theory", "seed", "replicate", "steps", "params",
                   "collect")


def _keyword_contexts(theory: Theory) -> dict[str, ContextInfo]:
    """The partnership-level contexts of ``theory`` (built-in and declared), by name."""
    return {name: info for name, info in theory.contexts.items()
            if info.level == "partnership" and name not in MODEL_ARGUMENTS}


def _context_changes(values: Mapping[str, Any], theory: Theory) -> dict[str, Any]:
    """The ``Scenario.with_values`` changes of keyword contexts, each checked (name, range).

    Raises
    ------
    ScenarioError
        Naming the keyword: an unknown name (with the closest one), a member attribute given
        as a keyword, a value of the wrong type or out of the context's range.
    """
    allowed = _keyword_contexts(theory)
    changes: dict[str, Any] = {}
    for name, value in values.items():
        info = allowed.get(name)
        if info is None:
            if name in MEMBER_FIELDS:
                raise ScenarioError(
                    f"PartnershipModel: '{name}' is a member attribute, not a partnership "
                    f"context: give it per member, e.g. members=[{{'{name}': ...}}, ...]")
            if name in theory.contexts:
                raise ScenarioError(
                    f"PartnershipModel: '{name}' is a member-level context, not a partnership "
                    f"context: give it per member, e.g. "
                    f"members=[{{'contexts': {{'{name}': ...}}}}, ...]")
            raise ScenarioError(
                f"PartnershipModel: unknown keyword argument '{name}'"
                f"{closest(name, [*allowed, *MODEL_ARGUMENTS])} (allowed: the partnership "
                f"contexts {', '.join(allowed)}; and {', '.join(MODEL_ARGUMENTS)})")
        if isinstance(value, np.generic):
            value = value.item()
        if info.boolean:
            if not isinstance(value, bool):
                raise ScenarioError(f"PartnershipModel: {name}={value!r} is not a boolean "
                                    "(allowed: True or False)")
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ScenarioError(f"PartnershipModel: {name}={value!r} is not a number "
                                    f"(allowed: {info.low:g} .. {info.high:g})")
            value = float(value)
            if not info.low <= value <= info.high:  # NaN fails too
                raise ScenarioError(f"PartnershipModel: {name}={value!r} is out of range "
                                    f"(allowed: {info.low:g} .. {info.high:g})")
        changes[name if name in PARTNERSHIP_FIELDS else f"contexts.{name}"] = value
    return changes


def _member_list(members: Any) -> list[dict[str, Any]]:
    """The ``members`` keyword as a list of member mappings (a count: typical members)."""
    if isinstance(members, np.integer):
        members = int(members)
    if isinstance(members, int) and not isinstance(members, bool):
        if not 2 <= members <= MAX_MEMBERS:
            raise ScenarioError(f"PartnershipModel: members={members} is not allowed (a count "
                                f"2 .. {MAX_MEMBERS}, or a list of member mappings)")
        return [{} for _ in range(members)]
    if isinstance(members, str | bytes | Mapping) or not isinstance(members, Iterable):
        raise ScenarioError(
            f"PartnershipModel: members={members!r} is not a count or a list of members "
            "(mappings of member attributes, e.g. [{'size': 800}, {'size': 1200}])")
    out = []
    for i, member in enumerate(members):
        if isinstance(member, Member):
            out.append(member.model_dump())
        elif isinstance(member, Mapping):
            out.append(dict(member))
        else:
            raise ScenarioError(f"PartnershipModel: members[{i}]: {member!r} is not a mapping "
                                "of member attributes (or a Member)")
    return out


def _build_scenario(scenario: Any, members: Any, contexts: Mapping[str, Any],
                    theory: Theory) -> Scenario:
    """The scenario a model runs, checked against ``theory``.

    ``scenario`` (or the typical partnership), with its members replaced by ``members`` and
    its contexts overridden by the keyword ``contexts``. Every keyword is checked before the
    scenario is read.
    """
    if (isinstance(scenario, tuple) and len(scenario) == 2 and isinstance(scenario[0], str)
            and scenario[0] in Scenario.model_fields):
        raise ScenarioError(
            f"PartnershipModel: scenario=({scenario[0]!r}, ...) is one field of a Scenario, not a "
            "scenario (a sweep such as mesa.batch_run iterates over a Scenario given on its "
            "own: put it in a list, {'scenario': [scenario]})")
    changes = _context_changes(contexts, theory)
    listed = None if members is None else _member_list(members)
    base = None if scenario is None else load_scenario(scenario)
    if base is None or listed is not None:
        data = {} if base is None else base.to_dict()
        data["members"] = [{}, {}] if listed is None else listed
        base = load_scenario(data)
    if changes:
        base = base.with_values(changes)
    return load_scenario(base, theory)


class MonthlyCollector(mesa.DataCollector):
    """The model's DataCollector: entry ``k`` is the state at the end of month ``k``.

    Month ``k`` counts from 0, as ``dissolved_at`` and a timeline event's ``step`` do: entry
    ``k`` of ``model_vars`` (and of the agent records) is the state after ``k + 1`` steps. The
    state at start-up (before month 0) is kept apart, in :attr:`initial`. So the last entry
    is the state after the last step, where Mesa 3.3's ``batch_run`` reads a run's final
    state (``model_vars[model.steps - 1]``), and its rows with ``data_collection_period=1``
    are months 0, 1, ... each at its end.

    The data frames are as usual: :meth:`get_model_vars_dataframe` has one row per step
    taken, start-up first, indexed by the steps taken (column ``months``);
    :meth:`get_agent_vars_dataframe` is indexed by ``Step`` (steps taken, 0 at start-up) and
    ``AgentID``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Model reporters at start-up (before the first step).
        self.initial: dict[str, Any] = {}

    def collect(self, model: mesa.Model) -> None:
        """Record the reporters now, as the entry of the month just settled."""
        super().collect(model)
        taken = model.steps
        if taken == 0:
            self.initial = {name: values.pop() for name, values in self.model_vars.items()}
        for records in (self._agent_records, getattr(self, "_agenttype_records", {})):
            if taken in records:
                records[taken - 1] = records.pop(taken)
        collected = getattr(self, "_collection_steps", None)  # kept by later Mesa versions
        if collected:
            if taken == 0:
                collected.pop()
            else:
                collected[-1] = taken - 1

    def get_model_vars_dataframe(self) -> pd.DataFrame:
        """Model reporters at start-up and after every step (row ``k``: after ``k`` steps)."""
        frame = super().get_model_vars_dataframe()
        if not self.initial:
            return frame
        start = pd.DataFrame({name: [value] for name, value in self.initial.items()})
        return pd.concat([start, frame], ignore_index=True)


class PartnershipModel(mesa.Model):
    """One partnership over months: Organisation agents under the programme theory's rules.

    Every parameter is a keyword argument (``scenario`` may also come first, positionally),
    so ``mesa.batch_run`` grids and dashboard sliders set them by name; see docs/mesa.md.

    Parameters
    ----------
    scenario : Scenario, path or mapping, optional
        The partnership (anything :func:`cmo_sim.load_scenario` accepts): whatever the keyword
        contexts and ``members`` leave out. Without it, the typical partnership.
    **contexts : float (bool for ``mandated``)
        Every partnership context of the scenario (``leadership``, ``shared_vision``, ...)
        and every partnership-level context the theory declares; the default is the
        context's typical value, or with ``scenario`` the scenario's value. A keyword
        overrides the scenario from month 0 (timeline events still change it later).
        :meth:`context_keywords` lists them with their ranges.
    members : int or list of mappings (or Member), optional
        The member organisations: a count (that many typical members) or one mapping of
        member attributes each (``size``, ``resources``, ..., ``name``, ``contexts``);
        replaces the scenario's members. Default: the scenario's, or two typical members.
    theory : Theory or path, optional
        The programme theory; the review's default when omitted.
    seed : int, numpy SeedSequence or Generator
        With ``replicate``, the key of the run's counter-based random streams.
    replicate : int
        Replicate index: ``(seed, replicate)`` gives the same run as replicate ``replicate`` of
        :func:`cmo_sim.simulate` with this seed.
    steps : int
        Months to run; ``running`` turns False after them or at dissolution.
    params : Params, optional
        A one-run Params to run instead of compiling ``scenario`` (what :meth:`from_params`
        passes); then no scenario, contexts, members, theory, seed or replicate.
    collect : bool
        Keep a :class:`MonthlyCollector` (model and agent reporters every month): entry ``k``
        is the state at the end of month ``k``, which is where Mesa 3.3's ``batch_run``
        looks for a run's final state; the data frames have the start-up state first.
        Model reporters: ``mean_trust``, ``mean_faith``, ``synergy``, ``inertia``,
        ``ambition``, ``performance``, ``dissolved``, ``dissolved_at``, ``months`` (steps
        taken) and ``scenario`` (the scenario's name).

    Raises
    ------
    ScenarioError
        Before any work, naming the keyword: an unknown one (with the closest name), a member
        attribute given as a keyword, a value of the wrong type or out of the context's range,
        or bad members.

    Attributes
    ----------
    members : list of Organisation
        The member agents in member order (also in ``model.agents``).
    synergy, vision, ambition, achievement, performance, exit_shock : float
        Partnership state (inertia is ``1 - synergy``).
    dissolved : bool
        Absorbing; with ``dissolved_at`` (month, -1 never) and ``cause`` (``CAUSE_*`` code).
    counters : dict of str to int
        Cumulative events: conflicts, constructive, destructive, successes, failures,
        dominations, exits.
    events : list of dict
        The event log (see :meth:`events_frame`).
    scenario_spec : Scenario or None
        The scenario the model runs (None when built from a Params).
    """

    def __init__(
        self,
        scenario: Scenario | str | PathLike | Mapping | None = None,
        *,
        members: int | Iterable[Mapping | Member] | None = None,
        theory: Theory | str | PathLike | None = None,
        seed: Any = 0,
        replicate: int = 0,
        steps: int = 120,
        params: Params | None = None,
        collect: bool = True,
        **kwargs: Any,
    ) -> None:
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
            raise ValueError(f"steps: {steps!r} is not allowed (an int >= 1)")
        self.scenario_spec: Scenario | None = None
        if params is None:
            if isinstance(replicate, bool) or not isinstance(replicate, int | np.integer) or (
                replicate < 0
            ):
                raise ValueError(f"replicate: {replicate!r} is not allowed (an int >= 0)")
            theory = as_theory(theory)
            scenario = _build_scenario(scenario, members, kwargs, theory)
            check_steps(scenario, int(steps))
            self.scenario_spec = scenario
            params = compile_params([scenario], replicates=[int(replicate)], seed=seed,
                                    theory=theory)
            names = [m.name or f"member {i}" for i, m in enumerate(scenario.members)]
        else:
            if (scenario is not None or theory is not None or seed != 0 or replicate != 0
                    or members is not None or kwargs):
                raise ValueError(
                    "params: give either a scenario (with contexts, members, theory, seed, "
                    "replicate) or a one-run params, not both"
                )
            if params.n_runs != 1:
                raise ValueError(
                    f"params: {params.n_runs} runs given (a model is one run: use "
                    "PartnershipModel.from_params(params, run_index))"
                )
            names = [f"member {i}" for i in range(int(params.present[0].sum()))]
        super().__init__(seed=int(params.keys[0]))
        self.theory: Theory = params.theory
        self.params = params
        self.horizon = int(steps)
        self.terms = params.terms
        self.base: dict[str, float] = dict(params.baseline)
        self.lead = int(params.lead[0])
        self.form = FORMS[int(params.form[0])]
        self.exit_period = int(params.exit_period[0])
        self.term = int(params.term[0])
        self.scenario_name = params.scenario_names[int(params.scenario[0])] if (
            params.scenario_names
        ) else "scenario"
        self.replicate = int(params.replicate[0])
        self._keys = params.keys
        self._static_contexts = None if params.schedules else self._read_contexts(0)
        self.events: list[dict[str, Any]] = []
        self._fixed_terms: dict[tuple, tuple] = {}
        self._fixed_key: tuple = ()
        self._initialise(names)
        self.datacollector = self._data_collector() if collect else None
        if self.datacollector is not None:
            self.datacollector.collect(self)

    @staticmethod
    def context_keywords(theory: Theory | str | PathLike | None = None
                         ) -> dict[str, ContextInfo]:
        """The contexts that are keyword arguments of the model under ``theory``.

        The scenario's partnership contexts and the partnership-level contexts the theory
        declares, each with its range (``low``, ``high``), typical value and meaning: what a
        slider or a sweep over it needs. Member attributes are set through ``members``.
        """
        return _keyword_contexts(as_theory(theory))

    @classmethod
    def from_params(
        cls, params: Params, run_index: int = 0, steps: int = 120, *, collect: bool = True
    ) -> PartnershipModel:
        """The model of run ``run_index`` of a compiled Params batch (same keys, same contexts).

        Members are the run's real (not padding) members; member names are ``"member i"``.
        """
        if not 0 <= run_index < params.n_runs:
            raise ValueError(
                f"run_index: {run_index} is out of range (0 .. {params.n_runs - 1})"
            )
        return cls(params=params.take(np.array([run_index])), steps=steps, collect=collect)

    # -- contexts ---------------------------------------------------------------------------------
    def _read_contexts(self, t: int) -> tuple[dict[str, float], list[dict[str, float]]]:
        """Partnership contexts and each member's attributes in force at month ``t``."""
        return self._split(self.params.contexts_at(t).values)

    def _split(self, values) -> tuple[dict[str, float], list[dict[str, float]]]:
        """Partnership contexts and member attributes of run 0 of ``values``."""
        ctx = {name: float(v[0]) for name, v in values.items() if v.ndim == 1}
        n = int(self.params.present[0].sum())
        rows = {name: v[0].tolist() for name, v in values.items() if v.ndim == 2}
        attributes = [{name: rows[name][i] for name in rows} for i in range(n)]
        return ctx, attributes

    def _contexts(self, t: int) -> tuple[dict[str, float], list[dict[str, float]]]:
        if self._static_contexts is not None:
            return self._static_contexts
        return self._read_contexts(t)

    def fixed(self, name: str, view: Outlook, shape: str, i: int = -1, j: int = -1
              ) -> tuple[float, tuple[tuple[str, float], ...]]:
        """Site ``name``'s intercept plus fixed terms at member ``i``, with each term's part.

        ``j`` is the partner at a pair site; the parts are ``(rule id, value)``.
        Kept while the contexts in force and the members in place stay the same (as the numpy
        engine keeps its fixed terms): the same numbers, computed once.
        """
        key = (name, i, j)
        found = self._fixed_terms.get(key)
        if found is None:
            parts: list[tuple[str, float]] = []
            site = self.terms[name]
            value = add_terms(site.intercept, site.fixed, shape, view, i, j, parts)
            found = self._fixed_terms[key] = (value, tuple(parts))
        return found

    def _site(self, name: str, view: Outlook, shape: str, i: int = -1, j: int = -1) -> float:
        """The value of site ``name`` at member ``i`` (towards ``j``): fixed, then month terms."""
        value = self.fixed(name, view, shape, i, j)[0]
        return add_terms(value, self.terms[name].month, shape, view, i, j)

    def _outlook(self, t: int, ctx: dict[str, float], active: list[Organisation]) -> Outlook:
        """The structure of the month: who is in, power, lead power and the top member.

        The fixed terms kept from earlier months are dropped when the contexts in force or the
        members in place change.
        """
        key = (id(ctx), tuple(m.index for m in active))
        if key != self._fixed_key:
            self._fixed_terms, self._fixed_key = {}, key
        members = {m.index: m for m in self.members}
        count = max(float(len(active)), 1.0)
        view = Outlook(t=t, ctx=ctx, members=members, active=active, count=count,
                       power={m.index: m.power() for m in active}, rank={}, top=self.lead,
                       lead=self.lead)
        view.ease = self._site("exit_ease", view, "run")
        view.rank = {m.index: self._site("lead_power", view, "member", m.index)
                     for m in active}
        # The most powerful member (structure and lead power; the first one on ties).
        if active:
            view.top = max(active, key=lambda m: view.power[m.index] + view.rank[m.index]).index
        return view

    # -- initial state ----------------------------------------------------------------------------
    def _initialise(self, names: list[str]) -> None:
        """Initial trust, faith and partnership state (month 0 contexts, initial draws).

        Initial trust is the initial_trust site of each ordered pair, initial faith the
        initial_faith site of each member, each plus its uniform noise and clipped.
        """
        b = self.base
        ctx, attributes = self._contexts(0)
        n = len(attributes)
        self.members: list[Organisation] = []
        for i in range(n):
            member = Organisation(
                self, i, names[i], trust={}, faith=0.0, intra_conflict=b["intra_initial"],
                culture=attributes[i]["culture"], attributes=attributes[i],
            )
            self.members.append(member)
        view = self._outlook(0, ctx, list(self.members))
        for member in self.members:
            noise = self._draw(0, Stream.INITIAL_FAITH, member.index, 0)
            level = self._site("initial_faith", view, "member", member.index)
            member.faith = clip(level + b["faith_initial_noise"] * (2.0 * noise - 1.0), 0.02,
                                0.98)
            for partner in self.members:
                if partner is member:
                    continue
                noise = self._draw(0, Stream.INITIAL_TRUST, member.index, partner.index)
                level = self._site("initial_trust", view, "pair", member.index, partner.index)
                member.trust[partner.index] = clip(
                    level + b["trust_initial_noise"] * (2.0 * noise - 1.0), 0.02, 0.98)
            member.next_faith = member.faith
        for member in self.members:  # what a like organisation joining in its place starts with
            member.start_trust, member.start_faith = dict(member.trust), member.faith
        self.vision = ctx["shared_vision"]
        self.synergy = b["synergy_initial"]
        self.experience = clip(self._site("initial_experience", view, "run"), 0.0, 1.0)
        self.ambition = 0.0
        self.achievement = 0.0
        self.performance = 0.0
        self.exit_shock = 0.0
        self.success = False
        self.step_conflicts = 0
        self.dissolved = False
        self.dissolved_at = -1
        self.cause = CAUSE_NONE
        self.completed = False
        self.achieved = False
        self.ended_at = -1
        self.synergy_recent = b["synergy_initial"]
        self.success_recent = ends.SUCCESS_RECENT_INITIAL
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.synergy_sum = 0.0
        self.alive_steps = 0
        self.trust_account = dict.fromkeys(TRUST_ACCOUNT, 0.0)
        self._previous_contexts = self._split(self.params.contexts.values)

    def _draw(self, t: int, stream: Stream, i: int = 0, j: int = 0) -> float:
        """One uniform draw of this run at counter ``(t, stream, i, j)``."""
        return float(uniform(self._keys, t, stream, i, j)[0])

    # -- one month --------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance the partnership by one month (a dissolved one only clears its monthly events)."""
        t = self.steps - 1  # Mesa counts the steps taken, this one included
        if self.ended:
            self.achievement, self.step_conflicts, self.success = 0.0, 0, False
        else:
            ctx = self.timeline(t)
            view = self.observe(t, ctx)
            self.leadership_turnover(view)
            self.synergy_and_inertia(view)
            self.learning(view)
            self.agree_ambition(view)
            self.task_attempt(view)
            self.conflict_and_resolution(view)
            next_vision = self.combative_leadership_and_vision(view)
            self.prepare_cultural_integration(view)
            deciding = self.agents.select(lambda member: member.active)
            deciding.do("decide", view)
            self._account(view)
            self._log_month(view)
            deciding.do("apply")
            self.vision = next_vision
            self.experience = view.next_experience
            self.power_and_domination(view)
            self.exit_and_dissolution(view)
            self.form_ends(view)
            self.synergy_sum += self.synergy
            self.alive_steps += 1
        if self.datacollector is not None:
            self.datacollector.collect(self)
        self.running = not self.ended and self.steps < self.horizon

    def timeline(self, t: int) -> tuple[dict[str, float], list[dict[str, float]]]:
        """Scheduled context changes take effect at their month (scenario ``timeline``).

        Members' attributes are updated. A change of a context that is also state (shared
        vision, a member's culture) resets that state, where and only where the scheduled value
        moves this month. Returns the contexts in force this month.
        """
        ctx, attributes = self._contexts(t)
        before_ctx, before_attributes = self._previous_contexts
        if ctx["shared_vision"] != before_ctx["shared_vision"]:
            self.vision = ctx["shared_vision"]
        for member in self.members:
            member.attributes = attributes[member.index]
            if member.attributes["culture"] != before_attributes[member.index]["culture"]:
                member.culture = member.attributes["culture"]
        self._log_timeline(t, ctx, attributes)
        return ctx, attributes

    def observe(self, t: int, contexts: tuple[dict[str, float], list]) -> Outlook:
        """What the members see this month, from the previous state.

        Sites: lead_power (each member's), complexity, communication (each ordered pair).
        """
        ctx = contexts[0]
        active = [m for m in self.members if m.active]
        view = self._outlook(t, ctx, active)
        n_active = float(len(active))
        row_count = max(n_active - 1.0, 1.0)
        view.complexity = clip(self._site("complexity", view, "run"), 0.0, 1.0)
        trust_rows, trust_given = [], {}
        for member in active:
            partners = [p for p in active if p is not member]
            row = ordered_sum(member.trust[p.index] for p in partners)
            trust_rows.append(row)
            trust_given[member.index] = row / row_count
        n_pairs = max(ordered_sum(row_count for _ in active), 1.0)
        any_pair = n_active >= 2.0
        view.trust_given = trust_given
        view.mean_trust = ordered_sum(trust_rows) / n_pairs if any_pair else 0.0
        view.n_pairs = n_pairs
        view.vision = self.vision
        view.mean_faith = ordered_sum(m.faith for m in active) / view.count
        view.intra_mean = ordered_sum(m.intra_conflict for m in active) / view.count
        comm_rows = []
        for member in active:
            values = []
            for partner in active:
                if partner is member:
                    continue
                value = clip(self._site("communication", view, "pair", member.index,
                                        partner.index), 0.0, 1.0)
                view.communication[(member.index, partner.index)] = value
                values.append(value)
            comm_rows.append(ordered_sum(values))
        view.mean_comm = ordered_sum(comm_rows) / n_pairs if any_pair else 0.0
        view.synergy_before = self.synergy
        view.experience = self.experience
        view.faith_before = {m.index: m.faith for m in active}
        return view

    def leadership_turnover(self, view: Outlook) -> None:
        """Members' senior leaders or partnership leads change (site turnover, one draw each)."""
        for member in view.active:
            hazard = sigmoid(self._site("turnover", view, "member", member.index))
            turned = self._draw(view.t, Stream.TURNOVER, member.index, 0) < hazard
            view.turnover[member.index] = 1.0 if turned else 0.0
            self.counters["turnovers"] += int(turned)
        view.turnover_share = ordered_sum(view.turnover[m.index] for m in view.active) / view.count

    def learning(self, view: Outlook) -> None:
        """Next month's experience of working together: nudged by the learning site."""
        view.next_experience = nudge(view.experience, self._site("learning", view, "run"))

    def synergy_and_inertia(self, view: Outlook) -> None:
        """Synergy relaxes towards a sigmoid of the functioning site; inertia is its complement.

        Baseline synergy_steepness / synergy_threshold set its slope and centre.
        """
        b = self.base
        functioning = self._site("functioning", view, "run")
        target = sigmoid(b["synergy_steepness"] * (functioning - b["synergy_threshold"]))
        self.synergy = self.synergy + b["synergy_rate"] * (target - self.synergy)
        view.synergy = self.synergy

    def agree_ambition(self, view: Outlook) -> None:
        """The agreed aims: the least tolerant member's risk_tolerance, shifted by ambition bias.

        The shift is baseline ambition_bias_scale per unit of bias (a definition).
        """
        b = self.base
        tolerances = [self._site("risk_tolerance", view, "member", m.index)
                      for m in view.active]
        agreed = min(tolerances) if tolerances else 0.5
        self.ambition = clip(agreed + b["ambition_bias_scale"] * view.ctx["ambition_bias"],
                             0.0, 1.0)
        view.ambition = self.ambition

    def task_attempt(self, view: Outlook) -> None:
        """This month's task: success or failure, its value and the cumulative performance.

        The task_logit site gives the chance of success; the achievement_value site what a
        success adds to performance per unit of ambition.
        """
        logit = self._site("task_logit", view, "run")
        view.p_success = sigmoid(logit)
        view.success = self.success = self._draw(view.t, Stream.TASK) < view.p_success
        self.achievement = self.ambition if self.success else 0.0
        self.performance = self.performance + self.achievement * clip(self._site(
            "achievement_value", view, "run"), 0.0, 1.0)
        self.counters["successes" if self.success else "failures"] += 1

    def conflict_and_resolution(self, view: Outlook) -> None:
        """Conflicts break out between pairs and are resolved constructively or destructively.

        The conflict site of each pair (plus the shock of improper exits), the resolution site
        (chance of a constructive resolution) and the destructive_buffer site.
        """
        b = self.base
        constructive_chance = clip(self._site("resolution", view, "run"), 0.0, 1.0)
        view.destructive_loss = b["destructive_loss"] * clip(
            self._site("destructive_buffer", view, "run"), 0.25, 1.75)
        for k, first in enumerate(view.active):
            for second in view.active[k + 1:]:
                i, j = first.index, second.index
                logit = self._site("conflict", view, "upair", i, j) + self.exit_shock
                if not self._draw(view.t, Stream.CONFLICT, i, j) < sigmoid(logit):
                    continue
                view.conflicts.append((i, j))
                if self._draw(view.t, Stream.RESOLUTION, i, j) < constructive_chance:
                    view.constructive_pairs.add((i, j))
                else:
                    view.destructive_pairs.add((i, j))
        self.step_conflicts = len(view.conflicts)
        self.counters["conflicts"] += len(view.conflicts)
        self.counters["constructive"] += len(view.constructive_pairs)
        self.counters["destructive"] += len(view.destructive_pairs)

    def combative_leadership_and_vision(self, view: Outlook) -> float:
        """Next month's shared vision: nudged by the vision_change site."""
        return nudge(view.vision, self._site("vision_change", view, "run"))

    def prepare_cultural_integration(self, view: Outlook) -> None:
        """The cultural centre of the active members and the pull towards it (culture_pull)."""
        view.culture_centre = ordered_sum(m.culture for m in view.active) / view.count
        view.culture_pull = clip(self._site("culture_pull", view, "run"), -1.0, 1.0)

    def power_and_domination(self, view: Outlook) -> None:
        """Count (and log) a domination event when a member feels dominance above threshold."""
        threshold = self.base["domination_threshold"]
        felt = [
            (member, partner, view.dominance(member, partner))
            for member in view.active for partner in view.active
            if partner is not member and view.dominance(member, partner) > threshold
        ]
        if not felt:
            return
        self.counters["dominations"] += 1
        member, partner, dominance = max(felt, key=lambda x: x[2])
        # Logged after the month's changes were applied: the part of the member's trust
        # change in the dominating partner made by the rules reading dominance.
        readers = self._readers("dominance")
        terms = member.trust_terms.get(partner.index, ())
        total = ordered_sum(v for _, v in terms)
        part = ordered_sum(v for r, v in terms if r in readers)
        change = member.trust[partner.index] - member.previous_trust[partner.index]
        self._log(
            view.t, "domination", "dominated", member=member.index, partner=partner.index,
            members=f"{member.name} by {partner.name}",
            rules=_ids(r for r, v in terms if v != 0.0 and r in readers),
            d_trust=part * change / total if total != 0.0 else 0.0,
            value=dominance, threshold=threshold,
            detail=f"{len(felt)} member(s) felt dominance above the threshold",
        )

    def exit_and_dissolution(self, view: Outlook) -> None:
        """Members below a floor leave; with fewer than two the partnership ends.

        A member whose mean trust in its partners fell below the trust_floor site, or whose
        faith fell below the faith_floor site, leaves; with fewer than two members left the
        partnership dissolves (absorbing). Each leaving member adds the exit_shock site to the
        conflict shock of those who remain.
        """
        b = self.base
        trust_floor = self._site("trust_floor", view, "run")
        faith_floor = self._site("faith_floor", view, "run")
        period = self.exit_period
        may_leave = period > 0 and (view.t + 1) % period == 0
        leaving = []
        view.below = []
        for member in view.active:
            given = member.trust_given(p for p in view.active if p is not member)
            cause = member.exit_decision(given, trust_floor, faith_floor)
            if cause != CAUSE_NONE:
                view.below.append(cause)
                if may_leave:
                    leaving.append((member, cause, given))
        shock = self._site("exit_shock", view, "run")
        self.exit_shock = self.exit_shock * b["exit_shock_decay"]
        if leaving:
            self.exit_shock = self.exit_shock + float(len(leaving)) * shock
        for member, cause, given in leaving:
            member.active = False
            member.exit_step = view.t
            member.exit_cause = cause
            self._log_exit(view, member, cause, given, trust_floor, faith_floor, shock)
        self.counters["exits"] += len(leaving)
        if leaving and len(view.active) - len(leaving) < 2:
            self.dissolved = True
            self.dissolved_at = view.t
            self.ended_at = view.t
            self.cause = (
                CAUSE_TRUST if any(c == CAUSE_TRUST for _, c, _ in leaving) else CAUSE_FAITH
            )
            names = ", ".join(m.name for m in self.members if m.active) or "no member"
            self._log(
                view.t, "dissolution", CAUSE_NAMES[self.cause],
                members=", ".join(m.name for m, _, _ in leaving),
                rules=_ids(self._contributors(_FLOOR[self.cause], view, "run")),
                detail=f"fewer than two members left (remaining: {names})",
            )

    def form_ends(self, view: Outlook) -> None:
        """The end rules of the partnership's form, then the month's record of how it is going.

        A merger whose member is below a floor may be reversed (the demerger site, a chance a
        month); a network's places left in an earlier month are each taken by a like
        organisation (the joining site), which starts with the trust and faith the place
        started with; a fixed-term arrangement completes in the month of its term, with its
        result (:mod:`cmo_sim.core.ends`).
        """
        t = view.t
        if self.form == "merger" and not self.dissolved and view.below:
            hazard = sigmoid(self._site("demerger", view, "run"))
            if self._draw(t, Stream.DEMERGER) < hazard:
                self.dissolved = True
                self.dissolved_at = self.ended_at = t
                self.cause = CAUSE_TRUST if CAUSE_TRUST in view.below else CAUSE_FAITH
                self._log(t, "dissolution", CAUSE_NAMES[self.cause],
                          rules=_ids(self._contributors("demerger", view, "run"),
                                     self._contributors(_FLOOR[self.cause], view, "run")),
                          detail="de-merger: the merged organisations separate while a member "
                                 "is below a floor")
        if self.form == "network" and not self.dissolved:
            open_places = [m for m in self.members
                           if not m.active and 0 <= m.exit_step < t]
            if open_places:
                hazard = sigmoid(self._site("joining", view, "run"))
                # Read before anyone joins: the month's terms, as the hazard saw them.
                cited = _ids(self._contributors("joining", view, "run"))
                _, attributes = self.timeline(t)
                joining = [m for m in open_places
                           if self._draw(t, Stream.JOIN, m.index, 0) < hazard]
                for m in joining:
                    m.trust = dict(m.start_trust)
                    m.faith = m.next_faith = m.start_faith
                    m.intra_conflict = self.base["intra_initial"]
                    m.culture = attributes[m.index]["culture"]
                    m.active, m.exit_step, m.exit_cause = True, -1, CAUSE_NONE
                for m in joining:
                    for other in self.members:
                        if other is not m:
                            other.trust[m.index] = other.start_trust[m.index]
                    self._log(t, "join", "membership", member=m.index,
                              rules=cited,
                              detail=f"a like organisation joins in the place of {m.name}")
                self.counters["joins"] += len(joining)
        self.synergy_recent, self.success_recent = ends.track(
            self.synergy_recent, self.success_recent, self.synergy, self.success)
        if t == self.term and not self.dissolved:
            self.completed = True
            self.achieved = bool(ends.achieved(self.success_recent))
            self.ended_at = t
            self._log(t, "completion", "achieved" if self.achieved else "not_achieved",
                      detail=f"the fixed term ends; the year's share of tasks achieved is "
                             f"{self.success_recent:.2f} (turnaround needs at least "
                             f"{ends.STRUGGLE_SUCCESS:.2f})")

    @property
    def ended(self) -> bool:
        """Dissolved or completed: the partnership's state no longer changes."""
        return self.dissolved or self.completed

    @property
    def end_state(self) -> str:
        """The end state now (:data:`cmo_sim.core.ends.END_STATES`)."""
        code = ends.regime(self.dissolved, self.completed, self.synergy_recent,
                           self.success_recent, self.steps)
        return ends.END_STATES[int(code)]

    def _account(self, view: Outlook) -> None:
        """Add this month's trust account (the members' decided changes, split by part)."""
        if len(view.active) < 2:
            return
        task_per_run = self.terms["trust_change"].run_level("task")
        for k, name in enumerate(("conflict", "task", "other")):
            if name == "task" and task_per_run:
                # One value per run: the part times the mean scale over the pairs.
                scales = [ordered_sum(m.account[p.index][3] for p in view.active if p is not m)
                          for m in view.active]
                mean_scale = ordered_sum(scales) / view.n_pairs
                first = view.active[0]
                part = first.account[next(p.index for p in view.active if p is not first)][1]
                lost, gained = min(part, 0.0) * mean_scale, max(part, 0.0) * mean_scale
            else:
                rows, gains = [], []
                for member in view.active:
                    shares = [member.account[p.index][k] * member.account[p.index][3]
                              for p in view.active if p is not member]
                    rows.append(ordered_sum(shares))
                    gains.append(ordered_sum(max(s, 0.0) for s in shares))
                gained = ordered_sum(gains) / view.n_pairs
                lost = ordered_sum(rows) / view.n_pairs - gained
            self.trust_account[f"trust_lost_{name}"] += lost
            self.trust_account[f"trust_gained_{name}"] += gained

    # -- which rules an event cites -------------------------------------------------------------
    def _contributors(self, name: str, view: Outlook, shape: str, i: int = -1,
                      j: int = -1) -> list[str]:
        """Ids of the rules whose term at site ``name`` is not zero this month (at ``i``, ``j``)."""
        parts: list[tuple[str, float]] = list(self.fixed(name, view, shape, i, j)[1])
        add_terms(0.0, self.terms[name].month, shape, view, i, j, parts)
        return [rule for rule, value in parts if value != 0.0]

    def _readers(self, *inputs: str) -> set[str]:
        """Ids of the rules with a non-zero term that reads (or tests) any of ``inputs``."""
        return {t.rule for site in self.terms.values() for t in site.terms
                if t.coef != 0.0 and (t.input in inputs
                                      or any(c[0] in inputs for c in t.conditions))}

    # -- the event log ------------------------------------------------------------------------
    def _log(self, step: int, mechanism: str, outcome: str, *, member: int = -1,
             partner: int = -1, members: str = "", rules: str = "", d_trust: float = _NAN,
             d_faith: float = _NAN, d_synergy: float = _NAN, value: float = _NAN,
             threshold: float = _NAN, driver: str = "", detail: str = "") -> None:
        self.events.append({
            "step": step, "mechanism": mechanism, "outcome": outcome, "member": member,
            "partner": partner, "members": members, "rules": rules, "d_trust": d_trust,
            "d_faith": d_faith, "d_synergy": d_synergy, "value": value,
            "threshold": threshold, "driver": driver, "detail": detail,
        })

    def _log_timeline(self, t: int, ctx: dict[str, float], attributes: list) -> None:
        before_ctx, before_attributes = self._previous_contexts
        changed = [f"{k}: {before_ctx[k]:g} -> {v:g}" for k, v in ctx.items() if v != before_ctx[k]]
        for member in self.members:
            old = before_attributes[member.index]
            changed += [
                f"{member.name} {k}: {old[k]:g} -> {v:g}"
                for k, v in attributes[member.index].items() if v != old[k]
            ]
        self._previous_contexts = (ctx, attributes)
        if changed:
            self._log(t, "timeline", "changed", members="all", detail="; ".join(changed))

    def _log_month(self, view: Outlook) -> None:
        """Log the task outcome and each conflict, each with its own part of the month's changes.

        Called after every member decided and before the decisions are applied. The changes
        of a month are split as the trust account splits them: a task event carries the part
        of the trust change its outcome made (the ``task`` account: the terms reading the task's
        success or failure), a conflict the part its resolution made between its two members
        (the ``conflict`` account); the rest of the month's change (communication, leadership,
        drift) belongs to no event. Faith moves with an event only through the rules that read
        it (a destructive resolution, a change of leaders), shared equally among a member's
        events of the kind that month. ``rules`` lists only the rules whose term was not zero:
        for a task, those of the task's success logit and those through which its outcome
        changed trust or faith; for a conflict, those of its pair's conflict hazard, of the
        chance of resolving it constructively and, for a destructive one, of its buffer and
        of the faith and trust changes it made.
        """
        pairs = [(m, p) for m in view.active for p in view.active if p is not m]
        task_readers = self._readers("task_success", "task_failure")
        task_faith = [m.faith_share(task_readers) for m in view.active]
        self._log(
            view.t, "task", "success" if view.success else "failure", members="all",
            rules=_ids(self._contributors("task_logit", view, "run"),
                       (r for m in view.active for terms in m.trust_terms.values()
                        for r, v in terms if v != 0.0 and r in task_readers),
                       (r for m in view.active for r, v in m.faith_terms
                        if v != 0.0 and r in task_readers)),
            d_trust=ordered_sum(m.trust_share(p.index, 1) for m, p in pairs)
            / max(float(len(pairs)), 1.0),
            d_faith=ordered_sum(task_faith) / view.count,
            d_synergy=self.synergy - view.synergy_before,
            value=view.p_success,
            detail=f"ambition {view.ambition:.2f}, success probability {view.p_success:.2f}",
        )
        turnover_readers = self._readers("turnover")
        for member in view.active:
            if view.turnover.get(member.index, 0.0):
                partners = [p for p in view.active if p is not member]
                trust_parts = [
                    ordered_sum(v for r, v in member.trust_terms.get(p.index, ())
                                if r in turnover_readers) * member.account[p.index][3]
                    for p in partners]
                self._log(
                    view.t, "turnover", "leaders changed", member=member.index,
                    members=member.name,
                    rules=_ids((r for r, v in member.faith_terms
                                if v != 0.0 and r in turnover_readers),
                               (r for p in partners for r, v in member.trust_terms.get(p.index, ())
                                if v != 0.0 and r in turnover_readers)),
                    d_trust=ordered_sum(trust_parts) / max(float(len(partners)), 1.0),
                    d_faith=member.faith_share(turnover_readers),
                    value=view.experience, detail=(
                        f"senior leaders or partnership lead changed; experience of working "
                        f"together {view.experience:.2f} -> {view.next_experience:.2f}"),
                )
        by_index = {m.index: m for m in view.active}
        failure_rules = [t for t in self.terms["conflict"].month
                         if t.coef != 0.0 and t.input == "task_failure"]
        destructive_readers = self._readers("destructive_resolution")
        resolution_rules = self._contributors("resolution", view, "run")
        buffer_rules = self._contributors("destructive_buffer", view, "run")
        destructive_count = {m.index: sum(m.index in pair for pair in view.destructive_pairs)
                             for m in view.active}
        for i, j in view.conflicts:
            first, second = by_index[i], by_index[j]
            constructive = (i, j) in view.constructive_pairs
            triggers = []
            if not view.success and failure_rules:
                triggers.append("task failure")
            if self.exit_shock > 0.05:
                triggers.append("improper exit")
            rules = [*self._contributors("conflict", view, "upair", i, j), *resolution_rules]
            if constructive:
                d_faith = 0.0
            else:
                both = (first, second)
                rules += buffer_rules
                rules += [r for m in both for r, v in m.faith_terms
                          if v != 0.0 and r in destructive_readers]
                rules += [r for m, other in ((first, j), (second, i))
                          for r, v in m.trust_terms.get(other, ())
                          if v != 0.0 and r in destructive_readers]
                d_faith = 0.5 * ordered_sum(
                    m.faith_share(destructive_readers) / destructive_count[m.index]
                    for m in both)
            self._log(
                view.t, "conflict", "constructive" if constructive else "destructive",
                member=i, partner=j, members=f"{first.name} & {second.name}",
                rules=_ids(r for r in rules if not r.endswith(" resolution")),
                d_trust=0.5 * (first.trust_share(j, 0) + second.trust_share(i, 0)),
                d_faith=d_faith,
                driver=", ".join(triggers),
                detail="triggered by " + " and ".join(triggers) if triggers else "",
            )

    def _log_exit(self, view: Outlook, member: Organisation, cause: int, given: float,
                  trust_floor: float, faith_floor: float, shock: float) -> None:
        if cause == CAUSE_TRUST:
            value, threshold = given, trust_floor
            parts = self._trust_parts(member, view)
        else:
            value, threshold = member.faith, faith_floor
            parts = self._faith_parts(member, view)
        driver = min(parts, key=parts.get) if parts else ""
        shown = ", ".join(f"{k} {v:+.3f}" for k, v in sorted(parts.items(), key=lambda x: x[1])
                          if v < 0)
        partners = [p for p in view.active if p is not member]
        rules = _ids(self._contributors(_FLOOR[cause], view, "run"),
                     self._contributors("exit_shock", view, "run") if shock != 0.0 else ())
        self._log(
            view.t, "exit", CAUSE_NAMES[cause], member=member.index,
            partner=partners[0].index if len(partners) == 1 else -1, members=member.name,
            rules=rules,
            d_trust=given - view.trust_given[member.index],
            d_faith=member.faith - view.faith_before[member.index],
            value=value, threshold=threshold, driver=driver,
            detail=f"this month's pushes down: {shown}" if shown else "",
        )

    @staticmethod
    def _trust_parts(member: Organisation, view: Outlook) -> dict[str, float]:
        """This month's change of the member's mean trust, split by rule (and resolution)."""
        parts: dict[str, float] = {}
        partners = [p for p in view.active if p is not member]
        for partner in partners:
            terms = member.trust_terms.get(partner.index, ())
            total = ordered_sum(v for _, v in terms)
            change = member.trust[partner.index] - member.previous_trust[partner.index]
            if total != 0.0:
                for name, term in terms:
                    share = term * change / total / max(len(partners), 1)
                    parts[name] = parts.get(name, 0.0) + share
        return parts

    @staticmethod
    def _faith_parts(member: Organisation, view: Outlook) -> dict[str, float]:
        """This month's faith change of the member, split by rule."""
        terms = member.faith_terms
        total = ordered_sum(v for _, v in terms)
        change = member.faith - view.faith_before[member.index]
        if total == 0.0:
            return {}
        parts: dict[str, float] = {}
        for name, term in terms:
            parts[name] = parts.get(name, 0.0) + term * change / total
        return parts

    def events_frame(self) -> pd.DataFrame:
        """The event log as a DataFrame (columns :data:`EVENT_COLUMNS`, one row per event).

        ``step`` is the month; ``mechanism`` is one of task, conflict, domination, exit,
        dissolution, timeline, and ``outcome`` says how it went (success / failure,
        constructive / destructive, the exit or dissolution cause); ``member`` / ``partner``
        are member indices (-1 where not applicable) and ``members`` their names; ``rules`` the
        ids of the rules whose terms were not zero for the event this month; ``d_trust`` /
        ``d_faith`` the event's own part of the month's change of mean trust (between its
        members; over all pairs for a task) and of faith (task: the trust account's task part;
        conflict: its resolution's part; turnover: the parts of the rules reading it; exit: the
        leaving member's whole change that month), so summing a column over events never
        counts a change twice; ``d_synergy`` (task) the month's change of synergy. ``value`` is
        the task's success probability, the dominance felt,
        or for an exit the trust or faith that fell below ``threshold``; ``driver`` is what
        triggered a conflict, or the mechanism that pushed an exiting member down most.
        """
        return pd.DataFrame(self.events, columns=list(EVENT_COLUMNS))

    # -- reporters and outputs ------------------------------------------------------------------
    def _data_collector(self) -> MonthlyCollector:
        return MonthlyCollector(
            model_reporters={
                "mean_trust": "mean_trust",
                "mean_faith": "mean_faith",
                "synergy": "synergy",
                "inertia": "inertia",
                "ambition": "ambition",
                "performance": "performance",
                "dissolved": "dissolved",
                "dissolved_at": "dissolved_at",
                "months": "steps",
                "scenario": "scenario_name",
            },
            agent_reporters={
                "name": "name",
                "faith": "faith",
                "trust_given": "trust_in_members",
                "trust_received": "trust_received",
                "intra_conflict": "intra_conflict",
                "active": "active",
            },
        )

    @property
    def inertia(self) -> float:
        """Collaborative inertia, ``1 - synergy``."""
        return 1.0 - self.synergy

    def _in_place(self) -> list[Organisation]:
        """Members in place: active, or (after dissolution) those who left at dissolution."""
        return [
            m for m in self.members
            if m.active or (self.dissolved and m.exit_step == self.dissolved_at)
        ]

    @property
    def mean_trust(self) -> float:
        """Mean trust between the members in place (the summary's ``trust_final`` at the end)."""
        members = self._in_place()
        rows = [ordered_sum(m.trust[p.index] for p in members if p is not m) for m in members]
        pairs = float(len(members) * (len(members) - 1))
        return ordered_sum(rows) / max(pairs, 1.0)

    @property
    def mean_faith(self) -> float:
        """Mean faith of the members in place (the summary's ``faith_final`` at the end)."""
        members = self._in_place()
        return ordered_sum(m.faith for m in members) / max(float(len(members)), 1.0)

    @property
    def synergy_mean(self) -> float:
        """Mean synergy over the months the partnership was alive."""
        return self.synergy_sum / max(float(self.alive_steps), 1.0)

    def snapshot(self, width: int | None = None, months: int | None = None
                 ) -> dict[str, np.ndarray]:
        """The trajectory variables now, as the numpy runner records them (one run).

        Member variables are ``[width]`` (NaN / False for padding), run variables scalars;
        a dissolved run reports no achievement and no conflict events.
        """
        width = width or len(self.members)
        months = self.steps if months is None else months
        out = {
            "trust": np.full(width, np.nan),
            "faith": np.full(width, np.nan),
            "intra_conflict": np.full(width, np.nan),
            "active": np.zeros(width, dtype=bool),
        }
        for m in self.members:
            out["trust"][m.index] = m.trust_in_members
            out["faith"][m.index] = m.faith
            out["intra_conflict"][m.index] = m.intra_conflict
            out["active"][m.index] = m.active
        out.update(
            synergy=self.synergy, inertia=1.0 - self.synergy, experience=self.experience,
            ambition=self.ambition,
            achievement=self.achievement, performance=self.performance,
            conflict_events=self.step_conflicts, vision=self.vision,
            regime=ends.regime(self.dissolved, self.completed, self.synergy_recent,
                               self.success_recent, months),
        )
        return out

    def final_state(self, width: int | None = None) -> State:
        """The model's state as a one-run :class:`~cmo_sim.core.state.State`.

        Member arrays are padded to ``width`` members like a compiled batch.
        """
        n = len(self.members)
        width = width or n
        if width < n:
            raise ValueError(f"width: {width} is less than the number of members ({n})")
        trust = np.zeros((1, width, width))
        faith, intra = np.zeros((1, width)), np.zeros((1, width))
        culture = np.asarray(self.params.contexts.values["culture"][:1, :width], dtype=float)
        culture = np.pad(culture, ((0, 0), (0, width - culture.shape[1])), constant_values=0.5)
        active = np.zeros((1, width), dtype=bool)
        exit_step = np.full((1, width), -1, dtype=np.int64)
        exit_cause = np.zeros((1, width), dtype=np.int8)
        for m in self.members:
            for j, value in m.trust.items():
                trust[0, m.index, j] = value
            faith[0, m.index] = m.faith
            intra[0, m.index] = m.intra_conflict
            culture[0, m.index] = m.culture
            active[0, m.index] = m.active
            exit_step[0, m.index] = m.exit_step
            exit_cause[0, m.index] = m.exit_cause

        def run(value, dtype=np.float64) -> np.ndarray:
            return np.array([value], dtype=dtype)

        return State(
            trust=trust, faith=faith, intra_conflict=intra, culture=culture,
            vision=run(self.vision), synergy=run(self.synergy),
            experience=run(self.experience), ambition=run(self.ambition),
            achievement=run(self.achievement), performance=run(self.performance),
            exit_shock=run(self.exit_shock), success=run(self.success, bool),
            step_conflicts=run(self.step_conflicts, np.int64), active=active,
            exit_step=exit_step, exit_cause=exit_cause, dissolved=run(self.dissolved, bool),
            dissolved_at=run(self.dissolved_at, np.int64), cause=run(self.cause, np.int8),
            completed=run(self.completed, bool), achieved=run(self.achieved, bool),
            ended_at=run(self.ended_at, np.int64), synergy_recent=run(self.synergy_recent),
            success_recent=run(self.success_recent),
            **{name: run(value, np.int64) for name, value in self.counters.items()},
            **{name: run(value) for name, value in self.trust_account.items()},
        )

    def run_output(self) -> RunOutput:
        """The model's final state and mean synergy as a one-run RunOutput (no trajectories)."""
        return RunOutput(
            final=self.final_state(self.params.n_members),
            synergy_mean=np.array([self.synergy_mean]),
            steps_recorded=None,
            trajectories=None,
            steps=self.steps,
        )


def run_abm(params: Params, steps: int, record: Record = "summary") -> RunOutput:
    """Run every run of ``params`` through :class:`PartnershipModel`, as :func:`cmo_sim.core.run`.

    Parameters
    ----------
    params : Params
        A compiled batch; run ``r`` is the scenario ``params.scenario[r]`` with replicate
        ``params.replicate[r]`` and the same random keys as in the numpy engine.
    steps : int
        Months to run.
    record : "summary", "trajectory" or int k
        Record nothing, every month, or every k months (month 0 is always recorded).

    Returns
    -------
    RunOutput
        The same shapes, padding and recording semantics as the numpy runner: a dissolved run's
        state stays frozen and its monthly events (achievement, conflict events) are zero.
    """
    every = validate_record(record, steps)
    recorded = record_steps(steps, every) if every else None
    width = params.n_members
    finals, synergy_mean, snapshots = [], np.zeros(params.n_runs), []
    for r in range(params.n_runs):
        model = PartnershipModel.from_params(params, r, steps=steps, collect=False)
        run_snaps = [model.snapshot(width)] if recorded is not None else None
        for t in range(steps):
            model.step()
            if run_snaps is not None and len(run_snaps) < recorded.size and (
                recorded[len(run_snaps)] == t + 1
            ):
                run_snaps.append(model.snapshot(width))
        finals.append(model.final_state(width))
        synergy_mean[r] = model.synergy_mean
        snapshots.append(run_snaps)
    final = State(**{
        f.name: np.concatenate([getattr(s, f.name) for s in finals]) for f in fields(State)
    })
    trajectories = None
    if recorded is not None:
        trajectories = {
            name: np.stack([np.stack([np.asarray(s[name]) for s in run]) for run in snapshots])
            for name in snapshots[0][0]
        }
    return RunOutput(final=final, synergy_mean=synergy_mean, steps_recorded=recorded,
                     trajectories=trajectories, steps=steps)


def _signature() -> inspect.Signature:
    """``PartnershipModel.__init__`` as tools that read signatures see it (Mesa's SolaraViz).

    Every partnership context of the scenario is a keyword with its typical value as default;
    ``**kwargs`` takes the contexts a theory of one's own declares.
    """
    keyword = inspect.Parameter.KEYWORD_ONLY
    own = inspect.signature(PartnershipModel.__init__).parameters
    contexts = [
        inspect.Parameter(name, keyword, default=Scenario.model_fields[name].default,
                          annotation=bool if info.boolean else float)
        for name, info in _keyword_contexts(load_theory()).items()
        if name in PARTNERSHIP_FIELDS
    ]
    listed = [own["self"], own["scenario"], *contexts,
              *(own[name] for name in MODEL_ARGUMENTS if name != "scenario"), own["kwargs"]]
    return inspect.Signature(listed, return_annotation=None)


PartnershipModel.__init__.__signature__ = _signature()
