"""``init(params) -> State`` and ``step(state, params, t) -> State``: pure functions.

One step is one month. All members decide from the previous state; the partnership-level
quantities are updated in the order of docs/model.md (functioning and synergy, ambition, task,
conflict, trust, faith, intra-organisational conflict, vision and culture, exits).

Much of a step depends only on the contexts in force and on who is still in (power, dominance,
the contexts' parts of every mechanism). :class:`Fixed` holds those terms; a :class:`StepCache`
passed to :func:`step` keeps them from one month to the next and recomputes them when the
contexts or the membership change, which leaves every number as it would be without it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from cmo_sim.core import mechanisms as m
from cmo_sim.core.state import CAUSE_FAITH, CAUSE_TRUST, State
from cmo_sim.params import Params
from cmo_sim.rng import Stream, uniform

__all__ = ["Fixed", "StepCache", "fixed_terms", "init", "step"]


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    iu, ju = np.triu_indices(n, 1)
    return iu.astype(np.int64), ju.astype(np.int64)


def _active_mean(values: np.ndarray, weight: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Mean of ``values [runs, members]`` over active members (fixed summation order)."""
    return m.msum(values * weight) / count


def init(params: Params) -> State:
    """Initial state of every run (step 0 contexts, initial draws from the run's streams)."""
    ctx = params.contexts_at(0)
    a, b = params.coef, params.baseline
    n_runs, n = params.n_runs, params.n_members
    present = params.present
    is_lead = np.arange(n)[None, :] == params.lead[:, None]
    s = m.size_norm(ctx.size)
    p = m.power(s, ctx.resources)
    dom = m.dominance(p, m.hierarchy(ctx.mandated, is_lead, a, b))
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    noise_t = uniform(params.keys, 0, Stream.INITIAL_TRUST, ii.ravel(), jj.ravel())
    noise_t = noise_t.reshape(n_runs, n, n)
    pair_mask = present[:, :, None] & present[:, None, :] & ~np.eye(n, dtype=bool)
    trust = np.where(pair_mask, m.initial_trust(ctx, dom, noise_t, a, b), 0.0)
    noise_f = uniform(params.keys, 0, Stream.INITIAL_FAITH, np.arange(n), 0)
    faith = np.where(present, m.initial_faith(ctx, noise_f, a, b), 0.0)
    zeros = np.zeros(n_runs)
    izeros = np.zeros(n_runs, dtype=np.int64)
    return State(
        trust=trust,
        faith=faith,
        intra_conflict=np.where(present, b["intra_initial"], 0.0),
        culture=ctx.culture.copy(),
        vision=ctx.shared_vision.copy(),
        synergy=np.full(n_runs, b["synergy_initial"]),
        ambition=zeros.copy(),
        achievement=zeros.copy(),
        performance=zeros.copy(),
        exit_shock=zeros.copy(),
        success=np.zeros(n_runs, dtype=bool),
        step_conflicts=izeros.copy(),
        active=present.copy(),
        exit_step=np.full((n_runs, n), -1, dtype=np.int64),
        exit_cause=np.zeros((n_runs, n), dtype=np.int8),
        dissolved=np.zeros(n_runs, dtype=bool),
        dissolved_at=np.full(n_runs, -1, dtype=np.int64),
        cause=np.zeros(n_runs, dtype=np.int8),
        **{name: izeros.copy() for name in (
            "conflicts", "constructive", "destructive", "successes", "failures",
            "dominations", "exits",
        )},
    )


@dataclass(frozen=True, slots=True, eq=False)
class Fixed:
    """The terms of a step fixed by the contexts in force and the membership ``active``.

    Weights: ``w`` ``[runs, members]`` (1 for an active member), ``count`` active members (at
    least 1), ``pair_w`` ``[runs, members, members]`` (1 for an ordered active pair),
    ``row_count`` partners per member and ``n_pairs`` ordered pairs (each at least 1),
    ``any_pair``. The rest are the contexts' parts of the mechanisms, named after the
    functions of :mod:`cmo_sim.core.mechanisms` that compute them.
    """

    active: np.ndarray
    w: np.ndarray
    count: np.ndarray
    pair_w: np.ndarray
    pair_mask: np.ndarray
    row_count: np.ndarray
    n_pairs: np.ndarray
    any_pair: np.ndarray
    partners: np.ndarray
    complexity: np.ndarray
    communication_base: np.ndarray
    task_logit: np.ndarray
    iu: np.ndarray
    ju: np.ndarray
    incidence: np.ndarray
    pair_active: np.ndarray
    conflict_logit: np.ndarray
    resolution_probability: np.ndarray
    destructive_loss: np.ndarray
    trust_change: np.ndarray
    sharing_rate: np.ndarray
    top_mask: np.ndarray
    faith_drift: np.ndarray
    intra_inner: np.ndarray
    intra_keep: np.ndarray
    vision_rate: np.ndarray
    vision_moves: bool
    culture_pull: np.ndarray
    culture_moves: bool
    trust_floor: np.ndarray
    faith_floor: np.ndarray
    dominated: np.ndarray


def fixed_terms(params: Params, ctx, active: np.ndarray) -> Fixed:
    """The :class:`Fixed` terms of contexts ``ctx`` with members ``active`` ``[runs, members]``."""
    a, b = params.coef, params.baseline
    n = params.n_members
    w = active.astype(np.float64)
    count = np.maximum(m.msum(w), 1.0)
    pair_w = w[:, :, None] * w[:, None, :] * (1.0 - np.eye(n))
    row_count = np.maximum(m.msum(pair_w), 1.0)
    is_lead = np.arange(n)[None, :] == params.lead[:, None]
    s = m.size_norm(ctx.size)
    p = m.power(s, ctx.resources)
    rank = m.hierarchy(ctx.mandated, is_lead, a, b)
    dom = m.dominance(p, rank) * pair_w
    k = m.complexity(ctx, _active_mean(s, w, count), count, a)
    means = {
        name: _active_mean(getattr(ctx, name), w, count)
        for name in ("flexibility", "workforce_stability", "resources")
    }
    iu, ju = _pairs(n)
    incidence = np.zeros((iu.size, n))
    incidence[np.arange(iu.size), iu] = 1.0
    incidence[np.arange(iu.size), ju] = 1.0
    pair = {
        "dominance": np.maximum(dom[:, iu, ju], dom[:, ju, iu]),
        "stability": 0.5 * (ctx.workforce_stability[:, iu] + ctx.workforce_stability[:, ju]),
        "flexibility": 0.5 * (ctx.flexibility[:, iu] + ctx.flexibility[:, ju]),
    }
    top = m.margmax(np.where(active, p + rank, -np.inf))
    top_mask = (np.arange(n)[None, :] == top[:, None])[:, None, :].astype(np.float64)
    lead_mask = is_lead[:, None, :].astype(np.float64)
    inner, keep = m.intra_conflict_rates(
        {"staff_involvement": ctx.staff_involvement,
         "workforce_stability": ctx.workforce_stability, "flexibility": ctx.flexibility}, a, b,
    )
    trust_floor, faith_floor = m.exit_floors(ctx.mandated, a, b)
    vision_rate = m.vision_rate(ctx.leadership, ctx.mandated, a, b)
    pull = m.culture_pull(ctx.leadership, a, b)
    return Fixed(
        active=active,
        w=w,
        count=count,
        pair_w=pair_w,
        pair_mask=pair_w > 0,
        row_count=row_count,
        n_pairs=np.maximum(m.msum(row_count * w), 1.0),
        any_pair=m.msum(m.msum(pair_w)) > 0,
        partners=np.maximum(count - 1.0, 1.0)[:, None],
        complexity=k,
        communication_base=m.communication_base(ctx, s, a),
        task_logit=m.task_context_logit(ctx, means, k, a, b),
        iu=iu,
        ju=ju,
        incidence=incidence,
        pair_active=active[:, iu] & active[:, ju],
        conflict_logit=m.conflict_context_logit(ctx, pair, a, b),
        resolution_probability=m.resolution_probability(ctx.conflict_resolution, a),
        destructive_loss=m.destructive_loss(ctx, a, b),
        trust_change=m.trust_context_change(ctx, dom, lead_mask, ctx.mandated, a, b),
        sharing_rate=m.sharing_rate(ctx, a, b),
        top_mask=top_mask,
        faith_drift=m.faith_drift(ctx, a, b),
        intra_inner=inner,
        intra_keep=keep,
        vision_rate=vision_rate,
        vision_moves=bool(vision_rate.any()),
        culture_pull=pull,
        culture_moves=bool(pull.any()),
        trust_floor=trust_floor,
        faith_floor=faith_floor,
        dominated=m.many(m.many(dom > b["domination_threshold"])),
    )


class StepCache:
    """Keeps a batch's :class:`Fixed` terms from one :func:`step` to the next.

    The terms are reused while the same ``params`` and contexts object are in force and no
    partnership still going has lost a member; otherwise they are recomputed. Use one cache per
    batch (the runner makes one per run); it holds the last terms until it is dropped.
    """

    __slots__ = ("_key", "_fixed")

    def __init__(self) -> None:
        self._key: tuple = ()
        self._fixed: Fixed | None = None

    def get(self, params: Params, ctx, active: np.ndarray, alive: np.ndarray) -> Fixed:
        """The terms for ``params``, contexts ``ctx`` and members ``active``.

        Reused when only dissolved runs (not ``alive``) differ from the last call's members.
        """
        fixed = self._fixed
        if (
            fixed is None
            or self._key[0] is not params
            or self._key[1] is not ctx
            or fixed.active.shape != active.shape
            or bool(((fixed.active != active) & alive[:, None]).any())
        ):
            fixed = fixed_terms(params, ctx, active)
            self._key, self._fixed = (params, ctx), fixed
        return fixed


def _restore(new: dict[str, np.ndarray], state: State, rows: np.ndarray) -> None:
    """Put back ``rows`` of ``state`` into the ``new`` arrays (which the step owns)."""
    for f in fields(state):
        old = getattr(state, f.name)
        array = new[f.name]
        if array is not old:
            array[rows] = old[rows]


def step(state: State, params: Params, t: int, cache: StepCache | None = None) -> State:
    """Advance every run by one month; dissolved runs are left exactly as they were.

    ``cache`` (optional) keeps the terms fixed by the contexts and membership between calls;
    the result is the same with or without it.
    """
    ctx = params.contexts_at(t)
    a, b = params.coef, params.baseline
    alive = ~state.dissolved
    active = state.active & alive[:, None]
    fx = (cache if cache is not None else StepCache()).get(params, ctx, active, alive)
    w, pair_w, count = fx.w, fx.pair_w, fx.count
    trust = state.trust

    # Timeline changes of state-held contexts (shared vision, members' cultures) reset that
    # state where, and only where, the scheduled value changes at this step.
    vision, culture = state.vision, state.culture
    if "shared_vision" in params.schedules or "culture" in params.schedules:
        before = params.contexts_at(t - 1) if t > 0 else params.contexts
        if "shared_vision" in params.schedules:
            moved = ctx.shared_vision != before.shared_vision
            vision = np.where(moved, ctx.shared_vision, vision)
        if "culture" in params.schedules:
            moved = ctx.culture != before.culture
            culture = np.where(moved, ctx.culture, culture)

    # Communication and what the members see of each other (communication.*, fixed terms).
    comm = m.communication(fx.communication_base, trust, a) * pair_w
    trust_rows = m.msum(trust * pair_w)
    trust_given = trust_rows / fx.row_count  # [runs, members]
    mean_trust = np.where(fx.any_pair, m.msum(trust_rows) / fx.n_pairs, 0.0)
    mean_comm = np.where(fx.any_pair, m.msum(m.msum(comm)) / fx.n_pairs, 0.0)
    mean_faith = _active_mean(state.faith, w, count)

    # Functioning and synergy (synergy.*, inertia.*).
    f = m.functioning(mean_trust, mean_faith, mean_comm, a)
    synergy = state.synergy + b["synergy_rate"] * (m.synergy_target(f, b) - state.synergy)

    # Ambition and the task attempt (trust.risk_threshold, task.*).
    aim = m.ambition(trust_given, active, fx.complexity, ctx.ambition_bias, a, b)
    intra_mean = _active_mean(state.intra_conflict, w, count)
    p_success = m.success_probability(fx.task_logit, synergy, aim, intra_mean, a, b)
    success = (uniform(params.keys, t, Stream.TASK) < p_success) & alive
    failure = ~success & alive
    succ_f, fail_f = success.astype(np.float64), failure.astype(np.float64)
    achievement = aim * succ_f
    performance = state.performance + achievement * (
        1.0 - b["inertia_discount"] * (1.0 - synergy)
    )

    # Conflict between pairs and its resolution (conflict.*, trust.*_resolution).
    iu, ju = fx.iu, fx.ju
    distance = np.abs(culture[:, iu] - culture[:, ju])
    pair_comm = 0.5 * (comm[:, iu, ju] + comm[:, ju, iu])
    trust_ij, trust_ji = trust[:, iu, ju], trust[:, ju, iu]
    hazard = m.conflict_hazard(fx.conflict_logit, vision, fail_f, state.exit_shock,
                               0.5 * (trust_ij + trust_ji), distance, pair_comm, a, b)
    conflict = (uniform(params.keys, t, Stream.CONFLICT, iu, ju) < hazard) & fx.pair_active
    q = fx.resolution_probability
    constructive_pair = conflict & (uniform(params.keys, t, Stream.RESOLUTION, iu, ju) < q[:, None])
    destructive_pair = conflict & ~constructive_pair
    # A destructive resolution's trust change is buffered by the trust in place.
    gained = b["constructive_gain"] * constructive_pair
    lost = fx.destructive_loss[:, None] * destructive_pair
    resolution = np.zeros_like(trust)
    resolution[:, iu, ju] = gained - lost * m.distrust_odds(trust_ij)
    resolution[:, ju, iu] = gained - lost * m.distrust_odds(trust_ji)

    # Trust: the trust-building loop, power, leadership, communication, resolutions.
    delta = m.trust_change(
        fx.trust_change, success=succ_f, failure=fail_f, ambition_level=aim, comm=comm,
        resolution=resolution, sharing=fx.sharing_rate, top_mask=fx.top_mask, a=a, b=b,
    )
    new_trust = np.where(fx.pair_mask, m.nudge(trust, delta), trust)

    # Faith, intra-organisational conflict, shared vision and culture.
    # Faith is about the collaboration as a whole: destructive conflicts count per partner.
    destructive_count = (destructive_pair.astype(np.float64) @ fx.incidence) / fx.partners
    new_faith = np.where(active, m.nudge(state.faith, m.faith_change(
        fx.faith_drift, trust_given=trust_given, intra=state.intra_conflict, success=succ_f,
        failure=fail_f, ambition_level=aim, destructive_count=destructive_count, a=a, b=b,
    )), state.faith)
    rise = m.intra_conflict_rise(fx.intra_inner, 1.0 - synergy, a, b)
    new_intra = np.where(active, m.nudge(state.intra_conflict, rise) * fx.intra_keep,
                         state.intra_conflict)
    # Where no run's contexts move vision or culture the step leaves them as they are, which is
    # exactly what the updates would give (a zero rate adds 0).
    if fx.vision_moves:
        new_vision = m.nudge(vision, m.vision_change(fx.vision_rate, mean_trust))
    else:
        new_vision = vision.copy()
    if fx.culture_moves:
        new_culture = m.culture_drift(culture, active, w, count, fx.culture_pull)
    else:
        new_culture = culture.copy()

    # Exits and dissolution (dissolution.*, conflict.improper_cessation).
    new_given = m.msum(new_trust * pair_w) / fx.row_count
    by_trust, by_faith = m.exits(new_given, new_faith, active, fx.trust_floor, fx.faith_floor)
    leaving = by_trust | by_faith
    still = active & ~leaving
    exit_shock = state.exit_shock * b["exit_shock_decay"]
    exit_step, exit_cause = state.exit_step.copy(), state.exit_cause.copy()
    dissolved, dissolved_at = state.dissolved.copy(), state.dissolved_at.copy()
    cause, exits = state.cause.copy(), state.exits.copy()
    moved = np.flatnonzero(m.many(leaving))  # runs a member left this month (few)
    if moved.size:
        gone, gone_trust = leaving[moved], by_trust[moved]
        exit_shock[moved] += m.msum(gone.astype(np.float64)) * (
            a["conflict.improper_cessation"] * (1.0 - ctx.exit_handling[moved])
        )
        exit_step[moved] = np.where(gone, t, exit_step[moved])
        exit_cause[moved] = np.where(gone, np.where(gone_trust, CAUSE_TRUST, CAUSE_FAITH),
                                     exit_cause[moved])
        exits[moved] += m.msum(gone.astype(np.int64))
        # With fewer than two members left the partnership dissolves.
        ends = moved[m.msum(still[moved].astype(np.float64)) < 2]
        dissolved[ends] = True
        dissolved_at[ends] = t
        cause[ends] = np.where(m.many(by_trust[ends]), CAUSE_TRUST, CAUSE_FAITH)
    if conflict.shape[1]:
        step_conflicts = m.msum(conflict.astype(np.int64))
        constructive = state.constructive + m.msum(constructive_pair.astype(np.int64))
        destructive = state.destructive + m.msum(destructive_pair.astype(np.int64))
    else:
        step_conflicts = np.zeros_like(state.conflicts)
        constructive, destructive = state.constructive + 0, state.destructive + 0

    new = {
        "trust": new_trust,
        "faith": new_faith,
        "intra_conflict": new_intra,
        "culture": new_culture,
        "vision": new_vision,
        "synergy": synergy,
        "ambition": aim,
        "achievement": achievement,
        "performance": performance,
        "exit_shock": exit_shock,
        "success": success,
        "step_conflicts": step_conflicts,
        "active": still,
        "exit_step": exit_step,
        "exit_cause": exit_cause,
        "dissolved": dissolved,
        "dissolved_at": dissolved_at,
        "cause": cause,
        "conflicts": state.conflicts + step_conflicts,
        "constructive": constructive,
        "destructive": destructive,
        "successes": state.successes + success,
        "failures": state.failures + failure,
        "dominations": state.dominations + (fx.dominated & alive),
        "exits": exits,
    }
    dead = np.flatnonzero(state.dissolved)
    if dead.size:
        # A dissolved partnership stays as it was; its month reads as no task, no conflict.
        _restore(new, state, dead)
        for name, zero in (("achievement", 0.0), ("success", False), ("step_conflicts", 0)):
            new[name][dead] = zero
    return State(**new)
