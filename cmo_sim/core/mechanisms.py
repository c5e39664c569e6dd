"""The engine's machinery: what a month does besides adding the terms of its sites.

The theory's rules are terms at sites (:mod:`cmo_sim.core.terms`, evaluated by
:mod:`cmo_sim.core.sites`); the functions here are the structure around the sites that no rule
owns: reductions over members in a fixed order (so a run's numbers do not depend on how wide
its batch is padded), the bounded update :func:`nudge`, power and dominance, the synergy
sigmoid, the agreed ambition, cultural drift and exits. docs/model.md gives the equations.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from cmo_sim.core.terms import ODDS_TRUST_FLOOR, distrust_odds, size_norm

__all__ = [
    "ODDS_TRUST_FLOOR",
    "ambition",
    "culture_drift",
    "distrust_odds",
    "dominance",
    "exits",
    "many",
    "margmax",
    "mmin",
    "msum",
    "nudge",
    "power",
    "sigmoid",
    "size_norm",
    "synergy_target",
]

Coef = Mapping[str, float]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-z))


def msum(x: np.ndarray) -> np.ndarray:
    """Sum over the last axis in a fixed left-to-right order (padding zeros add exactly)."""
    if x.shape[-1] == 1:
        return x[..., 0].copy()
    acc = x[..., 0] + x[..., 1]
    for k in range(2, x.shape[-1]):
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


def power(s: np.ndarray, resources: np.ndarray) -> np.ndarray:
    """Power ``[runs, members]``: the mean of normalised size and resources (structural)."""
    return 0.5 * (s + resources)


def dominance(p: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """``dom[r, i, j] = max(0, p_j - p_i) + rank_j``: dominance member i feels from j."""
    return np.maximum(p[:, None, :] - p[:, :, None], 0.0) + rank[:, None, :]


# -- synergy and inertia --------------------------------------------------------------------------
def synergy_target(f: np.ndarray, b: Coef) -> np.ndarray:
    """The synergy target: a sigmoid of functioning (slope and centre are baseline constants)."""
    return sigmoid(b["synergy_steepness"] * (f - b["synergy_threshold"]))


# -- ambition and the task ------------------------------------------------------------------------
def ambition(tolerance, present_active, ambition_bias, b: Coef) -> np.ndarray:
    """Agreed ambition ``[runs]``: the least tolerant active member's level, shifted by bias.

    ``tolerance`` is the risk_tolerance site ``[runs, members]`` (with the complexity part);
    ambition_bias shifts the agreed level by baseline ambition_bias_scale per unit.
    """
    tolerance = np.where(present_active, tolerance, np.inf)
    agreed = mmin(tolerance)
    agreed = np.where(np.isfinite(agreed), agreed, 0.5)
    return np.clip(agreed + b["ambition_bias_scale"] * ambition_bias, 0.0, 1.0)


# -- faith, intra-organisational conflict, vision, culture --------------------------------------
def culture_drift(culture, present_active, weight, count, pull) -> np.ndarray:
    """New cultural positions: members converge under inclusive leadership.

    ``pull`` is the culture_pull site ``[runs]``; ``weight`` / ``count`` are the active-member
    weights and count.
    """
    centre = msum(culture * weight) / count
    moved = np.clip(culture + pull[:, None] * (centre[:, None] - culture), 0.0, 1.0)
    return np.where(present_active, moved, culture)


# -- exit and dissolution -------------------------------------------------------------------------
def exits(trust_given, faith, active, trust_floor, faith_floor):
    """Members leaving this step, ``(by_trust, by_faith)`` each ``[runs, members]`` bool.

    The floors are the trust_floor and faith_floor sites: a member leaves when its mean trust
    in its partners (inter-organisational origin) or its faith (intra-organisational origin)
    falls below them. A member below both is recorded as leaving for trust.
    """
    by_trust = active & (trust_given < trust_floor)
    by_faith = active & ~by_trust & (faith < faith_floor)
    return by_trust, by_faith
