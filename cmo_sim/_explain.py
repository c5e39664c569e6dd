"""``cmo_sim.explain``: the Mesa engine's account of one run, without importing Mesa up front."""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cmo_sim.abm import Explanation
    from cmo_sim.scenario import Scenario
    from cmo_sim.theory import Theory

__all__ = ["explain"]


def explain(
    scenario: Scenario | str | PathLike | dict,
    seed: Any = 0,
    replicate: int = 0,
    steps: int = 120,
    theory: Theory | str | PathLike | None = None,
) -> Explanation:
    """Why did this partnership end as it did? Run it in the Mesa engine and tell its story.

    The run is replicate ``replicate`` of :func:`cmo_sim.simulate` with this ``seed``; the
    returned :class:`cmo_sim.abm.Explanation` has ``.events`` (the event log: step, members,
    mechanism, rule ids, changes in trust, faith and synergy) and ``.story`` (a plain-language
    account). Mesa is imported on first use only.
    """
    from cmo_sim.abm import explain as explain_run

    return explain_run(scenario, seed=seed, replicate=replicate, steps=steps, theory=theory)
