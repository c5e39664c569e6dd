"""``init(params) -> State`` and ``step(state, params, t) -> State``: pure functions.

One step is one month. All members decide from the previous state; the partnership-level
quantities are updated in the order of docs/model.md (functioning and synergy, ambition, task,
conflict, trust, faith, intra-organisational conflict, vision and culture, exits).
"""

from __future__ import annotations

import numpy as np

from cmo_sim.core import mechanisms as m
from cmo_sim.core.state import CAUSE_FAITH, CAUSE_NONE, CAUSE_TRUST, State
from cmo_sim.params import Params
from cmo_sim.rng import Stream, uniform

__all__ = ["init", "step"]


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


def step(state: State, params: Params, t: int) -> State:
    """Advance every run by one month; dissolved runs are left exactly as they were."""
    ctx = params.contexts_at(t)
    a, b = params.coef, params.baseline
    n = params.n_members
    alive = ~state.dissolved
    active = state.active & alive[:, None]
    w = active.astype(np.float64)
    count = np.maximum(m.msum(w), 1.0)
    pair_w = w[:, :, None] * w[:, None, :] * (1.0 - np.eye(n))
    row_count = np.maximum(m.msum(pair_w), 1.0)
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

    # Derived quantities: power, dominance, complexity, communication.
    is_lead = np.arange(n)[None, :] == params.lead[:, None]
    s = m.size_norm(ctx.size)
    p = m.power(s, ctx.resources)
    rank = m.hierarchy(ctx.mandated, is_lead, a, b)
    dom = m.dominance(p, rank) * pair_w
    k = m.complexity(ctx, _active_mean(s, w, count), count, a)
    comm = m.communication(ctx, s, trust, a) * pair_w
    trust_given = m.msum(trust * pair_w) / row_count  # [runs, members]
    n_pairs = np.maximum(m.msum(row_count * w), 1.0)
    any_pair = m.msum(m.msum(pair_w)) > 0
    mean_trust = np.where(any_pair, m.msum(m.msum(trust * pair_w)) / n_pairs, 0.0)
    mean_comm = np.where(any_pair, m.msum(m.msum(comm)) / n_pairs, 0.0)
    mean_faith = _active_mean(state.faith, w, count)

    # Functioning and synergy (synergy.*, inertia.*).
    f = m.functioning(mean_trust, mean_faith, mean_comm, a)
    synergy = state.synergy + b["synergy_rate"] * (m.synergy_target(f, b) - state.synergy)

    # Ambition and the task attempt (trust.risk_threshold, task.*).
    aim = m.ambition(trust_given, active, k, ctx.ambition_bias, a, b)
    means = {
        name: _active_mean(getattr(ctx, name), w, count)
        for name in ("flexibility", "workforce_stability", "resources")
    }
    intra_mean = _active_mean(state.intra_conflict, w, count)
    p_success = m.success_probability(ctx, means, synergy, aim, k, intra_mean, a, b)
    success = (uniform(params.keys, t, Stream.TASK) < p_success) & alive
    failure = ~success & alive
    succ_f, fail_f = success.astype(np.float64), failure.astype(np.float64)
    achievement = aim * succ_f
    performance = state.performance + achievement * (
        1.0 - b["inertia_discount"] * (1.0 - synergy)
    )

    # Conflict between pairs and its resolution (conflict.*, trust.*_resolution).
    iu, ju = _pairs(n)
    pair_active = active[:, iu] & active[:, ju]
    distance = np.abs(culture[:, iu] - culture[:, ju])
    pair = {
        "distance": distance,
        "dominance": np.maximum(dom[:, iu, ju], dom[:, ju, iu]),
        "communication": 0.5 * (comm[:, iu, ju] + comm[:, ju, iu]),
        "stability": 0.5 * (ctx.workforce_stability[:, iu] + ctx.workforce_stability[:, ju]),
        "flexibility": 0.5 * (ctx.flexibility[:, iu] + ctx.flexibility[:, ju]),
    }
    hazard = m.conflict_hazard(ctx, vision, pair, fail_f, state.exit_shock, a, b)
    conflict = (uniform(params.keys, t, Stream.CONFLICT, iu, ju) < hazard) & pair_active
    q = m.resolution_probability(ctx.conflict_resolution, a)
    constructive_pair = conflict & (uniform(params.keys, t, Stream.RESOLUTION, iu, ju) < q[:, None])
    destructive_pair = conflict & ~constructive_pair
    constructive = np.zeros_like(trust)
    destructive = np.zeros_like(trust)
    constructive[:, iu, ju] = constructive_pair
    constructive[:, ju, iu] = constructive_pair
    destructive[:, iu, ju] = destructive_pair
    destructive[:, ju, iu] = destructive_pair

    # Trust: the trust-building loop, power, leadership, communication, resolutions.
    p_masked = np.where(active, p + rank, -np.inf)
    top = m.margmax(p_masked)
    top_mask = (np.arange(n)[None, :] == top[:, None])[:, None, :].astype(np.float64)
    lead_mask = is_lead[:, None, :].astype(np.float64)
    delta = m.trust_change(
        ctx, success=succ_f, failure=fail_f, ambition_level=aim, comm=comm, dom=dom,
        constructive=constructive, destructive=destructive, lead_mask=lead_mask,
        top_mask=top_mask, mandated=ctx.mandated, a=a, b=b,
    )
    new_trust = np.where(pair_w > 0, m.nudge(trust, delta), trust)

    # Faith, intra-organisational conflict, shared vision and culture.
    # Faith is about the collaboration as a whole: destructive conflicts count per partner.
    destructive_count = m.msum(destructive) / np.maximum(count - 1.0, 1.0)[:, None]
    new_faith = np.where(active, m.nudge(state.faith, m.faith_change(
        ctx, trust_given=trust_given, intra=state.intra_conflict, success=succ_f,
        failure=fail_f, ambition_level=aim, destructive_count=destructive_count, a=a, b=b,
    )), state.faith)
    rise, keep = m.intra_conflict_change(
        {"staff_involvement": ctx.staff_involvement, "workforce_stability":
         ctx.workforce_stability, "flexibility": ctx.flexibility},
        1.0 - synergy, a, b,
    )
    new_intra = np.where(active, m.nudge(state.intra_conflict, rise) * keep, state.intra_conflict)
    new_vision = m.nudge(vision, m.vision_change(ctx.leadership, ctx.mandated, mean_trust, a, b))
    new_culture = m.culture_drift(culture, active, ctx.leadership, a, b)

    # Exits and dissolution (dissolution.*, conflict.improper_cessation).
    new_given = m.msum(new_trust * pair_w) / row_count
    by_trust, by_faith = m.exits(new_given, new_faith, active, ctx.mandated, a, b)
    leaving = by_trust | by_faith
    n_leaving = m.msum(leaving.astype(np.float64))
    still = active & ~leaving
    remaining = m.msum(still.astype(np.float64))
    dissolving = alive & (remaining < 2)
    exit_shock = state.exit_shock * b["exit_shock_decay"] + n_leaving * (
        a["conflict.improper_cessation"] * (1.0 - ctx.exit_handling)
    )
    run_cause = np.where(m.many(by_trust), CAUSE_TRUST, CAUSE_FAITH).astype(np.int8)
    exit_code = np.where(by_trust, CAUSE_TRUST, np.where(by_faith, CAUSE_FAITH, CAUSE_NONE))
    dominated = m.many(m.many(dom > b["domination_threshold"])) & alive
    step_conflicts = m.msum(conflict.astype(np.int64)) if conflict.shape[1] else np.zeros_like(
        state.conflicts
    )

    all_alive = bool(alive.all())

    def keep_dead(new, old):
        if all_alive:
            return new
        mask = alive if new.ndim == 1 else alive.reshape((-1,) + (1,) * (new.ndim - 1))
        return np.where(mask, new, old)

    return State(
        trust=keep_dead(new_trust, state.trust),
        faith=keep_dead(new_faith, state.faith),
        intra_conflict=keep_dead(new_intra, state.intra_conflict),
        culture=keep_dead(new_culture, state.culture),
        vision=keep_dead(new_vision, state.vision),
        synergy=keep_dead(synergy, state.synergy),
        ambition=keep_dead(aim, state.ambition),
        achievement=np.where(alive, achievement, 0.0),
        performance=keep_dead(performance, state.performance),
        exit_shock=keep_dead(exit_shock, state.exit_shock),
        success=success,
        step_conflicts=np.where(alive, step_conflicts, 0),
        active=np.where(alive[:, None], still, state.active),
        exit_step=np.where(leaving, t, state.exit_step),
        exit_cause=np.where(leaving, exit_code, state.exit_cause).astype(np.int8),
        dissolved=state.dissolved | dissolving,
        dissolved_at=np.where(dissolving, t, state.dissolved_at),
        cause=np.where(dissolving, run_cause, state.cause).astype(np.int8),
        conflicts=state.conflicts + np.where(alive, step_conflicts, 0),
        constructive=state.constructive + m.msum(constructive_pair.astype(np.int64))
        if constructive_pair.shape[1] else state.constructive,
        destructive=state.destructive + m.msum(destructive_pair.astype(np.int64))
        if destructive_pair.shape[1] else state.destructive,
        successes=state.successes + success,
        failures=state.failures + failure,
        dominations=state.dominations + dominated,
        exits=state.exits + m.msum(leaving.astype(np.int64)),
    )
