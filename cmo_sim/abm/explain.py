"""Explain one run: the Mesa engine's event log and a plain-language account of how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import pandas as pd

from cmo_sim.abm.model import PartnershipModel
from cmo_sim.core import ends
from cmo_sim.results import summarise
from cmo_sim.scenario import Scenario
from cmo_sim.theory import Theory

__all__ = ["Explanation", "explain"]

_ORIGIN = {
    "trust": "trust collapse: inter-organisational origin",
    "faith": "faith collapse: intra-organisational origin",
}
#: How the parts of a trust change that no rule owns are told.
_MACHINERY = {
    "destructive resolution": "a destructive resolution of a conflict",
    "constructive resolution": "a constructive resolution of a conflict",
}


def _driver(model: PartnershipModel, key: str) -> str:
    """How the part that pushed a member down most is told: the rule's context and mechanism."""
    if key in _MACHINERY:
        return _MACHINERY[key]
    theory = model.theory
    if key in theory.ids:
        rule = theory.rule(key)
        context = rule.context.replace("_", " ")
        return f"{context} acting through {rule.mechanism.replace('_', ' ')} ({rule.id})"
    return "the month's events"


@dataclass(frozen=True)
class Explanation:
    """The account of one run.

    Attributes
    ----------
    events : pandas.DataFrame
        The event log, one row per event (columns
        :data:`cmo_sim.abm.model.EVENT_COLUMNS`): task outcomes, conflicts and their
        resolution, changes of a member's leaders (turnover), domination, exits, dissolution,
        timeline changes.
    story : str
        A short plain-language account of why the run ended as it did.
    summary : dict
        The run's row of the summary table (:data:`cmo_sim.results.SUMMARY_COLUMNS`).
    model : PartnershipModel
        The model after the run (its DataCollector holds the monthly reporters).
    """

    events: pd.DataFrame
    story: str
    summary: dict[str, Any]
    model: PartnershipModel = field(repr=False)


def explain(
    scenario: Scenario | str | PathLike | dict,
    seed: Any = 0,
    replicate: int = 0,
    steps: int = 120,
    theory: Theory | str | PathLike | None = None,
) -> Explanation:
    """Run one partnership in the Mesa engine and explain how it ended.

    Parameters
    ----------
    scenario : Scenario, path or mapping
    seed : int, numpy SeedSequence or Generator
    replicate : int
        The run is replicate ``replicate`` of :func:`cmo_sim.simulate` with this ``seed``.
    steps : int
        Months to run at most (the run stops at dissolution).
    theory : Theory or path, optional

    Returns
    -------
    Explanation
    """
    model = PartnershipModel(scenario, theory=theory, seed=seed, replicate=replicate, steps=steps)
    while model.running:
        model.step()
    summary = summarise(model.params, model.run_output()).iloc[0].to_dict()
    events = model.events_frame()
    return Explanation(events=events, story=tell_story(model, events, summary),
                       summary=summary, model=model)


def tell_story(model: PartnershipModel, events: pd.DataFrame, summary: dict[str, Any]) -> str:
    """A few sentences: what happened over the run, earlier exits, and how it ended."""
    names = {m.index: m.name for m in model.members}
    months = int(model.steps)
    trust = model.datacollector.get_model_vars_dataframe()["mean_trust"] if (
        model.datacollector is not None
    ) else None
    opening = (
        f"{model.scenario_name} ({len(names)} members: {', '.join(names.values())}) over "
        f"{_count(months, 'month')}: {_count(summary['conflicts'], 'conflict')} "
        f"({summary['destructive']} resolved destructively, {summary['constructive']} "
        f"constructively), {_count(summary['successes'], 'task success', 'task successes')} and "
        f"{_count(summary['failures'], 'failure')}, "
        f"{_count(summary['dominations'], 'month')} with domination, "
        f"{_count(summary['turnovers'], 'change')} of a member's leaders"
    )
    if summary["joins"]:
        opening += f", {_count(summary['joins'], 'organisation')} joining in places left"
    if trust is not None and len(trust) > 1:
        opening += f"; mean trust went from {trust.iloc[0]:.2f} to {trust.iloc[-1]:.2f}"
    sentences = [opening + ".", _account(summary)]
    exits = events[events["mechanism"] == "exit"]
    end = int(summary["dissolved_at"]) if summary["dissolved"] else None
    earlier = exits[exits["step"] != end] if end is not None else exits
    for (month, cause), group in earlier.groupby(["step", "outcome"], sort=True):
        who = _join([names[int(m)] for m in group["member"]])
        sentences.append(f"{who} left in month {month} ({_ORIGIN[cause]}).")
    year = (f"over the last year, synergy {model.synergy_recent:.2f} and "
            f"{model.success_recent:.0%} of tasks achieved")
    if model.completed:
        result = ("the turnaround was achieved" if model.achieved
                  else "the turnaround was not achieved")
        sentences.append(
            f"The fixed term ended in month {model.ended_at} and {result} ({year}; it needs "
            f"at least {ends.STRUGGLE_SUCCESS:.0%} of the year's tasks achieved).")
    elif end is None:
        state = summary["end_state"]
        still = sum(m.active for m in model.members)
        how = ("stuck in collaborative inertia" if state == "struggling"
               else "not stuck in inertia")
        sentences.append(
            f"After {months} months the partnership was still running with {still} of "
            f"{len(names)} members, {state}: {how} ({year}; mean faith "
            f"{model.mean_faith:.2f}, performance {model.performance:.2f})."
        )
    else:
        sentences.append(_dissolution(model, events, summary, names))
    return " ".join(sentences)


def _dissolution(model: PartnershipModel, events: pd.DataFrame, summary: dict[str, Any],
                 names: dict[int, str]) -> str:
    """The sentence that says why the partnership dissolved, in the month it did."""
    month, cause = int(summary["dissolved_at"]), str(summary["cause"])
    now = events[events["step"] == month]
    exits = now[now["mechanism"] == "exit"]
    if exits.empty:  # a merger's members do not leave: it ends by a de-merger
        floor = "trust in its partners" if cause == "trust" else "faith in the collaboration"
        return (f"In month {month}, with a member's {floor} below the critical threshold, the "
                f"merger was reversed: a de-merger dissolved it ({_ORIGIN[cause]}).")
    key = exits[exits["outcome"] == cause].iloc[0]
    member = int(key["member"])
    name = names[member]
    partners = [
        m.name for m in model.members
        if m.index != member and (m.exit_step == -1 or m.exit_step == month)
    ]
    if cause == "trust":
        conflicts = now[
            (now["mechanism"] == "conflict") & (now["outcome"] == "destructive")
            & ((now["member"] == member) | (now["partner"] == member))
        ]
        if not conflicts.empty:
            row = conflicts.iloc[0]
            other = names[int(row["partner"] if row["member"] == member else row["member"])]
            trigger = "a destructive resolution of a conflict"
            if len(partners) > 1:
                trigger += f" with {other}"
            if row["driver"]:
                trigger += " triggered by " + " and ".join(
                    "a task failure" if d == "task failure" else "an improper exit"
                    for d in row["driver"].split(", ")
                )
        else:
            trigger = _driver(model, key["driver"])
        target = (
            f"{name}'s trust in {partners[0]}" if len(partners) == 1
            else f"{name}'s mean trust in its partners"
        )
        lowered = f"lowered {target} to {key['value']:.3f}"
    else:
        trigger = _driver(model, key["driver"])
        lowered = f"lowered {name}'s faith in the collaboration to {key['value']:.3f}"
    who = _join([names[int(m)] for m in exits["member"]])
    return (
        f"In month {month}, {trigger} {lowered}, below the critical threshold "
        f"({key['threshold']:.2f}); {who} left and the partnership dissolved "
        f"({_ORIGIN[cause]})."
    )


def _account(summary: dict[str, Any]) -> str:
    """The trust account: what each part took from and added to mean trust over the run."""
    parts = (("conflict", "conflicts"), ("task", "the task's outcome"), ("other", "the rest"))
    lost = ", ".join(f"{what} {abs(summary[f'trust_lost_{key}']):.2f}" for key, what in parts)
    gained = ", ".join(f"{what} {summary[f'trust_gained_{key}']:.2f}" for key, what in parts)
    return (f"Trust account (mean over pairs, summed over months): lost to {lost}; gained "
            f"from {gained}.")


def _count(n: int, singular: str, plural: str | None = None) -> str:
    """``"1 conflict"``, ``"3 conflicts"``."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def _join(names: list[str]) -> str:
    """``"A"``, ``"A and B"``, ``"A, B and C"``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
