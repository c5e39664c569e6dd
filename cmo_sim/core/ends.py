"""How partnerships end, and the regime a run is in: definitions shared by both engines.

A run is, at every month, in one of four end states (regimes):

- **thriving**: in place and not struggling;
- **struggling**: in place for at least :data:`STRUGGLE_MONTHS` months but stuck in
  collaborative inertia over the past year: the year's synergy below one half (inertia
  dominates) and fewer than half of the year's tasks achieved. "The year's" is an
  exponentially weighted mean with a mean lag of twelve months (:data:`RECENT_WEIGHT`), of
  synergy and of task success (1 for a successful attempt, 0 for a failed one);
- **dissolved**: ended by trust collapse or faith collapse (for a merger, a de-merger);
- **completed**: a fixed-term arrangement that reached its term, with its result: *achieved*
  (turnaround) when most of its final year's tasks succeeded (the year's success share at
  least one half), else *not achieved*.

These are definitions of the words, not fitted constants: they say what "stuck in inertia" and
"turnaround achieved" mean in this model, and every figure of end states depends on them.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "COMPLETED",
    "DISSOLVED",
    "END_STATES",
    "RECENT_WEIGHT",
    "STRUGGLE_MONTHS",
    "STRUGGLE_SUCCESS",
    "STRUGGLE_SYNERGY",
    "STRUGGLING",
    "SUCCESS_RECENT_INITIAL",
    "THRIVING",
    "achieved",
    "regime",
    "struggling",
    "track",
]

#: The end states, in code order (the ``regime`` trajectory variable holds these codes).
END_STATES = ("thriving", "struggling", "dissolved", "completed")
THRIVING, STRUGGLING, DISSOLVED, COMPLETED = range(4)
#: Months in place before a partnership can count as struggling (a sustained period: a year).
STRUGGLE_MONTHS = 12
#: Synergy below which inertia dominates (synergy and inertia sum to one).
STRUGGLE_SYNERGY = 0.5
#: Smoothed share of successful task attempts below which little is being achieved.
STRUGGLE_SUCCESS = 0.5
#: Weight of this month's task outcome in the smoothed success share (about a year's memory:
#: an exponentially weighted mean with a mean lag of twelve months).
RECENT_WEIGHT = 1.0 / 12.0
#: The year's success share before any task: neither mostly succeeding nor mostly failing.
SUCCESS_RECENT_INITIAL = 0.5


def track(synergy_recent, success_recent, synergy, success):
    """This month's ``(synergy_recent, success_recent)`` from last month's and the month's.

    Works on numpy arrays and on Python floats alike (both engines call it).
    """
    synergy_recent = synergy_recent + RECENT_WEIGHT * (synergy - synergy_recent)
    success = success.astype(np.float64) if isinstance(success, np.ndarray) else float(success)
    success_recent = success_recent + RECENT_WEIGHT * (success - success_recent)
    return synergy_recent, success_recent


def struggling(synergy_recent, success_recent, months):
    """Whether a run in place for ``months`` months is struggling (arrays or scalars)."""
    return ((months >= STRUGGLE_MONTHS) & (synergy_recent < STRUGGLE_SYNERGY)
            & (success_recent < STRUGGLE_SUCCESS))


def achieved(success_recent):
    """Whether a fixed-term arrangement reaching its term achieved its aim (turnaround)."""
    return success_recent >= STRUGGLE_SUCCESS


def regime(dissolved, completed, synergy_recent, success_recent, months) -> np.ndarray:
    """The end-state code of each run after ``months`` months: :data:`END_STATES` index, int8."""
    dissolved = np.asarray(dissolved, dtype=bool)
    completed = np.asarray(completed, dtype=bool)
    stuck = struggling(np.asarray(synergy_recent), np.asarray(success_recent),
                       np.asarray(months))
    code = np.where(stuck, STRUGGLING, THRIVING)
    code = np.where(completed, COMPLETED, code)
    code = np.where(dissolved, DISSOLVED, code)
    return code.astype(np.int8)
