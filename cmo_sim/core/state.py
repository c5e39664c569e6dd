"""The State of a batch of partnerships: a frozen struct of arrays with a leading run axis."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["CAUSE_FAITH", "CAUSE_NAMES", "CAUSE_NONE", "CAUSE_TRUST", "COUNTERS", "TRUST_ACCOUNT",
           "State"]

CAUSE_NONE, CAUSE_TRUST, CAUSE_FAITH = 0, 1, 2
#: Dissolution / exit cause codes: trust collapse is of inter-organisational origin, faith
#: collapse of intra-organisational origin (review, Discussion).
CAUSE_NAMES = ("none", "trust", "faith")
#: Cumulative event counters kept per run.
COUNTERS = (
    "conflicts",
    "constructive",
    "destructive",
    "successes",
    "failures",
    "dominations",
    "exits",
    "turnovers",
    "joins",
)
#: Where trust went, cumulated per run: what conflict resolutions, the task's outcome (rules
#: reading task success or failure) and every other term took from (lost) and added to
#: (gained) the mean trust of the pairs in place, month by month.
TRUST_ACCOUNT = (
    "trust_lost_conflict",
    "trust_lost_task",
    "trust_lost_other",
    "trust_gained_conflict",
    "trust_gained_task",
    "trust_gained_other",
)


@dataclass(frozen=True, slots=True)
class State:
    """State of every run after a step.

    Attributes
    ----------
    trust: ``[runs, members, members]`` float, ``trust[r, i, j]`` is i's trust in j (diagonal 0).
    faith: ``[runs, members]`` float, each member's faith in the collaboration.
    intra_conflict: ``[runs, members]`` float, conflict inside each member.
    culture: ``[runs, members]`` float, cultural positions (converge under inclusive leadership).
    vision: ``[runs]`` float, shared vision.
    synergy: ``[runs]`` float; inertia is ``1 - synergy``.
    experience: ``[runs]`` float, how far the members have learned to work together.
    ambition: ``[runs]`` float, the aim level agreed this step.
    achievement: ``[runs]`` float, value achieved this step (ambition if the task succeeded).
    performance: ``[runs]`` float, cumulative achievement discounted by inertia.
    exit_shock: ``[runs]`` float, decaying conflict pressure after an improper exit.
    success: ``[runs]`` bool, the task attempted this step succeeded.
    step_conflicts: ``[runs]`` int, conflicts that broke out this step.
    active: ``[runs, members]`` bool, members still in the partnership.
    exit_step: ``[runs, members]`` int, step a member left (-1 never).
    exit_cause: ``[runs, members]`` int8, CAUSE_* code of each member's exit.
    dissolved: ``[runs]`` bool, absorbing.
    dissolved_at: ``[runs]`` int, step of dissolution (-1 never).
    cause: ``[runs]`` int8, CAUSE_* code of the dissolution.
    completed: ``[runs]`` bool, a fixed-term arrangement reached its term (absorbing).
    achieved: ``[runs]`` bool, a completed arrangement achieved its aim (turnaround).
    ended_at: ``[runs]`` int, step the run dissolved or completed (-1 in place).
    synergy_recent, success_recent: ``[runs]`` float, the year's synergy and share of
        successful task attempts (exponentially weighted, :mod:`cmo_sim.core.ends`).
    conflicts, constructive, destructive, successes, failures, dominations, exits, turnovers,
    joins: ``[runs]`` int64 cumulative event counters.
    trust_lost_conflict, trust_lost_task, trust_lost_other, trust_gained_conflict,
    trust_gained_task, trust_gained_other: ``[runs]`` float, the trust account
        (:data:`TRUST_ACCOUNT`): each month's change of every ordered pair's trust is split
        between its parts in proportion to their deltas, and the parts' losses (<= 0) and
        gains (>= 0), averaged over the pairs in place, are cumulated.
    """

    trust: np.ndarray
    faith: np.ndarray
    intra_conflict: np.ndarray
    culture: np.ndarray
    vision: np.ndarray
    synergy: np.ndarray
    experience: np.ndarray
    ambition: np.ndarray
    achievement: np.ndarray
    performance: np.ndarray
    exit_shock: np.ndarray
    success: np.ndarray
    step_conflicts: np.ndarray
    active: np.ndarray
    exit_step: np.ndarray
    exit_cause: np.ndarray
    dissolved: np.ndarray
    dissolved_at: np.ndarray
    cause: np.ndarray
    completed: np.ndarray
    achieved: np.ndarray
    ended_at: np.ndarray
    synergy_recent: np.ndarray
    success_recent: np.ndarray
    conflicts: np.ndarray
    constructive: np.ndarray
    destructive: np.ndarray
    successes: np.ndarray
    failures: np.ndarray
    dominations: np.ndarray
    exits: np.ndarray
    turnovers: np.ndarray
    joins: np.ndarray
    trust_lost_conflict: np.ndarray
    trust_lost_task: np.ndarray
    trust_lost_other: np.ndarray
    trust_gained_conflict: np.ndarray
    trust_gained_task: np.ndarray
    trust_gained_other: np.ndarray

    @property
    def n_runs(self) -> int:
        """Number of runs."""
        return int(self.synergy.shape[0])

    @property
    def ended(self) -> np.ndarray:
        """``[runs]`` bool, dissolved or completed: the run's state no longer changes."""
        return self.dissolved | self.completed

    @property
    def inertia(self) -> np.ndarray:
        """``[runs]`` collaborative inertia, ``1 - synergy``."""
        return 1.0 - self.synergy

    def take(self, index: np.ndarray | slice) -> State:
        """The state of a subset of runs."""
        return State(**{f.name: getattr(self, f.name)[index] for f in fields(self)})
