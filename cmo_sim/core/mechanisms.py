"""One pure function per mechanism, over arrays with a leading run axis.

Conventions: ``a[rule]`` is the rule's coefficient ``sign * weight`` (0 when ablated); ``b`` holds
the theory's baseline constants. Contexts are centred with ``_c(x) = x - 0.5``; a rule that owns
one half of a context's range uses ``_up`` / ``_dn`` (for the signed contexts ``history`` and
``ambition_bias``, which are neutral at 0, ``np.maximum(x, 0)`` / ``np.minimum(x, 0)``). Each
function's docstring names the rules it realises; docs/model.md gives the equations. Sums over
the member axis run in a fixed order (:func:`msum`) so that a run's numbers do not depend on how
wide its batch is padded.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = [
    "ambition",
    "communication",
    "complexity",
    "conflict_hazard",
    "culture_drift",
    "exits",
    "faith_change",
    "functioning",
    "initial_faith",
    "initial_trust",
    "intra_conflict_change",
    "many",
    "margmax",
    "mmax",
    "mmin",
    "msum",
    "nudge",
    "hierarchy",
    "power",
    "resolution_probability",
    "size_norm",
    "success_probability",
    "synergy_target",
    "trust_change",
    "vision_change",
]

Coef = Mapping[str, float]


def _c(x: np.ndarray | float) -> np.ndarray:
    return np.asarray(x) - 0.5


def _up(x: np.ndarray | float) -> np.ndarray:
    return np.maximum(np.asarray(x) - 0.5, 0.0)


def _dn(x: np.ndarray | float) -> np.ndarray:
    return np.minimum(np.asarray(x) - 0.5, 0.0)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def msum(x: np.ndarray) -> np.ndarray:
    """Sum over the last axis in a fixed left-to-right order (padding zeros add exactly)."""
    acc = x[..., 0].copy()
    for k in range(1, x.shape[-1]):
        acc += x[..., k]
    return acc


def mmax(x: np.ndarray) -> np.ndarray:
    """Maximum over the last (member) axis by a loop: faster than numpy on short axes."""
    acc = x[..., 0].copy()
    for k in range(1, x.shape[-1]):
        np.maximum(acc, x[..., k], out=acc)
    return acc


def mmin(x: np.ndarray) -> np.ndarray:
    """Minimum over the last (member) axis by a loop."""
    acc = x[..., 0].copy()
    for k in range(1, x.shape[-1]):
        np.minimum(acc, x[..., k], out=acc)
    return acc


def many(x: np.ndarray) -> np.ndarray:
    """Logical or over the last (member) axis by a loop."""
    acc = x[..., 0].copy()
    for k in range(1, x.shape[-1]):
        acc |= x[..., k]
    return acc


def margmax(x: np.ndarray) -> np.ndarray:
    """Index of the first maximum over the last axis (as ``np.argmax``), by a loop."""
    best = x[..., 0].copy()
    index = np.zeros(best.shape, dtype=np.int64)
    for k in range(1, x.shape[-1]):
        better = x[..., k] > best
        index[better] = k
        np.maximum(best, x[..., k], out=best)
    return index


def nudge(x: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Move ``x`` in [0, 1] by ``delta`` in [-1, 1] proportionally to the room left."""
    delta = np.clip(delta, -1.0, 1.0)
    return x + np.where(delta > 0.0, delta * (1.0 - x), delta * x)


# -- derived quantities ---------------------------------------------------------------------------
def size_norm(size: np.ndarray) -> np.ndarray:
    """Normalised size ``clip(log10(size) / 5, 0, 1)``: 10 staff -> 0.2, 100,000 -> 1."""
    return np.clip(np.log10(size) / 5.0, 0.0, 1.0)


#: Normalised size of a typical member (1,000 staff): size terms are centred here.
TYPICAL_SIZE_NORM = 0.6


def power(s: np.ndarray, resources: np.ndarray) -> np.ndarray:
    """Power ``[runs, members]``: the mean of normalised size and resources (structural)."""
    return 0.5 * (s + resources)


def hierarchy(mandated: np.ndarray, is_lead: np.ndarray, a: Coef, b: Coef) -> np.ndarray:
    """Hierarchical power ``[runs, members]`` the lead holds over the others when mandated.

    Rules: power.mandated_imbalance (a mandate creates a power imbalance: the lead's seniority
    is felt by every other member, whatever their sizes).
    """
    return (-a["power.mandated_imbalance"] * b["lead_power_bonus"] * mandated)[:, None] * is_lead


def dominance(p: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """``dom[r, i, j] = max(0, p_j - p_i) + rank_j``: dominance member i feels from j."""
    return np.maximum(p[:, None, :] - p[:, :, None], 0.0) + rank[:, None, :]


def complexity(ctx, s_mean: np.ndarray, n_active: np.ndarray, a: Coef) -> np.ndarray:
    """Task complexity ``[runs]`` in [0, 1], 0.5 typical.

    Rules: complexity.size_trust_requirement, complexity.problem_simplicity,
    complexity.regulation, complexity.interoperability, complexity.too_many_partners.
    """
    k = (
        0.5
        + a["complexity.size_trust_requirement"] * (s_mean - TYPICAL_SIZE_NORM)
        + a["complexity.problem_simplicity"] * _c(ctx.problem_simplicity)
        - a["complexity.regulation"] * _c(ctx.regulation)
        - a["complexity.interoperability"] * _c(ctx.interoperability)
        - a["complexity.too_many_partners"] * (n_active - 2.0) / 14.0
    )
    return np.clip(k, 0.0, 1.0)


def communication(ctx, s: np.ndarray, trust: np.ndarray, a: Coef) -> np.ndarray:
    """Pairwise communication ``[runs, members, members]`` in [0, 1].

    Rules: communication.strategies, communication.proximity, complexity.interoperability,
    communication.trust_begets_communication, complexity.size_slows_communication.
    """
    level = (
        0.5
        + a["communication.strategies"] * _c(ctx.communication)
        + a["communication.proximity"] * _c(ctx.proximity)
        + a["complexity.interoperability"] * _c(ctx.interoperability)
    )
    pair_size = 0.5 * (s[:, :, None] + s[:, None, :])
    comm = (
        level[:, None, None]
        + a["communication.trust_begets_communication"] * (trust - 0.5)
        + a["complexity.size_slows_communication"] * (pair_size - TYPICAL_SIZE_NORM)
    )
    return np.clip(comm, 0.0, 1.0)


# -- synergy and inertia --------------------------------------------------------------------------
def functioning(mean_trust, mean_faith, mean_comm, a: Coef) -> np.ndarray:
    """Partnership functioning F ``[runs]``, 0 typical.

    Rules: synergy.high_trust, inertia.low_trust, synergy.faith, synergy.communication.
    """
    return (
        a["synergy.high_trust"] * _up(mean_trust)
        + a["inertia.low_trust"] * _dn(mean_trust)
        + a["synergy.faith"] * _c(mean_faith)
        + a["synergy.communication"] * _c(mean_comm)
    )


def synergy_target(f: np.ndarray, b: Coef) -> np.ndarray:
    """Sigmoid of functioning: two basins, synergy and inertia (baseline only)."""
    return _sigmoid(b["synergy_steepness"] * (f - b["synergy_threshold"]))


# -- ambition and the task ------------------------------------------------------------------------
def ambition(trust_given, present_active, k, ambition_bias, a: Coef, b: Coef) -> np.ndarray:
    """Agreed ambition ``[runs]``: the least risk-tolerant member's level, shifted by bias.

    Rules: trust.risk_threshold (risk tolerance rises with trust); complexity raises the trust
    needed for the same aims (baseline complexity_trust_requirement).
    """
    tolerance = (
        0.5
        + a["trust.risk_threshold"] * (trust_given - 0.5)
        - b["complexity_trust_requirement"] * (k - 0.5)[:, None]
    )
    tolerance = np.where(present_active, tolerance, np.inf)
    agreed = mmin(tolerance)
    agreed = np.where(np.isfinite(agreed), agreed, 0.5)
    return np.clip(agreed + b["ambition_bias_scale"] * ambition_bias, 0.0, 1.0)


def success_probability(ctx, members, synergy, ambition_level, k, intra_mean, a, b):
    """Probability ``[runs]`` that this step's task succeeds.

    Rules: task.intra_conflict, task.unambitious_aims, trust.overambition, task.absent_actors,
    task.flexibility, task.workforce_instability, task.evaluation, task.role_clarity,
    task.resourcing. ``members`` holds the active-member means of member attributes.
    """
    bias = ctx.ambition_bias
    logit = (
        b["success_intercept"]
        + b["synergy_effect"] * (synergy - 0.5)
        - b["ambition_difficulty"] * (ambition_level - 0.5)
        - b["complexity_difficulty"] * (k - 0.5)
        + a["task.intra_conflict"] * intra_mean
        + a["task.unambitious_aims"] * np.minimum(bias, 0.0)
        + a["trust.overambition"] * np.maximum(bias, 0.0)
        + a["task.absent_actors"] * _c(ctx.absent_actors)
        + a["task.flexibility"] * _c(members["flexibility"])
        + a["task.workforce_instability"] * _c(members["workforce_stability"])
        + a["task.evaluation"] * _c(ctx.evaluation)
        + a["task.role_clarity"] * _c(ctx.role_clarity)
        + a["task.resourcing"] * _c(members["resources"])
    )
    return _sigmoid(logit)


# -- conflict ------------------------------------------------------------------------------------
def conflict_hazard(ctx, vision, pair, failed, shock, a: Coef, b: Coef) -> np.ndarray:
    """Monthly conflict probability of each unordered pair ``[runs, pairs]``.

    Rules: conflict.accountability, conflict.slow_pace, conflict.cultural_compatibility,
    conflict.shared_vision, conflict.lack_of_shared_vision, conflict.task_failure,
    conflict.information_exchange, conflict.dominance, conflict.workforce_churn,
    conflict.flexibility, communication.conflicting_cultures, conflict.improper_cessation
    (through ``shock``). ``pair`` holds per-pair arrays: distance, dominance, communication,
    stability and flexibility (pair means).
    """
    run_terms = (
        b["conflict_intercept"]
        - a["conflict.accountability"] * _c(ctx.accountability)
        - a["conflict.slow_pace"] * _c(ctx.pace)
        - a["conflict.shared_vision"] * _up(vision)
        - a["conflict.lack_of_shared_vision"] * _dn(vision)
        - a["conflict.task_failure"] * failed
        - a["conflict.information_exchange"] * _c(ctx.information_exchange)
        + shock
    )
    logit = (
        run_terms[:, None]
        - a["conflict.cultural_compatibility"] * pair["distance"]
        - a["conflict.dominance"] * pair["dominance"]
        - a["conflict.workforce_churn"] * _c(pair["stability"])
        - a["conflict.flexibility"] * _c(pair["flexibility"])
        + a["communication.conflicting_cultures"] * 2.0 * pair["distance"] * pair["communication"]
    )
    return _sigmoid(logit)


def resolution_probability(conflict_resolution: np.ndarray, a: Coef) -> np.ndarray:
    """Probability ``[runs]`` that a conflict is resolved constructively.

    Rules: trust.constructive_resolution (upper half), trust.destructive_resolution (lower half).
    """
    q = (
        0.5
        + a["trust.constructive_resolution"] * _up(conflict_resolution)
        + a["trust.destructive_resolution"] * _dn(conflict_resolution)
    )
    return np.clip(q, 0.0, 1.0)


# -- trust ---------------------------------------------------------------------------------------
def trust_change(ctx, *, success, failure, ambition_level, comm, dom, constructive, destructive,
                 lead_mask, top_mask, mandated, a: Coef, b: Coef) -> np.ndarray:
    """This step's trust change ``[runs, members, members]`` before :func:`nudge`.

    Rules: trust.success_loop, trust.failure_loop, power.unequal_resources,
    power.size_domination, leadership.collaborative, leadership.combative_voluntary,
    communication.builds_trust, trust.constructive_resolution / trust.destructive_resolution
    (through the resolution events), conflict.accountability (buffer on destructive losses).
    ``constructive`` / ``destructive`` are symmetric 0/1 pair matrices; ``lead_mask`` and
    ``top_mask`` are ``[runs, 1, members]`` one-hot masks of the lead and most powerful member.
    """
    rate = b["trust_rate"]
    loop = (
        rate * a["trust.success_loop"] * 2.0 * ambition_level * success
        + rate * b["loss_aversion"] * a["trust.failure_loop"] * failure
    )
    buffer = np.clip(1.0 - a["conflict.accountability"] * _c(ctx.accountability), 0.25, 1.75)
    delta = (
        loop[:, None, None]
        + b["domination_rate"] * a["power.size_domination"] * dom
        + b["communication_rate"] * a["communication.builds_trust"] * 2.0 * _c(comm)
        + b["constructive_gain"] * constructive
        - (b["destructive_loss"] * buffer)[:, None, None] * destructive
    )
    leadership = ctx.leadership
    run_lead = (
        b["leadership_rate"] * a["leadership.collaborative"] * 2.0 * _up(leadership)
    )
    delta = delta + run_lead[:, None, None]
    combative = (
        b["leadership_rate"] * a["leadership.combative_voluntary"] * 2.0 * _dn(leadership)
        * (1.0 - mandated)
    )
    sharing = (
        rate * a["power.unequal_resources"] * 2.0 * _c(ctx.resource_equality) * ambition_level
    )
    delta = delta + combative[:, None, None] * lead_mask
    delta = delta + (sharing * success)[:, None, None] * top_mask
    return delta


def initial_trust(ctx, dom, noise, a: Coef, b: Coef) -> np.ndarray:
    """Initial trust ``[runs, members, members]`` (before masking the diagonal).

    Rules: trust.successful_history, trust.failed_history, trust.legal_agreements,
    power.mandated_imbalance, power.size_domination, entry.competitive_threat.
    """
    history = ctx.history
    level = (
        b["trust_initial"]
        + a["trust.successful_history"] * np.maximum(history, 0.0)
        + a["trust.failed_history"] * np.minimum(history, 0.0)
        + a["trust.legal_agreements"] * _c(ctx.formalisation)
        + a["power.mandated_imbalance"] * b["mandate_initial_trust"] * ctx.mandated
        + a["entry.competitive_threat"] * ctx.threat
    )
    trust = (
        level[:, None, None]
        + a["power.size_domination"] * b["dominance_initial_trust"] * dom
        + b["trust_initial_noise"] * (2.0 * noise - 1.0)
    )
    return np.clip(trust, 0.02, 0.98)


# -- faith, intra-organisational conflict, vision, culture --------------------------------------
def initial_faith(ctx, noise, a: Coef, b: Coef) -> np.ndarray:
    """Initial faith ``[runs, members]``.

    Rules: faith.stakeholder_involvement, faith.authenticity.
    """
    level = b["faith_initial"] + b["faith_initial_context"] * (
        a["faith.stakeholder_involvement"] * _c(ctx.stakeholder_involvement)
        + a["faith.authenticity"] * _c(ctx.authenticity)
    )
    return np.clip(level[:, None] + b["faith_initial_noise"] * (2.0 * noise - 1.0), 0.02, 0.98)


def faith_change(ctx, *, trust_given, intra, success, failure, ambition_level, destructive_count,
                 a: Coef, b: Coef) -> np.ndarray:
    """This step's faith change ``[runs, members]`` before :func:`nudge`.

    Rules: faith.stakeholder_involvement, faith.authenticity, faith.achievement_loop,
    faith.intra_conflict, faith.trust, trust.underambition, faith.destructive_conflict.
    """
    drift = b["faith_rate"] * (
        a["faith.stakeholder_involvement"] * 2.0 * _c(ctx.stakeholder_involvement)
        + a["faith.authenticity"] * 2.0 * _c(ctx.authenticity)
        + a["trust.underambition"] * 2.0 * np.minimum(ctx.ambition_bias, 0.0)
    )
    achieved = b["faith_achievement_rate"] * a["faith.achievement_loop"] * (
        np.minimum(2.0 * ambition_level, 1.0) * success - failure
    )
    return (
        (drift + achieved)[:, None]
        + b["faith_rate"] * (
            a["faith.intra_conflict"] * 2.0 * intra + a["faith.trust"] * 2.0 * (trust_given - 0.5)
        )
        + b["destructive_faith_loss"] * a["faith.destructive_conflict"] * destructive_count
    )


def intra_conflict_change(members, inertia, a: Coef, b: Coef) -> tuple[np.ndarray, np.ndarray]:
    """Rise (before :func:`nudge`) and decay factor of intra-organisational conflict.

    Rules: intra.staff_involvement, intra.workforce_churn, intra.inertia_workload,
    intra.flexibility. ``members`` holds ``[runs, members]`` attribute arrays.
    """
    rise = b["intra_rate"] * (
        1.0
        - a["intra.staff_involvement"] * 2.0 * _c(members["staff_involvement"])
        - a["intra.workforce_churn"] * 2.0 * _c(members["workforce_stability"])
        - a["intra.inertia_workload"] * 2.0 * _c(inertia)[:, None]
    )
    decay = b["intra_decay"] * np.maximum(
        1.0 + a["intra.flexibility"] * 2.0 * _c(members["flexibility"]), 0.0
    )
    return rise, np.clip(1.0 - decay, 0.0, 1.0)


def vision_change(leadership, mandated, mean_trust, a: Coef, b: Coef) -> np.ndarray:
    """Shared-vision change ``[runs]``: combative leadership in a mandated, low-trust partnership.

    Rules: leadership.combative_mandated.
    """
    return (
        b["vision_rate"] * a["leadership.combative_mandated"] * 2.0 * _dn(leadership)
        * mandated * 2.0 * np.maximum(0.5 - mean_trust, 0.0)
    )


def culture_drift(culture, present_active, leadership, a: Coef, b: Coef) -> np.ndarray:
    """New cultural positions: members converge under inclusive leadership.

    Rules: culture.inclusive_integration.
    """
    weight = present_active.astype(np.float64)
    count = np.maximum(msum(weight), 1.0)
    centre = msum(culture * weight) / count
    pull = b["integration_rate"] * a["culture.inclusive_integration"] * 2.0 * _up(leadership)
    pull = np.clip(pull, -1.0, 1.0)
    return np.where(present_active, culture + pull[:, None] * (centre[:, None] - culture), culture)


# -- exit and dissolution -------------------------------------------------------------------------
def exits(trust_given, faith, active, mandated, a: Coef, b: Coef):
    """Members leaving this step, ``(by_trust, by_faith)`` each ``[runs, members]`` bool.

    Rules: dissolution.critical_trust (trust below the critical threshold: inter-organisational
    origin), dissolution.faith_collapse (faith below its threshold: intra-organisational origin).
    A member below both thresholds is recorded as leaving for trust. A mandated partnership is
    harder to leave (baseline mandated_exit_barrier lowers both thresholds), so it dissolves
    later, after a longer stall in inertia.
    """
    ease = (1.0 - b["mandated_exit_barrier"] * mandated)[:, None]
    trust_floor = b["critical_trust"] * a["dissolution.critical_trust"] * ease
    faith_floor = -b["critical_faith"] * a["dissolution.faith_collapse"] * ease
    by_trust = active & (trust_given < trust_floor)
    by_faith = active & ~by_trust & (faith < faith_floor)
    return by_trust, by_faith
