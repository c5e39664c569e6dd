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
    "communication_base",
    "complexity",
    "conflict_context_logit",
    "conflict_hazard",
    "culture_drift",
    "culture_pull",
    "destructive_loss",
    "distrust_odds",
    "dominance",
    "exit_floors",
    "exits",
    "faith_change",
    "faith_drift",
    "functioning",
    "hierarchy",
    "initial_faith",
    "initial_trust",
    "intra_conflict_rates",
    "intra_conflict_rise",
    "many",
    "margmax",
    "mmin",
    "msum",
    "nudge",
    "power",
    "resolution_probability",
    "sharing_rate",
    "size_norm",
    "success_probability",
    "synergy_target",
    "task_context_logit",
    "trust_change",
    "trust_context_change",
    "vision_change",
    "vision_rate",
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
    return x + delta * np.where(delta > 0.0, 1.0 - x, x)


# -- derived quantities ---------------------------------------------------------------------------
def size_norm(size: np.ndarray) -> np.ndarray:
    """Normalised size ``clip(log10(size) / 5, 0, 1)``: 10 staff -> 0.2, 100,000 -> 1."""
    return np.clip(np.log10(size) / 5.0, 0.0, 1.0)


#: Normalised size of a typical member (1,000 staff): size terms are centred here.
TYPICAL_SIZE_NORM = 0.6

#: Trust below which :func:`distrust_odds` stops growing (the bound of initial trust).
ODDS_TRUST_FLOOR = 0.02


def distrust_odds(trust: np.ndarray | float) -> np.ndarray:
    """``(1 - trust) / max(trust, 0.02)``: 1 at trust 0.5, 1/3 at 0.75, 3 at 0.25.

    The trust in place buffers conflict (the review: initial trust "can act as a buffer against
    future conflicts and task failures"). A failed month raises a pair's conflict hazard, and
    a destructive resolution changes trust, in proportion to these odds (4.8, 4.10).
    """
    trust = np.asarray(trust, dtype=np.float64)
    return (1.0 - trust) / np.maximum(trust, ODDS_TRUST_FLOOR)


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


def communication_base(ctx, s: np.ndarray, a: Coef) -> np.ndarray:
    """The context part of pairwise communication ``[runs, members, members]`` (unclipped).

    Rules: communication.strategies, communication.proximity, complexity.interoperability,
    complexity.size_slows_communication.
    """
    level = (
        0.5
        + a["communication.strategies"] * _c(ctx.communication)
        + a["communication.proximity"] * _c(ctx.proximity)
        + a["complexity.interoperability"] * _c(ctx.interoperability)
    )
    pair_size = 0.5 * (s[:, :, None] + s[:, None, :])
    return level[:, None, None] + a["complexity.size_slows_communication"] * (
        pair_size - TYPICAL_SIZE_NORM
    )


def communication(base: np.ndarray, trust: np.ndarray, a: Coef) -> np.ndarray:
    """Pairwise communication ``[runs, members, members]`` in [0, 1].

    The context part (:func:`communication_base`) plus trust.
    Rules: communication.trust_begets_communication.
    """
    comm = base + a["communication.trust_begets_communication"] * (trust - 0.5)
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


def task_context_logit(ctx, members, k, a: Coef, b: Coef) -> np.ndarray:
    """The part ``[runs]`` of the task's success logit fixed by the contexts and membership.

    Rules: task.unambitious_aims, trust.overambition, task.absent_actors, task.flexibility,
    task.workforce_instability, task.evaluation, task.role_clarity, task.resourcing; complexity
    through the baseline complexity_difficulty. ``members`` holds the active-member means of
    member attributes.
    """
    bias = ctx.ambition_bias
    return (
        b["success_intercept"]
        - b["complexity_difficulty"] * (k - 0.5)
        + a["task.unambitious_aims"] * np.minimum(bias, 0.0)
        + a["trust.overambition"] * np.maximum(bias, 0.0)
        + a["task.absent_actors"] * _c(ctx.absent_actors)
        + a["task.flexibility"] * _c(members["flexibility"])
        + a["task.workforce_instability"] * _c(members["workforce_stability"])
        + a["task.evaluation"] * _c(ctx.evaluation)
        + a["task.role_clarity"] * _c(ctx.role_clarity)
        + a["task.resourcing"] * _c(members["resources"])
    )


def success_probability(context_logit, synergy, ambition_level, intra_mean, a: Coef,
                        b: Coef) -> np.ndarray:
    """Probability ``[runs]`` that this step's task succeeds.

    Rules: task.intra_conflict; synergy and ambition through the baseline constants; the
    contexts' part comes from :func:`task_context_logit`.
    """
    logit = (
        context_logit
        + b["synergy_effect"] * (synergy - 0.5)
        - b["ambition_difficulty"] * (ambition_level - 0.5)
        + a["task.intra_conflict"] * intra_mean
    )
    return _sigmoid(logit)


# -- conflict ------------------------------------------------------------------------------------
def conflict_context_logit(ctx, pair, a: Coef, b: Coef) -> np.ndarray:
    """The part ``[runs, pairs]`` of the conflict-hazard logit the contexts and members fix.

    Rules: conflict.accountability, conflict.slow_pace, conflict.information_exchange (per
    run); conflict.dominance, conflict.workforce_churn, conflict.flexibility (per pair).
    ``pair`` holds per-pair arrays: dominance, stability and flexibility (pair means).
    """
    run_terms = (
        b["conflict_intercept"]
        - a["conflict.accountability"] * _c(ctx.accountability)
        - a["conflict.slow_pace"] * _c(ctx.pace)
        - a["conflict.information_exchange"] * _c(ctx.information_exchange)
    )
    return (
        run_terms[:, None]
        - a["conflict.dominance"] * pair["dominance"]
        - a["conflict.workforce_churn"] * _c(pair["stability"])
        - a["conflict.flexibility"] * _c(pair["flexibility"])
    )


def conflict_hazard(context_logit, vision, failed, shock, pair_trust, distance, communication,
                    a: Coef, b: Coef) -> np.ndarray:
    """Monthly conflict probability of each unordered pair ``[runs, pairs]``.

    Rules: conflict.shared_vision, conflict.lack_of_shared_vision, conflict.task_failure (a
    failed month, buffered by the pair's trust through :func:`distrust_odds`),
    conflict.improper_cessation (through ``shock``), conflict.cultural_compatibility,
    communication.conflicting_cultures; the contexts' part comes from
    :func:`conflict_context_logit`. ``pair_trust``, ``distance`` and ``communication`` are per
    pair (mean trust of the two directions, cultural distance, mean communication).
    """
    run_terms = (
        - a["conflict.shared_vision"] * _up(vision)
        - a["conflict.lack_of_shared_vision"] * _dn(vision)
        + shock
    )
    logit = (
        context_logit
        + run_terms[:, None]
        - a["conflict.task_failure"] * failed[:, None] * distrust_odds(pair_trust)
        - a["conflict.cultural_compatibility"] * distance
        + a["communication.conflicting_cultures"] * 2.0 * distance * communication
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
def trust_context_change(ctx, dom, lead_mask, mandated, a: Coef, b: Coef) -> np.ndarray:
    """The part ``[runs, members, members]`` of the trust change the contexts and members fix.

    Rules: power.size_domination (felt dominance), leadership.collaborative (every pair),
    leadership.combative_voluntary (trust in the lead). ``lead_mask`` is the ``[runs, 1,
    members]`` one-hot mask of the lead.
    """
    leadership = ctx.leadership
    collaborative = b["leadership_rate"] * a["leadership.collaborative"] * 2.0 * _up(leadership)
    combative = (
        b["leadership_rate"] * a["leadership.combative_voluntary"] * 2.0 * _dn(leadership)
        * (1.0 - mandated)
    )
    return (
        b["domination_rate"] * a["power.size_domination"] * dom
        + collaborative[:, None, None]
        + combative[:, None, None] * lead_mask
    )


def destructive_loss(ctx, a: Coef, b: Coef) -> np.ndarray:
    """Trust lost ``[runs]`` by a destructively resolved conflict.

    Rules: conflict.accountability (governance buffers the loss: x1.6 at accountability 0,
    x0.4 at 1); trust.destructive_resolution acts on how likely the loss is.
    """
    buffer = np.clip(1.0 - a["conflict.accountability"] * _c(ctx.accountability), 0.25, 1.75)
    return b["destructive_loss"] * buffer


def sharing_rate(ctx, a: Coef, b: Coef) -> np.ndarray:
    """Trust ``[runs]`` in the most powerful member per unit of ambition achieved.

    Rules: power.unequal_resources (gains shared fairly build trust, kept gains erode it).
    """
    return b["trust_rate"] * a["power.unequal_resources"] * 2.0 * _c(ctx.resource_equality)


def trust_change(context_change, *, success, failure, ambition_level, comm, resolution, sharing,
                 top_mask, a: Coef, b: Coef) -> np.ndarray:
    """This step's trust change ``[runs, members, members]`` before :func:`nudge`.

    Rules: trust.success_loop, trust.failure_loop, communication.builds_trust,
    power.unequal_resources (on a success, trust in the most powerful member); the contexts'
    part comes from :func:`trust_context_change`. ``resolution`` is the trust change of this
    month's conflict resolutions (``b.constructive_gain``, or ``-destructive_loss`` times the
    :func:`distrust_odds` of the trust in place, on the pairs in conflict:
    trust.constructive_resolution / trust.destructive_resolution act on which);
    ``top_mask`` the ``[runs, 1, members]`` one-hot mask of the most powerful member.
    """
    rate = b["trust_rate"]
    loop = (
        rate * a["trust.success_loop"] * 2.0 * ambition_level * success
        + rate * b["loss_aversion"] * a["trust.failure_loop"] * failure
    )
    delta = context_change + loop[:, None, None]
    delta += b["communication_rate"] * a["communication.builds_trust"] * 2.0 * _c(comm)
    delta += resolution
    delta += (sharing * ambition_level * success)[:, None, None] * top_mask
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


def faith_drift(ctx, a: Coef, b: Coef) -> np.ndarray:
    """The monthly faith change ``[runs]`` the contexts set.

    Rules: faith.stakeholder_involvement, faith.authenticity, trust.underambition.
    """
    return b["faith_rate"] * (
        a["faith.stakeholder_involvement"] * 2.0 * _c(ctx.stakeholder_involvement)
        + a["faith.authenticity"] * 2.0 * _c(ctx.authenticity)
        + a["trust.underambition"] * 2.0 * np.minimum(ctx.ambition_bias, 0.0)
    )


def faith_change(drift, *, trust_given, intra, success, failure, ambition_level,
                 destructive_count, a: Coef, b: Coef) -> np.ndarray:
    """This step's faith change ``[runs, members]`` before :func:`nudge`.

    Rules: faith.achievement_loop, faith.intra_conflict, faith.trust,
    faith.destructive_conflict; ``drift`` (:func:`faith_drift`) carries the contexts' rules.
    """
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


def intra_conflict_rates(members, a: Coef, b: Coef) -> tuple[np.ndarray, np.ndarray]:
    """The members' part of the intra-conflict rise and its decay factor ``[runs, members]``.

    Rules: intra.staff_involvement, intra.workforce_churn (rise), intra.flexibility (decay).
    ``members`` holds ``[runs, members]`` attribute arrays.
    """
    inner = (
        1.0
        - a["intra.staff_involvement"] * 2.0 * _c(members["staff_involvement"])
        - a["intra.workforce_churn"] * 2.0 * _c(members["workforce_stability"])
    )
    decay = b["intra_decay"] * np.maximum(
        1.0 + a["intra.flexibility"] * 2.0 * _c(members["flexibility"]), 0.0
    )
    return inner, np.clip(1.0 - decay, 0.0, 1.0)


def intra_conflict_rise(inner, inertia, a: Coef, b: Coef) -> np.ndarray:
    """Rise of intra-organisational conflict ``[runs, members]`` before :func:`nudge`.

    Rules: intra.inertia_workload (the workload of collaborative inertia); ``inner`` from
    :func:`intra_conflict_rates`.
    """
    return b["intra_rate"] * (inner - a["intra.inertia_workload"] * 2.0 * _c(inertia)[:, None])


def vision_rate(leadership, mandated, a: Coef, b: Coef) -> np.ndarray:
    """Shared-vision change ``[runs]`` per unit of trust below 0.5.

    Rules: leadership.combative_mandated (combative leadership in a mandated partnership).
    """
    return (
        b["vision_rate"] * a["leadership.combative_mandated"] * 2.0 * _dn(leadership) * mandated
        * 2.0
    )


def vision_change(rate, mean_trust) -> np.ndarray:
    """Shared-vision change ``[runs]``: up in a low-trust partnership at ``rate``."""
    return rate * np.maximum(0.5 - mean_trust, 0.0)


def culture_pull(leadership, a: Coef, b: Coef) -> np.ndarray:
    """How far ``[runs]`` members move each month towards their cultural centre.

    Rules: culture.inclusive_integration.
    """
    pull = b["integration_rate"] * a["culture.inclusive_integration"] * 2.0 * _up(leadership)
    return np.clip(pull, -1.0, 1.0)


def culture_drift(culture, present_active, weight, count, pull) -> np.ndarray:
    """New cultural positions: members converge under inclusive leadership.

    ``pull`` from :func:`culture_pull`; ``weight`` / ``count`` are the active-member weights
    and count.
    """
    centre = msum(culture * weight) / count
    return np.where(present_active, culture + pull[:, None] * (centre[:, None] - culture), culture)


# -- exit and dissolution -------------------------------------------------------------------------
def exit_floors(mandated, a: Coef, b: Coef) -> tuple[np.ndarray, np.ndarray]:
    """Critical trust and faith thresholds ``[runs, 1]`` below which a member leaves.

    Rules: dissolution.critical_trust, dissolution.faith_collapse. A mandated partnership is
    harder to leave (baseline mandated_exit_barrier lowers both thresholds), so it dissolves
    later, after a longer stall in inertia.
    """
    ease = (1.0 - b["mandated_exit_barrier"] * mandated)[:, None]
    trust_floor = b["critical_trust"] * a["dissolution.critical_trust"] * ease
    faith_floor = -b["critical_faith"] * a["dissolution.faith_collapse"] * ease
    return trust_floor, faith_floor


def exits(trust_given, faith, active, trust_floor, faith_floor):
    """Members leaving this step, ``(by_trust, by_faith)`` each ``[runs, members]`` bool.

    Rules: dissolution.critical_trust (trust below the critical threshold: inter-organisational
    origin), dissolution.faith_collapse (faith below its threshold: intra-organisational
    origin); thresholds from :func:`exit_floors`. A member below both thresholds is recorded as
    leaving for trust.
    """
    by_trust = active & (trust_given < trust_floor)
    by_faith = active & ~by_trust & (faith < faith_floor)
    return by_trust, by_faith
