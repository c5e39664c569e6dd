"""Compile a theory and scenarios into Params: a frozen struct of arrays with a run axis.

Runs are ``scenarios x replicates`` (scenario-major: run ``r`` is scenario ``r // replicates``,
replicate ``r % replicates`` unless explicit replicate indices are given). Members are padded to
the largest member count in the batch; ``present`` marks real members.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from cmo_sim.rng import normalise_seed, run_keys
from cmo_sim.scenario import (
    _USER_PATH,
    FORMS,
    MEMBER_FIELDS,
    PARTNERSHIP_FIELDS,
    Scenario,
    check_theory_contexts,
)
from cmo_sim.theory import Theory, load_theory

__all__ = ["Contexts", "Params", "compile_params"]

#: Partnership contexts held as float arrays ``[runs]`` (``mandated`` as 0.0 / 1.0).
CONTEXT_NAMES: tuple[str, ...] = PARTNERSHIP_FIELDS
#: Member attributes held as float arrays ``[runs, members]``.
MEMBER_NAMES: tuple[str, ...] = MEMBER_FIELDS


@dataclass(frozen=True, slots=True)
class Contexts:
    """The contexts in force at one step.

    ``values[name]`` is ``[runs]`` for partnership contexts and ``[runs, members]`` for member
    attributes (padding members hold typical values and are masked by ``present``).
    """

    values: MappingProxyType

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True, slots=True)
class Schedule:
    """Timeline changes of one context: the value from each change step on.

    steps: ``[runs, k]`` int64, the steps of the events that change this context, in increasing
    order, padded with a sentinel past any step. values: ``[runs, k]`` or ``[runs, k, members]``,
    the full value from that step on.
    """

    steps: np.ndarray
    values: np.ndarray


_NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class Params:
    """Everything a run needs, as arrays with a leading run axis.

    Attributes
    ----------
    scenario: ``[runs]`` int, index into ``scenario_names``.
    replicate: ``[runs]`` int, replicate index (the random-stream key with ``seed``).
    keys: ``[runs]`` uint64, counter-based random keys from (seed, replicate).
    present: ``[runs, members]`` bool, real (not padding) members.
    lead: ``[runs]`` int, the lead member.
    contexts: contexts at step 0 (``[runs]`` / ``[runs, members]``).
    schedules: timeline changes by context name.
    terms: the theory's terms compiled per site (:class:`cmo_sim.core.terms.SiteTerms`).
    baseline: baseline constants of the theory.
    theory: the theory the terms come from.
    form: ``[runs]`` int8, index of the partnership's form in
        :data:`cmo_sim.scenario.FORMS`.
    exit_period: ``[runs]`` int, months between the points at which members may leave (1
        any month, 0 never: a merger or a fixed-term arrangement).
    term: ``[runs]`` int, month index in which a fixed-term arrangement ends (its term minus
        one; -1 for the other forms).
    """

    scenario: np.ndarray
    replicate: np.ndarray
    keys: np.ndarray
    present: np.ndarray
    lead: np.ndarray
    contexts: Contexts
    schedules: MappingProxyType
    terms: MappingProxyType
    baseline: MappingProxyType
    seed: int
    scenario_names: tuple[str, ...] = field(default=())
    theory: Theory | None = field(default=None, repr=False, compare=False)
    form: np.ndarray | None = field(default=None, repr=False, compare=False)
    exit_period: np.ndarray | None = field(default=None, repr=False, compare=False)
    term: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        n = self.scenario.shape[0]
        if self.form is None:
            object.__setattr__(self, "form", np.zeros(n, dtype=np.int8))
        if self.exit_period is None:
            object.__setattr__(self, "exit_period", np.ones(n, dtype=np.int64))
        if self.term is None:
            object.__setattr__(self, "term", np.full(n, -1, dtype=np.int64))

    @property
    def n_runs(self) -> int:
        """Number of runs."""
        return int(self.scenario.shape[0])

    @property
    def n_members(self) -> int:
        """Padded member axis length."""
        return int(self.present.shape[1])

    def contexts_at(self, step: int) -> Contexts:
        """Contexts in force at ``step`` (timeline changes applied); pure."""
        if not self.schedules:
            return self.contexts
        values = dict(self.contexts.values)
        for name, schedule in self.schedules.items():
            current = values[name]
            for k in range(schedule.steps.shape[1]):
                due = schedule.steps[:, k] <= step
                if not due.any():
                    break
                new = schedule.values[:, k]
                mask = due if new.ndim == 1 else due[:, None]
                current = np.where(mask, new, current)
            values[name] = current
        return Contexts(MappingProxyType(values))

    def take(self, index: np.ndarray | slice) -> Params:
        """The Params of a subset of runs (same member padding)."""
        ctx = {k: v[index] for k, v in self.contexts.values.items()}
        schedules = {
            k: Schedule(s.steps[index], s.values[index]) for k, s in self.schedules.items()
        }
        return dataclasses.replace(
            self,
            scenario=self.scenario[index],
            replicate=self.replicate[index],
            keys=self.keys[index],
            present=self.present[index],
            lead=self.lead[index],
            form=self.form[index],
            exit_period=self.exit_period[index],
            term=self.term[index],
            contexts=Contexts(MappingProxyType(ctx)),
            schedules=MappingProxyType(schedules),
        )


def _scenario_arrays(scenario: Scenario, n_members: int,
                     own: Mapping[str, Any]) -> tuple[dict[str, Any], list]:
    """Per-scenario context values (scalars / member vectors) and timeline states.

    ``own`` holds the theory's own contexts (info with ``level`` and ``typical``): a scenario
    that does not set one runs at its typical value.
    """

    def member_vector(name: str, members) -> np.ndarray:
        vec = np.full(n_members, 0.5 if name != "size" else 1000.0)
        for i, m in enumerate(members):
            vec[i] = float(getattr(m, name))
        return vec

    values: dict[str, Any] = {n: float(getattr(scenario, n)) for n in CONTEXT_NAMES}
    for name in MEMBER_NAMES:
        values[name] = member_vector(name, scenario.members)
    for name, info in own.items():
        if info.level == "partnership":
            values[name] = float(scenario.contexts.get(name, info.typical))
        else:
            vec = np.full(n_members, info.typical)
            for i, m in enumerate(scenario.members):
                vec[i] = m.contexts.get(name, info.typical)
            values[name] = vec
    timeline = []
    current = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in values.items()}
    for event in scenario.timeline:
        for key, value in event.changes.items():
            user = _USER_PATH.fullmatch(key)
            if user and user.group(1) is not None:
                name = user.group(2)
                current[name] = current[name].copy()
                current[name][int(user.group(1))] = float(value)
            elif user:
                current[user.group(2)] = float(value)
            elif key.startswith("members["):
                index = int(key[len("members[") : key.index("]")])
                attr = key[key.index(".") + 1 :]
                current[attr] = current[attr].copy()
                current[attr][index] = float(value)
            else:
                current[key] = float(value)
        timeline.append(
            (
                event.step,
                {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in current.items()},
                {_base(k) for k in event.changes},
            )
        )
    return values, timeline


def _base(key: str) -> str:
    user = _USER_PATH.fullmatch(key)
    if user:
        return user.group(2)
    return key[key.index(".") + 1 :] if key.startswith("members[") else key


def compile_params(
    scenarios: Sequence[Scenario],
    *,
    replicates: int | Sequence[int] | np.ndarray,
    seed: Any = 0,
    theory: Theory | None = None,
    n_members: int | None = None,
) -> Params:
    """Compile scenarios x replicates into one Params batch.

    Parameters
    ----------
    scenarios : sequence of Scenario
    replicates : int or array of int
        An int ``n`` means replicates ``0 .. n-1`` of every scenario; an array gives the
        replicate indices explicitly (each scenario gets all of them).
    seed : int, SeedSequence or Generator
        Normalised once with :func:`cmo_sim.rng.normalise_seed`.
    theory : Theory, optional
        Defaults to the review's default theory.
    n_members : int, optional
        Pad the member axis to this length (at least the largest scenario).
    """
    if not scenarios:
        raise ValueError("scenarios: at least one scenario is needed")
    for s in scenarios:
        if not isinstance(s, Scenario):
            raise ValueError(f"scenarios: {s!r} is not a Scenario (use load_scenario)")
    reps = (
        np.arange(replicates, dtype=np.int64)
        if isinstance(replicates, int | np.integer)
        else np.asarray(replicates, dtype=np.int64)
    )
    if reps.ndim != 1 or reps.size == 0 or (reps < 0).any():
        raise ValueError("replicates: give a positive count or a non-empty list of indices >= 0")
    theory = theory if theory is not None else load_theory()
    seed_int = normalise_seed(seed)
    width = max(s.n_members for s in scenarios)
    if n_members is not None:
        if n_members < width:
            raise ValueError(f"n_members: {n_members} is less than the largest scenario ({width})")
        width = n_members
    n_rep = reps.size
    own = {c.name: c.info() for c in theory.user_contexts}
    contexts_known = theory.contexts
    for s in scenarios:
        check_theory_contexts(s, contexts_known)
    per = [_scenario_arrays(s, width, own) for s in scenarios]

    def stack(name: str) -> np.ndarray:
        rows = [np.asarray(values[name], dtype=np.float64) for values, _ in per]
        return np.repeat(np.stack(rows), n_rep, axis=0)

    contexts = {name: stack(name) for name in CONTEXT_NAMES + MEMBER_NAMES + tuple(own)}
    present = np.repeat(
        np.stack([np.arange(width) < s.n_members for s in scenarios]), n_rep, axis=0
    )
    schedules = {}
    changed = sorted({name for _, tl in per for _, _, names in tl for name in names})
    for name in changed:
        # Only the events that change this context enter its schedule, so a change of one
        # context never touches another's (nor another scenario's) state.
        events = [
            [(step, state[name]) for step, state, names in timeline if name in names]
            for _, timeline in per
        ]
        k_max = max(len(e) for e in events)
        member = name in MEMBER_NAMES or (name in own and own[name].level == "member")
        steps = np.full((len(scenarios), k_max), _NEVER, dtype=np.int64)
        shape = (len(scenarios), k_max, width) if member else (len(scenarios), k_max)
        vals = np.zeros(shape)
        for s_idx, (values, _) in enumerate(per):
            last = values[name]
            for k in range(k_max):
                if k < len(events[s_idx]):
                    steps[s_idx, k], last = events[s_idx][k]
                vals[s_idx, k] = last
        schedules[name] = Schedule(np.repeat(steps, n_rep, axis=0), np.repeat(vals, n_rep, axis=0))
    scenario_index = np.repeat(np.arange(len(scenarios)), n_rep)
    replicate = np.tile(reps, len(scenarios))
    return Params(
        scenario=scenario_index,
        replicate=replicate,
        keys=run_keys(seed_int, replicate),
        present=present,
        lead=np.repeat(np.array([s.lead for s in scenarios], dtype=np.int64), n_rep),
        contexts=Contexts(MappingProxyType(contexts)),
        schedules=MappingProxyType(schedules),
        terms=MappingProxyType(theory.compiled()),
        baseline=MappingProxyType(theory.baseline),
        seed=seed_int,
        scenario_names=tuple(s.name for s in scenarios),
        theory=theory,
        form=np.repeat(np.array([FORMS.index(s.form) for s in scenarios], dtype=np.int8), n_rep),
        exit_period=np.repeat(np.array([s.exit_period for s in scenarios], dtype=np.int64),
                              n_rep),
        term=np.repeat(np.array([(s.term or 0) - 1 for s in scenarios], dtype=np.int64), n_rep),
    )
